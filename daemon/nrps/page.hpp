#pragma once
// File: nrps/page.hpp
//
// One NRPS membership container page (reference canvas-nrps.md section 2, NRPS v2.0), parsed with
// simdjson on demand. Every field of the reference is read; unknown fields are ignored; a wrong
// type or a missing required field is an error that names the field (and the caller adds the
// page). Pure; thread-safe (a parser per thread).
//
//     auto p = nrps::parse_page(body);
//     if (!p) log.warning("bad page", {{"error", p.error().message}});   // "members[3].roles: expected an array of strings"

#include "common/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::nrps {

struct member {
    std::string user_id;                  ///< required, non-empty
    std::string status = "Active";        ///< "Active" when absent; "Inactive"; "Deleted" (differences)
    std::vector<std::string> roles;       ///< required (may be empty), full URIs as sent
    std::optional<std::string> name;
    std::optional<std::string> given_name;
    std::optional<std::string> family_name;
    std::optional<std::string> middle_name;
    std::optional<std::string> email;
    std::optional<std::string> picture;
    std::optional<std::string> lis_person_sourcedid;
    std::optional<std::string> lti11_legacy_user_id;

    bool operator==(const member&) const = default;
};

struct context_info {
    std::string id;                       ///< required, non-empty
    std::optional<std::string> label;
    std::optional<std::string> title;
};

struct page {
    std::string id;                       ///< the container id (Canvas: the request URL); may be empty
    context_info context;
    std::vector<member> members;
};

/// Why a page did not parse: `ec` is nrps::errc::malformed_page; `message` names the field.
struct page_error {
    error_code ec;
    std::string message;  ///< e.g. "members[3].roles: expected an array of strings", "not JSON: …"
};

[[noreturn]] void throw_exception_from_error(const page_error& e, const boost::source_location& loc);

/// Parses a page. Rules: the body is a JSON object; `members` is required and an array;
/// `context` is required with a string `id` (label, title optional strings); `id` optional string;
/// each member needs a non-empty string `user_id` and an array of strings `roles`; `status`, when
/// present, is one of "Active", "Inactive", "Deleted"; optional fields must be strings when present
/// (JSON null counts as absent); `message` and other fields are ignored whatever their type.
/// `max_members` bounds one page (more is an error, not a cut).
result<page, page_error> parse_page(std::string_view json, std::size_t max_members = 10'000);

}  // namespace rostersync::nrps
