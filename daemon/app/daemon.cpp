#include "app/daemon.hpp"

#include "app/http_server.hpp"
#include "app/notify.hpp"
#include "app/options.hpp"
#include "app/task_group.hpp"
#include "common/log.hpp"
#include "common/version.hpp"
#include "config/load.hpp"
#include "nrps/fetcher.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <csignal>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace rostersync::app {
namespace {

const log::logger lg{"daemon"};

void apply_log_config(const config::config& cfg)
{
    log::configure({.min_level = cfg.log.level, .fmt = cfg.log.format});
}

}  // namespace

struct daemon::impl {
    impl(config::config c, std::string path)
        : cfg(std::move(c)), config_path(std::move(path)),
          threads(cfg.daemon.threads > 0 ? cfg.daemon.threads
                                         : std::max(1u, std::thread::hardware_concurrency())),
          ioc(threads), control_strand(net::make_strand(ioc)),
          signals(control_strand, SIGINT, SIGTERM, SIGHUP), tasks(ioc.get_executor()),
          watchdog_timer(control_strand),
          server(ioc, {.listen = cfg.http.listen}, registry),
          reloads(registry.counter("rostersync_config_reloads_total",
                                   "Configuration reloads (SIGHUP) by result.", {"result"})),
          ready_gauge(registry.gauge("rostersync_ready",
                                     "1 while the daemon is ready to do its job (as /readyz)."))
    {
    }

    std::mutex cfg_mutex;
    config::config cfg;
    std::string config_path;
    int threads;
    net::io_context ioc;
    // control() and the watchdog share this strand, so the watchdog timer needs no lock.
    net::strand<net::io_context::executor_type> control_strand;
    net::signal_set signals;  // created before "ready", so an early SIGTERM is handled too
    metrics::registry registry;
    task_group tasks;
    net::steady_timer watchdog_timer;
    http_server server;
    metrics::family<prometheus::Counter>& reloads;
    metrics::family<prometheus::Gauge>& ready_gauge;
    // The pull engine (keys, tokens, budgets, HTTP client); updated in place on reload.
    std::unique_ptr<nrps::engine> engine;

    enum class phase { starting, ready, stopping };
    std::atomic<phase> state{phase::starting};
    std::atomic<bool> watchdog_running{false};
    int exit = exit_ok;
    bool forced_stop = false;  // abandoned coroutines remain: see run()

    void set_phase(phase p)
    {
        state.store(p);
        ready_gauge.get().Set(p == phase::ready ? 1 : 0);
    }

    void install_routes()
    {
        server.route("GET", "/metrics", [this](const http_request&) {
            return http_response{.body = registry.serialize_text(),
                                 .content_type = "text/plain; version=0.0.4; charset=utf-8"};
        });
        server.route("GET", "/.well-known/jwks.json", [this](const http_request&) {
            return http_response{.body = engine->jwks(), .content_type = "application/json"};
        });
        server.route("GET", "/healthz", [](const http_request&) {
            return http_response{.body = "ok\n"};
        });
        server.route("GET", "/readyz", [this](const http_request&) {
            switch (state.load()) {
                case phase::ready: return http_response{.body = "ready\n"};
                case phase::starting: return http_response{.status = 503, .body = "not ready: starting\n"};
                case phase::stopping: break;
            }
            return http_response{.status = 503, .body = "not ready: shutting down\n"};
        });
    }

    void reload()
    {
        notify::reloading();
        auto next = config::load_file(config_path, config::process_environment());
        if (!next) {
            reloads.with({"error"}).Increment();
            for (const auto& p : next.error().list) {
                lg.error("config problem", {{"problem", p.to_string()}});
            }
            lg.error("config reload failed; keeping the running configuration",
                     {{"file", config_path}, {"problems", next.error().list.size()}});
            notify::ready("ready; last reload failed, running on the previous configuration");
            return;
        }
        // Platforms, budgets and keys apply at once (the token cache and what the budgets
        // learned are kept); a key problem keeps everything as it was.
        if (auto applied = engine->update(*next); !applied) {
            reloads.with({"error"}).Increment();
            lg.error("config reload failed; keeping the running configuration",
                     {{"file", config_path}, {"problem", applied.error().detail}});
            notify::ready("ready; last reload failed, running on the previous configuration");
            return;
        }
        std::vector<std::string> restart;
        {
            std::lock_guard lock(cfg_mutex);
            restart = config::restart_only_changes(cfg, *next);
            cfg = std::move(*next);
            apply_log_config(cfg);
        }
        reloads.with({"ok"}).Increment();
        if (!restart.empty()) {
            std::string keys;
            for (const auto& k : restart) keys += (keys.empty() ? "" : ",") + k;
            lg.warning("config reloaded, but these settings apply only after a restart",
                       {{"settings", keys}});
        } else {
            lg.info("config reloaded", {{"file", config_path}});
        }
        notify::ready("ready");
    }

    awaitable<void> watchdog_loop(std::chrono::microseconds interval)
    {
        // Ping at half the interval systemd asked for; a stalled io_context stops the pings.
        watchdog_running = true;
        while (watchdog_running) {
            notify::watchdog();
            watchdog_timer.expires_after(interval / 2);
            co_await watchdog_timer.async_wait(nothrow);
        }
    }

    /// Waits for SIGTERM/SIGINT, handling SIGHUP reloads meanwhile; returns the signal.
    awaitable<int> wait_for_stop()
    {
        for (;;) {
            auto [ec, sig] = co_await signals.async_wait(nothrow);
            if (ec) {
                lg.error("waiting for signals failed; shutting down", {{"error", ec.message()}});
                co_return 0;
            }
            if (sig == SIGHUP) {
                if (state.load() != phase::stopping) reload();
                continue;
            }
            co_return sig;
        }
    }

    awaitable<void> control()
    {
        using namespace net::experimental::awaitable_operators;
        auto ex = co_await net::this_coro::executor;
        int sig = co_await wait_for_stop();

        set_phase(phase::stopping);
        const auto delay = cfg.daemon.shutdown_delay;
        const auto grace = cfg.daemon.shutdown_grace;
        lg.info("shutting down", {{"signal", sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "none"},
                                  {"delay_seconds", delay},
                                  {"grace_seconds", grace}});
        notify::stopping("shutting down");

        bool forced = false;
        if (delay.count() > 0) {
            // Stay up, answering /readyz with 503, so load balancers notice before we go.
            net::steady_timer t(ex, delay);
            auto r = co_await (t.async_wait(nothrow) || wait_for_stop());
            forced = r.index() == 1;
        }
        server.stop();
        tasks.emit(net::cancellation_type::total);
        if (!forced) {
            net::steady_timer t(ex, grace);
            auto r = co_await (tasks.async_wait(nothrow) || t.async_wait(nothrow) ||
                               wait_for_stop());
            forced = r.index() != 0;
        }
        watchdog_running = false;
        watchdog_timer.cancel();
        signals.cancel();
        if (forced) {
            lg.error("shutdown forced: work still running was abandoned (it is redone after the restart)",
                     {{"tasks", tasks.size()}});
            tasks.emit(net::cancellation_type::terminal);
            forced_stop = true;
            exit = exit_runtime_failure;
            ioc.stop();
        } else {
            lg.info("stopped cleanly");
        }
    }

    int run()
    {
        apply_log_config(cfg);
        {
            auto e = nrps::engine::create(ioc.get_executor(), cfg, &registry);
            if (!e) {
                lg.error("cannot start", {{"problem", e.error().detail}, {"error", e.error().ec.message()}});
                return exit_config;
            }
            engine = std::move(*e);
        }
        install_routes();
        auto bound = server.listen();
        if (!bound) {
            lg.error("cannot listen for HTTP", {{"address", cfg.http.listen.to_string()},
                                                {"error", bound.error().message()},
                                                {"hint", "change http.listen or stop what uses it"}});
            return exit_runtime_failure;
        }
        std::string address = bound->address().is_v6()
                                  ? "[" + bound->address().to_string() + "]:" + std::to_string(bound->port())
                                  : bound->address().to_string() + ":" + std::to_string(bound->port());
        if (!bound->address().is_loopback()) {
            lg.warning("the HTTP server listens beyond loopback; metrics are readable from the network",
                       {{"address", address}});
        }
        auto log_failure = [](std::string_view what) {
            return [what](std::exception_ptr e) {
                if (!e) return;
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    lg.error("task failed", {{"task", what}, {"error", ex.what()}});
                }
            };
        };
        net::co_spawn(server.executor(), server.run(), tasks.adapt(log_failure("http server")));
        if (auto wd = notify::watchdog_interval()) {
            net::co_spawn(control_strand, watchdog_loop(*wd), log_failure("watchdog"));
        }
        net::co_spawn(control_strand, control(), [this](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                lg.error("control task failed", {{"error", ex.what()}});
            }
            exit = exit_runtime_failure;
            forced_stop = true;
            ioc.stop();
        });

        set_phase(phase::ready);
        lg.info("ready", {{"version", rostersync::version},
                          {"threads", threads},
                          {"metrics_url", "http://" + address + "/metrics"},
                          {"http_address", address}});
        notify::ready("ready; metrics at http://" + address + "/metrics");

        std::vector<std::thread> pool;
        for (int i = 1; i < threads; ++i) pool.emplace_back([this] { ioc.run(); });
        ioc.run();
        for (auto& t : pool) t.join();
        if (forced_stop) {
            // Coroutines that ignored cancellation are still suspended; destroying them now would
            // run their completion handlers against services already torn down. A forced stop
            // abandons them, as its log line says: leave without unwinding (stderr is unbuffered).
            std::_Exit(exit);
        }
        return exit;
    }
};

daemon::daemon(config::config cfg, std::string config_path)
    : impl_(std::make_unique<impl>(std::move(cfg), std::move(config_path)))
{
}

daemon::~daemon() = default;

int daemon::run()
{
    return impl_->run();
}

}  // namespace rostersync::app
