#pragma once
// File: sync/pipeline.hpp
//
// The daemon's job, end to end (DESIGN.md section 1): CourseSeen in, membership changes out.
//
//   ingest    lti.course-seen (group "<group_id>.ingest") → validate → rostersync.sync-requests,
//             or the dead-letter topic with rostersync.error / rostersync.reason headers
//   own       rostersync.sync-requests (group "<group_id>", cooperative-sticky): the partitions
//             assigned here are the contexts this instance owns
//   restore   on assignment: load the memberships table and the contexts of the partition, then
//             replay lti.membership-changes from the partition's checkpoint
//   fold      the state consumer folds the change stream in log order: the only writer of state
//   schedule  next_due, dirty flag, resync share, backoff, retirement, parking (sync/schedule.hpp)
//   pass      fetch (nrps::engine) → wait until the fold passed the context's last acknowledged
//             change → diff (roster/diff.hpp) → publish → record the context
//   snapshot  periodically: changed table rows, then the checkpoint
//
// All of the pipeline's state lives on one strand; fetches run on strands of their own, Kafka
// calls that block run on a small thread pool. Offsets of the input topics are committed once
// what they caused is acknowledged by the broker.

#include "common/asio.hpp"
#include "common/error.hpp"
#include "config/config.hpp"
#include "metrics/registry.hpp"
#include "nrps/fetcher.hpp"
#include "sync/status.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace rostersync::sync {

struct pipeline_options {
    std::chrono::milliseconds tick{500};                  ///< scheduler and commit cadence
    std::chrono::milliseconds kafka_timeout{std::chrono::seconds(10)};
    std::chrono::milliseconds restore_timeout{std::chrono::minutes(10)};
    std::chrono::milliseconds caught_up_timeout{std::chrono::minutes(2)};
    std::chrono::milliseconds metadata_interval{std::chrono::seconds(60)};
};

struct admin_reply {
    unsigned status = 200;
    std::string body;  ///< JSON
};

struct start_error {
    bool configuration = false;  ///< true: the configuration or the topics must change (exit 78)
    std::string message;
};

[[noreturn]] void throw_exception_from_error(const start_error& e, const boost::source_location& loc);

class pipeline {
public:
    /// Connects to Kafka (or starts the embedded cluster), checks or creates the topics, and
    /// creates the clients. Errors say what is wrong and how to fix it.
    static result<std::unique_ptr<pipeline>, start_error> create(net::io_context& ioc, const config::config& cfg,
                                                                 nrps::engine& engine, metrics::registry& metrics,
                                                                 pipeline_options opts = {});
    ~pipeline();
    pipeline(const pipeline&) = delete;
    pipeline& operator=(const pipeline&) = delete;

    /// Runs until cancelled (any cancellation type): then abandons running passes (they are
    /// redone), writes a last snapshot, commits and leaves the consumer groups.
    awaitable<void> run();

    /// Empty when ready; otherwise why not (for /readyz).
    std::string not_ready_reason() const;
    /// The first of the pipeline's loops (ingest, requests, state, housekeeping, the producer's
    /// poll thread) that made no progress for `max_age`; empty when all did (the watchdog pings
    /// only then).
    std::string stalled(std::chrono::milliseconds max_age) const;
    /// True when the pipeline stopped on an error the process cannot recover from in place (a
    /// failed transaction): the daemon exits non-zero so that it is restarted.
    bool failed() const;
    /// The Kafka bootstrap address in use ("embedded": the in-process cluster's).
    std::string bootstrap() const;

    /// SIGHUP: platforms and sync parameters for requests and passes from now on.
    void update(const config::config& cfg);

    // The admin API (runs on the pipeline's strand).
    awaitable<admin_reply> context_status(std::string context_key);
    awaitable<admin_reply> resync(std::string context_key);
    awaitable<admin_reply> release(std::string context_key, std::string platform);
    awaitable<admin_reply> list(std::string filter);  ///< "held", "parked" or "" (all, capped)
    /// For the status page (runs on the pipeline's strand, like the admin API): at most `max_rows`
    /// passes, held and parked contexts each; every owned partition; the last pass errors.
    awaitable<status_report> status(std::size_t max_rows);

private:
    pipeline() = default;
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace rostersync::sync
