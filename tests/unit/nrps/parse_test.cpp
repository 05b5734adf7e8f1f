#include "nrps/page.hpp"

#include "nrps/error.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace rostersync::nrps {
namespace {

constexpr const char* learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";
constexpr const char* instructor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor";
constexpr const char* ta = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant";
constexpr const char* test_user = "http://purl.imsglobal.org/vocab/lti/system/person#TestUser";
constexpr const char* group_member = "http://purl.imsglobal.org/vocab/lis/v2/membership#Member";
constexpr const char* group_manager = "http://purl.imsglobal.org/vocab/lis/v2/membership#Manager";

/// A valid page around the given member objects (already JSON).
std::string page_with(const std::string& members)
{
    return R"({"id":"https://canvas.test/api/lti/courses/1/names_and_roles","context":{"id":"ctx"},"members":[)" +
           members + "]}";
}

/// A valid page with one member: `extra` is spliced into the member object.
std::string page_with_member(const std::string& extra)
{
    return page_with(R"({"user_id":"u1","roles":[")" + std::string(learner) + R"("])" + extra + "}");
}

page parse_ok(const std::string& json)
{
    auto r = parse_page(json);
    EXPECT_TRUE(r) << json << "\n -> " << (r ? "" : r.error().message);
    if (!r) return {};
    return std::move(*r);  // a page is move-only: its members view its own text
}

std::string json_escape(const std::string& s)
{
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out + "\"";
}

// --- the Canvas containers of the reference (canvas-nrps.md section 2) ---------------------------

TEST(NrpsParse, CanvasCourseContainer)
{
    const std::string json = std::string(R"({
      "id": "https://canvas.test/api/lti/courses/42/names_and_roles?page=2&per_page=3",
      "context": {
        "id": "4dde05e8ca1973bcca9bffc13e1548820eee93a3",
        "label": "BIO 101",
        "title": "Introduction to Biology"
      },
      "members": [
        {
          "status": "Active",
          "name": "Ada Student",
          "picture": "https://canvas.test/images/thumbnails/1/ada.png",
          "given_name": "Ada",
          "family_name": "Student",
          "email": "ada@example.edu",
          "lis_person_sourcedid": "SIS-1001",
          "user_id": "8c5f1f2e-9a3b-4c1d-8e7f-0a1b2c3d4e5f",
          "lti11_legacy_user_id": "535fa085f22b4655f48cd5a36a9215f64c062838",
          "roles": [")") + learner + R"("]
        },
        {
          "status": "Active",
          "name": "Hypothesis 101 Student",
          "given_name": "Hypothesis 101",
          "family_name": "Student",
          "user_id": "2b1d5b0e-1111-4222-8333-444455556666",
          "lti11_legacy_user_id": "86157096483e6b3a50bfedc6bac902c0b20a824f",
          "roles": [")" + ta + R"(", ")" + instructor + R"("]
        },
        {
          "status": "Active",
          "name": "Test Student",
          "user_id": "3c2e6c1f-2222-4333-8444-555566667777",
          "lti11_legacy_user_id": "0000000000000000000000000000000000000003",
          "roles": [")" + learner + R"(", ")" + test_user + R"("]
        }
      ]
    })";
    page p = parse_ok(json);
    EXPECT_EQ(p.id, "https://canvas.test/api/lti/courses/42/names_and_roles?page=2&per_page=3");
    EXPECT_EQ(p.context.id, "4dde05e8ca1973bcca9bffc13e1548820eee93a3");
    EXPECT_EQ(p.context.label, "BIO 101");
    EXPECT_EQ(p.context.title, "Introduction to Biology");
    ASSERT_EQ(p.members.size(), 3u);

    const member_ref& ada = p.members[0];
    EXPECT_EQ(ada.user_id, "8c5f1f2e-9a3b-4c1d-8e7f-0a1b2c3d4e5f");
    EXPECT_EQ(ada.status, "Active");
    EXPECT_EQ(ada.roles, std::vector<std::string>{learner});
    EXPECT_EQ(ada.name, "Ada Student");
    EXPECT_EQ(ada.given_name, "Ada");
    EXPECT_EQ(ada.family_name, "Student");
    EXPECT_EQ(ada.middle_name, std::nullopt);
    EXPECT_EQ(ada.email, "ada@example.edu");
    EXPECT_EQ(ada.picture, "https://canvas.test/images/thumbnails/1/ada.png");
    EXPECT_EQ(ada.lis_person_sourcedid, "SIS-1001");
    EXPECT_EQ(ada.lti11_legacy_user_id, "535fa085f22b4655f48cd5a36a9215f64c062838");

    EXPECT_EQ(p.members[1].given_name, "Hypothesis 101");
    EXPECT_EQ(p.members[1].email, std::nullopt);  // privacy level, not an error
    EXPECT_EQ(p.members[1].picture, std::nullopt);
    EXPECT_EQ(p.members[2].roles, (std::vector<std::string>{learner, test_user}));
}

TEST(NrpsParse, CanvasGroupContainerHasNoLabel)
{
    const std::string json = std::string(R"({"id":"https://canvas.test/api/lti/groups/7/names_and_roles",
      "context":{"id":"a1b2c3d4e5f60718293a4b5c6d7e8f9012345678","title":"Lab group 3"},
      "members":[{"status":"Active","user_id":"g1","lti11_legacy_user_id":"x1","roles":[")") + group_member +
                             R"(",")" + group_manager + R"("]},
                 {"status":"Active","user_id":"g2","lti11_legacy_user_id":"x2","roles":[")" + group_member + R"("]}]})";
    page p = parse_ok(json);
    EXPECT_EQ(p.context.id, "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678");
    EXPECT_EQ(p.context.label, std::nullopt);
    EXPECT_EQ(p.context.title, "Lab group 3");
    ASSERT_EQ(p.members.size(), 2u);
    EXPECT_EQ(p.members[0].roles, (std::vector<std::string>{group_member, group_manager}));
    EXPECT_EQ(p.members[1].roles, std::vector<std::string>{group_member});
}

// --- member fields ------------------------------------------------------------------------------

TEST(NrpsParse, ReadsEveryMemberField)
{
    page p = parse_ok(page_with(R"({"user_id":"u9","status":"Inactive","roles":["r1","r2"],
        "name":"N","given_name":"G","family_name":"F","middle_name":"M","email":"e@x","picture":"https://p",
        "lis_person_sourcedid":"S","lti11_legacy_user_id":"L"})"));
    ASSERT_EQ(p.members.size(), 1u);
    member expected;
    expected.user_id = "u9";
    expected.status = "Inactive";
    expected.roles = {"r1", "r2"};
    expected.name = "N";
    expected.given_name = "G";
    expected.family_name = "F";
    expected.middle_name = "M";
    expected.email = "e@x";
    expected.picture = "https://p";
    expected.lis_person_sourcedid = "S";
    expected.lti11_legacy_user_id = "L";
    EXPECT_EQ(p.members[0], expected);
}

TEST(NrpsParse, OnlyRequiredMemberFields)
{
    page p = parse_ok(page_with(R"({"user_id":"u1","roles":[]})"));
    ASSERT_EQ(p.members.size(), 1u);
    member expected;
    expected.user_id = "u1";
    EXPECT_EQ(p.members[0], expected);
    EXPECT_TRUE(p.members[0].roles.empty());
}

TEST(NrpsParse, StatusDefaultsToActive)
{
    page p = parse_ok(page_with_member(""));
    ASSERT_EQ(p.members.size(), 1u);
    EXPECT_EQ(p.members[0].status, "Active");
}

TEST(NrpsParse, AcceptsTheThreeStatuses)
{
    for (const char* status : {"Active", "Inactive", "Deleted"}) {
        page p = parse_ok(page_with_member(R"(,"status":")" + std::string(status) + "\""));
        ASSERT_EQ(p.members.size(), 1u) << status;
        EXPECT_EQ(p.members[0].status, status);
    }
}

TEST(NrpsParse, TaRolesKeptInOrder)
{
    page p = parse_ok(page_with(R"({"user_id":"ta","roles":[")" + std::string(ta) + R"(",")" + instructor +
                                R"("]},{"user_id":"ta2","roles":[")" + instructor + R"(",")" + ta + R"("]})"));
    ASSERT_EQ(p.members.size(), 2u);
    EXPECT_EQ(p.members[0].roles, (std::vector<std::string>{ta, instructor}));
    EXPECT_EQ(p.members[1].roles, (std::vector<std::string>{instructor, ta}));  // as sent, no sorting
}

TEST(NrpsParse, EmptyMembersArray)
{
    page p = parse_ok(R"({"id":"x","context":{"id":"c","label":"L","title":"T"},"members":[]})");
    EXPECT_TRUE(p.members.empty());
    EXPECT_EQ(p.context.id, "c");
}

TEST(NrpsParse, TopLevelIdIsOptional)
{
    EXPECT_EQ(parse_ok(R"({"context":{"id":"c"},"members":[]})").id, "");
    EXPECT_EQ(parse_ok(R"({"id":null,"context":{"id":"c"},"members":[]})").id, "");
    EXPECT_EQ(parse_ok(R"({"id":"","context":{"id":"c"},"members":[]})").id, "");
}

TEST(NrpsParse, FieldOrderDoesNotMatter)
{
    page p = parse_ok(R"({"members":[{"roles":["r"],"lti11_legacy_user_id":"L","user_id":"u","status":"Deleted"}],
                          "context":{"title":"T","id":"c"},"id":"i"})");
    EXPECT_EQ(p.id, "i");
    EXPECT_EQ(p.context.id, "c");
    EXPECT_EQ(p.context.title, "T");
    ASSERT_EQ(p.members.size(), 1u);
    EXPECT_EQ(p.members[0].user_id, "u");
    EXPECT_EQ(p.members[0].status, "Deleted");
    EXPECT_EQ(p.members[0].lti11_legacy_user_id, "L");
}

// --- ignoring what we do not know -------------------------------------------------------------

TEST(NrpsParse, IgnoresUnknownTopLevelFields)
{
    page p = parse_ok(R"({"@context":"http://purl.imsglobal.org/spec/lti-nrps/v2p0/context.json",
        "differences":"https://x/differences?since=1", "nextPage": null, "count": 12, "ratio": -1.5e3,
        "flags": [true, false, null, [1, {"a": []}]], "ext": {"nested": {"members": 5, "context": "x"}},
        "context":{"id":"c","extra":{"k":[1,2]},"number":7},
        "members":[{"user_id":"u","roles":["r"]}],
        "trailing_unknown": {"deep": [[[["x"]]]]}})");
    EXPECT_EQ(p.context.id, "c");
    ASSERT_EQ(p.members.size(), 1u);
    EXPECT_EQ(p.members[0].user_id, "u");
}

TEST(NrpsParse, IgnoresUnknownMemberFieldsIncludingRlidMessage)
{
    page p = parse_ok(page_with_member(R"(,
        "message": [{
          "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
          "locale": "en",
          "https://purl.imsglobal.org/spec/lti/claim/custom": {"canvas_user_id": "17", "x": "$unsupported.param.1"},
          "https://www.instructure.com/canvas_user_id": 17,
          "https://www.instructure.com/canvas_user_login_id": "ada"
        }],
        "score": 3.5, "enrolled": true, "sections": ["A", "B"], "meta": {"user_id": 5, "roles": 7},
        "name": "After the noise")"));
    ASSERT_EQ(p.members.size(), 1u);
    EXPECT_EQ(p.members[0].user_id, "u1");
    EXPECT_EQ(p.members[0].roles, std::vector<std::string>{learner});
    EXPECT_EQ(p.members[0].name, "After the noise");
}

TEST(NrpsParse, NullOptionalFieldsAreAbsent)
{
    page p = parse_ok(R"({"id":null,"context":{"id":"c","label":null,"title":null},"members":[
        {"user_id":"u","roles":[],"status":null,"name":null,"given_name":null,"family_name":null,
         "middle_name":null,"email":null,"picture":null,"lis_person_sourcedid":null,
         "lti11_legacy_user_id":null,"message":null}]})");
    EXPECT_EQ(p.context.label, std::nullopt);
    EXPECT_EQ(p.context.title, std::nullopt);
    ASSERT_EQ(p.members.size(), 1u);
    member expected;
    expected.user_id = "u";
    EXPECT_EQ(p.members[0], expected);  // status "Active", every optional empty
}

TEST(NrpsParse, UnescapesStringsAndKeys)
{
    page p = parse_ok(R"({"context":{"id":"c\/1"},"members":[{"user\u005fid":"caf\u00e9 \"q\"","roles":["a\\b"],
        "name":"Zo\u00eb \ud83d\ude00","email":"\u0041@x"}]})");
    EXPECT_EQ(p.context.id, "c/1");
    ASSERT_EQ(p.members.size(), 1u);
    EXPECT_EQ(p.members[0].user_id, "caf\xc3\xa9 \"q\"");
    EXPECT_EQ(p.members[0].roles, std::vector<std::string>{"a\\b"});
    EXPECT_EQ(p.members[0].name, "Zo\xc3\xab \xf0\x9f\x98\x80");
    EXPECT_EQ(p.members[0].email, "A@x");
}

TEST(NrpsParse, WhitespaceAroundTheDocument)
{
    page p = parse_ok(" \n\t" + page_with_member("") + "\r\n  ");
    EXPECT_EQ(p.members.size(), 1u);
}

TEST(NrpsParse, ReadsOnlyTheGivenView)
{
    // The view is not NUL-terminated and is followed by bytes that would be garbage.
    const std::string json = page_with_member("");
    const std::string buffer = json + "} trailing junk";
    page p = parse_ok(std::string(std::string_view(buffer).substr(0, json.size())));
    auto r = parse_page(std::string_view(buffer).substr(0, json.size()));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->members.size(), 1u);
    EXPECT_EQ(p.members, r->members);
}

TEST(NrpsParse, MaxMembersIsABoundNotACut)
{
    const std::string three = page_with(R"({"user_id":"a","roles":[]},{"user_id":"b","roles":[]},{"user_id":"c","roles":[]})");
    auto at_limit = parse_page(three, 3);
    ASSERT_TRUE(at_limit) << at_limit.error().message;
    EXPECT_EQ(at_limit->members.size(), 3u);
    auto over = parse_page(three, 2);
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().ec, make_error_code(errc::malformed_page));
    EXPECT_EQ(over.error().message, "members: more than 2 members on one page");
    EXPECT_TRUE(parse_page(page_with(""), 0));  // an empty page fits any bound
}

// --- errors -------------------------------------------------------------------------------------

struct bad_case {
    const char* name;
    std::string json;
    std::string fragment;
    std::size_t max_members = 10'000;
};

void PrintTo(const bad_case& c, std::ostream* os) { *os << c.name; }

class NrpsParseBad : public testing::TestWithParam<bad_case> {};

TEST_P(NrpsParseBad, IsMalformedPageNamingTheProblem)
{
    const bad_case& c = GetParam();
    auto r = parse_page(c.json, c.max_members);
    ASSERT_FALSE(r) << c.json;
    EXPECT_EQ(r.error().ec, make_error_code(errc::malformed_page));
    EXPECT_NE(r.error().message.find(c.fragment), std::string::npos)
        << "message: " << r.error().message << "\nexpected fragment: " << c.fragment << "\ninput: " << c.json;
}

const std::string good = page_with_member("");

INSTANTIATE_TEST_SUITE_P(All, NrpsParseBad, testing::Values(
    bad_case{"empty", "", "not JSON: "},
    bad_case{"whitespace_only", " \n ", "not JSON: "},
    bad_case{"not_json_text", "<html><body>502 Bad Gateway</body></html>", "not JSON: "},
    bad_case{"bare_word", "hello", "not JSON: "},
    bad_case{"truncated", good.substr(0, good.size() - 2), "not JSON: "},
    bad_case{"truncated_in_string", good.substr(0, 40), "not JSON: "},
    bad_case{"missing_comma", R"({"context":{"id":"c"} "members":[]})", "not JSON: "},
    bad_case{"trailing_comma_in_array", page_with(R"({"user_id":"u","roles":[]},)"), "not JSON: "},
    bad_case{"bad_escape", page_with_member(R"(,"name":"a\qb")"), "not JSON: "},
    bad_case{"bad_null_literal", page_with_member(R"(,"email":nul)"), "not JSON: "},
    bad_case{"invalid_utf8", page_with_member(",\"name\":\"\xff\xfe\""), "not JSON: "},
    bad_case{"top_level_array", "[" + good + "]", "expected a JSON object at the top level"},
    bad_case{"top_level_string", R"("members")", "expected a JSON object at the top level"},
    bad_case{"top_level_null", "null", "expected a JSON object at the top level"},
    bad_case{"top_level_number", "42", "expected a JSON object at the top level"},
    bad_case{"trailing_garbage", good + " x", "not JSON: "},
    bad_case{"trailing_object", good + "{}", "not JSON: "},
    bad_case{"trailing_brace", good + "}", "not JSON: "},
    bad_case{"trailing_second_page", good + good, "not JSON: "},
    bad_case{"missing_members", R"({"context":{"id":"c"}})", "members: missing"},
    bad_case{"members_object", R"({"context":{"id":"c"},"members":{}})", "members: expected an array"},
    bad_case{"members_null", R"({"context":{"id":"c"},"members":null})", "members: expected an array"},
    bad_case{"members_string", R"({"context":{"id":"c"},"members":"[]"})", "members: expected an array"},
    bad_case{"member_number", page_with("5"), "members[0]: expected an object"},
    bad_case{"member_null", page_with(R"({"user_id":"u","roles":[]},null)"), "members[1]: expected an object"},
    bad_case{"member_array", page_with(R"({"user_id":"u","roles":[]},{"user_id":"v","roles":[]},[])"),
             "members[2]: expected an object"},
    bad_case{"missing_user_id", page_with(R"({"roles":[]})"), "members[0].user_id: missing"},
    bad_case{"missing_user_id_later", page_with(R"({"user_id":"u","roles":[]},{"name":"n","roles":[]})"),
             "members[1].user_id: missing"},
    bad_case{"empty_user_id", page_with(R"({"user_id":"","roles":[]})"), "members[0].user_id: expected a non-empty string"},
    bad_case{"numeric_user_id", page_with(R"({"user_id":42,"roles":[]})"), "members[0].user_id: expected a non-empty string"},
    bad_case{"null_user_id", page_with(R"({"user_id":null,"roles":[]})"), "members[0].user_id: expected a non-empty string"},
    bad_case{"missing_roles", page_with(R"({"user_id":"u"})"), "members[0].roles: missing"},
    bad_case{"roles_string", page_with(R"({"user_id":"u","roles":"Learner"})"),
             "members[0].roles: expected an array of strings"},
    bad_case{"roles_null", page_with(R"({"user_id":"u","roles":null})"), "members[0].roles: expected an array of strings"},
    bad_case{"roles_with_number",
             page_with(R"({"user_id":"u","roles":[]},{"user_id":"u","roles":[]},{"user_id":"u","roles":[]},)"
                       R"({"user_id":"u","roles":["Learner",5]})"),
             "members[3].roles: expected an array of strings"},
    bad_case{"roles_with_object", page_with(R"({"user_id":"u","roles":[{"id":"Learner"}]})"),
             "members[0].roles: expected an array of strings"},
    bad_case{"name_number", page_with_member(R"(,"name":5)"), "members[0].name: expected a string"},
    bad_case{"email_object", page_with_member(R"(,"email":{})"), "members[0].email: expected a string"},
    bad_case{"middle_name_bool", page_with_member(R"(,"middle_name":false)"), "members[0].middle_name: expected a string"},
    bad_case{"legacy_id_number", page_with_member(R"(,"lti11_legacy_user_id":12)"),
             "members[0].lti11_legacy_user_id: expected a string"},
    bad_case{"status_lowercase", page_with_member(R"(,"status":"active")"), "members[0].status: expected"},
    bad_case{"status_unknown", page_with_member(R"(,"status":"Suspended")"), "members[0].status: expected"},
    bad_case{"status_number", page_with_member(R"(,"status":1)"), "members[0].status: expected"},
    bad_case{"missing_context", R"({"members":[]})", "context: missing"},
    bad_case{"context_string", R"({"context":"c","members":[]})", "context: expected an object"},
    bad_case{"context_null", R"({"context":null,"members":[]})", "context: expected an object"},
    bad_case{"context_id_missing", R"({"context":{"label":"L"},"members":[]})", "context.id: missing"},
    bad_case{"context_id_empty", R"({"context":{"id":""},"members":[]})", "context.id: expected a non-empty string"},
    bad_case{"context_id_number", R"({"context":{"id":7},"members":[]})", "context.id: expected a non-empty string"},
    bad_case{"context_label_number", R"({"context":{"id":"c","label":7},"members":[]})", "context.label: expected a string"},
    bad_case{"page_id_number", R"({"id":1,"context":{"id":"c"},"members":[]})", "id: expected a string"},
    bad_case{"max_members_exceeded", page_with(R"({"user_id":"a","roles":[]},{"user_id":"b","roles":[]})"),
             "members: more than 1 members on one page", 1}),
    [](const testing::TestParamInfo<bad_case>& info) { return std::string(info.param.name); });

// --- which problem names a page with several (the members used to be counted before any was read) ---

TEST(NrpsParse, TooManyMembersIsNamedBeforeABadMember)
{
    const std::string json = page_with(R"({"user_id":"u"},{"user_id":"v","roles":[]},{"user_id":"w","roles":[]})");
    auto r = parse_page(json, 2);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "members: more than 2 members on one page");
    r = parse_page(json, 3);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "members[0].roles: missing");
}

TEST(NrpsParse, ABrokenMembersArrayIsNamedBeforeABadMember)
{
    // Member 0 lacks its user_id, member 1 closes its roles twice: the array is broken.
    auto r = parse_page(R"({"context":{"id":"c"},"members":[{"roles":[]},{"user_id":"v","roles":[]]}]})");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.rfind("not JSON: ", 0), 0u) << r.error().message;
}

TEST(NrpsParse, ABrokenFieldSkippedUnreadStillRefusesThePage)
{
    // "message" is skipped unread; its bad bytes still break the members array.
    auto r = parse_page(R"({"context":{"id":"c"},"members":[{"user_id":"u","roles":[],"message": :{"a":1}]},)"
                        R"({"user_id":"v","roles":[]}]})");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.rfind("not JSON: ", 0), 0u) << r.error().message;
    // Well-formed, the same fields parse, at any bound that fits.
    auto ok = parse_page(R"({"context":{"id":"c"},"members":[{"user_id":"u","roles":[],"message":[{"a":1}]},)"
                         R"({"user_id":"v","roles":[],"x":{"y":[1,{"z":null}]}}]})",
                         2);
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(ok->members.size(), 2u);
}

// --- members read in place ------------------------------------------------------------------------

TEST(NrpsParse, MembersOutliveMovesOfTheirPage)
{
    auto r = parse_page(page_with(R"({"user_id":"caf\u00e9","roles":["a","b\"c"],"email":"e@x"})"));
    ASSERT_TRUE(r) << r.error().message;
    page p = std::move(*r);
    std::vector<page> pages;
    pages.push_back(std::move(p));
    pages.resize(20);  // the vector moves the page again
    member expected;
    expected.user_id = "caf\xc3\xa9";
    expected.roles = {"a", "b\"c"};
    expected.email = "e@x";
    ASSERT_EQ(pages[0].members.size(), 1u);
    EXPECT_EQ(pages[0].members[0], expected);
    EXPECT_EQ(pages[0].members[0].to_member(), expected);
    EXPECT_EQ(pages[0].members.to_members(), std::vector<member>{expected});
}

TEST(NrpsMemberList, MergeKeepsFirstPositionAndLaterCopy)
{
    member_list pass;
    member_index index;
    {
        auto one = parse_page(page_with(R"({"user_id":"a","roles":["r1"]},{"user_id":"b","roles":[]},)"
                                        R"({"user_id":"a","roles":["r2"],"name":"A twice"})"));
        ASSERT_TRUE(one) << one.error().message;
        EXPECT_EQ(pass.merge(std::move(one->members), index), 1u);  // a seen twice on one page
    }
    {
        auto two = parse_page(page_with(R"({"user_id":"c","roles":[]},{"user_id":"b","roles":["r3"],"status":"Inactive"})"));
        ASSERT_TRUE(two) << two.error().message;
        EXPECT_EQ(pass.merge(std::move(two->members), index), 1u);
    }  // both pages are gone: their text now belongs to `pass`
    member_list moved = std::move(pass);
    ASSERT_EQ(moved.size(), 3u);
    EXPECT_EQ(moved[0].user_id, "a");
    EXPECT_EQ(moved[0].roles, std::vector<std::string>{"r2"});
    EXPECT_EQ(moved[0].name, "A twice");
    EXPECT_EQ(moved[1].user_id, "b");
    EXPECT_EQ(moved[1].status, "Inactive");
    EXPECT_EQ(moved[1].roles, std::vector<std::string>{"r3"});
    EXPECT_EQ(moved[2].user_id, "c");
}

TEST(NrpsMemberList, CopiesOfMembersAreIndependent)
{
    std::vector<member> ms(2);
    ms[0].user_id = "u0";
    ms[0].roles = {"r"};
    ms[0].picture = std::string(100, 'p');
    ms[1].user_id = "u1";
    ms[1].status = "Deleted";
    member_list list(ms);
    list.push_back(ms[0]);
    const std::vector<member> expected{ms[0], ms[1], ms[0]};
    ms.clear();  // the list keeps copies
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list.to_members(), expected);
    EXPECT_EQ(list[1].status, "Deleted");
    EXPECT_EQ(list[2].picture, std::string(100, 'p'));
    EXPECT_EQ(list[2].email, std::nullopt);
}

TEST(NrpsParse, ErrorIsRetryableMalformedPage)
{
    auto r = parse_page("[]");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().ec, errc::malformed_page);
    EXPECT_STREQ(r.error().ec.category().name(), "rostersync.nrps");
    EXPECT_TRUE(is_retryable(r.error().ec));  // may be a proxy's error page
}

TEST(NrpsParse, ValueOnErrorThrowsWithTheMessage)
{
    try {
        (void)parse_page(R"({"context":{"id":"c"},"members":[{"roles":[]}]})").value();
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "members[0].user_id: missing");
    }
}

TEST(NrpsParse, ParserReusedAcrossPagesOfDifferentSizes)
{
    // The per-thread parser and buffer must not leak state from a longer or a failed page.
    std::string big_members;
    for (int i = 0; i < 200; ++i) {
        if (i) big_members += ',';
        big_members += R"({"user_id":"user-)" + std::to_string(i) + R"(","roles":[")" + learner + R"("]})";
    }
    EXPECT_EQ(parse_ok(page_with(big_members)).members.size(), 200u);
    EXPECT_FALSE(parse_page(page_with(R"({"user_id":"u")")));
    EXPECT_EQ(parse_ok(R"({"context":{"id":"c"},"members":[]})").members.size(), 0u);
    EXPECT_FALSE(parse_page("{"));
    page p = parse_ok(page_with_member(""));
    ASSERT_EQ(p.members.size(), 1u);
    EXPECT_EQ(p.members[0].user_id, "u1");
}

TEST(NrpsParse, ThreadsParseIndependently)
{
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([t, &ok] {
            for (int i = 0; i < 50; ++i) {
                const std::string uid = "t" + std::to_string(t) + "-" + std::to_string(i);
                auto r = parse_page(page_with(R"({"user_id":")" + uid + R"(","roles":["r"]})"));
                if (r && r->members.size() == 1 && r->members[0].user_id == uid) ++ok[static_cast<std::size_t>(t)];
            }
        });
    }
    for (auto& th : threads) th.join();
    for (int n : ok) EXPECT_EQ(n, 50);
}

// --- a generated page ------------------------------------------------------------------------

TEST(NrpsParse, FiftyMemberPageRoundTrips)
{
    const char* statuses[] = {"Active", "Inactive", "Deleted"};
    std::vector<member> expected;
    std::string members;
    for (int i = 0; i < 50; ++i) {
        member m;
        const std::string n = std::to_string(i);
        m.user_id = "5f0c" + n + "-uuid";
        m.status = statuses[i % 3];
        switch (i % 4) {
            case 0: m.roles = {learner}; break;
            case 1: m.roles = {ta, instructor}; break;
            case 2: m.roles = {learner, test_user}; break;
            default: break;  // no roles at all
        }
        if (i % 2 == 0) m.name = "Name \"" + n + "\" \\ \xc3\xa9\n";
        if (i % 3 != 1) m.given_name = "Given" + n;
        if (i % 5 != 0) m.family_name = "Family" + n;
        if (i % 7 == 0) m.middle_name = "Middle\t" + n;
        if (i % 2 == 1) m.email = "user" + n + "@example.edu";
        if (i % 4 == 3) m.picture = "https://canvas.test/images/" + n + ".png";
        if (i % 6 != 5) m.lis_person_sourcedid = "SIS" + n;
        m.lti11_legacy_user_id = std::string(40 - n.size(), 'a') + n;

        std::string o = "{";
        auto put = [&o](const char* key, const std::string& value) {
            if (o.size() > 1) o += ',';
            o += json_escape(key) + ":" + json_escape(value);
        };
        auto put_opt = [&](const char* key, const std::optional<std::string>& value) {
            if (value) {
                put(key, *value);
            } else if (key[0] == 'g' || key[0] == 'p') {
                o += ",\"" + std::string(key) + "\":null";  // some absences sent as null
            }
        };
        if (i % 3 != 0 || i % 2 == 1) put("status", m.status);  // "Active" sometimes left out
        put_opt("name", m.name);
        put_opt("given_name", m.given_name);
        put_opt("family_name", m.family_name);
        put_opt("middle_name", m.middle_name);
        put_opt("email", m.email);
        put_opt("picture", m.picture);
        put_opt("lis_person_sourcedid", m.lis_person_sourcedid);
        put("user_id", m.user_id);
        put_opt("lti11_legacy_user_id", m.lti11_legacy_user_id);
        o += ",\"roles\":[";
        for (std::size_t r = 0; r < m.roles.size(); ++r) o += (r ? "," : "") + json_escape(m.roles[r]);
        o += "]";
        if (i % 10 == 0) o += R"(,"message":[{"locale":"en","https://www.instructure.com/canvas_user_id":)" + n + "}]";
        o += "}";
        if (i) members += ",\n";
        members += o;
        expected.push_back(std::move(m));
    }
    const std::string json = R"({"id":"https://canvas.test/api/lti/courses/9/names_and_roles?per_page=50",)"
                             R"("context":{"id":"ctx-9","label":"C9","title":"Course nine"},"members":[)" +
                             members + "]}";
    auto r = parse_page(json, 50);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->id, "https://canvas.test/api/lti/courses/9/names_and_roles?per_page=50");
    EXPECT_EQ(r->context.id, "ctx-9");
    EXPECT_EQ(r->context.label, "C9");
    EXPECT_EQ(r->context.title, "Course nine");
    ASSERT_EQ(r->members.size(), 50u);
    for (std::size_t i = 0; i < 50; ++i) EXPECT_EQ(r->members[i], expected[i]) << "member " << i;
    EXPECT_FALSE(parse_page(json, 49));
}

}  // namespace
}  // namespace rostersync::nrps
