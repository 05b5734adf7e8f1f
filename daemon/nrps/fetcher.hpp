#pragma once
// File: nrps/fetcher.hpp
//
// The pull engine: given a platform and a memberships URL, the complete, verified roster, as fast
// as the platform's budget allows, or one classified error — never a partial roster posing as a
// complete one.
//
//     auto engine = nrps::engine::create(ioc.get_executor(), cfg, &registry);   // loads keys
//     auto roster = co_await (*engine)->fetch("canvas-cloud", url, {});
//     if (!roster) … roster.error().ec is nrps::errc, http::errc or oauth::errc; .detail says more
//
// A pass: the URL passes the platform's URL guard; `limit` is set to sync.page_size; every page
// waits for the budget (one budget per host unless the platform names a shared one), carries a
// cached access token, is parsed with simdjson, and follows rel="next" (same origin only; a
// repeated next is an error). 5xx, timeouts, resets and malformed pages are retried with bounded,
// jittered backoff; 429 and 403 "Rate Limit Exceeded" pause the budget and retry without counting
// as failures; 401 "Access token expired" (or another token-validation message) refreshes the
// token and retries once; 401 about scope, tool installation or the developer key is a
// configuration error; 404 is not_found. rel="differences" links are recorded, not followed.
// Members seen on two pages are kept once (the later copy wins).
//
// Threads: fetch() may run concurrently on any executors; the engine must outlive every fetch().

#include "common/asio.hpp"
#include "common/error.hpp"
#include "config/config.hpp"
#include "http/client.hpp"
#include "metrics/registry.hpp"
#include "nrps/page.hpp"
#include "oauth/token_source.hpp"
#include "throttle/budget.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rostersync::nrps {

inline constexpr const char* nrps_scope = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly";
inline constexpr const char* nrps_media_type = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json";

struct roster {
    context_info context;
    member_list members;                      ///< in first-seen order, one per user_id (views into the pages)
    std::vector<std::string> differences;     ///< rel="differences" URLs seen (recorded, not applied)
    int pages = 0;
    int duplicates = 0;                       ///< members seen on more than one page
    int retries = 0;                          ///< pages retried (5xx, resets, malformed, token)
    int throttle_waits = 0;                   ///< rejections by the platform's throttle
    bool partial = false;                     ///< stopped at fetch_options::max_pages with pages left (a probe)
};

struct progress {
    int pages = 0;
    std::size_t members = 0;
    int throttle_waits = 0;
    int retries = 0;
};

struct fetch_options {
    std::optional<std::string> role;          ///< full role URI filter
    throttle::priority priority = throttle::priority::fresh;
    std::function<void(const progress&)> on_page;  ///< called after every page (CLI progress)
    /// A probe (account discovery learns a course's context from its first page): the page size
    /// instead of sync.page_size, and a stop after this many pages (0: every page). A pass that
    /// stops early is marked `partial` and counted as result="partial"; never diff one.
    std::optional<int> limit;
    int max_pages = 0;
};

struct fetch_limits {
    int max_pages = 5000;
    std::size_t max_members = 250'000;
    int max_attempts = 5;                     ///< per page, for retryable failures
    int max_throttle_retries = 100;           ///< per page, for platform rejections
    std::chrono::milliseconds backoff_base{500};
    std::chrono::milliseconds backoff_cap{std::chrono::seconds(30)};
};

struct engine_options {
    http::client_options http;
    oauth::token_source_options tokens;
    fetch_limits limits;
};

/// Why a pass failed, with the platform's words for the log (never a token or personal data).
struct fetch_error {
    error_code ec;
    std::string detail;
};

[[noreturn]] void throw_exception_from_error(const fetch_error& e, const boost::source_location& loc);

class engine {
public:
    /// Loads every platform's signing key; a key problem is reported with the platform named.
    static result<std::unique_ptr<engine>, fetch_error> create(net::any_io_executor ex, const config::config& cfg,
                                                               metrics::registry* metrics = nullptr,
                                                               engine_options opts = {});
    ~engine();

    /// One pass. Call it from a strand (or a single-threaded io_context): connections and timers
    /// run on the caller's executor. Cancellation ends it with errc::cancelled.
    awaitable<result<roster, fetch_error>> fetch(std::string platform, std::string url, fetch_options opts = {});

    /// Applies a reloaded configuration: new keys, platforms and budget settings; the token cache,
    /// the connection pool and what budgets learned are kept. On a key problem nothing changes.
    result<void, fetch_error> update(const config::config& cfg);

    /// The public keys of every platform, for /.well-known/jwks.json.
    std::string jwks() const;

    http::client& http_client();
    oauth::token_source& tokens();
    throttle::budget& budget_for(const config::platform& p, const std::string& host);

    /// A budget as the status page shows it: its name (a host, or a shared [[budgets]] entry).
    struct budget_status {
        std::string name;
        throttle::budget::snapshot state;
        std::vector<std::string> platforms;  ///< a shared entry: the platforms naming it
        std::vector<std::string> hosts;      ///< … and their allowed_hosts (empty for a host's own budget)
    };
    /// Every budget a fetch has used so far (budgets are made on first use), by name. Thread-safe.
    std::vector<budget_status> budgets() const;

private:
    engine(net::any_io_executor ex, const config::config& cfg, metrics::registry* metrics, engine_options opts);
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rostersync::nrps
