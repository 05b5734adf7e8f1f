#pragma once
// File: http/url.hpp
//
// URLs and the URL guard: which URLs a platform's tokens may be sent to. Pure; thread-safe.
//
// Rules (README "Security"):
// - only absolute `https` URLs; `http` only when the platform sets allow_http; no userinfo;
// - the host must match allowed_hosts: an exact name (case-insensitive), or "*.domain" which
//   matches any name ending in ".domain" (any depth) but not "domain" itself;
// - IP literals and "localhost" match only when listed literally (never through a wildcard);
// - a name that resolves to a loopback, private, link-local, unique-local, CGNAT, unspecified or
//   multicast address is refused unless that exact name is listed literally;
// - a rel="next" URL must keep the scheme, host and port of the first page.

#include "common/error.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::http {

struct url {
    std::string scheme;     ///< "https" or "http", lower-case
    std::string host;       ///< lower-case; IPv6 without brackets
    std::uint16_t port = 0; ///< explicit or the scheme's default (443, 80)
    bool explicit_port = false;
    std::string target;     ///< path and query as sent ("/" when empty); the fragment dropped
    bool host_is_ip = false;

    /// "host" or "host:port" when the port is not the default; IPv6 in brackets — the Host header.
    std::string authority() const;
    /// scheme://authority + target
    std::string str() const;
};

/// Parses an absolute http(s) URL. Errors: http::errc::bad_url.
result<url> parse_url(std::string_view text);

struct host_policy {
    std::vector<std::string> allowed_hosts;  ///< as configured (lower-case)
    bool allow_http = false;
};

/// True when `host` (lower-case) matches one pattern, with the literal-only rule for IP
/// addresses and localhost.
bool host_matches(std::string_view host, std::string_view pattern);

/// Scheme and host checks. Errors: scheme_not_allowed, host_not_allowed.
error_code check_url(const url& u, const host_policy& policy);

/// Loopback, RFC 1918, link-local, unique-local (fc00::/7), CGNAT (100.64/10), unspecified,
/// multicast, and IPv4-mapped forms of those.
bool is_internal_address(const boost::asio::ip::address& a);

/// Checks what a name resolved to: internal addresses only when `host` is listed literally.
/// Errors: private_address.
error_code check_resolved(std::string_view host, const std::vector<boost::asio::ip::address>& addresses,
                          const host_policy& policy);

/// Percent-encodes everything but RFC 3986 unreserved characters (for query values and form
/// bodies) and the characters in `keep` (a path segment may keep ':', for instance).
std::string percent_encode(std::string_view s, std::string_view keep = {});

/// A rel="next" URL must keep the first page's scheme, host and port. Errors: next_host_changed.
error_code check_same_origin(const url& first, const url& next);

}  // namespace rostersync::http
