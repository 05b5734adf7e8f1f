// The real rostersyncd binary, started as systemd starts it (NOTIFY_SOCKET), scraped over HTTP,
// reloaded with SIGHUP and stopped with SIGTERM.
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/prom_text.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>

namespace rostersync::test {
namespace {

using namespace std::chrono_literals;

constexpr auto startup_timeout = 30s;

std::string base_config(const std::string& extra = "")
{
    return "[http]\nlisten = \"127.0.0.1:0\"\n[daemon]\nthreads = 2\nshutdown_grace = \"10s\"\n" + extra;
}

struct running {
    std::unique_ptr<daemon_process> proc;
    unsigned short port = 0;
};

running start(const temp_dir& dir, const std::string& config, std::vector<std::string> extra_args = {},
              std::map<std::string, std::string> env = {})
{
    auto file = dir.write("rostersync.toml", config);
    std::vector<std::string> args{"--config", file.string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    running r;
    r.proc = std::make_unique<daemon_process>(ROSTERSYNCD_PATH, args, env);
    EXPECT_TRUE(r.proc->wait_for_notify("READY=1", startup_timeout)) << r.proc->log_text();
    auto line = r.proc->wait_for_log("msg=ready", 5s);
    EXPECT_TRUE(line) << r.proc->log_text();
    if (line) {
        auto address = logfmt_field(*line, "http_address");
        r.port = static_cast<unsigned short>(std::stoi(address.substr(address.rfind(':') + 1)));
    }
    return r;
}

TEST(Lifecycle, ReadyScrapeAndGracefulStop)
{
    temp_dir dir;
    auto d = start(dir, base_config());
    ASSERT_NE(d.port, 0);

    auto ready = http_get("127.0.0.1", d.port, "/readyz");
    EXPECT_EQ(ready.status, 200) << ready.error;
    EXPECT_EQ(http_get("127.0.0.1", d.port, "/healthz").status, 200);
    EXPECT_EQ(http_get("127.0.0.1", d.port, "/no-such-path").status, 404);

    auto metrics = http_get("127.0.0.1", d.port, "/metrics");
    ASSERT_EQ(metrics.status, 200);
    EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    std::string error;
    auto doc = parse_prom_text(metrics.body, error);
    ASSERT_TRUE(error.empty()) << error;
    EXPECT_EQ(doc.value("rostersync_ready"), 1.0);
    EXPECT_TRUE(doc.value("rostersync_build_info"));
    for (const char* m : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                          "process_open_fds", "process_max_fds", "process_start_time_seconds"})
        EXPECT_TRUE(doc.has_family(m)) << m;
    EXPECT_EQ(doc.value("rostersync_http_requests_total", {{"route", "/readyz"}, {"code", "200"}}), 1.0);

    // A request larger than the limit gets a 4xx and the daemon stays up.
    auto big = http_request("127.0.0.1", d.port, "POST", "/metrics", std::string(1 << 20, 'x'));
    EXPECT_EQ(big.status, 413) << big.error;
    EXPECT_EQ(http_get("127.0.0.1", d.port, "/healthz").status, 200);

    auto t0 = std::chrono::steady_clock::now();
    d.proc->signal(SIGTERM);
    EXPECT_TRUE(d.proc->wait_for_notify("STOPPING=1", 10s));
    auto code = d.proc->wait_exit(10s);  // the grace period
    ASSERT_TRUE(code) << "did not exit within the grace period\n" << d.proc->log_text();
    EXPECT_EQ(*code, 0) << d.proc->log_text();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    EXPECT_NE(d.proc->log_text().find("msg=\"stopped cleanly\""), std::string::npos) << d.proc->log_text();
}

TEST(Lifecycle, ReadinessFlipsDuringShutdown)
{
    temp_dir dir;
    // Keep serving (not ready) for a while after SIGTERM, as a load balancer needs.
    auto d = start(dir, base_config("shutdown_delay = \"30s\"\n"));
    ASSERT_NE(d.port, 0);
    EXPECT_EQ(http_get("127.0.0.1", d.port, "/readyz").status, 200);
    d.proc->signal(SIGTERM);
    ASSERT_TRUE(d.proc->wait_for_notify("STOPPING=1", 10s));
    auto r = http_get("127.0.0.1", d.port, "/readyz");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body, "not ready: shutting down\n");
    EXPECT_EQ(http_get("127.0.0.1", d.port, "/healthz").status, 200);  // alive, just not ready
    // A second SIGTERM cuts the delay short; that stop is forced (exit 1).
    d.proc->signal(SIGTERM);
    auto code = d.proc->wait_exit(10s);
    ASSERT_TRUE(code) << d.proc->log_text();
    EXPECT_EQ(*code, 1) << d.proc->log_text();
    EXPECT_NE(d.proc->log_text().find("shutdown forced"), std::string::npos);
    // A forced stop leaves at once; no sanitizer may find anything on the way out.
    EXPECT_EQ(d.proc->log_text().find("Sanitizer"), std::string::npos) << d.proc->log_text();
}

TEST(Lifecycle, SighupWithBrokenFileKeepsRunningAndSaysWhy)
{
    temp_dir dir;
    auto d = start(dir, base_config());
    ASSERT_NE(d.port, 0);
    dir.write("rostersync.toml", base_config("[sync]\nmin_interval = \"ten minutes\"\n"));
    d.proc->signal(SIGHUP);
    auto why = d.proc->wait_for_log("config problem", 10s);
    ASSERT_TRUE(why) << d.proc->log_text();
    EXPECT_NE(why->find("sync.min_interval: expected a duration"), std::string::npos) << *why;
    ASSERT_TRUE(d.proc->wait_for_log("config reload failed; keeping the running configuration", 10s));
    EXPECT_EQ(http_get("127.0.0.1", d.port, "/readyz").status, 200);

    // A good file reloads, and a restart-only change is named.
    dir.write("rostersync.toml", base_config("[log]\nlevel = \"debug\"\n[kafka]\npartitions = 6\n"));
    d.proc->signal(SIGHUP);
    auto line = d.proc->wait_for_log("apply only after a restart", 10s);
    ASSERT_TRUE(line) << d.proc->log_text();
    EXPECT_EQ(logfmt_field(*line, "settings"), "kafka.partitions");

    auto metrics = http_get("127.0.0.1", d.port, "/metrics");
    std::string error;
    auto doc = parse_prom_text(metrics.body, error);
    EXPECT_EQ(doc.value("rostersync_config_reloads_total", {{"result", "error"}}), 1.0);
    EXPECT_EQ(doc.value("rostersync_config_reloads_total", {{"result", "ok"}}), 1.0);

    d.proc->signal(SIGINT);
    auto code = d.proc->wait_exit(10s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
}

TEST(Lifecycle, CheckConfigReportsEveryProblemAndExits78)
{
    temp_dir dir;
    auto file = dir.write("bad.toml", "[sync]\npage_size = 0\nmin_interval = \"10\"\n[kafka]\nbrokers = \"\"\n");
    daemon_process p(ROSTERSYNCD_PATH, {"--check-config", file.string()});
    auto code = p.wait_exit(20s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 78);
    auto text = p.log_text();
    EXPECT_NE(text.find("bad.toml:2: sync.page_size: expected an integer from 1 to 1000"), std::string::npos) << text;
    EXPECT_NE(text.find("bad.toml:3: sync.min_interval"), std::string::npos) << text;
    EXPECT_NE(text.find("bad.toml:5: kafka.brokers"), std::string::npos) << text;
    EXPECT_NE(text.find("3 problems"), std::string::npos) << text;

    auto good = dir.write("good.toml", base_config());
    daemon_process q(ROSTERSYNCD_PATH, {"--check-config", good.string()});
    EXPECT_EQ(q.wait_exit(20s), 0);

    // an environment override is checked too
    daemon_process r(ROSTERSYNCD_PATH, {"--check-config", good.string()},
                     {{"ROSTERSYNC_SYNC_PAGE_SIZE", "0"}});
    EXPECT_EQ(r.wait_exit(20s), 78);
    EXPECT_NE(r.log_text().find("environment ROSTERSYNC_SYNC_PAGE_SIZE: sync.page_size"), std::string::npos);
}

TEST(Lifecycle, UsageErrorsAndBusyPort)
{
    daemon_process bad(ROSTERSYNCD_PATH, {"--frobnicate"});
    EXPECT_EQ(bad.wait_exit(20s), 64);
    EXPECT_NE(bad.log_text().find("unknown argument"), std::string::npos);

    temp_dir dir;
    auto first = start(dir, base_config());
    ASSERT_NE(first.port, 0);
    temp_dir dir2;
    auto file = dir2.write("rostersync.toml", "[http]\nlisten = \"127.0.0.1:" + std::to_string(first.port) + "\"\n");
    daemon_process second(ROSTERSYNCD_PATH, {"--config", file.string()});
    EXPECT_EQ(second.wait_exit(20s), 1);
    EXPECT_NE(second.log_text().find("cannot listen for HTTP"), std::string::npos) << second.log_text();
}

TEST(Lifecycle, JsonLogsAndWatchdog)
{
    temp_dir dir;
    auto file = dir.write("rostersync.toml", base_config("[log]\nformat = \"json\"\n"));
    daemon_process p(ROSTERSYNCD_PATH, {"--config", file.string()},
                     {{"WATCHDOG_USEC", "200000"}});
    ASSERT_TRUE(p.wait_for_notify("READY=1", startup_timeout)) << p.log_text();
    // The watchdog pings every WATCHDOG_USEC / 2 while the event loop runs.
    EXPECT_TRUE(p.wait_for_notify("WATCHDOG=1", 5s));
    EXPECT_TRUE(p.wait_for_notify("WATCHDOG=1", 5s));
    auto line = p.wait_for_log("\"msg\":\"ready\"", 5s);
    ASSERT_TRUE(line) << p.log_text();
    EXPECT_EQ(line->front(), '{');
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait_exit(10s), 0) << p.log_text();
}

TEST(Lifecycle, TheWatchdogStopsWhenALoopStalls)
{
    temp_dir dir;
    auto file = dir.write("rostersync.toml", base_config());
    // Fault injection: the pipeline's strand blocks once the daemon is ready.
    daemon_process p(ROSTERSYNCD_PATH, {"--config", file.string()},
                     {{"WATCHDOG_USEC", "1000000"}, {"ROSTERSYNCD_TEST_STALL", "pipeline"}});
    ASSERT_TRUE(p.wait_for_notify("READY=1", startup_timeout)) << p.log_text();
    auto line = p.wait_for_log("watchdog: a loop stalled", 30s);
    ASSERT_TRUE(line) << p.log_text();
    EXPECT_NE(line->find("loop="), std::string::npos);
    // From now on systemd hears nothing (it would restart the daemon after WatchdogSec). First
    // take in what was sent before the watchdog decided.
    p.wait_for_notify("(drain)", 300ms);
    const auto pings = p.notifications().size();
    EXPECT_FALSE(p.wait_for_notify("WATCHDOG=1", 3s)) << "pinged after the stall";
    EXPECT_EQ(p.notifications().size(), pings);
    p.signal(SIGKILL);
    p.wait_exit(10s);
}

TEST(Lifecycle, JournaldPriorityPrefixes)
{
    temp_dir dir;
    auto file = dir.write("rostersync.toml", base_config());
    daemon_process p(ROSTERSYNCD_PATH, {"--config", file.string()}, {{"JOURNAL_STREAM", "stderr"}});
    ASSERT_TRUE(p.wait_for_notify("READY=1", startup_timeout)) << p.log_text();
    auto line = p.wait_for_log("msg=ready", 5s);
    ASSERT_TRUE(line) << p.log_text();
    // journald stamps lines itself: a priority prefix, no timestamp
    EXPECT_TRUE(line->starts_with("<6>level=info component=daemon msg=ready")) << *line;
    p.signal(SIGTERM);
    // Within the shutdown grace (10 s) plus leaving the consumer groups, which a rebalance still
    // under way at start-up can delay.
    EXPECT_EQ(p.wait_exit(30s), 0) << p.log_text();
}

TEST(Lifecycle, HelpAndVersion)
{
    daemon_process h(ROSTERSYNCD_PATH, {"--help"});
    EXPECT_EQ(h.wait_exit(20s), 0);
    daemon_process v(ROSTERSYNCD_PATH, {"--version"});
    EXPECT_EQ(v.wait_exit(20s), 0);
}

}  // namespace
}  // namespace rostersync::test
