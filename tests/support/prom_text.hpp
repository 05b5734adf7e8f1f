#pragma once
// A strict parser of the Prometheus text exposition format (0.0.4), for asserting on /metrics.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::test {

struct prom_sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct prom_document {
    std::vector<prom_sample> samples;
    std::map<std::string, std::string> types;  ///< family name -> counter, gauge, histogram …
    std::map<std::string, std::string> help;

    /// The value of the one sample with this name whose labels include `match`.
    std::optional<double> value(std::string_view name, const std::map<std::string, std::string>& match = {}) const;
    bool has_family(std::string_view name) const { return types.count(std::string(name)) != 0; }
};

/// Parses or returns an error naming the line. `error` is set and the result empty on failure.
prom_document parse_prom_text(std::string_view text, std::string& error);

}  // namespace rostersync::test
