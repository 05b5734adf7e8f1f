#include "app/daemon.hpp"

#include "app/http_server.hpp"
#include "app/notify.hpp"
#include "app/options.hpp"
#include "app/status_page.hpp"
#include "app/task_group.hpp"
#include "common/log.hpp"
#include "common/version.hpp"
#include "config/load.hpp"
#include "discovery/scheduler.hpp"
#include "nrps/fetcher.hpp"
#include "sync/pipeline.hpp"

#include <boost/json.hpp>
#include <openssl/crypto.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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

std::string percent_decode(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string query_param(std::string_view target, std::string_view name)
{
    auto q = target.find('?');
    if (q == std::string_view::npos) return {};
    auto rest = target.substr(q + 1);
    while (!rest.empty()) {
        auto amp = rest.find('&');
        auto pair = rest.substr(0, amp);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        rest = rest.substr(amp + 1);
    }
    return {};
}

http_response json_reply(unsigned status, std::string body)
{
    body += '\n';
    return http_response{.status = status, .body = std::move(body), .content_type = "application/json"};
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
    // Kafka in and out, state, schedule, passes.
    std::unique_ptr<sync::pipeline> pipeline;
    // [[discovery]] entries: courses found through the Canvas REST API, announced as CourseSeen.
    std::unique_ptr<discovery::scheduler> discovery_scheduler;
    std::string admin_token;  // empty: the admin API is off
    const std::chrono::system_clock::time_point started_at = std::chrono::system_clock::now();
    std::string http_address;  // as bound (set before the server runs)
    bool cfg_listen_port_zero = false;  // the CLI then needs --url

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
            if (auto why = not_ready_reason(); !why.empty())
                return http_response{.status = 503, .body = "not ready: " + why + "\n"};
            return http_response{.body = "ready\n"};
        });
        // Read-only and without personal data or secrets: served like /metrics, no token.
        server.route_async("GET", "/", [this](http_request) { return status_page(); });
    }

    /// Empty when ready; otherwise why not (as /readyz and the status page say it).
    std::string not_ready_reason() const
    {
        switch (state.load()) {
            case phase::ready: return pipeline->not_ready_reason();
            case phase::starting: return "starting";
            case phase::stopping: break;
        }
        return "shutting down";
    }

    awaitable<http_response> status_page()
    {
        status_page_data d;
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) == 0) d.instance = host;
        d.version = rostersync::version;
        d.revision = rostersync::revision;
        d.not_ready_reason = not_ready_reason();
        d.ready = d.not_ready_reason.empty();
        d.started = started_at;
        d.kafka = pipeline->bootstrap();
        d.admin_api = !admin_token.empty();
        std::error_code ec;
        const auto config_file = std::filesystem::absolute(config_path, ec);
        std::string where = " --config " + shell_quote(ec ? config_path : config_file.string());
        if (cfg_listen_port_zero) where += " --url http://" + http_address;
        d.release_command = "rostersync release" + where;
        d.resync_command = "rostersync resync" + where;
        d.budgets = engine->budgets();
        d.pipeline = co_await pipeline->status(d.max_rows);
        d.now = std::chrono::system_clock::now();
        co_return status_page_response(d);
    }

    bool authorised(const http_request& req) const
    {
        const std::string expected = "Bearer " + admin_token;
        return req.authorization.size() == expected.size() &&
               CRYPTO_memcmp(req.authorization.data(), expected.data(), expected.size()) == 0;
    }

    void install_admin_routes()
    {
        // /admin/contexts                      GET  list (?filter=held|parked)
        // /admin/contexts/<key>                GET  one context (the key percent-encoded)
        // /admin/contexts/<key>/resync         POST force a pass
        // /admin/release?context=K|platform=P  POST release held removals (24 h, once)
        auto handler = [this](http_request req) -> awaitable<http_response> {
            if (!authorised(req)) {
                http_response r{.status = 401, .body = "{\"error\": \"missing or wrong bearer token\"}\n",
                                .content_type = "application/json"};
                r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"rostersync admin\"");
                co_return r;
            }
            const std::string_view path = req.path;
            constexpr std::string_view contexts = "/admin/contexts";
            sync::admin_reply reply{404, "{\"error\": \"no such admin endpoint\"}"};
            if (path == contexts && req.method == "GET") {
                auto filter = query_param(req.target, "filter");
                reply = co_await pipeline->list(std::move(filter));
            } else if (path.starts_with(std::string(contexts) + "/")) {
                auto rest = path.substr(contexts.size() + 1);
                constexpr std::string_view resync_suffix = "/resync";
                if (rest.ends_with(resync_suffix) && req.method == "POST") {
                    auto key = percent_decode(rest.substr(0, rest.size() - resync_suffix.size()));
                    reply = co_await pipeline->resync(std::move(key));
                } else if (req.method == "GET") {
                    auto key = percent_decode(rest);
                    reply = co_await pipeline->context_status(std::move(key));
                }
            } else if (path == "/admin/release" && req.method == "POST") {
                auto context = query_param(req.target, "context");
                auto platform = query_param(req.target, "platform");
                if (context.empty() == platform.empty()) {
                    reply = {400, "{\"error\": \"give exactly one of ?context=KEY or ?platform=NAME\"}"};
                } else {
                    reply = co_await pipeline->release(context, platform);
                }
            }
            co_return json_reply(reply.status, std::move(reply.body));
        };
        server.route_async("GET", "/admin/*", handler);
        server.route_async("POST", "/admin/*", handler);
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
        pipeline->update(*next);
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
        bool reported = false;
        while (watchdog_running) {
            // Ping only while every loop makes progress: the control strand (this loop), the
            // pipeline's loops and the Kafka producer's poll thread. A stalled loop lets systemd
            // restart the daemon.
            const auto max_age = std::max<std::chrono::milliseconds>(
                std::chrono::duration_cast<std::chrono::milliseconds>(interval), std::chrono::seconds(3));
            const auto stuck = pipeline ? pipeline->stalled(max_age) : std::string();
            if (stuck.empty()) {
                notify::watchdog();
                reported = false;
            } else if (!reported) {
                lg.error("watchdog: a loop stalled; no longer pinging systemd", {{"loop", stuck}});
                reported = true;
            }
            watchdog_timer.expires_after(interval / 2);
            co_await watchdog_timer.async_wait(nothrow);
        }
    }

    /// Waits for SIGTERM/SIGINT, handling SIGHUP reloads meanwhile; returns the signal.
    awaitable<int> wait_for_stop()
    {
        for (;;) {
            auto [ec, sig] = co_await signals.async_wait(nothrow);
            if (ec == net::error::operation_aborted) co_return 0;  // the stop is under way
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
        if (!cfg.http.admin_token_file.empty()) {
            std::ifstream in(cfg.http.admin_token_file);
            std::getline(in, admin_token);
            while (!admin_token.empty() && std::isspace(static_cast<unsigned char>(admin_token.back())))
                admin_token.pop_back();
            if (!in && admin_token.empty()) {
                lg.error("cannot read the admin token file", {{"file", cfg.http.admin_token_file},
                                                              {"hint", "create it, or leave http.admin_token_file empty to turn the admin API off"}});
                return exit_config;
            }
            if (admin_token.size() < 16) {
                lg.error("the admin token is too short (at least 16 characters)",
                         {{"file", cfg.http.admin_token_file}, {"hint", "openssl rand -hex 32 > FILE"}});
                return exit_config;
            }
        }
        {
            auto p = sync::pipeline::create(ioc, cfg, *engine, registry);
            if (!p) {
                lg.error("cannot start the pipeline", {{"problem", p.error().message}});
                return p.error().configuration ? exit_config : exit_runtime_failure;
            }
            pipeline = std::move(*p);
        }
        if (!cfg.discovery.empty()) {  // its own producer, on the pipeline's cluster (embedded included)
            auto d = discovery::scheduler::create(ioc, cfg, *engine, registry, pipeline->bootstrap());
            if (!d) {
                lg.error("cannot start account discovery", {{"problem", d.error()}});
                return exit_config;
            }
            discovery_scheduler = std::move(*d);
        }
        install_routes();
        if (!admin_token.empty()) install_admin_routes();
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
        http_address = address;
        cfg_listen_port_zero = cfg.http.listen.port == 0;
        if (!bound->address().is_loopback()) {
            lg.warning("the HTTP server listens beyond loopback; metrics and the status page are readable "
                       "from the network",
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
        net::co_spawn(ioc, pipeline->run(), tasks.adapt(log_failure("pipeline")));
        if (discovery_scheduler)
            net::co_spawn(net::make_strand(ioc), discovery_scheduler->run(), tasks.adapt(log_failure("discovery")));
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
                          {"kafka", pipeline->bootstrap()},
                          {"admin_api", admin_token.empty() ? "off" : "on"},
                          {"http_address", address}});
        notify::ready("ready; metrics at http://" + address + "/metrics");

        std::vector<std::thread> pool;
        for (int i = 1; i < threads; ++i) pool.emplace_back([this] { ioc.run(); });
        ioc.run();
        for (auto& t : pool) t.join();
        if (pipeline && pipeline->failed() && exit == exit_ok) {
            lg.error("exiting with a failure so that the service manager restarts the daemon");
            exit = exit_runtime_failure;
        }
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
