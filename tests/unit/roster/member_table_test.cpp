// The compact member table: every member reads back exactly as stored, whatever its user_id,
// roles, status or profile; it behaves like a std::map under any mix of operations.
#include "roster/member_table.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

namespace rostersync::roster {
namespace {

using namespace std::chrono_literals;

const std::string learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";
const std::string instructor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor";
const std::string ta = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant";
const time_point t0 = time_point{} + 1'795'773'603s + 123ms;

nrps::member anonymous(std::string id, std::vector<std::string> roles = {learner})
{
    nrps::member m;
    m.user_id = std::move(id);
    m.roles = std::move(roles);
    return m;
}

nrps::member full(std::string id)
{
    nrps::member m = anonymous(std::move(id), {instructor, learner, instructor});
    m.status = "Inactive";
    m.name = "Ada Lovelace";
    m.given_name = "Ada";
    m.family_name = "Lovelace";
    m.middle_name = "";
    m.email = "ada@example.edu";
    m.picture = "https://example.edu/ada.png";
    m.lis_person_sourcedid = "sis-1815";
    m.lti11_legacy_user_id = std::string(300, 'x');  // a length that takes a two-byte varint
    return m;
}

bool same(const member_state& a, const member_state& b)
{
    return a.record == b.record && a.provisional == b.provisional && a.launch_seen_at == b.launch_seen_at;
}

TEST(MemberTable, RoundTripsEveryField)
{
    member_table t;
    const member_state plain{anonymous("a")};
    const member_state rich{full("b"), true, t0};
    const member_state odd{[] { auto m = anonymous("c", {}); m.status = "Suspended"; return m; }()};  // kept as sent
    const member_state deleted{[] { auto m = anonymous("d"); m.status = "Deleted"; return m; }()};
    for (const auto* m : {&plain, &rich, &odd, &deleted}) EXPECT_TRUE(t.insert_or_assign(*m));
    EXPECT_EQ(t.size(), 4u);
    EXPECT_TRUE(same(t.at("a"), plain));
    EXPECT_TRUE(same(t.at("b"), rich));
    EXPECT_TRUE(same(t.at("c"), odd));
    EXPECT_TRUE(same(t.at("d"), deleted));
    EXPECT_EQ(t.find("c")->status(), "Suspended");
    EXPECT_EQ(t.find("c")->status_code(), member_status::other);
    EXPECT_EQ(t.find("d")->status_code(), member_status::deleted);
    EXPECT_EQ(t.find("b")->profile()[4], std::optional<std::string_view>("ada@example.edu"));
    EXPECT_EQ(t.find("b")->profile()[3], std::optional<std::string_view>(""));  // present but empty
    EXPECT_FALSE(t.find("a")->profile()[0]);
    EXPECT_THROW((void)t.at("zz"), std::out_of_range);
    EXPECT_FALSE(t.get("zz"));
}

TEST(MemberTable, KeysOfEveryShape)
{
    const std::vector<std::string> ids = {
        "535fa085-f296-4f8d-8e1c-1b1b2c6c5fd0",   // Canvas: a lowercase UUID, packed
        "535FA085-F296-4F8D-8E1C-1B1B2C6C5FD0",   // the same upper case: a different key, packed
        "535fa085-F296-4f8d-8e1c-1b1b2c6c5fd0",   // mixed case: kept as text
        "535fa085-f296-4f8d-8e1c-1b1b2c6c5fdg",   // not hex
        "535fa085xf296-4f8d-8e1c-1b1b2c6c5fd0",   // not a dash
        "00000000-0000-0000-0000-000000000000",   // digits only
        "12345",                                  // Moodle
        "exactly-16-bytes",
        "seventeen-bytes-x",
        std::string("nul\0inside", 10),
        std::string(1000, 'u'),
        "",
    };
    member_table t;
    for (const auto& id : ids) EXPECT_TRUE(t.insert_or_assign(member_state{anonymous(id)})) << id;
    EXPECT_EQ(t.size(), ids.size());
    std::set<std::size_t> positions;
    for (const auto& id : ids) {
        auto v = t.find(id);
        ASSERT_TRUE(v) << id;
        EXPECT_EQ(v->user_id(), id);
        EXPECT_EQ(v->record().user_id, id);
        positions.insert(v->position());
        EXPECT_LT(v->position(), t.position_bound());
    }
    EXPECT_EQ(positions.size(), ids.size());
    EXPECT_FALSE(t.contains("535fa085-f296-4f8d-8e1c-1b1b2c6c5fd1"));
    EXPECT_FALSE(t.contains("exactly-16-byteS"));
    EXPECT_FALSE(t.contains(std::string(999, 'u')));
    // Only the two ids that neither pack nor fit inline take heap bytes for their key.
    std::size_t text_keys = 0;
    for (const auto& id : ids)
        if (id.size() > 16 && !(id == ids[0] || id == ids[1] || id == ids[5])) text_keys += id.size();
    EXPECT_EQ(t.memory_usage().keys, text_keys);
}

TEST(MemberTable, AgreesWithAMapUnderRandomOperations)
{
    std::mt19937 rng(7);
    std::map<std::string, member_state> model;
    member_table t;
    auto id_of = [](unsigned i) {
        if (i % 3 == 0) {
            char buf[40];
            std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012x", i * 2654435761u, i);
            return std::string(buf);
        }
        return i % 3 == 1 ? "u" + std::to_string(i) : "https://lms.example.edu/users/" + std::to_string(i);
    };
    const std::vector<std::vector<std::string>> role_lists = {{learner}, {instructor}, {ta, instructor}, {}, {learner, learner}};
    for (int step = 0; step < 20000; ++step) {
        const std::string id = id_of(rng() % 1500);
        const unsigned op = rng() % 10;
        if (op < 3) {
            EXPECT_EQ(t.erase(id), model.erase(id) == 1);
        } else {
            member_state m{anonymous(id, role_lists[rng() % role_lists.size()])};
            if (op == 9) m = {full(id), rng() % 2 == 0, t0 + std::chrono::seconds(step)};
            if (op == 8) m.record.email = "e" + std::to_string(step) + "@x";
            const bool fresh = !model.contains(id);
            EXPECT_EQ(t.insert_or_assign(m), fresh);
            model[id] = m;
        }
        ASSERT_EQ(t.size(), model.size());
    }
    std::size_t provisional = 0;
    for (const auto& [id, m] : model) {
        auto got = t.get(id);
        ASSERT_TRUE(got) << id;
        EXPECT_TRUE(same(*got, m)) << id;
        provisional += m.provisional;
    }
    EXPECT_EQ(t.provisional_count(), provisional);
    std::set<std::string> seen;
    t.for_each([&](member_view v) { EXPECT_TRUE(seen.insert(v.user_id()).second); });
    EXPECT_EQ(seen.size(), model.size());
    // Erase everything: the table ends empty and still works.
    for (const auto& [id, m] : model) EXPECT_TRUE(t.erase(id));
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(t.provisional_count(), 0u);
    EXPECT_TRUE(t.insert_or_assign(member_state{anonymous("again")}));
    EXPECT_TRUE(t.contains("again"));
}

// Canvas-shaped user_ids (UUID v4, as the platform's `sub`) and the other shapes platforms send.
std::string uuid_v4(std::mt19937_64& rng, bool upper = false)
{
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string u;
    for (int i = 0; i < 32; ++i) u += digits[rng() % 16];
    return u.substr(0, 8) + "-" + u.substr(8, 4) + "-4" + u.substr(13, 3) + "-" + (upper ? "A" : "a") +
           u.substr(17, 3) + "-" + u.substr(20, 12);
}

std::string id_of_shape(std::mt19937_64& rng, std::size_t i)
{
    switch (i % 8) {
        case 0: return uuid_v4(rng, true);                                // packed, upper case
        case 1: return std::to_string(100000 + i);                        // Moodle: inline
        case 2: return "https://lms.example.edu/users/" + std::to_string(i);  // text on the heap
        case 3: {                                                         // letter case mixed: text
            auto u = uuid_v4(rng);
            for (std::size_t k = 0; k < u.size(); k += 2) u[k] = static_cast<char>(std::toupper(static_cast<unsigned char>(u[k])));
            return u;
        }
        default: return uuid_v4(rng);                                     // packed, lower case
    }
}

TEST(MemberTable, EveryMemberIsFoundAfterEachGrowthAndErasure)
{
    // Regression guard for the fold: members inserted one at a time (the table growing through
    // many resizes), some erased (backward shift), must all be found by a key made from another
    // copy of the id, and read back exactly.
    std::mt19937_64 rng(20261127);
    std::vector<std::string> ids{"8d6f2a1e-1c0b-4b6e-9a55-0f3c2b1d4e77", "8D6F2A1E-1C0B-4B6E-9A55-0F3C2B1D4E77",
                                 "00000000-0000-4000-8000-000000000000", "exactly-16-bytes", "u1", ""};
    while (ids.size() < 1500) ids.push_back(id_of_shape(rng, ids.size()));
    ASSERT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());

    member_table t;
    std::set<std::size_t> capacities;
    auto all_found = [&](std::size_t upto, const std::set<std::size_t>& erased) {
        for (std::size_t j = 0; j < upto; ++j) {
            const std::string copy = ids[j];  // not the string the table was given
            const bool want = !erased.contains(j);
            auto v = t.find(member_table::key(copy));
            if (v.has_value() != want) return ::testing::AssertionFailure() << ids[j] << " (member " << j << " of " << upto
                                                                            << ", capacity " << t.position_bound() << ")";
            if (v && v->user_id() != ids[j]) return ::testing::AssertionFailure() << ids[j] << " read back as " << v->user_id();
        }
        return ::testing::AssertionSuccess();
    };
    for (std::size_t i = 0; i < ids.size(); ++i) {
        ASSERT_TRUE(t.insert_or_assign(member_state{anonymous(ids[i])})) << ids[i];
        capacities.insert(t.position_bound());
        if (i < 100 || i % 97 == 0 || i + 1 == ids.size()) {
            ASSERT_TRUE(all_found(i + 1, {}));
        }
    }
    EXPECT_GE(capacities.size(), 12u) << "the table grew through many resizes";
    EXPECT_EQ(t.size(), ids.size());

    // Updates in place (what the fold does for every event type but added and removed).
    for (std::size_t i = 0; i < ids.size(); i += 5) {
        auto m = full(ids[i]);
        EXPECT_FALSE(t.insert_or_assign(member_state{m})) << ids[i];
    }
    ASSERT_TRUE(all_found(ids.size(), {}));

    // Erase a third, from everywhere in the table, checking everything as the runs shift back.
    std::set<std::size_t> erased;
    for (std::size_t i = 0; i < ids.size(); i += 3) {
        const std::size_t j = (i * 7) % ids.size();  // 500 distinct members, in a scattered order
        ASSERT_TRUE(t.erase(ids[j])) << ids[j];
        ASSERT_TRUE(erased.insert(j).second);
        EXPECT_FALSE(t.erase(ids[j])) << ids[j];
        if (erased.size() < 50 || erased.size() % 37 == 0) {
            ASSERT_TRUE(all_found(ids.size(), erased));
        }
    }
    ASSERT_TRUE(all_found(ids.size(), erased));
    EXPECT_EQ(t.size(), ids.size() - erased.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (erased.contains(i)) continue;
        const member_state want = i % 5 == 0 ? member_state{full(ids[i])} : member_state{anonymous(ids[i])};
        EXPECT_TRUE(same(t.at(ids[i]), want)) << ids[i];
    }

    // Re-adding the erased ones: each is new again, and everything is found.
    for (std::size_t j : erased) EXPECT_TRUE(t.insert_or_assign(member_state{anonymous(ids[j])})) << ids[j];
    ASSERT_TRUE(all_found(ids.size(), {}));
    EXPECT_EQ(t.size(), ids.size());
}

TEST(MemberTable, UuidLetterCaseIsPartOfTheKey)
{
    // As with the std::map the table replaced: ids compare exactly, so one case never finds the other.
    member_table t;
    const std::string lower = "8d6f2a1e-1c0b-4b6e-9a55-0f3c2b1d4e77", upper = "8D6F2A1E-1C0B-4B6E-9A55-0F3C2B1D4E77";
    const std::string mixed = "8d6f2a1e-1C0B-4b6e-9a55-0f3c2b1d4e77";
    EXPECT_TRUE(t.insert_or_assign(member_state{anonymous(lower)}));
    EXPECT_FALSE(t.contains(upper));
    EXPECT_FALSE(t.contains(mixed));
    EXPECT_TRUE(t.insert_or_assign(member_state{anonymous(upper, {instructor})}));
    EXPECT_TRUE(t.insert_or_assign(member_state{anonymous(mixed, {ta})}));
    for (int i = 0; i < 200; ++i) t.insert_or_assign(member_state{anonymous("filler-" + std::to_string(i))});  // resizes
    EXPECT_EQ(t.at(lower).record.roles, std::vector<std::string>{learner});
    EXPECT_EQ(t.at(upper).record.roles, std::vector<std::string>{instructor});
    EXPECT_EQ(t.at(mixed).record.roles, std::vector<std::string>{ta});
    EXPECT_EQ(t.find(upper)->user_id(), upper);
    EXPECT_TRUE(t.erase(upper));
    EXPECT_TRUE(t.contains(lower));
    EXPECT_TRUE(t.contains(mixed));
}

TEST(MemberTable, KeysPreparedAheadFindWhatDirectLookupsFind)
{
    // The diff prepares keys (hashed, packed) from the pass's strings and looks them up later,
    // from copies in a ring: the same answers as a direct find, on every table size.
    std::mt19937_64 rng(5);
    member_table t;
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < 300; ++i) {
        ids.push_back(id_of_shape(rng, i));
        t.insert_or_assign(member_state{anonymous(ids.back())});
        std::array<member_table::key, 4> ring;
        for (std::size_t j = 0; j <= i; ++j) {
            ring[j % ring.size()] = member_table::key(ids[j]);
            t.prefetch(ring[j % ring.size()]);
            const member_table::key k = ring[j % ring.size()];  // a copy, as the diff's array holds
            auto a = t.find(k);
            auto b = t.find(ids[j]);
            ASSERT_TRUE(a && b) << ids[j] << " of " << i + 1;
            EXPECT_EQ(a->position(), b->position());
        }
        EXPECT_FALSE(t.find(member_table::key("absent-" + std::to_string(i))));
    }
}

TEST(MemberTable, CopiesAreDeepAndMovesLeaveEmpty)
{
    member_table a;
    a.insert_or_assign(member_state{full(std::string(40, 'k')), true, t0});
    a.insert_or_assign(member_state{anonymous("535fa085-f296-4f8d-8e1c-1b1b2c6c5fd0")});
    member_table b = a;
    a.erase(std::string(40, 'k'));
    ASSERT_EQ(b.size(), 2u);
    EXPECT_EQ(b.provisional_count(), 1u);
    EXPECT_TRUE(same(b.at(std::string(40, 'k')), member_state{full(std::string(40, 'k')), true, t0}));
    member_table c = std::move(b);
    EXPECT_EQ(c.size(), 2u);
    EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): a moved-from table is empty
    b = c;
    EXPECT_EQ(b.size(), 2u);
    c = member_table{};
    EXPECT_TRUE(c.empty());
    EXPECT_TRUE(b.contains("535fa085-f296-4f8d-8e1c-1b1b2c6c5fd0"));
}

TEST(MemberTable, RoleListsAreInternedAndComparedAsSets)
{
    member_table t;
    t.insert_or_assign(member_state{anonymous("a", {ta, instructor})});
    t.insert_or_assign(member_state{anonymous("b", {ta, instructor})});
    t.insert_or_assign(member_state{anonymous("c", {instructor, ta, ta})});
    const auto a = *t.find("a"), b = *t.find("b"), c = *t.find("c");
    EXPECT_EQ(a.roles_id(), b.roles_id());           // one list, stored once
    EXPECT_NE(a.roles_id(), c.roles_id());           // another order is another list…
    EXPECT_EQ(role_list_at(a.roles_id()).set, role_list_at(c.roles_id()).set);  // …of the same set
    EXPECT_EQ(c.roles(), (std::vector<std::string>{instructor, ta, ta}));        // as sent
    EXPECT_TRUE(a.same_role_set({instructor, ta}));
    EXPECT_TRUE(a.same_role_set({instructor, ta, instructor}));
    EXPECT_FALSE(a.same_role_set({instructor}));
    EXPECT_FALSE(a.same_role_set({instructor, ta, learner}));
    EXPECT_FALSE(a.same_role_set(std::vector<std::string>{}));
    const auto set = role_list_at(role_list_at(c.roles_id()).set);
    EXPECT_EQ(set.roles, (std::vector<std::string>{instructor, ta}));
    EXPECT_EQ(role_list_at(set.set).roles, set.roles);  // a set is its own set
}

TEST(MemberTable, ProfileBlocksOnlyForMembersWithAProfile)
{
    member_table t;
    for (int i = 0; i < 100; ++i) t.insert_or_assign(member_state{anonymous("u" + std::to_string(i))});
    EXPECT_EQ(t.memory_usage().profiles, 0u);
    auto m = anonymous("u1");
    m.email = "u1@example.edu";
    t.insert_or_assign(member_state{m});
    EXPECT_EQ(t.memory_usage().profiles, 2u + 1u + m.email->size());  // mask, length, bytes
    t.insert_or_assign(member_state{anonymous("u1")});
    EXPECT_EQ(t.memory_usage().profiles, 0u);
    EXPECT_GE(t.memory_usage().slots, 100 * sizeof(detail::member_slot));
    EXPECT_LE(t.memory_usage().slots, 100 * sizeof(detail::member_slot) * 10 / 6);
}

TEST(MemberTable, ProvisionalCountFollowsAssignmentsAndErasures)
{
    member_table t;
    t.insert_or_assign(member_state{anonymous("p"), true, t0});
    t.insert_or_assign(member_state{anonymous("q"), true, t0});
    EXPECT_EQ(t.provisional_count(), 2u);
    t.insert_or_assign(member_state{anonymous("p")});  // adopted by a pass
    EXPECT_EQ(t.provisional_count(), 1u);
    EXPECT_FALSE(t.find("p")->launch_seen_at());
    t.erase("q");
    EXPECT_EQ(t.provisional_count(), 0u);
}

TEST(MemberTable, MarksSurviveGrowthAndAreTakenOnce)
{
    member_table t;
    for (int i = 0; i < 200; ++i)  // grows (and moves slots) several times
        t.insert_or_assign(std::to_string(i), anonymous(std::to_string(i)), i % 3 == 0, std::nullopt, /*marked=*/i % 2 == 0);
    t.insert_or_assign("4", anonymous("4"));  // assigning clears the mark
    t.erase("6");
    std::set<std::string> taken;
    t.take_marked([&](member_view v) {
        EXPECT_FALSE(v.marked()) << "cleared before the call";
        EXPECT_EQ(v.provisional(), std::stoi(v.user_id()) % 3 == 0) << "other flags kept";
        taken.insert(v.user_id());
    });
    EXPECT_EQ(taken.size(), 98u);
    EXPECT_FALSE(taken.contains("4"));
    EXPECT_FALSE(taken.contains("6"));
    EXPECT_TRUE(taken.contains("198"));
    EXPECT_FALSE(taken.contains("1"));
    EXPECT_EQ(t.provisional_count(), 66u);  // 67 multiples of 3, "6" erased
    t.take_marked([](member_view v) { ADD_FAILURE() << v.user_id() << " taken twice"; });
    EXPECT_EQ(t.at("8").record, anonymous("8"));
}

TEST(MemberTable, AFullInternTableLeavesRolesWithTheMember)
{
    // Fills the process-wide intern table, so it runs in a child process.
    EXPECT_EXIT(
        {
            for (std::size_t i = 0; role_lists_interned() < max_role_lists && i < 2 * max_role_lists; ++i)
                (void)intern_roles({"urn:custom:" + std::to_string(i)});
            if (role_lists_interned() > max_role_lists) std::_Exit(2);
            member_table t;
            const member_state m{anonymous("x", {"urn:never-seen", learner, "urn:never-seen"})};
            t.insert_or_assign(m);
            auto v = t.find("x");
            if (!v || v->roles_id() != no_role_list) std::_Exit(3);
            if (!same(v->state(), m)) std::_Exit(4);
            if (!v->same_role_set({learner, "urn:never-seen"}) || v->same_role_set({learner})) std::_Exit(5);
            std::_Exit(0);
        },
        ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace rostersync::roster
