#pragma once
// File: http/error.hpp
//
// Errors of the HTTP client, the URL guard and the Link header parser (category "rostersync.http").
// is_retryable() says which a later attempt may cure (timeouts, resets, 5xx).

#include "common/error.hpp"

namespace rostersync::http {

enum class errc {
    // URLs and policy (never retryable: configuration or hostile input)
    bad_url = 1,            ///< not an absolute http(s) URL, userinfo present, bad port …
    scheme_not_allowed,     ///< http where the platform does not set allow_http
    host_not_allowed,       ///< host not in the platform's allowed_hosts
    private_address,        ///< the name resolved to loopback/private/link-local and is not listed literally
    next_host_changed,      ///< a rel="next" link leaves the host of the first page
    malformed_link_header,  ///< a Link header that RFC 8288 cannot read
    // transport
    resolve_failed,         ///< DNS failure (retryable)
    connect_failed,         ///< refused or unreachable (retryable)
    tls_failed,             ///< handshake or certificate verification failed (not retryable)
    timeout,                ///< a step or the whole request passed its deadline (retryable)
    connection_lost,        ///< reset or closed mid-exchange (retryable)
    // responses
    bad_response,           ///< not parseable as HTTP/1.1 (retryable: proxies misbehave)
    response_too_large,     ///< body above the limit (not retryable)
    redirect_not_followed,  ///< 3xx for an API call: rostersync never follows redirects
    bad_encoding,           ///< a gzip body that does not inflate, or an unknown Content-Encoding
};

const error_category& category() noexcept;

inline error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), category()};
}

}  // namespace rostersync::http

template <>
struct boost::system::is_error_code_enum<rostersync::http::errc> : std::true_type {};
