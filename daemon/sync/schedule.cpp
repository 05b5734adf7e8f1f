// File: sync/schedule.cpp
//
// Per-context scheduling arithmetic (see schedule.hpp and DESIGN.md section 1.3). Pure functions:
// time is passed in, nothing is shared. Time arithmetic saturates instead of overflowing, so an
// absurd configuration (a resync interval of centuries) gives a far-future next_due, not UB.

#include "sync/schedule.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

namespace rostersync::sync {
namespace {

constexpr clock_time epoch{};
constexpr int max_unchanged_passes = 30;

using tp_duration = clock_time::duration;
using rep = tp_duration::rep;

/// a × b, saturated to the range of std::int64_t.
std::int64_t mul_sat(std::int64_t a, std::int64_t b)
{
    std::int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) {
        return ((a < 0) != (b < 0)) ? std::numeric_limits<std::int64_t>::min()
                                    : std::numeric_limits<std::int64_t>::max();
    }
    return r;
}

/// t + d, saturated to the range of clock_time.
clock_time add_sat(clock_time t, milliseconds d)
{
    constexpr rep per_ms = std::chrono::duration_cast<tp_duration>(milliseconds(1)).count();
    const rep delta = mul_sat(d.count(), per_ms);
    rep r = 0;
    if (__builtin_add_overflow(t.time_since_epoch().count(), delta, &r)) {
        r = delta < 0 ? std::numeric_limits<rep>::min() : std::numeric_limits<rep>::max();
    }
    return clock_time(tp_duration(r));
}

/// now - since >= interval, without overflowing on extreme time points.
bool elapsed_at_least(clock_time now, clock_time since, milliseconds interval)
{
    return now >= add_sat(since, interval);
}

std::uint64_t fnv1a64(std::string_view bytes)
{
    std::uint64_t h = 14695981039346656037ULL;
    for (const char c : bytes) {
        h ^= static_cast<std::uint64_t>(static_cast<unsigned char>(c));
        h *= 1099511628211ULL;
    }
    return h;
}

}  // namespace

milliseconds jitter(std::string_view context_key, milliseconds interval)
{
    if (interval < milliseconds(10)) {
        return milliseconds(0);
    }
    const auto span = static_cast<std::uint64_t>(interval.count() / 10);  // >= 1 here
    return milliseconds(static_cast<milliseconds::rep>(fnv1a64(context_key) % span));
}

request_outcome on_request(
    context_schedule& s, clock_time now, bool force, const schedule_params& p
)
{
    s.last_seen = now;
    s.retired = false;

    if (s.parked) {
        s.parked = false;
        s.parked_reason.clear();
        s.requested = true;
        s.next_due = now;
        return request_outcome::unparked;
    }

    if (s.running) {
        s.dirty = true;
        return request_outcome::deferred;
    }

    if (force && (s.last_forced == epoch || elapsed_at_least(now, s.last_forced, p.min_interval))) {
        s.last_forced = now;
        s.requested = true;
        s.next_due = now;
        return request_outcome::due_now;
    }

    // A normal request (or a force refused because one was honoured within min_interval).
    if (s.last_pass_start == epoch || elapsed_at_least(now, s.last_pass_start, p.min_interval)) {
        s.requested = true;
        s.next_due = (s.next_due == epoch) ? now : std::min(s.next_due, now);
        return request_outcome::due_now;
    }

    s.dirty = true;
    s.requested = true;
    s.next_due = add_sat(s.last_pass_start, p.min_interval);
    return request_outcome::deferred;
}

void on_pass_started(context_schedule& s, clock_time now)
{
    s.running = true;
    s.last_pass_start = now;
    s.dirty = false;
    s.requested = false;
}

void on_pass_finished(context_schedule& s, clock_time now, bool changed, const schedule_params& p)
{
    s.running = false;
    s.unchanged_passes = changed ? 0 : std::min(s.unchanged_passes + 1, max_unchanged_passes);
    // A negative count (corrupt persisted record) must not become a negative shift below.
    s.unchanged_passes = std::max(s.unchanged_passes, 0);

    if (s.dirty) {
        // A request arrived during the pass: exactly one trailing pass when min_interval is up.
        s.requested = true;
        s.dirty = false;
        s.next_due = std::max(now, add_sat(s.last_pass_start, p.min_interval));
        return;
    }

    const std::int64_t doubling = std::int64_t{1} << s.unchanged_passes;  // <= 2^30
    // max_backoff < 1 is a configuration error; treat it as 1 (no backoff) rather than as 0.
    const std::int64_t factor = std::min<std::int64_t>(doubling, std::max(p.max_backoff, 1));
    const milliseconds interval(mul_sat(p.resync_interval.count(), factor));
    s.next_due = add_sat(add_sat(s.last_pass_start, interval), jitter(s.context_key, interval));
}

void on_pass_failed(context_schedule& s, clock_time now, milliseconds retry_in)
{
    s.running = false;
    s.next_due = add_sat(now, retry_in);
}

void park(context_schedule& s, std::string reason)
{
    s.parked = true;
    s.parked_reason = std::move(reason);
    s.running = false;
    s.dirty = false;
    s.requested = false;
}

bool retire_if_stale(context_schedule& s, clock_time now, const schedule_params& p)
{
    if (!s.retired && s.last_seen != epoch && elapsed_at_least(now, s.last_seen, p.retire_after)) {
        s.retired = true;
        return true;
    }
    return false;
}

std::vector<std::size_t> due_order(
    const std::vector<context_schedule>& all,
    clock_time now,
    std::size_t limit,
    double resync_share,
    long& periodic_picked,
    long& total_picked
)
{
    std::vector<std::size_t> fresh;
    std::vector<std::size_t> periodic;
    for (std::size_t i = 0; i < all.size(); ++i) {
        const context_schedule& s = all[i];
        if (s.running || s.parked || s.retired || s.next_due > now) {
            continue;
        }
        (s.requested ? fresh : periodic).push_back(i);
    }

    const auto stalest_first = [&all](std::size_t a, std::size_t b) {
        const context_schedule& x = all[a];
        const context_schedule& y = all[b];
        if (x.next_due != y.next_due) {
            return x.next_due < y.next_due;
        }
        if (x.context_key != y.context_key) {
            return x.context_key < y.context_key;
        }
        return a < b;
    };
    std::sort(fresh.begin(), fresh.end(), stalest_first);
    std::sort(periodic.begin(), periodic.end(), stalest_first);

    std::vector<std::size_t> out;
    out.reserve(std::min(limit, fresh.size() + periodic.size()));
    std::size_t fi = 0;
    std::size_t pi = 0;
    while (out.size() < limit && (fi < fresh.size() || pi < periodic.size())) {
        bool take_periodic = false;
        if (fi == fresh.size()) {
            take_periodic = true;
        } else if (pi == periodic.size()) {
            take_periodic = false;
        } else if (total_picked == 0) {
            take_periodic = resync_share > 0;
        } else {
            take_periodic = static_cast<double>(periodic_picked) <
                            resync_share * static_cast<double>(total_picked);
        }

        if (take_periodic) {
            out.push_back(periodic[pi++]);
            ++periodic_picked;
        } else {
            out.push_back(fresh[fi++]);
        }
        ++total_picked;
    }
    return out;
}

}  // namespace rostersync::sync
