// Every emitted record parses into the proto schema; ids are deterministic.
#include "roster/encode.hpp"

#include "rostersync/v1/membership_change.pb.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

namespace rostersync::roster {
namespace {

using namespace std::chrono_literals;

nrps::member learner(std::string id)
{
    nrps::member x;
    x.user_id = std::move(id);
    x.roles = {"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"};
    x.name = "Ada \"Quote\" Okafor";
    x.email = "ada@example.edu";
    return x;
}

event_context ctx()
{
    return {.issuer = "https://canvas.instructure.com", .client_id = "10000000000001", .deployment_id = "1:abc",
            .context_id = "4dde05e8", .context_label = "BIO101", .context_title = "Biology", .roster_version = 17,
            .time = std::chrono::system_clock::time_point{} + 1'795'773'603'123ms};
}

TEST(Encode, EveryTypeParsesIntoTheSchema)
{
    auto a = learner("u1");
    auto b = a;
    b.roles = {"http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"};
    for (const change& c : {change{change_type::added, "u1", std::nullopt, a},
                            change{change_type::removed, "u1", a, std::nullopt},
                            change{change_type::roles_changed, "u1", a, b},
                            change{change_type::status_changed, "u1", a, b},
                            change{change_type::profile_changed, "u1", a, b}}) {
        auto text = encode_change(c, ctx());
        rostersync::v1::MembershipChange msg;
        auto st = google::protobuf::util::JsonStringToMessage(text, &msg);
        ASSERT_TRUE(st.ok()) << st.ToString() << "\n" << text;
        EXPECT_EQ(msg.type(), to_string(c.type));
        EXPECT_EQ(msg.roster_version(), 17u);
        EXPECT_EQ(msg.context().label(), "BIO101");
        EXPECT_EQ(msg.has_before(), c.before.has_value());
        EXPECT_EQ(msg.has_after(), c.after.has_value());
        EXPECT_EQ(msg.id(), event_id(c, ctx()));
        EXPECT_EQ(msg.time(), "2026-11-27T10:00:03.123Z");
    }
}

TEST(Encode, AddHasNullBeforeAndRemovalNullAfter)
{
    auto added = encode_change({change_type::added, "u1", std::nullopt, learner("u1")}, ctx());
    EXPECT_NE(added.find("\"before\":null"), std::string::npos) << added;
    auto removed = encode_change({change_type::removed, "u1", learner("u1"), std::nullopt}, ctx());
    EXPECT_NE(removed.find("\"after\":null"), std::string::npos) << removed;
}

TEST(Encode, IdsAreDeterministicAndDistinguishChanges)
{
    change c{change_type::added, "u1", std::nullopt, learner("u1")};
    EXPECT_EQ(event_id(c, ctx()), event_id(c, ctx()));
    EXPECT_EQ(event_id(c, ctx()).size(), 32u);
    auto other_version = ctx();
    other_version.roster_version = 18;
    EXPECT_NE(event_id(c, ctx()), event_id(c, other_version));
    auto c2 = c;
    c2.after->email = "other@example.edu";
    EXPECT_NE(event_id(c, ctx()), event_id(c2, ctx()));
    auto c3 = c;
    c3.type = change_type::profile_changed;
    EXPECT_NE(event_id(c, ctx()), event_id(c3, ctx()));
}

TEST(Encode, CloudEventsHeaders)
{
    change c{change_type::added, "u1", std::nullopt, learner("u1")};
    auto h = cloudevents_headers(c, ctx());
    std::map<std::string, std::string> m(h.begin(), h.end());
    EXPECT_EQ(m["ce_specversion"], "1.0");
    EXPECT_EQ(m["ce_id"], event_id(c, ctx()));
    EXPECT_EQ(m["ce_type"], "member.added");
    EXPECT_EQ(m["ce_subject"], "u1");
    EXPECT_EQ(m["content-type"], "application/json");
    EXPECT_EQ(membership_key("i", "c", "u"), "i|c|u");
}

TEST(Encode, Rfc3339WritesMillisecondsOnBothSidesOfTheEpoch)
{
    EXPECT_EQ(rfc3339(time_point{} + 1500ms), "1970-01-01T00:00:01.500Z");
    EXPECT_EQ(rfc3339(time_point{} + 1764237600123ms), "2025-11-27T10:00:00.123Z");
    // Truncating towards zero would give "…:59.-500Z".
    EXPECT_EQ(rfc3339(time_point{} - 500ms), "1969-12-31T23:59:59.500Z");
}

}  // namespace
}  // namespace rostersync::roster
