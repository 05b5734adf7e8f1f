#pragma once
// File: roster/diff.hpp
//
// The roster diff (DESIGN.md section 1.5), pure: the state a context's change stream folds to,
// plus one complete NRPS pass, give the change events to publish and the next removal candidates.
//
//   - added / status_changed / roles_changed (roles compared as sets of full URIs) /
//     profile_changed, in that order when several apply to one member; each event's `after` is
//     the member's whole new record, so folding events in order reproduces the roster;
//   - removals need two complete passes: a member missing from one complete pass becomes a
//     candidate (with that pass's end); it is removed only when a pass that *started after* that
//     end misses it too; a member seen again stops being a candidate;
//   - the removal guard: when a roster of at least `guard_min_members` would lose more than
//     `max_removal_ratio` of its members, the removals (only they) are held — returned in `held`,
//     not emitted — unless `release_hold` says an operator released them;
//   - a profile field absent for every member of a pass is the platform's privacy level, not a
//     change: the old values stay (reported in `privacy_fields`);
//   - provisional members (from launches) are adopted by the first pass that lists them, without
//     a profile change; one that the pass misses is removable only if the pass started after the
//     launch's `seen_at`.
//
// The known roster is read in place (roster/member_table.hpp), and so is the pass (views into its
// pages, nrps::member_list): an unchanged member is compared field by field against the table and
// never materialised on either side; only members with a change are.
// Removals come out ordered by user_id.
//
// Thread-safe (reads the process-wide role intern table, which is).

#include "nrps/page.hpp"
#include "roster/member_table.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rostersync::roster {

enum class change_type { added, removed, roles_changed, status_changed, profile_changed };
std::string_view to_string(change_type t);

struct change {
    change_type type;
    std::string user_id;
    std::optional<nrps::member> before;
    std::optional<nrps::member> after;
};

struct pass_input {
    nrps::member_list members;          ///< a complete pass, one entry per user_id (read in place)
    time_point started_at;
    time_point ended_at;
};

struct diff_options {
    int guard_min_members = 10;
    double max_removal_ratio = 0.5;
    bool release_hold = false;          ///< an operator released held removals for this pass
};

struct diff_result {
    std::vector<change> changes;
    std::map<std::string, time_point> candidates;  ///< user_id -> end of the first pass that missed it
    std::vector<std::string> held;                 ///< removals held by the guard (not in `changes`)
    std::vector<std::string> adopted;              ///< provisional members this pass confirmed
    std::vector<std::string> privacy_fields;       ///< fields absent for every member (values kept)
};

diff_result diff(const member_table& known,
                 const std::map<std::string, time_point>& candidates,
                 const pass_input& pass,
                 const diff_options& opts = {});

}  // namespace rostersync::roster
