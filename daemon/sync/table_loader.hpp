#pragma once
// File: sync/table_loader.hpp
//
// Restores read the tables a partition's state starts from (rostersync.memberships,
// rostersync.contexts, rostersync.checkpoints) to their ends, then replay the change stream from
// the checkpoint to the end it had when the load started (the pipeline's state consumer folds
// what comes after).
// A few loader threads, each with one consumer, serve every partition being restored: a
// rebalance that hands an instance 48 partitions creates 4 librdkafka clients, not 48 (creating,
// finding the coordinator and closing a client costs 0.7-1 s against the mock cluster, whatever
// the partition's size; benchmarks/README.md, restart). More than one, because a consumer has
// one fetch in flight per broker, and the mock cluster returns one producer batch per partition
// per fetch.
//
// Rows and changes are decoded straight into the compact partition_state (roster::member_table)
// on the loader thread, one record at a time: a restore holds the state plus one record, not a
// decoded copy of the whole table, and the replay runs on four consumers instead of one.
//
//     table_loader loader({.bootstrap = b, .kafka = cfg.kafka, .properties = props});
//     loader.load(p, progress, timeout, [](loaded_partition l) { /* on the loader thread */ });
//
// The consumer is made when the first load arrives and closed once no load is left (after a
// short linger, should a burst still be arriving). A load whose topics the consumer still has
// assigned (the same partition again before the consumer closed) waits for the close. Finished
// partitions are paused, never unassigned: librdkafka 2.0.2 can abort when partitions stop while
// others start (see pipeline.cpp, start_folding).
//
// Thread-safe: load() and the destructor from any thread; `done` runs on the loader thread.

#include "config/config.hpp"
#include "kafka/admin.hpp"
#include "sync/records.hpp"
#include "sync/state.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace rostersync::sync {

/// How far a partition's restore read its table, contexts and checkpoint (offsets past each
/// topic's start, summed); written by the loader, read by the status page. `abandon` (set by the
/// owner when the partition is revoked) makes the loader drop the load.
struct restore_progress {
    std::atomic<std::int64_t> done{0};
    std::atomic<std::int64_t> total{0};
    std::atomic<bool> abandon{false};
};

/// A partition's tables, loaded: the state before the replay of the change stream.
struct loaded_partition {
    partition_state state;                   ///< the table's rows, then the replayed changes
    std::vector<context_record> contexts;
    std::optional<checkpoint> cp;
    kafka::watermarks changes;               ///< of the change stream's partition, at the start
    std::size_t table_memberships = 0;       ///< memberships the table held, before the replay
    std::int64_t replay_from = 0;            ///< the checkpoint (or the log's start): replayed from here
    bool checkpoint_before_log_start = false;  ///< the checkpoint was older: replayed from the log's start
    long invalid = 0;                        ///< table records that did not decode (skipped)
    long invalid_changes = 0;                ///< change records that did not decode (skipped)
    std::pair<std::int64_t, std::string> first_invalid_change;  ///< its offset and problem
    std::string error;                       ///< non-empty: the load failed (retry it)
};

class table_loader {
public:
    struct options {
        std::string bootstrap;
        config::kafka_config kafka;                                  ///< group id, topic names
        std::vector<std::pair<std::string, std::string>> properties;  ///< the consumer's
        std::chrono::milliseconds linger{1000};  ///< keep an idle consumer this long
        int threads = 4;  ///< loader threads, each with its consumer; partition p goes to p % threads
    };

    explicit table_loader(options o);
    ~table_loader();  ///< fails the loads in progress ("stopping") and joins the thread
    table_loader(const table_loader&) = delete;
    table_loader& operator=(const table_loader&) = delete;

    /// Loads partition `p` (of every table topic); `done` gets the result on the loader thread,
    /// exactly once (with an error after `timeout`, when abandoned, or when stopping).
    void load(std::int32_t p, std::shared_ptr<restore_progress> progress, std::chrono::milliseconds timeout,
              std::function<void(loaded_partition)> done);

    /// Fails every load and stops the thread; idempotent.
    void stop();

private:
    struct job;
    struct reader;
    struct worker {
        std::mutex mutex;
        std::condition_variable cv;
        std::deque<std::unique_ptr<job>> submitted;
        bool stop = false;
        std::thread thread;
    };
    void run(worker& w);

    options opts_;
    std::vector<std::unique_ptr<worker>> workers_;
};

}  // namespace rostersync::sync
