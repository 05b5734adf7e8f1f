#pragma once
// File: sync/status.hpp
//
// A snapshot of the pipeline for people (the status page at `/`): passes in progress, held and
// parked contexts, the last pass errors, and the partitions this instance owns with their
// restore progress. Plain data, copied off the pipeline's strand by pipeline::status(); it holds
// context keys, platform names, reasons and counts — never a user id, name, email or token.
//
// Lists are bounded (pipeline::status(max_rows)); the *_total fields count everything, so a
// reader can say "and N more".

#include "sync/schedule.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rostersync::sync {

struct pass_status {
    std::string context_key;
    std::string platform;
    clock_time started{};
    int pages = 0;            ///< pages fetched so far
    std::size_t members = 0;  ///< members read so far
};

struct held_status {
    std::string context_key;
    std::string platform;
    std::uint64_t removals = 0;  ///< removals the guard holds
    std::optional<clock_time> since;
    std::optional<clock_time> released_until;  ///< an operator's release not used yet
};

struct parked_status {
    std::string context_key;
    std::string platform;
    std::string reason;
};

/// A pass that ended without a complete roster (failed, abandoned, parked), as classified.
struct pass_error {
    clock_time at{};
    std::string context_key;
    std::string outcome;  ///< failed, abandoned, parked
    std::string reason;   ///< the error class and the platform's words (no personal data)
};

struct partition_status {
    enum class phase { loading, replaying, live };
    std::int32_t partition = 0;
    phase ph = phase::loading;
    std::int64_t done = 0;   ///< loading: table records read; replaying: changes folded
    std::int64_t total = 0;  ///< … out of
    std::size_t memberships = 0;
    std::size_t contexts = 0;
};

struct status_report {
    std::vector<pass_status> running;  ///< oldest first
    std::size_t running_total = 0;
    std::vector<held_status> held;  ///< longest held first
    std::size_t held_total = 0;
    std::vector<parked_status> parked;  ///< by context key
    std::size_t parked_total = 0;
    std::vector<pass_error> errors;            ///< newest first (the pipeline keeps the last 20)
    std::vector<partition_status> partitions;  ///< every owned partition, by number
    std::size_t contexts_total = 0;
    std::size_t memberships_total = 0;
};

}  // namespace rostersync::sync
