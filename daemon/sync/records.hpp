#pragma once
// File: sync/records.hpp
//
// The records the daemon keeps in Kafka besides the change stream (DESIGN.md section 2), as JSON
// (the proto3 JSON mapping of proto/rostersync/v1/records.proto):
//
//   rostersync.contexts        key: context key  value: ContextState (schedule, holds, candidates)
//   rostersync.memberships     key: membership key value: MemberRow (a Member plus what the fold
//                                                        keeps: provisional, launch time, version)
//   rostersync.checkpoints     key: "<partition>" value: Checkpoint (state position of the snapshot)
//   rostersync.sync-requests   key: context key  value: CourseSeen, normalised (the validated request)
//
// Decoders name the field that is wrong; they never throw.

#include "common/error.hpp"
#include "roster/diff.hpp"
#include "sync/course_seen.hpp"
#include "sync/schedule.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace rostersync::sync {

/// ContextState: everything about one context that is not its members.
struct context_record {
    std::string context_key;
    std::string platform;
    std::string issuer;
    std::string client_id;
    std::string deployment_id;
    std::string context_id;
    std::string label;
    std::string title;
    std::string memberships_url;
    context_schedule schedule;                          ///< context_key duplicated inside
    std::optional<roster::time_point> last_pass_end;
    std::string last_outcome;                           ///< changed, unchanged, failed, parked, …
    std::string last_error;                             ///< classified reason of the last failure
    std::uint32_t roster_version = 0;
    std::uint64_t members = 0;
    std::map<std::string, roster::time_point> candidates;  ///< removal candidates (first pass's end)
    std::uint64_t held = 0;                             ///< removals held by the guard
    std::optional<roster::time_point> held_since;
    std::optional<roster::time_point> release_until;    ///< an operator's release, valid 24 h
};

std::string encode_context(const context_record& c);
result<context_record, std::string> decode_context(std::string_view json);

/// MemberRow: one row of the memberships table.
struct member_row {
    std::string issuer;
    std::string context_id;
    nrps::member member;                     ///< with user_id
    bool provisional = false;
    std::optional<roster::time_point> launch_seen_at;
    std::uint32_t roster_version = 0;
};

std::string encode_row(std::string_view issuer, std::string_view context_id, const roster::member_state& m,
                       std::uint32_t roster_version);
result<member_row, std::string> decode_row(std::string_view json);

/// Checkpoint: the change-stream position a partition's table snapshot reflects.
struct checkpoint {
    std::int32_t partition = 0;
    std::int64_t changes_offset = 0;         ///< next change-stream offset to replay
    roster::time_point written_at;
};

std::string encode_checkpoint(const checkpoint& c);
result<checkpoint, std::string> decode_checkpoint(std::string_view json);

/// SyncRequest: a validated CourseSeen, normalised (unknown fields dropped).
std::string encode_sync_request(const course_seen& cs);

/// Member JSON (DESIGN section 2) to nrps::member; `where` prefixes error messages.
result<nrps::member, std::string> decode_member_json(const boost::json::value& v, std::string_view where);

}  // namespace rostersync::sync
