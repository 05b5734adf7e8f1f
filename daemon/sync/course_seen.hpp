#pragma once
// File: sync/course_seen.hpp
//
// Ingest validation: a "course seen" record (DESIGN.md section 2, CourseSeen JSON) into a sync
// request, or a reason for the dead-letter topic. Pure; thread-safe.
//
//     auto r = sync::parse_course_seen(record_value, cfg);
//     if (!r) dlq(record, r.error().reason, r.error().message);   // headers rostersync.error/.reason
//
// Rules:
// - the value is a JSON object of at most `max_bytes` (oversized → reason "too_large");
// - unknown fields are ignored; known fields must have their types (strings, `force` boolean,
//   `context` and `launch_user` objects, `launch_user.roles` an array of strings);
// - required: `issuer`, `client_id`, `context.id` (non-empty strings), and
//   `context_memberships_url` unless the platform has nrps = false;
// - (issuer, client_id) must name a configured platform (reason "unknown_platform");
// - the memberships URL must pass the platform's URL guard (http::parse_url + http::check_url:
//   https, or http with allow_http; host in allowed_hosts) (reason "url_not_allowed");
// - `seen_at`, when present, must be RFC 3339 (reason "bad_field"); absent: the caller's time;
// - `launch_user.roles`: only membership roles (…/lis/v2/membership#… and …/membership/…#…)
//   are kept; a launch user with none is dropped (provisions nothing);
// - identifiers longer than 1024 bytes are refused (reason "bad_field").

#include "common/error.hpp"
#include "config/config.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::sync {

struct launch_user {
    std::string user_id;
    std::vector<std::string> roles;  ///< membership roles only, as sent
    std::optional<std::string> name;
    std::optional<std::string> email;
};

struct course_seen {
    std::string platform;            ///< the configured platform's name
    std::string issuer;
    std::string client_id;
    std::string deployment_id;
    std::string context_id;
    std::string context_label;
    std::string context_title;
    std::string memberships_url;     ///< empty only for nrps = false platforms
    std::string resource_link_id;
    std::optional<std::chrono::system_clock::time_point> seen_at;
    bool force = false;
    std::optional<launch_user> user;
};

/// Why a record goes to the dead-letter topic.
struct rejection {
    std::string reason;   ///< short machine word: not_json, too_large, bad_field, missing_field,
                          ///< unknown_platform, url_not_allowed
    std::string message;  ///< for people: names the field and what was expected (no personal data)
};

[[noreturn]] void throw_exception_from_error(const rejection& r, const boost::source_location& loc);

/// The largest CourseSeen ingest accepts.
inline constexpr std::size_t max_course_seen_bytes = 64 * 1024;
/// The largest sync request the pass scheduler accepts: ingest writes each accepted CourseSeen
/// normalised, which can lengthen it by a few bytes ("…:00Z" becomes "…:00.000Z", a bare host gets
/// its "/"), so the scheduler must not re-apply ingest's limit to the daemon's own records.
inline constexpr std::size_t max_sync_request_bytes = 2 * max_course_seen_bytes;

result<course_seen, rejection> parse_course_seen(std::string_view json, const config::config& cfg,
                                                 std::size_t max_bytes = max_course_seen_bytes);

/// "2026-11-27T10:00:00Z" or with fractions / offsets; nullopt when not RFC 3339.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

}  // namespace rostersync::sync
