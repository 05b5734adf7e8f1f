// File: http/url.cpp
//
// URL parsing (Boost.URL) and the URL guard. See url.hpp for the rules. Nothing here throws on
// bad input: every failure is an error code.

#include "http/url.hpp"

#include <cctype>

#include "http/error.hpp"

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <boost/url.hpp>

#include <algorithm>
#include <array>
#include <cstddef>

namespace rostersync::http {
namespace {

constexpr std::size_t max_host_length = 253;
constexpr std::size_t max_label_length = 63;

constexpr char to_lower(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s)
{
    std::string out(s);
    for (char& c : out) c = to_lower(c);
    return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    }
    return true;
}

bool iends_with(std::string_view s, std::string_view suffix) noexcept
{
    return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr bool is_hex(char c) noexcept
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/// "[::1]" → "::1"; anything else unchanged.
std::string_view strip_brackets(std::string_view s) noexcept
{
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') return s.substr(1, s.size() - 2);
    return s;
}

/// The text as an IP address (IPv6 with or without brackets), or nothing.
bool parse_ip(std::string_view text, boost::asio::ip::address& out) noexcept
{
    text = strip_brackets(text);
    if (text.empty() || text.size() > 64) return false;
    // make_address wants a NUL-terminated string; copy into a local buffer (no allocation).
    std::array<char, 65> buf{};
    std::copy(text.begin(), text.end(), buf.begin());
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address(buf.data(), ec);
    if (ec) return false;
    // Scoped IPv6 ("fe80::1%eth0") is never a host we talk to.
    if (a.is_v6() && a.to_v6().scope_id() != 0) return false;
    out = a;
    return true;
}

bool is_ip_literal(std::string_view text) noexcept
{
    boost::asio::ip::address a;
    return parse_ip(text, a);
}

/// True when `host` is `entry` written literally: the same name (case-insensitive), or the same
/// IP address (IPv6 with or without brackets, any spelling).
bool listed_literally(std::string_view host, std::string_view entry) noexcept
{
    if (host.empty() || entry.empty()) return false;
    // a wildcard is never a literal listing, not even of the string "*.domain" itself
    if (host.find('*') != std::string_view::npos || entry.find('*') != std::string_view::npos) return false;
    if (iequals(strip_brackets(host), strip_brackets(entry))) return true;
    boost::asio::ip::address a, b;
    return parse_ip(host, a) && parse_ip(entry, b) && a == b;
}

/// A reg-name as it may appear in a URL we send tokens to: [a-z0-9.-] (upper case is
/// lower-cased by the caller), non-empty labels of at most 63 characters, one optional trailing
/// dot (already stripped by the caller), and a last label that does not look numeric, so that
/// resolvers cannot read the name as an IPv4 address in a legacy spelling ("127.1",
/// "2130706433", "0x7f.0.0.1").
bool valid_reg_name(std::string_view name) noexcept
{
    if (name.empty() || name.size() > max_host_length) return false;
    std::size_t label_start = 0;
    for (std::size_t i = 0; i <= name.size(); ++i) {
        if (i == name.size() || name[i] == '.') {
            const std::size_t len = i - label_start;
            if (len == 0 || len > max_label_length) return false;
            label_start = i + 1;
            continue;
        }
        const char c = name[i];
        const bool ok = (c >= 'a' && c <= 'z') || is_digit(c) || c == '-';
        if (!ok) return false;
    }
    // the last label
    const auto dot = name.rfind('.');
    const std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
    if (std::all_of(last.begin(), last.end(), is_digit)) return false;
    if (last.size() >= 2 && last[0] == '0' && last[1] == 'x' &&
        std::all_of(last.begin() + 2, last.end(), is_hex))
        return false;
    return true;
}

/// "1".."65535", digits only (leading zeros tolerated).
bool parse_port(std::string_view text, std::uint16_t& out) noexcept
{
    if (text.empty()) return false;
    std::uint32_t value = 0;
    for (char c : text) {
        if (!is_digit(c)) return false;
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
        if (value > 65535) return false;
    }
    if (value == 0) return false;
    out = static_cast<std::uint16_t>(value);
    return true;
}

std::uint16_t default_port(std::string_view scheme) noexcept
{
    if (scheme == "https") return 443;
    if (scheme == "http") return 80;
    return 0;
}

result<url> parse_url_impl(std::string_view text)
{
    const error_code bad = errc::bad_url;

    auto parsed = boost::urls::parse_uri(boost::core::string_view(text.data(), text.size()));
    if (!parsed) return bad;
    const boost::urls::url_view& v = *parsed;

    url u;

    // scheme
    u.scheme = lower(std::string_view(v.scheme().data(), v.scheme().size()));
    if (u.scheme != "https" && u.scheme != "http") return bad;

    // authority
    if (!v.has_authority()) return bad;
    if (v.has_userinfo()) return bad;

    switch (v.host_type()) {
        case boost::urls::host_type::name: {
            const auto enc = v.encoded_host();
            std::string_view raw(enc.data(), enc.size());
            if (raw.find('%') != std::string_view::npos) return bad;
            std::string name = lower(raw);
            if (!name.empty() && name.back() == '.') name.pop_back();
            if (!valid_reg_name(name)) return bad;
            u.host = std::move(name);
            u.host_is_ip = false;
            break;
        }
        case boost::urls::host_type::ipv4: {
            const auto bytes = v.host_ipv4_address().to_bytes();
            boost::asio::ip::address_v4::bytes_type b{};
            std::copy(bytes.begin(), bytes.end(), b.begin());
            u.host = boost::asio::ip::address_v4(b).to_string();
            u.host_is_ip = true;
            break;
        }
        case boost::urls::host_type::ipv6: {
            const auto bytes = v.host_ipv6_address().to_bytes();
            boost::asio::ip::address_v6::bytes_type b{};
            std::copy(bytes.begin(), bytes.end(), b.begin());
            u.host = boost::asio::ip::address_v6(b).to_string();  // canonical, lower-case
            u.host_is_ip = true;
            break;
        }
        case boost::urls::host_type::ipvfuture:
        case boost::urls::host_type::none:
        default:
            return bad;
    }
    if (u.host.empty()) return bad;

    // port
    if (v.has_port()) {
        const auto p = v.port();
        if (!parse_port(std::string_view(p.data(), p.size()), u.port)) return bad;
        u.explicit_port = true;
    } else {
        u.port = default_port(u.scheme);
        u.explicit_port = false;
    }

    // target: the encoded path ("/" when empty) and the encoded query; the fragment is dropped
    const auto path = v.encoded_path();
    if (path.empty()) {
        u.target = "/";
    } else {
        if (path.front() != '/') return bad;  // cannot happen with an authority; be sure
        u.target.assign(path.data(), path.size());
    }
    if (v.has_query()) {
        const auto q = v.encoded_query();
        u.target += '?';
        u.target.append(q.data(), q.size());
    }
    return u;
}

}  // namespace

std::string url::authority() const
{
    std::string out;
    const bool v6 = host.find(':') != std::string::npos;
    if (v6) {
        out.reserve(host.size() + 8);
        out += '[';
        out += host;
        out += ']';
    } else {
        out = host;
    }
    if (port != 0 && port != default_port(scheme)) {
        out += ':';
        out += std::to_string(port);
    }
    return out;
}

std::string url::str() const
{
    std::string out = scheme;
    out += "://";
    out += authority();
    out += target.empty() ? std::string("/") : target;
    return out;
}

result<url> parse_url(std::string_view text)
{
    try {
        return parse_url_impl(text);
    } catch (...) {
        // Boost.URL reports syntax errors as values; only allocation can throw. Never escape.
        return error_code(errc::bad_url);
    }
}

bool host_matches(std::string_view host, std::string_view pattern)
{
    if (host.empty() || pattern.empty()) return false;

    if (pattern.size() >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        const std::string_view domain = pattern.substr(2);
        // a wildcard spans at least two labels ("*.example.com", never "*.com" or "*.")
        if (domain.empty() || domain.find('.') == std::string_view::npos) return false;
        if (domain.front() == '.' || domain.back() == '.') return false;
        if (domain.find('*') != std::string_view::npos) return false;
        // IP literals and localhost only by exact listing
        if (is_ip_literal(host) || iequals(host, "localhost")) return false;
        // host = <at least one label> "." domain
        if (host.size() < domain.size() + 2) return false;
        if (!iends_with(host, domain)) return false;
        const std::string_view rest = host.substr(0, host.size() - domain.size());
        if (rest.back() != '.') return false;
        const std::string_view prefix = rest.substr(0, rest.size() - 1);
        if (prefix.empty() || prefix.front() == '.' || prefix.back() == '.') return false;
        if (prefix.find("..") != std::string_view::npos) return false;
        return true;
    }

    return listed_literally(host, pattern);
}

error_code check_url(const url& u, const host_policy& policy)
{
    const std::string scheme = lower(u.scheme);
    if (scheme == "http") {
        if (!policy.allow_http) return errc::scheme_not_allowed;
    } else if (scheme != "https") {
        return errc::scheme_not_allowed;
    }

    if (u.host.empty()) return errc::host_not_allowed;
    for (const auto& pattern : policy.allowed_hosts) {
        if (host_matches(u.host, pattern)) return {};
    }
    return errc::host_not_allowed;
}

bool is_internal_address(const boost::asio::ip::address& a)
{
    if (a.is_v4()) {
        const auto b = a.to_v4().to_bytes();
        if (b[0] == 0) return true;                                  // 0.0.0.0/8
        if (b[0] == 10) return true;                                 // 10/8
        if (b[0] == 100 && (b[1] & 0xC0) == 64) return true;         // 100.64/10 (CGNAT)
        if (b[0] == 127) return true;                                // 127/8
        if (b[0] == 169 && b[1] == 254) return true;                 // 169.254/16
        if (b[0] == 172 && (b[1] & 0xF0) == 16) return true;         // 172.16/12
        if (b[0] == 192 && b[1] == 168) return true;                 // 192.168/16
        if ((b[0] & 0xF0) == 224) return true;                       // 224/4 multicast
        if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255) return true;  // broadcast
        return false;
    }

    const auto v6 = a.to_v6();
    if (v6.is_v4_mapped()) {
        return is_internal_address(
            boost::asio::ip::address(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6)));
    }
    const auto b = v6.to_bytes();
    if (v6.is_unspecified() || v6.is_loopback()) return true;   // ::, ::1
    if ((b[0] & 0xFE) == 0xFC) return true;                     // fc00::/7
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return true;     // fe80::/10
    if (b[0] == 0xFF) return true;                              // ff00::/8
    return false;
}

error_code check_resolved(std::string_view host, const std::vector<boost::asio::ip::address>& addresses,
                          const host_policy& policy)
{
    const bool internal = std::any_of(addresses.begin(), addresses.end(),
                                      [](const auto& a) { return is_internal_address(a); });
    if (!internal) return {};
    for (const auto& entry : policy.allowed_hosts) {
        if (listed_literally(host, entry)) return {};
    }
    return errc::private_address;
}

error_code check_same_origin(const url& first, const url& next)
{
    if (!iequals(first.scheme, next.scheme)) return errc::next_host_changed;
    if (!iequals(first.host, next.host)) return errc::next_host_changed;
    if (first.port != next.port) return errc::next_host_changed;
    return {};
}

std::string percent_encode(std::string_view s, std::string_view keep)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
            keep.find(static_cast<char>(c)) != std::string_view::npos) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

}  // namespace rostersync::http
