#include "sync/state.hpp"

#include "sync/course_seen.hpp"
#include "sync/json_fields.hpp"
#include "sync/records.hpp"

#include <boost/json.hpp>

#include <array>

#include <stdexcept>

namespace rostersync::sync {
namespace json = boost::json;
using detail::fail;
using detail::str;

result<change_event, std::string> decode_change(std::string_view text)
{
    // The fold decodes every change: the parsed tree lives in a stack arena (no heap allocation
    // for an event of ordinary size), and the event copies what it keeps.
    std::array<unsigned char, 4096> buffer;
    json::monotonic_resource arena(buffer.data(), buffer.size());
    boost::system::error_code ec;
    auto v = json::parse(text, ec, &arena);
    if (ec || !v.is_object()) return fail<change_event>("not a JSON object");
    const auto& o = v.as_object();
    change_event e;
    auto need = [&](std::string_view k, std::string& out) -> bool {
        auto s = str(o, k);
        if (!s || s->empty()) return false;
        out = *s;
        return true;
    };
    if (!need("type", e.type)) return fail<change_event>("type: missing");
    if (!need("issuer", e.issuer)) return fail<change_event>("issuer: missing");
    if (!need("user_id", e.user_id)) return fail<change_event>("user_id: missing");
    auto ctx = o.find("context");
    if (ctx == o.end() || !ctx->value().is_object()) return fail<change_event>("context: missing");
    if (auto id = str(ctx->value().as_object(), "id"); id && !id->empty()) e.context_id = *id;
    else return fail<change_event>("context.id: missing");
    e.id = str(o, "id").value_or("");
    e.source = str(o, "source").value_or("nrps");
    if (auto it = o.find("roster_version"); it != o.end()) {
        if (it->value().is_uint64()) e.roster_version = static_cast<std::uint32_t>(it->value().as_uint64());
        else if (it->value().is_int64() && it->value().as_int64() >= 0)
            e.roster_version = static_cast<std::uint32_t>(it->value().as_int64());
        else return fail<change_event>("roster_version: expected a non-negative integer");
    }
    // roster::rfc3339 writes only times from the epoch on; an earlier one reads as absent.
    if (auto t = str(o, "time")) e.time = parse_rfc3339(*t);
    if (e.time && *e.time < roster::time_point{}) e.time.reset();
    if (auto it = o.find("after"); it != o.end() && !it->value().is_null()) {
        auto m = decode_member_json(it->value(), "after");
        if (!m) return fail<change_event>(m.error());
        m->user_id = e.user_id;
        e.after = std::move(*m);
    }
    if (e.type != "member.removed" && !e.after) return fail<change_event>("after: missing for " + e.type);
    return e;
}

context_state& partition_state::context_for(std::string_view issuer, std::string_view context_id)
{
    key_.assign(issuer);
    key_ += '|';
    key_ += context_id;
    if (auto it = contexts_.find(key_); it != contexts_.end()) return it->second;
    return contexts_[key_];
}

void partition_state::apply(const change_event& e, std::int64_t offset)
{
    if (offset < position_) {
        ++ignored_;  // a replayed record already folded
        return;
    }
    position_ = offset + 1;
    auto& ctx = context_for(e.issuer, e.context_id);
    ctx.roster_version = std::max(ctx.roster_version, e.roster_version);
    dirty(key_, ctx);
    if (e.type == "member.removed") {
        memberships_ -= ctx.members.erase(e.user_id);
        ctx.removed.push_back(e.user_id);
        return;
    }
    const bool launch = e.source == "launch";
    memberships_ +=
        ctx.members.insert_or_assign(e.user_id, *e.after, launch, launch ? e.time : std::nullopt, /*marked=*/true);
}

void partition_state::load(const std::string& context_key, std::string user_id, roster::member_state m,
                           std::uint32_t roster_version)
{
    auto& ctx = contexts_[context_key];
    ctx.roster_version = std::max(ctx.roster_version, roster_version);
    memberships_ += ctx.members.insert_or_assign(user_id, m.record, m.provisional, m.launch_seen_at);
}

bool partition_state::erase_row(std::string_view membership_key)
{
    for (auto bar = membership_key.find('|'); bar != std::string_view::npos;
         bar = membership_key.find('|', bar + 1)) {
        key_.assign(membership_key.substr(0, bar));
        auto it = contexts_.find(key_);
        if (it == contexts_.end()) continue;
        if (it->second.members.erase(membership_key.substr(bar + 1))) {
            --memberships_;
            return true;
        }
    }
    return false;
}

void partition_state::mark_dirty(std::string_view membership_key)
{
    // Ids may contain '|': the split whose context exists and has the member; else (a removal)
    // the first split whose context exists.
    context_state* removal = nullptr;
    std::string removal_key;
    std::string_view removal_user;
    for (auto bar = membership_key.find('|'); bar != std::string_view::npos;
         bar = membership_key.find('|', bar + 1)) {
        key_.assign(membership_key.substr(0, bar));
        auto it = contexts_.find(key_);
        if (it == contexts_.end()) continue;
        auto& ctx = it->second;
        const auto user = membership_key.substr(bar + 1);
        if (auto m = ctx.members.get(user)) {
            ctx.members.insert_or_assign(user, m->record, m->provisional, m->launch_seen_at, /*marked=*/true);
            dirty(key_, ctx);
            return;
        }
        if (removal == nullptr) {
            removal = &ctx;
            removal_key = key_;
            removal_user = user;
        }
    }
    if (removal != nullptr) {
        removal->removed.emplace_back(removal_user);
        dirty(removal_key, *removal);
    }
}

const context_state* partition_state::context(const std::string& key) const
{
    auto it = contexts_.find(key);
    return it == contexts_.end() ? nullptr : &it->second;
}

}  // namespace rostersync::sync
