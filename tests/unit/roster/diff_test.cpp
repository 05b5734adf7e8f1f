#include "roster/diff.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace rostersync::roster {
namespace {

using namespace std::chrono_literals;

const std::string learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";
const std::string instructor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor";
const std::string ta = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant";

const time_point t0 = time_point{} + 1'000'000s;

nrps::member m(std::string id, std::vector<std::string> roles = {learner}, std::optional<std::string> email = {})
{
    nrps::member x;
    x.user_id = std::move(id);
    x.roles = std::move(roles);
    x.name = "Name " + x.user_id;
    x.email = email ? email : std::optional<std::string>(x.user_id + "@example.edu");
    return x;
}

member_table state_of(const std::vector<nrps::member>& ms)
{
    member_table s;
    for (const auto& x : ms) s.insert_or_assign(member_state{x});
    return s;
}

pass_input pass(std::vector<nrps::member> ms, time_point start, time_point end)
{
    return {std::move(ms), start, end};
}

std::vector<std::string> types(const diff_result& r)
{
    std::vector<std::string> out;
    for (const auto& c : r.changes) out.push_back(std::string(to_string(c.type)) + ":" + c.user_id);
    return out;
}

TEST(Diff, FirstPassAddsEveryone)
{
    auto r = diff({}, {}, pass({m("a"), m("b")}, t0, t0 + 1s));
    EXPECT_EQ(types(r), (std::vector<std::string>{"member.added:a", "member.added:b"}));
    EXPECT_FALSE(r.changes[0].before);
    ASSERT_TRUE(r.changes[0].after);
    EXPECT_TRUE(r.candidates.empty());
}

TEST(Diff, UnchangedPassYieldsNothing)
{
    auto s = state_of({m("a"), m("b")});
    auto r = diff(s, {}, pass({m("b"), m("a")}, t0, t0 + 1s));
    EXPECT_TRUE(r.changes.empty());
}

TEST(Diff, RolesAreComparedAsSets)
{
    auto s = state_of({m("t", {ta, instructor})});
    EXPECT_TRUE(diff(s, {}, pass({m("t", {instructor, ta})}, t0, t0 + 1s)).changes.empty());
    auto r = diff(s, {}, pass({m("t", {instructor})}, t0, t0 + 1s));
    EXPECT_EQ(types(r), (std::vector<std::string>{"member.roles_changed:t"}));
    EXPECT_EQ(r.changes[0].before->roles.size(), 2u);
    EXPECT_EQ(r.changes[0].after->roles, (std::vector<std::string>{instructor}));
}

TEST(Diff, SeveralKindsOfChangeStepByStep)
{
    auto s = state_of({m("a")});
    auto changed = m("a", {instructor}, "new@example.edu");
    changed.status = "Inactive";
    auto r = diff(s, {}, pass({changed}, t0, t0 + 1s));
    EXPECT_EQ(types(r), (std::vector<std::string>{"member.status_changed:a", "member.roles_changed:a",
                                                  "member.profile_changed:a"}));
    // Each step's after is the next step's before; the last is the new record.
    EXPECT_EQ(r.changes[0].after, r.changes[1].before);
    EXPECT_EQ(r.changes[1].after, r.changes[2].before);
    EXPECT_EQ(r.changes[2].after, changed);
    EXPECT_EQ(r.changes[0].after->roles, (std::vector<std::string>{learner}));  // only the status moved
}

TEST(Diff, RemovalNeedsTwoCompletePasses)
{
    auto s = state_of({m("a"), m("b")});
    auto first = diff(s, {}, pass({m("a")}, t0, t0 + 10s));
    EXPECT_TRUE(first.changes.empty());
    ASSERT_EQ(first.candidates.count("b"), 1u);
    EXPECT_EQ(first.candidates.at("b"), t0 + 10s);
    // A pass that started before the first one ended cannot confirm.
    auto overlapping = diff(s, first.candidates, pass({m("a")}, t0 + 5s, t0 + 20s));
    EXPECT_TRUE(overlapping.changes.empty());
    EXPECT_EQ(overlapping.candidates.at("b"), t0 + 10s);
    // One that started after it ended does.
    auto second = diff(s, first.candidates, pass({m("a")}, t0 + 11s, t0 + 20s));
    EXPECT_EQ(types(second), (std::vector<std::string>{"member.removed:b"}));
    EXPECT_TRUE(second.changes[0].before);
    EXPECT_FALSE(second.changes[0].after);
    EXPECT_TRUE(second.candidates.empty());
}

TEST(Diff, MemberSeenAgainStopsBeingACandidate)
{
    auto s = state_of({m("a"), m("b")});
    std::map<std::string, time_point> cands{{"b", t0}};
    auto r = diff(s, cands, pass({m("a"), m("b")}, t0 + 1s, t0 + 2s));
    EXPECT_TRUE(r.changes.empty());
    EXPECT_TRUE(r.candidates.empty());
}

TEST(Diff, GuardHoldsMassRemovalsButNotAdds)
{
    std::vector<nrps::member> many;
    for (int i = 0; i < 20; ++i) many.push_back(m("u" + std::to_string(i)));
    auto s = state_of(many);
    std::map<std::string, time_point> cands;
    for (int i = 0; i < 20; ++i) cands["u" + std::to_string(i)] = t0;
    auto r = diff(s, cands, pass({m("new")}, t0 + 1s, t0 + 2s), {.guard_min_members = 10, .max_removal_ratio = 0.5});
    EXPECT_EQ(types(r), (std::vector<std::string>{"member.added:new"}));
    EXPECT_EQ(r.held.size(), 20u);
    EXPECT_EQ(r.candidates.size(), 20u);  // still candidates, for a release
    auto released = diff(s, cands, pass({m("new")}, t0 + 1s, t0 + 2s),
                         {.guard_min_members = 10, .max_removal_ratio = 0.5, .release_hold = true});
    EXPECT_EQ(std::count_if(released.changes.begin(), released.changes.end(),
                            [](const change& c) { return c.type == change_type::removed; }),
              20);
    // Below guard_min_members the guard does not apply.
    auto small = state_of({m("x"), m("y")});
    auto r2 = diff(small, {{"x", t0}, {"y", t0}}, pass({}, t0 + 1s, t0 + 2s), {.guard_min_members = 10});
    EXPECT_EQ(r2.changes.size(), 2u);
}

TEST(Diff, FieldAbsentForEveryoneIsThePrivacyLevel)
{
    auto s = state_of({m("a"), m("b")});
    auto a = m("a"), b = m("b");
    a.email.reset();
    b.email.reset();
    auto r = diff(s, {}, pass({a, b}, t0, t0 + 1s));
    EXPECT_TRUE(r.changes.empty());
    EXPECT_EQ(r.privacy_fields, (std::vector<std::string>{"given_name", "family_name", "middle_name", "email", "picture", "lis_person_sourcedid",
                                                          "lti11_legacy_user_id"}));
    // One member dropping an email while others keep theirs is a change.
    auto c = m("a");
    c.email.reset();
    auto r2 = diff(s, {}, pass({c, m("b")}, t0, t0 + 1s));
    EXPECT_EQ(types(r2), (std::vector<std::string>{"member.profile_changed:a"}));
}

TEST(Diff, ProvisionalMembersAreAdoptedAndProtected)
{
    member_table s;
    auto launch = m("p", {learner});
    launch.name.reset();
    s.insert_or_assign({launch, true, t0 + 5s});
    // Adopted without a profile change.
    auto adopted = diff(s, {}, pass({m("p", {learner})}, t0 + 10s, t0 + 11s));
    EXPECT_TRUE(adopted.changes.empty());
    EXPECT_EQ(adopted.adopted, (std::vector<std::string>{"p"}));
    // A pass that started before the launch cannot remove it, nor make it a candidate.
    auto early = diff(s, {}, pass({}, t0, t0 + 20s));
    EXPECT_TRUE(early.changes.empty());
    EXPECT_TRUE(early.candidates.empty());
    // One that started after the launch can (after confirmation).
    auto later = diff(s, {}, pass({}, t0 + 6s, t0 + 7s));
    EXPECT_EQ(later.candidates.count("p"), 1u);
}

TEST(Diff, DeletedStatusCountsAsAbsent)
{
    auto s = state_of({m("a")});
    auto gone = m("a");
    gone.status = "Deleted";
    auto r = diff(s, {}, pass({gone}, t0, t0 + 1s));
    EXPECT_TRUE(r.changes.empty());
    EXPECT_EQ(r.candidates.count("a"), 1u);
}

TEST(Diff, RolesInAnotherOrderOrRepeatedAreNoChange)
{
    auto s = state_of({m("t", {ta, instructor, ta})});
    EXPECT_TRUE(diff(s, {}, pass({m("t", {instructor, ta})}, t0, t0 + 1s)).changes.empty());
    auto r = diff(s, {}, pass({m("t", {instructor, ta, learner})}, t0, t0 + 1s));
    EXPECT_EQ(types(r), (std::vector<std::string>{"member.roles_changed:t"}));
    EXPECT_EQ(r.changes[0].before->roles, (std::vector<std::string>{ta, instructor, ta}));  // as stored
}

TEST(Diff, UnusualStatusIsKeptAndCompared)
{
    auto odd = m("a");
    odd.status = "Suspended";
    auto s = state_of({odd});
    EXPECT_TRUE(diff(s, {}, pass({odd}, t0, t0 + 1s)).changes.empty());
    auto r = diff(s, {}, pass({m("a")}, t0, t0 + 1s));
    EXPECT_EQ(types(r), (std::vector<std::string>{"member.status_changed:a"}));
    EXPECT_EQ(r.changes[0].before->status, "Suspended");
    EXPECT_EQ(r.changes[0].after->status, "Active");
}

TEST(Diff, RemovalsComeOutOrderedByUserId)
{
    std::vector<nrps::member> ms;
    std::map<std::string, time_point> cands;
    for (const char* id : {"d2a9e8a1-0000-4000-8000-000000000001", "b", "https://lms.example.edu/u/9", "a", "C"}) {
        ms.push_back(m(id));
        cands[id] = t0;
    }
    auto r = diff(state_of(ms), cands, pass({}, t0 + 1s, t0 + 2s), {.guard_min_members = 100});
    EXPECT_EQ(types(r), (std::vector<std::string>{"member.removed:C", "member.removed:a", "member.removed:b",
                                                  "member.removed:d2a9e8a1-0000-4000-8000-000000000001",
                                                  "member.removed:https://lms.example.edu/u/9"}));
    ms.push_back(m("x"));
    for (int i = 0; i < 10; ++i) ms.push_back(m("keep" + std::to_string(i)));
    auto held = diff(state_of(ms), cands, pass({}, t0 + 1s, t0 + 2s), {.guard_min_members = 2, .max_removal_ratio = 0.2});
    EXPECT_EQ(held.held, (std::vector<std::string>{"C", "a", "b", "d2a9e8a1-0000-4000-8000-000000000001",
                                                   "https://lms.example.edu/u/9"}));
}

TEST(Diff, AFieldOnlySomeMembersCarryIsCompared)
{
    auto s = state_of({m("a"), m("b")});
    auto a = m("a"), b = m("b");
    a.picture = "https://example.edu/a.png";
    auto r = diff(s, {}, pass({a, b}, t0, t0 + 1s));
    EXPECT_EQ(types(r), (std::vector<std::string>{"member.profile_changed:a"}));
    EXPECT_EQ(r.changes[0].after, a);
}

TEST(Diff, EveryRosterSizeAndPosition)
{
    // The lookups run ahead of the comparisons; every size around that window, every position.
    for (int n = 0; n <= 40; ++n) {
        std::vector<nrps::member> before, now;
        std::size_t changed = 0, missing = 0;
        for (int i = 0; i < n; ++i) {
            before.push_back(m("u" + std::to_string(i)));
            if (i % 5 == 0) {
                ++missing;
                continue;
            }
            now.push_back(i % 3 == 0 ? m("u" + std::to_string(i), {learner}, "new@example.edu") : m("u" + std::to_string(i)));
            changed += i % 3 == 0;
        }
        now.push_back(m("new"));
        auto r = diff(state_of(before), {}, pass(now, t0, t0 + 1s));
        ASSERT_EQ(r.changes.size(), changed + 1) << n;
        EXPECT_EQ(r.candidates.size(), missing) << n;
        for (const auto& c : r.changes) {
            if (c.user_id == "new") EXPECT_EQ(c.type, change_type::added);
            else EXPECT_EQ(c.type, change_type::profile_changed) << c.user_id;
        }
    }
}

}  // namespace
}  // namespace rostersync::roster
