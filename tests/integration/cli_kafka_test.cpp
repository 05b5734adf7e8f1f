// `rostersync seen` and `rostersync tail` as an operator runs them: the real binary against the
// mock Kafka cluster running as a process of its own (rostersync-kafka-mock), with records read
// back and produced by the daemon's own Kafka wrappers in the test process.
#include "kafka/consumer.hpp"
#include "kafka/partitioner.hpp"
#include "kafka/producer.hpp"
#include "roster/encode.hpp"
#include "support/daemon_process.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

namespace rostersync::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* issuer = "https://canvas.instructure.com";
constexpr const char* client_id = "10000000000001";
constexpr const char* learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";
constexpr const char* instructor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor";
constexpr const char* ta = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant";

constexpr int seen_partitions = 12;
constexpr int changes_partitions = 6;
constexpr int custom_partitions = 3;

struct consumed {
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    std::string key;
    std::string value;
    std::map<std::string, std::string> headers;
};

class CliKafka : public testing::Test {
protected:
    void SetUp() override
    {
#if defined(__SANITIZE_THREAD__)
        // librdkafka starts threads with C11 thrd_create, which g++ 12's TSan does not intercept
        // (see tests/CMakeLists.txt); the mock, the CLI and this process all run librdkafka.
        GTEST_SKIP() << "librdkafka does not run under g++ 12's ThreadSanitizer";
#endif
        mock_ = std::make_unique<daemon_process>(
            ROSTERSYNC_KAFKA_MOCK_PATH,
            std::vector<std::string>{"--topic", "lti.course-seen:" + std::to_string(seen_partitions), "--topic",
                                     "lti.membership-changes:" + std::to_string(changes_partitions), "--topic",
                                     "custom.seen:" + std::to_string(custom_partitions)});
        auto line = mock_->wait_for_log("bootstrap: ", 30s);
        ASSERT_TRUE(line) << mock_->log_text();
        bootstrap_ = line->substr(line->find("bootstrap: ") + 11);
        ASSERT_TRUE(mock_->wait_for_log("ready", 10s)) << mock_->log_text();
        config_ = write_config(bootstrap_);
    }

    void TearDown() override
    {
        if (mock_) {
            mock_->signal(SIGTERM);
            EXPECT_EQ(mock_->wait_exit(20s), 0) << mock_->log_text();
        }
    }

    /// The daemon's config: two platforms, one pulling rosters (school) and one launch-only.
    std::filesystem::path write_config(const std::string& brokers, const std::string& name = "rostersync.toml")
    {
        return dir_.write(name, "[kafka]\nbrokers = \"" + brokers + "\"\n"
                                "[[platforms]]\nname = \"school\"\nissuer = \"" + issuer + "\"\n"
                                "client_id = \"" + client_id + "\"\n"
                                "token_url = \"https://school.test/login/oauth2/token\"\n"
                                "private_key_file = \"tool-key.pem\"\nallowed_hosts = [\"school.test\"]\n"
                                "[[platforms]]\nname = \"moodle\"\nissuer = \"https://moodle.test\"\n"
                                "client_id = \"m-1\"\nnrps = false\n");
    }

    /// Runs the CLI to its end; the exit code (or -1 on a timeout) and its output.
    std::pair<int, std::string> run(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 60s)
    {
        daemon_process p(ROSTERSYNC_CLI_PATH, args);
        auto rc = p.wait_exit(timeout);
        return {rc.value_or(-1), p.log_text()};
    }

    /// Every partition of `topic` from the beginning, until `want` records arrived (bounded).
    std::vector<consumed> read_back(const std::string& topic, int partitions, std::size_t want)
    {
        auto c = kafka::consumer::create({.bootstrap = bootstrap_, .group_id = "cli-kafka-test"});
        EXPECT_TRUE(c) << c.error();
        if (!c) return {};
        std::vector<kafka::topic_partition> tps;
        for (int p = 0; p < partitions; ++p) tps.push_back({topic, p});
        EXPECT_FALSE((*c)->assign(tps, RD_KAFKA_OFFSET_BEGINNING));
        std::vector<consumed> out;
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
            auto m = (*c)->poll(200ms);
            if (!m || !*m) continue;
            const rd_kafka_message_t& msg = **m;
            consumed r{.partition = msg.partition, .offset = msg.offset};
            if (msg.key) r.key.assign(static_cast<const char*>(msg.key), msg.key_len);
            if (msg.payload) r.value.assign(static_cast<const char*>(msg.payload), msg.len);
            rd_kafka_headers_t* h = nullptr;
            if (rd_kafka_message_headers(&msg, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char* name = nullptr;
                const void* v = nullptr;
                size_t n = 0;
                for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
                    r.headers[name] = std::string(static_cast<const char*>(v), n);
            }
            out.push_back(std::move(r));
        }
        EXPECT_EQ(out.size(), want) << "records of " << topic << " within 30 s";
        (*c)->close();
        return out;
    }

    /// How many records `topic` holds: the sum of its high watermarks (exact, no waiting).
    std::int64_t record_count(const std::string& topic, int partitions)
    {
        auto c = kafka::consumer::create({.bootstrap = bootstrap_, .group_id = "cli-kafka-test"});
        EXPECT_TRUE(c) << c.error();
        if (!c) return -1;
        std::int64_t total = 0;
        for (int p = 0; p < partitions; ++p) {
            std::int64_t low = 0;
            std::int64_t high = 0;
            EXPECT_EQ(rd_kafka_query_watermark_offsets((*c)->native(), topic.c_str(), p, &low, &high, 10000),
                      RD_KAFKA_RESP_ERR_NO_ERROR);
            total += high - low;
        }
        (*c)->close();
        return total;
    }

    /// Produces records to explicit partitions and waits (bounded) until every one is acknowledged.
    void produce(const std::string& topic, const std::vector<kafka::record>& records)
    {
        std::mutex m;  // outlives the producer, whose destructor may still report
        std::condition_variable cv;
        std::size_t done = 0;
        std::vector<std::string> errors;
        auto p = kafka::producer::create({.bootstrap = bootstrap_});
        ASSERT_TRUE(p) << p.error();
        for (auto r : records) {
            r.topic = topic;
            ASSERT_FALSE((*p)->send(std::move(r), [&](const kafka::delivery& d) {
                std::lock_guard lock(m);
                if (d.ec) errors.push_back(d.ec.message());
                ++done;
                cv.notify_all();
            }));
        }
        (*p)->flush(20s);
        std::unique_lock lock(m);
        ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return done == records.size(); }));
        EXPECT_TRUE(errors.empty()) << errors.front();
    }

    temp_dir dir_;
    std::unique_ptr<daemon_process> mock_;
    std::string bootstrap_;
    std::filesystem::path config_;
};

std::int32_t context_partition(std::string_view iss, std::string_view context_id, int partitions)
{
    return kafka::partition_for(kafka::context_key(iss, context_id), partitions);
}

bool contains(const std::string& text, const std::string& needle)
{
    return text.find(needle) != std::string::npos;
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> out;
    std::string line;
    for (char c : text) {
        if (c == '\n') {
            out.push_back(line);
            line.clear();
        } else {
            line += c;
        }
    }
    if (!line.empty()) out.push_back(line);
    return out;
}

// ---- seen ----

TEST_F(CliKafka, SeenPublishesOneEventKeyedAndPartitionedByItsContext)
{
    const auto before = std::chrono::system_clock::now();
    auto [rc, out] = run({"seen", "--config", config_.string(), "--platform", "school", "--context-id", "ctx42",
                          "--memberships-url", "https://school.test/api/lti/courses/42/names_and_roles",
                          "--deployment-id", "1:8865aa05", "--label", "BIO101", "--title", "Biology", "--force",
                          "--user-id", "user-7", "--role", learner, "--role", instructor});
    ASSERT_EQ(rc, 0) << out;
    EXPECT_TRUE(contains(out, "published 1, failed 0")) << out;
    const std::string key = std::string(issuer) + "|ctx42";
    const auto partition = context_partition(issuer, "ctx42", seen_partitions);
    EXPECT_TRUE(contains(out, "lti.course-seen partition " + std::to_string(partition) + " offset 0: " + key)) << out;

    auto records = read_back("lti.course-seen", seen_partitions, 1);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].key, key);
    EXPECT_EQ(records[0].partition, partition);
    EXPECT_EQ(records[0].headers["content-type"], "application/json");
    auto v = json::parse(records[0].value).as_object();
    EXPECT_EQ(v["issuer"].as_string(), issuer);
    EXPECT_EQ(v["client_id"].as_string(), client_id);
    EXPECT_EQ(v["deployment_id"].as_string(), "1:8865aa05");
    auto& ctx = v["context"].as_object();
    EXPECT_EQ(ctx["id"].as_string(), "ctx42");
    EXPECT_EQ(ctx["label"].as_string(), "BIO101");
    EXPECT_EQ(ctx["title"].as_string(), "Biology");
    EXPECT_EQ(v["context_memberships_url"].as_string(), "https://school.test/api/lti/courses/42/names_and_roles");
    EXPECT_TRUE(v["force"].as_bool());
    auto& user = v["launch_user"].as_object();
    EXPECT_EQ(user["user_id"].as_string(), "user-7");
    ASSERT_EQ(user["roles"].as_array().size(), 2u);
    EXPECT_EQ(user["roles"].as_array()[0].as_string(), learner);
    EXPECT_EQ(user["roles"].as_array()[1].as_string(), instructor);
    // seen_at: RFC 3339 UTC, the time of publishing.
    const std::string seen_at(v["seen_at"].as_string());
    EXPECT_TRUE(std::regex_match(seen_at, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)"))) << seen_at;
    EXPECT_GE(seen_at, roster::rfc3339(before - 1s));
    EXPECT_LE(seen_at, roster::rfc3339(std::chrono::system_clock::now() + 1s));
}

TEST_F(CliKafka, SeenRefusesEmbeddedBrokersAndTakesBrokersAndTopicFromFlags)
{
    const auto embedded = write_config("embedded", "embedded.toml");
    auto [rc, out] = run({"seen", "--config", embedded.string(), "--platform", "moodle", "--context-id", "c-9"});
    EXPECT_EQ(rc, 64) << out;
    EXPECT_TRUE(contains(out, "\"embedded\"")) << out;
    EXPECT_TRUE(contains(out, "cannot be reached from another process")) << out;
    EXPECT_TRUE(contains(out, "--brokers")) << out;

    // --brokers overrides kafka.brokers, --topic the topic; a launch-only platform (nrps = false)
    // needs no memberships URL; issuer and client_id name the platform.
    std::tie(rc, out) = run({"seen", "--config", embedded.string(), "--brokers", bootstrap_, "--topic", "custom.seen",
                             "--issuer", "https://moodle.test", "--client-id", "m-1", "--context-id", "c-9"});
    ASSERT_EQ(rc, 0) << out;
    EXPECT_TRUE(contains(out, "published 1, failed 0")) << out;
    auto records = read_back("custom.seen", custom_partitions, 1);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].key, "https://moodle.test|c-9");
    EXPECT_EQ(records[0].partition, context_partition("https://moodle.test", "c-9", custom_partitions));
    auto v = json::parse(records[0].value).as_object();
    EXPECT_FALSE(v.contains("context_memberships_url"));
    EXPECT_FALSE(v.contains("launch_user"));
    EXPECT_FALSE(v["force"].as_bool());
    EXPECT_EQ(record_count("lti.course-seen", seen_partitions), 0);
}

TEST_F(CliKafka, SeenFromCsvPublishesTheGoodRowsAndReportsTheBadLines)
{
    const std::string url = "https://school.test/api/lti/courses/";
    auto csv = dir_.write(
        "backfill.csv",
        std::string("platform,issuer,client_id,context_id,memberships_url,label,title,force,user_id,roles\r\n") +
            "school,,,c-1," + url + "1/names_and_roles,BIO101,\"Biology, Part 1\",true,u1," + learner + " " + ta + "\r\n" +
            "school,,,," + url + "2/names_and_roles,,,,,\n" +                                     // 3: no context_id
            "," + issuer + "," + client_id + ",c-2," + url + "2/names_and_roles,,,no,,\n" +       // issuer + client_id
            "school,,,c-3,https://evil.test/api/lti/courses/3/names_and_roles,,,,,\n" +           // 5: host
            "\n" +                                                                                // 6: blank
            "school,,,\"c-4\"," + url + "4/names_and_roles,,\"Two\nlines\",,,\n" +                // 7-8
            "school,,,c-5," + url + "5/names_and_roles,,,maybe,,\n" +                             // 9: force
            "school,,,c-6," + url + "6/names_and_roles,,,,u6,Learner\n" +                         // 10: role
            "school,,,c-7\n");                                                                    // 11: fields
    auto [rc, out] = run({"seen", "--config", config_.string(), "--from-csv", csv.string()});
    EXPECT_EQ(rc, 1) << out;
    EXPECT_TRUE(contains(out, "line 3: context_id is required")) << out;
    EXPECT_TRUE(contains(out, "line 5: memberships_url: host is not in the platform's allowed_hosts")) << out;
    EXPECT_TRUE(contains(out, "line 9: force is \"maybe\"")) << out;
    EXPECT_TRUE(contains(out, "line 10: role \"Learner\" is not a course membership role")) << out;
    EXPECT_TRUE(contains(out, "line 11: 4 fields, the header has 10")) << out;
    for (const char* good : {"line 2:", "line 4:", "line 6:", "line 7:", "line 8:"})
        EXPECT_FALSE(contains(out, good)) << good << "\n" << out;
    EXPECT_TRUE(contains(out, "published 3, failed 5")) << out;

    auto records = read_back("lti.course-seen", seen_partitions, 3);
    ASSERT_EQ(records.size(), 3u);
    std::map<std::string, json::object> by_context;
    for (const auto& r : records) {
        auto v = json::parse(r.value).as_object();
        const std::string ctx(v["context"].as_object()["id"].as_string());
        EXPECT_EQ(r.key, std::string(issuer) + "|" + ctx);
        EXPECT_EQ(r.partition, context_partition(issuer, ctx, seen_partitions)) << ctx;
        by_context[ctx] = std::move(v);
    }
    ASSERT_EQ(by_context.size(), 3u);
    auto& c1 = by_context.at("c-1");
    EXPECT_EQ(c1["context"].as_object()["title"].as_string(), "Biology, Part 1");
    EXPECT_TRUE(c1["force"].as_bool());
    EXPECT_EQ(c1["launch_user"].as_object()["roles"].as_array().size(), 2u);
    EXPECT_EQ(c1["launch_user"].as_object()["roles"].as_array()[1].as_string(), ta);
    EXPECT_EQ(by_context.at("c-2")["client_id"].as_string(), client_id);
    EXPECT_FALSE(by_context.at("c-2")["force"].as_bool());
    EXPECT_EQ(by_context.at("c-4")["context"].as_object()["title"].as_string(), "Two\nlines");
    EXPECT_EQ(record_count("lti.course-seen", seen_partitions), 3);
}

TEST_F(CliKafka, SeenUsageErrorsExit64BeforePublishing)
{
    const std::string cfg = config_.string();
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"seen"}, "--config or --brokers is required"},
        {{"seen", "--brokers", bootstrap_, "--bogus", "x"}, "unknown argument \"--bogus\""},
        {{"seen", "--brokers", bootstrap_, "--issuer", issuer, "--client-id", "1"}, "--context-id is required"},
        {{"seen", "--brokers", bootstrap_, "--context-id", "c"}, "--issuer (or --platform) is required"},
        {{"seen", "--brokers", bootstrap_, "--platform", "school", "--context-id", "c"}, "--platform needs --config"},
        {{"seen", "--config", cfg, "--platform", "nope", "--context-id", "c"}, "no platform named \"nope\""},
        {{"seen", "--config", cfg, "--platform", "school", "--context-id", "c"}, "--memberships-url is required"},
        {{"seen", "--config", cfg, "--issuer", "https://other.test", "--client-id", "1", "--context-id", "c"},
         "unknown_platform"},
        {{"seen", "--config", cfg, "--platform", "moodle", "--context-id", "c", "--role", learner},
         "--role needs --user-id"},
        {{"seen", "--config", cfg, "--platform", "moodle", "--context-id", "c", "--user-id", "u"},
         "--user-id needs at least one --role"},
        {{"seen", "--config", cfg, "--platform", "moodle", "--context-id", "c", "--force=yes"}, "--force takes no value"},
        {{"seen", "--config", cfg, "--platform", "moodle", "--context-id", "c", "--label", "a", "--label", "b"},
         "--label is given twice"},
        {{"seen", "--config", cfg, "--from-csv", "x.csv", "--context-id", "c"}, "drop --context-id"},
        {{"tail"}, "--config or --brokers is required"},
        {{"tail", "--brokers", bootstrap_, "--count", "0"}, "--count needs a positive whole number"},
        {{"tail", "--brokers", bootstrap_, "--count", "3x"}, "--count needs a positive whole number"},
        {{"tail", "--brokers", bootstrap_, "--timeout", "10"}, "--timeout needs a duration"},
        {{"tail", "--brokers", bootstrap_, "--json", "--verbose"}, "--json prints whole records"},
        {{"tail", "--brokers", bootstrap_, "--from-beginning", "yes"}, "unknown argument \"yes\""},
        {{"frobnicate"}, "unknown command"},
    };
    for (const auto& [args, message] : cases) {
        auto [rc, out] = run(args);
        EXPECT_EQ(rc, 64) << args[0] << " " << message << "\n" << out;
        EXPECT_TRUE(contains(out, message)) << message << "\n" << out;
    }
    auto header = dir_.write("bad-header.csv", "platform,context_id,colour\nschool,c,blue\n");
    auto [rc, out] = run({"seen", "--config", cfg, "--from-csv", header.string()});
    EXPECT_EQ(rc, 64) << out;
    EXPECT_TRUE(contains(out, "unknown column \"colour\"")) << out;
    std::tie(rc, out) = run({"seen", "--config", (dir_.path() / "missing.toml").string(), "--platform", "school"});
    EXPECT_EQ(rc, 78) << out;
    std::tie(rc, out) = run({"tail", "--brokers", bootstrap_, "--topic", "no.such.topic"});
    EXPECT_EQ(rc, 1) << out;
    EXPECT_TRUE(contains(out, "topic no.such.topic does not exist")) << out;
    // The help text lists both commands.
    std::tie(rc, out) = run({"help"});
    EXPECT_EQ(rc, 0);
    EXPECT_TRUE(contains(out, "  seen KAFKA")) << out;
    EXPECT_TRUE(contains(out, "  tail KAFKA")) << out;
    EXPECT_EQ(record_count("lti.course-seen", seen_partitions), 0);
}

// ---- tail ----

nrps::member member(const std::string& user_id, std::vector<std::string> roles, std::string status = "Active")
{
    nrps::member m;
    m.user_id = user_id;
    m.roles = std::move(roles);
    m.status = std::move(status);
    m.name = "Ada Lovelace " + user_id;
    m.email = user_id + "@school.example";
    return m;
}

/// 2026-11-27T10:00:03.123Z plus `ms`.
roster::time_point at(int ms)
{
    using namespace std::chrono;
    return sys_days{year{2026} / November / 27} + 10h + 3s + 123ms + milliseconds(ms);
}

kafka::record change_record(const roster::change& c, std::uint32_t version, int ms, const std::string& ctx = "ctx42")
{
    roster::event_context ec{.issuer = issuer, .client_id = client_id, .context_id = ctx, .roster_version = version,
                             .time = at(ms)};
    return {.partition = context_partition(issuer, ctx, changes_partitions),
            .key = roster::membership_key(issuer, ctx, c.user_id),
            .value = roster::encode_change(c, ec),
            .headers = roster::cloudevents_headers(c, ec)};
}

/// Four changes of one context (one partition, so in order) with a malformed record among them.
std::vector<kafka::record> four_changes()
{
    using roster::change_type;
    auto u7 = member("user-7", {learner, instructor});
    auto u7_ta = member("user-7", {learner, ta});
    auto u7_mail = u7_ta;
    u7_mail.email = "ada@elsewhere.example";
    auto u8 = member("user-8", {learner}, "Inactive");
    std::vector<kafka::record> out;
    out.push_back(change_record({change_type::added, "user-7", std::nullopt, u7}, 3, 0));
    out.push_back(change_record({change_type::roles_changed, "user-7", u7, u7_ta}, 4, 1000));
    kafka::record junk{.partition = context_partition(issuer, "ctx42", changes_partitions),
                       .key = "junk", .value = "{not json"};
    out.push_back(junk);
    out.push_back(change_record({change_type::removed, "user-8", u8, std::nullopt}, 4, 1001));
    out.push_back(change_record({change_type::profile_changed, "user-7", u7_ta, u7_mail}, 5, 2000));
    return out;
}

TEST_F(CliKafka, TailPrintsChangesReadablyWithoutPersonalData)
{
    produce("lti.membership-changes", four_changes());
    auto [rc, out] = run({"tail", "--config", config_.string(), "--from-beginning", "--count", "4"});
    ASSERT_EQ(rc, 0) << out;
    std::vector<std::string> events;
    for (const auto& l : lines_of(out))
        if (l.starts_with("2026-")) events.push_back(l);
    const std::string key = std::string(issuer) + "|ctx42|";
    ASSERT_EQ(events.size(), 4u) << out;
    EXPECT_EQ(events[0], "2026-11-27T10:00:03.123Z member.added           " + key +
                             "user-7  roles=Learner,Instructor status=Active v3 (nrps)");
    EXPECT_EQ(events[1], "2026-11-27T10:00:04.123Z member.roles_changed   " + key +
                             "user-7  roles=Learner,Instructor->Learner,TeachingAssistant status=Active v4 (nrps)");
    EXPECT_EQ(events[2], "2026-11-27T10:00:04.124Z member.removed         " + key +
                             "user-8  roles=Learner status=Inactive v4 (nrps)");
    EXPECT_EQ(events[3], "2026-11-27T10:00:05.123Z member.profile_changed " + key +
                             "user-7  roles=Learner,TeachingAssistant status=Active changed=email v5 (nrps)");
    // The malformed record is reported with where it is, and skipped.
    const auto partition = std::to_string(context_partition(issuer, "ctx42", changes_partitions));
    EXPECT_TRUE(contains(out, "warning: lti.membership-changes[" + partition + "]@2: not JSON")) << out;
    // Personal data only with --verbose.
    EXPECT_FALSE(contains(out, "@school.example")) << out;
    EXPECT_FALSE(contains(out, "@elsewhere.example")) << out;
    EXPECT_FALSE(contains(out, "Lovelace")) << out;
}

TEST_F(CliKafka, TailVerboseShowsPersonalDataAndJsonPrintsTheRecords)
{
    auto records = four_changes();
    produce("lti.membership-changes", records);
    auto [rc, out] = run({"tail", "--brokers", bootstrap_, "--from-beginning", "--count", "4", "--verbose"});
    ASSERT_EQ(rc, 0) << out;
    EXPECT_TRUE(contains(out, "user-7  roles=Learner,Instructor status=Active v3 (nrps) name=\"Ada Lovelace user-7\" "
                              "email=\"user-7@school.example\"")) << out;
    EXPECT_TRUE(contains(out, "changed=email v5 (nrps) name=\"Ada Lovelace user-7\" "
                              "email=\"user-7@school.example\"->\"ada@elsewhere.example\"")) << out;

    std::tie(rc, out) = run({"tail", "--brokers", bootstrap_, "--from-beginning", "--count", "4", "--json"});
    ASSERT_EQ(rc, 0) << out;
    std::vector<json::value> printed;
    for (const auto& l : lines_of(out))
        if (l.starts_with("{")) printed.push_back(json::parse(l));
    ASSERT_EQ(printed.size(), 4u) << out;
    std::size_t i = 0;
    for (const auto& r : records) {
        if (r.key == "junk") continue;
        EXPECT_EQ(printed[i++], json::parse(r.value));
    }
}

TEST_F(CliKafka, TailWithoutFromBeginningPrintsOnlyNewEvents)
{
    auto old = member("user-old", {learner});
    produce("lti.membership-changes", {change_record({roster::change_type::added, "user-old", std::nullopt, old}, 1, 0)});
    daemon_process tail(ROSTERSYNC_CLI_PATH, {"tail", "--brokers", bootstrap_, "--count", "1", "--timeout", "60s"});
    // The end offsets are resolved before this line: whatever is published after it is printed.
    ASSERT_TRUE(tail.wait_for_log("from the end: new events only", 30s)) << tail.log_text();
    auto fresh = member("user-new", {learner});
    produce("lti.membership-changes",
            {change_record({roster::change_type::added, "user-new", std::nullopt, fresh}, 2, 5000, "ctx-other")});
    ASSERT_EQ(tail.wait_exit(60s), 0) << tail.log_text();
    EXPECT_TRUE(contains(tail.log_text(), "|ctx-other|user-new  roles=Learner status=Active v2 (nrps)")) << tail.log_text();
    EXPECT_FALSE(contains(tail.log_text(), "user-old")) << tail.log_text();
}

TEST_F(CliKafka, TailTimeoutStopsWhenIdle)
{
    // Nothing at all: idle for the timeout, exit 0.
    auto [rc, out] = run({"tail", "--brokers", bootstrap_, "--from-beginning", "--timeout", "300ms"});
    EXPECT_EQ(rc, 0) << out;
    EXPECT_TRUE(contains(out, "nothing for 300ms; 0 events")) << out;
    // One event where two were asked for: the count was not reached, exit 1.
    produce("lti.membership-changes",
            {change_record({roster::change_type::added, "user-1", std::nullopt, member("user-1", {learner})}, 1, 0)});
    std::tie(rc, out) = run({"tail", "--brokers", bootstrap_, "--from-beginning", "--count", "2", "--timeout", "2s"});
    EXPECT_EQ(rc, 1) << out;
    EXPECT_TRUE(contains(out, "|ctx42|user-1  roles=Learner")) << out;
    EXPECT_TRUE(contains(out, "nothing for 2s after 1 of 2 events")) << out;
}

TEST_F(CliKafka, TailStopsCleanlyOnSigterm)
{
    daemon_process tail(ROSTERSYNC_CLI_PATH, {"tail", "--brokers", bootstrap_});
    ASSERT_TRUE(tail.wait_for_log("new events only", 30s)) << tail.log_text();
    tail.signal(SIGTERM);
    EXPECT_EQ(tail.wait_exit(30s), 0) << tail.log_text();
    EXPECT_TRUE(contains(tail.log_text(), "stopped; 0 events")) << tail.log_text();
}

}  // namespace
}  // namespace rostersync::test
