#pragma once
// File: discovery/rest_client.hpp
//
// The Canvas REST API as account discovery uses it: list an account's courses page by page,
// run a provisioning report and read its courses CSV, look an account up. Every call to the REST
// host goes through the platform's REST budget (throttle::budget: X-Rate-Limit-Remaining,
// 429 / 403 "Rate Limit Exceeded" pause it and the call is retried without counting as a
// failure), carries the REST token, and is retried with jittered backoff on 5xx, resets and
// timeouts. The token goes only to the REST host (`rest_url`'s scheme, host and port); every
// URL — a rel="next" link, a report file — must be on a host in the platform's allowed_hosts, and
// a report file on another host (Canvas serves files from its file store) is fetched without the
// token: Canvas hands out a pre-signed URL for it (GET /api/v1/files/:id/public_url), so no
// redirect is ever followed.
//
//     rest_client rest(http, budget, platform, token, {});
//     auto courses = co_await rest.list_courses("1", {.states = {"available"}}, on_page);
//     if (!courses) … courses.error().ec (discovery::errc), .detail names the call and the fix
//
// Errors: 401 "user not authorized to perform that action" is errc::not_authorized with the
// permission the call needs in `detail`; any other 401 is errc::token_rejected; 404 is
// errc::not_found; both are configuration errors (is_configuration()). Never logs the token.
//
// Threads: call from one strand (or a single-threaded io_context); the client must outlive
// every call. Cancellation ends a call with errc::cancelled.

#include "common/asio.hpp"
#include "common/error.hpp"
#include "config/config.hpp"
#include "discovery/canvas.hpp"
#include "http/client.hpp"
#include "metrics/registry.hpp"
#include "throttle/budget.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace rostersync::discovery {

struct rest_options {
    int per_page = 100;                  ///< Canvas caps per_page at 100
    int max_pages = 10'000;
    int max_attempts = 5;                ///< per call, for retryable failures
    int max_throttle_retries = 100;      ///< per call, for the platform's rate-limit rejections
    std::chrono::milliseconds backoff_base{500};
    std::chrono::milliseconds backoff_cap{std::chrono::seconds(30)};
    std::chrono::milliseconds poll_first{std::chrono::seconds(2)};   ///< first report poll, then ×1.5
    std::chrono::milliseconds poll_cap{std::chrono::seconds(60)};
    std::chrono::milliseconds report_timeout{std::chrono::hours(6)}; ///< large accounts take hours
};

/// Why a call failed, with Canvas's words and what to do (never the token).
struct rest_error {
    error_code ec;
    std::string detail;
};

[[noreturn]] void throw_exception_from_error(const rest_error& e, const boost::source_location& loc);

/// Reads a REST token file: the first line, trimmed; refused when empty, longer than 4 KiB, or
/// readable by group or others (like the private key). Errors are errc::token_file.
result<std::string, rest_error> read_token_file(const std::string& path);

class rest_client {
public:
    /// `p` has rest_url (validated by config); `token` is the REST API token.
    rest_client(http::client& http, throttle::budget& budget, config::platform p, std::string token,
                rest_options opts = {}, metrics::family<prometheus::Counter>* requests = nullptr);

    /// Every course GET /api/v1/accounts/:account/courses lists for the filters (state[],
    /// enrollment_term_id; sub-accounts included, as Canvas lists them), each id once, in the
    /// order listed. `on_page(pages, courses so far)` runs after every page.
    awaitable<result<std::vector<course>, rest_error>> list_courses(
        std::string account, filters f, std::function<void(int, std::size_t)> on_page = {});

    /// Starts a provisioning report (courses), polls it with backoff until complete (`on_poll`
    /// after each status), downloads its courses CSV and parses it as it reads it.
    awaitable<result<std::vector<course>, rest_error>> report_courses(
        std::string account, filters f, std::function<void(const report_status&)> on_poll = {});

    /// The numeric id of an account given by id or SIS id (GET /api/v1/accounts/:account).
    awaitable<result<std::string, rest_error>> account_id(std::string account);

    int pages() const { return pages_; }
    int throttle_waits() const { return throttle_waits_; }
    int retries() const { return retries_; }

private:
    awaitable<result<http::response, rest_error>> call(std::string method, std::string url, std::string body,
                                                      std::string what, std::string permission);
    std::chrono::milliseconds backoff(int attempt) const;

    http::client& http_;
    throttle::budget& budget_;
    config::platform p_;
    std::string token_;
    rest_options opts_;
    metrics::family<prometheus::Counter>* requests_;
    http::url base_;
    int pages_ = 0;
    int throttle_waits_ = 0;
    int retries_ = 0;
};

}  // namespace rostersync::discovery
