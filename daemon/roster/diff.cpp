#include "roster/diff.hpp"

#include <algorithm>
#include <array>

namespace rostersync::roster {
namespace {

using field_ptr = std::optional<std::string> nrps::member::*;

constexpr std::array<std::pair<std::string_view, field_ptr>, 8> profile_fields{{
    {"name", &nrps::member::name},
    {"given_name", &nrps::member::given_name},
    {"family_name", &nrps::member::family_name},
    {"middle_name", &nrps::member::middle_name},
    {"email", &nrps::member::email},
    {"picture", &nrps::member::picture},
    {"lis_person_sourcedid", &nrps::member::lis_person_sourcedid},
    {"lti11_legacy_user_id", &nrps::member::lti11_legacy_user_id},
}};

std::set<std::string> role_set(const nrps::member& m)
{
    return {m.roles.begin(), m.roles.end()};
}

bool is_membership_role(const std::string& uri)
{
    return uri.starts_with("http://purl.imsglobal.org/vocab/lis/v2/membership#") ||
           uri.starts_with("http://purl.imsglobal.org/vocab/lis/v2/membership/");
}

std::set<std::string> membership_roles(const nrps::member& m)
{
    std::set<std::string> out;
    for (const auto& r : m.roles)
        if (is_membership_role(r)) out.insert(r);
    return out;
}

}  // namespace

std::string_view to_string(change_type t)
{
    switch (t) {
        case change_type::added: return "member.added";
        case change_type::removed: return "member.removed";
        case change_type::roles_changed: return "member.roles_changed";
        case change_type::status_changed: return "member.status_changed";
        case change_type::profile_changed: return "member.profile_changed";
    }
    return "member.unknown";
}

diff_result diff(const std::map<std::string, member_state>& known,
                 const std::map<std::string, time_point>& candidates,
                 const pass_input& pass,
                 const diff_options& opts)
{
    diff_result out;

    // Fields no member of the pass carries: the privacy level, not a change.
    std::vector<field_ptr> hidden;
    if (!pass.members.empty()) {
        for (const auto& [name, field] : profile_fields) {
            bool any = std::any_of(pass.members.begin(), pass.members.end(),
                                   [field](const nrps::member& m) { return (m.*field).has_value(); });
            if (!any) {
                hidden.push_back(field);
                out.privacy_fields.emplace_back(name);
            }
        }
    }

    std::set<std::string> present;
    for (const auto& incoming : pass.members) {
        if (incoming.status == "Deleted") continue;  // only differences responses say Deleted: absent
        present.insert(incoming.user_id);
        auto it = known.find(incoming.user_id);
        if (it == known.end()) {
            out.changes.push_back({change_type::added, incoming.user_id, std::nullopt, incoming});
            continue;
        }
        const member_state& old = it->second;
        nrps::member after = incoming;
        for (field_ptr f : hidden) after.*f = old.record.*f;  // keep what the privacy level hides

        if (old.provisional) {
            // Adoption: the launch knew only membership roles and no reliable profile.
            out.adopted.push_back(incoming.user_id);
            if (membership_roles(old.record) != membership_roles(after)) {
                out.changes.push_back({change_type::roles_changed, incoming.user_id, old.record, after});
            }
            continue;
        }
        // One event per kind, each `after` one step further, so folding them in order reaches
        // the new record and a consumer of any one kind sees its change.
        nrps::member current = old.record;
        if (current.status != after.status) {
            nrps::member next = current;
            next.status = after.status;
            out.changes.push_back({change_type::status_changed, incoming.user_id, current, next});
            current = std::move(next);
        }
        if (role_set(current) != role_set(after)) {
            nrps::member next = current;
            next.roles = after.roles;
            out.changes.push_back({change_type::roles_changed, incoming.user_id, current, next});
            current = std::move(next);
        }
        bool profile = false;
        for (const auto& [name, field] : profile_fields) profile = profile || (current.*field != after.*field);
        if (profile) {
            nrps::member next = current;
            for (const auto& [name, field] : profile_fields) next.*field = after.*field;
            out.changes.push_back({change_type::profile_changed, incoming.user_id, current, next});
        }
    }

    // Missing members: candidates first, removals on the confirming pass.
    std::vector<std::pair<std::string, const member_state*>> removals;
    for (const auto& [uid, st] : known) {
        if (present.count(uid)) continue;
        if (st.provisional && st.launch_seen_at && *st.launch_seen_at >= pass.started_at) continue;
        auto c = candidates.find(uid);
        if (c != candidates.end() && c->second < pass.started_at) {
            removals.emplace_back(uid, &st);
        } else {
            out.candidates[uid] = c != candidates.end() ? c->second : pass.ended_at;
        }
    }

    std::size_t settled = 0;
    for (const auto& [uid, st] : known) settled += !st.provisional;
    const bool guarded = static_cast<int>(settled) >= opts.guard_min_members && settled > 0 &&
                         static_cast<double>(removals.size()) / static_cast<double>(settled) > opts.max_removal_ratio;
    for (const auto& [uid, st] : removals) {
        if (guarded && !opts.release_hold) {
            out.held.push_back(uid);
            out.candidates[uid] = candidates.at(uid);  // still a candidate: a release lets it go
        } else {
            out.changes.push_back({change_type::removed, uid, st->record, std::nullopt});
        }
    }
    return out;
}

}  // namespace rostersync::roster
