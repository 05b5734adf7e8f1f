#pragma once
// File: config/load.hpp
//
// TOML file + environment -> validated config, or every problem found.
//
//     auto env = config::process_environment();
//     auto cfg = config::load_file("/etc/rostersync/rostersync.toml", env);
//     if (!cfg) { for (auto& p : cfg.error().list) std::cerr << p.to_string() << '\n'; return 78; }
//
// Rules (README "Configuration"):
// - Unknown keys are errors, with a "did you mean" hint; each problem names the file and line
//   (or the environment variable) and the key, and says what is expected.
// - Durations are strings with units ("90s", "10m", "24h", "180d", "1h30m").
// - `ROSTERSYNC_<SECTION>_<KEY>` overrides one value: ROSTERSYNC_SYNC_MIN_INTERVAL=5m.
//   Platforms and budgets by name: ROSTERSYNC_PLATFORMS_<NAME>_<KEY> (name upper-cased, every
//   character other than a letter or digit written `_`). librdkafka properties:
//   ROSTERSYNC_KAFKA_PROPERTIES_<KEY> with `_` for `.` and `__` for `_`. Lists are comma-separated;
//   [http.resolve] as ROSTERSYNC_HTTP_RESOLVE="host:port=address:port,…". An unknown
//   ROSTERSYNC_* variable is an error too, so a typo cannot go unnoticed.
// - Relative paths (`*_file` keys) resolve against $CREDENTIALS_DIRECTORY when the file exists
//   there (systemd LoadCredential=), else against the config file's folder.
//
// Pure apart from reading the config file and `*_file` kafka properties; thread-safe.

#include "common/error.hpp"
#include "config/config.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::config {

/// One problem: where (file:line or environment variable), which key, what is wrong.
struct problem {
    std::string where;
    std::string key;
    std::string message;

    std::string to_string() const;
};

struct problems {
    std::vector<problem> list;
};

/// Needed by boost::system::result<config, problems>::value().
[[noreturn]] void throw_exception_from_error(const problems& p, const boost::source_location& loc);

/// The variables the loader looks at: every ROSTERSYNC_* one, and CREDENTIALS_DIRECTORY.
using environment = std::map<std::string, std::string, std::less<>>;
environment process_environment();

result<config, problems> load_file(const std::filesystem::path& file, const environment& env);

/// `source_name` is used in messages; `base_dir` resolves relative paths.
result<config, problems> load_string(
    std::string_view toml,
    std::string_view source_name,
    const environment& env,
    const std::filesystem::path& base_dir = {}
);

/// What differs between two configs in settings that only a restart applies (for SIGHUP).
std::vector<std::string> restart_only_changes(const config& before, const config& after);

}  // namespace rostersync::config
