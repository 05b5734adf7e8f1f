#pragma once
// File: lms_sim/nrps_page.hpp
//
// Canvas's NRPS response for one page, as pure functions (reference canvas-nrps.md sections 1.3,
// 1.4, 2 and 3): page-size rules, the role filter, the membership container JSON with privacy
// levels and null fields omitted, and the Link header in Canvas's exact bytes.

#include "lms_sim/world.hpp"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rostersync::lms_sim {

using query = std::vector<std::pair<std::string, std::string>>;  ///< as received, in order

inline constexpr int max_page_size = 50;

/// `limit` (clamped to 50, ignored when not a positive integer) overrides `per_page` (same
/// rules); default 50.
int page_size(const query& q);
/// `page`, 1-based; anything else means 1.
int page_number(const query& q);

/// The members a `role` filter keeps. nullopt: no filter. An unknown or short role keeps nobody.
bool role_matches(const member& m, const std::string& role_uri, bool group);

struct page_slice {
    std::vector<const member*> members;
    int page = 1;
    int per_page = max_page_size;
    int last_page = 1;  ///< at least 1, also for an empty roster
};

/// Offset paging over members ordered by canvas id, after the role filter.
page_slice slice(const context& c, const query& q);

/// `<base?others&page=N&per_page=M>; rel="current",…` — rels current, next, prev, first, last
/// joined by "," without a space; `limit`, `page`, `per_page`, `access_token`, `api_key` dropped
/// from the passed-through parameters.
std::string link_header(const std::string& base_url, const query& q, int page, int per_page, int last_page);

/// The membership container JSON. `request_url` becomes `id` as is. With `rlid_message`, each
/// member carries Canvas's one-element `message` array (a simulated LtiResourceLinkRequest).
/// `statuses` (spec mode) overrides a member's status by user_id ("Inactive"); Canvas always
/// says "Active".
std::string render_container(const std::string& request_url, const context& c,
                             const std::vector<const member*>& members, privacy level,
                             bool rlid_message = false,
                             const std::map<std::string, std::string>* statuses = nullptr);

/// Percent-encoding as Rails writes query values.
std::string url_encode(const std::string& s);

}  // namespace rostersync::lms_sim
