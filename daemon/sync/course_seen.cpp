// File: sync/course_seen.cpp
//
// CourseSeen validation (see course_seen.hpp for the rules). Nothing here throws on bad input:
// every problem becomes a `rejection` whose message names the field and never repeats personal
// data (user ids, names, emails). Values that may be echoed (issuer, client_id, URL host) are
// reduced to printable ASCII and truncated first, because messages end up in Kafka headers and logs.
//
// Conventions (proto3 JSON mapping, which the schema in proto/ follows): a known field that is
// null counts as absent, and so does an empty string for optional strings.

#include "sync/course_seen.hpp"

#include "http/error.hpp"
#include "http/url.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <cstdint>
#include <ctime>
#include <exception>
#include <limits>
#include <stdexcept>
#include <utility>

namespace rostersync::sync {
namespace {

namespace json = boost::json;

constexpr std::size_t max_identifier_bytes = 1024;
constexpr std::size_t max_echo_bytes = 200;

constexpr std::string_view membership_prefix = "http://purl.imsglobal.org/vocab/lis/v2/membership#";
constexpr std::string_view membership_sub_prefix = "http://purl.imsglobal.org/vocab/lis/v2/membership/";

// ---------------------------------------------------------------------------------------------
// rejections

rejection reject(std::string reason, std::string message)
{
    return rejection{std::move(reason), std::move(message)};
}

rejection bad_field(std::string_view path, std::string_view what)
{
    std::string m(path);
    m += ": ";
    m += what;
    return reject("bad_field", std::move(m));
}

rejection missing_field(std::string_view path, std::string_view detail = {})
{
    std::string m(path);
    m += ": missing";
    if (!detail.empty()) {
        m += " (";
        m += detail;
        m += ')';
    }
    return reject("missing_field", std::move(m));
}

/// Printable ASCII only (quotes and backslashes too become '?'), at most max_echo_bytes.
std::string echo(std::string_view s)
{
    std::string out;
    const std::size_t n = std::min(s.size(), max_echo_bytes);
    out.reserve(n + 3);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        out += (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : static_cast<char>(c);
    }
    if (s.size() > n) out += "...";
    return out;
}

const char* describe(const json::value& v) noexcept
{
    switch (v.kind()) {
        case json::kind::null: return "null";
        case json::kind::bool_: return "a boolean";
        case json::kind::int64:
        case json::kind::uint64:
        case json::kind::double_: return "a number";
        case json::kind::string: return "a string";
        case json::kind::array: return "an array";
        case json::kind::object: return "an object";
    }
    return "something else";
}

std::string expected(std::string_view what, const json::value& got)
{
    std::string m = "expected ";
    m += what;
    m += ", got ";
    m += describe(got);
    return m;
}

// ---------------------------------------------------------------------------------------------
// field readers: each returns a rejection on failure, nothing on success

using failure = std::optional<rejection>;

/// The field's value, or nullptr when absent or null.
const json::value* field(const json::object& o, std::string_view key)
{
    const json::value* v = o.if_contains(json::string_view(key.data(), key.size()));
    if (v == nullptr || v->is_null()) return nullptr;
    return v;
}

/// An optional string: absent/null leaves `out` empty and `present` false. `limit` 0: no limit
/// beyond the record's size.
failure read_string(const json::object& o, std::string_view key, std::string_view path, std::string& out,
                    bool& present, std::size_t limit)
{
    present = false;
    const json::value* v = field(o, key);
    if (v == nullptr) return {};
    if (!v->is_string()) return bad_field(path, expected("a string", *v));
    const json::string& s = v->get_string();
    if (limit != 0 && s.size() > limit)
        return bad_field(path, "longer than " + std::to_string(limit) + " bytes");
    out.assign(s.data(), s.size());
    present = true;
    return {};
}

/// An identifier: a string of at most max_identifier_bytes; when required, present and non-empty.
failure read_identifier(const json::object& o, std::string_view key, std::string_view path, std::string& out,
                        bool required)
{
    bool present = false;
    if (auto f = read_string(o, key, path, out, present, max_identifier_bytes)) return f;
    if (required && out.empty()) return missing_field(path);
    return {};
}

/// A free-text optional string ("" counts as absent).
failure read_optional_text(const json::object& o, std::string_view key, std::string_view path,
                           std::optional<std::string>& out)
{
    std::string s;
    bool present = false;
    if (auto f = read_string(o, key, path, s, present, 0)) return f;
    if (present && !s.empty()) out = std::move(s);
    return {};
}

/// An optional object; nullptr when absent or null.
failure read_object(const json::object& o, std::string_view key, std::string_view path, const json::object*& out)
{
    out = nullptr;
    const json::value* v = field(o, key);
    if (v == nullptr) return {};
    if (!v->is_object()) return bad_field(path, expected("an object", *v));
    out = &v->get_object();
    return {};
}

bool is_membership_role(std::string_view role) noexcept
{
    if (role.starts_with(membership_prefix)) return role.size() > membership_prefix.size();
    if (role.starts_with(membership_sub_prefix)) {
        const std::string_view rest = role.substr(membership_sub_prefix.size());
        const auto hash = rest.find('#');
        return hash != std::string_view::npos && hash > 0 && hash + 1 < rest.size();
    }
    return false;
}

failure read_launch_user(const json::object& o, std::optional<launch_user>& out)
{
    const json::object* lu = nullptr;
    if (auto f = read_object(o, "launch_user", "launch_user", lu)) return f;
    if (lu == nullptr) return {};

    launch_user user;
    if (auto f = read_identifier(*lu, "user_id", "launch_user.user_id", user.user_id, false)) return f;

    if (const json::value* roles = field(*lu, "roles")) {
        if (!roles->is_array()) return bad_field("launch_user.roles", expected("an array of strings", *roles));
        const json::array& arr = roles->get_array();
        for (std::size_t i = 0; i < arr.size(); ++i) {
            const json::value& r = arr[i];
            if (!r.is_string())
                return bad_field("launch_user.roles[" + std::to_string(i) + "]", expected("a string", r));
            const json::string& s = r.get_string();
            const std::string_view role(s.data(), s.size());
            if (is_membership_role(role)) user.roles.emplace_back(role);
        }
    }
    if (auto f = read_optional_text(*lu, "name", "launch_user.name", user.name)) return f;
    if (auto f = read_optional_text(*lu, "email", "launch_user.email", user.email)) return f;

    // An anonymous launch (no user id) or one without a course-membership role (administrators,
    // observers without enrolment) provisions nothing.
    if (user.user_id.empty() || user.roles.empty()) return {};
    out = std::move(user);
    return {};
}

const config::platform* find_platform(const config::config& cfg, std::string_view issuer,
                                      std::string_view client_id) noexcept
{
    for (const auto& p : cfg.platforms) {
        if (p.issuer == issuer && p.client_id == client_id) return &p;
    }
    return nullptr;
}

/// The URL guard. On success `out` is the URL as parsed (normalised: lower-case host, no
/// fragment), which is what later requests use.
failure guard_url(std::string_view text, const config::platform& p, std::string& out)
{
    constexpr std::string_view path = "context_memberships_url";
    auto parsed = http::parse_url(text);
    if (!parsed) {
        return reject("url_not_allowed",
                      std::string(path) + ": not an absolute http(s) URL (or it has userinfo or a bad port)");
    }
    const http::host_policy policy{p.allowed_hosts, p.allow_http};
    if (const error_code ec = http::check_url(*parsed, policy)) {
        std::string m(path);
        if (ec == http::errc::scheme_not_allowed) {
            m += ": scheme " + echo(parsed->scheme) + " is not allowed for platform " + echo(p.name) +
                 " (https only unless allow_http = true)";
        } else {
            m += ": host " + echo(parsed->host) + " is not in the allowed_hosts of platform " + echo(p.name);
            if (parsed->host_is_ip || parsed->host == "localhost")
                m += " (IP addresses and localhost must be listed literally)";
        }
        return reject("url_not_allowed", std::move(m));
    }
    out = parsed->str();
    return {};
}

result<course_seen, rejection> parse_impl(std::string_view text, const config::config& cfg, std::size_t max_bytes)
{
    if (text.size() > max_bytes) {
        return reject("too_large", "record is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                                       std::to_string(max_bytes));
    }

    // Everything parsed lives in this arena; the result copies what it keeps.
    std::array<unsigned char, 4096> buffer;
    json::monotonic_resource arena(buffer.data(), buffer.size());
    json::parse_options opts;
    opts.max_depth = 32;
    json::error_code ec;
    const json::value root = json::parse(json::string_view(text.data(), text.size()), ec, &arena, opts);
    if (ec) return reject("not_json", "not valid JSON: " + ec.message());
    if (!root.is_object()) return reject("not_json", "expected a JSON object at the top level, got " + std::string(describe(root)));
    const json::object& o = root.get_object();

    course_seen cs;
    if (auto f = read_identifier(o, "issuer", "issuer", cs.issuer, true)) return *f;
    if (auto f = read_identifier(o, "client_id", "client_id", cs.client_id, true)) return *f;
    if (auto f = read_identifier(o, "deployment_id", "deployment_id", cs.deployment_id, false)) return *f;

    const json::object* ctx = nullptr;
    if (auto f = read_object(o, "context", "context", ctx)) return *f;
    if (ctx == nullptr) return missing_field("context.id");
    if (auto f = read_identifier(*ctx, "id", "context.id", cs.context_id, true)) return *f;
    bool present = false;
    if (auto f = read_string(*ctx, "label", "context.label", cs.context_label, present, 0)) return *f;
    if (auto f = read_string(*ctx, "title", "context.title", cs.context_title, present, 0)) return *f;

    std::string url_text;
    bool have_url = false;
    if (auto f = read_string(o, "context_memberships_url", "context_memberships_url", url_text, have_url, 0))
        return *f;
    have_url = have_url && !url_text.empty();

    if (auto f = read_identifier(o, "resource_link_id", "resource_link_id", cs.resource_link_id, false)) return *f;

    std::string seen_at;
    if (auto f = read_string(o, "seen_at", "seen_at", seen_at, present, 0)) return *f;
    if (!seen_at.empty()) {
        cs.seen_at = parse_rfc3339(seen_at);
        if (!cs.seen_at)
            return bad_field("seen_at", "expected an RFC 3339 time such as 2026-11-27T10:00:00Z");
        // The time goes into change events and records, whose encoder (roster::rfc3339) writes
        // only times from the epoch on; no launch happened before 1970.
        if (*cs.seen_at < std::chrono::system_clock::time_point{})
            return bad_field("seen_at", "before 1970-01-01T00:00:00Z");
    }

    if (const json::value* v = field(o, "force")) {
        if (!v->is_bool()) return bad_field("force", "expected true or false, got " + std::string(describe(*v)));
        cs.force = v->get_bool();
    }

    if (auto f = read_launch_user(o, cs.user)) return *f;

    // The platform: (issuer, client_id).
    const config::platform* p = find_platform(cfg, cs.issuer, cs.client_id);
    if (p == nullptr) {
        return reject("unknown_platform", "no configured platform has issuer \"" + echo(cs.issuer) +
                                              "\" and client_id \"" + echo(cs.client_id) + "\"");
    }
    cs.platform = p->name;

    // The memberships URL.
    if (p->nrps) {
        if (!have_url)
            return missing_field("context_memberships_url", "required for platform " + echo(p->name) + " (nrps = true)");
        if (auto f = guard_url(url_text, *p, cs.memberships_url)) return *f;
    } else if (have_url) {
        // A launch-only platform never calls NRPS, but a launch may still carry the claim. Such an
        // event is valid for provisioning, so a URL the guard refuses is left out instead of
        // refusing the event; only a URL that passes is kept (for a later switch to nrps = true).
        std::string kept;
        if (!guard_url(url_text, *p, kept)) cs.memberships_url = std::move(kept);
    }
    return cs;
}

// ---------------------------------------------------------------------------------------------
// RFC 3339

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) noexcept
{
    if (pos + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        const char c = s[i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    out = v;
    return true;
}

constexpr bool is_leap(int y) noexcept
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr int days_in_month(int y, int m) noexcept
{
    constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && is_leap(y)) ? 29 : days[static_cast<std::size_t>(m - 1)];
}

}  // namespace

void throw_exception_from_error(const rejection& r, const boost::source_location&)
{
    throw std::runtime_error(r.reason + ": " + r.message);
}

result<course_seen, rejection> parse_course_seen(std::string_view json, const config::config& cfg,
                                                 std::size_t max_bytes)
{
    try {
        return parse_impl(json, cfg, max_bytes);
    } catch (const std::exception&) {
        // Boost.JSON reports syntax errors as values; only allocation can throw. Never escape.
        return reject("not_json", "could not be read (out of memory)");
    }
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s)
{
    // YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (s.size() < 20) return std::nullopt;
    if (!digits(s, 0, 4, year) || s[4] != '-' || !digits(s, 5, 2, month) || s[7] != '-' ||
        !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, hour) || s[13] != ':' ||
        !digits(s, 14, 2, minute) || s[16] != ':' || !digits(s, 17, 2, second))
        return std::nullopt;
    if (month < 1 || month > 12) return std::nullopt;
    if (day < 1 || day > days_in_month(year, month)) return std::nullopt;
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;  // 60: a leap second

    std::size_t pos = 19;
    std::int64_t nanos = 0;
    if (s[pos] == '.') {
        ++pos;
        const std::size_t start = pos;
        std::int64_t scale = 100'000'000;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            nanos += scale * (s[pos] - '0');  // digits past nanoseconds are read and dropped
            scale /= 10;
            ++pos;
        }
        if (pos == start) return std::nullopt;
    }
    if (pos >= s.size()) return std::nullopt;

    int offset_minutes = 0;
    if (s[pos] == 'Z' || s[pos] == 'z') {
        ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
        int oh = 0, om = 0;
        if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om))
            return std::nullopt;
        if (oh > 23 || om > 59) return std::nullopt;
        offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != s.size()) return std::nullopt;

    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const std::int64_t local = static_cast<std::int64_t>(::timegm(&tm));
    const std::int64_t utc = local - std::int64_t{offset_minutes} * 60;

    // system_clock counts nanoseconds in 64 bits (years 1678 to 2262 or so): refuse what does
    // not fit instead of overflowing.
    using clock = std::chrono::system_clock;
    constexpr std::int64_t limit =
        std::chrono::duration_cast<std::chrono::seconds>(clock::duration::max()).count() - 1;
    if (utc > limit || utc < -limit) return std::nullopt;
    return clock::time_point(std::chrono::duration_cast<clock::duration>(std::chrono::seconds(utc)) +
                             std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(nanos)));
}

}  // namespace rostersync::sync
