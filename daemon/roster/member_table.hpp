#pragma once
// File: roster/member_table.hpp
//
// The members of one context as the state keeps them: a compact open-addressing table (Robin Hood
// probing, backward-shift erase) of 32-byte slots keyed by user_id, plus a process-wide intern
// table of role lists. What one slot holds:
//
//   - the user_id: a canonical UUID (Canvas's `sub`, either case) packed into 16 bytes, an id of
//     up to 16 bytes inline, anything else on the heap (pointer and length in the same 16 bytes);
//   - the roles: a 4-byte id of the interned role list (the list as sent, order and duplicates
//     kept, with the id of its canonical set: sorted, duplicates dropped), so "Learner" costs 4
//     bytes a member and set comparison starts from a shared, precomputed set;
//   - the status ("Active", "Inactive", "Deleted") and the provisional flag, one byte each;
//   - a pointer to a profile block, allocated only when the member has any of: a profile field
//     (name, given/family/middle name, email, picture, lis_person_sourcedid,
//     lti11_legacy_user_id), a launch time, an unusual status, or roles the intern table had no
//     room for. The block is one allocation of length-prefixed strings.
//
// Everything round-trips exactly: find(u)->state() is the member_state that was stored (with
// user_id == u). Measured sizes are in roster/README.md.
//
//     member_table t;
//     t.insert_or_assign(member_state{record});
//     if (auto v = t.find("6f1c…")) use(v->status(), v->same_role_set(roles));
//     t.for_each([](member_view v) { … });
//
// Thread safety: like a standard container (concurrent const use is safe, a writer needs
// exclusive access). The role intern table is process-wide and thread-safe: interning takes a
// mutex (after a per-thread cache of recent lists), reading an interned list is lock-free.

#include "nrps/page.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rostersync::roster {

using time_point = std::chrono::system_clock::time_point;

/// What the state knows of one member (the folded `after` of its last event).
struct member_state {
    nrps::member record;
    bool provisional = false;               ///< added from a launch, not yet seen by a pass
    std::optional<time_point> launch_seen_at;
};

// ---------------------------------------------------------------------------------------------
// Interned role lists (process-wide)

using role_list_id = std::uint32_t;
/// No interned list: the member keeps its roles in its profile block (the intern table is full).
inline constexpr role_list_id no_role_list = 0xffffffffu;

struct role_list {
    std::vector<std::string> roles;  ///< as sent: order and duplicates kept
    role_list_id set = 0;            ///< the id of its set (sorted, no duplicates); itself when it is one
};

/// At most this many distinct lists are interned (sets count too); past it, members keep their
/// roles themselves, so a platform sending unique role strings cannot grow the table without bound.
inline constexpr std::size_t max_role_lists = 1u << 16;

/// The id of `roles`, interning it (and its set); no_role_list when the table is full.
role_list_id intern_roles(const std::vector<std::string>& roles);
/// An interned list; lock-free. `id` must come from intern_roles and not be no_role_list.
const role_list& role_list_at(role_list_id id);
/// How many lists are interned, and roughly the bytes they take (for the benchmarks).
std::size_t role_lists_interned();
std::size_t role_lists_bytes();

// ---------------------------------------------------------------------------------------------
// Profile fields

using profile_field = std::optional<std::string> nrps::member::*;

/// The profile fields in their fixed order (bit i of a profile block is field i).
inline constexpr std::array<std::pair<std::string_view, profile_field>, 8> profile_fields{{
    {"name", &nrps::member::name},
    {"given_name", &nrps::member::given_name},
    {"family_name", &nrps::member::family_name},
    {"middle_name", &nrps::member::middle_name},
    {"email", &nrps::member::email},
    {"picture", &nrps::member::picture},
    {"lis_person_sourcedid", &nrps::member::lis_person_sourcedid},
    {"lti11_legacy_user_id", &nrps::member::lti11_legacy_user_id},
}};

/// The same fields of a member read in place (nrps::member_ref), in the same order.
using profile_ref_field = std::optional<std::string_view> nrps::member_ref::*;
inline constexpr std::array<profile_ref_field, profile_fields.size()> profile_ref_fields{{
    &nrps::member_ref::name,
    &nrps::member_ref::given_name,
    &nrps::member_ref::family_name,
    &nrps::member_ref::middle_name,
    &nrps::member_ref::email,
    &nrps::member_ref::picture,
    &nrps::member_ref::lis_person_sourcedid,
    &nrps::member_ref::lti11_legacy_user_id,
}};

using profile_values = std::array<std::optional<std::string_view>, profile_fields.size()>;

enum class member_status : std::uint8_t { active, inactive, deleted, other };

// ---------------------------------------------------------------------------------------------
// The table

class member_table;

namespace detail {
struct member_slot {
    unsigned char key[16];        ///< packed UUID, inline bytes (zero-padded), or heap pointer + length
    role_list_id roles;           ///< interned list, or no_role_list (roles in the block)
    std::uint8_t kind;            ///< 0 empty; 1..17 inline (length kind-1); uuid_lower, uuid_upper, heap
    std::uint8_t status_flags;    ///< member_status in bits 0-1, provisional in bit 2, marked in bit 3
    std::uint16_t dist;           ///< Robin Hood probe distance from the home slot
    unsigned char* block;         ///< profile block or nullptr
};
static_assert(sizeof(member_slot) == 32);
}  // namespace detail

/// A member in a table, read in place. Valid until the table is next modified.
class member_view {
public:
    std::string user_id() const;
    /// "Active", "Inactive", "Deleted", or the unusual value as stored.
    std::string_view status() const;
    member_status status_code() const;
    bool provisional() const;
    /// Set by insert_or_assign(…, marked = true), cleared by member_table::take_marked.
    bool marked() const;
    std::optional<time_point> launch_seen_at() const;
    /// The interned list, or no_role_list when the member keeps its roles itself.
    role_list_id roles_id() const;
    std::vector<std::string> roles() const;
    /// Whether `roles` is the same set of URIs (order and duplicates ignored).
    bool same_role_set(std::span<const std::string_view> roles) const;
    bool same_role_set(const std::vector<std::string>& roles) const;
    /// Every profile field, in profile_fields order (views into the table).
    profile_values profile() const;
    /// The member materialised.
    nrps::member record() const;
    member_state state() const;
    /// A hint that profile() or record() follows soon: starts loading the profile block.
    void prefetch() const noexcept
    {
        if (s_->block != nullptr) __builtin_prefetch(s_->block);
    }
    /// The slot index: unique among the table's members, below member_table::position_bound().
    std::size_t position() const { return pos_; }

private:
    friend class member_table;
    member_view(const detail::member_slot& s, std::size_t pos) : s_(&s), pos_(pos) {}
    const detail::member_slot* s_;
    std::size_t pos_;
};

class member_table {
public:
    member_table() = default;
    member_table(const member_table& other);
    member_table(member_table&& other) noexcept;
    member_table& operator=(const member_table& other);
    member_table& operator=(member_table&& other) noexcept;
    ~member_table();

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    /// Members added from a launch and not yet confirmed by a pass.
    std::size_t provisional_count() const { return provisional_; }

    /// A user_id prepared for lookups (hashed; packed when it is a UUID). Refers to the string it
    /// was made from, which must outlive it. The same for every table.
    class key {
    public:
        key() = default;
        explicit key(std::string_view user_id);

    private:
        friend class member_table;
        std::string_view text_;
        std::uint32_t hash_ = 0;
        std::uint8_t kind_ = 0;
        unsigned char bytes_[16] = {};
    };

    std::optional<member_view> find(std::string_view user_id) const { return find(key(user_id)); }
    std::optional<member_view> find(const key& k) const;
    /// A hint that find(k) follows soon: starts loading its slot into the cache. For loops over
    /// many ids, a few iterations ahead (a big table misses the cache on every lookup).
    void prefetch(const key& k) const noexcept;
    bool contains(std::string_view user_id) const { return find(user_id).has_value(); }
    /// The member materialised, or nullopt.
    std::optional<member_state> get(std::string_view user_id) const;
    /// The member materialised; throws std::out_of_range when absent.
    member_state at(std::string_view user_id) const;

    /// Sets the member to exactly this; the key is `user_id` (record.user_id is not read).
    /// `marked`: a bit the owner uses (the sync state: "changed since the last snapshot"); a
    /// member keeps it until take_marked or the next insert_or_assign. Returns true when the
    /// member is new.
    bool insert_or_assign(std::string_view user_id, const nrps::member& record, bool provisional = false,
                          std::optional<time_point> launch_seen_at = std::nullopt, bool marked = false);
    bool insert_or_assign(const member_state& m)
    {
        return insert_or_assign(m.record.user_id, m.record, m.provisional, m.launch_seen_at);
    }
    /// Returns true when there was such a member.
    bool erase(std::string_view user_id);
    void clear();
    /// Room for `n` members without growing.
    void reserve(std::size_t n);

    /// Calls f(member_view) for every member, in no particular order.
    template <class F>
    void for_each(F&& f) const
    {
        for (std::size_t i = 0; i < capacity_; ++i)
            if (slots_[i].kind != 0) f(member_view(slots_[i], i));
    }
    /// Calls f(member_view) for every marked member, clearing its mark first.
    template <class F>
    void take_marked(F&& f)
    {
        for (std::size_t i = 0; i < capacity_; ++i) {
            if (slots_[i].kind == 0 || (slots_[i].status_flags & marked_bit) == 0) continue;
            slots_[i].status_flags &= static_cast<std::uint8_t>(~marked_bit);
            f(member_view(slots_[i], i));
        }
    }
    static constexpr std::uint8_t marked_bit = 0x8;
    /// Every member_view::position() is below this.
    std::size_t position_bound() const { return capacity_; }

    /// What the table allocated (requested bytes, before malloc's own overhead).
    struct memory {
        std::size_t slots = 0;     ///< the slot array (32 bytes a slot)
        std::size_t keys = 0;      ///< user_ids that neither pack nor fit inline
        std::size_t profiles = 0;  ///< profile blocks
    };
    memory memory_usage() const;

private:
    using slot = detail::member_slot;

    std::size_t locate(const key& k) const;  // the slot index, or capacity_ when absent
    void grow(std::size_t min_capacity);
    bool place(slot s, std::uint32_t hash);    // false: a probe distance overflowed (s not placed)
    void insert_new(slot s, std::uint32_t hash);
    void release(slot& s);

    std::unique_ptr<slot[]> slots_;
    std::uint32_t capacity_ = 0;
    std::uint32_t size_ = 0;
    std::uint32_t provisional_ = 0;
};

}  // namespace rostersync::roster
