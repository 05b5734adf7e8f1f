#include "sync/records.hpp"

#include "roster/encode.hpp"
#include "sync/json_fields.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

namespace rostersync::sync {
namespace json = boost::json;
using detail::fail;
using detail::str;
namespace {

/// An integer field: a JSON integer, or (proto3's JSON mapping of 64-bit integers) a string of
/// exactly that; values beyond int64 saturate, so range checks see them as too large.
std::optional<std::int64_t> integer(const json::object& o, std::string_view k)
{
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    constexpr auto min = std::numeric_limits<std::int64_t>::min();
    auto it = o.find(k);
    if (it == o.end()) return std::nullopt;
    if (it->value().is_int64()) return it->value().as_int64();
    if (it->value().is_uint64())
        return static_cast<std::int64_t>(std::min<std::uint64_t>(it->value().as_uint64(), max));
    if (it->value().is_string()) {
        const auto& text = it->value().as_string();
        const char* end = text.data() + text.size();
        std::int64_t v = 0;
        const auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (ptr != end || text.empty()) return std::nullopt;  // "12abc", " 12", "1.5", ""
        if (ec == std::errc::result_out_of_range) return text.front() == '-' ? min : max;
        if (ec != std::errc{}) return std::nullopt;
        return v;
    }
    return std::nullopt;
}

bool boolean(const json::object& o, std::string_view k)
{
    auto it = o.find(k);
    return it != o.end() && it->value().is_bool() && it->value().as_bool();
}

/// A time the encoders wrote: put_time writes the epoch as absent, and roster::rfc3339 cannot
/// write earlier times, so a time at or before the epoch reads as absent (a record from
/// elsewhere, or damaged, must decode to what it would encode to).
std::optional<roster::time_point> record_time(std::string_view text)
{
    auto t = parse_rfc3339(text);
    if (t && *t <= roster::time_point{}) return std::nullopt;
    return t;
}

std::optional<roster::time_point> time_field(const json::object& o, std::string_view k)
{
    if (auto s = str(o, k)) return record_time(*s);
    return std::nullopt;
}

void put_time(json::object& o, std::string_view k, roster::time_point t)
{
    if (t != roster::time_point{}) o[k] = roster::rfc3339(t);
}

result<json::object, std::string> parse_object(std::string_view text)
{
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) return fail<json::object>("not a JSON object");
    return std::move(v.as_object());
}

}  // namespace

result<nrps::member, std::string> decode_member_json(const json::value& v, std::string_view where)
{
    if (!v.is_object()) return fail<nrps::member>(std::string(where) + ": expected an object");
    const auto& o = v.as_object();
    nrps::member m;
    m.status = str(o, "status").value_or("Active");
    if (auto it = o.find("roles"); it != o.end()) {
        if (!it->value().is_array()) return fail<nrps::member>(std::string(where) + ".roles: expected an array");
        for (const auto& r : it->value().as_array()) {
            if (!r.is_string()) return fail<nrps::member>(std::string(where) + ".roles: expected strings");
            m.roles.emplace_back(r.as_string());
        }
    }
    m.name = str(o, "name");
    m.given_name = str(o, "given_name");
    m.family_name = str(o, "family_name");
    m.middle_name = str(o, "middle_name");
    m.email = str(o, "email");
    m.picture = str(o, "picture");
    m.lis_person_sourcedid = str(o, "lis_person_sourcedid");
    m.lti11_legacy_user_id = str(o, "lti11_legacy_user_id");
    return m;
}

std::string encode_context(const context_record& c)
{
    json::object o;
    o["context_key"] = c.context_key;
    o["platform"] = c.platform;
    o["issuer"] = c.issuer;
    o["client_id"] = c.client_id;
    if (!c.deployment_id.empty()) o["deployment_id"] = c.deployment_id;
    json::object ctx{{"id", c.context_id}};
    if (!c.label.empty()) ctx["label"] = c.label;
    if (!c.title.empty()) ctx["title"] = c.title;
    o["context"] = std::move(ctx);
    if (!c.memberships_url.empty()) o["context_memberships_url"] = c.memberships_url;
    const auto& s = c.schedule;
    put_time(o, "last_pass_start", s.last_pass_start);
    if (c.last_pass_end) put_time(o, "last_pass_end", *c.last_pass_end);
    put_time(o, "last_forced", s.last_forced);
    put_time(o, "last_seen", s.last_seen);
    put_time(o, "next_due", s.next_due);
    if (s.dirty) o["dirty"] = true;
    if (s.requested) o["requested"] = true;
    if (s.unchanged_passes) o["unchanged_passes"] = s.unchanged_passes;
    if (s.parked) {
        o["parked"] = true;
        o["parked_reason"] = s.parked_reason;
    }
    if (s.retired) o["retired"] = true;
    if (!c.last_outcome.empty()) o["last_outcome"] = c.last_outcome;
    if (!c.last_error.empty()) o["last_error"] = c.last_error;
    o["roster_version"] = c.roster_version;
    o["members"] = c.members;
    if (!c.candidates.empty()) {
        json::object cand;
        for (const auto& [uid, t] : c.candidates) cand[uid] = roster::rfc3339(t);
        o["candidates"] = std::move(cand);
    }
    if (c.held) o["held"] = c.held;
    if (c.held_since) put_time(o, "held_since", *c.held_since);
    if (c.release_until) put_time(o, "release_until", *c.release_until);
    return json::serialize(o);
}

result<context_record, std::string> decode_context(std::string_view text)
{
    auto parsed = parse_object(text);
    if (!parsed) return fail<context_record>(parsed.error());
    const auto& o = *parsed;
    context_record c;
    c.context_key = str(o, "context_key").value_or("");
    if (c.context_key.empty()) return fail<context_record>("context_key: missing");
    c.platform = str(o, "platform").value_or("");
    c.issuer = str(o, "issuer").value_or("");
    c.client_id = str(o, "client_id").value_or("");
    c.deployment_id = str(o, "deployment_id").value_or("");
    if (auto it = o.find("context"); it != o.end() && it->value().is_object()) {
        const auto& ctx = it->value().as_object();
        c.context_id = str(ctx, "id").value_or("");
        c.label = str(ctx, "label").value_or("");
        c.title = str(ctx, "title").value_or("");
    }
    if (c.context_id.empty()) return fail<context_record>("context.id: missing");
    c.memberships_url = str(o, "context_memberships_url").value_or("");
    auto& s = c.schedule;
    s.context_key = c.context_key;
    s.last_pass_start = time_field(o, "last_pass_start").value_or(roster::time_point{});
    c.last_pass_end = time_field(o, "last_pass_end");
    s.last_forced = time_field(o, "last_forced").value_or(roster::time_point{});
    s.last_seen = time_field(o, "last_seen").value_or(roster::time_point{});
    s.next_due = time_field(o, "next_due").value_or(roster::time_point{});
    s.dirty = boolean(o, "dirty");
    s.requested = boolean(o, "requested");
    // The scheduler counts to 30 (its backoff cap) and adds one before capping: keep the count
    // far from int's limits whatever the record says.
    s.unchanged_passes =
        static_cast<int>(std::clamp<std::int64_t>(integer(o, "unchanged_passes").value_or(0), 0, 64));
    s.parked = boolean(o, "parked");
    s.parked_reason = str(o, "parked_reason").value_or("");
    s.retired = boolean(o, "retired");
    c.last_outcome = str(o, "last_outcome").value_or("");
    c.last_error = str(o, "last_error").value_or("");
    auto version = integer(o, "roster_version").value_or(0);
    if (version < 0 || version > 0xffffffffLL) return fail<context_record>("roster_version: out of range");
    c.roster_version = static_cast<std::uint32_t>(version);
    c.members = static_cast<std::uint64_t>(std::max<std::int64_t>(0, integer(o, "members").value_or(0)));
    if (auto it = o.find("candidates"); it != o.end() && it->value().is_object()) {
        for (const auto& kv : it->value().as_object()) {
            if (!kv.value().is_string()) continue;
            if (auto t = record_time(std::string_view(kv.value().as_string())))
                c.candidates.emplace(std::string(kv.key()), *t);
        }
    }
    c.held = static_cast<std::uint64_t>(std::max<std::int64_t>(0, integer(o, "held").value_or(0)));
    c.held_since = time_field(o, "held_since");
    c.release_until = time_field(o, "release_until");
    return c;
}

std::string encode_row(std::string_view issuer, std::string_view context_id, const roster::member_state& m,
                       std::uint32_t roster_version)
{
    auto v = json::parse(roster::encode_member(m.record));
    auto& o = v.as_object();
    o["issuer"] = issuer;
    o["context_id"] = context_id;
    o["user_id"] = m.record.user_id;
    if (m.provisional) o["provisional"] = true;
    if (m.launch_seen_at) o["launch_seen_at"] = roster::rfc3339(*m.launch_seen_at);
    o["roster_version"] = roster_version;
    return json::serialize(o);
}

result<member_row, std::string> decode_row(std::string_view text)
{
    // A restore decodes every row of the table: the parsed tree lives in a stack arena (no heap
    // allocation for a row of ordinary size), and the row copies what it keeps.
    std::array<unsigned char, 4096> buffer;
    json::monotonic_resource arena(buffer.data(), buffer.size());
    boost::system::error_code ec;
    auto v = json::parse(text, ec, &arena);
    if (ec || !v.is_object()) return fail<member_row>("not a JSON object");
    auto m = decode_member_json(v, "row");
    if (!m) return fail<member_row>(m.error());
    member_row r;
    r.member = std::move(*m);
    const auto& o = v.as_object();
    r.issuer = str(o, "issuer").value_or("");
    r.context_id = str(o, "context_id").value_or("");
    r.member.user_id = str(o, "user_id").value_or("");
    if (r.issuer.empty() || r.context_id.empty() || r.member.user_id.empty())
        return fail<member_row>("issuer, context_id and user_id are required");
    r.provisional = boolean(o, "provisional");
    r.launch_seen_at = time_field(o, "launch_seen_at");
    auto version = integer(o, "roster_version").value_or(0);
    r.roster_version = static_cast<std::uint32_t>(std::clamp<std::int64_t>(version, 0, 0xffffffffLL));
    return r;
}

std::string encode_checkpoint(const checkpoint& c)
{
    json::object o;
    o["partition"] = c.partition;
    o["changes_offset"] = std::to_string(c.changes_offset);  // int64: a string in proto3 JSON
    o["written_at"] = roster::rfc3339(c.written_at);
    return json::serialize(o);
}

result<checkpoint, std::string> decode_checkpoint(std::string_view text)
{
    auto parsed = parse_object(text);
    if (!parsed) return fail<checkpoint>(parsed.error());
    checkpoint c;
    auto p = integer(*parsed, "partition");
    auto off = integer(*parsed, "changes_offset");
    if (!p) return fail<checkpoint>("partition: missing or not an integer");
    if (*p < 0 || *p > std::numeric_limits<std::int32_t>::max())
        return fail<checkpoint>("partition: out of range");
    if (!off) return fail<checkpoint>("changes_offset: missing or not an integer");
    if (*off < 0) return fail<checkpoint>("changes_offset: out of range");
    c.partition = static_cast<std::int32_t>(*p);
    c.changes_offset = *off;
    c.written_at = time_field(*parsed, "written_at").value_or(roster::time_point{});
    return c;
}

std::string encode_sync_request(const course_seen& cs)
{
    json::object o;
    o["issuer"] = cs.issuer;
    o["client_id"] = cs.client_id;
    if (!cs.deployment_id.empty()) o["deployment_id"] = cs.deployment_id;
    json::object ctx{{"id", cs.context_id}};
    if (!cs.context_label.empty()) ctx["label"] = cs.context_label;
    if (!cs.context_title.empty()) ctx["title"] = cs.context_title;
    o["context"] = std::move(ctx);
    if (!cs.memberships_url.empty()) o["context_memberships_url"] = cs.memberships_url;
    if (!cs.resource_link_id.empty()) o["resource_link_id"] = cs.resource_link_id;
    if (cs.seen_at) o["seen_at"] = roster::rfc3339(*cs.seen_at);
    if (cs.force) o["force"] = true;
    if (cs.user) {
        json::object u{{"user_id", cs.user->user_id}};
        json::array roles;
        for (const auto& r : cs.user->roles) roles.emplace_back(r);
        u["roles"] = std::move(roles);
        if (cs.user->name) u["name"] = *cs.user->name;
        if (cs.user->email) u["email"] = *cs.user->email;
        o["launch_user"] = std::move(u);
    }
    return json::serialize(o);
}

}  // namespace rostersync::sync
