#include "lms_sim/server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>

namespace rostersync::lms_sim {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

constexpr auto nothrow = net::as_tuple(net::use_awaitable);

/// gzip, as Canvas compresses larger responses for clients that accept it.
std::string gzip(const std::string& in)
{
    z_stream zs{};
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
    std::string out(deflateBound(&zs, static_cast<uLong>(in.size())), '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

double epoch_now()
{
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string reason(int status)
{
    return std::string(http::obsolete_reason(static_cast<http::status>(status)));
}

}  // namespace

struct server::impl {
    using awaitable_void = net::awaitable<void>;

    explicit impl(server_options o) : opts(std::move(o)), core(opts.sim), acceptor(ioc) {}

    server_options opts;
    sim_core core;
    net::io_context ioc{1};
    tcp::acceptor acceptor;
    std::optional<ssl::context> tls;
    tls_material material;
    std::thread thread;
    std::atomic<bool> running{false};
    bool stopping = false;
    std::uint16_t bound_port = 0;
    std::set<tcp::socket*> sockets;  // open connections, closed on stop

    template <class Stream>
    static tcp::socket& lowest(Stream& s)
    {
        return beast::get_lowest_layer(s).socket();
    }

    /// Serves requests on one connection until it closes.
    template <class Stream>
    awaitable_void serve(Stream& stream);

    awaitable_void session(tcp::socket socket);
    awaitable_void accept_loop();

    std::set<net::steady_timer*> timers;  // pending delayed replies, cancelled on stop
};

template <class Stream>
net::awaitable<void> server::impl::serve(Stream& stream)
{
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(opts.max_body_bytes);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(60));
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, nothrow);
        if (ec) co_return;
        auto msg = parser.release();
        sim_request req;
        req.method = std::string(msg.method_string());
        req.scheme = tls ? "https" : "http";
        req.host = std::string(msg[http::field::host]);
        req.target = std::string(msg.target());
        req.content_type = std::string(msg[http::field::content_type]);
        req.authorization = std::string(msg[http::field::authorization]);
        req.body = std::move(msg.body());

        sim_response plan = core.handle(req, epoch_now());
        if (plan.delay_seconds > 0) {
            net::steady_timer t(ioc, std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                         std::chrono::duration<double>(plan.delay_seconds)));
            timers.insert(&t);
            co_await t.async_wait(nothrow);
            timers.erase(&t);
            if (stopping) co_return;
        }
        core.complete(plan, epoch_now());

        if (plan.how == sim_response::transport::reset) {
            beast::error_code ignored;
            lowest(stream).set_option(net::socket_base::linger(true, 0), ignored);
            lowest(stream).close(ignored);
            co_return;
        }
        if (plan.how == sim_response::transport::truncate) {
            std::string raw = "HTTP/1.1 " + std::to_string(plan.status) + " " + reason(plan.status) + "\r\n";
            raw += "Content-Type: " + plan.content_type + "\r\n";
            for (const auto& [k, v] : plan.headers) raw += k + ": " + v + "\r\n";
            raw += "Content-Length: " + std::to_string(plan.body.size()) + "\r\n\r\n";
            raw += plan.body.substr(0, plan.body.size() / 2);
            beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
            co_await net::async_write(stream, net::buffer(raw), nothrow);
            beast::error_code ignored;
            lowest(stream).shutdown(tcp::socket::shutdown_both, ignored);
            lowest(stream).close(ignored);
            co_return;
        }
        http::response<http::string_body> res{static_cast<http::status>(plan.status), msg.version()};
        res.set(http::field::server, "rostersync-lms-sim");
        res.set(http::field::content_type, plan.content_type);
        for (const auto& [k, v] : plan.headers) res.insert(k, v);
        const bool compress = plan.body.size() >= 1024 &&
                              std::string_view(msg[http::field::accept_encoding]).find("gzip") != std::string_view::npos;
        if (compress) {
            res.set(http::field::content_encoding, "gzip");
            res.body() = gzip(plan.body);
        } else {
            res.body() = std::move(plan.body);
        }
        res.keep_alive(msg.keep_alive() && !stopping);
        res.prepare_payload();
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
        auto [wec, wn] = co_await http::async_write(stream, res, nothrow);
        if (wec || !res.keep_alive()) co_return;
    }
}

net::awaitable<void> server::impl::session(tcp::socket socket)
{
    tcp::socket* registered = nullptr;
    if (tls) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
        registered = &stream.next_layer().socket();
        sockets.insert(registered);
        stream.next_layer().expires_after(std::chrono::seconds(10));
        auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, nothrow);
        if (!ec) co_await serve(stream);
        sockets.erase(registered);
        if (!ec && !stopping) {
            stream.next_layer().expires_after(std::chrono::seconds(2));
            co_await stream.async_shutdown(nothrow);
        }
    } else {
        beast::tcp_stream stream(std::move(socket));
        registered = &stream.socket();
        sockets.insert(registered);
        co_await serve(stream);
        sockets.erase(registered);
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
}

net::awaitable<void> server::impl::accept_loop()
{
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(nothrow);
        if (ec) {
            if (stopping || ec == net::error::operation_aborted) co_return;
            continue;
        }
        net::co_spawn(ioc, session(std::move(socket)), [](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::fprintf(stderr, "lms-sim: connection failed: %s\n", ex.what());
            }
        });
    }
}

server::server(server_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}

server::~server()
{
    stop();
}

void server::start()
{
    auto& s = *impl_;
    if (s.opts.tls) {
        std::vector<std::string> names;
        for (const auto& h : s.opts.sim.hosts) names.push_back(h.name);
        names.push_back("localhost");
        names.push_back(s.opts.address);
        s.material = s.opts.tls_given ? *s.opts.tls_given : make_tls_material(names);
        s.tls.emplace(ssl::context::tls_server);
        s.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                           ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        s.tls->use_certificate_chain(net::buffer(s.material.cert_pem));
        s.tls->use_private_key(net::buffer(s.material.key_pem), ssl::context::pem);
        if (!s.opts.ca_file_out.empty()) {
            std::ofstream out(s.opts.ca_file_out, std::ios::trunc);
            out << s.material.ca_cert_pem;
            if (!out) throw std::runtime_error("cannot write the CA file " + s.opts.ca_file_out);
        }
    }
    beast::error_code ec;
    tcp::endpoint ep(net::ip::make_address(s.opts.address, ec), s.opts.port);
    if (!ec) s.acceptor.open(ep.protocol(), ec);
    if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) s.acceptor.bind(ep, ec);
    if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        throw std::runtime_error("lms-sim cannot listen on " + s.opts.address + ":" +
                                 std::to_string(s.opts.port) + ": " + ec.message());
    }
    s.bound_port = s.acceptor.local_endpoint().port();
    net::co_spawn(s.ioc, s.accept_loop(), net::detached);
    s.running = true;
    s.thread = std::thread([&s] { s.ioc.run(); });
}

void server::stop()
{
    auto& s = *impl_;
    if (!s.running.exchange(false)) return;
    net::post(s.ioc, [&s] {
        s.stopping = true;
        beast::error_code ignored;
        s.acceptor.close(ignored);
        for (auto* sock : s.sockets) sock->cancel(ignored);
        for (auto* t : s.timers) t->cancel();
    });
    s.thread.join();
}

std::uint16_t server::port() const { return impl_->bound_port; }
std::string server::scheme() const { return impl_->opts.tls ? "https" : "http"; }

std::string server::base_url(const std::string& host) const
{
    return scheme() + "://" + host + ":" + std::to_string(port());
}

std::pair<std::string, std::string> server::resolve_entry(const std::string& host) const
{
    return {host + ":" + std::to_string(port()), impl_->opts.address + ":" + std::to_string(port())};
}

std::string server::ca_pem() const { return impl_->material.ca_cert_pem; }

sim_core& server::core() { return impl_->core; }

void server::post(std::function<void()> fn)
{
    if (!impl_->running) {
        fn();  // not serving: nothing else touches the core
        return;
    }
    net::post(impl_->ioc, std::move(fn));
}

}  // namespace rostersync::lms_sim
