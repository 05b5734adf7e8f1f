#pragma once
// File: kafka/consumer.hpp
//
// A consumer: in a group with cooperative-sticky assignment (a joining instance takes only its
// share; others keep theirs), or manually assigned from explicit offsets (restore, the state
// consumer). Polling is explicit; the pipeline runs it on a thread of its own and hands records to
// the Asio side. Rebalances are recorded as events the caller drains, so it can load or drop the
// state of the partitions it gains or loses.
//
// Threads: not thread-safe; one thread polls. close() (also from the destructor) leaves the
// group cleanly.

#include "common/error.hpp"
#include "kafka/handles.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rostersync::kafka {

struct topic_partition {
    std::string topic;
    std::int32_t partition = 0;
    auto operator<=>(const topic_partition&) const = default;
};

struct partition_offset {
    topic_partition tp;
    std::int64_t offset = 0;                   ///< or RD_KAFKA_OFFSET_BEGINNING / _END
};

struct rebalance_event {
    bool assigned = true;                      ///< false: revoked
    std::vector<topic_partition> partitions;
};

struct consumer_options {
    std::string bootstrap;
    std::string group_id;                      ///< required, also for manual assignment
    std::string client_id = "rostersync";
    std::vector<std::pair<std::string, std::string>> properties;
    std::chrono::milliseconds session_timeout{std::chrono::seconds(10)};
    /// librdkafka's statistics (STATISTICS.md), one JSON object per `statistics_interval`, on the
    /// thread that calls poll() (or close()); the view is valid only during the call. Empty: no
    /// statistics. See kafka::statistics_exporter. A `statistics.interval.ms` in `properties` wins
    /// over the interval.
    std::function<void(std::string_view json)> on_statistics;
    std::chrono::milliseconds statistics_interval{15000};
};

class consumer {
public:
    static result<std::unique_ptr<consumer>, std::string> create(const consumer_options& opts);
    ~consumer();
    consumer(const consumer&) = delete;
    consumer& operator=(const consumer&) = delete;

    error_code subscribe(const std::vector<std::string>& topics);
    /// Manual assignment, each partition from `offset` (RD_KAFKA_OFFSET_BEGINNING/END or a number).
    error_code assign(const std::vector<topic_partition>& partitions, std::int64_t offset);
    /// Replaces the manual assignment, each partition at its own offset.
    error_code assign(const std::vector<partition_offset>& partitions);
    /// Adds partitions to the manual assignment, each at its own offset; the partitions already
    /// assigned are not touched (rd_kafka_assign would stop and restart every one of them).
    error_code incremental_assign(const std::vector<partition_offset>& partitions);
    /// Moves the fetch position of assigned partitions (asynchronously; records fetched from the
    /// old position are discarded by librdkafka's version barrier, never returned by poll).
    error_code seek(const std::vector<partition_offset>& partitions);

    /// The next record, or nullptr when `timeout` passed. A record with an error (err != 0) is
    /// returned as the error; partition EOF is not an error and yields nullptr.
    result<message_ptr> poll(std::chrono::milliseconds timeout);

    /// Commits `next_offset` (the offset of the next record to read) synchronously.
    /// `async`: queue the commit and return (errors reach the log callback).
    error_code commit(const topic_partition& tp, std::int64_t next_offset, bool async = false);
    /// The committed offset of each partition (-1001 when none).
    result<std::vector<std::int64_t>> committed(const std::vector<topic_partition>& tps, std::chrono::milliseconds timeout);

    error_code pause(const std::vector<topic_partition>& tps);
    error_code resume(const std::vector<topic_partition>& tps);

    std::vector<topic_partition> assignment() const;
    /// Rebalances since the last call, oldest first.
    std::vector<rebalance_event> take_rebalances();

    void close();
    rd_kafka_t* native() const { return handle_.get(); }

private:
    consumer() = default;
    static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque);
    static int on_stats(rd_kafka_t* rk, char* json, std::size_t len, void* opaque);

    std::function<void(std::string_view)> on_statistics_;  // before handle_: outlives it
    handle_ptr handle_;
    bool closed_ = false;
    std::mutex mutex_;
    std::deque<rebalance_event> rebalances_;
};

}  // namespace rostersync::kafka
