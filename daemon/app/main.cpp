// rostersyncd: the daemon's entry point. Parses the command line, loads and validates the
// configuration, and hands over to app::daemon. See `rostersyncd --help`.
#include "app/daemon.hpp"
#include "app/options.hpp"
#include "common/version.hpp"
#include "config/load.hpp"
#include "discovery/rest_client.hpp"
#include "nrps/fetcher.hpp"

#include <boost/asio/io_context.hpp>

#include <signal.h>

#include <iostream>

int main(int argc, char** argv)
{
    using namespace rostersync;
    std::vector<std::string_view> args(argv + 1, argv + argc);
    auto opts = app::parse_options(args);
    if (!opts.error.empty()) {
        std::cerr << "rostersyncd: " << opts.error << "\n\n" << app::usage_text();
        return app::exit_usage;
    }
    if (opts.what == app::options::action::help) {
        std::cout << app::usage_text();
        return app::exit_ok;
    }
    if (opts.what == app::options::action::version) {
        std::cout << "rostersyncd " << rostersync::version << " (" << rostersync::revision << ")\n";
        return app::exit_ok;
    }

    auto cfg = config::load_file(opts.config_path, config::process_environment());
    if (!cfg) {
        const auto& list = cfg.error().list;
        for (const auto& p : list) std::cerr << p.to_string() << '\n';
        std::cerr << opts.config_path << ": " << list.size()
                  << (list.size() == 1 ? " problem" : " problems")
                  << "; the configuration reference is in README.md (\"Configuration\")\n";
        return app::exit_config;
    }
    if (opts.what == app::options::action::check_config) {
        // Keys too: a missing, unreadable or group-readable private key fails the check.
        boost::asio::io_context ioc;
        auto engine = nrps::engine::create(ioc.get_executor(), *cfg);
        if (!engine) {
            std::cerr << opts.config_path << ": " << engine.error().detail << "\n";
            return app::exit_config;
        }
        // And the REST token files of account discovery (missing, empty, group-readable).
        for (const auto& p : cfg->platforms) {
            if (p.rest_token_file.empty()) continue;
            if (auto token = discovery::read_token_file(p.rest_token_file); !token) {
                std::cerr << opts.config_path << ": platforms[" << p.name << "].rest_token_file: "
                          << token.error().detail << "\n";
                return app::exit_config;
            }
        }
        std::cout << opts.config_path << ": configuration is valid\n";
        return app::exit_ok;
    }

    // Signals are handled by the daemon's signal_set; block SIGPIPE so a closed peer is an error
    // value, not a dead process.
    ::signal(SIGPIPE, SIG_IGN);
    app::daemon d(std::move(*cfg), opts.config_path);
    return d.run();
}
