#pragma once
// File: kafka/producer.hpp
//
// The producer: idempotent, acks=all, every record to an explicit partition (computed with
// kafka::partition_for from the context key), CloudEvents headers, and delivery reports as values.
//
//     auto p = kafka::producer::create({.bootstrap = cluster->bootstrap()});
//     auto d = co_await (*p)->publish({.topic = "lti.membership-changes", .partition = part,
//                                      .key = key, .value = json, .headers = ce_headers});
//     if (d.ec) …   // d.possibly_persisted: the record may still be in the log (DESIGN 1.6)
//
// Threads: a background thread serves librdkafka (rd_kafka_poll); publish() may be called from
// coroutines on any executor (the report is delivered through the caller's executor). Destroying
// the producer flushes for up to `close_timeout`, then gives up (undelivered records are
// reported as failed).

#include "common/asio.hpp"
#include "common/error.hpp"
#include "kafka/handles.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace rostersync::kafka {

struct record {
    std::string topic;
    std::int32_t partition = 0;
    std::string key;
    std::string value;
    bool tombstone = false;  ///< a null value (compacted tables: removal)
    std::vector<std::pair<std::string, std::string>> headers;
};

struct delivery {
    error_code ec;
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    bool possibly_persisted = false;  ///< on error: the broker may have written it anyway
};

struct producer_options {
    std::string bootstrap;
    std::string client_id = "rostersync";
    std::vector<std::pair<std::string, std::string>> properties;  ///< [kafka.properties], as is
    std::chrono::milliseconds message_timeout{std::chrono::seconds(30)};
    std::chrono::milliseconds close_timeout{std::chrono::seconds(10)};
    /// librdkafka's statistics (STATISTICS.md), one JSON object per `statistics_interval`, on the
    /// producer's poll thread; the view is valid only during the call. Empty: no statistics. See
    /// kafka::statistics_exporter. A `statistics.interval.ms` in `properties` wins over the interval.
    std::function<void(std::string_view json)> on_statistics;
    std::chrono::milliseconds statistics_interval{15000};
    /// librdkafka's error events (e.g. every broker down), on the producer's poll thread.
    std::function<void(error_code ec, std::string_view reason)> on_error;
};

/// The outcome of a transaction call, classified as librdkafka classifies it.
struct txn_result {
    error_code ec;
    bool retriable = false;       ///< try the same call again
    bool abortable = false;       ///< abort the transaction, then begin a new one
    bool fatal = false;           ///< the producer is unusable (fenced: another instance took over)
    std::string message;
    explicit operator bool() const { return !ec; }
};

class consumer;
struct partition_offset;

class producer {
public:
    /// The error names the property librdkafka refused, or why the handle could not be made.
    static result<std::unique_ptr<producer>, std::string> create(const producer_options& opts);
    ~producer();
    producer(const producer&) = delete;
    producer& operator=(const producer&) = delete;

    /// Enqueues; `done` runs on the producer's thread when the record is acknowledged or failed.
    error_code send(record r, std::function<void(const delivery&)> done);

    // Transactions (exactly-once mode; `transactional.id` set through the properties). Blocking,
    // each bounded by its timeout; call them from one thread at a time, with no send() running
    // concurrently with commit or abort.
    txn_result init_transactions(std::chrono::milliseconds timeout);
    txn_result begin_transaction();
    /// Adds the consumer's offsets (next offsets to read) with its group metadata (KIP-447).
    txn_result send_offsets(consumer& c, const std::vector<partition_offset>& offsets,
                            std::chrono::milliseconds timeout);
    txn_result commit_transaction(std::chrono::milliseconds timeout);
    txn_result abort_transaction(std::chrono::milliseconds timeout);

    /// Enqueues and waits for the delivery report.
    awaitable<delivery> publish(record r);

    /// Waits until every enqueued record is reported (or the timeout passes).
    error_code flush(std::chrono::milliseconds timeout);

    rd_kafka_t* native() const { return handle_.get(); }

private:
    producer() = default;
    static int on_stats(rd_kafka_t* rk, char* json, std::size_t len, void* opaque);
    static void on_error_event(rd_kafka_t* rk, int err, const char* reason, void* opaque);
    std::function<void(error_code, std::string_view)> on_error_;

    std::function<void(std::string_view)> on_statistics_;  // before handle_: outlives it
    handle_ptr handle_;
    std::atomic<bool> stop_{false};
    std::thread poller_;
    std::atomic<std::chrono::steady_clock::rep> last_poll_{std::chrono::steady_clock::now().time_since_epoch().count()};

public:
    /// When the poll thread (delivery reports) last made progress, for the watchdog.
    std::chrono::steady_clock::time_point last_poll() const
    {
        return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_poll_.load(std::memory_order_relaxed)));
    }
    std::chrono::milliseconds close_timeout_{};
};

}  // namespace rostersync::kafka
