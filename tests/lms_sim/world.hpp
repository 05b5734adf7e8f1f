#pragma once
// File: lms_sim/world.hpp
//
// The simulated platform's data: courses and groups with their people, generated from a seed and
// changed between passes, so a test knows exactly which membership changes a correct client must
// report. Pure and deterministic: the same seed gives the same world on every machine.
//
//     world w(42);
//     auto& c = w.add_course({.size = 120});
//     auto before = w.snapshot(c.id);
//     w.churn(c.id, {.joins = 3, .drops = 2, .role_changes = 1});
//     auto expected = diff(before, w.snapshot(c.id));   // what the client must emit
//
// Not thread-safe; the simulator server owns it on one strand.

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace rostersync::lms_sim {

/// Canvas enrollment types (reference 2.3) and group membership.
enum class enrollment { student, teacher, ta, designer, observer, test_student, group_member, group_leader };

/// A tool's privacy level (developer key `privacy_level`).
enum class privacy { anonymous, name_only, email_only, everything };

struct person {
    std::uint64_t canvas_id = 0;   ///< numeric, pages are ordered by it
    std::string user_id;           ///< the LTI 1.3 `sub` (UUID form)
    std::string lti11_id;          ///< 40 hex
    std::string name, given_name, family_name;  ///< may be empty (people with missing names)
    std::string email;                          ///< may be empty
    std::string picture;
    std::string sourcedid;                      ///< SIS id; may be empty
};

struct member {
    person who;
    std::set<enrollment> enrollments;
};

struct context {
    bool group = false;
    std::uint64_t id = 0;          ///< Canvas course or group id (in the URL)
    std::string context_id;        ///< opaque 40-hex LTI context id
    std::string label;             ///< empty for groups (omitted in JSON)
    std::string title;
    bool deleted = false;
    std::map<std::uint64_t, member> members;  ///< by canvas_id: offset paging order
    std::set<std::string> resource_links;     ///< rlid values a tool may pass (besides context_id)

    // Spec mode (differences): a change counter and, per user, the counter at its last change.
    std::uint64_t seq = 0;
    std::map<std::string, std::uint64_t> changed_at;
    std::set<std::string> inactive;           ///< user_ids reported "Inactive" in spec mode

    // Courses only, for the REST API and the provisioning report (account discovery).
    std::uint64_t account_id = 1;             ///< the (sub-)account the course belongs to
    std::uint64_t term_id = 1;                ///< enrollment term
    std::string state = "available";          ///< Canvas workflow_state: created, claimed, available, completed, deleted
};

/// A Canvas account: the root (id 1, parent 0) or a sub-account.
struct account {
    std::uint64_t id = 0;
    std::uint64_t parent = 0;
    std::string name;
};

/// The role URIs Canvas reports for a member (union, de-duplicated, in a stable order).
std::vector<std::string> lti_roles(const member& m);

struct course_spec {
    int size = 30;
    double teacher_share = 0.03;
    double ta_share = 0.03;
    double observer_share = 0.01;
    double designer_share = 0.0;
    bool test_student = true;
    double missing_name_share = 0.02;
    double missing_email_share = 0.05;
    std::uint64_t account_id = 1;             ///< must exist (world::add_account); 1 is the root account
    std::uint64_t term_id = 1;
    std::string state = "available";
    std::string title;                        ///< empty: "Course <id>"
};

struct churn_spec {
    int joins = 0;
    int drops = 0;
    int role_changes = 0;
    int profile_changes = 0;
};

/// One expected change between two snapshots of a context.
struct expected_change {
    std::string user_id;
    std::string type;  ///< member.added, member.removed, member.roles_changed, member.profile_changed
};

using snapshot = std::map<std::string, member>;  ///< by user_id

/// What a correct client reports between two complete passes (roles compared as sets).
std::vector<expected_change> diff(const snapshot& before, const snapshot& after);

class world {
public:
    explicit world(std::uint64_t seed);

    context& add_course(const course_spec& spec);
    context& add_group(int size);
    context* find(bool group, std::uint64_t id);
    snapshot snapshot_of(std::uint64_t id, bool group = false) const;

    /// Applies random joins, drops, role and profile changes to one context.
    void churn(std::uint64_t id, const churn_spec& spec, bool group = false);
    /// Removes the member with the lowest canvas id (shifts everyone else one place left).
    void drop_first(std::uint64_t id, bool group = false);
    void empty(std::uint64_t id, bool group = false);
    void remove_context(std::uint64_t id, bool group = false);
    /// Spec mode: marks a member Inactive (still listed) and records the change.
    void deactivate(std::uint64_t id, const std::string& user_id, bool group = false);

    const std::map<std::uint64_t, context>& courses() const { return courses_; }

    /// Adds a sub-account of `parent` (the root account, id 1, always exists).
    account& add_account(std::uint64_t parent, std::string name);
    const account* find_account(std::uint64_t id) const;
    /// The account and every account below it.
    std::set<std::uint64_t> account_tree(std::uint64_t id) const;
    const std::map<std::uint64_t, account>& accounts() const { return accounts_; }

private:
    person make_person(bool missing_name, bool missing_email);
    std::string hex(std::size_t n);
    static void touch(context& c, const std::string& user_id) { c.changed_at[user_id] = ++c.seq; }

    std::mt19937_64 rng_;
    std::uint64_t next_user_ = 1000;
    std::uint64_t next_course_ = 100;
    std::uint64_t next_group_ = 500;
    std::map<std::uint64_t, context> courses_;
    std::map<std::uint64_t, context> groups_;
    std::map<std::uint64_t, account> accounts_{{1, account{.id = 1, .parent = 0, .name = "Root account"}}};
    std::uint64_t next_account_ = 2;
};

}  // namespace rostersync::lms_sim
