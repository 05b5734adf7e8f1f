#pragma once
// File: discovery/canvas.hpp
//
// The pure side of account discovery: Canvas REST URLs, the JSON it answers, the provisioning
// report's courses CSV, filters, and the report poll backoff. No I/O; thread-safe.
//
//     filters f{.term = "7", .states = {"available"}};
//     auto url = courses_url("https://school.instructure.com", "1", f, 100);
//       // https://school.instructure.com/api/v1/accounts/1/courses?per_page=100&state%5B%5D=available&enrollment_term_id=7
//     auto page = parse_courses_page(body);              // result<std::vector<course>, bad_answer>
//     auto nrps = memberships_url("https://school.instructure.com", "42");
//       // https://school.instructure.com/api/lti/courses/42/names_and_roles
//
// Canvas behaviour these follow (developer docs "Accounts" and "Account Reports"; canvas-lms
// AccountsController#courses_api and AccountReports::SisExporter):
// - GET /api/v1/accounts/:id/courses lists the account's courses *and its sub-accounts'* (the
//   account's associated courses); state[] defaults to every state but deleted; per_page is
//   capped at 100; pages are linked by `Link` rel="next" (page numbers or bookmarks: opaque);
// - the provisioning report (POST /api/v1/accounts/:id/reports/provisioning_csv with
//   parameters[courses]=true) covers the account and its sub-accounts and, unless
//   parameters[include_deleted], leaves out completed and deleted courses; its courses.csv has
//   canvas_course_id, canvas_account_id, canvas_term_id and status (active, unpublished,
//   concluded, deleted) among other columns;
// - a report's state is created, running, compiling, complete, error, aborted or deleted; a
//   complete report has an `attachment` (a File: id, url) whose direct download URL
//   GET /api/v1/files/:id/public_url answers without a redirect.

#include "common/error.hpp"
#include "discovery/csv.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::discovery {

/// Why an answer could not be read: names the element and field ("[3].id: expected a Canvas id").
struct bad_answer {
    std::string message;
};
[[noreturn]] void throw_exception_from_error(const bad_answer& e, const boost::source_location& loc);

/// One course as discovery needs it.
struct course {
    std::string id;          ///< Canvas course id (digits)
    std::string account_id;  ///< the (sub-)account it belongs to
    std::string term_id;     ///< enrollment term id
    std::string state;       ///< Canvas workflow_state: created, claimed, available, completed, deleted
    std::string code;        ///< course_code (short_name in the CSV), for people
    std::string name;

    bool operator==(const course&) const = default;
};

struct filters {
    std::string term;                              ///< enrollment_term_id; empty: every term
    std::vector<std::string> states{"available"};  ///< Canvas course states; empty: Canvas's default
    bool subaccounts = true;                       ///< false: only courses whose account_id is the account
};

/// The Canvas course states a filter may name.
bool valid_state(std::string_view state);

/// Percent-encodes one path segment, keeping ':' (Canvas SIS ids: "sis_account_id:X").
std::string encode_segment(std::string_view s);

std::string courses_url(std::string_view base, std::string_view account, const filters& f, int per_page);
std::string account_url(std::string_view base, std::string_view account);
std::string report_url(std::string_view base, std::string_view account);  ///< POST: start a provisioning report
std::string report_status_url(std::string_view base, std::string_view account, std::string_view report_id);
std::string public_url_url(std::string_view base, std::string_view file_id);
/// The form body of the report request: parameters[courses]=true, the term, include_deleted
/// when the filter asks for completed or deleted courses.
std::string report_form(const filters& f);
/// NRPS memberships URL of a Canvas course (reference canvas-nrps.md 1.1).
std::string memberships_url(std::string_view base, std::string_view course_id);

/// A Canvas id as text: digits only (JSON integers or strings of digits).
bool is_canvas_id(std::string_view s);

/// A page of GET /api/v1/accounts/:id/courses: a JSON array of Course objects; `id` required
/// (integer or digit string), account_id, enrollment_term_id, workflow_state, course_code and
/// name optional. The error names the element and field.
result<std::vector<course>, bad_answer> parse_courses_page(std::string_view json);

/// The numeric `id` of an Account object.
result<std::string, bad_answer> parse_account_id(std::string_view json);

struct report_status {
    std::string id;
    std::string status;      ///< created, running, compiling, complete, error, aborted, deleted
    int progress = 0;
    std::string file_id;     ///< attachment.id when complete
    std::string file_url;    ///< attachment.url, else file_url
    std::string message;     ///< parameters.extra_text when the report failed, if any

    bool running() const { return status == "created" || status == "running" || status == "compiling"; }
    bool complete() const { return status == "complete"; }
};
result<report_status, bad_answer> parse_report(std::string_view json);

/// {"public_url": "…"} of GET /api/v1/files/:id/public_url.
result<std::string, bad_answer> parse_public_url(std::string_view json);

/// The message of a Canvas error body: {"errors":[{"message":…}]}, {"errors":{"message":…}},
/// {"message":…} or {"error":…}; else the start of the body (at most 200 bytes).
std::string canvas_error_message(std::string_view body);

/// The provisioning report's course status as a Canvas state (active → available, unpublished →
/// created, concluded → completed, deleted → deleted); empty when unknown.
std::string state_from_report_status(std::string_view status);

/// Whether a listed course passes the filters (the API filters too; this also applies them to
/// report rows and to --no-subaccounts, which Canvas cannot express). `account_id` is the
/// account's numeric id (needed for subaccounts = false).
bool wanted(const course& c, const filters& f, std::string_view account_id);

/// Reads a courses CSV incrementally: the provisioning report's courses.csv, or an operator's
/// own export with a `canvas_course_id` column (optional: canvas_account_id, canvas_term_id,
/// status, short_name, long_name). Rows without a course id are errors naming the line.
class courses_csv {
public:
    using course_fn = std::function<void(course)>;
    explicit courses_csv(course_fn on_course, csv_limits limits = {});

    result<void, csv_error> feed(std::string_view chunk);
    result<void, csv_error> finish();
    std::size_t rows() const { return rows_; }

private:
    bool row(const std::vector<std::string>& fields, std::size_t line);

    course_fn on_course_;
    csv_parser parser_;
    std::vector<int> column_;  // course field index per CSV column (-1: unused)
    bool header_done_ = false;
    std::size_t width_ = 0;
    std::size_t rows_ = 0;
    std::optional<csv_error> error_;
};

/// Delay before report poll number `attempt` (0-based): first, then ×1.5 per poll, capped.
std::chrono::milliseconds poll_delay(int attempt, std::chrono::milliseconds first, std::chrono::milliseconds cap);

}  // namespace rostersync::discovery
