#pragma once
// File: app/http_server.hpp
//
// The daemon's own HTTP/1.1 server (Beast): /metrics, /healthz, /readyz, later the JWKS document
// and the admin API. Small by design: routes are exact paths with synchronous handlers, requests
// are bounded (header and body size, a deadline per request, a connection cap), and every
// response carries `Connection: close` once the server is stopping.
//
//     http_server srv(ioc, {.listen = cfg.http.listen}, registry);
//     srv.route("GET", "/healthz", [](const http_request&) { return http_response{.body = "ok\n"}; });
//     auto bound = srv.listen();              // result<endpoint>: port 0 picks a free port
//     net::co_spawn(srv.executor(), srv.run(), on_done);
//     ...
//     srv.stop();                             // run() completes once every connection has closed
//
// Lifetime and threads: the server and all its connections live on one strand (executor()).
// route() must be called before run(); stop() may be called from any thread. The object must
// outlive run()'s completion.

#include "common/asio.hpp"
#include "common/error.hpp"
#include "config/config.hpp"
#include "metrics/registry.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rostersync::app {

struct http_request {
    std::string method;
    std::string target;  ///< as sent, with the query
    std::string path;    ///< target without the query
    std::string authorization;
    std::string body;
};

struct http_response {
    unsigned status = 200;
    std::string body;
    std::string content_type = "text/plain; charset=utf-8";
    std::vector<std::pair<std::string, std::string>> headers;
};

using route_handler = std::function<http_response(const http_request&)>;
/// A handler that waits (for another strand, Kafka, …) before it answers.
using async_route_handler = std::function<awaitable<http_response>(http_request)>;

struct http_server_options {
    config::endpoint listen;
    std::size_t max_header_bytes = 8 * 1024;  ///< larger request headers get 431
    std::size_t max_body_bytes = 64 * 1024;   ///< larger request bodies get 413
    std::chrono::milliseconds request_timeout = std::chrono::seconds(30);  ///< idle or slow: closed
    std::size_t max_connections = 128;        ///< further connections are closed at once
};

class http_server {
public:
    http_server(net::io_context& ioc, http_server_options opts, metrics::registry& metrics);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    /// Registers an exact-path route. GET routes also answer HEAD.
    void route(std::string method, std::string path, route_handler handler);
    /// `path` ending in "/*" matches every path below it (the longest such prefix wins).
    void route_async(std::string method, std::string path, async_route_handler handler);

    /// Binds and listens. Errors name the address (e.g. "address already in use").
    result<net::ip::tcp::endpoint> listen();

    /// Accepts connections until stop(); completes when the last connection has closed.
    awaitable<void> run();

    /// Stops accepting, closes idle connections, lets in-flight requests finish. Thread-safe.
    void stop();

    net::any_io_executor executor() const;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace rostersync::app
