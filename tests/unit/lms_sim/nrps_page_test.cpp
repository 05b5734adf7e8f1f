#include "lms_sim/nrps_page.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace rostersync::lms_sim {
namespace {

constexpr const char* base = "https://school.instructure.com/api/lti/courses/42/names_and_roles";
const std::string lis = "http://purl.imsglobal.org/vocab/lis/v2/membership#";

TEST(LinkHeader, FirstPageHasCanvasBytes)
{
    EXPECT_EQ(link_header(base, {{"limit", "50"}}, 1, 50, 3),
              "<https://school.instructure.com/api/lti/courses/42/names_and_roles?page=1&per_page=50>; rel=\"current\","
              "<https://school.instructure.com/api/lti/courses/42/names_and_roles?page=2&per_page=50>; rel=\"next\","
              "<https://school.instructure.com/api/lti/courses/42/names_and_roles?page=1&per_page=50>; rel=\"first\","
              "<https://school.instructure.com/api/lti/courses/42/names_and_roles?page=3&per_page=50>; rel=\"last\"");
}

TEST(LinkHeader, MiddlePagePassesOtherParametersThrough)
{
    std::string role = lis + "Learner";
    auto h = link_header(base, {{"role", role}, {"page", "2"}, {"limit", "10"}, {"access_token", "secret"}, {"pass", "thru"}},
                         2, 10, 3);
    std::string q = "?role=http%3A%2F%2Fpurl.imsglobal.org%2Fvocab%2Flis%2Fv2%2Fmembership%23Learner&pass=thru&";
    EXPECT_EQ(h, "<" + std::string(base) + q + "page=2&per_page=10>; rel=\"current\"," +
                 "<" + base + q + "page=3&per_page=10>; rel=\"next\"," +
                 "<" + base + q + "page=1&per_page=10>; rel=\"prev\"," +
                 "<" + base + q + "page=1&per_page=10>; rel=\"first\"," +
                 "<" + base + q + "page=3&per_page=10>; rel=\"last\"");
    EXPECT_EQ(h.find("secret"), std::string::npos);  // access_token is never echoed
    EXPECT_EQ(h.find(", "), std::string::npos);      // no space after the commas
}

TEST(LinkHeader, LastPageHasNoNext)
{
    auto h = link_header(base, {}, 3, 50, 3);
    EXPECT_EQ(h.find("rel=\"next\""), std::string::npos);
    EXPECT_NE(h.find("page=2&per_page=50>; rel=\"prev\""), std::string::npos);
    EXPECT_EQ(link_header(base, {}, 1, 50, 1),
              "<" + std::string(base) + "?page=1&per_page=50>; rel=\"current\",<" + base +
                  "?page=1&per_page=50>; rel=\"first\",<" + base + "?page=1&per_page=50>; rel=\"last\"");
}

TEST(PageSize, ClampedAndDefaulted)
{
    EXPECT_EQ(page_size({}), 50);
    EXPECT_EQ(page_size({{"limit", "100"}}), 50);
    EXPECT_EQ(page_size({{"limit", "10"}}), 10);
    EXPECT_EQ(page_size({{"limit", "0"}, {"per_page", "20"}}), 20);
    EXPECT_EQ(page_size({{"limit", "abc"}}), 50);
    EXPECT_EQ(page_size({{"limit", "-3"}}), 50);
    EXPECT_EQ(page_size({{"per_page", "500"}}), 50);
    EXPECT_EQ(page_size({{"limit", "20"}, {"per_page", "10"}}), 20);
    EXPECT_EQ(page_number({{"page", "3"}}), 3);
    EXPECT_EQ(page_number({{"page", "x"}}), 1);
}

class Pages : public testing::Test {
protected:
    world w{7};
    context& c = w.add_course({.size = 120, .teacher_share = 0.1, .ta_share = 0.1});
};

TEST_F(Pages, OffsetPagingCoversEveryoneOnceInIdOrder)
{
    std::vector<std::uint64_t> seen;
    int last = 0;
    for (int p = 1;; ++p) {
        auto s = slice(c, {{"limit", "50"}, {"page", std::to_string(p)}});
        last = s.last_page;
        for (auto* m : s.members) seen.push_back(m->who.canvas_id);
        if (p >= s.last_page) break;
    }
    EXPECT_EQ(last, 3);  // 121 members with the test student
    ASSERT_EQ(seen.size(), c.members.size());
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_TRUE(slice(c, {{"page", "9"}}).members.empty());  // past the end: empty, not an error
}

TEST_F(Pages, RoleFilterFollowsCanvas)
{
    int teachers = 0, tas = 0, learners = 0;
    for (auto& [id, m] : c.members) {
        teachers += m.enrollments.count(enrollment::teacher);
        tas += m.enrollments.count(enrollment::ta);
        learners += m.enrollments.count(enrollment::student) + m.enrollments.count(enrollment::test_student);
    }
    auto all = [&](const std::string& role) {
        std::size_t n = 0;
        for (auto& [id, m] : c.members) n += role_matches(m, role, false);
        return n;
    };
    EXPECT_EQ(all(lis + "Instructor"), static_cast<std::size_t>(teachers + tas));  // teachers and TAs
    EXPECT_EQ(all(lis + "Learner"), static_cast<std::size_t>(learners));          // with the test student
    EXPECT_EQ(all("Learner"), 0u);                                                 // short names: nobody
    EXPECT_EQ(all("http://purl.imsglobal.org/vocab/lti/system/person#TestUser"), 0u);
    EXPECT_TRUE(slice(c, {{"role", "Learner"}}).members.empty());
    auto& g = w.add_group(5);
    std::size_t managers = 0, members = 0;
    for (auto& [id, m] : g.members) {
        managers += role_matches(m, lis + "Manager", true);
        members += role_matches(m, lis + "Member", true);
    }
    EXPECT_EQ(managers, 1u);
    EXPECT_EQ(members, 5u);
}

boost::json::object first_member_json(const context& c, privacy level, enrollment kind)
{
    const member* pick = nullptr;
    for (auto& [id, m] : c.members)
        if (m.enrollments.count(kind) && !m.who.email.empty() && !m.who.name.empty()) pick = &m;
    if (pick == nullptr) {
        for (auto& [id, m] : c.members)
            if (m.enrollments.count(kind)) pick = &m;
    }
    auto body = boost::json::parse(render_container("u", c, {pick}, level)).as_object();
    return body["members"].as_array()[0].as_object();
}

TEST_F(Pages, PrivacyLevelsDropFields)
{
    auto pub = first_member_json(c, privacy::everything, enrollment::student);
    for (const char* k : {"status", "name", "given_name", "family_name", "email", "picture", "user_id",
                          "lti11_legacy_user_id", "roles", "lis_person_sourcedid"})
        EXPECT_TRUE(pub.contains(k)) << k;
    EXPECT_EQ(pub["status"].as_string(), "Active");
    auto anon = first_member_json(c, privacy::anonymous, enrollment::student);
    EXPECT_EQ(anon.size(), 4u);  // status, user_id, lti11_legacy_user_id, roles
    auto mail = first_member_json(c, privacy::email_only, enrollment::student);
    EXPECT_TRUE(mail.contains("email"));
    EXPECT_FALSE(mail.contains("name"));
    EXPECT_FALSE(mail.contains("picture"));
    auto names = first_member_json(c, privacy::name_only, enrollment::student);
    EXPECT_TRUE(names.contains("given_name"));
    EXPECT_FALSE(names.contains("email"));
}

TEST_F(Pages, RoleMapAndContainer)
{
    auto ta = first_member_json(c, privacy::everything, enrollment::ta);
    EXPECT_EQ(ta["roles"], boost::json::parse(
        R"(["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant","http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"])"));
    auto test = first_member_json(c, privacy::everything, enrollment::test_student);
    EXPECT_EQ(test["roles"], boost::json::parse(
        R"(["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner","http://purl.imsglobal.org/vocab/lti/system/person#TestUser"])"));
    auto body = boost::json::parse(render_container(std::string(base) + "?limit=50", c, {}, privacy::everything)).as_object();
    EXPECT_EQ(body["id"].as_string(), std::string(base) + "?limit=50");
    EXPECT_EQ(body["context"].as_object()["id"].as_string(), c.context_id);
    EXPECT_EQ(body["members"].as_array().size(), 0u);
    auto& g = w.add_group(2);
    auto gbody = boost::json::parse(render_container("u", g, {}, privacy::everything)).as_object();
    EXPECT_FALSE(gbody["context"].as_object().contains("label"));  // null label omitted for groups
}

}  // namespace
}  // namespace rostersync::lms_sim
