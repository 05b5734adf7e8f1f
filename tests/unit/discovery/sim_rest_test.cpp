// The simulated platform's Canvas REST API, without sockets: the courses list with bookmark
// pagination (walked with the daemon's own Link parser), account scoping, filters, REST tokens
// and their permissions, reports that take a while, files, and the per-token throttle.
#include "discovery/canvas.hpp"
#include "http/link_header.hpp"
#include "lms_sim/sim_core.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <set>

namespace rostersync::lms_sim {
namespace {

namespace json = boost::json;
constexpr double t0 = 1'800'000'000;

class SimRest : public testing::Test {
protected:
    void SetUp() override
    {
        sim_options o{.hosts = {{.name = "school.test"}, {.name = "files.school.test"}}};
        o.throttle.enabled = true;
        o.rest.report_polls = 2;
        o.rest.files_host = "files.school.test";
        core_ = std::make_unique<sim_core>(o);
        auto& w = core_->state().w;
        sciences_ = w.add_account(1, "Sciences").id;
        physics_ = w.add_account(sciences_, "Physics").id;
        arts_ = w.add_account(1, "Arts").id;
        const std::uint64_t accounts[] = {1, sciences_, physics_, arts_};
        for (int i = 0; i < 237; ++i) {
            const char* state = i % 10 == 3 ? "created" : i % 10 == 7 ? "completed" : "available";
            w.add_course({.size = 2, .test_student = false, .account_id = accounts[i % 4],
                          .term_id = static_cast<std::uint64_t>(1 + i % 2), .state = state});
        }
        core_->register_rest_token({.token = "admin"});
        core_->register_rest_token({.token = "arts-only", .account = arts_});
        core_->register_rest_token({.token = "no-list", .list_courses = false, .run_reports = false});
    }

    sim_response get(const std::string& target, const std::string& token = "admin", const std::string& host = "school.test")
    {
        auto r = core_->handle({.method = "GET", .host = host, .target = target,
                                .authorization = token.empty() ? "" : "Bearer " + token},
                               now_);
        core_->complete(r, now_);
        now_ += 1;
        return r;
    }

    /// Walks rel="next" from `first`; every course id in order.
    std::vector<std::uint64_t> walk(const std::string& first, int& pages, const std::string& token = "admin")
    {
        std::vector<std::uint64_t> ids;
        std::string next = first;
        pages = 0;
        while (!next.empty() && pages < 100) {
            auto r = get(next, token);
            EXPECT_EQ(r.status, 200) << r.body;
            if (r.status != 200) break;
            ++pages;
            const json::value page = json::parse(r.body);
            for (const auto& c : page.as_array()) ids.push_back(c.as_object().at("id").to_number<std::uint64_t>());
            auto links = http::parse_link_header({r.header("Link")});
            EXPECT_TRUE(links);
            next.clear();
            if (auto n = http::find_rel(*links, "next")) next = n->substr(n->find("/api/"));
        }
        return ids;
    }

    std::set<std::uint64_t> expected(std::uint64_t account, std::set<std::string> states, std::uint64_t term = 0)
    {
        std::set<std::uint64_t> out;
        const auto tree = core_->state().w.account_tree(account);
        for (const auto& [id, c] : core_->state().w.courses())
            if (tree.count(c.account_id) && states.count(c.state) && (term == 0 || c.term_id == term)) out.insert(id);
        return out;
    }

    std::unique_ptr<sim_core> core_;
    std::uint64_t sciences_ = 0, physics_ = 0, arts_ = 0;
    double now_ = t0;
};

TEST_F(SimRest, CoursesListPagesByBookmarkOverTheAccountTree)
{
    int pages = 0;
    auto ids = walk("/api/v1/accounts/1/courses?per_page=100&state%5B%5D=available", pages);
    const auto want = expected(1, {"available"});
    EXPECT_EQ(std::set<std::uint64_t>(ids.begin(), ids.end()), want);
    EXPECT_EQ(ids.size(), want.size());  // no course twice
    EXPECT_EQ(pages, static_cast<int>((want.size() + 99) / 100));
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));

    auto first = get("/api/v1/accounts/1/courses?per_page=100&state%5B%5D=available");
    const std::string link = first.header("Link");
    EXPECT_NE(link.find("page=first&per_page=100>; rel=\"current\",<https://school.test/api/v1/accounts/1/courses?"
                        "state%5B%5D=available&page=bookmark:"),
              std::string::npos)
        << link;
    EXPECT_EQ(link.find(", "), std::string::npos);  // Canvas joins links without a space
    EXPECT_NE(first.header("X-Rate-Limit-Remaining"), "");
    EXPECT_NE(first.header("X-Request-Cost"), "");
}

TEST_F(SimRest, SubAccountsTermsStatesAndPageSizes)
{
    int pages = 0;
    auto sci = walk("/api/v1/accounts/" + std::to_string(sciences_) + "/courses?per_page=40", pages);
    EXPECT_EQ(std::set<std::uint64_t>(sci.begin(), sci.end()), expected(sciences_, {"created", "claimed", "available", "completed"}));
    auto term2 = walk("/api/v1/accounts/1/courses?per_page=1000&enrollment_term_id=2&state%5B%5D=all", pages);
    EXPECT_EQ(pages, 2);  // per_page is capped at 100
    EXPECT_EQ(std::set<std::uint64_t>(term2.begin(), term2.end()),
              expected(1, {"created", "claimed", "available", "completed", "deleted"}, 2));
    auto published = walk("/api/v1/accounts/1/courses?published=true", pages);
    EXPECT_EQ(std::set<std::uint64_t>(published.begin(), published.end()), expected(1, {"available"}));
    EXPECT_EQ(json::parse(get("/api/v1/accounts/1/courses").body).as_array().size(), 10u);  // default per_page

    auto subs = json::parse(get("/api/v1/accounts/1/sub_accounts").body).as_array();
    EXPECT_EQ(subs.size(), 2u);
    auto all = json::parse(get("/api/v1/accounts/1/sub_accounts?recursive=true").body).as_array();
    EXPECT_EQ(all.size(), 3u);
}

TEST_F(SimRest, TokensAndPermissionsAnswerAsCanvasDoes)
{
    auto none = get("/api/v1/accounts/1/courses", "");
    EXPECT_EQ(none.status, 401);
    EXPECT_EQ(none.body, R"({"errors":[{"message":"Invalid access token."}]})");
    EXPECT_EQ(none.header("WWW-Authenticate"), "Bearer realm=\"canvas-lms\"");
    EXPECT_EQ(get("/api/v1/accounts/1/courses", "lti-advantage-token").status, 401);

    auto weak = get("/api/v1/accounts/1/courses", "no-list");
    EXPECT_EQ(weak.status, 401);
    EXPECT_EQ(weak.body,
              R"({"status":"unauthorized","errors":[{"message":"user not authorized to perform that action"}]})");
    // An admin of a sub-account sees it, not its parent.
    EXPECT_EQ(get("/api/v1/accounts/" + std::to_string(arts_) + "/courses", "arts-only").status, 200);
    EXPECT_EQ(get("/api/v1/accounts/1/courses", "arts-only").status, 401);
    EXPECT_EQ(get("/api/v1/accounts/999/courses").status, 404);
    EXPECT_EQ(get("/api/v1/accounts/1").status, 200);
}

TEST_F(SimRest, AReportRunsForAWhileThenServesItsCsvFromTheFileStore)
{
    auto post = [&](const std::string& token, const std::string& body) {
        auto r = core_->handle({.method = "POST", .host = "school.test", .target = "/api/v1/accounts/1/reports/provisioning_csv",
                                .content_type = "application/x-www-form-urlencoded", .authorization = "Bearer " + token,
                                .body = body},
                               now_);
        core_->complete(r, now_);
        return r;
    };
    EXPECT_EQ(post("no-list", "parameters%5Bcourses%5D=true").status, 401);
    auto started = post("admin", "parameters%5Bcourses%5D=true&parameters%5Benrollment_term_id%5D=1");
    ASSERT_EQ(started.status, 200) << started.body;
    auto st = discovery::parse_report(started.body);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->status, "created");
    const std::string poll = "/api/v1/accounts/1/reports/provisioning_csv/" + st->id;
    for (int i = 0; i < 2; ++i) EXPECT_EQ(discovery::parse_report(get(poll).body)->status, "running");
    auto done = discovery::parse_report(get(poll).body);
    ASSERT_TRUE(done);
    ASSERT_EQ(done->status, "complete");
    ASSERT_FALSE(done->file_id.empty());

    // The attachment URL redirects to the file store; public_url names it directly.
    auto redirect = get(done->file_url.substr(done->file_url.find("/files/")), "");
    EXPECT_EQ(redirect.status, 302);
    auto pub = discovery::parse_public_url(get("/api/v1/files/" + done->file_id + "/public_url").body);
    ASSERT_TRUE(pub);
    EXPECT_TRUE(pub->starts_with("https://files.school.test/_files/")) << *pub;
    auto file = get(pub->substr(pub->find("/_files/")), "", "files.school.test");
    ASSERT_EQ(file.status, 200);
    EXPECT_EQ(file.content_type, "text/csv");
    std::set<std::uint64_t> ids;
    discovery::courses_csv csv([&](discovery::course c) { ids.insert(std::stoull(c.id)); });
    ASSERT_TRUE(csv.feed(file.body));
    ASSERT_TRUE(csv.finish());
    // The report leaves out completed (and deleted) courses; the term filter applies.
    EXPECT_EQ(ids, expected(1, {"created", "claimed", "available"}, 1));
    EXPECT_EQ(get(pub->substr(pub->find("/_files/"), pub->find("sig=") - pub->find("/_files/")) + "sig=wrong", "",
                  "files.school.test").status,
              403);
}

TEST_F(SimRest, ReportsCanFail)
{
    sim_options o{.hosts = {{.name = "school.test"}}};
    o.rest.report_polls = 0;
    o.rest.fail_reports = true;
    core_ = std::make_unique<sim_core>(o);
    core_->register_rest_token({.token = "admin"});
    auto r = core_->handle({.method = "POST", .host = "school.test", .target = "/api/v1/accounts/1/reports/provisioning_csv",
                            .authorization = "Bearer admin", .body = "parameters%5Bcourses%5D=true"},
                           t0);
    auto st = discovery::parse_report(r.body);
    ASSERT_TRUE(st);
    auto end = discovery::parse_report(get("/api/v1/accounts/1/reports/provisioning_csv/" + st->id).body);
    ASSERT_TRUE(end);
    EXPECT_EQ(end->status, "error");
    EXPECT_FALSE(end->message.empty());
}

TEST_F(SimRest, EachRestTokenHasItsOwnBucket)
{
    // Up-front charges of requests in flight fill a bucket; another token is unaffected.
    std::vector<sim_response> held;
    for (int i = 0; i < 11; ++i)
        held.push_back(core_->handle({.method = "GET", .host = "school.test", .target = "/api/v1/accounts/1",
                                      .authorization = "Bearer admin"},
                                     now_));
    auto rejected = core_->handle({.method = "GET", .host = "school.test", .target = "/api/v1/accounts/1",
                                   .authorization = "Bearer admin"},
                                  now_);
    EXPECT_EQ(rejected.status, 403);
    EXPECT_EQ(rejected.body, "403 Forbidden (Rate Limit Exceeded)\n");
    auto other = core_->handle({.method = "GET", .host = "school.test", .target = "/api/v1/accounts/" + std::to_string(arts_),
                                .authorization = "Bearer arts-only"},
                               now_);
    EXPECT_EQ(other.status, 200);
    for (auto& h : held) core_->complete(h, now_);
}

}  // namespace
}  // namespace rostersync::lms_sim
