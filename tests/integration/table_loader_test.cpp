// Restores read the tables through sync::table_loader: against librdkafka's mock cluster, several
// partitions at once on shared consumers, compacted-topic semantics (later rows win, tombstones
// remove), the replay of the change stream from the checkpoint, undecodable records counted, and
// loads that are abandoned or outlive the loader.
#include "sync/table_loader.hpp"

#include "kafka/embedded.hpp"
#include "kafka/handles.hpp"
#include "roster/encode.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>
#include <optional>

namespace rostersync::sync {
namespace {

using namespace std::chrono_literals;

const std::string issuer = "https://canvas.instructure.com";

class TableLoader : public ::testing::Test {
protected:
    void SetUp() override
    {
        auto c = kafka::embedded_cluster::start(1);
        ASSERT_TRUE(c) << c.error();
        cluster = std::move(*c);
        for (const auto* t : {&names.memberships, &names.contexts, &names.checkpoints, &names.membership_changes})
            ASSERT_FALSE(cluster->create_topic(*t, 4));
        char err[512];
        kafka::conf_ptr conf(rd_kafka_conf_new());
        ASSERT_EQ(rd_kafka_conf_set(conf.get(), "bootstrap.servers", cluster->bootstrap().c_str(), err, sizeof err),
                  RD_KAFKA_CONF_OK);
        rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
        ASSERT_NE(rk, nullptr) << err;
        conf.release();
        producer.reset(rk);
    }

    /// Produces a record (a tombstone when `value` is nullopt) and waits for it.
    void put(const std::string& topic, std::int32_t partition, const std::string& key, std::optional<std::string> value)
    {
        void* data = value ? value->data() : nullptr;
        const std::size_t size = value ? value->size() : 0;
        auto err = rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                                     RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(data, size),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR);
        ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    }

    void row(std::int32_t p, const std::string& context_id, const std::string& user, const std::string& email)
    {
        nrps::member m;
        m.user_id = user;
        m.roles = {"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"};
        m.email = email;
        put(names.memberships, p, issuer + "|" + context_id + "|" + user,
            encode_row(issuer, context_id, roster::member_state{m}, 2));
    }

    /// A MembershipChange of context c1, as the pipeline publishes it.
    static std::string change(roster::change_type type, const std::string& user, const std::string& email)
    {
        nrps::member m;
        m.user_id = user;
        m.roles = {"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"};
        m.email = email;
        const bool removed = type == roster::change_type::removed;
        return roster::encode_change({type, user, removed ? std::optional(m) : std::nullopt,
                                      removed ? std::nullopt : std::optional(m)},
                                     {.issuer = issuer, .client_id = "1", .context_id = "c1", .roster_version = 7,
                                      .time = roster::time_point{} + 1'795'773'603s});
    }

    table_loader::options options(int threads = 2)
    {
        config::kafka_config k;
        k.topics = names;
        return {.bootstrap = cluster->bootstrap(), .kafka = k, .linger = 200ms, .threads = threads};
    }

    /// Starts a load; the future gets its result.
    std::future<loaded_partition> load(table_loader& l, std::int32_t p, std::shared_ptr<restore_progress> progress = {})
    {
        auto promise = std::make_shared<std::promise<loaded_partition>>();
        auto f = promise->get_future();
        if (!progress) progress = std::make_shared<restore_progress>();
        l.load(p, std::move(progress), 30s, [promise](loaded_partition r) { promise->set_value(std::move(r)); });
        return f;
    }

    static loaded_partition get(std::future<loaded_partition>& f)
    {
        if (f.wait_for(60s) != std::future_status::ready) throw std::runtime_error("the load did not finish");
        return f.get();
    }

    config::topic_names names;
    std::unique_ptr<kafka::embedded_cluster> cluster;
    kafka::handle_ptr producer;
};

TEST_F(TableLoader, LoadsSeveralPartitionsAtOnceAsACompactedTopicReads)
{
    // Partition 1: a row replaced, a row removed, an undecodable row, a context, a checkpoint
    // (and one of another partition, which does not belong here), three changes.
    row(1, "c1", "a", "a@x");
    row(1, "c1", "b", "b@x");
    row(1, "c1", "a", "a2@x");
    put(names.memberships, 1, issuer + "|c1|b", std::nullopt);
    put(names.memberships, 1, issuer + "|c1|junk", "not json");
    context_record ctx;
    ctx.context_key = issuer + "|c1";
    ctx.issuer = issuer;
    ctx.context_id = "c1";
    ctx.platform = "canvas";
    put(names.contexts, 1, ctx.context_key, encode_context(ctx));
    put(names.checkpoints, 1, "1", encode_checkpoint({.partition = 1, .changes_offset = 2}));
    put(names.checkpoints, 1, "9", encode_checkpoint({.partition = 9, .changes_offset = 5}));
    // The change stream: two changes before the checkpoint (already in the table), one after it
    // (replayed into the loaded state), and one that does not decode (skipped and counted).
    put(names.membership_changes, 1, "k", change(roster::change_type::added, "old", "old@x"));
    put(names.membership_changes, 1, "k", change(roster::change_type::removed, "a", ""));
    put(names.membership_changes, 1, "k", change(roster::change_type::added, "c", "c@x"));
    put(names.membership_changes, 1, "k", "{}");
    // Partition 3: two members of another course. Partition 2: nothing at all.
    row(3, "c3", "x", "x@x");
    row(3, "c3", "y", "y@x");

    table_loader loader(options());
    auto progress = std::make_shared<restore_progress>();
    auto f1 = load(loader, 1, progress);
    auto f2 = load(loader, 2);
    auto f3 = load(loader, 3);
    auto p1 = get(f1);
    auto p2 = get(f2);
    auto p3 = get(f3);

    ASSERT_EQ(p1.error, "");
    EXPECT_EQ(p1.state.memberships(), 2u);
    const auto* c1 = p1.state.context(issuer + "|c1");
    ASSERT_NE(c1, nullptr);
    EXPECT_EQ(c1->members.at("a").record.email, "a2@x") << "the removal before the checkpoint is not replayed";
    EXPECT_FALSE(c1->members.contains("b"));
    EXPECT_FALSE(c1->members.contains("old"));
    EXPECT_EQ(c1->members.at("c").record.email, "c@x") << "replayed from the checkpoint";
    EXPECT_EQ(c1->roster_version, 7u);
    EXPECT_EQ(p1.replay_from, 2);
    EXPECT_EQ(p1.state.position(), 4);
    EXPECT_EQ(p1.invalid_changes, 1);
    EXPECT_EQ(p1.first_invalid_change.first, 3);
    EXPECT_FALSE(p1.checkpoint_before_log_start);
    // Loaded rows are in the table already; the replayed change is not (the next snapshot).
    std::vector<std::string> dirty;
    p1.state.take_dirty([&](const std::string&, std::string_view user, const roster::member_state* m) {
        dirty.push_back(std::string(user) + (m ? "" : " (tombstone)"));
    });
    EXPECT_EQ(dirty, std::vector<std::string>{"c"});
    ASSERT_EQ(p1.contexts.size(), 1u);
    EXPECT_EQ(p1.contexts[0].context_key, issuer + "|c1");
    ASSERT_TRUE(p1.cp);
    EXPECT_EQ(p1.cp->changes_offset, 2);
    EXPECT_EQ(p1.invalid, 2) << "the junk row and the other partition's checkpoint";
    EXPECT_EQ(p1.changes.high, 4);
    EXPECT_EQ(progress->total.load(), 10);  // 5 rows, 1 context, 2 checkpoints, 2 changes to replay
    EXPECT_EQ(progress->done.load(), progress->total.load());

    ASSERT_EQ(p2.error, "");
    EXPECT_EQ(p2.state.memberships(), 0u);
    EXPECT_TRUE(p2.contexts.empty());
    EXPECT_FALSE(p2.cp);
    EXPECT_EQ(p2.changes.high, 0);
    EXPECT_EQ(p2.state.position(), 0);

    ASSERT_EQ(p3.error, "");
    EXPECT_EQ(p3.state.memberships(), 2u);
    EXPECT_EQ(p3.state.context(issuer + "|c3")->members.at("y").record.email, "y@x");

    // The same partition again while the consumer that read it still lingers: it waits for a
    // fresh consumer and reads the same.
    auto again = load(loader, 1);
    auto p1b = get(again);
    ASSERT_EQ(p1b.error, "");
    EXPECT_EQ(p1b.state.memberships(), 2u);
    EXPECT_EQ(p1b.invalid, 2);
    EXPECT_EQ(p1b.invalid_changes, 1);
}

TEST_F(TableLoader, AbandonedAndLateLoadsAreReportedNotDropped)
{
    row(0, "c0", "a", "a@x");
    auto loader = std::make_unique<table_loader>(options(1));
    auto abandoned = std::make_shared<restore_progress>();
    abandoned->abandon = true;  // the partition was revoked before its load started
    auto fa = load(*loader, 0, abandoned);
    auto a = get(fa);
    EXPECT_NE(a.error.find("abandoned"), std::string::npos) << a.error;
    EXPECT_EQ(a.state.memberships(), 0u);

    loader->stop();
    auto late = load(*loader, 0);
    auto l = get(late);
    EXPECT_EQ(l.error, "stopping");
}

}  // namespace
}  // namespace rostersync::sync
