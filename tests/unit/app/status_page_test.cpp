// The status page at `/`: what it renders (sections, escaping, bounds, no personal data) and how
// the daemon's HTTP server serves it (headers), in process on 127.0.0.1:0.
#include "app/status_page.hpp"

#include "support/html_text.hpp"
#include "support/http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <future>
#include <regex>
#include <thread>

namespace rostersync::app {
namespace {

using namespace std::chrono_literals;
using sys_clock = std::chrono::system_clock;

// 2026-11-27 10:00:00 UTC
const sys_clock::time_point now = sys_clock::time_point(std::chrono::seconds(1795773600));

status_page_data sample()
{
    status_page_data d;
    d.instance = "sync-1.example";
    d.version = "0.1.0";
    d.revision = "abc123";
    d.ready = true;
    d.now = now;
    d.started = now - 3h - 5min;
    d.kafka = "k1:9092";
    d.admin_api = true;
    d.release_command = "rostersync release --config /etc/rostersync/rostersync.toml";
    d.resync_command = "rostersync resync --config /etc/rostersync/rostersync.toml";
    throttle::budget::snapshot b{
        .in_flight = 2,
        .remaining = 412.5,
        .rejections = 1,
        .waiting = 3,
        .admitted = 90,
        .max_in_flight = 4,
        .paused_for = 4s};
    d.budgets.push_back({"school.instructure.com", b});
    d.budgets.push_back(
        {"canvas-cloud", {.max_in_flight = 8}, {"canvas", "canvas-beta"}, {"*.instructure.com"}}
    );
    d.budgets.push_back({"lms.example.edu", {.remaining = 599.97, .max_in_flight = 4}});
    auto& p = d.pipeline;
    p.running.push_back({"https://canvas.instructure.com|run1", "canvas", now - 12s, 7, 350});
    p.running_total = 1;
    p.held.push_back({"https://canvas.instructure.com|held1", "canvas", 40, now - 2h, std::nullopt}
    );
    p.held_total = 1;
    p.parked.push_back(
        {"https://canvas.instructure.com|gone1",
         "canvas",
         "not found (404): the course is gone or the URL is wrong; a new launch unparks it"}
    );
    p.parked_total = 1;
    p.errors.push_back(
        {now - 30s,
         "https://canvas.instructure.com|gone1",
         "parked",
         "not found: Context is deleted"}
    );
    using ph = sync::partition_status::phase;
    p.partitions.push_back({.partition = 0, .ph = ph::live, .memberships = 120, .contexts = 3});
    p.partitions.push_back({.partition = 1, .ph = ph::loading, .done = 5, .total = 10});
    p.partitions.push_back(
        {.partition = 2, .ph = ph::replaying, .done = 3, .total = 7, .memberships = 9}
    );
    p.contexts_total = 3;
    p.memberships_total = 129;
    return d;
}

/// Roughly what a person reads (the Chromium test checks the real rendering).
std::string text_of(const std::string& html)
{
    return test::visible_text(html);
}

TEST(StatusPage, HasEverySectionWithItsRows)
{
    const auto html = render_status_page(sample());
    for (const char* id : {"budgets", "passes", "held", "parked", "errors", "partitions"})
        EXPECT_NE(html.find(std::string("<h2 id=\"") + id + "\">"), std::string::npos) << id;
    const auto text = text_of(html);
    EXPECT_NE(html.find("<span class=\"ok\">ready</span>"), std::string::npos);
    EXPECT_NE(text.find("rostersyncd on sync-1.example"), std::string::npos);
    EXPECT_NE(text.find("0.1.0 (abc123)"), std::string::npos);
    EXPECT_NE(text.find("3h 5m, since 2026-11-27 06:55:00 UTC"), std::string::npos) << text;
    // Budgets: remaining as last reported, in flight, the cap, paused until (now + 4 s).
    EXPECT_NE(text.find("school.instructure.com"), std::string::npos);
    EXPECT_NE(text.find("412.5"), std::string::npos);
    EXPECT_NE(text.find("2026-11-27 10:00:04 UTC (in 4s)"), std::string::npos) << text;
    EXPECT_NE(text.find("not reported yet"), std::string::npos);
    EXPECT_NE(
        text.find("canvas-cloud platforms canvas, canvas-beta; hosts *.instructure.com"),
        std::string::npos
    ) << text;
    EXPECT_NE(text.find("school.instructure.com this host 412.5"), std::string::npos) << text;
    EXPECT_NE(text.find("lms.example.edu this host 600 "), std::string::npos) << text;
    // Passes, held (with the command that releases it), parked, errors.
    EXPECT_NE(text.find("https://canvas.instructure.com|run1"), std::string::npos);
    EXPECT_NE(text.find("12s ago"), std::string::npos);
    EXPECT_NE(text.find("40 removals held by the removal guard"), std::string::npos);
    EXPECT_NE(
        text.find("rostersync release --config /etc/rostersync/rostersync.toml --context "
                  "'https://canvas.instructure.com|held1'"),
        std::string::npos
    ) << text;
    EXPECT_NE(text.find("not found (404): the course is gone"), std::string::npos);
    EXPECT_NE(text.find("not found: Context is deleted"), std::string::npos);
    // Partitions with their restore progress.
    EXPECT_NE(
        text.find("3 partitions owned: 1 ready, 2 restoring; 129 memberships and 3 contexts tracked"
        ),
        std::string::npos
    ) << text;
    EXPECT_NE(text.find("restoring: table 5/10 records"), std::string::npos);
    EXPECT_NE(text.find("restoring: change stream 3/7 changes"), std::string::npos);
    EXPECT_NE(html.find("<meta http-equiv=\"refresh\" content=\"10\">"), std::string::npos);
}

TEST(StatusPage, NoScriptNoExternalAssets)
{
    const auto html = render_status_page(sample());
    for (const char* bad :
         {"<script", " src=", " href=", "<link", "<img", "<iframe", "<form", "url("})
        EXPECT_EQ(html.find(bad), std::string::npos) << bad;
    EXPECT_FALSE(std::regex_search(html, std::regex(R"(<[^>]*\son[a-z]+\s*=)")))
        << "no event handler attributes";
}

TEST(StatusPage, EscapesEveryDynamicString)
{
    const std::string evil = "<script>alert(\"x\")</script>&'";
    const std::string escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;";
    status_page_data d = sample();
    d.instance = evil;
    d.ready = false;
    d.not_ready_reason = evil;
    d.version = evil;
    d.revision = evil;
    d.kafka = evil;
    d.release_command = evil;
    d.resync_command = evil;
    d.budgets[0].name = evil;
    auto& p = d.pipeline;
    p.running[0].context_key = evil;
    p.running[0].platform = evil;
    p.held[0].context_key = evil;
    p.held[0].platform = evil;
    p.parked[0].context_key = evil;
    p.parked[0].platform = evil;
    p.parked[0].reason = evil;
    p.errors[0].context_key = evil;
    p.errors[0].outcome = evil;
    p.errors[0].reason = evil;
    const auto html = render_status_page(d);
    EXPECT_EQ(html.find("<script"), std::string::npos) << html;
    EXPECT_EQ(html.find("alert(\""), std::string::npos);
    EXPECT_NE(html.find("<span class=\"bad\">not ready: " + escaped + "</span>"), std::string::npos)
        << html;
    EXPECT_NE(
        html.find("<title>rostersyncd on " + escaped + " — not ready</title>"), std::string::npos
    );
    // Every occurrence came out escaped: instance ×2, reason, version, revision, kafka, budget,
    // running ×2, held ×2, parked ×3, errors ×3; the release command wraps the held key as well.
    std::size_t n = 0;
    for (auto at = html.find(escaped); at != std::string::npos; at = html.find(escaped, at + 1))
        ++n;
    EXPECT_GE(n, 19u);
}

TEST(StatusPage, EscapingAndShellQuoting)
{
    EXPECT_EQ(html_escape("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;");
    EXPECT_EQ(html_escape("plain"), "plain");
    EXPECT_EQ(shell_quote("/etc/rostersync/rostersync.toml"), "/etc/rostersync/rostersync.toml");
    EXPECT_EQ(
        shell_quote("https://canvas.instructure.com|42"), "'https://canvas.instructure.com|42'"
    );
    EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
    EXPECT_EQ(shell_quote(""), "''");
}

TEST(StatusPage, BoundsLongListsAndSaysHowManyMore)
{
    status_page_data d = sample();
    d.max_rows = 100;
    d.budgets.clear();
    for (int i = 0; i < 130; ++i) d.budgets.push_back({"host" + std::to_string(i) + ".test", {}});
    auto& p = d.pipeline;
    p.held.clear();
    for (int i = 0; i < 100; ++i)
        p.held.push_back({"iss|ctx" + std::to_string(i), "canvas", 20, now, std::nullopt});
    p.held_total = 250;  // the pipeline lists at most max_rows and counts all
    p.parked_total = 7;
    p.running_total = 1;
    const auto html = render_status_page(d);
    EXPECT_NE(html.find("and 30 more budgets (not listed)"), std::string::npos);
    EXPECT_EQ(html.find("host100.test"), std::string::npos);
    EXPECT_NE(html.find("host99.test"), std::string::npos);
    EXPECT_NE(html.find("and 150 more held contexts (not listed)"), std::string::npos);
    EXPECT_NE(html.find("and 6 more parked contexts (not listed)"), std::string::npos);
    EXPECT_EQ(html.find("more passes"), std::string::npos);
}

TEST(StatusPage, SaysSoWhenAListIsEmpty)
{
    status_page_data d;
    d.instance = "h";
    d.now = now;
    d.started = now;
    d.ready = false;
    d.not_ready_reason = "starting";
    const auto text = text_of(render_status_page(d));
    EXPECT_NE(text.find("not ready: starting"), std::string::npos);
    EXPECT_NE(text.find("No budget used yet"), std::string::npos);
    EXPECT_NE(text.find("No pass is running."), std::string::npos);
    EXPECT_NE(text.find("No removals are held."), std::string::npos);
    EXPECT_NE(text.find("No context is parked."), std::string::npos);
    EXPECT_NE(text.find("No pass failed since the start."), std::string::npos);
    EXPECT_NE(text.find("This instance owns no partition (yet)"), std::string::npos);
}

TEST(StatusPage, ReleasedHoldSaysUntilWhenAndAdminOffSaysHowToTurnItOn)
{
    status_page_data d = sample();
    d.admin_api = false;
    d.pipeline.held[0].released_until = now + 24h;
    const auto text = text_of(render_status_page(d));
    EXPECT_NE(text.find("released until 2026-11-28 10:00:00 UTC"), std::string::npos) << text;
    EXPECT_NE(text.find("The admin API is off: set http.admin_token_file"), std::string::npos);
}

// Served by the daemon's HTTP server: the headers a browser needs to treat it safely.
TEST(StatusPage, ServedWithContentTypeCspNoStoreAndNosniff)
{
    net::io_context ioc;
    metrics::registry registry;
    http_server server(ioc, {.listen = {"127.0.0.1", 0}}, registry);
    server.route("GET", "/", [](const http_request&) { return status_page_response(sample()); });
    auto ep = server.listen();
    ASSERT_TRUE(ep) << ep.error().message();
    std::promise<void> done;
    net::co_spawn(server.executor(), server.run(), [&](std::exception_ptr) { done.set_value(); });
    std::thread t([&] { ioc.run(); });

    auto r = test::http_get("127.0.0.1", ep->port(), "/");
    auto head = test::http_request("127.0.0.1", ep->port(), "HEAD", "/");
    auto other = test::http_get("127.0.0.1", ep->port(), "/index.html");
    server.stop();
    EXPECT_EQ(done.get_future().wait_for(10s), std::future_status::ready);
    ioc.stop();
    t.join();

    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.headers["content-type"], "text/html; charset=utf-8");
    EXPECT_EQ(r.headers["cache-control"], "no-store");
    EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
    const auto& csp = r.headers["content-security-policy"];
    EXPECT_TRUE(csp.starts_with("default-src 'none'; style-src 'unsafe-inline'")) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_EQ(r.body, render_status_page(sample()));
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
    EXPECT_EQ(other.status, 404) << "only / itself is the page";
}

}  // namespace
}  // namespace rostersync::app
