// The embedded cluster speaks the real Kafka protocol: produce to the partition the daemon
// computes, with headers, and read it back; the standalone binary prints a usable bootstrap.
#include "kafka/embedded.hpp"
#include "kafka/handles.hpp"
#include "kafka/partitioner.hpp"
#include "kafka/producer.hpp"
#include "kafka/consumer.hpp"
#include "kafka/admin.hpp"

#include <librdkafka/rdkafka_mock.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include "support/daemon_process.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cstring>
#include <map>

namespace rostersync::kafka {
namespace {

using namespace std::chrono_literals;

handle_ptr client(rd_kafka_type_t type, const std::string& bootstrap, std::map<std::string, std::string> extra = {})
{
    char err[512];
    conf_ptr conf(rd_kafka_conf_new());
    extra["bootstrap.servers"] = bootstrap;
    for (const auto& [k, v] : extra) {
        EXPECT_EQ(rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err), RD_KAFKA_CONF_OK) << err;
    }
    rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
    EXPECT_NE(rk, nullptr) << err;
    if (rk != nullptr) conf.release();
    return handle_ptr(rk);
}

/// Produces one record and waits (bounded) for its delivery report.
rd_kafka_resp_err_t produce(const std::string& bootstrap, const std::string& topic, const std::string& key,
                            const std::string& value, std::int32_t partition)
{
    auto p = client(RD_KAFKA_PRODUCER, bootstrap, {{"enable.idempotence", "true"}, {"acks", "all"}});
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(2);
    rd_kafka_header_add(hdrs, "ce_type", -1, "member.added", -1);
    rd_kafka_header_add(hdrs, "ce_id", -1, "abc", -1);
    auto err = rd_kafka_producev(p.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_KEY(key.data(), key.size()),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hdrs);
        return err;
    }
    return rd_kafka_flush(p.get(), 10000);
}

TEST(EmbeddedKafka, RecordsLandOnTheComputedPartitionWithTheirHeaders)
{
    auto cluster = embedded_cluster::start(3);
    ASSERT_TRUE(cluster) << cluster.error();
    const std::string bootstrap = (*cluster)->bootstrap();
    EXPECT_NE(bootstrap.find("127.0.0.1:"), std::string::npos);
    ASSERT_FALSE((*cluster)->create_topic("lti.membership-changes", 12));

    const std::string ctx = context_key("canvas", "ctx-1");
    const std::int32_t part = partition_for(ctx, 12);
    EXPECT_EQ(part, 8);
    const std::string key = membership_key("canvas", "ctx-1", "u1");
    ASSERT_EQ(produce(bootstrap, "lti.membership-changes", key, "{\"type\":\"member.added\"}", part),
              RD_KAFKA_RESP_ERR_NO_ERROR);

    auto c = client(RD_KAFKA_CONSUMER, bootstrap, {{"group.id", "t"}, {"enable.auto.commit", "false"}});
    partition_list_ptr assignment(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(assignment.get(), "lti.membership-changes", part)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ASSERT_EQ(rd_kafka_assign(c.get(), assignment.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
    message_ptr msg;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        msg.reset(rd_kafka_consumer_poll(c.get(), 200));
        if (msg && msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        msg.reset();
    }
    ASSERT_TRUE(msg) << "no record within 20 s";
    EXPECT_EQ(msg->partition, part);
    EXPECT_EQ(std::string(static_cast<const char*>(msg->key), msg->key_len), key);
    rd_kafka_headers_t* h = nullptr;
    ASSERT_EQ(rd_kafka_message_headers(msg.get(), &h), RD_KAFKA_RESP_ERR_NO_ERROR);
    const void* v = nullptr;
    size_t n = 0;
    ASSERT_EQ(rd_kafka_header_get_last(h, "ce_type", &v, &n), RD_KAFKA_RESP_ERR_NO_ERROR);
    EXPECT_EQ(std::string(static_cast<const char*>(v), n), "member.added");
    msg.reset();
    rd_kafka_consumer_close(c.get());
}

delivery publish_now(producer& p, record r)
{
    net::io_context ioc;
    delivery out;
    net::co_spawn(ioc, p.publish(std::move(r)), [&](std::exception_ptr e, delivery d) {
        if (e) std::rethrow_exception(e);
        out = d;
    });
    ioc.run();
    return out;
}

TEST(KafkaProducer, PublishReportsTheOffsetAndFailuresAsValues)
{
    auto cluster = embedded_cluster::start(1);
    ASSERT_TRUE(cluster) << cluster.error();
    ASSERT_FALSE((*cluster)->create_topic("changes", 4));
    auto p = producer::create({.bootstrap = (*cluster)->bootstrap(),
                               .properties = {{"reconnect.backoff.max.ms", "100"}},
                               .message_timeout = 2s,
                               .close_timeout = 1s});
    ASSERT_TRUE(p) << p.error();
    auto first = publish_now(**p, {.topic = "changes", .partition = 2, .key = "k", .value = "v1",
                                   .headers = {{"ce_type", "member.added"}}});
    EXPECT_FALSE(first.ec) << first.ec.message();
    EXPECT_EQ(first.partition, 2);
    EXPECT_EQ(first.offset, 0);
    auto second = publish_now(**p, {.topic = "changes", .partition = 2, .key = "k", .tombstone = true});
    EXPECT_FALSE(second.ec);
    EXPECT_EQ(second.offset, 1);
    // A partition the topic does not have is refused at once.
    auto bad = publish_now(**p, {.topic = "changes", .partition = 99, .key = "k", .value = "v"});
    EXPECT_TRUE(bad.ec);
    // Brokers down before the send: a timeout, reported as not persisted.
    rd_kafka_mock_broker_set_down((*cluster)->mock(), 1);
    auto down = publish_now(**p, {.topic = "changes", .partition = 1, .key = "k", .value = "v"});
    ASSERT_TRUE(down.ec);
    EXPECT_TRUE(is_retryable(down.ec)) << down.ec.message();
    EXPECT_FALSE(down.possibly_persisted);
}

TEST(KafkaProducer, UnknownPropertyIsNamed)
{
    auto p = producer::create({.bootstrap = "127.0.0.1:1", .properties = {{"no.such.property", "1"}}});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find("kafka property no.such.property"), std::string::npos) << p.error();
}

std::vector<message_ptr> read(consumer& c, std::size_t n, std::chrono::seconds within)
{
    std::vector<message_ptr> out;
    auto deadline = std::chrono::steady_clock::now() + within;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
        auto m = c.poll(200ms);
        EXPECT_TRUE(m) << m.error().message();
        if (m && *m) out.push_back(std::move(*m));
    }
    return out;
}

TEST(KafkaConsumer, GroupReadsCommitsAndResumes)
{
    auto cluster = embedded_cluster::start(1);
    ASSERT_TRUE(cluster);
    ASSERT_FALSE((*cluster)->create_topic("requests", 2));
    const auto bootstrap = (*cluster)->bootstrap();
    for (int i = 0; i < 3; ++i) ASSERT_EQ(produce(bootstrap, "requests", "k" + std::to_string(i), "v", i % 2), RD_KAFKA_RESP_ERR_NO_ERROR);

    consumer_options o{.bootstrap = bootstrap, .group_id = "g1", .session_timeout = 6000ms};
    {
        auto c = consumer::create(o);
        ASSERT_TRUE(c) << c.error();
        ASSERT_FALSE((*c)->subscribe({"requests"}));
        auto got = read(**c, 3, 30s);
        ASSERT_EQ(got.size(), 3u);
        auto events = (*c)->take_rebalances();
        ASSERT_FALSE(events.empty());
        EXPECT_TRUE(events[0].assigned);
        EXPECT_EQ(events[0].partitions.size(), 2u);
        EXPECT_EQ((*c)->assignment().size(), 2u);
        for (auto& m : got) ASSERT_FALSE((*c)->commit({"requests", m->partition}, m->offset + 1));
        auto committed = (*c)->committed({{"requests", 0}, {"requests", 1}}, 5s);
        ASSERT_TRUE(committed);
        EXPECT_EQ((*committed)[0], 2);  // two records on partition 0
        EXPECT_EQ((*committed)[1], 1);
        (*c)->close();
    }
    // The group resumes after what was committed: only the new record arrives.
    ASSERT_EQ(produce(bootstrap, "requests", "new", "v", 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    auto c2 = consumer::create(o);
    ASSERT_TRUE(c2);
    ASSERT_FALSE((*c2)->subscribe({"requests"}));
    auto got = read(**c2, 1, 30s);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(std::string(static_cast<const char*>(got[0]->key), got[0]->key_len), "new");
    auto extra = read(**c2, 1, 2s);  // and nothing else
    EXPECT_TRUE(extra.empty());
}

TEST(KafkaConsumer, ManualAssignmentFromAnOffset)
{
    auto cluster = embedded_cluster::start(1);
    ASSERT_TRUE(cluster);
    ASSERT_FALSE((*cluster)->create_topic("changes", 1));
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(produce((*cluster)->bootstrap(), "changes", "k", "v" + std::to_string(i), 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    auto c = consumer::create({.bootstrap = (*cluster)->bootstrap(), .group_id = "state"});
    ASSERT_TRUE(c);
    ASSERT_FALSE((*c)->assign({{"changes", 0}}, 1));
    auto got = read(**c, 2, 20s);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0]->offset, 1);
    EXPECT_EQ(std::string(static_cast<const char*>(got[1]->payload), got[1]->len), "v2");
}

TEST(KafkaAdmin, EnsureTopicsCreatesMissingAndRefusesWrongCounts)
{
    auto cluster = embedded_cluster::start(1);
    ASSERT_TRUE(cluster);
    ASSERT_FALSE((*cluster)->create_topic("lti.membership-changes", 4));
    auto p = producer::create({.bootstrap = (*cluster)->bootstrap()});
    ASSERT_TRUE(p);
    std::vector<std::string> problems;
    auto ec = ensure_topics((*p)->native(),
                            {{.name = "rostersync.sync-requests", .partitions = 12},
                             {.name = "rostersync.memberships", .partitions = 12, .cleanup_policy = "compact"},
                             {.name = "lti.membership-changes", .partitions = 12}},
                            cluster->get(), problems, 10s);
    EXPECT_TRUE(ec);
    ASSERT_EQ(problems.size(), 1u) << problems[0] << "\n" << problems[1];
    EXPECT_EQ(problems[0], "topic lti.membership-changes has 4 partitions but kafka.partitions = 12; set kafka.partitions = 4 "
                           "(contexts are placed by partition, so the count cannot change under a running deployment)");
    EXPECT_EQ(partition_count((*p)->native(), "rostersync.sync-requests", 10s).value(), 12);
    EXPECT_EQ(partition_count((*p)->native(), "no.such.topic", 10s).value(), 0);
}

TEST(EmbeddedKafka, StandaloneBinaryPrintsABootstrapThatWorks)
{
    test::daemon_process p(ROSTERSYNC_KAFKA_MOCK_PATH, {"--brokers", "1", "--topic", "t:4"});
    ASSERT_TRUE(p.wait_for_log("ready", 30s)) << p.log_text();
    std::string bootstrap;
    for (const auto& l : p.log_lines())
        if (l.starts_with("bootstrap: ")) bootstrap = l.substr(11);
    ASSERT_FALSE(bootstrap.empty()) << p.log_text();
    EXPECT_EQ(produce(bootstrap, "t", "k", "v", partition_for("k", 4)), RD_KAFKA_RESP_ERR_NO_ERROR);
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait_exit(20s), 0);
}

}  // namespace
}  // namespace rostersync::kafka
