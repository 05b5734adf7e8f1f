#pragma once
// File: common/clock.hpp
//
// Time is injected. Pure components take a Clock template parameter (a type with `now()` and a
// `time_point`), production code uses `steady_clock`, and tests use tests/support/manual_clock.hpp.

#include <chrono>
#include <concepts>

namespace rostersync {

template <class C>
concept clock_like = requires {
    typename C::time_point;
    typename C::duration;
    { C::now() } -> std::convertible_to<typename C::time_point>;
};

using steady_clock = std::chrono::steady_clock;
static_assert(clock_like<steady_clock>);

}  // namespace rostersync
