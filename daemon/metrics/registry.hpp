#pragma once
// File: metrics/registry.hpp
//
// The metrics registry (prometheus-cpp) with helpers that enforce rostersync's conventions from
// the start, so a bad metric fails at registration (in tests), not on a dashboard:
// - names start with `rostersync_`, are snake_case, and use base units (`_seconds`, `_bytes`;
//   never `_ms`, `_milliseconds`, `_minutes`, `_kb`, `_percent` …);
// - counters end in `_total`, other kinds never do;
// - label names are declared up front and may not be unbounded identities (`user_id`, `course`,
//   `context_id`, `email`, `url` …);
// - every family has a cap on its series; values past the cap are folded into one series whose
//   labels all read "other", and `rostersync_metric_series_overflow_total{metric}` counts them.
//
//     metrics::registry reg;
//     auto& syncs = reg.counter("rostersync_syncs_total", "Roster passes by result.", {"result"});
//     syncs.with({"ok"}).Increment();
//
// No HTTP here: app/ serves serialize_text() on /metrics.
//
// Thread safety: all members may be called from any thread. Metric objects are owned by the
// registry and live as long as it does; callers may keep references to them.

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::metrics {

/// Checks a metric name against the conventions; returns why it is wrong, or "".
std::string check_name(std::string_view name, prometheus::MetricType type);
/// Checks one label name; returns why it is wrong, or "".
std::string check_label(std::string_view label);

/// A family with declared label names and a bounded number of series.
template <class Metric>
class family {
public:
    family(prometheus::Family<Metric>& fam,
           std::vector<std::string> labels,
           std::size_t max_series,
           prometheus::Counter& overflow,
           std::vector<double> buckets = {})
        : fam_(fam), labels_(std::move(labels)), max_series_(max_series), overflow_(overflow),
          buckets_(std::move(buckets))
    {
    }

    /// The series for these label values, given in the declared order. Throws
    /// std::invalid_argument when the count of values differs from the declared labels.
    Metric& with(std::initializer_list<std::string_view> values)
    {
        if (values.size() != labels_.size()) {
            throw std::invalid_argument("metric expects " + std::to_string(labels_.size()) +
                                        " label values, got " + std::to_string(values.size()));
        }
        std::vector<std::string> key(values.begin(), values.end());
        std::lock_guard lock(mutex_);
        if (auto it = series_.find(key); it != series_.end()) return *it->second;
        if (series_.size() >= max_series_) {
            overflow_.Increment();
            key.assign(labels_.size(), "other");
            if (auto it = series_.find(key); it != series_.end()) return *it->second;
        }
        std::map<std::string, std::string> labels;
        for (std::size_t i = 0; i < labels_.size(); ++i) labels.emplace(labels_[i], key[i]);
        Metric* m = add(labels);
        series_.emplace(std::move(key), m);
        return *m;
    }

    /// The single series of a family declared without labels.
    Metric& get() { return with({}); }

    std::size_t series() const
    {
        std::lock_guard lock(mutex_);
        return series_.size();
    }

private:
    Metric* add(const std::map<std::string, std::string>& labels)
    {
        if constexpr (std::same_as<Metric, prometheus::Histogram>) return &fam_.Add(labels, buckets_);
        else return &fam_.Add(labels);
    }

    prometheus::Family<Metric>& fam_;
    std::vector<std::string> labels_;
    std::size_t max_series_;
    prometheus::Counter& overflow_;
    std::vector<double> buckets_;
    mutable std::mutex mutex_;
    std::map<std::vector<std::string>, Metric*> series_;
};

class registry {
public:
    /// Registers the process collector and `rostersync_build_info`.
    registry();
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;
    ~registry();

    static constexpr std::size_t default_max_series = 200;

    family<prometheus::Counter>& counter(
        std::string name, std::string help, std::vector<std::string> labels = {},
        std::size_t max_series = default_max_series);
    family<prometheus::Gauge>& gauge(
        std::string name, std::string help, std::vector<std::string> labels = {},
        std::size_t max_series = default_max_series);
    family<prometheus::Histogram>& histogram(
        std::string name, std::string help, std::vector<double> buckets,
        std::vector<std::string> labels = {}, std::size_t max_series = default_max_series);

    /// Everything, for the text format or for tests.
    std::vector<prometheus::MetricFamily> collect() const;
    /// The Prometheus text exposition format (version 0.0.4).
    std::string serialize_text() const;

private:
    void check(std::string_view name, prometheus::MetricType type,
               const std::vector<std::string>& labels) const;

    std::shared_ptr<prometheus::Registry> registry_;
    std::shared_ptr<prometheus::Collectable> process_;
    prometheus::Family<prometheus::Counter>* overflow_family_ = nullptr;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<family<prometheus::Counter>>> counters_;
    std::vector<std::unique_ptr<family<prometheus::Gauge>>> gauges_;
    std::vector<std::unique_ptr<family<prometheus::Histogram>>> histograms_;
};

}  // namespace rostersync::metrics
