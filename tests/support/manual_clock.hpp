#pragma once
// A clock that only moves when a test says so (for pure components templated on Clock).

#include <chrono>

namespace rostersync::test {

struct manual_clock {
    using rep = std::chrono::nanoseconds::rep;
    using period = std::chrono::nanoseconds::period;
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<manual_clock>;
    static constexpr bool is_steady = true;

    static time_point now() { return current(); }
    static void advance(duration d) { current() += d; }
    static void reset() { current() = time_point{}; }

private:
    static time_point& current()
    {
        static time_point t{};
        return t;
    }
};

}  // namespace rostersync::test
