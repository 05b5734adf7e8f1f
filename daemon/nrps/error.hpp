#pragma once
// File: nrps/error.hpp
//
// The outcome classes of an NRPS roster pass (category "rostersync.nrps"). A pass ends in a
// complete roster or in exactly one of these; is_retryable() tells the scheduler what to do.

#include "common/error.hpp"

namespace rostersync::nrps {

enum class errc {
    malformed_page = 1,   ///< a page that is not a membership container (retryable: may be a proxy)
    server_error,         ///< 5xx, resets, timeouts after the pass's retries ran out (retryable)
    throttled,            ///< the budget's max_wait passed before the pass could go on (retryable)
    token_rejected,       ///< the platform refused our token after a fresh one (retryable later)
    configuration,        ///< scope missing, tool not installed, key disabled or unbound: an admin must act
    not_found,            ///< 404: the course or group is gone (park)
    next_loop,            ///< a rel="next" that repeats a page already fetched
    too_many_pages,       ///< above the pass's page limit
    too_many_members,     ///< above the pass's member limit
    unexpected_status,    ///< any other 4xx
    cancelled,            ///< shutdown
};

const error_category& category() noexcept;

inline error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), category()};
}

}  // namespace rostersync::nrps

template <>
struct boost::system::is_error_code_enum<rostersync::nrps::errc> : std::true_type {};
