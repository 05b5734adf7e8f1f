// Every record the daemon's own encoders write parses into its schema in proto/ (proto3 JSON
// mapping, original snake_case names) *without* ignoring unknown fields, so a field the encoder
// emits but the schema lacks fails here; and a fully populated record sets every field the schema
// has, so the schema has nothing the encoder never writes. Covered: ContextState, MemberRow,
// Checkpoint and SyncRequest (= CourseSeen) from sync/records.cpp, MembershipChange from
// roster/encode.cpp. The proto's own JSON printing of a record decodes back to the same record.
#include "roster/encode.hpp"
#include "sync/records.hpp"

#include "rostersync/v1/course_seen.pb.h"
#include "rostersync/v1/membership_change.pb.h"
#include "rostersync/v1/records.pb.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace rostersync::sync {
namespace {

using ::testing::IsEmpty;
namespace pb = google::protobuf;

constexpr const char* issuer = "https://canvas.instructure.com";
constexpr const char* context_id = "4dde05e8ca1973bcca9bffc13e1548820eee93a3";
constexpr const char* learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";
constexpr const char* instructor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor";

roster::time_point at(const char* rfc3339)
{
    auto t = parse_rfc3339(rfc3339);
    EXPECT_TRUE(t.has_value()) << rfc3339;
    return t.value_or(roster::time_point{});
}

/// Strict: unknown fields are an error (the default of JsonParseOptions, spelt out).
template <class Message>
::testing::AssertionResult parses(const std::string& json, Message& msg)
{
    pb::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = false;
    const auto st = pb::util::JsonStringToMessage(json, &msg, opts);
    if (st.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << st.ToString() << "\n  in " << json;
}

/// The schema's fields that `msg` leaves at their default (not present in the JSON).
std::vector<std::string> unset_fields(const pb::Message& msg)
{
    std::vector<const pb::FieldDescriptor*> set;
    msg.GetReflection()->ListFields(msg, &set);
    std::vector<std::string> unset;
    const auto* d = msg.GetDescriptor();
    for (int i = 0; i < d->field_count(); ++i) {
        const auto* f = d->field(i);
        if (std::find(set.begin(), set.end(), f) == set.end()) unset.push_back(f->name());
    }
    return unset;
}

/// The proto's own JSON for `msg`, snake_case names as on the wire.
std::string print(const pb::Message& msg)
{
    pb::util::JsonPrintOptions opts;
    opts.preserve_proto_field_names = true;
    std::string out;
    EXPECT_TRUE(pb::util::MessageToJsonString(msg, &out, opts).ok());
    return out;
}

// ---- ContextState ----

context_record full_context()
{
    // Every field the encoder can write, set at once (not a state one pass reaches).
    context_record c;
    c.context_key = std::string(issuer) + "|" + context_id;
    c.platform = "canvas-cloud";
    c.issuer = issuer;
    c.client_id = "10000000000001";
    c.deployment_id = "1:8865aa05b4b79b64a91a86042e43af5ea8ae79eb";
    c.context_id = context_id;
    c.label = "BIO101";
    c.title = "Biology \"Honours\" — Année 1";
    c.memberships_url = "https://school.instructure.com/api/lti/courses/42/names_and_roles";
    auto& s = c.schedule;
    s.context_key = c.context_key;
    s.last_pass_start = at("2026-11-27T10:00:00.250Z");
    s.last_forced = at("2026-11-27T09:58:00.000Z");
    s.last_seen = at("2026-11-27T09:59:59.999Z");
    s.next_due = at("2026-11-28T11:44:12.345Z");
    s.dirty = true;
    s.requested = true;
    s.unchanged_passes = 3;
    s.parked = true;
    s.parked_reason = "not found (404): the course is gone or the URL is wrong; a new launch unparks it";
    s.retired = true;
    c.last_pass_end = at("2026-11-27T10:00:03.123Z");
    c.last_outcome = "parked";
    c.last_error = "not found: GET /api/lti/courses/42/names_and_roles answered 404";
    c.roster_version = 17;
    c.members = 1234;
    c.candidates = {{"u-0007", at("2026-11-26T10:00:03.123Z")}, {"u-0042", at("2026-11-27T10:00:03.123Z")}};
    c.held = 612;
    c.held_since = at("2026-11-27T10:00:03.123Z");
    c.release_until = at("2026-11-28T08:00:00.000Z");
    return c;
}

TEST(RecordsSchema, ContextStateWithEveryFieldParses)
{
    const auto text = encode_context(full_context());
    rostersync::v1::ContextState msg;
    ASSERT_TRUE(parses(text, msg));
    EXPECT_THAT(unset_fields(msg), IsEmpty()) << text;
    EXPECT_THAT(unset_fields(msg.context()), IsEmpty()) << text;

    EXPECT_EQ(msg.context_key(), std::string(issuer) + "|" + context_id);
    EXPECT_EQ(msg.platform(), "canvas-cloud");
    EXPECT_EQ(msg.context().id(), context_id);
    EXPECT_EQ(msg.context().title(), "Biology \"Honours\" — Année 1");
    EXPECT_EQ(msg.last_pass_start(), "2026-11-27T10:00:00.250Z");
    EXPECT_EQ(msg.last_pass_end(), "2026-11-27T10:00:03.123Z");
    EXPECT_EQ(msg.next_due(), "2026-11-28T11:44:12.345Z");
    EXPECT_TRUE(msg.dirty());
    EXPECT_EQ(msg.unchanged_passes(), 3);
    EXPECT_TRUE(msg.parked());
    EXPECT_EQ(msg.last_outcome(), "parked");
    EXPECT_EQ(msg.roster_version(), 17u);
    EXPECT_EQ(msg.members(), 1234u);
    ASSERT_EQ(msg.candidates_size(), 2);
    EXPECT_EQ(msg.candidates().at("u-0007"), "2026-11-26T10:00:03.123Z");
    EXPECT_EQ(msg.candidates().at("u-0042"), "2026-11-27T10:00:03.123Z");
    EXPECT_EQ(msg.held(), 612u);
    EXPECT_EQ(msg.held_since(), "2026-11-27T10:00:03.123Z");
    EXPECT_EQ(msg.release_until(), "2026-11-28T08:00:00.000Z");
}

TEST(RecordsSchema, MinimalContextStateParses)
{
    // A context first seen from a platform with nrps = false: no URL, no label, never synced.
    context_record c;
    c.context_key = std::string(issuer) + "|c1";
    c.platform = "canvas-cloud";
    c.issuer = issuer;
    c.client_id = "10000000000001";
    c.context_id = "c1";
    c.schedule.context_key = c.context_key;
    const auto text = encode_context(c);
    rostersync::v1::ContextState msg;
    ASSERT_TRUE(parses(text, msg));
    EXPECT_EQ(msg.context().id(), "c1");
    EXPECT_EQ(msg.context().label(), "");
    EXPECT_EQ(msg.context_memberships_url(), "");
    EXPECT_EQ(msg.last_pass_start(), "");
    EXPECT_EQ(msg.roster_version(), 0u);
    EXPECT_EQ(msg.members(), 0u);
    EXPECT_EQ(msg.candidates_size(), 0);
    EXPECT_FALSE(msg.parked());
}

TEST(RecordsSchema, ContextStateAsTheProtoPrintsItDecodesToTheSameRecord)
{
    const auto original = full_context();
    rostersync::v1::ContextState msg;
    ASSERT_TRUE(parses(encode_context(original), msg));
    const auto printed = print(msg);  // 64-bit `members` and `held` as strings here
    auto decoded = decode_context(printed);
    ASSERT_TRUE(decoded) << decoded.error() << "\n  in " << printed;
    EXPECT_EQ(decoded->members, 1234u);
    EXPECT_EQ(decoded->held, 612u);
    EXPECT_EQ(decoded->candidates, original.candidates);
    EXPECT_EQ(encode_context(*decoded), encode_context(original));
}

TEST(RecordsSchema, StrictParsingCatchesAFieldTheSchemaLacks)
{
    // The guard the other tests rely on: a field missing from the schema is an error.
    auto text = encode_context(full_context());
    text.insert(1, R"("not_in_schema":true,)");
    rostersync::v1::ContextState msg;
    EXPECT_FALSE(parses(text, msg));
}

// ---- MemberRow ----

nrps::member full_member(std::string user_id)
{
    nrps::member m;
    m.user_id = std::move(user_id);
    m.status = "Inactive";
    m.roles = {learner, "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"};
    m.name = "Ada \"Quote\" Okafor";
    m.given_name = "Ada";
    m.family_name = "Okafor";
    m.middle_name = "Ngozi";
    m.email = "ada@example.edu";
    m.picture = "https://school.instructure.com/images/thumbnails/42/ada.png";
    m.lis_person_sourcedid = "SIS-000123";
    m.lti11_legacy_user_id = "535fa085f22b4655f48cd5a36a9215f64c062838";
    return m;
}

TEST(RecordsSchema, MemberRowWithEveryFieldParses)
{
    roster::member_state m{.record = full_member("u-0001"), .provisional = true,
                           .launch_seen_at = at("2026-11-27T10:00:00.000Z")};
    const auto text = encode_row(issuer, context_id, m, 4294967295u);
    rostersync::v1::MemberRow msg;
    ASSERT_TRUE(parses(text, msg));
    EXPECT_THAT(unset_fields(msg), IsEmpty()) << text;
    EXPECT_EQ(msg.issuer(), issuer);
    EXPECT_EQ(msg.context_id(), context_id);
    EXPECT_EQ(msg.user_id(), "u-0001");
    EXPECT_EQ(msg.status(), "Inactive");
    ASSERT_EQ(msg.roles_size(), 2);
    EXPECT_EQ(msg.roles(0), learner);
    EXPECT_EQ(msg.lti11_legacy_user_id(), "535fa085f22b4655f48cd5a36a9215f64c062838");
    EXPECT_TRUE(msg.provisional());
    EXPECT_EQ(msg.launch_seen_at(), "2026-11-27T10:00:00.000Z");
    EXPECT_EQ(msg.roster_version(), 4294967295u);  // the whole uint32 range

    // Same names and numbers as Member: a row is a Member plus fields a Member reader ignores.
    rostersync::v1::Member member;
    pb::util::JsonParseOptions lenient;
    lenient.ignore_unknown_fields = true;
    ASSERT_TRUE(pb::util::JsonStringToMessage(text, &member, lenient).ok());
    EXPECT_EQ(member.email(), "ada@example.edu");
    rostersync::v1::Member from_binary;
    ASSERT_TRUE(from_binary.ParseFromString(msg.SerializeAsString()));
    from_binary.DiscardUnknownFields();  // issuer, context_id, user_id, provisional, …
    EXPECT_EQ(from_binary.SerializeAsString(), member.SerializeAsString());
}

TEST(RecordsSchema, MinimalMemberRowParses)
{
    roster::member_state m;
    m.record.user_id = "u-0002";  // Active, no roles, no profile (a platform at its strictest privacy)
    const auto text = encode_row(issuer, context_id, m, 1);
    rostersync::v1::MemberRow msg;
    ASSERT_TRUE(parses(text, msg));
    EXPECT_EQ(msg.user_id(), "u-0002");
    EXPECT_EQ(msg.status(), "Active");
    EXPECT_EQ(msg.roles_size(), 0);
    EXPECT_FALSE(msg.provisional());
    EXPECT_EQ(msg.launch_seen_at(), "");
    EXPECT_EQ(msg.roster_version(), 1u);
}

TEST(RecordsSchema, MemberRowAsTheProtoPrintsItDecodesToTheSameRow)
{
    roster::member_state m{.record = full_member("u-0001"), .provisional = true,
                           .launch_seen_at = at("2026-11-27T10:00:00.000Z")};
    const auto original = encode_row(issuer, context_id, m, 17);
    rostersync::v1::MemberRow msg;
    ASSERT_TRUE(parses(original, msg));
    auto row = decode_row(print(msg));
    ASSERT_TRUE(row) << row.error();
    EXPECT_EQ(row->member, m.record);
    EXPECT_EQ(row->roster_version, 17u);
    roster::member_state back{.record = row->member, .provisional = row->provisional,
                              .launch_seen_at = row->launch_seen_at};
    EXPECT_EQ(encode_row(row->issuer, row->context_id, back, row->roster_version), original);
}

// ---- Checkpoint ----

TEST(RecordsSchema, CheckpointParsesWithItsOffsetAsAString)
{
    // Above 2^53: a JSON number would lose it in many readers; proto3 JSON writes int64 as a string.
    const std::int64_t offset = 9'007'199'254'740'993;
    const auto text = encode_checkpoint({.partition = 11, .changes_offset = offset,
                                         .written_at = at("2026-11-27T10:05:00.042Z")});
    EXPECT_NE(text.find(R"("changes_offset":"9007199254740993")"), std::string::npos) << text;
    rostersync::v1::Checkpoint msg;
    ASSERT_TRUE(parses(text, msg));
    EXPECT_THAT(unset_fields(msg), IsEmpty()) << text;
    EXPECT_EQ(msg.partition(), 11);
    EXPECT_EQ(msg.changes_offset(), offset);
    EXPECT_EQ(msg.written_at(), "2026-11-27T10:05:00.042Z");

    auto back = decode_checkpoint(print(msg));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->partition, 11);
    EXPECT_EQ(back->changes_offset, offset);
    EXPECT_EQ(encode_checkpoint(*back), text);
}

TEST(RecordsSchema, FirstCheckpointParses)
{
    const auto text = encode_checkpoint({.partition = 0, .changes_offset = 0,
                                         .written_at = at("2026-11-27T10:05:00.000Z")});
    rostersync::v1::Checkpoint msg;
    ASSERT_TRUE(parses(text, msg));
    EXPECT_EQ(msg.partition(), 0);
    EXPECT_EQ(msg.changes_offset(), 0);
}

// ---- SyncRequest (= CourseSeen) ----

TEST(RecordsSchema, SyncRequestWithEveryFieldParsesAsCourseSeen)
{
    course_seen cs;
    cs.platform = "canvas-cloud";  // not part of the record
    cs.issuer = issuer;
    cs.client_id = "10000000000001";
    cs.deployment_id = "1:8865aa05b4b79b64a91a86042e43af5ea8ae79eb";
    cs.context_id = context_id;
    cs.context_label = "BIO101";
    cs.context_title = "Biology";
    cs.memberships_url = "https://school.instructure.com/api/lti/courses/42/names_and_roles";
    cs.resource_link_id = "f6bc7a7d-3d5b-4a0c-9d54-5d5c2d3e0d0a";
    cs.seen_at = at("2026-11-27T10:00:00.000Z");
    cs.force = true;
    cs.user = launch_user{.user_id = "u-0001", .roles = {learner, instructor}, .name = "Ada Okafor",
                          .email = "ada@example.edu"};
    const auto text = encode_sync_request(cs);
    rostersync::v1::CourseSeen msg;
    ASSERT_TRUE(parses(text, msg));
    EXPECT_THAT(unset_fields(msg), IsEmpty()) << text;
    EXPECT_THAT(unset_fields(msg.context()), IsEmpty()) << text;
    EXPECT_THAT(unset_fields(msg.launch_user()), IsEmpty()) << text;
    EXPECT_EQ(msg.context().id(), context_id);
    EXPECT_EQ(msg.seen_at(), "2026-11-27T10:00:00.000Z");
    EXPECT_TRUE(msg.force());
    EXPECT_EQ(msg.launch_user().roles_size(), 2);
    EXPECT_EQ(msg.launch_user().email(), "ada@example.edu");
}

TEST(RecordsSchema, MinimalSyncRequestParsesAsCourseSeen)
{
    course_seen cs;
    cs.platform = "no-nrps";
    cs.issuer = issuer;
    cs.client_id = "10000000000001";
    cs.context_id = "c1";
    const auto text = encode_sync_request(cs);
    rostersync::v1::CourseSeen msg;
    ASSERT_TRUE(parses(text, msg));
    EXPECT_EQ(msg.issuer(), issuer);
    EXPECT_EQ(msg.context().id(), "c1");
    EXPECT_FALSE(msg.has_launch_user());
    EXPECT_FALSE(msg.force());
    EXPECT_EQ(msg.seen_at(), "");
}

// ---- MembershipChange ----

TEST(RecordsSchema, MembershipChangeOfEveryTypeParses)
{
    const auto a = full_member("u-0001");
    auto active = a;
    active.status = "Active";
    auto promoted = active;
    promoted.roles = {instructor};
    auto renamed = promoted;
    renamed.email = "ada.okafor@example.edu";
    nrps::member bare;  // no profile at all
    bare.user_id = "u-0002";
    bare.roles = {learner};

    struct sample {
        roster::change c;
        const char* source;
    };
    const std::vector<sample> samples = {
        {{roster::change_type::added, "u-0001", std::nullopt, a}, "nrps"},
        {{roster::change_type::added, "u-0002", std::nullopt, bare}, "launch"},
        {{roster::change_type::status_changed, "u-0001", a, active}, "nrps"},
        {{roster::change_type::roles_changed, "u-0001", active, promoted}, "nrps"},
        {{roster::change_type::profile_changed, "u-0001", promoted, renamed}, "nrps"},
        {{roster::change_type::removed, "u-0001", renamed, std::nullopt}, "nrps"},
        {{roster::change_type::removed, "u-0002", bare, std::nullopt}, "launch"},
    };
    for (const auto& [c, source] : samples) {
        roster::event_context ctx{.issuer = issuer, .client_id = "10000000000001",
                                  .deployment_id = "1:8865aa05b4b79b64a91a86042e43af5ea8ae79eb",
                                  .context_id = context_id, .context_label = "BIO101",
                                  .context_title = "Biology", .source = source, .roster_version = 42,
                                  .time = at("2026-11-27T10:00:03.123Z")};
        const auto text = roster::encode_change(c, ctx);
        SCOPED_TRACE(text);
        rostersync::v1::MembershipChange msg;
        ASSERT_TRUE(parses(text, msg));
        EXPECT_EQ(msg.type(), roster::to_string(c.type));
        EXPECT_EQ(msg.source(), source);
        EXPECT_EQ(msg.id(), roster::event_id(c, ctx));
        EXPECT_EQ(msg.user_id(), c.user_id);
        EXPECT_EQ(msg.roster_version(), 42u);
        EXPECT_EQ(msg.time(), "2026-11-27T10:00:03.123Z");
        EXPECT_EQ(msg.has_before(), c.before.has_value());
        EXPECT_EQ(msg.has_after(), c.after.has_value());
        if (c.type == roster::change_type::added) {
            EXPECT_NE(text.find(R"("before":null)"), std::string::npos);
        }
        if (c.type == roster::change_type::removed) {
            EXPECT_NE(text.find(R"("after":null)"), std::string::npos);
        }
        if (c.before && c.after) {
            EXPECT_THAT(unset_fields(msg), IsEmpty());
            EXPECT_THAT(unset_fields(msg.before()), IsEmpty());
            EXPECT_THAT(unset_fields(msg.context()), IsEmpty());
        }
        if (c.after) {
            EXPECT_EQ(msg.after().roles_size(), static_cast<int>(c.after->roles.size()));
        }
    }
}

}  // namespace
}  // namespace rostersync::sync
