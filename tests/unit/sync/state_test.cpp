// Folding the change stream: what roster/encode writes, sync/state reads back, in log order.
#include "sync/state.hpp"

#include "roster/encode.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace rostersync::sync {
namespace {

using namespace std::chrono_literals;

nrps::member learner(std::string id, std::string email)
{
    nrps::member m;
    m.user_id = std::move(id);
    m.roles = {"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"};
    m.email = std::move(email);
    return m;
}

roster::event_context ctx(std::uint32_t version, std::string source = "nrps")
{
    return {.issuer = "https://canvas.instructure.com", .client_id = "1", .context_id = "c1", .source = std::move(source),
            .roster_version = version, .time = roster::time_point{} + 1'795'773'603s};
}

change_event event(const roster::change& c, const roster::event_context& x)
{
    auto e = decode_change(roster::encode_change(c, x));
    EXPECT_TRUE(e) << (e ? "" : e.error());
    return *e;
}

TEST(State, FoldsAddsChangesAndRemovalsInOrder)
{
    partition_state st;
    auto a = learner("a", "a@x");
    auto a2 = learner("a", "a2@x");
    st.apply(event({roster::change_type::added, "a", std::nullopt, a}, ctx(1)), 0);
    st.apply(event({roster::change_type::added, "b", std::nullopt, learner("b", "b@x")}, ctx(1)), 1);
    st.apply(event({roster::change_type::profile_changed, "a", a, a2}, ctx(2)), 2);
    st.apply(event({roster::change_type::removed, "b", learner("b", "b@x"), std::nullopt}, ctx(2)), 3);
    const auto* c = st.context("https://canvas.instructure.com|c1");
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(c->members.size(), 1u);
    EXPECT_EQ(c->members.at("a").record.email, "a2@x");
    EXPECT_EQ(c->roster_version, 2u);
    EXPECT_EQ(st.position(), 4);
    EXPECT_EQ(st.memberships(), 1u);
}

TEST(State, ReplayedRecordsAreIgnored)
{
    partition_state st;
    auto e = event({roster::change_type::added, "a", std::nullopt, learner("a", "a@x")}, ctx(1));
    st.apply(e, 5);
    st.apply(event({roster::change_type::removed, "a", learner("a", "a@x"), std::nullopt}, ctx(2)), 6);
    st.apply(e, 5);  // replay from an older checkpoint: already folded
    EXPECT_EQ(st.ignored(), 1);
    EXPECT_EQ(st.memberships(), 0u);
}

TEST(State, LaunchAddsAreProvisionalUntilAPassConfirms)
{
    partition_state st;
    auto m = learner("p", "p@x");
    st.apply(event({roster::change_type::added, "p", std::nullopt, m}, ctx(1, "launch")), 0);
    const auto& s = st.context("https://canvas.instructure.com|c1")->members.at("p");
    EXPECT_TRUE(s.provisional);
    ASSERT_TRUE(s.launch_seen_at);
    st.apply(event({roster::change_type::roles_changed, "p", m, m}, ctx(2)), 1);
    EXPECT_FALSE(st.context("https://canvas.instructure.com|c1")->members.at("p").provisional);
}

TEST(State, FoldedMembersReadBackExactlyAndDiffClean)
{
    partition_state st;
    std::vector<nrps::member> roster;
    for (int i = 0; i < 300; ++i) {
        auto m = learner("6f1c2d3e-0000-4000-a000-" + std::to_string(100000000000 + i), "u" + std::to_string(i) + "@x");
        if (i % 3 == 0) m.email.reset();
        if (i % 7 == 0) m.roles.push_back("http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor");
        if (i == 5) m.status = "Inactive";
        roster.push_back(m);
        st.apply(event({roster::change_type::added, m.user_id, std::nullopt, m}, ctx(1)), i);
    }
    const auto* c = st.context("https://canvas.instructure.com|c1");
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(c->members.size(), roster.size());
    for (const auto& m : roster) EXPECT_EQ(c->members.at(m.user_id).record, m);
    auto d = roster::diff(c->members, {}, {roster, roster::time_point{} + 1s, roster::time_point{} + 2s});
    EXPECT_TRUE(d.changes.empty());
    EXPECT_TRUE(d.candidates.empty());
}

// The daemon's loop, end to end: passes diffed against the state, their changes encoded, decoded
// and folded one at a time in log order, interleaved across contexts (one partition holds many).
struct course {
    std::string context_id;
    std::vector<nrps::member> roster;  // the platform's truth
    std::map<std::string, roster::time_point> candidates;
};

std::string key_of(const course& c) { return "https://canvas.instructure.com|" + c.context_id; }

std::string canvas_uuid(std::mt19937_64& rng, bool upper)
{
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string u;
    for (int i = 0; i < 32; ++i) u += digits[rng() % 16];
    return u.substr(0, 8) + "-" + u.substr(8, 4) + "-4" + u.substr(13, 3) + "-" + (upper ? "A" : "a") +
           u.substr(17, 3) + "-" + u.substr(20, 12);
}

nrps::member person(std::mt19937_64& rng, std::size_t n)
{
    std::string id = n % 11 == 3 ? canvas_uuid(rng, true)
                     : n % 11 == 5 ? std::to_string(200000 + n)
                     : n % 11 == 7 ? "https://lms.example.edu/users/" + std::to_string(n)
                                   : canvas_uuid(rng, false);
    auto m = learner(id, "p" + std::to_string(n) + "@example.edu");
    if (n % 4 == 0) m.email.reset();  // some without a profile block
    if (n % 9 == 0) m.roles = {"http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"};
    return m;
}

/// Diffs every course against the state, then folds all their changes interleaved round-robin.
/// Returns the number of changes of each type.
std::map<std::string, std::size_t> sync_round(partition_state& st, std::vector<course>& courses, std::int64_t& offset,
                                              roster::time_point start)
{
    std::vector<std::vector<change_event>> per_course;
    std::map<std::string, std::size_t> counts;
    for (std::size_t ci = 0; ci < courses.size(); ++ci) {
        auto& c = courses[ci];
        static const roster::member_table none;
        const auto* known = st.context(key_of(c));
        auto d = roster::diff(known ? known->members : none, c.candidates, {c.roster, start, start + 1s});
        c.candidates = std::move(d.candidates);
        roster::event_context x{.issuer = "https://canvas.instructure.com", .client_id = "1",
                                .context_id = c.context_id, .source = "nrps",
                                .roster_version = (known ? known->roster_version : 0) + 1, .time = start + 1s};
        per_course.emplace_back();
        for (const auto& ch : d.changes) {
            ++counts[std::string(roster::to_string(ch.type))];
            per_course.back().push_back(event(ch, x));
        }
    }
    for (std::size_t i = 0;; ++i) {
        bool any = false;
        for (const auto& evs : per_course) {
            if (i >= evs.size()) continue;
            st.apply(evs[i], offset++);
            any = true;
        }
        if (!any) break;
    }
    return counts;
}

::testing::AssertionResult state_is_the_truth(const partition_state& st, const std::vector<course>& courses)
{
    std::size_t total = 0;
    for (const auto& c : courses) {
        total += c.roster.size();
        const auto* known = st.context(key_of(c));
        if (known == nullptr) return ::testing::AssertionFailure() << c.context_id << ": no state";
        if (known->members.size() != c.roster.size())
            return ::testing::AssertionFailure() << c.context_id << ": " << known->members.size() << " members, "
                                                 << c.roster.size() << " on the platform";
        for (const auto& m : c.roster) {
            auto got = known->members.get(m.user_id);
            if (!got) return ::testing::AssertionFailure() << c.context_id << ": " << m.user_id << " not found";
            if (got->record != m) return ::testing::AssertionFailure() << c.context_id << ": " << m.user_id << " differs";
        }
        // A pass of the same roster against the folded state: nothing to publish.
        auto d = roster::diff(known->members, {}, {c.roster, roster::time_point{} + 1s, roster::time_point{} + 2s});
        if (!d.changes.empty())
            return ::testing::AssertionFailure() << c.context_id << ": an unchanged pass gives " << d.changes.size()
                                                 << " changes, the first " << roster::to_string(d.changes[0].type) << " "
                                                 << d.changes[0].user_id;
        if (!d.candidates.empty())
            return ::testing::AssertionFailure() << c.context_id << ": an unchanged pass gives " << d.candidates.size()
                                                 << " removal candidates, the first " << d.candidates.begin()->first;
    }
    if (st.memberships() != total) return ::testing::AssertionFailure() << st.memberships() << " memberships, want " << total;
    return ::testing::AssertionSuccess();
}

TEST(State, FoldedPassesAreFoundByTheNextPassAcrossResizesContextsAndRemovals)
{
    std::mt19937_64 rng(30);
    std::size_t people = 0;
    std::vector<course> courses;
    for (std::size_t size : {30u, 75u, 12u, 120u, 1u, 900u}) {
        course c{.context_id = "c" + std::to_string(courses.size()) + "-" + canvas_uuid(rng, false)};
        for (std::size_t i = 0; i < size; ++i) c.roster.push_back(person(rng, people++));
        courses.push_back(std::move(c));
    }
    partition_state st;
    std::int64_t offset = 0;
    auto t = roster::time_point{} + 1'795'773'603s;

    // First pass: everyone added, folded one event at a time (each table grows from empty).
    EXPECT_EQ(sync_round(st, courses, offset, t), (std::map<std::string, std::size_t>{{"member.added", people}}));
    ASSERT_TRUE(state_is_the_truth(st, courses));

    // Second pass, nothing changed: nothing at all (the reported false adds).
    EXPECT_EQ(sync_round(st, courses, offset, t += 1h), (std::map<std::string, std::size_t>{}));

    // Churn: role and profile changes (updates in place), joins (inserts), drops (erasures after
    // two passes), then rejoins.
    std::size_t joins = 0, drops = 0, role_changes = 0;
    std::vector<std::vector<nrps::member>> dropped(courses.size());
    for (std::size_t ci = 0; ci < courses.size(); ++ci) {
        auto& r = courses[ci].roster;
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (i % 6 == 1) {
                r[i].roles.push_back("http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor");
                ++role_changes;
            }
            if (i % 10 == 2) r[i].email = "changed" + std::to_string(i) + "@example.edu";
        }
        std::vector<nrps::member> kept;
        for (std::size_t i = 0; i < r.size(); ++i) (i % 3 == 0 ? dropped[ci] : kept).push_back(r[i]);
        drops += dropped[ci].size();
        for (std::size_t i = 0; i < r.size() / 4 + 1; ++i, ++joins) kept.push_back(person(rng, people++));
        r = std::move(kept);
    }
    auto third = sync_round(st, courses, offset, t += 1h);
    EXPECT_EQ(third["member.added"], joins);
    EXPECT_EQ(third["member.removed"], 0u);  // candidates first
    std::size_t candidates = 0;
    for (const auto& c : courses) candidates += c.candidates.size();
    EXPECT_EQ(candidates, drops);
    auto fourth = sync_round(st, courses, offset, t += 1h);
    EXPECT_EQ(fourth["member.removed"], drops);
    EXPECT_EQ(fourth["member.added"], 0u);
    ASSERT_TRUE(state_is_the_truth(st, courses));
    EXPECT_GT(role_changes, 0u);

    // The dropped come back: added once each, found from then on.
    std::size_t rejoins = 0;
    for (std::size_t ci = 0; ci < courses.size(); ++ci)
        for (std::size_t i = 0; i < dropped[ci].size(); i += 2, ++rejoins) courses[ci].roster.push_back(dropped[ci][i]);
    EXPECT_EQ(sync_round(st, courses, offset, t += 1h), (std::map<std::string, std::size_t>{{"member.added", rejoins}}));
    ASSERT_TRUE(state_is_the_truth(st, courses));
    EXPECT_EQ(sync_round(st, courses, offset, t += 1h), (std::map<std::string, std::size_t>{}));
}

TEST(State, LoadedRowsThenTheReplay)
{
    partition_state st;
    st.load("https://canvas.instructure.com|c1", "a", {learner("a", "a@x")}, 3);
    st.load("https://canvas.instructure.com|c1", "p", {learner("p", "p@x"), true, roster::time_point{} + 5s}, 3);
    st.load("https://canvas.instructure.com|c1", "a", {learner("a", "a2@x")}, 2);  // a newer row for a key
    EXPECT_EQ(st.memberships(), 2u);
    st.set_position(10);
    st.apply(event({roster::change_type::added, "b", std::nullopt, learner("b", "b@x")}, ctx(4)), 10);
    st.apply(event({roster::change_type::removed, "a", learner("a", "a2@x"), std::nullopt}, ctx(4)), 11);
    const auto* c = st.context("https://canvas.instructure.com|c1");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(st.memberships(), 2u);
    EXPECT_EQ(c->roster_version, 4u);
    EXPECT_FALSE(c->members.contains("a"));
    EXPECT_TRUE(c->members.at("p").provisional);
    EXPECT_EQ(c->members.at("p").launch_seen_at, roster::time_point{} + 5s);
    EXPECT_EQ(c->members.provisional_count(), 1u);
    EXPECT_EQ(st.context("https://canvas.instructure.com|c2"), nullptr);
}

/// What take_dirty reports: context key, user id, and the row (or "tombstone").
std::map<std::string, std::string> take_dirty(partition_state& st)
{
    std::map<std::string, std::string> out;
    st.take_dirty([&](const std::string& key, std::string_view user, const roster::member_state* m) {
        auto [it, fresh] = out.emplace(key + "|" + std::string(user), m ? *m->record.email : "tombstone");
        EXPECT_TRUE(fresh) << "reported twice: " << it->first;
    });
    return out;
}

TEST(State, DirtyRowsAreWhatTheFoldChangedSinceTheLastSnapshot)
{
    partition_state st;
    const std::string k = "https://canvas.instructure.com|c1";
    st.load(k, "loaded", {learner("loaded", "l@x")}, 1);
    EXPECT_FALSE(st.has_dirty()) << "loaded rows are already in the table";
    st.set_position(0);
    st.apply(event({roster::change_type::added, "a", std::nullopt, learner("a", "a@x")}, ctx(2)), 0);
    st.apply(event({roster::change_type::added, "b", std::nullopt, learner("b", "b@x")}, ctx(2)), 1);
    st.apply(event({roster::change_type::removed, "b", learner("b", "b@x"), std::nullopt}, ctx(3)), 2);
    st.apply(event({roster::change_type::removed, "loaded", learner("loaded", "l@x"), std::nullopt}, ctx(3)), 3);
    st.apply(event({roster::change_type::removed, "c", learner("c", "c@x"), std::nullopt}, ctx(3)), 4);
    st.apply(event({roster::change_type::added, "c", std::nullopt, learner("c", "c2@x")}, ctx(4)), 5);
    st.apply(event({roster::change_type::added, "a", std::nullopt, learner("a", "a@x")}, ctx(2)), 0);  // replayed: ignored
    ASSERT_TRUE(st.has_dirty());
    EXPECT_EQ(take_dirty(st), (std::map<std::string, std::string>{{k + "|a", "a@x"},
                                                                  {k + "|b", "tombstone"},
                                                                  {k + "|c", "c2@x"},
                                                                  {k + "|loaded", "tombstone"}}));
    EXPECT_FALSE(st.has_dirty());
    EXPECT_TRUE(take_dirty(st).empty()) << "taken rows are forgotten";

    // A failed snapshot marks its rows again, as they are by then.
    st.apply(event({roster::change_type::removed, "a", learner("a", "a@x"), std::nullopt}, ctx(5)), 6);
    st.mark_dirty(k + "|a");
    st.mark_dirty(k + "|c");
    st.mark_dirty("https://unknown|x|y");  // no such context: nothing to write
    EXPECT_EQ(take_dirty(st), (std::map<std::string, std::string>{{k + "|a", "tombstone"}, {k + "|c", "c2@x"}}));
    EXPECT_EQ(st.memberships(), 1u);
}

TEST(State, TableTombstonesRemoveTheirRowEvenWithBarsInIds)
{
    partition_state st;
    st.load("iss|c|1", "u", {learner("u", "u@x")}, 1);        // context id "c|1"
    st.load("iss|c", "1|u", {learner("1|u", "v@x")}, 1);      // user id "1|u": the same key
    st.load("iss|c", "w", {learner("w", "w@x")}, 1);
    EXPECT_EQ(st.memberships(), 3u);
    EXPECT_TRUE(st.erase_row("iss|c|w"));
    EXPECT_FALSE(st.erase_row("iss|c|w"));
    EXPECT_FALSE(st.erase_row("nobody"));
    EXPECT_TRUE(st.erase_row("iss|c|1|u"));  // one of the two rows that share the key
    EXPECT_EQ(st.memberships(), 1u);
}

TEST(State, DecodeNamesTheProblem)
{
    EXPECT_EQ(decode_change("[]").error(), "not a JSON object");
    EXPECT_EQ(decode_change(R"({"type":"member.added","issuer":"i","user_id":"u"})").error(), "context: missing");
    EXPECT_EQ(decode_change(R"({"type":"member.added","issuer":"i","user_id":"u","context":{"id":"c"}})").error(),
              "after: missing for member.added");
    EXPECT_TRUE(decode_change(R"({"type":"member.removed","issuer":"i","user_id":"u","context":{"id":"c"},"after":null})"));
    EXPECT_EQ(decode_change(R"({"type":"member.added","issuer":"i","user_id":"u","context":{"id":"c"},"roster_version":-1,"after":{}})").error(),
              "roster_version: expected a non-negative integer");
}

}  // namespace
}  // namespace rostersync::sync
