#include "sync/schedule.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace rostersync::sync {
namespace {

using namespace std::chrono_literals;

// 2026-11-27T10:00:00Z, a fixed point far from the epoch ("never").
const clock_time t0 = clock_time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 27)) + 10h;

const std::string key = "https://canvas.example|course-1";

context_schedule make(std::string k = key)
{
    context_schedule s;
    s.context_key = std::move(k);
    return s;
}

schedule_params params()
{
    return schedule_params{};  // 10 min, 24 h, 180 d, backoff 4, share 0.2
}

// Drives one context minute by minute from `from` to `to`: requests are injected at the given
// times, due_order() picks, a pass lasts `pass_len` and finishes unchanged. Returns pass starts.
std::vector<clock_time> simulate(
    context_schedule& s,
    clock_time from,
    clock_time to,
    const std::multiset<clock_time>& requests,
    std::chrono::minutes pass_len,
    const schedule_params& p
)
{
    std::vector<clock_time> starts;
    clock_time finish_at{};
    long periodic = 0;
    long total = 0;
    for (clock_time now = from; now <= to; now += 1min) {
        if (s.running && now >= finish_at) {
            on_pass_finished(s, now, false, p);
        }
        for (auto it = requests.lower_bound(now); it != requests.end() && *it == now; ++it) {
            on_request(s, now, false, p);
        }
        std::vector<context_schedule> all{s};
        if (!due_order(all, now, 4, p.resync_share, periodic, total).empty()) {
            on_pass_started(s, now);
            starts.push_back(now);
            finish_at = now + pass_len;
        }
    }
    return starts;
}

// ---------------------------------------------------------------------------------------------
// jitter

TEST(ScheduleJitter, IsDeterministic)
{
    EXPECT_EQ(jitter(key, 24h), jitter(key, 24h));
    EXPECT_EQ(jitter(std::string(key), 24h), jitter(std::string_view(key), 24h));
}

TEST(ScheduleJitter, MatchesFnv1a64OfTheKey)
{
    // FNV-1a 64("a") = 0xaf63dc4c8601ec8c; % 100 = 96.
    EXPECT_EQ(jitter("a", 1000ms), 96ms);
    // FNV-1a 64("") is the offset basis 0xcbf29ce484222325.
    EXPECT_EQ(
        jitter("", milliseconds(10 * 1000003)), milliseconds(0xcbf29ce484222325ULL % 1000003)
    );
    EXPECT_EQ(jitter(key, 24h), 7712469ms);
}

TEST(ScheduleJitter, IsBelowTenPercentOfTheInterval)
{
    const std::vector<milliseconds> intervals{10ms, 11ms, 99ms, 100ms, 1s, 10min, 24h, 96h};
    for (int i = 0; i < 500; ++i) {
        const std::string k = "https://lms.example|ctx-" + std::to_string(i);
        for (const milliseconds iv : intervals) {
            const milliseconds j = jitter(k, iv);
            EXPECT_GE(j, 0ms) << k;
            EXPECT_LT(j, std::max(iv / 10, 1ms)) << k;
        }
    }
}

TEST(ScheduleJitter, DiffersAcrossKeys)
{
    std::set<milliseconds> seen;
    for (int i = 0; i < 100; ++i) {
        seen.insert(jitter("https://lms.example|ctx-" + std::to_string(i), 24h));
    }
    EXPECT_GT(seen.size(), 95u);
    EXPECT_NE(jitter("https://lms.example|a", 24h), jitter("https://lms.example|b", 24h));
}

TEST(ScheduleJitter, IsZeroForTinyIntervals)
{
    EXPECT_EQ(jitter(key, 0ms), 0ms);
    EXPECT_EQ(jitter(key, 1ms), 0ms);
    EXPECT_EQ(jitter(key, 9ms), 0ms);
    EXPECT_EQ(jitter(key, -5s), 0ms);
    EXPECT_EQ(jitter(key, 10ms), 0ms);  // interval / 10 == 1 ms: the only value is 0
    EXPECT_EQ(jitter(key, 19ms), 0ms);
}

// ---------------------------------------------------------------------------------------------
// requests

TEST(ScheduleRequest, FirstRequestIsDueNow)
{
    auto s = make();
    EXPECT_EQ(on_request(s, t0, false, params()), request_outcome::due_now);
    EXPECT_EQ(s.next_due, t0);
    EXPECT_TRUE(s.requested);
    EXPECT_FALSE(s.dirty);
    EXPECT_EQ(s.last_seen, t0);
}

TEST(ScheduleRequest, OverduePeriodicKeepsItsEarlierNextDue)
{
    auto s = make();
    s.last_pass_start = t0 - 48h;
    s.next_due = t0 - 3h;
    EXPECT_EQ(on_request(s, t0, false, params()), request_outcome::due_now);
    EXPECT_EQ(s.next_due, t0 - 3h);
    EXPECT_TRUE(s.requested);
}

TEST(ScheduleRequest, DueNowOnceMinIntervalHasPassedSinceTheLastStart)
{
    auto s = make();
    s.last_pass_start = t0;
    s.next_due = t0 + 24h;
    EXPECT_EQ(on_request(s, t0 + 10min, false, params()), request_outcome::due_now);
    EXPECT_EQ(s.next_due, t0 + 10min);
    EXPECT_FALSE(s.dirty);
}

TEST(ScheduleRequest, InsideMinIntervalIsDeferredToTheIntervalEnd)
{
    auto s = make();
    on_request(s, t0, false, params());
    on_pass_started(s, t0);
    on_pass_finished(s, t0 + 1min, true, params());
    ASSERT_EQ(s.next_due, t0 + 24h + jitter(key, 24h));

    EXPECT_EQ(on_request(s, t0 + 3min, false, params()), request_outcome::deferred);
    EXPECT_TRUE(s.dirty);
    EXPECT_TRUE(s.requested);
    EXPECT_EQ(s.next_due, t0 + 10min);
    EXPECT_EQ(s.last_seen, t0 + 3min);

    // More requests inside the interval change nothing.
    EXPECT_EQ(on_request(s, t0 + 5min, false, params()), request_outcome::deferred);
    EXPECT_EQ(on_request(s, t0 + 9min, false, params()), request_outcome::deferred);
    EXPECT_EQ(s.next_due, t0 + 10min);
    EXPECT_EQ(s.last_seen, t0 + 9min);

    std::vector<context_schedule> all{s};
    long periodic = 0;
    long total = 0;
    EXPECT_TRUE(due_order(all, t0 + 9min, 10, 0.2, periodic, total).empty());
    EXPECT_EQ(due_order(all, t0 + 10min, 10, 0.2, periodic, total), std::vector<std::size_t>{0});
}

TEST(ScheduleRequest, RequestsInsideMinIntervalCauseExactlyOneTrailingPass)
{
    auto s = make();
    // Launch at t0 (pass), three more launches inside the interval, passes take 2 minutes.
    const std::multiset<clock_time> requests{t0, t0 + 3min, t0 + 5min, t0 + 9min};
    const auto starts = simulate(s, t0, t0 + 12h, requests, 2min, params());
    EXPECT_EQ(starts, (std::vector<clock_time>{t0, t0 + 10min}));
    EXPECT_FALSE(s.dirty);
    EXPECT_FALSE(s.requested);
    EXPECT_EQ(s.unchanged_passes, 2);  // both passes unchanged
    EXPECT_EQ(s.next_due, t0 + 10min + 96h + jitter(key, 96h));
}

TEST(ScheduleRequest, DuringARunningPassSetsDirtyAndTrailsAtLastStartPlusMinInterval)
{
    auto s = make();
    on_request(s, t0, false, params());
    on_pass_started(s, t0);
    EXPECT_TRUE(s.running);
    EXPECT_FALSE(s.requested);

    EXPECT_EQ(on_request(s, t0 + 1min, false, params()), request_outcome::deferred);
    EXPECT_EQ(on_request(s, t0 + 2min, true, params()), request_outcome::deferred);  // force too
    EXPECT_TRUE(s.dirty);
    EXPECT_TRUE(s.running);

    on_pass_finished(s, t0 + 4min, false, params());
    EXPECT_FALSE(s.running);
    EXPECT_FALSE(s.dirty);
    EXPECT_TRUE(s.requested);
    EXPECT_EQ(s.next_due, t0 + 10min);
    EXPECT_EQ(s.unchanged_passes, 1);
}

TEST(ScheduleRequest, DirtyPassFinishingAfterMinIntervalIsDueAtFinish)
{
    auto s = make();
    on_pass_started(s, t0);
    on_request(s, t0 + 1min, false, params());
    on_pass_finished(s, t0 + 25min, true, params());
    EXPECT_EQ(s.next_due, t0 + 25min);
    EXPECT_TRUE(s.requested);
    EXPECT_EQ(s.unchanged_passes, 0);
}

TEST(ScheduleRequest, DuringARunningPassOnlyOneTrailingPass)
{
    auto s = make();
    // Pass from t0 to t0 + 20min; requests at +1, +5 and +15 during it.
    const std::multiset<clock_time> requests{t0, t0 + 1min, t0 + 5min, t0 + 15min};
    const auto starts = simulate(s, t0, t0 + 6h, requests, 20min, params());
    EXPECT_EQ(starts, (std::vector<clock_time>{t0, t0 + 20min}));
}

// ---------------------------------------------------------------------------------------------
// force

TEST(ScheduleForce, HonouredOncePerMinInterval)
{
    const auto p = params();
    auto s = make();
    on_pass_started(s, t0);
    on_pass_finished(s, t0 + 1min, true, p);

    // Never forced: honoured although the last pass started 2 minutes ago.
    EXPECT_EQ(on_request(s, t0 + 2min, true, p), request_outcome::due_now);
    EXPECT_EQ(s.last_forced, t0 + 2min);
    EXPECT_EQ(s.next_due, t0 + 2min);
    EXPECT_TRUE(s.requested);
    on_pass_started(s, t0 + 2min);
    on_pass_finished(s, t0 + 3min, true, p);

    // A second force 4 minutes later is a normal request: deferred to last start + min_interval.
    EXPECT_EQ(on_request(s, t0 + 6min, true, p), request_outcome::deferred);
    EXPECT_EQ(s.last_forced, t0 + 2min);
    EXPECT_EQ(s.next_due, t0 + 12min);
    EXPECT_TRUE(s.dirty);

    // min_interval after the honoured force, a force is honoured again.
    EXPECT_EQ(on_request(s, t0 + 12min, true, p), request_outcome::due_now);
    EXPECT_EQ(s.last_forced, t0 + 12min);
    EXPECT_EQ(s.next_due, t0 + 12min);
}

TEST(ScheduleForce, RefusedForceOutsideMinIntervalOfLastStartIsDueNow)
{
    const auto p = params();
    auto s = make();
    s.last_forced = t0;
    s.last_pass_start = t0 - 1h;
    s.next_due = t0 + 23h;
    EXPECT_EQ(on_request(s, t0 + 1min, true, p), request_outcome::due_now);
    EXPECT_EQ(s.last_forced, t0);  // not honoured as a force
    EXPECT_EQ(s.next_due, t0 + 1min);
    EXPECT_FALSE(s.dirty);
}

// ---------------------------------------------------------------------------------------------
// backoff

TEST(ScheduleBackoff, UnchangedPassesDoubleUpToMaxBackoffAndResetOnChange)
{
    const auto p = params();
    auto s = make();
    clock_time start = t0;
    const auto pass = [&](bool changed) {
        on_pass_started(s, start);
        on_pass_finished(s, start + 5min, changed, p);
    };

    pass(true);
    EXPECT_EQ(s.unchanged_passes, 0);
    EXPECT_EQ(s.next_due, start + 24h + jitter(key, 24h));

    start = s.next_due;
    pass(false);
    EXPECT_EQ(s.unchanged_passes, 1);
    EXPECT_EQ(s.next_due, start + 48h + jitter(key, 48h));
    EXPECT_EQ(s.next_due, start + 48h + 16352469ms);

    start = s.next_due;
    pass(false);
    EXPECT_EQ(s.unchanged_passes, 2);
    EXPECT_EQ(s.next_due, start + 96h + jitter(key, 96h));
    EXPECT_EQ(s.next_due, start + 96h + 33632469ms);

    start = s.next_due;
    pass(false);
    EXPECT_EQ(s.unchanged_passes, 3);
    EXPECT_EQ(s.next_due, start + 96h + jitter(key, 96h));  // capped at 4 × resync_interval

    start = s.next_due;
    pass(true);
    EXPECT_EQ(s.unchanged_passes, 0);
    EXPECT_EQ(s.next_due, start + 24h + 7712469ms);
}

TEST(ScheduleBackoff, IsCountedFromThePassStartNotItsEnd)
{
    auto s = make();
    on_pass_started(s, t0);
    on_pass_finished(s, t0 + 3h, true, params());
    EXPECT_EQ(s.next_due, t0 + 24h + jitter(key, 24h));
}

TEST(ScheduleBackoff, UnchangedCountSaturatesAtThirty)
{
    auto p = params();
    p.resync_interval = 1ms;
    p.max_backoff = std::numeric_limits<int>::max();
    auto s = make();
    s.unchanged_passes = 30;
    on_pass_started(s, t0);
    on_pass_finished(s, t0 + 1min, false, p);
    EXPECT_EQ(s.unchanged_passes, 30);
    const milliseconds iv(std::int64_t{1} << 30);  // 2^30 × 1 ms, computed in 64 bits
    EXPECT_EQ(s.next_due, t0 + iv + jitter(key, iv));
}

TEST(ScheduleBackoff, AbsurdIntervalsSaturateInsteadOfOverflowing)
{
    auto p = params();
    p.resync_interval = std::chrono::duration_cast<milliseconds>(std::chrono::years(100000));
    p.max_backoff = std::numeric_limits<int>::max();
    auto s = make();
    s.unchanged_passes = 29;
    on_pass_started(s, t0);
    on_pass_finished(s, t0 + 1min, false, p);
    EXPECT_EQ(s.next_due, clock_time::max());

    on_pass_failed(s, t0, milliseconds::max());
    EXPECT_EQ(s.next_due, clock_time::max());
}

TEST(ScheduleBackoff, SmallResyncIntervalUsesMillisecondMath)
{
    auto p = params();
    p.resync_interval = 1000ms;
    p.max_backoff = 8;
    auto s = make("a");
    s.unchanged_passes = 2;
    on_pass_started(s, t0);
    on_pass_finished(s, t0, false, p);  // 3 unchanged → ×8 = 8000 ms, jitter % 800
    EXPECT_EQ(s.next_due, t0 + 8000ms + milliseconds(0xaf63dc4c8601ec8cULL % 800));
}

// ---------------------------------------------------------------------------------------------
// failure, park, retire

TEST(ScheduleFailure, RetriesAfterRetryInAndKeepsFlags)
{
    auto s = make();
    on_request(s, t0, false, params());
    on_pass_started(s, t0);
    on_request(s, t0 + 1min, false, params());  // dirty during the pass
    on_pass_failed(s, t0 + 2min, 30s);
    EXPECT_FALSE(s.running);
    EXPECT_EQ(s.next_due, t0 + 2min + 30s);
    EXPECT_TRUE(s.dirty);
    EXPECT_FALSE(s.requested);
    EXPECT_EQ(s.unchanged_passes, 0);
    EXPECT_EQ(s.last_pass_start, t0);

    auto r = make();
    r.requested = true;
    r.running = true;
    on_pass_failed(r, t0, 5min);
    EXPECT_TRUE(r.requested);  // a requested pass stays fresh
    EXPECT_EQ(r.next_due, t0 + 5min);
}

TEST(SchedulePark, ParkedContextIsNotScheduledUntilANewLaunch)
{
    const auto p = params();
    auto s = make();
    on_request(s, t0, false, p);
    on_pass_started(s, t0);
    s.dirty = true;
    park(s, "platform answered 404");
    EXPECT_TRUE(s.parked);
    EXPECT_EQ(s.parked_reason, "platform answered 404");
    EXPECT_FALSE(s.running);
    EXPECT_FALSE(s.dirty);
    EXPECT_FALSE(s.requested);

    std::vector<context_schedule> all{s};
    long periodic = 0;
    long total = 0;
    EXPECT_TRUE(due_order(all, t0 + 1000h, 10, 0.2, periodic, total).empty());

    // A new launch unparks it, even within min_interval of the last start.
    EXPECT_EQ(on_request(s, t0 + 1min, false, p), request_outcome::unparked);
    EXPECT_FALSE(s.parked);
    EXPECT_TRUE(s.parked_reason.empty());
    EXPECT_TRUE(s.requested);
    EXPECT_EQ(s.next_due, t0 + 1min);
    all = {s};
    EXPECT_EQ(due_order(all, t0 + 1min, 10, 0.2, periodic, total), std::vector<std::size_t>{0});

    park(s, "tool refused");
    EXPECT_EQ(on_request(s, t0 + 2min, true, p), request_outcome::unparked);
    EXPECT_EQ(s.last_forced, clock_time{});  // unparking is not a force
}

TEST(ScheduleRetire, RetiresAfterRetireAfterWithoutALaunch)
{
    const auto p = params();
    auto s = make();
    EXPECT_FALSE(retire_if_stale(s, t0 + 10000h, p));  // never seen: not retired
    EXPECT_FALSE(s.retired);

    on_request(s, t0, false, p);
    EXPECT_FALSE(retire_if_stale(s, t0 + 24h * 180 - 1ms, p));
    EXPECT_FALSE(s.retired);
    EXPECT_TRUE(retire_if_stale(s, t0 + 24h * 180, p));
    EXPECT_TRUE(s.retired);
    EXPECT_FALSE(retire_if_stale(s, t0 + 24h * 181, p));  // already retired
    EXPECT_TRUE(s.retired);

    std::vector<context_schedule> all{s};
    long periodic = 0;
    long total = 0;
    EXPECT_TRUE(due_order(all, t0 + 24h * 181, 10, 0.2, periodic, total).empty());

    // A new launch brings it back.
    EXPECT_EQ(on_request(s, t0 + 24h * 181, false, p), request_outcome::due_now);
    EXPECT_FALSE(s.retired);
    EXPECT_EQ(s.last_seen, t0 + 24h * 181);
    EXPECT_FALSE(retire_if_stale(s, t0 + 24h * 182, p));
}

// ---------------------------------------------------------------------------------------------
// due_order

context_schedule at(std::string k, clock_time due, bool requested)
{
    auto s = make(std::move(k));
    s.next_due = due;
    s.requested = requested;
    return s;
}

TEST(ScheduleDueOrder, StalestFirstWithinAClassTiesByKey)
{
    const std::vector<context_schedule> all{
        at("c", t0 - 1h, true),
        at("b", t0 - 2h, true),
        at("z", t0 - 3h, true),
        at("a", t0 - 2h, true),
        at("p2", t0 - 5h, false),
        at("p1", t0 - 5h, false),
    };
    long periodic = 0;
    long total = 0;
    // share 0: fresh before periodic.
    EXPECT_EQ(
        due_order(all, t0, 10, 0.0, periodic, total), (std::vector<std::size_t>{2, 3, 1, 0, 5, 4})
    );
    EXPECT_EQ(periodic, 2);
    EXPECT_EQ(total, 6);
}

TEST(ScheduleDueOrder, HonoursTheLimit)
{
    std::vector<context_schedule> all;
    for (int i = 0; i < 8; ++i) {
        all.push_back(at("k" + std::to_string(i), t0 - std::chrono::minutes(i), true));
    }
    long periodic = 0;
    long total = 0;
    EXPECT_EQ(due_order(all, t0, 3, 0.2, periodic, total), (std::vector<std::size_t>{7, 6, 5}));
    EXPECT_EQ(total, 3);
    EXPECT_TRUE(due_order(all, t0, 0, 0.2, periodic, total).empty());
    EXPECT_EQ(total, 3);
    EXPECT_EQ(periodic, 0);
}

std::vector<context_schedule> ten_and_ten()
{
    std::vector<context_schedule> all;
    for (int i = 0; i < 10; ++i) {
        all.push_back(at("f" + std::to_string(i), t0 - std::chrono::minutes(i), true));
        all.push_back(at("p" + std::to_string(i), t0 - std::chrono::minutes(i), false));
    }
    return all;  // even indexes fresh, odd periodic
}

TEST(ScheduleDueOrder, PeriodicGetTheirShareInOneCall)
{
    const auto all = ten_and_ten();
    long periodic = 0;
    long total = 0;
    const auto picked = due_order(all, t0, 10, 0.2, periodic, total);
    ASSERT_EQ(picked.size(), 10u);
    int periodic_count = 0;
    for (const std::size_t i : picked) {
        periodic_count += all[i].requested ? 0 : 1;
    }
    EXPECT_EQ(periodic_count, 2);
    EXPECT_EQ(periodic, 2);
    EXPECT_EQ(total, 10);
    // First pick periodic (stalest p9), then fresh until the share falls behind, stalest first.
    EXPECT_EQ(picked, (std::vector<std::size_t>{19, 18, 16, 14, 12, 10, 17, 8, 6, 4}));
}

TEST(ScheduleDueOrder, ShareIsCarriedAcrossCalls)
{
    auto all = ten_and_ten();
    long periodic = 0;
    long total = 0;
    int periodic_count = 0;
    for (int call = 0; call < 10; ++call) {
        const auto picked = due_order(all, t0, 1, 0.2, periodic, total);
        ASSERT_EQ(picked.size(), 1u);
        periodic_count += all[picked[0]].requested ? 0 : 1;
        all[picked[0]].running = true;  // the picked pass is now in progress
    }
    EXPECT_EQ(periodic_count, 2);
    EXPECT_EQ(periodic, 2);
    EXPECT_EQ(total, 10);
}

TEST(ScheduleDueOrder, ShareExtremes)
{
    const auto all = ten_and_ten();
    long periodic = 0;
    long total = 0;
    auto picked = due_order(all, t0, 10, 0.0, periodic, total);
    for (const std::size_t i : picked) {
        EXPECT_TRUE(all[i].requested);
    }
    periodic = 0;
    total = 0;
    picked = due_order(all, t0, 10, 1.0, periodic, total);
    std::string pattern;
    for (const std::size_t i : picked) {
        pattern += all[i].requested ? 'F' : 'P';
    }
    // share 1: periodic whenever periodic_picked < total_picked, i.e. all but the second pick.
    EXPECT_EQ(pattern, "PFPPPPPPPP");
    periodic = 0;
    total = 0;
    picked = due_order(all, t0, 20, 0.5, periodic, total);
    ASSERT_EQ(picked.size(), 20u);
    pattern.clear();
    for (const std::size_t i : picked) {
        pattern += all[i].requested ? 'F' : 'P';
    }
    // periodic first (share > 0), then periodic whenever periodic_picked < total_picked / 2.
    EXPECT_EQ(pattern, "PFFPFPFPFPFPFPFPFPFP");
    EXPECT_EQ(periodic, 10);
    EXPECT_EQ(total, 20);
}

TEST(ScheduleDueOrder, TakesFromTheOtherClassWhenOneIsEmpty)
{
    std::vector<context_schedule> all{at("p0", t0 - 1h, false), at("p1", t0 - 2h, false)};
    long periodic = 0;
    long total = 0;
    EXPECT_EQ(due_order(all, t0, 10, 0.0, periodic, total), (std::vector<std::size_t>{1, 0}));
    EXPECT_EQ(periodic, 2);
    EXPECT_EQ(total, 2);

    all = {at("f0", t0 - 1h, true), at("f1", t0 - 2h, true)};
    periodic = 0;
    total = 0;
    EXPECT_EQ(due_order(all, t0, 10, 1.0, periodic, total), (std::vector<std::size_t>{1, 0}));
    EXPECT_EQ(periodic, 0);
    EXPECT_EQ(total, 2);
}

TEST(ScheduleDueOrder, ExcludesRunningParkedRetiredAndNotYetDue)
{
    std::vector<context_schedule> all{
        at("running", t0 - 1h, true),
        at("parked", t0 - 1h, false),
        at("retired", t0 - 1h, false),
        at("later", t0 + 1ms, true),
        at("due-exactly-now", t0, false),
        at("due", t0 - 1min, true),
    };
    all[0].running = true;
    all[1].parked = true;
    all[2].retired = true;
    long periodic = 0;
    long total = 0;
    EXPECT_EQ(due_order(all, t0, 10, 0.2, periodic, total), (std::vector<std::size_t>{4, 5}));
    EXPECT_TRUE(due_order({}, t0, 10, 0.2, periodic, total).empty());
}

}  // namespace
}  // namespace rostersync::sync
