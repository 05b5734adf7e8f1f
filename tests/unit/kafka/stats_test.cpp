// librdkafka statistics as Prometheus metrics: real reports captured from librdkafka 2.0.2
// against the embedded (mock) cluster (data/*.json), edited copies of them for the cases a healthy
// cluster does not show, malformed input, and live producer and consumer handles.
//
// The live tests are named KafkaProducer.* / KafkaConsumer.*: the tsan test preset leaves those
// out (librdkafka's C11 threads crash g++ 12's ThreadSanitizer runtime, see tests/CMakeLists.txt).
#include "kafka/stats.hpp"

#include "kafka/consumer.hpp"
#include "kafka/embedded.hpp"
#include "kafka/producer.hpp"
#include "metrics/registry.hpp"
#include "support/prom_text.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace rostersync::kafka {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string capture(const std::string& name)
{
    std::ifstream in(std::string(ROSTERSYNC_SOURCE_DIR) + "/tests/unit/kafka/data/" + name);
    EXPECT_TRUE(in) << name;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

json::object capture_object(const std::string& name)
{
    return json::parse(capture(name)).as_object();
}

std::string dump(const json::object& o)
{
    return json::serialize(o);
}

test::prom_document scrape(const metrics::registry& reg)
{
    std::string error;
    auto doc = test::parse_prom_text(reg.serialize_text(), error);
    EXPECT_TRUE(error.empty()) << error;
    return doc;
}

/// How many samples of `name` there are (with labels including `match`).
std::size_t series(const test::prom_document& doc, std::string_view name,
                   const std::map<std::string, std::string>& match = {})
{
    std::size_t n = 0;
    for (const auto& s : doc.samples) {
        if (s.name != name) continue;
        bool all = true;
        for (const auto& [k, v] : match) {
            auto it = s.labels.find(k);
            all = all && it != s.labels.end() && it->second == v;
        }
        n += all;
    }
    return n;
}

// ---- the captured reports ----

TEST(KafkaStatistics, FamiliesHaveTheTypesTheirNamesPromise)
{
    metrics::registry reg;
    statistics_exporter ex(reg);
    ex.update("producer", capture("producer_stats.json"));
    ex.update("ingest", capture("consumer_stats.json"));
    ex.update("ingest", "{");
    const auto doc = scrape(reg);
    const std::map<std::string, std::string> want{
        {"rostersync_kafka_broker_up", "gauge"},
        {"rostersync_kafka_broker_rtt_seconds", "gauge"},
        {"rostersync_kafka_request_errors_total", "counter"},
        {"rostersync_kafka_producer_queue_messages", "gauge"},
        {"rostersync_kafka_producer_queue_bytes", "gauge"},
        {"rostersync_kafka_tx_messages_total", "counter"},
        {"rostersync_kafka_rx_messages_total", "counter"},
        {"rostersync_kafka_consumer_lag_records", "gauge"},
        {"rostersync_kafka_statistics_invalid_total", "counter"},
    };
    for (const auto& [name, type] : want) {
        ASSERT_TRUE(doc.has_family(name)) << name;
        EXPECT_EQ(doc.types.at(name), type) << name;
    }
}

TEST(KafkaStatistics, ProducerReportBecomesMetrics)
{
    metrics::registry reg;
    statistics_exporter ex(reg);
    ex.update("producer", capture("producer_stats.json"));
    const auto doc = scrape(reg);

    // Three brokers, all up; rtt.avg (µs) in seconds.
    EXPECT_EQ(series(doc, "rostersync_kafka_broker_up", {{"client", "producer"}}), 3U);
    EXPECT_EQ(doc.value("rostersync_kafka_broker_up", {{"client", "producer"}, {"broker", "127.0.0.1:41069"}}), 1);
    EXPECT_EQ(doc.value("rostersync_kafka_broker_up", {{"client", "producer"}, {"broker", "127.0.0.1:38779"}}), 1);
    EXPECT_EQ(doc.value("rostersync_kafka_broker_up", {{"client", "producer"}, {"broker", "127.0.0.1:43787"}}), 1);
    EXPECT_DOUBLE_EQ(*doc.value("rostersync_kafka_broker_rtt_seconds",
                                {{"client", "producer"}, {"broker", "127.0.0.1:41069"}}), 51e-6);
    EXPECT_DOUBLE_EQ(*doc.value("rostersync_kafka_broker_rtt_seconds",
                                {{"client", "producer"}, {"broker", "127.0.0.1:38779"}}), 76e-6);
    EXPECT_EQ(doc.value("rostersync_kafka_request_errors_total",
                        {{"client", "producer"}, {"broker", "127.0.0.1:43787"}}), 0);

    EXPECT_EQ(doc.value("rostersync_kafka_producer_queue_messages", {{"client", "producer"}}), 8);
    EXPECT_EQ(doc.value("rostersync_kafka_producer_queue_bytes", {{"client", "producer"}}), 800);
    EXPECT_EQ(doc.value("rostersync_kafka_tx_messages_total", {{"client", "producer"}}), 32);
    // A producer neither fetches nor has a consumer lag.
    EXPECT_EQ(series(doc, "rostersync_kafka_rx_messages_total"), 0U);
    EXPECT_EQ(series(doc, "rostersync_kafka_consumer_lag_records"), 0U);
    EXPECT_EQ(series(doc, "rostersync_kafka_statistics_invalid_total"), 0U);
}

TEST(KafkaStatistics, ConsumerReportBecomesMetrics)
{
    metrics::registry reg;
    statistics_exporter ex(reg);
    ex.update("ingest", capture("consumer_stats.json"));
    const auto doc = scrape(reg);

    // The GroupCoordinator (a second connection to broker 1) is no broker of its own.
    EXPECT_EQ(series(doc, "rostersync_kafka_broker_up", {{"client", "ingest"}}), 3U);
    EXPECT_EQ(series(doc, "rostersync_kafka_broker_rtt_seconds", {{"client", "ingest"}}), 3U);
    EXPECT_EQ(series(doc, "rostersync_kafka_request_errors_total", {{"client", "ingest"}}), 3U);
    // Fetches wait up to fetch.wait.max.ms (500) at the broker: part of a consumer's round trip.
    EXPECT_DOUBLE_EQ(*doc.value("rostersync_kafka_broker_rtt_seconds",
                                {{"client", "ingest"}, {"broker", "127.0.0.1:43787"}}), 0.501438);

    EXPECT_EQ(doc.value("rostersync_kafka_rx_messages_total", {{"client", "ingest"}}), 60);
    // Committed 3 of 15 (lag 12), all of partition 1 (0), 10 of 15 (5); partition 3 never
    // committed (-1, not counted); the UA partition -1 never counts.
    EXPECT_EQ(doc.value("rostersync_kafka_consumer_lag_records", {{"client", "ingest"}, {"topic", "lti.course-seen"}}),
              17);
    EXPECT_EQ(series(doc, "rostersync_kafka_producer_queue_messages"), 0U);
    EXPECT_EQ(series(doc, "rostersync_kafka_tx_messages_total"), 0U);
}

TEST(KafkaStatistics, BrokersNeverNeededHaveNoSeries)
{
    // Joining the group: only the bootstrap-turned-broker 1 and the coordinator are connected;
    // brokers 2 and 3 are INIT with no connection attempt (sparse connections).
    metrics::registry reg;
    statistics_exporter ex(reg);
    ex.update("requests", capture("consumer_joining_stats.json"));
    auto doc = scrape(reg);
    EXPECT_EQ(series(doc, "rostersync_kafka_broker_up", {{"client", "requests"}}), 1U);
    EXPECT_EQ(doc.value("rostersync_kafka_broker_up", {{"client", "requests"}, {"broker", "127.0.0.1:43787"}}), 1);
    // No committed offsets yet: no lag series rather than a 0 that reads "caught up".
    EXPECT_EQ(series(doc, "rostersync_kafka_consumer_lag_records"), 0U);

    // A connection that was up and is lost reads INIT as well, but with connects > 0: down.
    auto o = capture_object("consumer_stats.json");
    auto& b = o["brokers"].as_object()["127.0.0.1:38779/2"].as_object();
    b["state"] = "INIT";
    ex.update("requests", dump(o));
    doc = scrape(reg);
    EXPECT_EQ(doc.value("rostersync_kafka_broker_up", {{"client", "requests"}, {"broker", "127.0.0.1:38779"}}), 0);
    EXPECT_EQ(doc.value("rostersync_kafka_broker_up", {{"client", "requests"}, {"broker", "127.0.0.1:41069"}}), 1);
}

TEST(KafkaStatistics, CumulativeFieldsCountTheDifference)
{
    metrics::registry reg;
    statistics_exporter ex(reg);
    auto o = capture_object("producer_stats.json");
    auto& broker = o["brokers"].as_object()["127.0.0.1:41069/3"].as_object();
    const std::map<std::string, std::string> b3{{"client", "producer"}, {"broker", "127.0.0.1:41069"}};

    ex.update("producer", dump(o));                         // txmsgs 32
    o["txmsgs"] = 50;
    broker["txerrs"] = 2;
    broker["rxerrs"] = 1;
    ex.update("producer", dump(o));
    auto doc = scrape(reg);
    EXPECT_EQ(doc.value("rostersync_kafka_tx_messages_total", {{"client", "producer"}}), 50);
    EXPECT_EQ(doc.value("rostersync_kafka_request_errors_total", b3), 3);

    // The same report again adds nothing.
    ex.update("producer", dump(o));
    doc = scrape(reg);
    EXPECT_EQ(doc.value("rostersync_kafka_tx_messages_total", {{"client", "producer"}}), 50);
    EXPECT_EQ(doc.value("rostersync_kafka_request_errors_total", b3), 3);

    // A second handle of the same role (another librdkafka name) adds its own counts.
    auto other = o;
    other["name"] = "rostersync#producer-9";
    other["txmsgs"] = 5;
    ex.update("producer", dump(other));
    o["txmsgs"] = 60;
    ex.update("producer", dump(o));
    doc = scrape(reg);
    EXPECT_EQ(doc.value("rostersync_kafka_tx_messages_total", {{"client", "producer"}}), 65);

    // A value below the last one is a reset: counted from 0, never subtracted.
    o["txmsgs"] = 4;
    ex.update("producer", dump(o));
    doc = scrape(reg);
    EXPECT_EQ(doc.value("rostersync_kafka_tx_messages_total", {{"client", "producer"}}), 69);
}

TEST(KafkaStatistics, InternalAndBootstrapEntries)
{
    metrics::registry reg;
    statistics_exporter ex(reg);
    auto o = capture_object("producer_stats.json");
    auto& brokers = o["brokers"].as_object();

    // librdkafka's internal broker (older versions report it) counts nowhere.
    json::object internal = brokers["127.0.0.1:41069/3"].as_object();
    internal["name"] = ":0/internal";
    internal["nodeid"] = -1;
    internal["nodename"] = "";
    internal["source"] = "internal";
    internal["txerrs"] = 7;
    brokers[":0/internal"] = internal;

    // A bootstrap address not yet matched to a broker id: errors only.
    json::object boot = brokers["127.0.0.1:41069/3"].as_object();
    boot["name"] = "kafka.example:9092/bootstrap";
    boot["nodeid"] = -1;
    boot["nodename"] = "kafka.example:9092";
    boot["state"] = "DOWN";
    boot["connects"] = 2;
    boot["txerrs"] = 1;
    brokers["kafka.example:9092/bootstrap"] = boot;
    ex.update("producer", dump(o));

    auto doc = scrape(reg);
    EXPECT_EQ(series(doc, "rostersync_kafka_broker_up", {{"broker", ""}}), 0U);
    EXPECT_EQ(series(doc, "rostersync_kafka_request_errors_total", {{"broker", ""}}), 0U);
    EXPECT_EQ(series(doc, "rostersync_kafka_broker_up", {{"broker", "kafka.example:9092"}}), 0U);
    EXPECT_EQ(doc.value("rostersync_kafka_request_errors_total",
                        {{"client", "producer"}, {"broker", "kafka.example:9092"}}), 1);

    // Metadata names it broker 4: librdkafka renames the entry and its counts carry on.
    json::object learned = brokers["kafka.example:9092/bootstrap"].as_object();
    brokers.erase("kafka.example:9092/bootstrap");
    learned["name"] = "kafka.example:9092/4";
    learned["nodeid"] = 4;
    learned["state"] = "UP";
    learned["txerrs"] = 3;
    brokers["kafka.example:9092/4"] = learned;
    ex.update("producer", dump(o));
    doc = scrape(reg);
    EXPECT_EQ(doc.value("rostersync_kafka_request_errors_total",
                        {{"client", "producer"}, {"broker", "kafka.example:9092"}}), 3);
    EXPECT_EQ(doc.value("rostersync_kafka_broker_up", {{"client", "producer"}, {"broker", "kafka.example:9092"}}), 1);
}

TEST(KafkaStatistics, RttKeepsItsValueThroughAnIntervalWithoutSamples)
{
    metrics::registry reg;
    statistics_exporter ex(reg);
    auto o = capture_object("producer_stats.json");
    ex.update("producer", dump(o));
    auto& rtt = o["brokers"].as_object()["127.0.0.1:41069/3"].as_object()["rtt"].as_object();
    rtt["cnt"] = 0;
    rtt["avg"] = 0;
    ex.update("producer", dump(o));
    const auto doc = scrape(reg);
    EXPECT_DOUBLE_EQ(*doc.value("rostersync_kafka_broker_rtt_seconds",
                                {{"client", "producer"}, {"broker", "127.0.0.1:41069"}}), 51e-6);
}

TEST(KafkaStatistics, LagReadsZeroOncePartitionsAreRevoked)
{
    metrics::registry reg;
    statistics_exporter ex(reg);
    auto o = capture_object("consumer_stats.json");
    ex.update("ingest", dump(o));
    for (auto& [k, p] : o["topics"].as_object()["lti.course-seen"].as_object()["partitions"].as_object())
        p.as_object()["desired"] = false;
    ex.update("ingest", dump(o));
    const auto doc = scrape(reg);
    EXPECT_EQ(doc.value("rostersync_kafka_consumer_lag_records", {{"client", "ingest"}, {"topic", "lti.course-seen"}}),
              0);
}

// ---- malformed input ----

TEST(KafkaStatistics, MalformedReportsAreCountedAndIgnored)
{
    metrics::registry reg;
    statistics_exporter ex(reg);
    const std::string real = capture("producer_stats.json");
    const std::vector<std::string> bad{
        "", "{", "not json", "[]", "null", "42", "\"a string\"", real.substr(0, real.size() / 2),
        std::string("{\"name\": \"x\xff\xfe\"}"),  // invalid UTF-8
        std::string("\0\0\0", 3),
    };
    for (const auto& s : bad) EXPECT_NO_THROW(ex.update("producer", s));
    auto doc = scrape(reg);
    EXPECT_EQ(doc.value("rostersync_kafka_statistics_invalid_total", {{"client", "producer"}}),
              static_cast<double>(bad.size()));
    EXPECT_EQ(series(doc, "rostersync_kafka_broker_up"), 0U);
    EXPECT_EQ(series(doc, "rostersync_kafka_tx_messages_total"), 0U);

    // A JSON object with unexpected members is not invalid: what fits is used, the rest skipped.
    const std::vector<std::string> odd{
        R"({})",
        R"({"type": "producer", "msg_cnt": "many", "txmsgs": -5, "brokers": 5, "topics": [1]})",
        R"({"type": "consumer", "brokers": {"b": 1, "c": {"nodename": 3}, "d": {"nodename": "h:1", "nodeid": "2"}},
            "topics": {"t": 1, "u": {"partitions": [1]}, "v": {"partitions": {"0": {"partition": 0, "desired": true,
            "consumer_lag": 1e300}, "1": 7}}}})",
        R"({"type": "producer", "txmsgs": 18446744073709551615, "msg_cnt": 1.5e3})",
    };
    for (const auto& s : odd) EXPECT_NO_THROW(ex.update("odd", s));
    doc = scrape(reg);
    EXPECT_EQ(series(doc, "rostersync_kafka_statistics_invalid_total", {{"client", "odd"}}), 0U);
    EXPECT_EQ(doc.value("rostersync_kafka_producer_queue_messages", {{"client", "odd"}}), 1500);
    // "h:1" reported errors 0 (no counts) and, with a non-numeric nodeid, no up/rtt series.
    EXPECT_EQ(doc.value("rostersync_kafka_request_errors_total", {{"client", "odd"}, {"broker", "h:1"}}), 0);
    EXPECT_EQ(series(doc, "rostersync_kafka_broker_up", {{"client", "odd"}}), 0U);
    EXPECT_EQ(series(doc, "rostersync_kafka_tx_messages_total", {{"client", "odd"}}), 0U);

    // And the exporter still works afterwards.
    ex.update("producer", real);
    doc = scrape(reg);
    EXPECT_EQ(doc.value("rostersync_kafka_tx_messages_total", {{"client", "producer"}}), 32);
}

TEST(KafkaStatistics, ConcurrentReports)
{
    metrics::registry reg;
    statistics_exporter ex(reg);
    const std::string p = capture("producer_stats.json");
    const std::string c = capture("consumer_stats.json");
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                ex.update(t % 2 == 0 ? "producer" : "ingest", t % 2 == 0 ? p : c);
                ex.update("bad", "{");
            }
        });
    }
    for (auto& th : threads) th.join();
    const auto doc = scrape(reg);
    // The same handle reported the same totals: counted once.
    EXPECT_EQ(doc.value("rostersync_kafka_tx_messages_total", {{"client", "producer"}}), 32);
    EXPECT_EQ(doc.value("rostersync_kafka_rx_messages_total", {{"client", "ingest"}}), 60);
    EXPECT_EQ(doc.value("rostersync_kafka_statistics_invalid_total", {{"client", "bad"}}), 200);
}

// ---- live handles against the embedded cluster ----

/// Reports received, for waiting on a condition (bounded).
class reports {
public:
    std::function<void(std::string_view)> sink(statistics_exporter& ex, std::string client)
    {
        return [this, forward = ex.callback(std::move(client))](std::string_view j) {
            forward(j);
            std::lock_guard lock(mutex_);
            last_.assign(j);
            ++count_;
            cv_.notify_all();
        };
    }

    /// Waits until pred(last report) holds; false after `timeout`.
    template <class Pred>
    bool wait(std::chrono::milliseconds timeout, Pred pred)
    {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return count_ > 0 && pred(last_); });
    }

    template <class Pred>
    bool wait_polling(consumer& c, std::chrono::milliseconds timeout, Pred pred)
    {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < until) {
            (void)c.poll(50ms);  // the consumer's statistics arrive through poll()
            std::lock_guard lock(mutex_);
            if (count_ > 0 && pred(last_)) return true;
        }
        return false;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::string last_;
    int count_ = 0;
};

bool all_brokers_up(const std::string& j)
{
    const auto v = json::parse(j);
    const auto& brokers = v.as_object().at("brokers").as_object();
    if (brokers.empty()) return false;
    for (const auto& [k, b] : brokers)
        if (b.as_object().at("state").as_string() != "UP") return false;
    return true;
}

TEST(KafkaProducer, StatisticsReachTheExporter)
{
    auto cluster = embedded_cluster::start(1);
    ASSERT_TRUE(cluster) << cluster.error();
    ASSERT_FALSE((*cluster)->create_topic("stats.topic", 2));
    metrics::registry reg;
    statistics_exporter ex(reg);
    reports seen;
    auto p = producer::create({.bootstrap = (*cluster)->bootstrap(), .on_statistics = seen.sink(ex, "producer"),
                               .statistics_interval = 100ms});
    ASSERT_TRUE(p) << p.error();
    std::atomic<int> delivered{0};
    for (int i = 0; i < 5; ++i)
        ASSERT_FALSE((*p)->send({.topic = "stats.topic", .partition = i % 2, .key = "k", .value = "v"},
                                [&](const delivery& d) { delivered += d.ec ? 0 : 1; }));
    ASSERT_FALSE((*p)->flush(10s));
    EXPECT_EQ(delivered.load(), 5);
    ASSERT_TRUE(seen.wait(10s, [](const std::string& j) {
        return all_brokers_up(j) && json::parse(j).as_object().at("txmsgs").as_int64() == 5;
    })) << "no statistics report with the broker up and 5 records sent";

    const auto doc = scrape(reg);
    const std::string broker = (*cluster)->bootstrap();  // one broker: "127.0.0.1:port"
    EXPECT_EQ(doc.value("rostersync_kafka_broker_up", {{"client", "producer"}, {"broker", broker}}), 1);
    EXPECT_EQ(doc.value("rostersync_kafka_tx_messages_total", {{"client", "producer"}}), 5);
    EXPECT_EQ(doc.value("rostersync_kafka_producer_queue_messages", {{"client", "producer"}}), 0);
    EXPECT_EQ(doc.value("rostersync_kafka_statistics_invalid_total", {{"client", "producer"}}), 0);
}

TEST(KafkaProducer, PropertiesOverrideTheStatisticsInterval)
{
    auto cluster = embedded_cluster::start(1);
    ASSERT_TRUE(cluster) << cluster.error();
    metrics::registry reg;
    statistics_exporter ex(reg);
    reports seen;
    // An hour by option, 100 ms by [kafka.properties]: the properties win.
    auto p = producer::create({.bootstrap = (*cluster)->bootstrap(),
                               .properties = {{"statistics.interval.ms", "100"}},
                               .on_statistics = seen.sink(ex, "producer"),
                               .statistics_interval = std::chrono::hours(1)});
    ASSERT_TRUE(p) << p.error();
    EXPECT_TRUE(seen.wait(10s, [](const std::string&) { return true; }));

    // Without a callback the interval is not set (and a bad value is librdkafka's to refuse).
    auto refused = producer::create({.bootstrap = (*cluster)->bootstrap(),
                                     .on_statistics = [](std::string_view) {},
                                     .statistics_interval = std::chrono::milliseconds(-1)});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("statistics.interval.ms"), std::string::npos) << refused.error();
    auto quiet = producer::create({.bootstrap = (*cluster)->bootstrap(),
                                   .statistics_interval = std::chrono::milliseconds(-1)});
    EXPECT_TRUE(quiet) << quiet.error();
}

TEST(KafkaProducer, HandleRefusedWithAStatisticsCallback)
{
    // Every property is accepted on its own; rd_kafka_new refuses the combination (idempotence
    // needs acks=all) after the producer object that holds the callback exists.
    auto p = producer::create({.bootstrap = "127.0.0.1:9", .properties = {{"acks", "1"}},
                               .on_statistics = [](std::string_view) {}});
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().find("cannot create the Kafka producer"), std::string::npos) << p.error();
}

TEST(KafkaConsumer, StatisticsReachTheExporter)
{
    auto cluster = embedded_cluster::start(1);
    ASSERT_TRUE(cluster) << cluster.error();
    ASSERT_FALSE((*cluster)->create_topic("stats.in", 1));
    {
        auto p = producer::create({.bootstrap = (*cluster)->bootstrap()});
        ASSERT_TRUE(p) << p.error();
        for (int i = 0; i < 4; ++i)
            ASSERT_FALSE((*p)->send({.topic = "stats.in", .partition = 0, .key = "k", .value = "v"}, [](const delivery&) {}));
        ASSERT_FALSE((*p)->flush(10s));
    }
    metrics::registry reg;
    statistics_exporter ex(reg);
    reports seen;
    auto c = consumer::create({.bootstrap = (*cluster)->bootstrap(), .group_id = "stats.group",
                               .on_statistics = seen.sink(ex, "ingest"), .statistics_interval = 100ms});
    ASSERT_TRUE(c) << c.error();
    // Manual assignment from the start; commit 1 of 4: lag 3 once librdkafka knows both ends.
    ASSERT_FALSE((*c)->assign(std::vector<topic_partition>{{"stats.in", 0}}, RD_KAFKA_OFFSET_BEGINNING));
    int got = 0;
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (got < 4 && std::chrono::steady_clock::now() < until) {
        auto m = (*c)->poll(50ms);
        ASSERT_TRUE(m) << m.error().message();
        got += *m ? 1 : 0;
    }
    ASSERT_EQ(got, 4);
    ASSERT_FALSE((*c)->commit({"stats.in", 0}, 1));
    ASSERT_TRUE(seen.wait_polling(**c, 10s, [](const std::string& j) {
        const auto v = json::parse(j);
        const auto* t = v.as_object().at("topics").as_object().if_contains("stats.in");
        if (t == nullptr) return false;
        const auto* p = t->as_object().at("partitions").as_object().if_contains("0");
        return p != nullptr && p->as_object().at("consumer_lag").as_int64() == 3 &&
               v.as_object().at("rxmsgs").as_int64() == 4;
    })) << "no statistics report with lag 3 and 4 records fetched";

    const auto doc = scrape(reg);
    EXPECT_EQ(doc.value("rostersync_kafka_consumer_lag_records", {{"client", "ingest"}, {"topic", "stats.in"}}), 3);
    EXPECT_EQ(doc.value("rostersync_kafka_rx_messages_total", {{"client", "ingest"}}), 4);
    EXPECT_EQ(doc.value("rostersync_kafka_broker_up", {{"client", "ingest"}, {"broker", (*cluster)->bootstrap()}}), 1);
    (*c)->close();
}

}  // namespace
}  // namespace rostersync::kafka
