#pragma once
// File: roster/encode.hpp
//
// Change events as the public contract spells them (DESIGN.md section 2): MembershipChange JSON
// (proto3 JSON mapping of proto/rostersync/v1/membership_change.proto, snake_case names, absent
// fields omitted, `before` null for an add and `after` null for a removal), a deterministic `id`,
// and CloudEvents Kafka-binding headers. Pure; thread-safe.

#include "roster/diff.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rostersync::roster {

struct event_context {
    std::string issuer;
    std::string client_id;
    std::string deployment_id;
    std::string context_id;
    std::string context_label;
    std::string context_title;
    std::string source = "nrps";          ///< "nrps" or "launch"
    std::uint32_t roster_version = 0;
    time_point time;
};

/// "<issuer>|<context_id>|<user_id>": the record key of changes and table rows.
std::string membership_key(std::string_view issuer, std::string_view context_id, std::string_view user_id);

/// Member JSON (the value of rostersync.memberships and of before/after).
std::string encode_member(const nrps::member& m);

/// Deterministic: SHA-256 over the membership key, the type, the roster version and the JSON of
/// `after`, as 32 hex digits — a repeat of the same change carries the same id.
std::string event_id(const change& c, const event_context& ctx);

/// The MembershipChange JSON.
std::string encode_change(const change& c, const event_context& ctx);

/// ce_specversion, ce_id, ce_type, ce_source, ce_time, ce_subject, ce_dataschema, content-type.
std::vector<std::pair<std::string, std::string>> cloudevents_headers(const change& c, const event_context& ctx);

/// RFC 3339 UTC with milliseconds: 2026-11-27T10:00:03.123Z
std::string rfc3339(time_point t);

}  // namespace rostersync::roster
