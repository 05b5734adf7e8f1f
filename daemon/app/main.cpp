// rostersyncd: the daemon's entry point. Parses the command line, loads and validates the
// configuration, and hands over to app::daemon. See `rostersyncd --help`.
#include "app/daemon.hpp"
#include "app/options.hpp"
#include "common/version.hpp"
#include "config/load.hpp"
#include "discovery/rest_client.hpp"
#include "nrps/fetcher.hpp"

#include <boost/asio/io_context.hpp>

#include <malloc.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>

namespace {

/// glibc's malloc, tuned for a process that holds a large, long-lived state and has many
/// mostly-waiting threads (librdkafka's, the restore loaders, the blocking pool): two arenas
/// instead of eight a core (each arena keeps the memory its threads freed), and blocks of
/// 128 KiB or more from mmap (a table that grows frees its old slot array back to the system
/// instead of leaving a hole in a heap). At 1,000,000 memberships this halves the resident
/// set after a restore (benchmarks/README.md, restart). The MALLOC_ARENA_MAX and
/// MALLOC_MMAP_THRESHOLD_ environment variables still win.
void tune_malloc()
{
    if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

}  // namespace

int main(int argc, char** argv)
{
    using namespace rostersync;
    tune_malloc();
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
