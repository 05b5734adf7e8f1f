#pragma once
// File: discovery/error.hpp
//
// How an account discovery can fail (category "rostersync.discovery"): the Canvas REST API or the
// provisioning report refused, failed or answered something unusable. is_configuration() tells
// the errors an administrator must fix (a token refused or lacking a permission, an unknown
// account, a file host outside allowed_hosts) from the ones a later run may not meet again.

#include "common/error.hpp"

namespace rostersync::discovery {

enum class errc {
    token_file = 1,     ///< the REST token file cannot be read, is empty, or is readable by others
    token_rejected,     ///< 401: Canvas does not accept the REST token (invalid, expired, deleted)
    not_authorized,     ///< 401 "user not authorized to perform that action": a permission is missing
    not_found,          ///< 404: the account (or report, or file) does not exist
    url_refused,        ///< a Link or report-file URL outside allowed_hosts, or another origin
    throttled,          ///< the REST budget's max_wait passed, or the platform kept rejecting (retryable)
    server_error,       ///< 5xx, resets, timeouts after retries (retryable)
    malformed,          ///< an answer that is not what the API documents
    unexpected_status,  ///< any other 4xx
    too_many_pages,     ///< above the listing's page limit, or a rel="next" that repeats a page
    report_failed,      ///< the report ended in "error", "aborted" or "deleted"
    report_timeout,     ///< the report did not complete within its time limit (retryable)
    bad_csv,            ///< the courses CSV is not RFC 4180 or lacks the canvas_course_id column
    platform,           ///< the platform refuses every NRPS call (scope, key, token endpoint): an admin must act
    kafka,              ///< CourseSeen events could not be published
    cancelled,          ///< shutdown
};

const error_category& category() noexcept;

inline error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), category()};
}

/// True for errors an administrator must fix before discovery can work (token, permission,
/// account, allowed_hosts, platform configuration).
bool is_configuration(const error_code& ec) noexcept;

}  // namespace rostersync::discovery

template <>
struct boost::system::is_error_code_enum<rostersync::discovery::errc> : std::true_type {};
