#pragma once
// File: app/status_page.hpp
//
// The read-only HTML status page at `/`, for quick triage where no Grafana is at hand: the
// instance and whether it is ready, the budgets, passes in progress, held and parked contexts,
// the last pass errors, and the partitions owned with their restore progress.
//
//     status_page_data d{.instance = host, .version = rostersync::version, .now = sys_clock::now(),
//     …}; d.budgets = engine.budgets(); d.pipeline = co_await
//     pipeline.status(status_page_max_rows); return status_page_response(d);       // 200 text/html
//     with CSP, no-store, nosniff
//
// Plain HTML with inline CSS: no script, no external asset (the Content-Security-Policy forbids
// both), a <meta refresh> every 10 s. Every dynamic string is HTML-escaped. It shows context keys,
// platform names, hosts, reasons and counts only — never a user id, name, email or token — so it
// is served without the admin token, like /metrics, on http.listen (loopback by default).
//
// Pure: rendering does no I/O and reads no clock (`now` is passed in). Thread-safe.

#include "app/http_server.hpp"
#include "nrps/fetcher.hpp"
#include "sync/status.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::app {

/// At most this many rows per list (budgets, passes, held, parked); the rest as "and N more".
inline constexpr std::size_t status_page_max_rows = 100;

struct status_page_data {
    std::string instance;  ///< host name
    std::string version;
    std::string revision;
    bool ready = false;
    std::string not_ready_reason;  ///< as /readyz says it ("starting", "shutting down", …)
    std::chrono::system_clock::time_point now{};
    std::chrono::system_clock::time_point started{};  ///< when the process started
    std::string kafka;                                ///< the bootstrap address in use
    bool admin_api = false;                           ///< `rostersync release` needs it
    /// `rostersync release` with --config (and --url when needed); the page adds --context KEY.
    std::string release_command = "rostersync release";
    std::string resync_command = "rostersync resync";
    std::vector<nrps::engine::budget_status> budgets;
    sync::status_report pipeline;
    std::size_t max_rows = status_page_max_rows;
};

/// `&`, `<`, `>`, `"` and `'` as character references.
std::string html_escape(std::string_view s);

/// `s` as one POSIX shell word (single-quoted when it needs quoting).
std::string shell_quote(std::string_view s);

/// The whole page.
std::string render_status_page(const status_page_data& d);

/// 200 with the page and its headers: text/html; charset=utf-8, Cache-Control: no-store,
/// Content-Security-Policy (default-src 'none'; style-src 'unsafe-inline'; …),
/// X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer, X-Frame-Options: DENY.
http_response status_page_response(const status_page_data& d);

}  // namespace rostersync::app
