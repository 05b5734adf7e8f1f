#pragma once
// File: lms_sim/canvas_bucket.hpp
//
// Canvas's RequestThrottle leaky bucket (reference canvas-nrps.md section 6.1), as pure
// arithmetic over an injected time in seconds:
//   1. leak:    count = max(0, count - outflow * (now - last))
//   2. charge:  count = clamp(count + up_front, 0, maximum)
//   3. reject   when count >= hwm (the up-front charge stays: Canvas does not refund it)
//   4. finish:  count += cost - up_front (refund the charge, keep the real cost)
// Headers: X-Request-Cost (the cost) and X-Rate-Limit-Remaining (hwm - count after the cost),
// both decimal floats; a rejection reports 0.0 remaining.
//
// Not thread-safe: the simulator keeps each bucket on its server strand.

#include <algorithm>
#include <string>

namespace rostersync::lms_sim {

struct bucket_params {
    double hwm = 600;       ///< high-water mark: reject at or above
    double maximum = 800;   ///< the count never exceeds this
    double outflow = 10;    ///< units drained per second
    double up_front = 50;   ///< charged when a request starts, refunded when it ends
};

class canvas_bucket {
public:
    explicit canvas_bucket(bucket_params p = {}) : p_(p) {}

    /// A request arrives at `now`: true when admitted (and charged up front).
    bool admit(double now)
    {
        leak(now);
        count_ = std::clamp(count_ + p_.up_front, 0.0, p_.maximum);
        if (count_ >= p_.hwm) {
            ++rejected_;
            return false;
        }
        ++admitted_;
        return true;
    }

    /// An admitted request finished at `now` with its real cost; returns the remaining allowance.
    double finish(double now, double cost)
    {
        leak(now);
        count_ = std::clamp(count_ + cost - p_.up_front, 0.0, p_.maximum);
        return remaining();
    }

    /// Adds cost outside a request (e.g. the token endpoint's +200 when it shares the bucket).
    void charge(double now, double cost)
    {
        leak(now);
        count_ = std::clamp(count_ + cost, 0.0, p_.maximum);
    }

    double remaining() const { return std::max(0.0, p_.hwm - count_); }
    double count() const { return count_; }
    long admitted() const { return admitted_; }
    long rejected() const { return rejected_; }
    const bucket_params& params() const { return p_; }

private:
    void leak(double now)
    {
        if (now > last_) {
            count_ = std::max(0.0, count_ - p_.outflow * (now - last_));
            last_ = now;
        }
    }

    bucket_params p_;
    double count_ = 0;
    double last_ = 0;
    long admitted_ = 0;
    long rejected_ = 0;
};

/// Ruby's Float#to_s for the header values: "0.0", "599.93", "12.5".
std::string ruby_float(double v);

}  // namespace rostersync::lms_sim
