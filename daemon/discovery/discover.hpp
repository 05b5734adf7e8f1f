#pragma once
// File: discovery/discover.hpp
//
// One account discovery, end to end: list the account's courses (the courses API, the
// provisioning report, or a CSV the operator exported), keep those that pass the filters, learn
// each course's LTI context from the first page of its NRPS roster (one member per page: a
// probe), and announce every course where the tool is installed as a CourseSeen on the
// course-seen topic (keyed and partitioned by the context key, as `rostersync seen` does), so the
// pipeline schedules its sync before anyone launches. Rosters themselves stay on NRPS.
//
//     discoverer d(ex, cfg, engine, &registry);
//     d.set_publisher(&producer, cfg.kafka.topics.course_seen, partitions);
//     auto s = co_await d.run({.platform = "school", .account = "1"});
//     // s.published, s.not_installed, s.gone, s.failed; s.ec when the run stopped early
//
// Outcomes per course: `published` (the tool is installed: CourseSeen sent), `not_installed`
// (NRPS answers 401 "Access Token not linked to a Tool associated with this Context", or
// "Invalid Developer Key" where the account turned the key off: parked here, never an error,
// probed again after recheck_after), `gone` (404: deleted since it was listed), `failed` (a
// retryable error; tried again next run), `skipped` (remembered from an earlier run). A probe
// refused for the whole platform (the NRPS scope missing, the token endpoint refusing the key)
// stops the run with errc::platform, and so do `max_consecutive_failures` failures in a row: no
// error storm. Probes go through the platform's NRPS budget (periodic priority, at most
// `probes_in_flight` at once); REST calls through its REST budget (discovery/rest_client.hpp).
//
// Threads: run() on one strand (or a single-threaded io_context); the discoverer, the engine and
// the producer must outlive it. Cancellation ends the run with errc::cancelled and what it did.

#include "common/asio.hpp"
#include "common/error.hpp"
#include "config/config.hpp"
#include "discovery/canvas.hpp"
#include "discovery/rest_client.hpp"
#include "http/client.hpp"
#include "metrics/registry.hpp"
#include "nrps/fetcher.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::kafka {
class producer;
}

namespace rostersync::discovery {

enum class outcome { published, not_installed, gone, failed, skipped };
std::string_view to_string(outcome o);

/// One course's result.
struct course_report {
    course c;
    outcome result = outcome::failed;
    std::string context_id;   ///< the LTI context id (published)
    std::string detail;       ///< why (not installed, gone, failed): the platform's words
};

enum class source { list, report, csv };

struct progress {
    std::string phase;        ///< "listing", "report", "probing", "done"
    int pages = 0;            ///< REST pages read
    std::string report_status;
    int report_progress = 0;
    std::size_t listed = 0;   ///< courses that pass the filters
    std::size_t probed = 0;
    std::size_t published = 0, not_installed = 0, gone = 0, failed = 0, skipped = 0;
};

struct discover_request {
    std::string platform;
    std::string account;                     ///< Canvas account id or "sis_account_id:…" (csv: may be empty)
    filters f;
    source from = source::list;
    std::string csv;                         ///< source::csv: the file's content
    bool dry_run = false;                    ///< probe, but publish nothing
    std::function<bool(const course&)> skip; ///< true: known from an earlier run, not probed now
    std::function<void(const progress&)> on_progress;
};

struct discover_summary {
    progress counts;                         ///< final counts
    std::vector<course_report> courses;      ///< every course that passed the filters, in listed order
    error_code ec;                           ///< set when the run stopped early
    std::string detail;                      ///< with ec: what happened and what to do
    bool ok() const { return !ec; }
};

/// Decides a failed probe: not_installed, gone, failed — or stop the run (errc::platform,
/// errc::cancelled). Pure.
struct probe_verdict {
    outcome result = outcome::failed;
    error_code stop;                         ///< set: the whole run stops
};
probe_verdict classify_probe(const nrps::fetch_error& e);

/// The CourseSeen JSON of a discovered course (DESIGN.md section 2): issuer, client_id, context
/// {id, label, title}, context_memberships_url, seen_at, force false, no launch user. Pure.
std::string encode_course_seen(const config::platform& p, const nrps::context_info& ctx, std::string_view memberships_url,
                               std::string_view seen_at);

struct discoverer_options {
    rest_options rest;
    int probes_in_flight = 4;
    int max_consecutive_failures = 25;
    http::client_options http{.request_timeout = std::chrono::minutes(10),
                              .max_response_bytes = 256 * 1024 * 1024};  ///< report files are large (buffered)
};

class discoverer {
public:
    discoverer(net::any_io_executor ex, const config::config& cfg, nrps::engine& engine,
               metrics::registry* metrics = nullptr, discoverer_options opts = {});
    ~discoverer();
    discoverer(const discoverer&) = delete;
    discoverer& operator=(const discoverer&) = delete;

    /// Where CourseSeen events go; none (or dry_run) publishes nothing.
    void set_publisher(kafka::producer* producer, std::string topic, int partitions);

    awaitable<discover_summary> run(discover_request req);

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace rostersync::discovery
