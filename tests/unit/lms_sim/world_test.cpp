#include "lms_sim/world.hpp"

#include <gtest/gtest.h>

#include <map>

namespace rostersync::lms_sim {
namespace {

std::map<std::string, int> count_types(const std::vector<expected_change>& changes)
{
    std::map<std::string, int> n;
    for (const auto& c : changes) ++n[c.type];
    return n;
}

TEST(World, SameSeedSameWorld)
{
    world a(11), b(11), c(12);
    auto& ca = a.add_course({.size = 40});
    auto& cb = b.add_course({.size = 40});
    auto& cc = c.add_course({.size = 40});
    EXPECT_EQ(ca.context_id, cb.context_id);
    EXPECT_NE(ca.context_id, cc.context_id);
    auto sa = a.snapshot_of(ca.id), sb = b.snapshot_of(cb.id);
    ASSERT_EQ(sa.size(), 41u);  // 40 plus the test student
    EXPECT_TRUE(diff(sa, sb).empty());
}

TEST(World, ChurnProducesExactlyTheExpectedChanges)
{
    world w(3);
    auto& c = w.add_course({.size = 200});
    auto before = w.snapshot_of(c.id);
    w.churn(c.id, {.joins = 5, .drops = 4, .role_changes = 3});
    auto after = w.snapshot_of(c.id);
    auto n = count_types(diff(before, after));
    EXPECT_EQ(n["member.added"], 5);
    EXPECT_EQ(n["member.removed"], 4);
    EXPECT_LE(n["member.roles_changed"], 3);  // a changed member may have been dropped first
    EXPECT_GE(n["member.roles_changed"], 1);
    EXPECT_EQ(after.size(), before.size() + 1);
}

TEST(World, ProfileChangesAndDeletion)
{
    world w(5);
    auto& c = w.add_course({.size = 20});
    auto before = w.snapshot_of(c.id);
    w.churn(c.id, {.profile_changes = 1});
    auto n = count_types(diff(before, w.snapshot_of(c.id)));
    EXPECT_EQ(n["member.profile_changed"], 1);
    w.remove_context(c.id);
    EXPECT_TRUE(w.snapshot_of(c.id).empty());
    ASSERT_NE(w.find(false, c.id), nullptr);
    EXPECT_TRUE(w.find(false, c.id)->deleted);
}

TEST(World, DropFirstShiftsEveryoneAcrossPageBoundaries)
{
    world w(9);
    auto& c = w.add_course({.size = 60, .test_student = false});
    auto second = std::next(c.members.begin())->first;
    w.drop_first(c.id);
    EXPECT_EQ(c.members.begin()->first, second);
    EXPECT_EQ(c.members.size(), 59u);
}

TEST(World, LargeCoursesAndUniqueIds)
{
    world w(2);
    auto& big = w.add_course({.size = 20000});
    auto snap = w.snapshot_of(big.id);
    EXPECT_EQ(snap.size(), 20001u);  // user ids are unique
    auto& tiny = w.add_course({.size = 1, .test_student = false});
    EXPECT_EQ(tiny.members.size(), 1u);
}

TEST(World, PeopleWithMissingNamesOrEmails)
{
    world w(1);
    auto& c = w.add_course({.size = 300, .missing_name_share = 0.2, .missing_email_share = 0.2});
    int no_name = 0, no_email = 0;
    for (auto& [id, m] : c.members) {
        no_name += m.who.name.empty();
        no_email += m.who.email.empty();
        EXPECT_EQ(m.who.lti11_id.size(), 40u);
        EXPECT_EQ(m.who.user_id.size(), 36u);
    }
    EXPECT_GT(no_name, 20);
    EXPECT_GT(no_email, 20);
}

}  // namespace
}  // namespace rostersync::lms_sim
