// Account discovery (issue 9) end to end: a Canvas account with sub-accounts and several hundred
// courses on the simulated platform (in process, over TLS, real sockets), the mock Kafka cluster
// as a process of its own, and the real `rostersync discover` binary, an in-process discoverer
// (the report path with a report that takes several polls), and rostersyncd with a [[discovery]]
// schedule whose CourseSeen events its own pipeline syncs.
#include "config/load.hpp"
#include "discovery/discover.hpp"
#include "discovery/error.hpp"
#include "kafka/consumer.hpp"
#include "kafka/partitioner.hpp"
#include "kafka/producer.hpp"
#include "lms_sim/server.hpp"
#include "nrps/fetcher.hpp"
#include "oauth/assertion.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/temp_dir.hpp"
#include "sync/course_seen.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <signal.h>

#include <map>
#include <regex>
#include <set>
#include <thread>

namespace rostersync::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* issuer = "https://canvas.instructure.com";
constexpr const char* client_id = "10000000000001";
constexpr int partitions = 4;
constexpr int course_count = 360;
const std::vector<std::string> daemon_topics{"lti.course-seen",        "lti.course-seen.dlq",   "lti.membership-changes",
                                             "rostersync.memberships", "rostersync.contexts",   "rostersync.checkpoints",
                                             "rostersync.sync-requests"};

struct record {
    std::int32_t partition = -1;
    std::string key;
    std::string value;
};

std::string quote(const std::string& s) { return "\"" + s + "\""; }

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

class Discovery : public testing::Test {
protected:
    void SetUp() override
    {
#if defined(__SANITIZE_THREAD__)
        GTEST_SKIP() << "librdkafka does not run under g++ 12's ThreadSanitizer";
#endif
        std::vector<std::string> args;
        for (const auto& t : daemon_topics) args.insert(args.end(), {"--topic", t + ":" + std::to_string(partitions)});
        for (const char* t : {"report.seen", "refused.seen"})
            args.insert(args.end(), {"--topic", std::string(t) + ":" + std::to_string(partitions)});
        mock_ = std::make_unique<daemon_process>(ROSTERSYNC_KAFKA_MOCK_PATH, args);
        auto line = mock_->wait_for_log("bootstrap: ", 30s);
        ASSERT_TRUE(line) << mock_->log_text();
        bootstrap_ = line->substr(line->find("bootstrap: ") + 11);
        ASSERT_TRUE(mock_->wait_for_log("ready", 10s)) << mock_->log_text();

        lms_sim::server_options o{.tls = true};
        o.sim.hosts = {{.name = "school.test"}, {.name = "files.school.test"}};
        o.sim.throttle.enabled = true;  // Canvas's bucket: NRPS per client_id, REST per token
        o.sim.throttle.retry_after = 1;  // rejections (faults below) pause a budget for a second
        o.sim.rest.report_polls = report_polls();
        o.sim.rest.files_host = "files.school.test";
        sim_ = std::make_unique<lms_sim::server>(o);
        sim_->start();
        build_world();

        auto key = oauth::generate_key("RS256", "k1");
        ASSERT_TRUE(key);
        dir_.write("tool-key.pem", key->private_pem, 0600);
        const std::string pub = key->public_pem;
        const auto not_installed = not_installed_;
        const auto unbound = unbound_;
        sim_->call([&](lms_sim::sim_core& c) {
            c.register_client({.client_id = client_id, .public_key_pem = pub, .not_installed = not_installed,
                               .unbound = unbound});
            c.register_rest_token({.token = "admin-rest-token-0123456789"});
            c.register_rest_token({.token = "weak-rest-token-0123456789", .list_courses = false, .run_reports = false});
        });
        dir_.write("ca.pem", sim_->ca_pem());
        dir_.write("canvas-rest.token", "admin-rest-token-0123456789\n", 0600);
        dir_.write("weak.token", "weak-rest-token-0123456789\n", 0600);
        dir_.write("unknown.token", "no-such-token\n", 0600);
        dir_.write("open.token", "admin-rest-token-0123456789\n", 0644);
        config_ = write_config("rostersync.toml", "canvas-rest.token", "");
    }

    void TearDown() override
    {
        if (sim_) sim_->stop();
        if (mock_) {
            mock_->signal(SIGTERM);
            mock_->wait_exit(20s);
        }
    }

    virtual int report_polls() { return 0; }

    /// Root (1) ─ Sciences (2) ─ Physics (3); Root ─ Arts (4). Courses cycle over the four accounts
    /// and two terms; most are available, some unpublished, completed or deleted; the tool is
    /// missing from a third, and one account turned the key off for a few more.
    void build_world()
    {
        sim_->call([&](lms_sim::sim_core& c) {
            auto& w = c.state().w;
            const auto sciences = w.add_account(1, "Sciences").id;
            const auto physics = w.add_account(sciences, "Physics").id;
            const auto arts = w.add_account(1, "Arts").id;
            const std::uint64_t accounts[] = {1, sciences, physics, arts};
            for (int i = 0; i < course_count; ++i) {
                const char* state = i % 12 == 5 ? "created" : i % 12 == 9 ? "completed" : "available";
                // Titles that need CSV quoting (commas, quotes, a line break).
                std::string title = i % 11 == 0 ? "Biology, \"Honors\"\nsection " + std::to_string(i) : "";
                auto& course = w.add_course({.size = 2, .test_student = false, .account_id = accounts[i % 4],
                                             .term_id = static_cast<std::uint64_t>(1 + i % 2), .state = state,
                                             .title = title});
                if (i % 3 == 1) not_installed_.insert(course.id);
                else if (i % 29 == 0) unbound_.insert(course.id);
                if (i % 17 == 0) w.remove_context(course.id);
            }
        });
    }

    std::filesystem::path write_config(const std::string& name, const std::string& token_file, const std::string& extra)
    {
        std::string resolve;
        for (const char* h : {"school.test", "files.school.test"}) {
            auto [from, to] = sim_->resolve_entry(h);
            resolve += quote(from) + " = " + quote(to) + "\n";
        }
        const std::string base = sim_->base_url("school.test");
        return dir_.write(
            name, "[kafka]\nbrokers = " + quote(bootstrap_) + "\npartitions = " + std::to_string(partitions) +
                      "\nreplication_factor = 1\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n"
                      "\"heartbeat.interval.ms\" = \"500\"\n"
                      "[sync]\nmin_interval = \"1s\"\nsnapshot_interval = \"1s\"\n"
                      "[http]\nlisten = \"127.0.0.1:0\"\n[http.resolve]\n" + resolve +
                      "[[platforms]]\nname = \"school\"\nissuer = " + quote(issuer) + "\nclient_id = " + quote(client_id) +
                      "\ntoken_url = " + quote(base + "/login/oauth2/token") +
                      "\nprivate_key_file = \"tool-key.pem\"\nkey_id = \"k1\"\nca_file = \"ca.pem\"\n"
                      "allowed_hosts = [\"school.test\", \"files.school.test\"]\nbudget = \"sim\"\n"
                      "rest_url = " + quote(base) + "\nrest_token_file = " + quote(token_file) + "\n"
                      "[[budgets]]\nname = \"sim\"\nrequests_per_second = 5000.0\nmax_in_flight = 8\nreserve = 0\n"
                      "[[budgets]]\nname = \"school.rest\"\nrequests_per_second = 200.0\nmax_in_flight = 1\nreserve = 0\n" +
                      extra);
    }

    /// The simulator's truth: context id → course id of every course with the tool installed that
    /// discovery should announce.
    std::map<std::string, std::uint64_t> installed(std::uint64_t account, std::set<std::string> states,
                                                   std::uint64_t term = 0, bool subaccounts = true)
    {
        return sim_->call([&](lms_sim::sim_core& c) {
            std::map<std::string, std::uint64_t> out;
            auto tree = c.state().w.account_tree(account);
            if (!subaccounts) tree = {account};
            for (const auto& [id, course] : c.state().w.courses()) {
                if (!tree.count(course.account_id) || !states.count(course.state)) continue;
                if (term != 0 && course.term_id != term) continue;
                if (not_installed_.count(id) || unbound_.count(id)) continue;
                out[course.context_id] = id;
            }
            return out;
        });
    }
    std::size_t listed(std::uint64_t account, std::set<std::string> states)
    {
        return sim_->call([&](lms_sim::sim_core& c) {
            std::size_t n = 0;
            auto tree = c.state().w.account_tree(account);
            for (const auto& [id, course] : c.state().w.courses()) n += tree.count(course.account_id) && states.count(course.state);
            return n;
        });
    }

    std::pair<int, std::string> run(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 120s)
    {
        daemon_process p(ROSTERSYNC_CLI_PATH, args);
        auto rc = p.wait_exit(timeout);
        return {rc.value_or(-1), p.log_text()};
    }

    /// Every record of `topic` (all partitions), read to the end it has now.
    std::vector<record> read_topic(const std::string& topic)
    {
        std::vector<record> out;
        auto c = kafka::consumer::create({.bootstrap = bootstrap_, .group_id = "discovery-test"});
        EXPECT_TRUE(c) << c.error();
        if (!c) return out;
        std::int64_t want = 0;
        std::vector<kafka::topic_partition> tps;
        for (int p = 0; p < partitions; ++p) {
            std::int64_t lo = 0, hi = 0;
            EXPECT_EQ(rd_kafka_query_watermark_offsets((*c)->native(), topic.c_str(), p, &lo, &hi, 10000),
                      RD_KAFKA_RESP_ERR_NO_ERROR);
            want += hi - lo;
            tps.push_back({topic, p});
        }
        EXPECT_FALSE((*c)->assign(tps, RD_KAFKA_OFFSET_BEGINNING));
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (static_cast<std::int64_t>(out.size()) < want && std::chrono::steady_clock::now() < deadline) {
            auto m = (*c)->poll(200ms);
            if (!m || !*m) continue;
            const rd_kafka_message_t& msg = **m;
            record r{.partition = msg.partition};
            if (msg.key) r.key.assign(static_cast<const char*>(msg.key), msg.key_len);
            if (msg.payload) r.value.assign(static_cast<const char*>(msg.payload), msg.len);
            out.push_back(std::move(r));
        }
        (*c)->close();
        return out;
    }

    /// Checks every record as the daemon's ingest would; returns context id → course id (from the URL).
    std::map<std::string, std::uint64_t> announced(const std::vector<record>& records)
    {
        auto cfg = config::load_file(config_, {});
        EXPECT_TRUE(cfg);
        std::map<std::string, std::uint64_t> out;
        const std::regex url_re("https://school\\.test:[0-9]+/api/lti/courses/([0-9]+)/names_and_roles");
        for (const auto& r : records) {
            auto cs = sync::parse_course_seen(r.value, *cfg);
            EXPECT_TRUE(cs) << (cs ? "" : cs.error().message) << ": " << r.value;
            if (!cs) continue;
            EXPECT_EQ(cs->platform, "school");
            EXPECT_FALSE(cs->user);
            EXPECT_EQ(r.key, kafka::context_key(issuer, cs->context_id));
            EXPECT_EQ(r.partition, kafka::partition_for(r.key, partitions));
            std::smatch m;
            EXPECT_TRUE(std::regex_match(cs->memberships_url, m, url_re)) << cs->memberships_url;
            EXPECT_TRUE(out.emplace(cs->context_id, m.size() > 1 ? std::stoull(m[1]) : 0).second)
                << "announced twice: " << cs->context_id;
        }
        return out;
    }

    /// The request log of the simulator.
    std::vector<lms_sim::request_record> requests()
    {
        return sim_->call([](lms_sim::sim_core& c) { return c.state().log; });
    }

    temp_dir dir_;
    std::unique_ptr<daemon_process> mock_;
    std::string bootstrap_;
    std::unique_ptr<lms_sim::server> sim_;
    std::filesystem::path config_;
    std::set<std::uint64_t> not_installed_, unbound_;
};

// Issue 9: discovery of an account with sub-accounts and several hundred courses schedules exactly
// the courses where the tool is installed, and parks and reports the rest.
TEST_F(Discovery, ListsTheAccountTreeAndAnnouncesExactlyTheInstalledCourses)
{
    auto [rc, out] = run({"discover", "--config", config_.string(), "--platform", "school", "--account", "1"});
    ASSERT_EQ(rc, 0) << out;
    const auto want = installed(1, {"available"});
    const std::size_t total = listed(1, {"available"});
    ASSERT_GT(total, 200u);
    ASSERT_GT(want.size(), 100u);
    auto got = announced(read_topic("lti.course-seen"));
    EXPECT_EQ(got, want);  // the same contexts, each once, each with its own course's URL

    // The summary counts what happened to every course listed: the rest are parked as not installed.
    std::size_t not_installed = 0;
    sim_->call([&](lms_sim::sim_core& c) {
        for (const auto& [id, course] : c.state().w.courses())
            not_installed += course.state == "available" && (not_installed_.count(id) || unbound_.count(id));
        return 0;
    });
    EXPECT_EQ(total, want.size() + not_installed);
    EXPECT_TRUE(contains(out, "platform school, account 1 and its sub-accounts, states available, from the courses API: " +
                                  std::to_string(total) + " courses"))
        << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("published +" + std::to_string(want.size()) + " +CourseSeen on lti.course-seen")))
        << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("not installed +" + std::to_string(not_installed) + " ")))
        << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("gone +0 "))) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("failed +0"))) << out;

    // REST: paged by Link (100 a page), every call with the token and only to the REST host;
    // NRPS: one cheap probe per course (limit=1), one only even where the tool is missing.
    int rest_pages = 0;
    std::map<std::uint64_t, int> probes;
    for (const auto& r : requests()) {
        if (r.route == "rest") {
            EXPECT_EQ(r.status, 200) << r.target;
            EXPECT_TRUE(r.authorized);
            EXPECT_TRUE(r.host.starts_with("school.test:")) << r.host;
            rest_pages += r.target.find("/courses?") != std::string::npos;
        }
        if (r.route == "nrps") {
            EXPECT_NE(r.target.find("limit=1"), std::string::npos) << r.target;
            ++probes[r.context];
        }
    }
    EXPECT_EQ(rest_pages, static_cast<int>((total + 99) / 100));
    EXPECT_EQ(probes.size(), total);
    for (const auto& [id, n] : probes) EXPECT_EQ(n, 1) << "course " << id << " probed " << n << " times";
}

TEST_F(Discovery, SubAccountTermAndStateFiltersInADryRun)
{
    auto [rc, out] = run({"discover", "--config", config_.string(), "--platform", "school", "--account", "2",
                          "--no-subaccounts", "--term", "1", "--state", "available,unpublished", "--dry-run", "--json"});
    ASSERT_EQ(rc, 0) << out;
    const auto json_start = out.find("{\"platform\"");
    ASSERT_NE(json_start, std::string::npos) << out;
    auto doc = json::parse(out.substr(json_start, out.find('\n', json_start) - json_start)).as_object();
    const auto want = installed(2, {"available", "created", "claimed"}, 1, false);
    std::set<std::string> got;
    for (const auto& c : doc["courses"].as_array()) {
        const auto& o = c.as_object();
        EXPECT_EQ(o.at("account_id").as_string(), "2");
        EXPECT_EQ(o.at("term_id").as_string(), "1");
        if (o.at("outcome").as_string() == "published") got.insert(std::string(o.at("context_id").as_string()));
    }
    std::set<std::string> want_ids;
    for (const auto& [ctx, id] : want) want_ids.insert(ctx);
    EXPECT_EQ(got, want_ids);
    EXPECT_TRUE(doc["dry_run"].as_bool());
    // A dry run publishes nothing.
    EXPECT_TRUE(read_topic("lti.course-seen").empty());
}

// Issue 9: a REST token with too little permission yields a clear configuration error.
TEST_F(Discovery, ATokenWithTooLittlePermissionIsAClearConfigurationError)
{
    const auto weak = write_config("weak.toml", "weak.token", "");
    auto [rc, out] = run({"discover", "--config", weak.string(), "--platform", "school", "--account", "1", "--topic",
                          "refused.seen"});
    EXPECT_EQ(rc, 78) << out;
    EXPECT_TRUE(contains(out, "rostersync discover: configuration: the REST API token lacks a permission this call needs"))
        << out;
    EXPECT_TRUE(contains(out, "\"user not authorized to perform that action\"")) << out;
    EXPECT_TRUE(contains(out, "\"Courses - view list\", read_course_list) on account 1")) << out;
    EXPECT_FALSE(contains(out, "weak-rest-token")) << "the token must never be printed:\n" << out;

    std::tie(rc, out) = run({"discover", "--config", weak.string(), "--platform", "school", "--account", "1",
                             "--from-report", "--topic", "refused.seen"});
    EXPECT_EQ(rc, 78) << out;
    EXPECT_TRUE(contains(out, "\"Reports - manage\", read_reports")) << out;

    const auto unknown = write_config("unknown.toml", "unknown.token", "");
    std::tie(rc, out) = run({"discover", "--config", unknown.string(), "--platform", "school", "--account", "1",
                             "--topic", "refused.seen"});
    EXPECT_EQ(rc, 78) << out;
    EXPECT_TRUE(contains(out, "Canvas does not accept the REST API token")) << out;
    EXPECT_TRUE(contains(out, "\"Invalid access token.\"")) << out;

    const auto open = write_config("open.toml", "open.token", "");
    std::tie(rc, out) = run({"discover", "--config", open.string(), "--platform", "school", "--account", "1",
                             "--topic", "refused.seen"});
    EXPECT_EQ(rc, 78) << out;
    EXPECT_TRUE(contains(out, "is readable by group or others; run: chmod 600")) << out;

    // No course was probed, nothing published.
    for (const auto& r : requests()) EXPECT_NE(r.route, "nrps") << r.target;
    EXPECT_TRUE(read_topic("refused.seen").empty());
}

TEST_F(Discovery, RestThrottleAndServerErrorsAreRetriedNotFatal)
{
    sim_->call([](lms_sim::sim_core& c) {
        // After a rejection the budget also waits for Canvas's bucket to refill (remaining 0.0,
        // draining 10 units a second): about six seconds with reserve = 0.
        c.state().faults.push_back({.what = lms_sim::fault::kind::throttle, .route = "rest", .times = 1});
        c.state().faults.push_back({.what = lms_sim::fault::kind::status, .route = "rest", .status = 503, .times = 1});
        return 0;
    });
    auto [rc, out] = run({"discover", "--config", config_.string(), "--platform", "school", "--account", "4",
                          "--dry-run", "--json"});
    ASSERT_EQ(rc, 0) << out;
    const auto start = out.find("{\"platform\"");
    ASSERT_NE(start, std::string::npos) << out;
    auto doc = json::parse(out.substr(start, out.find('\n', start) - start)).as_object();
    EXPECT_EQ(static_cast<std::size_t>(doc.at("published").as_int64()), installed(4, {"available"}).size());
    int throttled = 0, errors = 0, ok = 0;
    for (const auto& r : requests()) {
        if (r.route != "rest") continue;
        throttled += r.throttled;
        errors += r.status == 503;
        ok += r.status == 200;
    }
    EXPECT_EQ(throttled, 1);
    EXPECT_EQ(errors, 1);
    EXPECT_EQ(ok, 1);  // the one page of account 4, fetched at the third attempt
}

TEST_F(Discovery, UsageErrors)
{
    auto [rc, out] = run({"discover", "--config", config_.string(), "--platform", "school"});
    EXPECT_EQ(rc, 64) << out;
    EXPECT_TRUE(contains(out, "--account is required")) << out;
    std::tie(rc, out) = run({"discover", "--config", config_.string(), "--platform", "school", "--account", "1",
                             "--state", "active"});
    EXPECT_EQ(rc, 64) << out;
    EXPECT_TRUE(contains(out, "--state active: expected created, claimed, available, completed or deleted")) << out;
    std::tie(rc, out) = run({"discover", "--config", config_.string(), "--platform", "nope", "--account", "1", "--dry-run"});
    EXPECT_EQ(rc, 78) << out;
    EXPECT_TRUE(contains(out, "no platform named \"nope\"")) << out;
}

/// The report path: a report that stays "running" for several polls.
class DiscoveryReport : public Discovery {
protected:
    int report_polls() override { return 4; }
};

// Issue 9: the report path discovers the same set as the courses list.
TEST_F(DiscoveryReport, TheProvisioningReportDiscoversTheSameSet)
{
    auto cfg = config::load_file(config_, {});
    ASSERT_TRUE(cfg) << cfg.error().list.front().to_string();
    net::io_context ioc;
    auto engine = nrps::engine::create(ioc.get_executor(), *cfg);
    ASSERT_TRUE(engine) << engine.error().detail;
    discovery::discoverer_options opts;
    opts.rest.poll_first = 20ms;  // the report's own pace is the simulator's poll count
    opts.rest.poll_cap = 100ms;
    discovery::discoverer disc(ioc.get_executor(), *cfg, **engine, nullptr, opts);
    auto producer = kafka::producer::create({.bootstrap = bootstrap_});
    ASSERT_TRUE(producer) << producer.error();
    disc.set_publisher(producer->get(), "report.seen", partitions);

    std::vector<std::string> statuses;
    discovery::discover_request req{.platform = "school", .account = "1", .from = discovery::source::report};
    req.on_progress = [&](const discovery::progress& p) {
        if (p.phase == "report" && (statuses.empty() || statuses.back() != p.report_status)) statuses.push_back(p.report_status);
    };
    std::optional<discovery::discover_summary> sum;
    net::co_spawn(ioc, disc.run(std::move(req)), [&](std::exception_ptr e, discovery::discover_summary s) {
        if (e) std::rethrow_exception(e);
        sum = std::move(s);
    });
    ioc.run();
    ASSERT_TRUE(sum);
    ASSERT_TRUE(sum->ok()) << sum->detail;
    EXPECT_EQ(statuses, (std::vector<std::string>{"", "created", "running", "complete"}));

    // The report covers unpublished courses too; the filter (available) keeps the same set.
    const auto want = installed(1, {"available"});
    EXPECT_EQ(announced(read_topic("report.seen")), want);
    EXPECT_EQ(sum->counts.published, want.size());
    EXPECT_EQ(sum->counts.failed, 0u);

    // Polled until complete; the file came from the file store, through public_url, without the token.
    int polls = 0, public_urls = 0, files = 0;
    for (const auto& r : requests()) {
        if (r.route == "rest" && r.target.find("/reports/provisioning_csv/") != std::string::npos) ++polls;
        if (r.route == "rest" && r.target.find("/public_url") != std::string::npos) ++public_urls;
        if (r.route == "file") {
            ++files;
            EXPECT_TRUE(r.host.starts_with("files.school.test:")) << r.host;
            EXPECT_FALSE(r.authorized) << "the REST token must not go to the file store";
            EXPECT_EQ(r.status, 200);
        }
    }
    EXPECT_EQ(polls, 5);  // running for four polls, complete on the fifth
    EXPECT_EQ(public_urls, 1);
    EXPECT_EQ(files, 1);
}

TEST_F(Discovery, TheCliReportAndAnOperatorsCsvAgreeWithTheList)
{
    // --from-report (a report that completes at its first poll), as a dry run.
    auto [rc, out] = run({"discover", "--config", config_.string(), "--platform", "school", "--account", "1",
                          "--from-report", "--dry-run", "--json"});
    ASSERT_EQ(rc, 0) << out;
    auto json_of = [](const std::string& text) {
        auto start = text.find("{\"platform\"");
        return json::parse(text.substr(start, text.find('\n', start) - start)).as_object();
    };
    auto published = [](const json::object& doc) {
        std::set<std::string> s;
        for (const auto& c : doc.at("courses").as_array())
            if (c.as_object().at("outcome").as_string() == "published") s.insert(std::string(c.as_object().at("id").as_string()));
        return s;
    };
    std::set<std::string> want;
    for (const auto& [ctx, id] : installed(1, {"available"})) want.insert(std::to_string(id));
    EXPECT_EQ(published(json_of(out)), want);

    // An operator's own (stale) export: canvas_course_id and status columns; courses deleted
    // since are still "active" in it.
    std::string csv = "canvas_course_id,status\n";
    sim_->call([&](lms_sim::sim_core& c) {
        for (const auto& [id, course] : c.state().w.courses()) {
            const bool active = course.state == "available" || course.state == "deleted";
            csv += std::to_string(id) + "," + (active ? "active" : "unpublished") + "\n";
        }
        return 0;
    });
    const auto file = dir_.write("export.csv", csv);
    std::tie(rc, out) = run({"discover", "--config", config_.string(), "--platform", "school", "--from-csv",
                             file.string(), "--dry-run", "--json"});
    // Deleted courses are in the export: their probe answers 404, reported as gone.
    ASSERT_EQ(rc, 0) << out;
    auto doc = json_of(out);
    EXPECT_EQ(published(doc), want);
    EXPECT_GT(doc.at("gone").as_int64(), 0);
}

// The daemon's schedule: a [[discovery]] entry runs at start; the pipeline then syncs exactly the
// announced courses, and the metrics count the rest as not installed.
TEST_F(Discovery, TheDaemonRunsDiscoveryOnItsScheduleAndItsPipelineSyncsTheCourses)
{
    const auto cfg_path = write_config("daemon.toml", "canvas-rest.token",
                                       "[[discovery]]\nplatform = \"school\"\naccount = 3\ninterval = \"1h\"\n");
    daemon_process d(ROSTERSYNCD_PATH, {"--config", cfg_path.string()});
    ASSERT_TRUE(d.wait_for_notify("READY=1", 60s)) << d.log_text();
    auto ready = d.wait_for_log("msg=ready", 5s);
    ASSERT_TRUE(ready);
    const auto address = logfmt_field(*ready, "http_address");
    const auto host = address.substr(0, address.rfind(':'));
    const auto port = static_cast<unsigned short>(std::stoi(address.substr(address.rfind(':') + 1)));

    auto done = d.wait_for_log("msg=\"discovery finished\"", 90s);
    ASSERT_TRUE(done) << d.log_text();
    const auto want = installed(3, {"available"});
    ASSERT_GT(want.size(), 20u);
    EXPECT_EQ(logfmt_field(*done, "published"), std::to_string(want.size())) << *done;
    EXPECT_EQ(announced(read_topic("lti.course-seen")), want);

    // Every announced course gets its roster synced: two members each, in the change stream.
    std::set<std::string> synced;
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (synced.size() < want.size() && std::chrono::steady_clock::now() < deadline) {
        synced.clear();
        for (const auto& r : read_topic("lti.membership-changes")) {
            auto v = json::parse(r.value).as_object();
            synced.insert(std::string(v["context"].as_object()["id"].as_string()));
        }
        if (synced.size() < want.size()) std::this_thread::sleep_for(200ms);  // a condition polled with a deadline
    }
    std::set<std::string> want_ids;
    for (const auto& [ctx, id] : want) want_ids.insert(ctx);
    EXPECT_EQ(synced, want_ids);

    auto metrics = http_request(host, port, "GET", "/metrics");
    ASSERT_EQ(metrics.status, 200);
    std::size_t not_installed = 0;
    sim_->call([&](lms_sim::sim_core& c) {
        for (const auto& [id, course] : c.state().w.courses())
            not_installed += course.account_id == 3 && course.state == "available" &&
                             (not_installed_.count(id) || unbound_.count(id));
        return 0;
    });
    EXPECT_TRUE(contains(metrics.body, "rostersync_discovery_courses_total{outcome=\"not_installed\"} " +
                                           std::to_string(not_installed)))
        << metrics.body.substr(0, 4000);
    EXPECT_TRUE(contains(metrics.body, "rostersync_discovery_runs_total{result=\"complete\"} 1")) << metrics.body.substr(0, 4000);
    EXPECT_TRUE(contains(metrics.body, "rostersync_budget_admitted_total{budget=\"school.rest\"}")) << metrics.body.substr(0, 4000);

    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(60s), 0) << d.log_text();
}

}  // namespace
}  // namespace rostersync::test
