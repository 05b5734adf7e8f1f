#pragma once
// File: kafka/admin.hpp
//
// The topics the daemon writes (DESIGN.md section 2): created when missing, with the right
// partition count and cleanup policy, and checked at start — a wrong partition count is refused
// with a message that says how to fix it (partitions move contexts between instances, so the
// daemon never "repairs" it). Against the embedded cluster, topics are created through the
// mock's own API (it has no CreateTopics).

#include "common/error.hpp"
#include "kafka/embedded.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rostersync::kafka {

struct topic_spec {
    std::string name;
    int partitions = 12;
    int replication_factor = 3;
    std::string cleanup_policy = "delete";  ///< "delete" or "compact"
};

/// How many partitions a topic has (0: it does not exist), from the cluster's metadata.
struct watermarks {
    std::int64_t low = 0;   ///< the first offset still in the log
    std::int64_t high = 0;  ///< the next offset to be written
};

/// Asks the partition's leader (blocking, bounded by `timeout`).
result<watermarks> query_watermarks(rd_kafka_t* client, const std::string& topic, std::int32_t partition,
                                    std::chrono::milliseconds timeout);

/// The watermarks of many partitions, in their order: two ListOffsets requests to each leader
/// instead of two for every partition. Any partition's error fails the whole query.
result<std::vector<watermarks>> query_watermarks(rd_kafka_t* client,
                                                 const std::vector<std::pair<std::string, std::int32_t>>& partitions,
                                                 std::chrono::milliseconds timeout);

result<int> partition_count(rd_kafka_t* client, const std::string& topic, std::chrono::milliseconds timeout);

/// Creates missing topics and checks the partition counts of existing ones. `problems` gets one
/// line per topic that is wrong, naming the fix; the result is an error when any is wrong.
/// `embedded` non-null: create through the mock.
error_code ensure_topics(rd_kafka_t* client, const std::vector<topic_spec>& topics, embedded_cluster* embedded,
                         std::vector<std::string>& problems, std::chrono::milliseconds timeout);

}  // namespace rostersync::kafka
