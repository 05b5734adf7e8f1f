#pragma once
// File: http/link_header.hpp
//
// RFC 8288 Link header parsing, robust to what platforms really send: Canvas joins links with ","
// and no space; several Link header lines; any header-name case (the caller collects the values);
// quoted and unquoted parameter values; several relation types in one rel ("next last");
// relative references (resolved against the request URL); upper-case characters in URLs (kept
// as sent); unquoted parameter values that are not RFC tokens (`type=application/json`).
// Pure; thread-safe.
//
//     auto links = parse_link_header({"<https://h/x?page=2>; rel=\"next\",<https://h/x?page=9>; rel=last"});
//     auto next = find_rel(*links, "next");   // "https://h/x?page=2"

#include "common/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rostersync::http {

struct link {
    std::string target;                                        ///< the URI reference as written
    std::vector<std::string> rels;                             ///< relation types, lower-cased
    std::vector<std::pair<std::string, std::string>> params;   ///< every parameter; names lower-cased, values unquoted
};

/// Parses every value (one per Link header line) into links, in order. A value that is not a
/// sequence of `<uri-reference> *( ";" param )` separated by commas is an error
/// (http::errc::malformed_link_header). Commas inside <...> and inside quoted strings do not split.
/// Empty values and empty elements between commas are skipped.
result<std::vector<link>> parse_link_header(const std::vector<std::string_view>& values);

/// The target of the first link with relation `rel` (case-insensitive), if any.
std::optional<std::string> find_rel(const std::vector<link>& links, std::string_view rel);

/// Resolves a reference against an absolute base URL (RFC 3986 section 5), e.g. "?page=2" or
/// "/api/x?page=2" against "https://h/api/x?page=1". Errors: http::errc::bad_url.
result<std::string> resolve_reference(std::string_view base, std::string_view reference);

}  // namespace rostersync::http
