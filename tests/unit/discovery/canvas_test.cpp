// Canvas REST URLs, its JSON, the provisioning report's CSV, filters, probe verdicts and the
// CourseSeen a discovered course becomes — all without sockets.
#include "discovery/canvas.hpp"
#include "discovery/discover.hpp"
#include "discovery/error.hpp"
#include "nrps/error.hpp"
#include "oauth/error.hpp"
#include "http/error.hpp"
#include "config/load.hpp"
#include "kafka/partitioner.hpp"
#include "sync/course_seen.hpp"

#include <gtest/gtest.h>

namespace rostersync::discovery {
namespace {

using namespace std::chrono_literals;

TEST(CanvasUrls, CoursesListWithFilters)
{
    EXPECT_EQ(courses_url("https://school.instructure.com", "1", {.term = "", .states = {}}, 100),
              "https://school.instructure.com/api/v1/accounts/1/courses?per_page=100");
    EXPECT_EQ(courses_url("https://school.instructure.com/", "1", {.term = "7", .states = {"available", "created"}}, 50),
              "https://school.instructure.com/api/v1/accounts/1/courses?per_page=50&state%5B%5D=available"
              "&state%5B%5D=created&enrollment_term_id=7");
    // SIS ids keep their colon; anything else unsafe is encoded.
    EXPECT_EQ(courses_url("https://h", "sis_account_id:A B/C", {.states = {}}, 10),
              "https://h/api/v1/accounts/sis_account_id:A%20B%2FC/courses?per_page=10");
    EXPECT_EQ(courses_url("https://h", "1", {.term = "sis_term_id:2026 S", .states = {}}, 10),
              "https://h/api/v1/accounts/1/courses?per_page=10&enrollment_term_id=sis_term_id%3A2026%20S");
}

TEST(CanvasUrls, ReportsFilesAndMemberships)
{
    EXPECT_EQ(report_url("https://h", "1"), "https://h/api/v1/accounts/1/reports/provisioning_csv");
    EXPECT_EQ(report_status_url("https://h", "1", "7001"), "https://h/api/v1/accounts/1/reports/provisioning_csv/7001");
    EXPECT_EQ(public_url_url("https://h", "90001"), "https://h/api/v1/files/90001/public_url");
    EXPECT_EQ(account_url("https://h", "2"), "https://h/api/v1/accounts/2");
    EXPECT_EQ(memberships_url("https://school.instructure.com:8443", "42"),
              "https://school.instructure.com:8443/api/lti/courses/42/names_and_roles");
    EXPECT_EQ(report_form({.states = {"available"}}), "parameters%5Bcourses%5D=true");
    EXPECT_EQ(report_form({.term = "7", .states = {"available", "completed"}}),
              "parameters%5Bcourses%5D=true&parameters%5Benrollment_term_id%5D=7&parameters%5Binclude_deleted%5D=true");
}

TEST(CanvasJson, CoursesPage)
{
    auto page = parse_courses_page(R"([
        {"id": 101, "name": "Biology", "account_id": 2, "enrollment_term_id": 7, "workflow_state": "available",
         "course_code": "BIO101", "uuid": "x", "sis_course_id": null},
        {"id": "102", "account_id": "3", "enrollment_term_id": null, "workflow_state": "created"},
        {"id": 10000000000103}
    ])");
    ASSERT_TRUE(page) << page.error().message;
    ASSERT_EQ(page->size(), 3u);
    EXPECT_EQ((*page)[0], (course{.id = "101", .account_id = "2", .term_id = "7", .state = "available",
                                  .code = "BIO101", .name = "Biology"}));
    EXPECT_EQ((*page)[1].id, "102");
    EXPECT_EQ((*page)[1].account_id, "3");
    EXPECT_EQ((*page)[1].term_id, "");
    EXPECT_EQ((*page)[2].id, "10000000000103");
    EXPECT_TRUE(parse_courses_page("[]"));

    auto bad = parse_courses_page(R"([{"id": 1}, {"name": "no id"}])");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message, "[1].id: missing");
    EXPECT_EQ(parse_courses_page(R"([{"id": -4}])").error().message, "[0].id: expected a Canvas id");
    EXPECT_EQ(parse_courses_page(R"([{"id": 1, "account_id": "x"}])").error().message,
              "[0].account_id: expected a Canvas id");
    EXPECT_EQ(parse_courses_page(R"({"errors": []})").error().message, "expected a JSON array of courses");
    EXPECT_NE(parse_courses_page("[{").error().message.find("not JSON"), std::string::npos);
}

TEST(CanvasJson, ReportsAndFiles)
{
    auto running = parse_report(R"({"id": 7001, "report": "provisioning_csv", "status": "running", "progress": 40,
                                    "attachment": null, "file_url": null, "parameters": {"courses": true}})");
    ASSERT_TRUE(running) << running.error().message;
    EXPECT_EQ(running->id, "7001");
    EXPECT_TRUE(running->running());
    EXPECT_EQ(running->progress, 40);

    auto done = parse_report(R"({"id": 7001, "status": "complete", "progress": 100,
        "file_url": "https://h/accounts/1/files/90001/download",
        "attachment": {"id": 90001, "url": "https://h/files/90001/download?download_frd=1&verifier=v"}})");
    ASSERT_TRUE(done);
    EXPECT_TRUE(done->complete());
    EXPECT_EQ(done->file_id, "90001");
    EXPECT_EQ(done->file_url, "https://h/files/90001/download?download_frd=1&verifier=v");

    auto failed = parse_report(R"({"id": 7002, "status": "error", "parameters": {"extra_text": "it broke"}})");
    ASSERT_TRUE(failed);
    EXPECT_FALSE(failed->running());
    EXPECT_FALSE(failed->complete());
    EXPECT_EQ(failed->message, "it broke");
    EXPECT_FALSE(parse_report(R"({"status": "running"})"));
    EXPECT_FALSE(parse_report(R"({"id": 1})"));

    EXPECT_EQ(*parse_public_url(R"({"public_url": "https://files/x?sig=1"})"), "https://files/x?sig=1");
    EXPECT_FALSE(parse_public_url(R"({})"));
    EXPECT_EQ(*parse_account_id(R"({"id": 2, "name": "Sciences"})"), "2");
}

TEST(CanvasJson, ErrorMessages)
{
    EXPECT_EQ(canvas_error_message(
                  R"({"status":"unauthorized","errors":[{"message":"user not authorized to perform that action"}]})"),
              "user not authorized to perform that action");
    EXPECT_EQ(canvas_error_message(R"({"errors":{"type":"unauthorized","message":"Insufficient permissions"}})"),
              "Insufficient permissions");
    EXPECT_EQ(canvas_error_message(R"({"message":"m"})"), "m");
    EXPECT_EQ(canvas_error_message("403 Forbidden (Rate Limit Exceeded)\n"), "403 Forbidden (Rate Limit Exceeded) ");
}

TEST(CanvasFilters, StatesTermsAndSubaccounts)
{
    const course c{.id = "1", .account_id = "3", .term_id = "7", .state = "available"};
    EXPECT_TRUE(wanted(c, {.states = {"available"}}, ""));
    EXPECT_FALSE(wanted(c, {.states = {"completed"}}, ""));
    EXPECT_TRUE(wanted(c, {.states = {}}, ""));
    EXPECT_TRUE(wanted(c, {.term = "7", .states = {"available"}}, ""));
    EXPECT_FALSE(wanted(c, {.term = "8", .states = {"available"}}, ""));
    EXPECT_TRUE(wanted(c, {.term = "sis_term_id:X", .states = {"available"}}, ""));  // the API already filtered
    EXPECT_FALSE(wanted(c, {.states = {"available"}, .subaccounts = false}, "1"));
    EXPECT_TRUE(wanted(c, {.states = {"available"}, .subaccounts = false}, "3"));
    // The report writes "unpublished" for created and claimed alike.
    const course unpublished{.id = "2", .state = "created"};
    EXPECT_TRUE(wanted(unpublished, {.states = {"claimed"}}, ""));
    EXPECT_FALSE(wanted(unpublished, {.states = {"available"}}, ""));
    EXPECT_TRUE(valid_state("deleted"));
    EXPECT_FALSE(valid_state("active"));
}

TEST(CoursesCsv, TheProvisioningReport)
{
    std::vector<course> got;
    courses_csv csv([&](course c) { got.push_back(std::move(c)); });
    const std::string text =
        "canvas_course_id,course_id,integration_id,short_name,long_name,canvas_account_id,account_id,canvas_term_id,"
        "term_id,status,start_date,end_date,course_format,canvas_blueprint_course_id,blueprint_course_id,created_by_sis\r\n"
        "101,SIS-101,,BIO101,\"Biology, \"\"Honors\"\"\",2,,7,,active,,,,,,false\r\n"
        "102,,,ART1,Art,4,,7,,unpublished,,,,,,false\r\n"
        "103,,,OLD,Old,4,,6,,concluded,,,,,,false\r\n";
    ASSERT_TRUE(csv.feed(text));
    ASSERT_TRUE(csv.finish());
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], (course{.id = "101", .account_id = "2", .term_id = "7", .state = "available", .code = "BIO101",
                              .name = "Biology, \"Honors\""}));
    EXPECT_EQ(got[1].state, "created");
    EXPECT_EQ(got[2].state, "completed");
    EXPECT_EQ(csv.rows(), 3u);
}

TEST(CoursesCsv, AnOperatorsOwnExport)
{
    std::vector<course> got;
    courses_csv csv([&](course c) { got.push_back(std::move(c)); });
    ASSERT_TRUE(csv.feed("Canvas_Course_ID\n5\n6\n"));
    ASSERT_TRUE(csv.finish());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[1].id, "6");
    EXPECT_EQ(got[1].state, "");  // unknown: not filtered by state
}

TEST(CoursesCsv, ProblemsNameTheLine)
{
    auto error_of = [](const std::string& text) {
        courses_csv csv([](course) {});
        auto r = csv.feed(text);
        if (r) r = csv.finish();
        return r ? std::string("ok") : std::to_string(r.error().line) + ": " + r.error().message;
    };
    EXPECT_EQ(error_of("course_id,name\n1,x\n").substr(0, 32), "1: the header has no canvas_cour");
    EXPECT_EQ(error_of("canvas_course_id,status\n1,active\nx,active\n"), "3: canvas_course_id \"x\" is not a Canvas id");
    EXPECT_EQ(error_of("canvas_course_id,status\n1,weird\n"),
              "2: status \"weird\" is not active, unpublished, concluded or deleted");
    EXPECT_EQ(error_of("canvas_course_id,status\n1\n"), "2: 1 fields, the header has 2");
    EXPECT_EQ(error_of("canvas_course_id,canvas_course_id\n"), "1: column \"canvas_course_id\" appears twice");
    EXPECT_EQ(error_of(""), "1: the CSV is empty; it needs a header row with a canvas_course_id column");
    EXPECT_EQ(error_of("canvas_course_id\n\"1\n"), "2: a quoted field is not closed at the end of the input");
}

TEST(ReportPolls, BackOffAndCap)
{
    EXPECT_EQ(poll_delay(0, 2s, 60s), 2s);
    EXPECT_EQ(poll_delay(1, 2s, 60s), 3s);
    EXPECT_EQ(poll_delay(2, 2s, 60s), 4500ms);
    EXPECT_EQ(poll_delay(20, 2s, 60s), 60s);
    EXPECT_EQ(poll_delay(100000, 2s, 60s), 60s);
}

TEST(ProbeVerdict, NotInstalledIsPerCourseAndScopeIsPlatformWide)
{
    using nrps::fetch_error;
    auto v = classify_probe({make_error_code(nrps::errc::configuration),
                             "Access Token not linked to a Tool associated with this Context"});
    EXPECT_EQ(v.result, outcome::not_installed);
    EXPECT_FALSE(v.stop);
    EXPECT_EQ(classify_probe({make_error_code(nrps::errc::configuration), "Invalid Developer Key"}).result,
              outcome::not_installed);
    EXPECT_EQ(classify_probe({make_error_code(nrps::errc::not_found), "gone"}).result, outcome::gone);
    EXPECT_EQ(classify_probe({make_error_code(nrps::errc::configuration), "Insufficient permissions"}).stop,
              make_error_code(errc::platform));
    EXPECT_EQ(classify_probe({make_error_code(oauth::errc::client_rejected), "unknown client"}).stop,
              make_error_code(errc::platform));
    EXPECT_EQ(classify_probe({make_error_code(http::errc::host_not_allowed), ""}).stop, make_error_code(errc::platform));
    EXPECT_EQ(classify_probe({make_error_code(nrps::errc::cancelled), ""}).stop, make_error_code(errc::cancelled));
    auto retry = classify_probe({make_error_code(nrps::errc::server_error), "HTTP 503"});
    EXPECT_EQ(retry.result, outcome::failed);
    EXPECT_FALSE(retry.stop);
}

TEST(DiscoveryErrors, ConfigurationOrNot)
{
    EXPECT_TRUE(is_configuration(make_error_code(errc::not_authorized)));
    EXPECT_TRUE(is_configuration(make_error_code(errc::token_rejected)));
    EXPECT_TRUE(is_configuration(make_error_code(errc::token_file)));
    EXPECT_TRUE(is_configuration(make_error_code(errc::platform)));
    EXPECT_FALSE(is_configuration(make_error_code(errc::throttled)));
    EXPECT_TRUE(is_retryable(make_error_code(errc::report_timeout)));
    EXPECT_FALSE(is_retryable(make_error_code(errc::not_authorized)));
    EXPECT_FALSE(is_configuration(make_error_code(nrps::errc::configuration)));  // another category
}

TEST(CourseSeen, WhatTheDaemonIngests)
{
    auto cfg = config::load_string(R"(
[[platforms]]
name = "school"
issuer = "https://canvas.instructure.com"
client_id = "10000000000001"
token_url = "https://school.instructure.com/login/oauth2/token"
private_key_file = "tool-key.pem"
allowed_hosts = ["school.instructure.com"]
rest_url = "https://school.instructure.com"
rest_token_file = "rest.token"
)", "t.toml", {});
    ASSERT_TRUE(cfg);
    const auto& p = cfg->platforms.front();
    const std::string url = memberships_url(p.rest_url, "42");
    const std::string json = encode_course_seen(p, {.id = "4dde05e8ca1973bcca9bffc13e1548820eee93a3", .label = "BIO101",
                                                    .title = "Biology"},
                                                url, "2026-11-27T10:00:00.000Z");
    auto parsed = sync::parse_course_seen(json, *cfg);
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->platform, "school");
    EXPECT_EQ(parsed->context_id, "4dde05e8ca1973bcca9bffc13e1548820eee93a3");
    EXPECT_EQ(parsed->context_label, "BIO101");
    EXPECT_EQ(parsed->memberships_url, "https://school.instructure.com/api/lti/courses/42/names_and_roles");
    EXPECT_FALSE(parsed->force);
    EXPECT_FALSE(parsed->user);
    EXPECT_EQ(kafka::context_key(p.issuer, parsed->context_id),
              "https://canvas.instructure.com|4dde05e8ca1973bcca9bffc13e1548820eee93a3");
}

}  // namespace
}  // namespace rostersync::discovery
