// naive_driver: pulls NRPS rosters through rostersync's own pull engine (nrps::engine: the same
// fetcher, token cache, retries and throttle budget as the daemon) with a chosen admission
// strategy, for the Canvas-throttle scenario of the end-to-end benchmark (benchmarks/e2e/).
//
//   naive_driver --config FILE --platform NAME --urls FILE --seconds N
//                [--workers W] [--feedback on|off] [--out FILE]
//
// The platform's budget ([[budgets]] named by the platform: max_in_flight, reserve,
// requests_per_second) is taken from the configuration. `--feedback off` switches the budget's
// `feedback` parameter off (throttle::budget_params: the platform's X-Rate-Limit-Remaining is
// recorded but never consulted), which gives the naive strategies of issue 6:
//   serial   max_in_flight = 1,  feedback off: one request at a time, no feedback
//   fixed16  max_in_flight = 16, feedback off: a fixed 16 in flight
// and with feedback on, rostersync's own admission rule outside the daemon.
//
// W workers (coroutines on one thread) each pull the URLs of --urls in turn, for --seconds; then
// they finish the pass they are in (at most --drain-seconds more) and the driver prints (and writes
// to --out) a JSON object: pages and members read, passes complete and failed, rejections
// received (throttle waits), retries, and pages per second of the run.
#include "common/log.hpp"
#include "config/load.hpp"
#include "nrps/fetcher.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace {

using namespace rostersync;
using steady = std::chrono::steady_clock;

const char* usage = R"(Usage: naive_driver --config FILE --platform NAME --urls FILE --seconds N
                    [--workers W] [--feedback on|off] [--drain-seconds N] [--out FILE]

Pulls the memberships URLs listed in FILE (one a line) again and again for N seconds through
rostersync's pull engine with the platform's [[budgets]] entry; --feedback off ignores the
platform's X-Rate-Limit-Remaining (benchmarks only). Prints a JSON summary.
)";

struct stats {
    long pages = 0;
    long members = 0;
    long passes_ok = 0;
    long passes_failed = 0;
    long throttle_waits = 0;
    long retries = 0;
    std::map<std::string, long> errors;
    std::vector<long> pages_per_second;  // by second since the start
};

awaitable<void> worker(nrps::engine& engine, const std::string& platform, const std::vector<std::string>& urls,
                       std::atomic<std::size_t>& next, steady::time_point start, steady::time_point stop_at,
                       stats& s)
{
    while (steady::now() < stop_at) {
        const auto& url = urls[next.fetch_add(1) % urls.size()];
        nrps::fetch_options fo;
        int seen_waits = 0, seen_retries = 0;
        fo.on_page = [&](const nrps::progress& p) {
            const auto second = static_cast<std::size_t>(
                std::chrono::duration_cast<std::chrono::seconds>(steady::now() - start).count());
            if (s.pages_per_second.size() <= second) s.pages_per_second.resize(second + 1, 0);
            ++s.pages_per_second[second];
            ++s.pages;
            s.throttle_waits += p.throttle_waits - seen_waits;
            s.retries += p.retries - seen_retries;
            seen_waits = p.throttle_waits;
            seen_retries = p.retries;
        };
        auto r = co_await engine.fetch(platform, url, fo);
        if (r) {
            ++s.passes_ok;
            s.members += static_cast<long>(r->members.size());
            // Waits after the last page (none: a pass ends with a page) are already counted.
        } else {
            ++s.passes_failed;
            ++s.errors[r.error().ec.message()];
        }
    }
}

}  // namespace

int main(int argc, char** argv)
{
    std::map<std::string, std::string> a{{"workers", "16"}, {"feedback", "on"}, {"drain-seconds", "30"}};
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        if (k == "-h" || k == "--help") {
            std::cout << usage;
            return 0;
        }
        if (!k.starts_with("--") || i + 1 >= argc) {
            std::cerr << "naive_driver: bad argument " << k << "\n\n" << usage;
            return 64;
        }
        a[k.substr(2)] = argv[++i];
    }
    for (const char* required : {"config", "platform", "urls", "seconds"}) {
        if (!a.count(required)) {
            std::cerr << "naive_driver: --" << required << " is required\n\n" << usage;
            return 64;
        }
    }
    const bool feedback = a["feedback"] != "off";
    const int workers = std::atoi(a["workers"].c_str());
    const double seconds = std::atof(a["seconds"].c_str());
    const double drain_seconds = std::atof(a["drain-seconds"].c_str());
    if (workers < 1 || seconds <= 0 || (a["feedback"] != "on" && a["feedback"] != "off")) {
        std::cerr << "naive_driver: --workers ≥ 1, --seconds > 0, --feedback on|off\n";
        return 64;
    }

    auto cfg = config::load_file(a["config"], config::process_environment());
    if (!cfg) {
        for (const auto& p : cfg.error().list) std::cerr << p.to_string() << '\n';
        return 78;
    }
    const config::platform* platform = cfg->find_platform(a["platform"]);
    if (platform == nullptr || platform->budget.empty() || cfg->find_budget(platform->budget) == nullptr) {
        std::cerr << "naive_driver: the platform must exist and name a [[budgets]] entry\n";
        return 78;
    }
    std::vector<std::string> urls;
    {
        std::ifstream in(a["urls"]);
        for (std::string line; std::getline(in, line);)
            if (!line.empty()) urls.push_back(line);
    }
    if (urls.empty()) {
        std::cerr << "naive_driver: no URLs in " << a["urls"] << "\n";
        return 64;
    }
    log::configure({.min_level = log::level::warning, .fmt = cfg->log.format});

    net::io_context ioc;
    auto engine = nrps::engine::create(ioc.get_executor(), *cfg);
    if (!engine) {
        std::cerr << "naive_driver: " << engine.error().detail << "\n";
        return 78;
    }
    // The engine builds the budget from [[budgets]]; the benchmark-only switch goes on top.
    const config::budget* b = cfg->find_budget(platform->budget);
    throttle::budget_params params{.max_in_flight = b->max_in_flight,
                                   .reserve = static_cast<double>(b->reserve),
                                   .requests_per_second = b->requests_per_second,
                                   .feedback = feedback};
    auto& budget = (*engine)->budget_for(*platform, "");
    budget.update(params, std::chrono::duration_cast<std::chrono::milliseconds>(b->max_wait), cfg->sync.resync_share);

    stats s;
    std::atomic<std::size_t> next{0};
    const auto start = steady::now();
    const auto stop_at = start + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds));
    int running = workers;
    for (int i = 0; i < workers; ++i) {
        net::co_spawn(ioc, worker(**engine, platform->name, urls, next, start, stop_at, s),
                      [&running](std::exception_ptr e) {
                          --running;
                          if (e) std::rethrow_exception(e);
                      });
    }
    // Passes still running at the end get drain_seconds to finish. The engine keeps timers of its
    // own (idle connections, tokens), so the loop is stopped explicitly once the workers are done.
    const auto give_up = stop_at + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(drain_seconds));
    net::co_spawn(ioc, [&]() -> awaitable<void> {
        net::steady_timer t(co_await net::this_coro::executor);
        while (running > 0 && steady::now() < give_up) {
            t.expires_after(std::chrono::milliseconds(50));
            co_await t.async_wait(net::use_awaitable);
        }
        ioc.stop();
    }, net::detached);
    ioc.run();
    const double elapsed = std::chrono::duration<double>(steady::now() - start).count();

    const auto state = budget.state();
    boost::json::object out{{"feedback", feedback},
                            {"workers", workers},
                            {"max_in_flight", b->max_in_flight},
                            {"reserve", b->reserve},
                            {"requests_per_second", b->requests_per_second},
                            {"seconds", elapsed},
                            {"pages", s.pages},
                            {"members", s.members},
                            {"passes_ok", s.passes_ok},
                            {"passes_failed", s.passes_failed},
                            {"throttle_waits", s.throttle_waits},
                            {"budget_rejections", state.rejections},
                            {"retries", s.retries},
                            {"unfinished_workers", running}};
    boost::json::object errors;
    for (const auto& [k, v] : s.errors) errors[k] = v;
    out["errors"] = std::move(errors);
    boost::json::array series;
    for (long v : s.pages_per_second) series.push_back(v);
    out["pages_per_second"] = std::move(series);
    const auto text = boost::json::serialize(out);
    std::cout << text << std::endl;
    if (a.count("out")) std::ofstream(a["out"]) << text << "\n";
    // Passes cut off by the drain guard leave coroutines behind; do not unwind through them.
    std::cout.flush();
    std::_Exit(0);
}
