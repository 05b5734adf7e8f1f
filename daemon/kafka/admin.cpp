#include "kafka/admin.hpp"

#include "common/log.hpp"
#include "kafka/error.hpp"

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <optional>

namespace rostersync::kafka {
namespace {

const log::logger lg{"kafka"};

/// cleanup.policy of each topic (DescribeConfigs); nullopt when the cluster cannot tell (the mock).
std::optional<std::map<std::string, std::string>> cleanup_policies(rd_kafka_t* client, const std::vector<const topic_spec*>& topics,
                                                                   std::chrono::milliseconds timeout)
{
    if (topics.empty()) return std::map<std::string, std::string>{};
    queue_ptr q(rd_kafka_queue_new(client));
    std::vector<rd_kafka_ConfigResource_t*> res;
    for (const auto* t : topics) res.push_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t->name.c_str()));
    rd_kafka_AdminOptions_t* o = rd_kafka_AdminOptions_new(client, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    char err[512];
    rd_kafka_AdminOptions_set_request_timeout(o, static_cast<int>(timeout.count()), err, sizeof err);
    rd_kafka_DescribeConfigs(client, res.data(), res.size(), o, q.get());
    event_ptr ev(rd_kafka_queue_poll(q.get(), static_cast<int>(timeout.count() + 1000)));
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy_array(res.data(), res.size());
    if (!ev || rd_kafka_event_error(ev.get())) return std::nullopt;
    const auto* result = rd_kafka_event_DescribeConfigs_result(ev.get());
    if (result == nullptr) return std::nullopt;
    size_t n = 0;
    const rd_kafka_ConfigResource_t** rs = rd_kafka_DescribeConfigs_result_resources(result, &n);
    std::map<std::string, std::string> out;
    for (size_t i = 0; i < n; ++i) {
        if (rd_kafka_ConfigResource_error(rs[i])) return std::nullopt;
        size_t m = 0;
        const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[i], &m);
        for (size_t j = 0; j < m; ++j) {
            if (std::string_view(rd_kafka_ConfigEntry_name(entries[j])) == "cleanup.policy") {
                const char* v = rd_kafka_ConfigEntry_value(entries[j]);
                out[rd_kafka_ConfigResource_name(rs[i])] = v ? v : "";
            }
        }
    }
    return out;
}

}  // namespace

result<watermarks> query_watermarks(rd_kafka_t* client, const std::string& topic, std::int32_t partition,
                                    std::chrono::milliseconds timeout)
{
    watermarks w;
    auto err = rd_kafka_query_watermark_offsets(client, topic.c_str(), partition, &w.low, &w.high,
                                                static_cast<int>(timeout.count()));
    if (err) return make_error_code(err);
    return w;
}

result<std::vector<watermarks>> query_watermarks(rd_kafka_t* client,
                                                 const std::vector<std::pair<std::string, std::int32_t>>& partitions,
                                                 std::chrono::milliseconds timeout)
{
    std::vector<watermarks> out(partitions.size());
    if (partitions.empty()) return out;
    std::unique_ptr<rd_kafka_topic_partition_list_t, decltype(&rd_kafka_topic_partition_list_destroy)> list(
        rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())), &rd_kafka_topic_partition_list_destroy);
    for (const auto& [topic, p] : partitions) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    // ListOffsets with the special timestamps -2 (the log start) and -1 (the end).
    for (const auto at : {RD_KAFKA_OFFSET_BEGINNING, RD_KAFKA_OFFSET_END}) {
        for (int i = 0; i < list->cnt; ++i) list->elems[i].offset = at;
        if (auto err = rd_kafka_offsets_for_times(client, list.get(), static_cast<int>(timeout.count())))
            return make_error_code(err);
        for (int i = 0; i < list->cnt; ++i) {
            if (list->elems[i].err) return make_error_code(list->elems[i].err);
            (at == RD_KAFKA_OFFSET_BEGINNING ? out[i].low : out[i].high) = list->elems[i].offset;
        }
    }
    return out;
}

result<int> partition_count(rd_kafka_t* client, const std::string& topic, std::chrono::milliseconds timeout)
{
    // Metadata for all topics: asking for one topic by name makes brokers (and the mock) that
    // auto-create topics create it, with their default partition count.
    const rd_kafka_metadata_t* md = nullptr;
    auto err = rd_kafka_metadata(client, 1, nullptr, &md, static_cast<int>(timeout.count()));
    if (err) return make_error_code(err);
    int count = 0;
    for (int i = 0; i < md->topic_cnt; ++i) {
        if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            count = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return count;
}

error_code ensure_topics(rd_kafka_t* client, const std::vector<topic_spec>& topics, embedded_cluster* embedded,
                         std::vector<std::string>& problems, std::chrono::milliseconds timeout)
{
    std::vector<const topic_spec*> missing;
    std::vector<const topic_spec*> existing;
    for (const auto& t : topics) {
        auto n = partition_count(client, t.name, timeout);
        if (!n) {
            problems.push_back("topic " + t.name + ": cannot read its metadata: " + n.error().message());
            continue;
        }
        if (*n == 0) {
            missing.push_back(&t);
        } else if (*n == t.partitions) {
            existing.push_back(&t);
        } else if (*n != t.partitions) {
            problems.push_back("topic " + t.name + " has " + std::to_string(*n) + " partitions but kafka.partitions = " +
                               std::to_string(t.partitions) + "; set kafka.partitions = " + std::to_string(*n) +
                               " (contexts are placed by partition, so the count cannot change under a running "
                               "deployment)");
        }
    }
    // The cleanup policy of topics that already exist: a compacted change stream would lose
    // history, a table that deletes would lose rows.
    bool mock = false;  // librdkafka's mock cluster has no DescribeConfigs: asking only waits
    if (char* id = rd_kafka_clusterid(client, static_cast<int>(timeout.count()))) {
        mock = std::string_view(id).starts_with("mockCluster");
        rd_kafka_mem_free(client, id);
    }
    if (!existing.empty() && embedded == nullptr && !mock) {
        auto policies = cleanup_policies(client, existing, timeout);
        if (!policies) {
            lg.warning("cannot read the topics' cleanup.policy (DescribeConfigs refused or unsupported); check it by hand",
                       {{"hint", "the daemon's principal needs DescribeConfigs on its topics"}});
        } else {
            for (const auto* t : existing) {
                auto it = policies->find(t->name);
                if (it == policies->end()) continue;
                if (it->second != t->cleanup_policy)
                    problems.push_back("topic " + t->name + " has cleanup.policy=" + it->second + " but needs " +
                                       t->cleanup_policy + "; fix it with kafka-configs.sh --alter --entity-type topics "
                                       "--entity-name " + t->name + " --add-config cleanup.policy=" + t->cleanup_policy);
            }
        }
    }
    if (!missing.empty()) {
        if (embedded != nullptr) {
            for (const auto* t : missing) {
                if (auto ec = embedded->create_topic(t->name, t->partitions, 1))
                    problems.push_back("topic " + t->name + ": cannot create it: " + ec.message());
            }
        } else {
            // The Admin API: CreateTopics with the partition count, replication and cleanup policy.
            queue_ptr q(rd_kafka_queue_new(client));
            std::vector<rd_kafka_NewTopic_t*> news;
            char err[512];
            for (const auto* t : missing) {
                auto* nt = rd_kafka_NewTopic_new(t->name.c_str(), t->partitions, t->replication_factor, err, sizeof err);
                if (nt == nullptr) {
                    problems.push_back("topic " + t->name + ": " + err);
                    continue;
                }
                rd_kafka_NewTopic_set_config(nt, "cleanup.policy", t->cleanup_policy.c_str());
                news.push_back(nt);
            }
            if (!news.empty()) {
                rd_kafka_AdminOptions_t* o = rd_kafka_AdminOptions_new(client, RD_KAFKA_ADMIN_OP_CREATETOPICS);
                rd_kafka_AdminOptions_set_operation_timeout(o, static_cast<int>(timeout.count()), err, sizeof err);
                rd_kafka_CreateTopics(client, news.data(), news.size(), o, q.get());
                event_ptr ev(rd_kafka_queue_poll(q.get(), static_cast<int>(timeout.count() + 1000)));
                if (!ev) {
                    problems.push_back("creating topics timed out; create them by hand or check the broker's ACLs");
                } else if (auto e = rd_kafka_event_error(ev.get())) {
                    problems.push_back(std::string("creating topics failed: ") + rd_kafka_err2str(e));
                } else if (const auto* res = rd_kafka_event_CreateTopics_result(ev.get())) {
                    size_t n = 0;
                    const rd_kafka_topic_result_t** rs = rd_kafka_CreateTopics_result_topics(res, &n);
                    for (size_t i = 0; i < n; ++i) {
                        auto e2 = rd_kafka_topic_result_error(rs[i]);
                        if (e2 && e2 != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                            problems.push_back(std::string("topic ") + rd_kafka_topic_result_name(rs[i]) + ": " +
                                               (rd_kafka_topic_result_error_string(rs[i]) ? rd_kafka_topic_result_error_string(rs[i]) : rd_kafka_err2str(e2)));
                    }
                }
                rd_kafka_AdminOptions_destroy(o);
                rd_kafka_NewTopic_destroy_array(news.data(), news.size());
            }
        }
    }
    return problems.empty() ? error_code{} : make_error_code(RD_KAFKA_RESP_ERR_INVALID_PARTITIONS);
}

}  // namespace rostersync::kafka
