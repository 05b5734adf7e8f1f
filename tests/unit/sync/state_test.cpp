// Folding the change stream: what roster/encode writes, sync/state reads back, in log order.
#include "sync/state.hpp"

#include "roster/encode.hpp"

#include <gtest/gtest.h>

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
