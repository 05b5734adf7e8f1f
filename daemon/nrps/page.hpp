#pragma once
// File: nrps/page.hpp
//
// One NRPS membership container page (reference canvas-nrps.md section 2, NRPS v2.0), parsed with
// simdjson on demand. Every field of the reference is read; unknown fields are ignored; a wrong
// type or a missing required field is an error that names the field (and the caller adds the
// page). Pure; thread-safe (a parser per thread).
//
//     auto p = nrps::parse_page(body);
//     if (!p) log.warning("bad page", {{"error", p.error().message}});   // "members[3].roles: expected an array of strings"
//
// A parsed page's members are read in place: each `member_ref` is a set of views into the page's
// text block (simdjson unescapes every string of the page straight into it) and its array of role
// views, so a page costs a handful of allocations whatever its size. The views live as long as the
// `member_list` holding them, or the list it was merged into (moves keep them valid);
// `member_ref::to_member()` makes an owning `member` where one must outlive the list (a change
// event, the state).

#include "common/error.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rostersync::nrps {

/// A member with owning strings: what change events, the state and decoded records keep.
struct member {
    std::string user_id;                  ///< required, non-empty
    std::string status = "Active";        ///< "Active" when absent; "Inactive"; "Deleted" (differences)
    std::vector<std::string> roles;       ///< required (may be empty), full URIs as sent
    std::optional<std::string> name;
    std::optional<std::string> given_name;
    std::optional<std::string> family_name;
    std::optional<std::string> middle_name;
    std::optional<std::string> email;
    std::optional<std::string> picture;
    std::optional<std::string> lis_person_sourcedid;
    std::optional<std::string> lti11_legacy_user_id;

    bool operator==(const member&) const = default;
};

/// A member's roles as views, in the order sent.
class role_views : public std::span<const std::string_view> {
public:
    using std::span<const std::string_view>::span;

    friend bool operator==(role_views a, role_views b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }
    friend bool operator==(role_views a, const std::vector<std::string>& b)
    {
        return std::equal(a.begin(), a.end(), b.begin(), b.end());
    }
};

/// A member of a member_list, read in place: the same fields as `member`, as views into text the
/// list owns.
struct member_ref {
    std::string_view user_id;
    std::string_view status = "Active";
    role_views roles;
    std::optional<std::string_view> name;
    std::optional<std::string_view> given_name;
    std::optional<std::string_view> family_name;
    std::optional<std::string_view> middle_name;
    std::optional<std::string_view> email;
    std::optional<std::string_view> picture;
    std::optional<std::string_view> lis_person_sourcedid;
    std::optional<std::string_view> lti11_legacy_user_id;

    /// The member with owning copies of its strings.
    member to_member() const;

    bool operator==(const member_ref&) const = default;
    friend bool operator==(const member_ref& a, const member& b);
};

/// user_id -> position, for member_list::merge (the caller keeps it from page to page).
using member_index = std::unordered_map<std::string_view, std::size_t>;

/// Members and the text their views point into: a parsed page's, or several pages' merged into a
/// pass. Move-only (the views point into blocks it owns; a move keeps the blocks where they are).
class member_list {
public:
    member_list() = default;
    /// Copies of `members` (tests, benchmarks): their strings are copied into the list. Implicit,
    /// so a pass can be written as a vector of members.
    member_list(const std::vector<member>& members);  // NOLINT(google-explicit-constructor)
    member_list(member_list&& other) noexcept { *this = std::move(other); }
    member_list& operator=(member_list&& other) noexcept
    {
        if (this != &other) {
            refs_ = std::move(other.refs_);
            blocks_ = std::move(other.blocks_);
            // The room left in the last blocks goes with them.
            text_next_ = std::exchange(other.text_next_, nullptr);
            text_left_ = std::exchange(other.text_left_, 0);
            roles_next_ = std::exchange(other.roles_next_, nullptr);
            roles_left_ = std::exchange(other.roles_left_, 0);
        }
        return *this;
    }
    member_list(const member_list&) = delete;
    member_list& operator=(const member_list&) = delete;
    ~member_list() = default;

    std::size_t size() const noexcept { return refs_.size(); }
    bool empty() const noexcept { return refs_.empty(); }
    const member_ref& operator[](std::size_t i) const noexcept { return refs_[i]; }
    const member_ref* begin() const noexcept { return refs_.data(); }
    const member_ref* end() const noexcept { return refs_.data() + refs_.size(); }

    /// Appends a copy of `m` (its strings copied into the list).
    void push_back(const member& m);

    /// Appends `more`'s members and takes over their text. A member whose user_id is already in
    /// `index` replaces that entry in place (the later copy wins, the first-seen position is
    /// kept); `index` (user_id -> position in this list) must have seen every member added so far.
    /// Returns how many members replaced an earlier one.
    std::size_t merge(member_list&& more, member_index& index);

    /// Every member with owning strings.
    std::vector<member> to_members() const;

    friend bool operator==(const member_list& a, const member_list& b)
    {
        return std::equal(a.begin(), a.end(), b.begin(), b.end());
    }

private:
    /// One block of text (a page's unescaped strings, or room for push_back's copies) and one of
    /// role views; either may be empty.
    struct free_text {
        void operator()(char* p) const noexcept { std::free(p); }
    };
    using text_ptr = std::unique_ptr<char, free_text>;  ///< malloc'd: a page's shrinks with realloc
    struct block {
        text_ptr text;
        std::unique_ptr<std::string_view[]> roles;
    };

    friend class page_builder;  // parse.cpp

    std::vector<member_ref> refs_;
    std::vector<block> blocks_;
    // push_back's free room in its last blocks.
    char* text_next_ = nullptr;
    std::size_t text_left_ = 0;
    std::string_view* roles_next_ = nullptr;
    std::size_t roles_left_ = 0;
};

struct context_info {
    std::string id;                       ///< required, non-empty
    std::optional<std::string> label;
    std::optional<std::string> title;
};

struct page {
    std::string id;                       ///< the container id (Canvas: the request URL); may be empty
    context_info context;
    member_list members;
};

/// Why a page did not parse: `ec` is nrps::errc::malformed_page; `message` names the field.
struct page_error {
    error_code ec;
    std::string message;  ///< e.g. "members[3].roles: expected an array of strings", "not JSON: …"
};

[[noreturn]] void throw_exception_from_error(const page_error& e, const boost::source_location& loc);

/// Parses a page. Rules: the body is a JSON object; `members` is required and an array;
/// `context` is required with a string `id` (label, title optional strings); `id` optional string;
/// each member needs a non-empty string `user_id` and an array of strings `roles`; `status`, when
/// present, is one of "Active", "Inactive", "Deleted"; optional fields must be strings when present
/// (JSON null counts as absent); `message` and other fields are ignored whatever their type.
/// `max_members` bounds one page (more is an error, not a cut).
result<page, page_error> parse_page(std::string_view json, std::size_t max_members = 10'000);

}  // namespace rostersync::nrps
