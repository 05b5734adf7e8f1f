#pragma once
// File: oauth/error.hpp
//
// Errors of keys, client assertions and token requests (category "rostersync.oauth").

#include "common/error.hpp"

namespace rostersync::oauth {

enum class errc {
    key_unreadable = 1,   ///< the key file cannot be read
    key_permissions,      ///< the key file is readable by group or others
    key_invalid,          ///< not a PEM private key OpenSSL can load
    key_unsupported,      ///< neither RSA (>= 2048 bits) nor EC P-256
    signing_failed,       ///< OpenSSL could not sign
    // token endpoint answers
    client_rejected,      ///< 400/401 invalid_client, invalid_request, unauthorized_client: key or claims wrong (configuration)
    scope_rejected,       ///< invalid_scope: the developer key lacks the scope (configuration)
    grant_rejected,       ///< unsupported_grant_type and other 4xx (configuration)
    token_throttled,      ///< 429, or 403 "Rate Limit Exceeded" (retryable)
    token_server_error,   ///< 5xx (retryable)
    bad_token_response,   ///< 200 without a usable access_token / expires_in (retryable)
};

const error_category& category() noexcept;

inline error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), category()};
}

/// True for errors an operator must fix (key, claims, scope); never retried in a loop.
bool is_configuration_error(const error_code& ec) noexcept;

}  // namespace rostersync::oauth

template <>
struct boost::system::is_error_code_enum<rostersync::oauth::errc> : std::true_type {};
