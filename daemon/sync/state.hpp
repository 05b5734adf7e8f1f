#pragma once
// File: sync/state.hpp
//
// The state of a partition, folded only from the change stream in log order (DESIGN.md 1.6):
// each MembershipChange sets its member to `after` (or removes it), so the state can never
// disagree with what was published. The pipeline feeds it from its state consumer; a context is
// diffed against it only once the consumer passed the context's last acknowledged change.
//
// Members are kept in roster::member_table (interned role lists, packed user_ids, a profile block
// only for members with a profile): 45 resident bytes a membership at the anonymous privacy
// level, 120 at the public level (1,000,000 memberships; roster/README.md).
//
// Not thread-safe: one partition's state belongs to its state consumer.

#include "common/error.hpp"
#include "roster/diff.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rostersync::sync {

/// A MembershipChange read back from the stream.
struct change_event {
    std::string id;
    std::string type;               ///< member.added, …
    std::string source;             ///< nrps | launch
    std::string issuer;
    std::string context_id;
    std::string user_id;
    std::uint32_t roster_version = 0;
    std::optional<nrps::member> after;
    std::optional<roster::time_point> time;
};

/// Decodes our own MembershipChange JSON; the error names the field.
result<change_event, std::string> decode_change(std::string_view json);

struct context_state {
    roster::member_table members;       ///< by user_id (compact: roster/member_table.hpp)
    std::uint32_t roster_version = 0;   ///< the highest folded
    // Since the last snapshot (take_dirty): members changed are marked in `members`; removed
    // ones are listed here (possibly twice, possibly present again).
    std::vector<std::string> removed;
    bool dirty = false;
};

class partition_state {
public:
    /// Folds one record at `offset` (offsets must increase; older ones are ignored and counted).
    void apply(const change_event& e, std::int64_t offset);

    /// A row of the memberships table (restore), before the replay from its checkpoint.
    void load(const std::string& context_key, std::string user_id, roster::member_state m,
              std::uint32_t roster_version);
    /// A tombstone of the memberships table: removes the row keyed `membership_key`
    /// ("<issuer>|<context_id>|<user_id>"; roster::membership_key). Ids may contain '|', so
    /// every split is tried against the contexts present. Returns whether a member was removed.
    bool erase_row(std::string_view membership_key);
    /// Where the replay starts (the checkpoint); later records fold, earlier ones are ignored.
    void set_position(std::int64_t next) { position_ = next; }
    /// A record that could not be decoded: the position moves past it.
    void skip(std::int64_t offset) { position_ = std::max(position_, offset + 1); }

    /// Rows of the memberships table changed by apply() since the last call: calls
    /// f(context_key, user_id, member) for each, member being nullptr for a removal (a
    /// tombstone), and forgets them. Loaded rows (load()) are not changed rows.
    template <class F>
    void take_dirty(F&& f);
    /// Whether apply() changed a row since the last take_dirty.
    bool has_dirty() const { return !dirty_keys_.empty(); }
    /// Marks a row taken by take_dirty as changed again (its snapshot failed), by its membership
    /// key: written next time as it is then (row or tombstone).
    void mark_dirty(std::string_view membership_key);

    const context_state* context(const std::string& context_key) const;
    const std::unordered_map<std::string, context_state>& contexts() const { return contexts_; }
    /// The next offset to read (last applied + 1), -1 before anything was applied.
    std::int64_t position() const { return position_; }
    std::size_t memberships() const { return memberships_; }
    long ignored() const { return ignored_; }

private:
    context_state& context_for(std::string_view issuer, std::string_view context_id);
    void dirty(const std::string& key, context_state& ctx)
    {
        if (ctx.dirty) return;
        ctx.dirty = true;
        dirty_keys_.push_back(key);
    }

    std::unordered_map<std::string, context_state> contexts_;  // by "<issuer>|<context_id>"
    std::string key_;                                          // reused to build keys
    std::vector<std::string> dirty_keys_;                      // contexts with dirty rows
    std::int64_t position_ = -1;
    std::size_t memberships_ = 0;
    long ignored_ = 0;
};

template <class F>
void partition_state::take_dirty(F&& f)
{
    auto keys = std::move(dirty_keys_);
    dirty_keys_.clear();
    for (const auto& key : keys) {
        auto it = contexts_.find(key);
        if (it == contexts_.end()) continue;
        auto& ctx = it->second;
        ctx.dirty = false;
        ctx.members.take_marked([&](roster::member_view v) {
            const auto user = v.user_id();
            const auto m = v.state();
            f(key, std::string_view(user), &m);
        });
        auto removed = std::move(ctx.removed);
        ctx.removed = {};
        std::sort(removed.begin(), removed.end());
        removed.erase(std::unique(removed.begin(), removed.end()), removed.end());
        for (const auto& user : removed)
            if (!ctx.members.contains(user)) f(key, std::string_view(user), static_cast<const roster::member_state*>(nullptr));
    }
}

}  // namespace rostersync::sync
