#include "app/options.hpp"

namespace rostersync::app {

options parse_options(const std::vector<std::string_view>& args)
{
    options o;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view a = args[i];
        auto take_value = [&](std::string_view flag) -> bool {
            if (auto eq = a.find('='); eq != std::string_view::npos) {
                o.config_path = std::string(a.substr(eq + 1));
                return true;
            }
            if (i + 1 < args.size() && !args[i + 1].starts_with("-")) {
                o.config_path = std::string(args[++i]);
                return true;
            }
            if (flag != "--check-config") o.error = std::string(flag) + " needs a file name";
            return false;
        };
        if (a == "--help" || a == "-h") {
            o.what = options::action::help;
        } else if (a == "--version" || a == "-V") {
            o.what = options::action::version;
        } else if (a == "--config" || a == "-c" || a.starts_with("--config=")) {
            take_value(a.starts_with("--config=") ? "--config=" : a);
        } else if (a == "--check-config" || a.starts_with("--check-config=")) {
            if (o.what == options::action::run) o.what = options::action::check_config;
            take_value("--check-config");
        } else {
            o.error = "unknown argument \"" + std::string(a) + "\"";
        }
        if (!o.error.empty()) return o;
    }
    return o;
}

std::string usage_text()
{
    return R"(Usage: rostersyncd [--config FILE] [--check-config [FILE]] [--help] [--version]

Keeps LTI 1.3 course rosters (NRPS) flowing from learning platforms to Kafka.

Options:
  -c, --config FILE        the configuration file (default: /etc/rostersync/rostersync.toml)
      --check-config [FILE]
                           validate the configuration (and ROSTERSYNC_* environment overrides),
                           print every problem, and exit: 0 when valid, 78 when not
  -h, --help               show this text and exit
  -V, --version            show the version and exit

Signals: SIGTERM/SIGINT shut down gracefully (a second one forces), SIGHUP reloads the config.
Exit codes: 0 clean stop, 1 runtime failure, 64 bad command line, 78 invalid configuration.
)";
}

}  // namespace rostersync::app
