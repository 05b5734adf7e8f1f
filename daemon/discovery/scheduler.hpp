#pragma once
// File: discovery/scheduler.hpp
//
// rostersyncd's account discovery: every [[discovery]] entry runs at start and then every
// `interval`, one entry at a time, through a discoverer that publishes CourseSeen events with a
// Kafka producer of its own (same bootstrap as the pipeline, embedded mode included). It keeps,
// per entry, what each course turned out to be: a course announced or found without the tool
// is not probed again for `recheck_after` (so the NRPS budget is not spent on the same answer
// every run, and an installed course is re-announced before sync.retire_after retires it);
// gone and failed courses are tried again next run. The memory lives in the process: a restart
// probes every course once more.
//
//     auto s = discovery::scheduler::create(ioc, cfg, engine, registry, pipeline->bootstrap());
//     if (!s) … s.error() names the entry and the fix (exit 78)
//     net::co_spawn(net::make_strand(ioc), (*s)->run(), tasks.adapt(on_done));
//
// Configuration is read once: a reload that changes [[discovery]] or a platform's rest_url /
// rest_token_file needs a restart (config::restart_only_changes says so); the token file itself
// is read at every run, so a rotated token is picked up without one.
//
// Threads: run() on a strand; the scheduler, the engine and the io_context outlive it.
// Cancellation (any type) ends run() after the current course.

#include "common/asio.hpp"
#include "common/error.hpp"
#include "config/config.hpp"
#include "discovery/discover.hpp"
#include "metrics/registry.hpp"
#include "nrps/fetcher.hpp"

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>

namespace rostersync::discovery {

struct scheduler_options {
    discoverer_options discover;
};

class scheduler {
public:
    /// Checks every entry (its platform, the REST token file) and creates the producer for
    /// kafka.topics.course_seen on `bootstrap`. Errors name the entry and what to fix.
    static result<std::unique_ptr<scheduler>, std::string> create(net::io_context& ioc, const config::config& cfg,
                                                                 nrps::engine& engine, metrics::registry& metrics,
                                                                 std::string bootstrap, scheduler_options opts = {});
    ~scheduler();
    scheduler(const scheduler&) = delete;
    scheduler& operator=(const scheduler&) = delete;

    /// Runs the entries until cancelled.
    awaitable<void> run();

private:
    scheduler() = default;
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rostersync::discovery
