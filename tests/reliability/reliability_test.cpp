// Trying hard to break it: the daemon killed at random instants while rosters churn, a zombie
// owner, and a platform that fails in every way Canvas can — then the change stream, folded per
// membership, must equal the platform's truth, with no false removal on the way.
//
// ROSTERSYNC_CRASH_TRIALS sets the number of SIGKILL trials (default 30; the `soak` label runs more).
#include "support/http_client.hpp"
#include "support/pipeline_env.hpp"

#include "http/url.hpp"
#include "lms_sim/world.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

namespace rostersync::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

int crash_trials()
{
    if (const char* v = std::getenv("ROSTERSYNC_CRASH_TRIALS")) return std::max(1, std::atoi(v));
    return 30;
}

class Reliability : public testing::Test {
protected:
    void SetUp() override
    {
#if defined(__SANITIZE_THREAD__)
        GTEST_SKIP() << "librdkafka does not run under g++ 12's ThreadSanitizer";
#endif
    }

    std::unique_ptr<pipeline_env> env_;

    std::map<std::string, std::set<std::string>> truth(const std::vector<sim_course>& courses)
    {
        return env_->truth(courses);
    }

    void sync_all(const std::vector<sim_course>& courses, std::chrono::milliseconds timeout = 90s)
    {
        const auto problem = env_->sync_all(courses, timeout);
        ASSERT_TRUE(problem.empty()) << problem;
    }

    /// Waits until a pass that started at or after `since` ended (whatever its outcome).
    std::optional<json::object> wait_pass_end(const sim_course& c, const std::string& since,
                                              std::chrono::milliseconds timeout = 90s)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (auto st = env_->context_state(c)) {
                auto start = st->if_contains("last_pass_start");
                const bool after = start && std::string(start->as_string()) >= since;
                if (after && !st->at("running").as_bool() && st->if_contains("last_outcome")) return st;
            }
            std::this_thread::sleep_for(100ms);
        }
        return std::nullopt;
    }

    std::string log_text() { return env_->log_text(); }

    /// The broker-fault runs: three brokers, a producer message timeout of 5 s, six courses on
    /// two hosts, one daemon, every course synced once.
    struct broker_fault_run {
        std::vector<sim_course> courses;
        daemon_instance* daemon = nullptr;
    };
    broker_fault_run start_broker_fault_run()
    {
        env_ = std::make_unique<pipeline_env>(pipeline_env_options{
            .brokers = 3, .extra_properties_toml = "\"message.timeout.ms\" = \"5000\""});
        broker_fault_run run;
        for (int i = 0; i < 6; ++i)
            run.courses.push_back(env_->add_course(i % 2 ? "a.school.test" : "b.school.test", 20 + 10 * i));
        run.daemon = &env_->start_daemon();
        sync_all(run.courses);
        return run;
    }

    /// Two joins, a drop and a role change in every course.
    void churn_all(const std::vector<sim_course>& courses)
    {
        for (const auto& c : courses)
            env_->sim().call([&](lms_sim::sim_core& core) { core.state().w.churn(c.id, {.joins = 2, .drops = 1, .role_changes = 1}); });
    }

    /// Checks every repeated change carries one id; returns the number of repeats.
    int check_repeats()
    {
        std::map<std::string, std::string> id_of_change;
        int repeats = 0;
        for (const auto& r : env_->changes()) {
            const std::string id(r.json.at("id").as_string());
            const auto change = r.key + "\n" + r.type() + "\n" + std::to_string(r.json.at("roster_version").as_int64()) +
                                "\n" + json::serialize(r.json.at("after"));
            auto [it, fresh] = id_of_change.emplace(change, id);
            if (!fresh) {
                ++repeats;
                EXPECT_EQ(it->second, id) << "a repeat with a different id: " << change;
            }
        }
        return repeats;
    }

    /// The memberships table (after a clean stop wrote its last snapshot).
    std::map<std::string, std::set<std::string>> table()
    {
        std::map<std::string, std::set<std::string>> out;
        for (const auto& r : env_->read_topic("rostersync.memberships")) {
            if (r.value.empty()) {
                out.erase(r.key);
                continue;
            }
            std::set<std::string> roles;
            for (const auto& x : r.json.at("roles").as_array()) roles.emplace(x.as_string());
            out[r.key] = roles;
        }
        return out;
    }
};

TEST_F(Reliability, SigkillAtRandomInstantsWhileRostersChurnLosesNothing)
{
    env_ = std::make_unique<pipeline_env>(
        pipeline_env_options{.extra_sync_toml = "snapshot_interval = \"300ms\"", .session_timeout_ms = 3000});
    std::vector<sim_course> courses;
    for (int i = 0; i < 6; ++i) courses.push_back(env_->add_course(i % 2 ? "a.school.test" : "b.school.test", 15 + 25 * i));
    std::mt19937 rng(std::random_device{}());
    const int trials = crash_trials();
    for (int trial = 0; trial < trials; ++trial) {
        // Every third trial may die before its partitions are even restored.
        auto& d = env_->start_daemon(trial % 3 == 0 ? 0 : -1);
        // Rosters change and launches arrive; the daemon dies somewhere in the middle.
        for (const auto& c : courses) {
            if (rng() % 2) continue;
            env_->sim().call([&](lms_sim::sim_core& core) {
                core.state().w.churn(c.id, {.joins = static_cast<int>(rng() % 4), .drops = static_cast<int>(rng() % 3),
                                            .role_changes = static_cast<int>(rng() % 2),
                                            .profile_changes = static_cast<int>(rng() % 2)});
            });
            env_->publish_seen(c, {{"force", true}});
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 2500)(rng)));
        d.process->signal(SIGKILL);
        ASSERT_TRUE(d.process->wait_exit(10s));
        d.process.reset();
    }
    auto& last = env_->start_daemon();
    sync_all(courses);
    env_->wait_changes(env_->record_count("lti.membership-changes"), 30s);
    EXPECT_EQ(env_->fold(), truth(courses)) << log_text();
    const int repeats = check_repeats();
    last.process->signal(SIGTERM);
    ASSERT_EQ(last.process->wait_exit(60s), 0);
    EXPECT_EQ(table(), env_->fold()) << "the memberships table equals the folded stream";
    std::cout << "crash trials: " << trials << ", changes: " << env_->changes().size() << ", repeats: " << repeats
              << std::endl;
    RecordProperty("trials", trials);
    RecordProperty("repeats", repeats);
}

TEST_F(Reliability, AZombieOwnerIsFoldedInAndRepairedByTheNextPass)
{
    env_ = std::make_unique<pipeline_env>();
    std::vector<sim_course> courses;
    for (int i = 0; i < 6; ++i) courses.push_back(env_->add_course(i % 2 ? "a.school.test" : "b.school.test", 20 + 5 * i));
    auto& a = env_->start_daemon();
    sync_all(courses);
    auto& b = env_->start_daemon(0);
    ASSERT_TRUE(env_->wait_live(b, 0, 5s) || true);

    // a freezes past its session timeout (6 s): b takes every partition over.
    a.process->signal(SIGSTOP);
    ASSERT_TRUE(env_->wait_live(b, 4, 90s)) << log_text();
    for (const auto& c : courses) {
        env_->sim().call([&](lms_sim::sim_core& core) { core.state().w.churn(c.id, {.joins = 2, .drops = 1, .role_changes = 1}); });
    }
    // a wakes up: whatever it still had in flight is written late; b folds it and the next pass
    // repairs anything it got wrong.
    a.process->signal(SIGCONT);
    sync_all(courses);
    for (const auto& c : courses) env_->publish_seen(c, {{"force", true}});
    sync_all(courses);
    env_->wait_changes(env_->record_count("lti.membership-changes"), 30s);
    EXPECT_EQ(env_->fold(), truth(courses)) << log_text();
    check_repeats();
}

TEST_F(Reliability, PlatformFaultsNeverCauseFalseRemovalsAndTheRosterConvergesAfterRecovery)
{
    env_ = std::make_unique<pipeline_env>(pipeline_env_options{.throttle = {.enabled = true, .retry_after = 1}});
    std::vector<sim_course> courses{env_->add_course("a.school.test", 120), env_->add_course("b.school.test", 80),
                                    env_->add_course("a.school.test", 60)};
    auto& d = env_->start_daemon();
    sync_all(courses);
    env_->wait_changes(260, 30s);
    ASSERT_EQ(env_->fold(), truth(courses));
    using kind = lms_sim::fault::kind;
    auto fault = [&](lms_sim::fault f) { env_->sim().call([&](lms_sim::sim_core& c) { c.state().faults.push_back(f); }); };
    auto clear = [&] { env_->sim().call([&](lms_sim::sim_core& c) { c.state().faults.clear(); }); };
    auto removals_since = [&](std::size_t mark) {
        int n = 0;
        for (std::size_t i = mark; i < env_->changes().size(); ++i) n += env_->changes()[i].type() == "member.removed";
        return n;
    };
    const auto& a = courses[0];

    // Passes that fail part-way (5xx storm, resets, truncated and malformed pages, a looping
    // next) publish nothing — above all no removal of the members on pages never seen.
    for (auto k : {kind::status, kind::reset, kind::truncate, kind::malformed, kind::loop_next}) {
        fault({.what = k, .context = a.id, .page = 2, .status = 503, .times = -1});
        const auto mark = env_->changes().size();
        const auto since = pipeline_env::now_text();
        env_->publish_seen(a, {{"force", true}});
        auto st = wait_pass_end(a, since);
        ASSERT_TRUE(st) << static_cast<int>(k) << "\n" << log_text();
        EXPECT_EQ(st->at("last_outcome").as_string(), "failed") << json::serialize(*st);
        env_->wait_changes(mark, 1s);
        EXPECT_EQ(env_->changes().size(), mark) << "a failed pass publishes nothing (fault " << static_cast<int>(k) << ")";
        clear();
        // Recovery: the next pass (an operator's resync here; the retry backoff otherwise) succeeds.
        const auto again = pipeline_env::now_text();
        auto [rs, body] = env_->admin(d, "POST", "/admin/contexts/" + http::percent_encode(a.context_key()) + "/resync");
        ASSERT_EQ(rs, 202) << json::serialize(body);
        ASSERT_TRUE(env_->wait_pass_after(a, again, 90s)) << log_text();
        EXPECT_EQ(removals_since(mark), 0);
    }

    // A token that expires mid-pass and a throttling storm: the pass completes anyway.
    env_->sim().call([&](lms_sim::sim_core& c) { c.state().w.churn(a.id, {.joins = 2, .drops = 1}); });
    fault({.what = kind::expire_token, .context = a.id, .page = 2, .times = 1});
    fault({.what = kind::throttle, .context = a.id, .times = 4});
    sync_all({a});
    env_->wait_changes(env_->record_count("lti.membership-changes"), 30s);
    EXPECT_EQ(env_->fold(), truth(courses)) << log_text();

    // A course deleted on the platform (404) is parked with its reason; its members are not removed.
    const auto& gone = courses[1];
    env_->sim().call([&](lms_sim::sim_core& c) { c.state().w.remove_context(gone.id); });
    auto mark = env_->changes().size();
    auto since = pipeline_env::now_text();
    env_->publish_seen(gone, {{"force", true}});
    auto st = wait_pass_end(gone, since);
    ASSERT_TRUE(st) << log_text();
    EXPECT_EQ(st->at("last_outcome").as_string(), "parked");
    EXPECT_TRUE(st->at("parked").as_bool());
    EXPECT_NE(std::string(st->at("parked_reason").as_string()).find("404"), std::string::npos) << json::serialize(*st);
    EXPECT_EQ(removals_since(mark), 0);

    // The tool uninstalled from a course: a configuration error, parked, no retry storm, no removal.
    const auto& c3 = courses[2];
    env_->sim().call([&](lms_sim::sim_core& c) {
        c.state().clients.at(sim_client_id).not_installed.insert(c3.id);
    });
    mark = env_->changes().size();
    since = pipeline_env::now_text();
    env_->publish_seen(c3, {{"force", true}});
    st = wait_pass_end(c3, since);
    ASSERT_TRUE(st) << log_text();
    EXPECT_EQ(st->at("last_outcome").as_string(), "parked") << json::serialize(*st);
    EXPECT_NE(std::string(st->at("parked_reason").as_string()).find("configuration"), std::string::npos);
    EXPECT_EQ(removals_since(mark), 0);
    // Reinstalled: a new launch unparks it and the roster converges.
    env_->sim().call([&](lms_sim::sim_core& c) {
        c.state().clients.at(sim_client_id).not_installed.erase(c3.id);
        c.state().w.churn(c3.id, {.joins = 1});
    });
    sync_all({c3});
    env_->wait_changes(env_->record_count("lti.membership-changes"), 30s);
    auto want = truth({courses[0], courses[2]});
    auto folded = env_->fold();
    for (auto it = folded.begin(); it != folded.end();) {
        if (it->first.find(gone.context_id) != std::string::npos) it = folded.erase(it);
        else ++it;
    }
    EXPECT_EQ(folded, want);
}

TEST_F(Reliability, BrokerFaultsAreRecoveredFromWithNothingLostOrReordered)
{
    auto run = start_broker_fault_run();
    const auto& courses = run.courses;
    auto& d = *run.daemon;
    auto churn = [&] { churn_all(courses); };

    // One broker down and back while passes run; leaders move; requests fail on the produce,
    // fetch and commit paths (retriable errors: NOT_ENOUGH_REPLICAS, NOT_LEADER_OR_FOLLOWER,
    // NOT_COORDINATOR).
    churn();
    for (const auto& c : courses) env_->publish_seen(c, {{"force", true}});
    env_->mock_command("down 2");
    env_->mock_command("errors 0 5 19");
    env_->mock_command("errors 1 3 6");
    env_->mock_command("errors 8 3 16");
    env_->mock_command("leader lti.membership-changes 0 3");
    env_->mock_command("leader rostersync.sync-requests 1 1");
    std::this_thread::sleep_for(2s);  // the outage's length, not a synchronisation
    env_->mock_command("up 2");
    sync_all(courses);
    env_->wait_changes(env_->record_count("lti.membership-changes"), 30s);
    EXPECT_EQ(env_->fold(), truth(courses)) << log_text();

    // Changes to one membership are never out of order: roster versions only grow per key.
    std::map<std::string, std::int64_t> version;
    for (const auto& r : env_->changes()) {
        const auto v = r.json.at("roster_version").as_int64();
        auto [it, fresh] = version.emplace(r.key, v);
        if (!fresh) {
            EXPECT_GE(v, it->second) << r.key;
            it->second = v;
        }
    }
    EXPECT_FALSE(d.process->wait_exit(0ms)) << "still running";
}


// With every broker down past the session timeout the group revokes and re-assigns every
// partition. Replacing the state consumer's assignment then hit librdkafka 2.0.2's assignment race
// (an abort: "rd_kafka_assignment_partition_stopped: Assertion `rktp->rktp_started' failed",
// confluentinc/librdkafka#5573); the pipeline now grows that assignment incrementally and pauses
// and seeks instead of unassigning (pipeline.cpp, start_folding/stop_folding).
TEST_F(Reliability, EveryBrokerDownPastTheMessageTimeoutIsSurvived)
{
    auto run = start_broker_fault_run();
    const auto& courses = run.courses;
    auto& d = *run.daemon;
    auto churn = [&] { churn_all(courses); };
    // Every broker down for longer than the producer's message timeout (5 s): not ready while it
    // lasts, ready again after, and nothing lost.
    churn();
    for (const auto& c : courses) env_->publish_seen(c, {{"force", true}});
    for (int b = 1; b <= 3; ++b) env_->mock_command("down " + std::to_string(b));
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (env_->ready(d).first == 200 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100ms);
    auto [down_status, down_body] = env_->ready(d);
    EXPECT_EQ(down_status, 503);
    EXPECT_NE(down_body.find("Kafka"), std::string::npos) << down_body;
    // The outage lasts beyond message.timeout.ms, so deliveries time out (a fault's length, not
    // a wait for something): keep reading the daemon's log meanwhile.
    for (const auto outage_end = std::chrono::steady_clock::now() + 7s; std::chrono::steady_clock::now() < outage_end;) {
        env_->pump_logs();
        std::this_thread::sleep_for(100ms);
    }
    for (int b = 1; b <= 3; ++b) env_->mock_command("up " + std::to_string(b));
    const auto back = std::chrono::steady_clock::now() + 60s;
    while (env_->ready(d).first != 200 && std::chrono::steady_clock::now() < back) std::this_thread::sleep_for(100ms);
    EXPECT_EQ(env_->ready(d).first, 200) << log_text();
    sync_all(courses);
    env_->wait_changes(env_->record_count("lti.membership-changes"), 30s);
    EXPECT_EQ(env_->fold(), truth(courses)) << log_text();
    check_repeats();

}

/// Resident memory (kB) and open descriptors of a process.
std::pair<long, long> resources(pid_t pid)
{
    long rss = 0;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.starts_with("VmRSS:")) rss = std::atol(line.c_str() + 6);
    long fds = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++fds;
    return {rss, fds};
}

TEST_F(Reliability, SoakMemoryAndDescriptorsStayFlat)
{
    const char* seconds = std::getenv("ROSTERSYNC_SOAK_SECONDS");
    if (seconds == nullptr) GTEST_SKIP() << "a soak test: set ROSTERSYNC_SOAK_SECONDS (ctest -L soak)";
    const auto length = std::chrono::seconds(std::max(60, std::atoi(seconds)));
    env_ = std::make_unique<pipeline_env>();
    std::vector<sim_course> courses;
    for (int i = 0; i < 10; ++i) courses.push_back(env_->add_course(i % 2 ? "a.school.test" : "b.school.test", 30 + 20 * i));
    auto& d = env_->start_daemon();
    std::mt19937 rng(42);
    std::vector<std::pair<long, long>> samples;
    const auto end = std::chrono::steady_clock::now() + length;
    auto next_sample = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < end) {
        const auto& c = courses[rng() % courses.size()];
        env_->sim().call([&](lms_sim::sim_core& core) {
            core.state().w.churn(c.id, {.joins = 2, .drops = 2, .role_changes = 1, .profile_changes = 1});
        });
        env_->publish_seen(c, {{"force", true}});
        env_->wait_changes(env_->record_count("lti.membership-changes"), 2s);  // also reads the daemon's log
        if (std::chrono::steady_clock::now() >= next_sample) {
            samples.push_back(resources(d.process->pid()));
            next_sample += length / 30;
        }
    }
    ASSERT_GE(samples.size(), 9u);
    auto avg = [&](std::size_t from, std::size_t to) {
        double rss = 0, fds = 0;
        for (auto i = from; i < to; ++i) {
            rss += static_cast<double>(samples[i].first);
            fds += static_cast<double>(samples[i].second);
        }
        return std::pair{rss / static_cast<double>(to - from), fds / static_cast<double>(to - from)};
    };
    const auto third = samples.size() / 3;
    auto [rss_early, fds_early] = avg(third, 2 * third);   // after warm-up
    auto [rss_late, fds_late] = avg(2 * third, samples.size());
    std::cout << "soak: " << samples.size() << " samples; RSS " << rss_early << " kB -> " << rss_late << " kB; fds "
              << fds_early << " -> " << fds_late << std::endl;
    EXPECT_LT(rss_late, rss_early * 1.15) << "memory keeps growing";
    EXPECT_LE(fds_late, fds_early + 5) << "descriptors leak";
    sync_all(courses);
    env_->wait_changes(env_->record_count("lti.membership-changes"), 30s);
    EXPECT_EQ(env_->fold(), truth(courses));
}

}  // namespace
}  // namespace rostersync::test
