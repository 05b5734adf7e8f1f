#pragma once
// File: sync/schedule.hpp
//
// When each context is synced (DESIGN.md section 1.3), as pure functions over a per-context
// record that the pipeline persists in `rostersync.contexts`. Time is passed in. Thread-safe (no
// shared state).
//
//   - a request (launch) for a context whose last pass *started* less than min_interval ago sets
//     `dirty`; when the interval is up exactly one trailing pass runs;
//   - every known context is re-synced every resync_interval; a pass that found no change backs
//     the context's interval off (×2 per unchanged pass, at most max_backoff × resync_interval);
//     any change resets it;
//   - next_due carries deterministic jitter (up to 10 % of the interval) from a hash of the
//     context key, so a term-start storm does not resync in lockstep;
//   - contexts not launched for retire_after are retired; a context answering 404 is parked (with
//     a reason) and not scheduled until a new launch or an operator unparks it;
//   - `force` asks for a pass now, but at most once per min_interval per context;
//   - due_order(): which due contexts go first — fresh (`requested`) before periodic
//     resyncs, except that periodic ones get at least `resync_share` of the picks; stalest first
//     within a class.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::sync {

using clock_time = std::chrono::system_clock::time_point;
using std::chrono::milliseconds;

struct schedule_params {
    milliseconds min_interval{std::chrono::minutes(10)};
    milliseconds resync_interval{std::chrono::hours(24)};
    milliseconds retire_after{std::chrono::hours(24 * 180)};
    int max_backoff = 4;                 ///< unchanged contexts wait at most 4 × resync_interval
    double resync_share = 0.2;
};

struct context_schedule {
    std::string context_key;             ///< "<issuer>|<context_id>"
    clock_time last_pass_start{};        ///< epoch: never
    clock_time last_forced{};
    clock_time last_seen{};              ///< last launch (CourseSeen)
    clock_time next_due{};
    bool dirty = false;                  ///< a request arrived during min_interval: one trailing pass
    bool requested = false;              ///< due because of a request (fresh), not a resync (periodic)
    bool running = false;                ///< a pass is in progress
    int unchanged_passes = 0;            ///< consecutive passes without a change (backoff)
    bool parked = false;
    std::string parked_reason;
    bool retired = false;
};

enum class request_outcome {
    due_now,      ///< next_due set to now: run as soon as the budget allows
    deferred,     ///< within min_interval (or a pass is running): dirty set, one trailing pass
    unparked,     ///< was parked; a new launch makes it due again
};

/// Deterministic jitter in [0, interval / 10) from the key (FNV-1a 64 of the key).
milliseconds jitter(std::string_view context_key, milliseconds interval);

/// A CourseSeen (or a force) arrived at `now`.
request_outcome on_request(context_schedule& s, clock_time now, bool force, const schedule_params& p);

/// A pass starts now.
void on_pass_started(context_schedule& s, clock_time now);

/// A complete pass ended; `changed`: it published at least one change.
void on_pass_finished(context_schedule& s, clock_time now, bool changed, const schedule_params& p);

/// A pass failed in a way a retry can cure (5xx, throttled, token): try again after `retry_in`.
void on_pass_failed(context_schedule& s, clock_time now, milliseconds retry_in);

/// The platform says the context is gone (404) or refuses the tool (configuration): park.
void park(context_schedule& s, std::string reason);

/// True (and marks it) when the context was not launched for retire_after.
bool retire_if_stale(context_schedule& s, clock_time now, const schedule_params& p);

/// Due (next_due <= now, not running, parked or retired) contexts, in the order to run them; at
/// most `limit`. `periodic_picked` / `total_picked` carry the share across calls.
std::vector<std::size_t> due_order(const std::vector<context_schedule>& all, clock_time now, std::size_t limit,
                                   double resync_share, long& periodic_picked, long& total_picked);

}  // namespace rostersync::sync
