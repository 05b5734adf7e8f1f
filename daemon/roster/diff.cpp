#include "roster/diff.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace rostersync::roster {
namespace {

using field_ptr = profile_field;

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

diff_result diff(const member_table& known,
                 const std::map<std::string, time_point>& candidates,
                 const pass_input& pass,
                 const diff_options& opts)
{
    diff_result out;

    // Fields no member of the pass carries: the privacy level, not a change.
    std::vector<field_ptr> hidden;
    std::array<bool, profile_fields.size()> is_hidden{};
    if (!pass.members.empty()) {
        unsigned carried = 0;
        constexpr unsigned all = (1u << profile_fields.size()) - 1;
        for (const auto& m : pass.members) {
            for (std::size_t i = 0; i < profile_fields.size(); ++i)
                if ((m.*profile_ref_fields[i]).has_value()) carried |= 1u << i;
            if (carried == all) break;
        }
        for (std::size_t i = 0; i < profile_fields.size(); ++i) {
            if (carried & (1u << i)) continue;
            is_hidden[i] = true;
            hidden.push_back(profile_fields[i].second);
            out.privacy_fields.emplace_back(profile_fields[i].first);
        }
    }

    std::vector<bool> present(known.position_bound());
    // A big table misses the cache on every lookup, and again on a profile block. Pipelined: the
    // pass's member i + 2 far is prefetched, the slot of member i + far, member i + near is looked
    // up and its block prefetched, member i is compared.
    constexpr std::size_t far = 16, near = 8;
    const std::size_t n = pass.members.size();
    std::array<member_table::key, far> keys;
    std::array<std::optional<member_view>, far> views;
    auto prepare = [&](std::size_t j) {
        keys[j % far] = member_table::key(pass.members[j].user_id);
        known.prefetch(keys[j % far]);
    };
    auto look_up = [&](std::size_t j) {
        views[j % far] = known.find(keys[j % far]);
        if (views[j % far]) views[j % far]->prefetch();
    };
    for (std::size_t j = 0; j < std::min(far, n); ++j) prepare(j);
    for (std::size_t j = 0; j < std::min(near, n); ++j) look_up(j);
    for (std::size_t i = 0; i < n; ++i) {
        if (i + 2 * far < n) __builtin_prefetch(&pass.members[i + 2 * far]);
        if (i + near < n) look_up(i + near);
        if (i + far < n) prepare(i + far);
        const nrps::member_ref& incoming = pass.members[i];
        if (incoming.status == "Deleted") continue;  // only differences responses say Deleted: absent
        const auto& found = views[i % far];
        if (!found) {
            out.changes.push_back({change_type::added, std::string(incoming.user_id), std::nullopt, incoming.to_member()});
            continue;
        }
        const member_view& old = *found;
        present[old.position()] = true;

        if (old.provisional()) {
            // Adoption: the launch knew only membership roles and no reliable profile.
            out.adopted.emplace_back(incoming.user_id);
            nrps::member before = old.record();
            nrps::member after = incoming.to_member();
            for (field_ptr f : hidden) after.*f = before.*f;  // keep what the privacy level hides
            if (membership_roles(before) != membership_roles(after)) {
                out.changes.push_back({change_type::roles_changed, std::string(incoming.user_id), std::move(before), std::move(after)});
            }
            continue;
        }

        // The usual case, an unchanged member, is decided in place.
        bool same = old.status() == incoming.status && old.same_role_set(incoming.roles);
        if (same) {
            const profile_values kept = old.profile();
            for (std::size_t f = 0; f < profile_fields.size() && same; ++f) {
                if (is_hidden[f]) continue;
                const auto& now = incoming.*profile_ref_fields[f];
                same = kept[f].has_value() == now.has_value() && (!now || *kept[f] == *now);
            }
        }
        if (same) continue;

        nrps::member current = old.record();
        nrps::member after = incoming.to_member();
        for (field_ptr f : hidden) after.*f = current.*f;  // keep what the privacy level hides
        // One event per kind, each `after` one step further, so folding them in order reaches
        // the new record and a consumer of any one kind sees its change.
        if (current.status != after.status) {
            nrps::member next = current;
            next.status = after.status;
            out.changes.push_back({change_type::status_changed, after.user_id, current, next});
            current = std::move(next);
        }
        if (role_set(current) != role_set(after)) {
            nrps::member next = current;
            next.roles = after.roles;
            out.changes.push_back({change_type::roles_changed, after.user_id, current, next});
            current = std::move(next);
        }
        bool profile = false;
        for (const auto& [name, field] : profile_fields) profile = profile || (current.*field != after.*field);
        if (profile) {
            nrps::member next = current;
            for (const auto& [name, field] : profile_fields) next.*field = after.*field;
            out.changes.push_back({change_type::profile_changed, after.user_id, current, next});
        }
    }

    // Missing members: candidates first, removals on the confirming pass.
    std::vector<std::pair<std::string, member_view>> removals;
    known.for_each([&](member_view st) {
        if (present[st.position()]) return;
        if (st.provisional()) {
            const auto seen = st.launch_seen_at();
            if (seen && *seen >= pass.started_at) return;
        }
        std::string uid = st.user_id();
        auto c = candidates.find(uid);
        if (c != candidates.end() && c->second < pass.started_at) {
            removals.emplace_back(std::move(uid), st);
        } else {
            const time_point since = c != candidates.end() ? c->second : pass.ended_at;
            out.candidates.emplace(std::move(uid), since);
        }
    });
    std::sort(removals.begin(), removals.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });

    const std::size_t settled = known.size() - known.provisional_count();
    const bool guarded = static_cast<int>(settled) >= opts.guard_min_members && settled > 0 &&
                         static_cast<double>(removals.size()) / static_cast<double>(settled) > opts.max_removal_ratio;
    for (auto& [uid, st] : removals) {
        if (guarded && !opts.release_hold) {
            out.candidates[uid] = candidates.at(uid);  // still a candidate: a release lets it go
            out.held.push_back(std::move(uid));
        } else {
            out.changes.push_back({change_type::removed, std::move(uid), st.record(), std::nullopt});
        }
    }
    return out;
}

}  // namespace rostersync::roster
