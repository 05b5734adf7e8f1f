#pragma once
// File: http/client.hpp
//
// The HTTPS client the pull engine talks to platforms with (Beast).
//
//   - TLS verified against the system trust store or a platform's ca_file, with SNI and host-name
//     checks; plain http only for URLs the caller's policy allowed (allow_http);
//   - [http.resolve] entries map host:port to an address, like curl --resolve; addresses (mapped
//     or resolved) pass http::check_resolved, so a name resolving to an internal address is
//     refused unless listed literally;
//   - a keep-alive pool per (scheme, host, port, ca_file); a reused connection that turns out to be
//     closed is replaced once, transparently;
//   - deadlines: resolve, connect, handshake and each read/write step, all capped by the whole
//     request's deadline;
//   - a response size limit (also on the decoded size), `Accept-Encoding: gzip` with decoding;
//   - redirects are never followed: a 3xx is http::errc::redirect_not_followed.
//
//     http::client c(ioc.get_executor(), {.resolve = cfg.http.resolve});
//     auto u = http::parse_url(memberships_url);
//     auto r = co_await c.send({.target = *u, .headers = {{"Authorization", "Bearer …"}}}, policy, ca_file);
//
// Threads: send() may be called concurrently from coroutines on different executors; call it
// from a strand (or a single-threaded io_context), since a connection's stream and timers run on
// the executor of the coroutine that opened it, and a pooled connection is reused only from that
// same executor. The pool is guarded by a mutex; a connection belongs to one request at a time.
// The client must outlive every send(). Cancellation ends a send with common::errc::cancelled.

#include "common/asio.hpp"
#include "common/error.hpp"
#include "config/config.hpp"
#include "http/url.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rostersync::http {

struct request {
    std::string method = "GET";
    url target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

struct response {
    unsigned status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  ///< in order, names as received
    std::string body;                                          ///< decoded

    /// The first header with this name (case-insensitive), or "".
    std::string_view header(std::string_view name) const;
    /// Every value of a header that may repeat (Link).
    std::vector<std::string_view> headers_named(std::string_view name) const;
};

/// A header value that is a decimal number, such as X-Rate-Limit-Remaining ("599.95");
/// nullopt when empty or not entirely a number.
std::optional<double> header_number(std::string_view value);
/// Retry-After in seconds (fractions allowed) below a day; nullopt otherwise (an HTTP date too).
std::optional<std::chrono::milliseconds> retry_after(std::string_view value);

struct client_options {
    std::chrono::milliseconds resolve_timeout{std::chrono::seconds(5)};
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
    std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
    std::chrono::milliseconds io_timeout{std::chrono::seconds(30)};       ///< each write / read
    std::chrono::milliseconds request_timeout{std::chrono::seconds(60)};  ///< the whole exchange
    std::size_t max_response_bytes = 32 * 1024 * 1024;
    std::size_t max_idle_per_key = 8;
    std::chrono::seconds idle_timeout{30};   ///< idle pooled connections older than this are closed
    std::vector<config::resolve_entry> resolve;
    std::string user_agent;                  ///< default "rostersync/<version>"
};

class client {
public:
    client(net::any_io_executor ex, client_options opts);
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// One request. `policy` judges the addresses the host resolves to; `ca_file` (may be empty:
    /// system trust store) verifies https. Errors: http::errc values (and common::errc::cancelled).
    awaitable<result<response>> send(request req, host_policy policy, std::string ca_file = {});

    /// Replaces the resolve map (SIGHUP).
    void set_resolve(std::vector<config::resolve_entry> entries);

    struct stats {
        long connections_opened = 0;
        long connections_reused = 0;
        long requests = 0;
    };
    stats counters() const;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace rostersync::http
