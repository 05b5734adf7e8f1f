#pragma once
// File: common/duration.hpp
//
// Durations as people write them in configuration: a number followed by a unit, optionally
// repeated ("500ms", "90s", "10m", "24h", "180d", "1h30m"). Units: ms, s, m, h, d. A bare number
// is an error, because "10" could mean seconds or minutes. Pure functions, thread-safe.

#include "common/error.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace rostersync {

using duration = std::chrono::milliseconds;

/// Parses "1h30m" and friends. Errors: common::errc::invalid_argument (empty, no unit, unknown
/// unit, negative, overflow).
result<duration> parse_duration(std::string_view text);

/// The shortest exact spelling that parse_duration() reads back: 5400000ms -> "1h30m".
std::string format_duration(duration d);

}  // namespace rostersync
