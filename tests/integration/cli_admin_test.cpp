// `rostersync status`, `resync` and `release` as an operator runs them: the real CLI against a
// real rostersyncd (a child process with its embedded Kafka cluster and the admin API on), which
// pulls rosters from the simulated platform running in this process over TLS.
#include "lms_sim/server.hpp"
#include "support/daemon_process.hpp"
#include "sync/course_seen.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace rostersync::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* issuer = "https://canvas.instructure.com";
constexpr const char* token = "0123456789abcdef-admin-token";
constexpr int course_size = 30;
// Spaces, a slash and a non-ASCII letter: the key travels percent-encoded in the URL path.
const std::string context_id = "course 42/\xCE\xB1";
const std::string key = std::string(issuer) + "|" + context_id;

struct run_result {
    int rc = -1;
    std::string out;
};

class CliAdmin : public testing::Test {
protected:
    void SetUp() override
    {
#if defined(__SANITIZE_THREAD__)
        // The daemon runs librdkafka, whose C11 threads g++ 12's TSan cannot follow (tests/CMakeLists.txt).
        GTEST_SKIP() << "librdkafka does not run under g++ 12's ThreadSanitizer";
#endif
        // A key made by the CLI, registered with the simulated platform by its JWK (as cli_test).
        auto k = run({"keygen", "--out", (dir_.path() / "tool-key.pem").string(), "--kid", "k1"});
        ASSERT_EQ(k.rc, 0) << k.out;
        std::smatch m;
        ASSERT_TRUE(std::regex_search(k.out, m, std::regex(R"((\{"kty".*\}))"))) << k.out;
        const std::string jwks = "{\"keys\":[" + m[1].str() + "]}";

        lms_sim::server_options o{.tls = true};
        o.sim.hosts = {{.name = "school.test"}};
        sim_ = std::make_unique<lms_sim::server>(o);
        sim_->start();
        course_ = sim_->call([&](lms_sim::sim_core& c) {
            c.register_client({.client_id = "10000000000001", .jwks_json = jwks});
            return c.state().w.add_course({.size = course_size, .test_student = false}).id;
        });
        dir_.write("ca.pem", sim_->ca_pem());
        dir_.write("admin-token", std::string(token) + "\n");
        dir_.write("wrong-token", "not-the-token-the-daemon-has\n");
        config_ = write_config("rostersync.toml", "127.0.0.1:0", "admin-token");
    }

    void TearDown() override
    {
        if (daemon_) {
            daemon_->signal(SIGTERM);
            EXPECT_EQ(daemon_->wait_exit(30s), 0) << daemon_->log_text();
        }
    }

    /// The daemon's (and the CLI's) config; `token_file` empty: the admin API is off.
    std::filesystem::path write_config(const std::string& name, const std::string& listen,
                                       const std::string& token_file)
    {
        auto [from, to] = sim_->resolve_entry("school.test");
        return dir_.write(name, "[http]\nlisten = \"" + listen + "\"\n" +
                                    (token_file.empty() ? "" : "admin_token_file = \"" + token_file + "\"\n") +
                                    "[http.resolve]\n\"" + from + "\" = \"" + to + "\"\n"
                                    "[[platforms]]\nname = \"school\"\nissuer = \"" + issuer + "\"\n"
                                    "client_id = \"10000000000001\"\ntoken_url = \"" + sim_->base_url("school.test") +
                                    "/login/oauth2/token\"\nprivate_key_file = \"tool-key.pem\"\nkey_id = \"k1\"\n"
                                    "ca_file = \"ca.pem\"\nallowed_hosts = [\"school.test\"]\n");
    }

    std::string memberships_url() const
    {
        return sim_->base_url("school.test") + "/api/lti/courses/" + std::to_string(course_) + "/names_and_roles";
    }

    std::size_t roster_size()
    {
        return sim_->call([&](lms_sim::sim_core& c) { return c.state().w.snapshot_of(course_).size(); });
    }

    /// Starts rostersyncd with `config` (embedded Kafka, listening on a free port); fills url_
    /// and bootstrap_.
    std::unique_ptr<daemon_process> start_daemon(const std::filesystem::path& config)
    {
        const std::vector<std::string> args = {"--config", config.string()};
        auto d = std::make_unique<daemon_process>(ROSTERSYNCD_PATH, args);
        auto started = d->wait_for_log("embedded Kafka cluster started", 60s);
        EXPECT_TRUE(started) << d->log_text();
        auto ready = d->wait_for_log("msg=ready", 60s);
        EXPECT_TRUE(ready) << d->log_text();
        if (!started || !ready) return d;
        bootstrap_ = logfmt_field(*started, "bootstrap");
        url_ = "http://" + logfmt_field(*ready, "http_address");
        EXPECT_FALSE(bootstrap_.empty()) << *started;
        EXPECT_NE(url_, "http://") << *ready;
        return d;
    }

    /// Runs the CLI to its end: exit code (-1 on a timeout) and stdout + stderr.
    run_result run(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 60s)
    {
        daemon_process p(ROSTERSYNC_CLI_PATH, args);
        auto rc = p.wait_exit(timeout);
        if (daemon_) daemon_->wait_for_log("\x01 nothing matches this", 1ms);  // keep the daemon's stderr pipe drained
        return {rc.value_or(-1), p.log_text()};
    }

    /// `rostersync CMD --config rostersync.toml --url <the daemon> ARGS...`
    run_result admin(const std::string& cmd, std::vector<std::string> args = {})
    {
        std::vector<std::string> all = {cmd, "--config", config_.string(), "--url", url_};
        all.insert(all.end(), args.begin(), args.end());
        return run(all);
    }

    /// The JSON line of a `--json` run.
    static json::object json_of(const run_result& r)
    {
        for (auto pos = r.out.find('{'); pos != std::string::npos; pos = r.out.find('{', pos + 1)) {
            if (pos != 0 && r.out[pos - 1] != '\n') continue;
            boost::system::error_code ec;
            auto v = json::parse(r.out.substr(pos, r.out.find('\n', pos) - pos), ec);
            if (!ec && v.is_object()) return v.as_object();
        }
        ADD_FAILURE() << "no JSON object in: " << r.out;
        return {};
    }

    /// Polls `status --context KEY --json` until `done` holds (bounded); the last answer.
    std::optional<json::object> wait_for_context(const std::function<bool(const json::object&)>& done,
                                                 std::chrono::seconds limit = 90s)
    {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        run_result last;
        while (std::chrono::steady_clock::now() < deadline) {
            // 421 (partitions not assigned yet) and 404 (restoring, or not ingested yet) are
            // expected at first.
            last = admin("status", {"--context", key, "--json"});
            if (last.rc == 0) {
                auto o = json_of(last);
                if (done(o)) return o;
            }
            std::this_thread::sleep_for(200ms);
        }
        ADD_FAILURE() << "the context never reached the expected state; last answer (" << last.rc << "):\n"
                      << last.out << "\ndaemon log:\n" << (daemon_ ? daemon_->log_text() : "");
        return std::nullopt;
    }

    /// Starts the daemon, publishes a CourseSeen for the course and waits for its first pass.
    std::optional<json::object> start_and_sync()
    {
        daemon_ = start_daemon(config_);
        if (url_.empty() || bootstrap_.empty()) return std::nullopt;
        auto seen = run({"seen", "--config", config_.string(), "--brokers", bootstrap_, "--platform", "school",
                         "--context-id", context_id, "--memberships-url", memberships_url(), "--label", "BIO101"});
        EXPECT_EQ(seen.rc, 0) << seen.out;
        EXPECT_NE(seen.out.find("published 1, failed 0"), std::string::npos) << seen.out;
        // "members" is the folded state: it follows the acknowledged pass by a fetch of the
        // change stream (up to fetch.wait.max.ms on the mock cluster), so wait for it as well.
        return wait_for_context([](const json::object& o) {
            return o.contains("last_pass_end") && o.contains("last_outcome") && !o.at("running").as_bool() &&
                   number(o, "members") >= static_cast<std::uint64_t>(course_size);
        });
    }

    static std::uint64_t number(const json::object& o, std::string_view k)
    {
        auto it = o.find(k);
        if (it == o.end()) return 0;
        return it->value().is_uint64() ? it->value().get_uint64() : static_cast<std::uint64_t>(it->value().as_int64());
    }

    static std::string text(const json::object& o, std::string_view k)
    {
        auto it = o.find(k);
        return it != o.end() && it->value().is_string() ? std::string(it->value().get_string()) : std::string();
    }

    temp_dir dir_;
    std::unique_ptr<lms_sim::server> sim_;
    std::uint64_t course_ = 0;
    std::filesystem::path config_;
    std::unique_ptr<daemon_process> daemon_;
    std::string url_;
    std::string bootstrap_;
};

TEST_F(CliAdmin, StatusListsAndShowsAContext)
{
    auto first = start_and_sync();
    ASSERT_TRUE(first);
    EXPECT_EQ(text(*first, "last_outcome"), "changed");
    EXPECT_EQ(number(*first, "members"), roster_size());
    EXPECT_EQ(number(*first, "members"), static_cast<std::uint64_t>(course_size));

    // The table: one row, with the member count the platform has.
    auto table = admin("status");
    ASSERT_EQ(table.rc, 0) << table.out;
    EXPECT_NE(table.out.find("CONTEXT"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("HELD/PARKED"), std::string::npos) << table.out;
    std::string row;
    std::istringstream lines(table.out);
    for (std::string l; std::getline(lines, l);)
        if (l.starts_with(key)) row = l;
    ASSERT_FALSE(row.empty()) << table.out;
    EXPECT_TRUE(std::regex_search(row, std::regex(" school +" + std::to_string(roster_size()) + " +1 +changed +in ")))
        << row;
    EXPECT_NE(table.out.find("1 context on this instance's partitions 0-11"), std::string::npos) << table.out;

    auto list = admin("status", {"--json"});
    ASSERT_EQ(list.rc, 0) << list.out;
    auto doc = json_of(list);
    EXPECT_EQ(number(doc, "total"), 1u);
    ASSERT_EQ(doc["contexts"].as_array().size(), 1u);
    EXPECT_EQ(text(doc["contexts"].as_array()[0].as_object(), "context_key"), key);
    EXPECT_EQ(number(doc["contexts"].as_array()[0].as_object(), "members"), roster_size());
    EXPECT_EQ(doc["partitions"].as_array().size(), 12u);

    // Nothing held or parked.
    auto held = admin("status", {"--held"});
    EXPECT_EQ(held.rc, 0) << held.out;
    EXPECT_NE(held.out.find("0 contexts on"), std::string::npos) << held.out;
    auto parked = admin("status", {"--parked", "--json"});
    EXPECT_EQ(parked.rc, 0) << parked.out;
    EXPECT_EQ(number(json_of(parked), "total"), 0u);

    // One context, readably, by key and by platform + context id.
    auto one = admin("status", {"--platform", "school", "--context-id", context_id});
    ASSERT_EQ(one.rc, 0) << one.out;
    EXPECT_NE(one.out.find("context        " + key), std::string::npos) << one.out;
    EXPECT_NE(one.out.find("platform       school (issuer https://canvas.instructure.com, client_id 10000000000001)"),
              std::string::npos)
        << one.out;
    EXPECT_NE(one.out.find("\ncourse         " + context_id + "  "), std::string::npos) << one.out;  // label from NRPS
    const std::string members = "members        " + std::to_string(roster_size()) + " (roster version 1)";
    EXPECT_NE(one.out.find(members), std::string::npos) << one.out;
    EXPECT_NE(one.out.find("last outcome   changed"), std::string::npos) << one.out;
    EXPECT_NE(one.out.find("memberships    " + memberships_url()), std::string::npos) << one.out;
    auto by_key = admin("status", {"--context", key});
    EXPECT_EQ(by_key.rc, 0) << by_key.out;
    // The same context either way (relative times like "(2s ago)" may tick between the two calls).
    const std::regex relative(R"( \((in )?[0-9]+[a-z]+( ago)?\))");
    EXPECT_EQ(std::regex_replace(by_key.out, relative, ""), std::regex_replace(one.out, relative, ""));

    // An unknown context of an owned partition.
    auto unknown = admin("status", {"--platform", "school", "--context-id", "no-such-course"});
    EXPECT_EQ(unknown.rc, 1) << unknown.out;
    EXPECT_NE(unknown.out.find("unknown context \"https://canvas.instructure.com|no-such-course\""), std::string::npos)
        << unknown.out;

    // Bad command lines.
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--held", "--parked"},
             {"--platform", "school"},
             {"--context-id", "x"},
             {"--context", key, "--held"},
             {"--context", "no-bar-in-it"},
             {"--bogus"}}) {
        auto r = admin("status", args);
        EXPECT_EQ(r.rc, 64) << args.front() << ": " << r.out;
    }
    auto no_platform = admin("status", {"--platform", "nope", "--context-id", "x"});
    EXPECT_EQ(no_platform.rc, 64) << no_platform.out;
    EXPECT_NE(no_platform.out.find("no platform named \"nope\""), std::string::npos) << no_platform.out;
    auto no_config = run({"status"});
    EXPECT_EQ(no_config.rc, 64) << no_config.out;
}

TEST_F(CliAdmin, ResyncSchedulesAPass)
{
    auto first = start_and_sync();
    ASSERT_TRUE(first);
    const auto started = *sync::parse_rfc3339(text(*first, "last_pass_start"));

    auto r = admin("resync", {"--platform", "school", "--context-id", context_id});
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("resync scheduled for " + key), std::string::npos) << r.out;
    auto second = wait_for_context([&](const json::object& o) {
        auto start = sync::parse_rfc3339(text(o, "last_pass_start"));
        auto end = sync::parse_rfc3339(text(o, "last_pass_end"));
        return start && end && *start > started && *end >= *start && !o.at("running").as_bool();
    });
    ASSERT_TRUE(second);
    EXPECT_EQ(text(*second, "last_outcome"), "unchanged");
    EXPECT_EQ(number(*second, "members"), roster_size());

    auto as_json = admin("resync", {"--context", key, "--json"});
    ASSERT_EQ(as_json.rc, 0) << as_json.out;
    auto doc = json_of(as_json);
    EXPECT_EQ(doc["scheduled"], json::value(true));
    EXPECT_EQ(text(doc, "context_key"), key);

    auto unknown = admin("resync", {"--context", std::string(issuer) + "|no-such-course"});
    EXPECT_EQ(unknown.rc, 1) << unknown.out;
    EXPECT_NE(unknown.out.find("unknown context"), std::string::npos) << unknown.out;
    auto usage = admin("resync");
    EXPECT_EQ(usage.rc, 64) << usage.out;
    EXPECT_NE(usage.out.find("name a context"), std::string::npos) << usage.out;
}

TEST_F(CliAdmin, ReleaseAContextAndAPlatform)
{
    auto first = start_and_sync();
    ASSERT_TRUE(first);

    // Two thirds of the course leave: the removal guard holds them after the confirming pass.
    sim_->call([&](lms_sim::sim_core& c) {
        c.state().w.churn(course_, {.drops = 20});
        return 0;
    });
    const auto remaining = roster_size();
    ASSERT_EQ(remaining, static_cast<std::size_t>(course_size - 20));
    auto r = admin("resync", {"--context", key});
    ASSERT_EQ(r.rc, 0) << r.out;
    auto held = wait_for_context([](const json::object& o) { return number(o, "held") > 0; });
    ASSERT_TRUE(held);
    EXPECT_EQ(number(*held, "held"), 20u);
    EXPECT_EQ(number(*held, "members"), static_cast<std::uint64_t>(course_size));  // nothing removed yet

    auto held_list = admin("status", {"--held"});
    ASSERT_EQ(held_list.rc, 0) << held_list.out;
    EXPECT_NE(held_list.out.find("held 20 removals"), std::string::npos) << held_list.out;
    EXPECT_NE(held_list.out.find("1 context on"), std::string::npos) << held_list.out;
    auto one = admin("status", {"--context", key});
    EXPECT_NE(one.out.find("20 removals held by the removal guard"), std::string::npos) << one.out;

    // A whole platform only with --all.
    auto no_all = admin("release", {"--platform", "school"});
    EXPECT_EQ(no_all.rc, 64) << no_all.out;
    EXPECT_NE(no_all.out.find("needs --all"), std::string::npos) << no_all.out;
    auto all_with_id = admin("release", {"--platform", "school", "--all", "--context-id", context_id});
    EXPECT_EQ(all_with_id.rc, 64) << all_with_id.out;
    auto all_alone = admin("release", {"--all"});
    EXPECT_EQ(all_alone.rc, 64) << all_alone.out;
    auto unknown_platform = admin("release", {"--platform", "nope", "--all"});
    EXPECT_EQ(unknown_platform.rc, 64) << unknown_platform.out;
    EXPECT_NE(unknown_platform.out.find("no platform named \"nope\""), std::string::npos) << unknown_platform.out;

    auto platform = admin("release", {"--platform", "school", "--all"});
    ASSERT_EQ(platform.rc, 0) << platform.out;
    EXPECT_NE(platform.out.find("released 1 context until "), std::string::npos) << platform.out;
    EXPECT_NE(platform.out.find("\n  " + key + "\n"), std::string::npos) << platform.out;
    auto removed = wait_for_context([&](const json::object& o) {
        return number(o, "held") == 0 && number(o, "members") == remaining && !o.at("running").as_bool();
    });
    ASSERT_TRUE(removed);
    EXPECT_EQ(text(*removed, "last_outcome"), "changed");

    // Nothing held any more: a platform release names nothing.
    auto again = admin("release", {"--platform", "school", "--all", "--json"});
    ASSERT_EQ(again.rc, 0) << again.out;
    auto doc = json_of(again);
    EXPECT_TRUE(doc["released"].as_array().empty()) << again.out;
    EXPECT_FALSE(text(doc, "until").empty()) << again.out;

    // One context, by key: released whether or not it holds anything.
    auto context = admin("release", {"--context", key});
    ASSERT_EQ(context.rc, 0) << context.out;
    EXPECT_NE(context.out.find("released 1 context until "), std::string::npos) << context.out;
    auto released = admin("status", {"--context", key, "--json"});
    ASSERT_EQ(released.rc, 0) << released.out;
    EXPECT_FALSE(text(json_of(released), "release_until").empty()) << released.out;

    auto unknown = admin("release", {"--context", std::string(issuer) + "|no-such-course"});
    EXPECT_EQ(unknown.rc, 1) << unknown.out;
    EXPECT_NE(unknown.out.find("unknown context"), std::string::npos) << unknown.out;
}

TEST_F(CliAdmin, WrongTokenAndAdminApiOff)
{
    daemon_ = start_daemon(config_);
    ASSERT_FALSE(url_.empty());

    auto wrong_config = write_config("wrong.toml", "127.0.0.1:0", "wrong-token");
    auto wrong = run({"status", "--config", wrong_config.string(), "--url", url_});
    EXPECT_EQ(wrong.rc, 1) << wrong.out;
    EXPECT_NE(wrong.out.find("wrong admin token"), std::string::npos) << wrong.out;
    auto wrong_release = run({"release", "--config", wrong_config.string(), "--url", url_, "--context", key});
    EXPECT_EQ(wrong_release.rc, 1) << wrong_release.out;
    EXPECT_NE(wrong_release.out.find("wrong admin token"), std::string::npos) << wrong_release.out;

    // The CLI's config has no token file: the admin API is off as far as it knows.
    auto off_config = write_config("off.toml", "127.0.0.1:0", "");
    for (const char* cmd : {"status", "resync", "release"}) {
        std::vector<std::string> args = {cmd, "--config", off_config.string(), "--url", url_};
        if (std::string(cmd) != "status") args.insert(args.end(), {"--context", key});
        auto off = run(args);
        EXPECT_EQ(off.rc, 78) << cmd << ": " << off.out;
        EXPECT_NE(off.out.find("the admin API is off: set http.admin_token_file"), std::string::npos) << off.out;
    }

    // A daemon running without the admin API, asked by a CLI that has a token.
    daemon_->signal(SIGTERM);
    EXPECT_EQ(daemon_->wait_exit(30s), 0) << daemon_->log_text();
    daemon_.reset();
    daemon_ = start_daemon(off_config);
    ASSERT_FALSE(url_.empty());
    auto not_served = admin("status");
    EXPECT_EQ(not_served.rc, 1) << not_served.out;
    EXPECT_NE(not_served.out.find("does not serve the admin API"), std::string::npos) << not_served.out;
}

TEST_F(CliAdmin, DaemonNotRunning)
{
    // A port nothing listens on (bound, then released).
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor probe(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    const auto port = std::to_string(probe.local_endpoint().port());
    probe.close();

    auto config = write_config("down.toml", "127.0.0.1:" + port, "admin-token");
    auto down = run({"status", "--config", config.string()});
    EXPECT_EQ(down.rc, 1) << down.out;
    EXPECT_NE(down.out.find("is rostersyncd running? (it listens on 127.0.0.1:" + port), std::string::npos) << down.out;
    EXPECT_NE(down.out.find("http.listen in " + config.string()), std::string::npos) << down.out;

    // A daemon listening on every address is asked on loopback.
    auto any = write_config("any.toml", "0.0.0.0:" + port, "admin-token");
    auto via_loopback = run({"resync", "--config", any.string(), "--context", key});
    EXPECT_EQ(via_loopback.rc, 1) << via_loopback.out;
    EXPECT_NE(via_loopback.out.find("cannot connect to 127.0.0.1:" + port), std::string::npos) << via_loopback.out;

    // --url wins over http.listen.
    auto by_url = run({"release", "--config", config_.string(), "--url", "http://127.0.0.1:" + port, "--context", key});
    EXPECT_EQ(by_url.rc, 1) << by_url.out;
    EXPECT_NE(by_url.out.find("is rostersyncd running?"), std::string::npos) << by_url.out;

    // Port 0 in http.listen cannot be guessed; https is not what the admin API speaks.
    auto ephemeral = run({"status", "--config", config_.string()});
    EXPECT_EQ(ephemeral.rc, 64) << ephemeral.out;
    EXPECT_NE(ephemeral.out.find("pass --url"), std::string::npos) << ephemeral.out;
    auto https = run({"status", "--config", config_.string(), "--url", "https://127.0.0.1:" + port});
    EXPECT_EQ(https.rc, 64) << https.out;
}

}  // namespace
}  // namespace rostersync::test
