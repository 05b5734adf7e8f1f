#pragma once
// File: app/options.hpp
//
// rostersyncd's command line, parsed without side effects (tested as a pure function).

#include <string>
#include <string_view>
#include <vector>

namespace rostersync::app {

/// Exit codes (README "Exit codes"); systemd's RestartPreventExitStatus lists 64 and 78.
enum exit_code : int {
    exit_ok = 0,
    exit_runtime_failure = 1,  ///< could not bind, fatal runtime error, forced shutdown
    exit_usage = 64,           ///< EX_USAGE: bad command line
    exit_config = 78,          ///< EX_CONFIG: the configuration is invalid
};

inline constexpr std::string_view default_config_path = "/etc/rostersync/rostersync.toml";

struct options {
    enum class action { run, check_config, help, version } what = action::run;
    std::string config_path = std::string(default_config_path);
    std::string error;  ///< non-empty: usage error, exit 64
};

options parse_options(const std::vector<std::string_view>& args);

std::string usage_text();

}  // namespace rostersync::app
