#pragma once
// File: throttle/admission.hpp
//
// The arithmetic of a throttle budget (DESIGN.md section 4), pure and with time passed in:
//
//   admit a request at `now` only when
//     - the budget is not paused (a 429 / 403 "Rate Limit Exceeded" pauses it for Retry-After, or
//       for up_front / refill seconds when the platform names no wait),
//     - fewer than the in-flight cap are running (max_in_flight × share, at least 1),
//     - the pace allows it (one start per 1 / requests_per_second),
//     - and, once the platform has reported its allowance, the estimate
//         remaining + refill × (now − reported_at)  −  reserve  ≥  up_front × (unreported + 1) + margin
//       (unless `feedback` is off: the benchmarks' naive strategies)
//
// `unreported` counts the requests in flight that started after the last report. Canvas computes
// X-Rate-Limit-Remaining after charging the up-front cost of every request then in flight, so
// counting all of `in_flight` again (DESIGN.md's `in_flight + 1`) charged those twice and held the
// budget to about half of the room above the reserve (benchmarks/README.md, throttle). A request
// sent just before a report arrived may not have reached the platform when it computed that
// report; the margin and the reserve absorb that.
//
// `remaining` comes from X-Rate-Limit-Remaining; `refill` is the platform's drain rate (Canvas:
// 10 units/s), used to predict when a low allowance suffices again. Several instances sharing a
// platform bucket see the same `remaining`, so the rule stays safe; `share` (the fraction of
// partitions an instance owns) scales its in-flight cap.
//
// Not thread-safe; throttle::budget guards it.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

namespace rostersync::throttle {

struct budget_params {
    int max_in_flight = 6;
    double reserve = 300;
    double requests_per_second = 20;
    double up_front = 50;        ///< Canvas charges this per request in flight
    double margin = 10;
    double refill_per_second = 10;
    double share = 1.0;          ///< fraction of the work this instance owns (0, 1]
    std::chrono::milliseconds default_pause{5000};  ///< after a rejection without Retry-After
    /// For benchmarks and comparisons only (benchmarks/e2e/naive_driver.cpp): false ignores the
    /// platform's reported allowance (X-Rate-Limit-Remaining) when deciding, so only the
    /// in-flight cap, the pace and a rejection's pause apply: a client without feedback. The
    /// reports are still recorded (remaining(), the budget's metrics). Not a configuration key.
    bool feedback = true;
};

template <class Clock>
class admission {
public:
    using time_point = typename Clock::time_point;
    using duration = typename Clock::duration;

    explicit admission(budget_params p) : p_(p) {}

    struct decision {
        bool admit = false;
        /// When not admitted: the earliest time the answer may change by itself (pause end, pace
        /// slot, refill). nullopt: only a finishing request can change it.
        std::optional<time_point> retry_at;
    };

    int cap() const
    {
        return std::max(1, static_cast<int>(std::floor(p_.max_in_flight * std::clamp(p_.share, 0.0, 1.0))));
    }

    decision decide(time_point now) const
    {
        if (paused_until_ && now < *paused_until_) return {false, *paused_until_};
        if (in_flight_ >= cap()) return {false, std::nullopt};
        if (last_start_ && p_.requests_per_second > 0) {
            auto slot = *last_start_ + std::chrono::duration_cast<duration>(
                                           std::chrono::duration<double>(1.0 / p_.requests_per_second));
            if (now < slot) return {false, slot};
        }
        if (remaining_ && p_.feedback) {
            const double need = p_.reserve + p_.up_front * (unreported() + 1) + p_.margin;
            const double have = estimate(now);
            if (have < need) {
                // Beyond what the bucket ever offered: only a finishing request can help.
                if (p_.refill_per_second <= 0 || need > ceiling()) return {false, std::nullopt};
                auto wait = std::chrono::duration<double>((need - have) / p_.refill_per_second);
                return {false, now + std::chrono::duration_cast<duration>(wait)};
            }
        }
        return {true, std::nullopt};
    }

    /// The allowance the platform would report now (without requests in flight), if known.
    double estimate(time_point now) const
    {
        if (!remaining_) return 0;
        double elapsed = std::chrono::duration<double>(now - reported_at_).count();
        // Never above the most the platform ever reported (after a long idle the bucket is
        // empty, not negative) — but always able to reach what one request needs, so a low
        // first report cannot stall the budget for good.
        return std::min(*remaining_ + p_.refill_per_second * std::max(0.0, elapsed), ceiling());
    }

    double ceiling() const { return std::max(max_reported_, p_.reserve + p_.up_front + p_.margin); }

    void on_start(time_point now)
    {
        ++in_flight_;
        ++started_since_report_;
        last_start_ = now;
    }

    /// Requests in flight the last report cannot include (started after it).
    int unreported() const { return std::min(started_since_report_, in_flight_); }

    /// A request ended with a response; `remaining` when the platform reported it.
    void on_finish(time_point now, std::optional<double> remaining)
    {
        in_flight_ = std::max(0, in_flight_ - 1);
        if (remaining) {
            remaining_ = *remaining;
            reported_at_ = now;
            started_since_report_ = 0;
            max_reported_ = std::max(max_reported_, *remaining);
        }
    }

    /// A request ended without a usable response (error, cancellation).
    void on_abort() { in_flight_ = std::max(0, in_flight_ - 1); }

    /// A request was rejected by the platform's throttle: pause for `retry_after` or the default.
    void on_rejected(time_point now, std::optional<duration> retry_after)
    {
        in_flight_ = std::max(0, in_flight_ - 1);
        ++rejections_;
        remaining_ = 0;
        reported_at_ = now;
        started_since_report_ = 0;
        auto pause = retry_after ? *retry_after : std::chrono::duration_cast<duration>(p_.default_pause);
        time_point until = now + pause;
        if (!paused_until_ || *paused_until_ < until) paused_until_ = until;
    }

    void set_share(double share) { p_.share = share; }
    void set_params(budget_params p) { p_ = p; }

    int in_flight() const { return in_flight_; }
    std::optional<double> remaining() const { return remaining_; }
    long rejections() const { return rejections_; }
    const budget_params& params() const { return p_; }
    /// The end of the pause after the last rejection (it may lie in the past); nullopt: never paused.
    std::optional<time_point> paused_until() const { return paused_until_; }

private:
    budget_params p_;
    int in_flight_ = 0;
    int started_since_report_ = 0;
    std::optional<time_point> last_start_;
    std::optional<time_point> paused_until_;
    std::optional<double> remaining_;
    double max_reported_ = 0;
    time_point reported_at_{};
    long rejections_ = 0;
};

}  // namespace rostersync::throttle
