#include "sync/course_seen.hpp"

#include "config/load.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <ostream>
#include <stdexcept>
#include <string>

namespace rostersync::sync {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::system_clock;

const std::string learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";
const std::string instructor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor";
const std::string ta = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant";
const std::string inst_admin = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator";
const std::string sys_admin = "http://purl.imsglobal.org/vocab/lis/v2/system/person#SysAdmin";
const std::string test_user = "http://purl.imsglobal.org/vocab/lti/system/person#TestUser";

constexpr const char* test_config = R"(
[[platforms]]
name = "canvas-cloud"
issuer = "https://canvas.instructure.com"
client_id = "10000000000001"
token_url = "https://sso.canvaslms.com/login/oauth2/token"
private_key_file = "tool-key.pem"
allowed_hosts = ["*.instructure.com", "canvas.myschool.edu", "10.1.2.3"]

[[platforms]]
name = "canvas-second"
issuer = "https://canvas.instructure.com"
client_id = "20000000000002"
token_url = "https://sso.canvaslms.com/login/oauth2/token"
private_key_file = "tool-key.pem"
allowed_hosts = ["other.instructure.com"]

[[platforms]]
name = "local-sim"
issuer = "http://127.0.0.1:8080"
client_id = "sim"
token_url = "http://127.0.0.1:8080/login/oauth2/token"
private_key_file = "tool-key.pem"
allowed_hosts = ["127.0.0.1"]
allow_http = true

[[platforms]]
name = "launch-only"
issuer = "https://moodle.example.edu"
client_id = "moodle-tool"
nrps = false

[[platforms]]
name = "launch-only-hosts"
issuer = "https://brightspace.example.edu"
client_id = "d2l-tool"
nrps = false
allowed_hosts = ["brightspace.example.edu"]
)";

const config::config& cfg()
{
    static const config::config c = [] {
        auto r = config::load_string(test_config, "course_seen_test.toml", {}, "/nonexistent");
        if (!r) {
            std::string all;
            for (const auto& p : r.error().list) all += p.to_string() + "\n";
            throw std::runtime_error("test config does not load:\n" + all);
        }
        return *r;
    }();
    return c;
}

/// A valid record for canvas-cloud with `extra` spliced in before the closing brace.
std::string canvas(const std::string& extra = "")
{
    return R"({"issuer": "https://canvas.instructure.com", "client_id": "10000000000001",
               "context": {"id": "ctx-1"},
               "context_memberships_url": "https://school.instructure.com/api/lti/courses/42/names_and_roles")" +
           extra + "}";
}

clock::time_point utc(int y, int mo, int d, int h, int mi, int s)
{
    using namespace std::chrono;
    return sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}} + hours{h} +
           minutes{mi} + seconds{s};
}

// ---------------------------------------------------------------------------------------------
// accepted records

TEST(CourseSeen, DesignExampleAcceptedWithEveryFieldRead)
{
    const std::string text = R"({ "issuer": "https://canvas.instructure.com", "client_id": "10000000000001",
  "deployment_id": "1:8865aa05b4b79b64a91a86042e43af5ea8ae79eb",
  "context": {"id": "4dde05e8ca1973bcca9bffc13e1548820eee93a3", "label": "BIO101", "title": "Biology"},
  "context_memberships_url": "https://school.instructure.com/api/lti/courses/42/names_and_roles",
  "resource_link_id": "optional", "seen_at": "2026-11-27T10:00:00Z", "force": false,
  "launch_user": {"user_id": "…", "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                  "name": "…", "email": "…"} })";
    auto r = parse_course_seen(text, cfg());
    ASSERT_TRUE(r) << r.error().reason << ": " << r.error().message;
    EXPECT_EQ(r->platform, "canvas-cloud");
    EXPECT_EQ(r->issuer, "https://canvas.instructure.com");
    EXPECT_EQ(r->client_id, "10000000000001");
    EXPECT_EQ(r->deployment_id, "1:8865aa05b4b79b64a91a86042e43af5ea8ae79eb");
    EXPECT_EQ(r->context_id, "4dde05e8ca1973bcca9bffc13e1548820eee93a3");
    EXPECT_EQ(r->context_label, "BIO101");
    EXPECT_EQ(r->context_title, "Biology");
    EXPECT_EQ(r->memberships_url, "https://school.instructure.com/api/lti/courses/42/names_and_roles");
    EXPECT_EQ(r->resource_link_id, "optional");
    ASSERT_TRUE(r->seen_at);
    EXPECT_EQ(*r->seen_at, utc(2026, 11, 27, 10, 0, 0));
    EXPECT_FALSE(r->force);
    ASSERT_TRUE(r->user);
    EXPECT_EQ(r->user->user_id, "…");
    EXPECT_EQ(r->user->roles, std::vector<std::string>{learner});
    EXPECT_EQ(r->user->name, "…");
    EXPECT_EQ(r->user->email, "…");
}

TEST(CourseSeen, MinimalRecordHasDefaults)
{
    auto r = parse_course_seen(canvas(), cfg());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->platform, "canvas-cloud");
    EXPECT_EQ(r->context_id, "ctx-1");
    EXPECT_TRUE(r->deployment_id.empty());
    EXPECT_TRUE(r->context_label.empty());
    EXPECT_TRUE(r->context_title.empty());
    EXPECT_TRUE(r->resource_link_id.empty());
    EXPECT_FALSE(r->seen_at);  // the caller's time
    EXPECT_FALSE(r->force);
    EXPECT_FALSE(r->user);
}

TEST(CourseSeen, PlatformIsMatchedByIssuerAndClientId)
{
    auto r = parse_course_seen(R"({"issuer": "https://canvas.instructure.com", "client_id": "20000000000002",
        "context": {"id": "c"}, "context_memberships_url": "https://other.instructure.com/api/x"})",
                               cfg());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->platform, "canvas-second");

    // the same URL host is not allowed for the other client id of the same issuer
    auto first = parse_course_seen(canvas(R"(, "context_memberships_url": "https://evil.test/x")"), cfg());
    ASSERT_FALSE(first);
    EXPECT_EQ(first.error().reason, "url_not_allowed");

    auto second = parse_course_seen(R"({"issuer": "https://canvas.instructure.com", "client_id": "20000000000002",
        "context": {"id": "c"}, "context_memberships_url": "https://school.instructure.com/api/x"})",
                                    cfg());
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().reason, "url_not_allowed");
    EXPECT_NE(second.error().message.find("canvas-second"), std::string::npos) << second.error().message;
}

TEST(CourseSeen, NrpsFalsePlatformWithoutUrlAccepted)
{
    auto r = parse_course_seen(R"({"issuer": "https://moodle.example.edu", "client_id": "moodle-tool",
        "context": {"id": "c"}})",
                               cfg());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->platform, "launch-only");
    EXPECT_TRUE(r->memberships_url.empty());
}

TEST(CourseSeen, NrpsFalsePlatformWithUrlAccepted)
{
    // allowed: kept
    auto kept = parse_course_seen(R"({"issuer": "https://brightspace.example.edu", "client_id": "d2l-tool",
        "context": {"id": "c"}, "context_memberships_url": "https://brightspace.example.edu/d2l/api/lti/nrps/1"})",
                                  cfg());
    ASSERT_TRUE(kept) << kept.error().message;
    EXPECT_EQ(kept->platform, "launch-only-hosts");
    EXPECT_EQ(kept->memberships_url, "https://brightspace.example.edu/d2l/api/lti/nrps/1");

    // not allowed (no allowed_hosts at all): the event still counts, the URL is left out
    auto dropped = parse_course_seen(R"({"issuer": "https://moodle.example.edu", "client_id": "moodle-tool",
        "context": {"id": "c"}, "context_memberships_url": "https://moodle.example.edu/mod/lti/services.php/2/memberships"})",
                                     cfg());
    ASSERT_TRUE(dropped) << dropped.error().message;
    EXPECT_EQ(dropped->platform, "launch-only");
    EXPECT_TRUE(dropped->memberships_url.empty());

    // unparseable: same
    auto garbage = parse_course_seen(R"({"issuer": "https://moodle.example.edu", "client_id": "moodle-tool",
        "context": {"id": "c"}, "context_memberships_url": "not a url"})",
                                     cfg());
    ASSERT_TRUE(garbage) << garbage.error().message;
    EXPECT_TRUE(garbage->memberships_url.empty());

    // but a URL of the wrong type is still a bad field
    auto wrong = parse_course_seen(R"({"issuer": "https://moodle.example.edu", "client_id": "moodle-tool",
        "context": {"id": "c"}, "context_memberships_url": 7})",
                                   cfg());
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().reason, "bad_field");
}

TEST(CourseSeen, HttpUrlAcceptedWithAllowHttp)
{
    auto r = parse_course_seen(R"({"issuer": "http://127.0.0.1:8080", "client_id": "sim",
        "context": {"id": "c"}, "context_memberships_url": "http://127.0.0.1:8080/api/lti/courses/1/names_and_roles"})",
                               cfg());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->platform, "local-sim");
    EXPECT_EQ(r->memberships_url, "http://127.0.0.1:8080/api/lti/courses/1/names_and_roles");
}

TEST(CourseSeen, ListedIpLiteralAccepted)
{
    auto r = parse_course_seen(canvas(R"(, "context_memberships_url": "https://10.1.2.3/api/x")"), cfg());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->memberships_url, "https://10.1.2.3/api/x");
}

TEST(CourseSeen, UrlIsKeptAsParsed)
{
    // lower-case host, default port and fragment dropped: what the guard checked is what is used
    auto r = parse_course_seen(
        canvas(R"(, "context_memberships_url": "HTTPS://School.Instructure.COM:443/api/lti/courses/42/names_and_roles?rlid=a#frag")"),
        cfg());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->memberships_url, "https://school.instructure.com/api/lti/courses/42/names_and_roles?rlid=a");

    auto listed = parse_course_seen(canvas(R"(, "context_memberships_url": "https://canvas.myschool.edu/x")"), cfg());
    ASSERT_TRUE(listed) << listed.error().message;
}

TEST(CourseSeen, LaunchUserKeepsOnlyMembershipRoles)
{
    auto r = parse_course_seen(canvas(R"(, "launch_user": {"user_id": "u-1", "roles": [
        ")" + inst_admin + R"(", ")" + instructor + R"(", ")" + sys_admin + R"(", ")" + ta + R"(",
        ")" + test_user + R"(", "Learner", "http://purl.imsglobal.org/vocab/lis/v2/membership#"]})"),
                               cfg());
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(r->user);
    EXPECT_EQ(r->user->user_id, "u-1");
    EXPECT_EQ(r->user->roles, (std::vector<std::string>{instructor, ta}));  // as sent, in order
    EXPECT_FALSE(r->user->name);
    EXPECT_FALSE(r->user->email);
}

TEST(CourseSeen, LaunchUserWithoutMembershipRoleIsDropped)
{
    auto r = parse_course_seen(canvas(R"(, "launch_user": {"user_id": "admin-1", "roles": [
        ")" + inst_admin + R"(", ")" + sys_admin + R"("], "name": "Ada", "email": "ada@example.edu"})"),
                               cfg());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r->user);

    auto no_roles = parse_course_seen(canvas(R"(, "launch_user": {"user_id": "u", "roles": []})"), cfg());
    ASSERT_TRUE(no_roles);
    EXPECT_FALSE(no_roles->user);

    auto roles_absent = parse_course_seen(canvas(R"(, "launch_user": {"user_id": "u"})"), cfg());
    ASSERT_TRUE(roles_absent);
    EXPECT_FALSE(roles_absent->user);
}

TEST(CourseSeen, AnonymousLaunchUserIsDropped)
{
    auto r = parse_course_seen(canvas(R"(, "launch_user": {"roles": [")" + learner + R"("]})"), cfg());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r->user);

    auto empty = parse_course_seen(canvas(R"(, "launch_user": {"user_id": "", "roles": [")" + learner + R"("]})"), cfg());
    ASSERT_TRUE(empty) << empty.error().message;
    EXPECT_FALSE(empty->user);
}

TEST(CourseSeen, LaunchUserNameAndEmail)
{
    auto r = parse_course_seen(canvas(R"(, "launch_user": {"user_id": "u", "roles": [")" + learner +
                                      R"("], "name": "Grace Hopper", "email": ""}, "launch_user_extra": 1)"),
                               cfg());
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(r->user);
    EXPECT_EQ(r->user->name, "Grace Hopper");
    EXPECT_FALSE(r->user->email);  // "" counts as absent
}

TEST(CourseSeen, Force)
{
    auto yes = parse_course_seen(canvas(R"(, "force": true)"), cfg());
    ASSERT_TRUE(yes);
    EXPECT_TRUE(yes->force);
    auto no = parse_course_seen(canvas(R"(, "force": false)"), cfg());
    ASSERT_TRUE(no);
    EXPECT_FALSE(no->force);
    auto null = parse_course_seen(canvas(R"(, "force": null)"), cfg());
    ASSERT_TRUE(null);
    EXPECT_FALSE(null->force);
}

TEST(CourseSeen, SeenAtInRecord)
{
    auto r = parse_course_seen(canvas(R"(, "seen_at": "2026-11-27T11:30:00.250+01:30")"), cfg());
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(r->seen_at);
    EXPECT_EQ(*r->seen_at, utc(2026, 11, 27, 10, 0, 0) + 250ms);

    auto empty = parse_course_seen(canvas(R"(, "seen_at": "")"), cfg());
    ASSERT_TRUE(empty) << empty.error().message;
    EXPECT_FALSE(empty->seen_at);

    auto bad = parse_course_seen(canvas(R"(, "seen_at": "27/11/2026")"), cfg());
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().reason, "bad_field");
    EXPECT_NE(bad.error().message.find("seen_at"), std::string::npos);
}

// Found by fuzz_records (tests/fuzz/corpus/records/request_before_epoch): a fractional time before
// 1970 was accepted, then written by roster::rfc3339 as "1970-01-01T00:00:00.-500Z" into the sync
// request and the change events, which no reader parses back.
TEST(CourseSeen, SeenAtBeforeTheEpochIsRefused)
{
    for (const char* t : {"1969-12-31T23:59:59.500Z", "1969-12-31T23:59:59Z", "1970-01-01T00:30:00+01:00",
                          "1900-01-01T00:00:00Z"}) {
        auto r = parse_course_seen(canvas(std::string(R"(, "seen_at": ")") + t + "\""), cfg());
        ASSERT_FALSE(r) << t;
        EXPECT_EQ(r.error().reason, "bad_field") << t;
        EXPECT_EQ(r.error().message, "seen_at: before 1970-01-01T00:00:00Z") << t;
    }
    auto epoch = parse_course_seen(canvas(R"(, "seen_at": "1970-01-01T01:00:00+01:00")"), cfg());
    ASSERT_TRUE(epoch) << epoch.error().message;
    EXPECT_EQ(*epoch->seen_at, clock::time_point{});
}

TEST(CourseSeen, UnknownFieldsIgnored)
{
    auto r = parse_course_seen(canvas(R"(, "future": {"deep": [1, 2, {"x": null}]}, "context_extra": 1.5,
        "launch_presentation": "iframe", "custom": [true, false], "force_extra": "yes")"),
                               cfg());
    ASSERT_TRUE(r) << r.error().message;

    auto nested = parse_course_seen(R"({"issuer": "https://canvas.instructure.com", "client_id": "10000000000001",
        "context": {"id": "c", "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"], "n": 3},
        "context_memberships_url": "https://school.instructure.com/x",
        "launch_user": {"user_id": "u", "roles": [")" + learner + R"("], "given_name": "G", "picture": 4}})",
                                    cfg());
    ASSERT_TRUE(nested) << nested.error().message;
    EXPECT_EQ(nested->context_id, "c");
    ASSERT_TRUE(nested->user);
}

TEST(CourseSeen, NullKnownFieldsCountAsAbsent)
{
    auto r = parse_course_seen(canvas(R"(, "deployment_id": null, "resource_link_id": null, "seen_at": null,
        "launch_user": null)"),
                               cfg());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->deployment_id.empty());
    EXPECT_FALSE(r->seen_at);
    EXPECT_FALSE(r->user);

    auto missing = parse_course_seen(R"({"issuer": null, "client_id": "10000000000001", "context": {"id": "c"}})", cfg());
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().reason, "missing_field");
    EXPECT_EQ(missing.error().message, "issuer: missing");
}

TEST(CourseSeen, SizeLimitIsInclusive)
{
    const std::string text = canvas();
    auto at = parse_course_seen(text, cfg(), text.size());
    EXPECT_TRUE(at);
    auto over = parse_course_seen(text, cfg(), text.size() - 1);
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().reason, "too_large");
}

TEST(CourseSeen, IdentifierLengthLimitIsInclusive)
{
    const std::string ok(1024, 'a');
    auto at = parse_course_seen(canvas(R"(, "context": {"id": ")" + ok + R"("})"), cfg());
    ASSERT_TRUE(at) << at.error().message;
    EXPECT_EQ(at->context_id, ok);

    auto long_user = parse_course_seen(
        canvas(R"(, "launch_user": {"user_id": ")" + std::string(1025, 'u') + R"(", "roles": [")" + learner + R"("]})"),
        cfg());
    ASSERT_FALSE(long_user);
    EXPECT_EQ(long_user.error().reason, "bad_field");
    EXPECT_EQ(long_user.error().message, "launch_user.user_id: longer than 1024 bytes");
}

TEST(CourseSeen, MessagesNeverEchoPersonalData)
{
    const std::string secret_id = "user-secret-42";
    const std::string secret_name = "Secret Person";
    const std::string secret_email = "secret@example.edu";
    const std::string person = R"("user_id": ")" + secret_id + R"(", "name": ")" + secret_name + R"(", "email": ")" +
                               secret_email + R"(")";
    const std::vector<std::string> records = {
        canvas(R"(, "launch_user": {)" + person + R"(, "roles": "Learner"})"),
        canvas(R"(, "launch_user": {)" + person + R"(, "roles": [")" + learner + R"(", 5]})"),
        canvas(R"(, "launch_user": {)" + person + R"(, "roles": [], "email": 1})"),
        canvas(R"(, "launch_user": {"user_id": 17, "name": ")" + secret_name + R"("})"),
        canvas(R"(, "launch_user": {)" + person + R"(}, "force": "yes")"),
        canvas(R"(, "launch_user": {)" + person + R"(}, "context_memberships_url": "https://evil.test/)" + secret_id +
               R"(")"),
    };
    for (const auto& text : records) {
        auto r = parse_course_seen(text, cfg());
        ASSERT_FALSE(r) << text;
        const auto& m = r.error().message;
        EXPECT_EQ(m.find(secret_id), std::string::npos) << m;
        EXPECT_EQ(m.find(secret_name), std::string::npos) << m;
        EXPECT_EQ(m.find(secret_email), std::string::npos) << m;
        EXPECT_EQ(m.find("17"), std::string::npos) << m;
    }
}

TEST(CourseSeen, EchoedValuesAreSanitised)
{
    auto r = parse_course_seen(R"({"issuer": "https://x.test/\u0000\n\"evil", "client_id": "c",
        "context": {"id": "c"}})",
                               cfg());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().reason, "unknown_platform");
    for (char c : r.error().message) {
        EXPECT_GE(static_cast<unsigned char>(c), 0x20);
        EXPECT_LT(static_cast<unsigned char>(c), 0x7f);
    }
    EXPECT_NE(r.error().message.find("https://x.test/???evil"), std::string::npos) << r.error().message;

    auto longer = parse_course_seen(R"({"issuer": ")" + std::string(1000, 'i') + R"(", "client_id": "c",
        "context": {"id": "c"}})",
                                    cfg());
    ASSERT_FALSE(longer);
    EXPECT_LT(longer.error().message.size(), 400u);
}

TEST(CourseSeen, ValueThrowsWithReasonAndMessage)
{
    auto r = parse_course_seen("[]", cfg());
    ASSERT_FALSE(r);
    try {
        (void)r.value();
        FAIL() << "value() did not throw";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("not_json"), std::string::npos) << e.what();
    }
}

// ---------------------------------------------------------------------------------------------
// rejections

struct rejected {
    const char* name;
    std::string text;
    const char* reason;
    const char* fragment;
};

std::ostream& operator<<(std::ostream& os, const rejected& c) { return os << c.name; }

class CourseSeenRejected : public testing::TestWithParam<rejected> {};

TEST_P(CourseSeenRejected, WithReasonAndMessage)
{
    const auto& c = GetParam();
    auto r = parse_course_seen(c.text, cfg(), 4096);
    ASSERT_FALSE(r) << c.name << " was accepted";
    EXPECT_EQ(r.error().reason, c.reason) << r.error().message;
    EXPECT_NE(r.error().message.find(c.fragment), std::string::npos)
        << "message: " << r.error().message << "\nexpected to contain: " << c.fragment;
}

const std::string ctx = R"("context": {"id": "c"})";
const std::string ids = R"("issuer": "https://canvas.instructure.com", "client_id": "10000000000001")";
const std::string good_url = R"("context_memberships_url": "https://school.instructure.com/x")";

std::string record(const std::string& a, const std::string& b = "", const std::string& c = "")
{
    std::string out = "{" + a;
    if (!b.empty()) out += ", " + b;
    if (!c.empty()) out += ", " + c;
    return out + "}";
}

std::string deep(int levels)
{
    return canvas(R"(, "x": )" + std::string(static_cast<std::size_t>(levels), '[') +
                  std::string(static_cast<std::size_t>(levels), ']'));
}

INSTANTIATE_TEST_SUITE_P(
    All, CourseSeenRejected,
    testing::Values(
        // not JSON
        rejected{"empty", "", "not_json", "not valid JSON"},
        rejected{"garbage", "{issuer: 1}", "not_json", "not valid JSON"},
        rejected{"truncated", canvas().substr(0, 40), "not_json", "not valid JSON"},
        rejected{"trailing", canvas() + " {}", "not_json", "not valid JSON"},
        rejected{"comment", "{/* c */}", "not_json", "not valid JSON"},
        rejected{"bad_utf8", canvas(", \"x\": \"\xff\xfe\""), "not_json", "not valid JSON"},
        rejected{"too_deep", deep(40), "not_json", "not valid JSON"},
        rejected{"array_top", "[" + canvas() + "]", "not_json", "expected a JSON object at the top level, got an array"},
        rejected{"string_top", "\"x\"", "not_json", "got a string"},
        rejected{"null_top", "null", "not_json", "got null"},
        rejected{"too_large", canvas(", \"pad\": \"" + std::string(5000, 'p') + "\""), "too_large",
                 "more than the limit of 4096"},
        // missing
        rejected{"no_issuer", record(R"("client_id": "10000000000001")", ctx, good_url), "missing_field",
                 "issuer: missing"},
        rejected{"empty_issuer", record(R"("issuer": "", "client_id": "10000000000001")", ctx, good_url),
                 "missing_field", "issuer: missing"},
        rejected{"no_client_id", record(R"("issuer": "https://canvas.instructure.com")", ctx, good_url),
                 "missing_field", "client_id: missing"},
        rejected{"no_context", record(ids, good_url), "missing_field", "context.id: missing"},
        rejected{"no_context_id", record(ids, R"("context": {"label": "L"})", good_url), "missing_field",
                 "context.id: missing"},
        rejected{"empty_context_id", record(ids, R"("context": {"id": ""})", good_url), "missing_field",
                 "context.id: missing"},
        rejected{"no_url", record(ids, ctx), "missing_field", "context_memberships_url: missing"},
        rejected{"empty_url", record(ids, ctx, R"("context_memberships_url": "")"), "missing_field",
                 "context_memberships_url: missing"},
        // wrong types
        rejected{"issuer_number", record(R"("issuer": 1, "client_id": "10000000000001")", ctx, good_url),
                 "bad_field", "issuer: expected a string, got a number"},
        rejected{"client_id_number", record(R"("issuer": "https://canvas.instructure.com", "client_id": 10000000000001)",
                                            ctx, good_url),
                 "bad_field", "client_id: expected a string, got a number"},
        rejected{"deployment_id_bool", canvas(R"(, "deployment_id": true)"), "bad_field",
                 "deployment_id: expected a string, got a boolean"},
        rejected{"context_string", record(ids, R"("context": "c")", good_url), "bad_field",
                 "context: expected an object, got a string"},
        rejected{"context_array", record(ids, R"("context": ["c"])", good_url), "bad_field",
                 "context: expected an object, got an array"},
        rejected{"context_id_number", record(ids, R"("context": {"id": 42})", good_url), "bad_field",
                 "context.id: expected a string"},
        rejected{"context_label_number", canvas(R"(, "context": {"id": "c", "label": 1})"), "bad_field",
                 "context.label: expected a string"},
        rejected{"context_title_object", canvas(R"(, "context": {"id": "c", "title": {}})"), "bad_field",
                 "context.title: expected a string"},
        rejected{"url_array", record(ids, ctx, R"("context_memberships_url": ["https://school.instructure.com/"])"),
                 "bad_field", "context_memberships_url: expected a string, got an array"},
        rejected{"resource_link_id_number", canvas(R"(, "resource_link_id": 5)"), "bad_field",
                 "resource_link_id: expected a string"},
        rejected{"seen_at_number", canvas(R"(, "seen_at": 1764237600)"), "bad_field",
                 "seen_at: expected a string, got a number"},
        rejected{"seen_at_format", canvas(R"(, "seen_at": "2026-11-27 10:00:00")"), "bad_field",
                 "seen_at: expected an RFC 3339 time"},
        rejected{"force_string", canvas(R"(, "force": "true")"), "bad_field", "force: expected true or false"},
        rejected{"force_number", canvas(R"(, "force": 1)"), "bad_field", "force: expected true or false"},
        rejected{"launch_user_string", canvas(R"(, "launch_user": "u")"), "bad_field",
                 "launch_user: expected an object, got a string"},
        rejected{"user_id_number", canvas(R"(, "launch_user": {"user_id": 5})"), "bad_field",
                 "launch_user.user_id: expected a string, got a number"},
        rejected{"roles_string", canvas(R"(, "launch_user": {"user_id": "u", "roles": "Learner"})"), "bad_field",
                 "launch_user.roles: expected an array of strings, got a string"},
        rejected{"role_number", canvas(R"(, "launch_user": {"user_id": "u", "roles": ["x", 5]})"), "bad_field",
                 "launch_user.roles[1]: expected a string, got a number"},
        rejected{"name_number", canvas(R"(, "launch_user": {"user_id": "u", "name": 5})"), "bad_field",
                 "launch_user.name: expected a string"},
        rejected{"email_array", canvas(R"(, "launch_user": {"user_id": "u", "email": []})"), "bad_field",
                 "launch_user.email: expected a string"},
        // overlong identifiers
        rejected{"long_issuer", record(R"("issuer": ")" + std::string(1025, 'i') + R"(", "client_id": "x")", ctx),
                 "bad_field", "issuer: longer than 1024 bytes"},
        rejected{"long_client_id", record(R"("issuer": "i", "client_id": ")" + std::string(1025, 'c') + R"(")", ctx),
                 "bad_field", "client_id: longer than 1024 bytes"},
        rejected{"long_context_id", canvas(R"(, "context": {"id": ")" + std::string(1025, 'c') + R"("})"),
                 "bad_field", "context.id: longer than 1024 bytes"},
        rejected{"long_deployment_id", canvas(R"(, "deployment_id": ")" + std::string(1025, 'd') + R"(")"),
                 "bad_field", "deployment_id: longer than 1024 bytes"},
        rejected{"long_resource_link_id", canvas(R"(, "resource_link_id": ")" + std::string(1025, 'r') + R"(")"),
                 "bad_field", "resource_link_id: longer than 1024 bytes"},
        // platform
        rejected{"unknown_issuer", record(R"("issuer": "https://evil.test", "client_id": "10000000000001")", ctx, good_url),
                 "unknown_platform",
                 "no configured platform has issuer \"https://evil.test\" and client_id \"10000000000001\""},
        rejected{"unknown_client_id",
                 record(R"("issuer": "https://canvas.instructure.com", "client_id": "99")", ctx, good_url),
                 "unknown_platform", "client_id \"99\""},
        rejected{"issuer_case_differs",
                 record(R"("issuer": "https://Canvas.instructure.com", "client_id": "10000000000001")", ctx, good_url),
                 "unknown_platform", "no configured platform"},
        // URL guard
        rejected{"http_without_allow_http",
                 canvas(R"(, "context_memberships_url": "http://school.instructure.com/api/x")"), "url_not_allowed",
                 "context_memberships_url: scheme http is not allowed for platform canvas-cloud"},
        rejected{"host_not_allowed", canvas(R"(, "context_memberships_url": "https://evil.test/api/x")"),
                 "url_not_allowed",
                 "context_memberships_url: host evil.test is not in the allowed_hosts of platform canvas-cloud"},
        rejected{"wildcard_base_domain", canvas(R"(, "context_memberships_url": "https://instructure.com/api/x")"),
                 "url_not_allowed", "host instructure.com is not in the allowed_hosts"},
        rejected{"suffix_trick", canvas(R"(, "context_memberships_url": "https://school.instructure.com.evil.test/x")"),
                 "url_not_allowed", "host school.instructure.com.evil.test is not in the allowed_hosts"},
        rejected{"ip_not_listed", canvas(R"(, "context_memberships_url": "https://10.9.9.9/api/x")"),
                 "url_not_allowed", "host 10.9.9.9 is not in the allowed_hosts of platform canvas-cloud (IP"},
        rejected{"ipv6_not_listed", canvas(R"(, "context_memberships_url": "https://[::1]/api/x")"),
                 "url_not_allowed", "host ::1 is not in the allowed_hosts"},
        rejected{"localhost_not_listed", canvas(R"(, "context_memberships_url": "https://localhost/api/x")"),
                 "url_not_allowed", "host localhost is not in the allowed_hosts"},
        rejected{"userinfo", canvas(R"(, "context_memberships_url": "https://a:b@school.instructure.com/x")"),
                 "url_not_allowed", "context_memberships_url: not an absolute http(s) URL"},
        rejected{"relative_url", canvas(R"(, "context_memberships_url": "/api/lti/courses/42/names_and_roles")"),
                 "url_not_allowed", "context_memberships_url: not an absolute http(s) URL"},
        rejected{"ftp_url", canvas(R"(, "context_memberships_url": "ftp://school.instructure.com/x")"),
                 "url_not_allowed", "context_memberships_url: not an absolute http(s) URL"},
        rejected{"other_platforms_host",
                 record(R"("issuer": "http://127.0.0.1:8080", "client_id": "sim")", ctx,
                        R"("context_memberships_url": "http://school.instructure.com/x")"),
                 "url_not_allowed", "host school.instructure.com is not in the allowed_hosts of platform local-sim"}),
    [](const testing::TestParamInfo<rejected>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// parse_rfc3339

struct good_time {
    const char* text;
    clock::time_point expected;
};

std::ostream& operator<<(std::ostream& os, const good_time& c) { return os << c.text; }

class Rfc3339Good : public testing::TestWithParam<good_time> {};

TEST_P(Rfc3339Good, Parses)
{
    const auto& c = GetParam();
    auto t = parse_rfc3339(c.text);
    ASSERT_TRUE(t) << c.text;
    EXPECT_EQ(*t, c.expected) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    All, Rfc3339Good,
    testing::Values(
        good_time{"2026-11-27T10:00:00Z", utc(2026, 11, 27, 10, 0, 0)},
        good_time{"2026-11-27t10:00:00z", utc(2026, 11, 27, 10, 0, 0)},
        good_time{"2026-11-27T10:00:00.5Z", utc(2026, 11, 27, 10, 0, 0) + 500ms},
        good_time{"2026-11-27T10:00:00.123Z", utc(2026, 11, 27, 10, 0, 0) + 123ms},
        good_time{"2026-11-27T10:00:00.123456789Z", utc(2026, 11, 27, 10, 0, 0) + 123456789ns},
        good_time{"2026-11-27T10:00:00.1234567891234Z", utc(2026, 11, 27, 10, 0, 0) + 123456789ns},
        good_time{"2026-11-27T10:00:00+00:00", utc(2026, 11, 27, 10, 0, 0)},
        good_time{"2026-11-27T10:00:00-00:00", utc(2026, 11, 27, 10, 0, 0)},
        good_time{"2026-11-27T11:00:00+01:00", utc(2026, 11, 27, 10, 0, 0)},
        good_time{"2026-11-27T04:30:00-05:30", utc(2026, 11, 27, 10, 0, 0)},
        good_time{"2026-11-28T00:30:00+14:30", utc(2026, 11, 27, 10, 0, 0)},
        good_time{"2026-12-31T23:00:00-02:00", utc(2027, 1, 1, 1, 0, 0)},
        good_time{"2028-02-29T00:00:00Z", utc(2028, 2, 29, 0, 0, 0)},
        good_time{"2000-02-29T00:00:00Z", utc(2000, 2, 29, 0, 0, 0)},
        good_time{"1970-01-01T00:00:00Z", clock::time_point{}},
        good_time{"1969-12-31T23:59:59Z", clock::time_point{} - 1s},
        good_time{"2016-12-31T23:59:60Z", utc(2017, 1, 1, 0, 0, 0)}),
    [](const testing::TestParamInfo<good_time>& info) { return "case" + std::to_string(info.index); });

class Rfc3339Bad : public testing::TestWithParam<const char*> {};

TEST_P(Rfc3339Bad, Refused)
{
    EXPECT_FALSE(parse_rfc3339(GetParam())) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    All, Rfc3339Bad,
    testing::Values("", "2026-11-27", "2026-11-27T10:00:00", "2026-11-27 10:00:00Z", "2026-11-27T10:00Z",
                    "2026-11-27T10:00:00.Z", "2026-11-27T10:00:00,5Z", "2026-11-27T10:00:00+0100",
                    "2026-11-27T10:00:00+01", "2026-11-27T10:00:00+1:00", "2026-11-27T10:00:00+24:00",
                    "2026-11-27T10:00:00+01:60", "2026-11-27T10:00:00ZZ", "2026-11-27T10:00:00Z ",
                    " 2026-11-27T10:00:00Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
                    "2026-11-00T00:00:00Z", "2026-11-31T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
                    "2026-11-27T24:00:00Z", "2026-11-27T10:60:00Z", "2026-11-27T10:00:61Z", "26-11-27T10:00:00Z",
                    "2026/11/27T10:00:00Z", "2026-11-27T10:00:00.12a4Z", "+2026-11-27T10:00:00Z",
                    "２026-11-27T10:00:00Z", "2026-1a-27T10:00:00Z", "9999-12-31T23:59:59Z",
                    "1000-01-01T00:00:00Z", "2026-11-27T10:00:00-"),
    [](const testing::TestParamInfo<const char*>& info) { return "case" + std::to_string(info.index); });

}  // namespace
}  // namespace rostersync::sync
