// The daemon's job end to end, over real sockets: CourseSeen events into the mock Kafka cluster
// (a process of its own), rosters from the simulated platform (TLS), membership changes out —
// checked against the platform's truth.
#include "support/pipeline_env.hpp"

#include "support/http_client.hpp"

#include "http/url.hpp"
#include "lms_sim/world.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <random>

namespace rostersync::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";

std::size_t total(const std::map<std::string, std::set<std::string>>& m)
{
    return m.size();
}

/// The expected changes between two snapshots, as (membership key, type).
std::multiset<std::pair<std::string, std::string>> expected_changes(const sim_course& c,
                                                                    const lms_sim::snapshot& before,
                                                                    const lms_sim::snapshot& after)
{
    std::multiset<std::pair<std::string, std::string>> out;
    for (const auto& e : lms_sim::diff(before, after))
        out.emplace(std::string(sim_issuer) + "|" + c.context_id + "|" + e.user_id, e.type);
    return out;
}

std::multiset<std::pair<std::string, std::string>> got_changes(const std::vector<change_record>& all, std::size_t from)
{
    std::multiset<std::pair<std::string, std::string>> out;
    for (std::size_t i = from; i < all.size(); ++i) out.emplace(all[i].key, all[i].type());
    return out;
}

class Pipeline : public testing::Test {
protected:
    void SetUp() override
    {
#if defined(__SANITIZE_THREAD__)
        GTEST_SKIP() << "librdkafka does not run under g++ 12's ThreadSanitizer";
#endif
    }

    std::unique_ptr<pipeline_env> env_;

    lms_sim::snapshot snapshot(const sim_course& c)
    {
        return env_->sim().call([&](lms_sim::sim_core& core) { return core.state().w.snapshot_of(c.id); });
    }

    std::map<std::string, std::set<std::string>> truth(const std::vector<sim_course>& courses)
    {
        return env_->truth(courses);
    }

    /// Publishes a CourseSeen for each course and waits until each finished a pass that started
    /// after the publication (including a confirming pass when removals are pending).
    void sync_all(const std::vector<sim_course>& courses, std::chrono::milliseconds timeout = 60s)
    {
        const auto problem = env_->sync_all(courses, timeout);
        ASSERT_TRUE(problem.empty()) << problem;
    }

    std::string log_text() { return env_->log_text(); }
};

TEST_F(Pipeline, FirstSyncThenNothingThenExactlyTheChurn)
{
    env_ = std::make_unique<pipeline_env>();
    std::vector<sim_course> courses{env_->add_course("a.school.test", 30), env_->add_course("a.school.test", 75),
                                    env_->add_course("b.school.test", 12), env_->add_course("b.school.test", 120)};
    env_->start_daemon();

    // First sync: exactly the simulator's members, as member.added.
    sync_all(courses);
    const auto expected = truth(courses);
    const auto& first = env_->wait_changes(total(expected), 30s);
    ASSERT_EQ(first.size(), total(expected)) << log_text();
    std::set<std::string> ids;
    for (const auto& r : first) {
        EXPECT_EQ(r.type(), "member.added");
        EXPECT_EQ(r.json.at("source").as_string(), "nrps");
        EXPECT_EQ(r.headers.at("ce_type"), "member.added");
        EXPECT_EQ(r.headers.at("ce_id"), std::string(r.json.at("id").as_string()));
        ids.insert(std::string(r.json.at("id").as_string()));
    }
    EXPECT_EQ(ids.size(), first.size()) << "ids are unique";
    EXPECT_EQ(env_->fold(), expected);

    // A second pass without change publishes nothing.
    const auto before = env_->record_count("lti.membership-changes");
    sync_all(courses);
    for (const auto& c : courses) {
        auto st = env_->context_state(c);
        ASSERT_TRUE(st);
        EXPECT_EQ(st->at("last_outcome").as_string(), "unchanged") << json::serialize(*st);
    }
    EXPECT_EQ(env_->record_count("lti.membership-changes"), before);

    // Scripted churn: exactly the expected events, and nothing else.
    std::multiset<std::pair<std::string, std::string>> want;
    for (const auto& c : courses) {
        auto b = snapshot(c);
        env_->sim().call([&](lms_sim::sim_core& core) {
            core.state().w.churn(c.id, {.joins = 3, .drops = 2, .role_changes = 2, .profile_changes = 2});
        });
        want.merge(expected_changes(c, b, snapshot(c)));
    }
    const auto mark = env_->changes().size();
    sync_all(courses);
    env_->wait_changes(mark + want.size(), 30s);
    EXPECT_EQ(env_->record_count("lti.membership-changes"), before + static_cast<std::int64_t>(want.size()));
    EXPECT_EQ(got_changes(env_->changes(), mark), want);
    EXPECT_EQ(env_->fold(), truth(courses));
    if (std::getenv("PIPELINE_TEST_LOG")) std::cerr << log_text();
}

TEST_F(Pipeline, AMemberLeavingMidPassCausesNoFalseRemoval)
{
    env_ = std::make_unique<pipeline_env>();
    auto c = env_->add_course("a.school.test", 140);  // three pages of 50
    env_->start_daemon();
    sync_all({c});
    env_->wait_changes(140, 30s);
    ASSERT_EQ(env_->changes().size(), 140u);

    // The lowest member leaves just before page 2 is served: everyone shifts one place left,
    // so one member of page 2 moves to page 1 and this pass never sees it.
    auto before = snapshot(c);
    env_->sim().call([&](lms_sim::sim_core& core) {
        core.state().faults.push_back({.what = lms_sim::fault::kind::drop_first, .context = c.id, .page = 2});
    });
    const auto mark = env_->changes().size();
    sync_all({c});
    auto want = expected_changes(c, before, snapshot(c));
    ASSERT_EQ(want.size(), 1u);
    EXPECT_EQ(want.begin()->second, "member.removed");
    env_->wait_changes(mark + 1, 30s);
    EXPECT_EQ(got_changes(env_->changes(), mark), want) << "only the real removal, after the confirming pass";
    EXPECT_EQ(env_->fold(), env_->truth(c));
}

TEST_F(Pipeline, RestartRepeatsNothingAndDiffsAgainstTheReplayedState)
{
    env_ = std::make_unique<pipeline_env>();
    std::vector<sim_course> courses{env_->add_course("a.school.test", 60), env_->add_course("b.school.test", 25),
                                    env_->add_course("b.school.test", 40)};
    auto& first = env_->start_daemon();
    sync_all(courses);
    env_->wait_changes(125, 30s);
    ASSERT_EQ(env_->changes().size(), 125u);
    // Let a snapshot and checkpoint land for some partitions, then stop.
    first.process->signal(SIGTERM);
    ASSERT_EQ(first.process->wait_exit(60s), 0) << log_text();

    env_->start_daemon();
    const auto count = env_->record_count("lti.membership-changes");
    sync_all(courses);
    EXPECT_EQ(env_->record_count("lti.membership-changes"), count) << "nothing repeats after a restart";

    std::multiset<std::pair<std::string, std::string>> want;
    for (const auto& c : courses) {
        auto b = snapshot(c);
        env_->sim().call([&](lms_sim::sim_core& core) { core.state().w.churn(c.id, {.joins = 2, .drops = 1, .role_changes = 1}); });
        want.merge(expected_changes(c, b, snapshot(c)));
    }
    const auto mark = env_->changes().size();
    sync_all(courses);
    env_->wait_changes(mark + want.size(), 30s);
    EXPECT_EQ(got_changes(env_->changes(), mark), want);
    EXPECT_EQ(env_->fold(), truth(courses));

    // A clean stop writes a last snapshot: the memberships table then holds what the fold holds.
    auto& second = *env_->daemons().back();
    second.process->signal(SIGTERM);
    ASSERT_EQ(second.process->wait_exit(60s), 0) << log_text();
    std::map<std::string, std::set<std::string>> table;
    for (const auto& r : env_->read_topic("rostersync.memberships")) {
        if (r.value.empty()) {
            table.erase(r.key);
            continue;
        }
        std::set<std::string> roles;
        for (const auto& x : r.json.at("roles").as_array()) roles.emplace(x.as_string());
        table[r.key] = roles;
    }
    const auto folded = env_->fold();
    for (const auto& [k, v] : folded)
        if (!table.contains(k) || table.at(k) != v) ADD_FAILURE() << "table lacks or differs: " << k;
    for (const auto& [k, v] : table)
        if (!folded.contains(k)) ADD_FAILURE() << "table has a removed membership: " << k;
    EXPECT_FALSE(env_->read_topic("rostersync.checkpoints").empty());
}

TEST_F(Pipeline, TwoInstancesShareTheWorkAndTheSurvivorTakesOverWithoutSpuriousEvents)
{
    env_ = std::make_unique<pipeline_env>();
    std::vector<sim_course> courses;
    for (int i = 0; i < 8; ++i) courses.push_back(env_->add_course(i % 2 ? "a.school.test" : "b.school.test", 10 + i));
    auto& a = env_->start_daemon();
    auto& b = env_->start_daemon(0);
    // Cooperative rebalancing moves some partitions from a to b.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline &&
           !(env_->live_partitions(a) > 0 && env_->live_partitions(b) > 0 &&
             env_->live_partitions(a) + env_->live_partitions(b) == 4))
        std::this_thread::sleep_for(100ms);
    ASSERT_GT(env_->live_partitions(b), 0) << log_text();
    ASSERT_EQ(env_->live_partitions(a) + env_->live_partitions(b), 4) << log_text();

    sync_all(courses);
    auto expected = truth(courses);
    env_->wait_changes(expected.size(), 30s);
    ASSERT_EQ(env_->changes().size(), expected.size());

    // Stop a: b restores its partitions from the table and the change stream.
    a.process->signal(SIGTERM);
    ASSERT_EQ(a.process->wait_exit(60s), 0);
    ASSERT_TRUE(env_->wait_live(b, 4, 60s)) << log_text();
    const auto count = env_->record_count("lti.membership-changes");
    sync_all(courses);
    EXPECT_EQ(env_->record_count("lti.membership-changes"), count) << "no spurious events after the takeover";

    std::multiset<std::pair<std::string, std::string>> want;
    for (const auto& c : courses) {
        auto s = snapshot(c);
        env_->sim().call([&](lms_sim::sim_core& core) { core.state().w.churn(c.id, {.joins = 1, .drops = 1}); });
        want.merge(expected_changes(c, s, snapshot(c)));
    }
    const auto mark = env_->changes().size();
    sync_all(courses);
    env_->wait_changes(mark + want.size(), 30s);
    EXPECT_EQ(got_changes(env_->changes(), mark), want) << "later changes arrive once";
    EXPECT_EQ(env_->fold(), truth(courses));
}

TEST_F(Pipeline, KilledAtRandomWhileRostersChurnTheStreamStillFoldsToTheTruth)
{
    env_ = std::make_unique<pipeline_env>();
    std::vector<sim_course> courses;
    for (int i = 0; i < 6; ++i) courses.push_back(env_->add_course(i % 2 ? "a.school.test" : "b.school.test", 20 + 15 * i));
    std::mt19937 rng(std::random_device{}());
    for (int round = 0; round < 3; ++round) {
        auto& d = env_->start_daemon();
        for (const auto& c : courses) {
            env_->sim().call([&](lms_sim::sim_core& core) {
                core.state().w.churn(c.id, {.joins = 3, .drops = 2, .role_changes = 1, .profile_changes = 1});
            });
            env_->publish_seen(c);
        }
        // Somewhere in the middle of the passes.
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 1500)(rng)));
        d.process->signal(SIGKILL);
        d.process->wait_exit(10s);
    }
    env_->start_daemon();
    sync_all(courses, 90s);
    env_->wait_changes(env_->record_count("lti.membership-changes"), 30s);
    EXPECT_EQ(env_->fold(), truth(courses)) << log_text();
    // A repeat (same change published twice) carries the same id.
    std::map<std::string, std::string> by_id;
    std::map<std::string, std::string> id_of_change;
    int repeats = 0;
    for (const auto& r : env_->changes()) {
        const std::string id(r.json.at("id").as_string());
        auto after = r.json.at("after");
        const auto change = r.key + "\n" + r.type() + "\n" + std::to_string(r.json.at("roster_version").as_int64()) +
                            "\n" + json::serialize(after);
        auto [it, fresh] = id_of_change.emplace(change, id);
        if (!fresh) {
            ++repeats;
            EXPECT_EQ(it->second, id) << "a repeat with a different id";
        }
    }
    RecordProperty("repeats", repeats);
}

TEST_F(Pipeline, EmptyingALargeCourseHoldsRemovalsButNotAddsUntilReleased)
{
    env_ = std::make_unique<pipeline_env>();
    auto c = env_->add_course("a.school.test", 40);
    auto& d = env_->start_daemon();
    sync_all({c});
    env_->wait_changes(40, 30s);
    ASSERT_EQ(env_->changes().size(), 40u);

    env_->sim().call([&](lms_sim::sim_core& core) {
        core.state().w.empty(c.id);
        core.state().w.churn(c.id, {.joins = 3});
    });
    const auto mark = env_->changes().size();
    sync_all({c});
    env_->wait_changes(mark + 3, 30s);
    auto got = got_changes(env_->changes(), mark);
    ASSERT_EQ(got.size(), 3u) << log_text();
    for (const auto& [key, type] : got) EXPECT_EQ(type, "member.added");
    auto st = env_->context_state(c);
    ASSERT_TRUE(st);
    ASSERT_TRUE(st->if_contains("held")) << json::serialize(*st);
    EXPECT_EQ(st->at("held").to_number<int>(), 40) << json::serialize(*st);
    auto [ls, held] = env_->admin(d, "GET", "/admin/contexts?filter=held");
    ASSERT_EQ(ls, 200);
    EXPECT_EQ(held.at("total").to_number<int>(), 1);

    // Released: the next pass removes them, once.
    const auto since = pipeline_env::now_text();
    auto [rs, rel] = env_->admin(d, "POST", "/admin/release?context=" + http::percent_encode(c.context_key()));
    ASSERT_EQ(rs, 200) << json::serialize(rel);
    ASSERT_TRUE(env_->wait_pass_after(c, since, 60s));
    env_->wait_changes(mark + 3 + 40, 30s);
    EXPECT_EQ(env_->fold(), env_->truth(c));
    auto after = env_->context_state(c);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->if_contains("held"), nullptr) << "no hold left: " << json::serialize(*after);
}

TEST_F(Pipeline, LaunchesProvisionLearnersAtOnceAndNothingForAdministrators)
{
    env_ = std::make_unique<pipeline_env>();
    auto c = env_->add_course("a.school.test", 20);
    env_->start_daemon();
    sync_all({c});
    env_->wait_changes(20, 30s);

    // A learner who joined on the platform launches before any pass saw them.
    auto before = snapshot(c);
    env_->sim().call([&](lms_sim::sim_core& core) { core.state().w.churn(c.id, {.joins = 1}); });
    std::string newcomer;
    for (const auto& [uid, m] : snapshot(c))
        if (!before.contains(uid)) newcomer = uid;
    ASSERT_FALSE(newcomer.empty());
    const auto mark = env_->changes().size();
    const auto since = pipeline_env::now_text();
    env_->publish_seen(c, {{"launch_user", json::object{{"user_id", newcomer}, {"roles", json::array{learner}}}}});
    env_->wait_changes(mark + 1, 30s);
    ASSERT_GT(env_->changes().size(), mark);
    const auto& first = env_->changes()[mark];
    EXPECT_EQ(first.type(), "member.added");
    EXPECT_EQ(first.json.at("source").as_string(), "launch");
    EXPECT_EQ(first.user_id(), newcomer);
    // The pass that follows adopts the provisional member without a change.
    ASSERT_TRUE(env_->wait_pass_after(c, since, 60s));
    EXPECT_EQ(env_->record_count("lti.membership-changes"), static_cast<std::int64_t>(mark + 1));

    // Launch-only platform (nrps = false): a learner is provisioned, an administrator is not.
    sim_course other{.id = 0, .host = "", .context_id = "moodle-course-1", .url = ""};
    auto seen = [&](const std::string& user, const std::string& role) {
        json::object o{{"issuer", "https://moodle.test"},
                       {"client_id", "m-1"},
                       {"context", json::object{{"id", "moodle-course-1"}}},
                       {"launch_user", json::object{{"user_id", user}, {"roles", json::array{json::string(role)}}}}};
        env_->publish_raw("https://moodle.test|moodle-course-1", json::serialize(o));
    };
    seen("admin-1", "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator");
    seen("learner-1", learner);
    env_->wait_changes(mark + 2, 30s);
    ASSERT_EQ(env_->changes().size(), mark + 2);
    EXPECT_EQ(env_->changes().back().user_id(), "learner-1");
    EXPECT_EQ(env_->changes().back().json.at("source").as_string(), "launch");
}

TEST_F(Pipeline, BadCourseSeenEventsGoToTheDeadLetterTopicAndTheDaemonKeepsRunning)
{
    env_ = std::make_unique<pipeline_env>();
    auto c = env_->add_course("a.school.test", 5);
    auto& d = env_->start_daemon();
    env_->publish_raw("k1", "not json at all");
    env_->publish_raw("k2", std::string(70 * 1024, '{'));
    env_->publish_raw("k3", R"({"issuer": "https://canvas.instructure.com", "client_id": "10000000000001",
        "context": {"id": "x"}, "context_memberships_url": "https://evil.test/api/lti/courses/1/names_and_roles"})");
    env_->publish_raw("k4", R"({"issuer": "https://canvas.instructure.com", "client_id": "10000000000001",
        "context": {"id": "x"}, "context_memberships_url": "https://169.254.169.254/latest/meta-data"})");
    env_->publish_raw("k5", R"({"issuer": "https://unknown.example", "client_id": "1", "context": {"id": "x"},
        "context_memberships_url": "https://a.school.test/api/lti/courses/1/names_and_roles"})");
    env_->publish_raw("k6", R"({"issuer": 42, "client_id": "10000000000001", "context": {"id": "x"}})");
    env_->publish_raw("k7", R"({"issuer": "https://canvas.instructure.com", "client_id": "10000000000001"})");
    sync_all({c});  // a valid one after them still works
    env_->wait_changes(5, 30s);
    EXPECT_EQ(env_->changes().size(), 5u);

    auto dlq = env_->read_topic("lti.course-seen.dlq", false);
    ASSERT_EQ(dlq.size(), 7u) << log_text();
    std::map<std::string, std::string> reason_by_key;
    for (const auto& r : dlq) {
        EXPECT_FALSE(r.headers.at("rostersync.error").empty());
        reason_by_key[r.key] = r.headers.at("rostersync.reason");
    }
    EXPECT_EQ(reason_by_key["k1"], "not_json");
    EXPECT_EQ(reason_by_key["k2"], "too_large");
    EXPECT_EQ(reason_by_key["k5"], "unknown_platform");
    EXPECT_EQ(reason_by_key["k6"], "bad_field");
    EXPECT_EQ(reason_by_key["k7"], "missing_field");
    EXPECT_NE(reason_by_key["k3"], "");
    EXPECT_NE(reason_by_key["k4"], "");
    // The original bytes are kept.
    for (const auto& r : dlq) {
        if (r.key == "k1") {
            EXPECT_EQ(r.value, "not json at all");
        }
    }
    auto metrics = http_request(d.http_host, d.http_port, "GET", "/metrics").body;
    EXPECT_NE(metrics.find("rostersync_course_seen_total{result=\"dead_lettered\"} 7"), std::string::npos) << metrics;
    EXPECT_FALSE(d.process->wait_exit(0ms)) << "still running";
}

TEST_F(Pipeline, ExactlyOnceModeRunsItsTransactionsAgainstTheMock)
{
    // librdkafka 2.0's mock cluster accepts the transaction calls but does not enforce them, so
    // this checks that the mode works end to end, not that read_committed hides aborted records
    // (deploy/verify-real-kafka.sh does that against a real broker).
    env_ = std::make_unique<pipeline_env>(pipeline_env_options{.extra_kafka_toml = "exactly_once = true"});
    std::vector<sim_course> courses{env_->add_course("a.school.test", 30), env_->add_course("b.school.test", 45)};
    auto& d = env_->start_daemon();
    EXPECT_NE(d.process->log_text().find("exactly-once mode"), std::string::npos) << log_text();
    sync_all(courses);
    env_->wait_changes(75, 30s);
    EXPECT_EQ(env_->fold(), truth(courses));
    const auto count = env_->record_count("lti.membership-changes");
    sync_all(courses);
    EXPECT_EQ(env_->record_count("lti.membership-changes"), count);
    d.process->signal(SIGTERM);
    EXPECT_EQ(d.process->wait_exit(60s), 0) << log_text();
}

}  // namespace
}  // namespace rostersync::test
