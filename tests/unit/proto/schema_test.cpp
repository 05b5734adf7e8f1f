// The JSON of DESIGN section 2 parses into the schemas in proto/ (proto3 JSON mapping with the
// original snake_case names), and unknown fields are ignored as the contract says.
#include "rostersync/v1/membership_change.pb.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

namespace {

using google::protobuf::util::JsonParseOptions;
using google::protobuf::util::JsonStringToMessage;

TEST(Schema, CourseSeenExampleParses)
{
    const char* json = R"({ "issuer": "https://canvas.instructure.com", "client_id": "10000000000001",
      "deployment_id": "1:8865aa05b4b79b64a91a86042e43af5ea8ae79eb",
      "context": {"id": "4dde05e8ca1973bcca9bffc13e1548820eee93a3", "label": "BIO101", "title": "Biology"},
      "context_memberships_url": "https://school.instructure.com/api/lti/courses/42/names_and_roles",
      "resource_link_id": "optional", "seen_at": "2026-11-27T10:00:00Z", "force": false,
      "launch_user": {"user_id": "u1", "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                      "name": "A", "email": "a@example.edu"},
      "some_future_field": 1 })";
    rostersync::v1::CourseSeen msg;
    JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    ASSERT_TRUE(JsonStringToMessage(json, &msg, opts).ok());
    EXPECT_EQ(msg.context().label(), "BIO101");
    EXPECT_EQ(msg.launch_user().roles_size(), 1);
    EXPECT_FALSE(msg.force());
}

TEST(Schema, MembershipChangeExampleParsesAndRejectsWrongTypes)
{
    const char* json = R"({ "id": "abc", "type": "member.added", "time": "2026-11-27T10:00:03.123Z",
      "source": "nrps", "issuer": "i", "client_id": "c", "deployment_id": "d",
      "context": {"id": "ctx"}, "user_id": "u", "roster_version": 17, "before": null,
      "after": {"status": "Active", "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                "name": "N", "lti11_legacy_user_id": "x"} })";
    rostersync::v1::MembershipChange msg;
    ASSERT_TRUE(JsonStringToMessage(json, &msg).ok());
    EXPECT_EQ(msg.roster_version(), 17u);
    EXPECT_FALSE(msg.has_before());
    EXPECT_EQ(msg.after().lti11_legacy_user_id(), "x");

    rostersync::v1::MembershipChange bad;
    EXPECT_FALSE(JsonStringToMessage(R"({"roster_version": "seventeen"})", &bad).ok());
    EXPECT_FALSE(JsonStringToMessage(R"({"roster_version": -1})", &bad).ok());
}

}  // namespace
