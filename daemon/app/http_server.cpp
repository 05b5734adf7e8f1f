#include "app/http_server.hpp"

#include "common/log.hpp"
#include "common/version.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <boost/asio/this_coro.hpp>

#include <map>
#include <set>

namespace rostersync::app {
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {
const log::logger lg{"http"};
}

struct http_server::impl {
    struct route_entry {
        std::string method;
        route_handler handler;
        async_route_handler async_handler;
    };
    struct connection {
        beast::tcp_stream* stream = nullptr;
        bool idle = true;  // waiting for a request (safe to close on stop)
    };

    impl(net::io_context& ioc, http_server_options o, metrics::registry& m)
        : strand(net::make_strand(ioc)), acceptor(strand), drained(strand), opts(std::move(o)),
          requests(m.counter("rostersync_http_requests_total",
                             "Requests served by the daemon's HTTP server, by route and status code.",
                             {"route", "code"})),
          rejected(m.counter("rostersync_http_connections_rejected_total",
                             "Connections closed at once because max connections were open."))
    {
        drained.expires_at(net::steady_timer::time_point::max());
    }

    net::strand<net::io_context::executor_type> strand;
    tcp::acceptor acceptor;
    net::steady_timer drained;  // cancelled when the last connection closes during a stop
    http_server_options opts;
    std::map<std::string, std::vector<route_entry>, std::less<>> routes;
    std::set<connection*> live;
    std::size_t open_connections = 0;  // counted at accept, before the session starts
    bool stopping = false;
    metrics::family<prometheus::Counter>& requests;
    metrics::family<prometheus::Counter>& rejected;

    const std::vector<route_entry>* find_route(const std::string& path, std::string_view& route_label) const
    {
        if (auto it = routes.find(path); it != routes.end()) {
            route_label = it->first;
            return &it->second;
        }
        // Prefix routes ("/admin/*"): the longest that matches.
        const std::vector<route_entry>* best = nullptr;
        std::size_t best_len = 0;
        for (const auto& [p, entries] : routes) {
            if (!p.ends_with("/*")) continue;
            const std::string_view prefix(p.data(), p.size() - 1);
            if (path.starts_with(prefix) && prefix.size() > best_len) {
                best = &entries;
                best_len = prefix.size();
                route_label = p;
            }
        }
        return best;
    }

    awaitable<http_response> dispatch(http_request req, std::string_view& route_label)
    {
        const auto* entries = find_route(req.path, route_label);
        if (entries == nullptr) {
            route_label = "other";
            co_return http_response{.status = 404, .body = "not found\n"};
        }
        std::string allow;
        for (const auto& r : *entries) {
            if (r.method == req.method || (req.method == "HEAD" && r.method == "GET")) {
                if (r.async_handler) co_return co_await r.async_handler(std::move(req));
                co_return r.handler(req);
            }
            allow += (allow.empty() ? "" : ", ") + r.method;
            if (r.method == "GET") allow += ", HEAD";
        }
        co_return http_response{.status = 405, .body = "method not allowed\n", .headers = {{"Allow", allow}}};
    }

    void count(std::string_view route, unsigned status)
    {
        requests.with({route, std::to_string(status)}).Increment();
    }

    static http::response<http::string_body> build(const http_response& r, unsigned version,
                                                   bool keep_alive, bool head)
    {
        http::response<http::string_body> res{static_cast<http::status>(r.status), version};
        res.set(http::field::server, std::string("rostersyncd/") + rostersync::version);
        res.set(http::field::content_type, r.content_type);
        res.set(http::field::cache_control, "no-store");
        for (const auto& [k, v] : r.headers) res.set(k, v);
        res.keep_alive(keep_alive);
        res.body() = r.body;
        res.prepare_payload();
        if (head) res.body().clear();  // Content-Length stays that of the GET body
        return res;
    }

    void close_idle()
    {
        // Cancel, don't close: a read that already completed still gets its answer, and the
        // session closes its own socket.
        for (auto* c : live) {
            if (c->idle) c->stream->cancel();
        }
    }

    static awaitable<void> session(std::shared_ptr<impl> self_ptr, tcp::socket socket)
    {
        impl& s = *self_ptr;
        beast::tcp_stream stream(std::move(socket));
        connection self{&stream, true};
        s.live.insert(&self);
        // Whatever ends the session (return, error, exception), it is deregistered.
        struct guard {
            impl& s;
            connection* c;
            ~guard()
            {
                s.live.erase(c);
                --s.open_connections;
                if (s.stopping && s.open_connections == 0) s.drained.cancel();
            }
        } cleanup{s, &self};
        co_await s.serve(stream, self);
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

    awaitable<void> serve(beast::tcp_stream& stream, connection& self)
    {
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
            parser.body_limit(opts.max_body_bytes);
            self.idle = true;
            if (stopping) break;
            stream.expires_after(opts.request_timeout);
            auto [ec, n] = co_await http::async_read(stream, buffer, parser, nothrow);
            self.idle = false;
            if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
                ec == beast::error::timeout || ec == net::error::connection_reset ||
                ec == net::error::bad_descriptor) {
                break;
            }
            if (ec) {
                unsigned status = ec == http::error::body_limit     ? 413
                                  : ec == http::error::header_limit ? 431
                                                                    : 400;
                std::string body = status == 413   ? "request body too large\n"
                                   : status == 431 ? "request header too large\n"
                                                   : "bad request\n";
                count("other", status);
                auto res = build({.status = status, .body = body}, 11, false, false);
                stream.expires_after(std::chrono::seconds(5));
                co_await http::async_write(stream, res, nothrow);
                // Lingering close: read and drop what the client still sends (bounded), so the
                // answer is not lost to a reset.
                beast::error_code ignored;
                stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                std::array<char, 16 * 1024> sink{};
                std::size_t drained_bytes = 0;
                stream.expires_after(std::chrono::seconds(2));
                while (drained_bytes < 1024 * 1024) {
                    auto [rec, got] = co_await stream.async_read_some(net::buffer(sink), nothrow);
                    if (rec) break;
                    drained_bytes += got;
                }
                break;
            }
            auto msg = parser.release();
            http_request req;
            req.method = std::string(msg.method_string());
            req.target = std::string(msg.target());
            req.path = req.target.substr(0, req.target.find('?'));
            req.authorization = std::string(msg[http::field::authorization]);
            req.body = std::move(msg.body());
            std::string_view route_label = "other";
            const bool keep = msg.keep_alive() && !stopping;
            http_response r;
            http::response<http::string_body> res;
            try {
                const bool head = req.method == "HEAD";
                r = co_await dispatch(std::move(req), route_label);
                res = build(r, msg.version(), keep, head);
            } catch (const std::exception& e) {
                lg.error("route handler failed", {{"route", route_label}, {"error", e.what()}});
                r = {.status = 500, .body = "internal error\n"};
                res = build(r, msg.version(), false, false);
            }
            count(route_label, r.status);
            stream.expires_after(opts.request_timeout);
            auto [wec, wn] = co_await http::async_write(stream, res, nothrow);
            if (wec || !keep || !res.keep_alive()) break;
        }
    }
};

http_server::http_server(net::io_context& ioc, http_server_options opts, metrics::registry& metrics)
    : impl_(std::make_shared<impl>(ioc, std::move(opts), metrics))
{
}

http_server::~http_server() = default;

void http_server::route_async(std::string method, std::string path, async_route_handler handler)
{
    impl_->routes[std::move(path)].push_back({std::move(method), {}, std::move(handler)});
}

void http_server::route(std::string method, std::string path, route_handler handler)
{
    impl_->routes[std::move(path)].push_back({std::move(method), std::move(handler), {}});
}

net::any_io_executor http_server::executor() const
{
    return impl_->strand;
}

result<tcp::endpoint> http_server::listen()
{
    auto& a = impl_->acceptor;
    beast::error_code ec;
    auto address = net::ip::make_address(impl_->opts.listen.host, ec);
    if (ec) return ec;
    tcp::endpoint ep{address, impl_->opts.listen.port};
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        a.close();
        return ec;
    }
    return a.local_endpoint();
}

awaitable<void> http_server::run()
{
    auto self = impl_;  // keeps the state alive while connections finish
    // A cancelled wait must not throw out of run() while sessions still use the state.
    co_await net::this_coro::throw_if_cancelled(false);
    while (!self->stopping) {
        auto [ec, socket] = co_await self->acceptor.async_accept(nothrow);
        if (ec) {
            if (self->stopping || ec == net::error::operation_aborted) break;
            lg.warning("accept failed", {{"error", ec.message()}});
            // Out of descriptors and similar: back off briefly instead of spinning.
            net::steady_timer backoff(self->strand, std::chrono::milliseconds(100));
            co_await backoff.async_wait(nothrow);
            continue;
        }
        if (self->open_connections >= self->opts.max_connections) {
            self->rejected.get().Increment();
            beast::error_code ignored;
            socket.close(ignored);
            continue;
        }
        ++self->open_connections;
        net::co_spawn(self->strand, impl::session(self, std::move(socket)), [](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                lg.error("connection failed", {{"error", ex.what()}});
            }
        });
    }
    while (self->open_connections > 0) co_await self->drained.async_wait(nothrow);
}

void http_server::stop()
{
    net::post(impl_->strand, [self = impl_] {
        if (self->stopping) return;
        self->stopping = true;
        beast::error_code ignored;
        self->acceptor.close(ignored);
        self->close_idle();
        if (self->open_connections == 0) self->drained.cancel();
    });
}

}  // namespace rostersync::app
