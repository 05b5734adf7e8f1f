#include "http/client.hpp"

#include "common/log.hpp"
#include "common/version.hpp"
#include "http/error.hpp"
#include "common/handoff.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <zlib.h>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

namespace rostersync::http {
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

const log::logger lg{"http"};

bool iequals(std::string_view a, std::string_view b)
{
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

/// Inflates a gzip body within `limit` bytes.
result<std::string> gunzip(std::string_view in, std::size_t limit)
{
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return make_error_code(errc::bad_encoding);
    std::string out;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    char buf[16384];
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&zs);
            return make_error_code(errc::bad_encoding);
        }
        out.append(buf, sizeof buf - zs.avail_out);
        if (out.size() > limit) {
            inflateEnd(&zs);
            return make_error_code(errc::response_too_large);
        }
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            inflateEnd(&zs);
            return make_error_code(errc::bad_encoding);  // truncated stream
        }
    }
    inflateEnd(&zs);
    return out;
}

error_code classify_io(const beast::error_code& ec)
{
    if (ec == beast::error::timeout) return errc::timeout;
    if (ec == net::error::operation_aborted) return common::errc::cancelled;
    if (ec == bhttp::error::body_limit) return errc::response_too_large;
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::broken_pipe || ec == bhttp::error::partial_message || ec == ssl::error::stream_truncated)
        return errc::connection_lost;
    if (ec.category() == beast::error_code(bhttp::error::bad_version).category()) return errc::bad_response;
    if (ec.category() == net::error::get_ssl_category()) return errc::tls_failed;
    return errc::connection_lost;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::optional<double> header_number(std::string_view value)
{
    std::string tmp(value);
    char* end = nullptr;
    double v = std::strtod(tmp.c_str(), &end);
    if (tmp.empty() || end != tmp.c_str() + tmp.size()) return std::nullopt;
    return v;
}

std::optional<std::chrono::milliseconds> retry_after(std::string_view value)
{
    if (auto d = header_number(value); d && *d >= 0 && *d < 86400)
        return std::chrono::milliseconds(static_cast<long long>(*d * 1000));
    return std::nullopt;
}

std::string_view response::header(std::string_view name) const
{
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

std::vector<std::string_view> response::headers_named(std::string_view name) const
{
    std::vector<std::string_view> out;
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) out.push_back(v);
    return out;
}

struct client::impl {
    struct connection {
        net::any_io_executor ex;  // the executor it was opened on: only reused from there
        std::unique_ptr<beast::tcp_stream> plain;
        std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
        steady::time_point idle_since;

        beast::tcp_stream& lowest() { return tls ? tls->next_layer() : *plain; }
    };

    impl(net::any_io_executor e, client_options o) : ex(std::move(e)), opts(std::move(o))
    {
        if (opts.user_agent.empty()) opts.user_agent = std::string("rostersync/") + rostersync::version;
    }

    net::any_io_executor ex;
    client_options opts;
    mutable std::mutex mutex;
    std::map<std::string, std::deque<std::unique_ptr<connection>>> idle;
    std::map<std::string, std::shared_ptr<ssl::context>> tls_contexts;
    stats counters;

    std::string key(const url& u, const std::string& ca_file) const
    {
        return u.scheme + "://" + u.host + ":" + std::to_string(u.port) + "|" + ca_file;
    }

    result<std::shared_ptr<ssl::context>> tls_context(const std::string& ca_file)
    {
        std::lock_guard lock(mutex);
        if (auto it = tls_contexts.find(ca_file); it != tls_contexts.end()) return it->second;
        auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
        beast::error_code ec;
        ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                             ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                         ec);
        if (ca_file.empty()) ctx->set_default_verify_paths(ec);
        else ctx->load_verify_file(ca_file, ec);
        if (ec) {
            lg.error("cannot load the CA file", {{"ca_file", ca_file}, {"error", ec.message()}});
            return make_error_code(errc::tls_failed);
        }
        ctx->set_verify_mode(ssl::verify_peer);
        tls_contexts.emplace(ca_file, ctx);
        return ctx;
    }

    /// A pooled connection opened on the same executor (a stream is not thread-safe, so it stays
    /// with the strand it was made on); expired ones are dropped on the way.
    std::unique_ptr<connection> take_idle(const std::string& k, const net::any_io_executor& on)
    {
        std::lock_guard lock(mutex);
        auto it = idle.find(k);
        if (it == idle.end()) return nullptr;
        auto now = steady::now();
        auto& q = it->second;
        q.erase(std::remove_if(q.begin(), q.end(),
                               [&](const auto& c) { return now - c->idle_since >= opts.idle_timeout; }),
                q.end());
        for (auto c = q.rbegin(); c != q.rend(); ++c) {
            if ((*c)->ex == on) {
                auto taken = std::move(*c);
                q.erase(std::next(c).base());
                ++counters.connections_reused;
                return taken;
            }
        }
        return nullptr;
    }

    void give_back(const std::string& k, std::unique_ptr<connection> c)
    {
        std::lock_guard lock(mutex);
        auto& q = idle[k];
        if (q.size() >= opts.max_idle_per_key) q.pop_front();  // the oldest makes room
        c->idle_since = steady::now();
        q.push_back(std::move(c));
    }

    // DNS answers, cached for a minute.
    struct dns_entry {
        std::vector<tcp::endpoint> endpoints;
        steady::time_point expires;
    };
    std::map<std::string, dns_entry> dns_cache;

    /// getaddrinfo on a thread of its own, so a slow name server delays only this request (Asio's
    /// resolver shares one thread and cannot be abandoned); the wait has a deadline.
    awaitable<result<std::vector<tcp::endpoint>>> resolve(const std::string& host, std::uint16_t port,
                                                         steady::time_point until)
    {
        const std::string key = host + ":" + std::to_string(port);
        {
            std::lock_guard lock(mutex);
            if (auto it = dns_cache.find(key); it != dns_cache.end() && steady::now() < it->second.expires)
                co_return it->second.endpoints;
        }
        // getaddrinfo on a detached thread: a slow name server delays only this request, and a
        // late answer after the deadline is simply dropped.
        struct answer {
            beast::error_code ec;
            std::vector<tcp::endpoint> eps;
        };
        auto h = handoff<answer>::create(co_await net::this_coro::executor);
        std::thread([h, host, port] {
            net::io_context local;
            tcp::resolver r(local);
            answer a;
            auto results = r.resolve(host, std::to_string(port), a.ec);
            if (!a.ec)
                for (const auto& e : results) a.eps.push_back(e.endpoint());
            h->set(std::move(a));
        }).detach();
        auto got = co_await h->wait(until);
        const bool done = got.has_value();
        const beast::error_code rec = done ? got->ec : beast::error_code{};
        std::vector<tcp::endpoint> found = done ? std::move(got->eps) : std::vector<tcp::endpoint>{};
        if (!done) {
            auto cs = co_await net::this_coro::cancellation_state;
            if (cs.cancelled() != net::cancellation_type::none) co_return make_error_code(common::errc::cancelled);
            co_return make_error_code(errc::timeout);
        }
        if (rec || found.empty()) co_return make_error_code(errc::resolve_failed);
        std::lock_guard cache_lock(mutex);
        dns_cache[key] = {found, steady::now() + std::chrono::minutes(1)};
        co_return found;
    }

    /// The endpoints for u: the resolve map, or DNS (with a deadline); then the address policy.
    awaitable<result<std::vector<tcp::endpoint>>> endpoints(const url& u, const host_policy& policy,
                                                            steady::time_point deadline)
    {
        using namespace net::experimental::awaitable_operators;
        std::vector<tcp::endpoint> eps;
        {
            std::lock_guard lock(mutex);
            for (const auto& r : opts.resolve) {
                if (r.host == u.host && r.port == u.port) {
                    beast::error_code ec;
                    auto addr = net::ip::make_address(r.address, ec);
                    if (!ec) eps.emplace_back(addr, r.address_port);
                }
            }
        }
        if (eps.empty()) {
            if (u.host_is_ip) {
                eps.emplace_back(net::ip::make_address(u.host), u.port);
            } else {
                auto r = co_await resolve(u.host, u.port, std::min(deadline, steady::now() + opts.resolve_timeout));
                if (!r) co_return r.error();
                eps = std::move(*r);
            }
        }
        std::vector<net::ip::address> addrs;
        for (const auto& e : eps) addrs.push_back(e.address());
        if (auto ec = check_resolved(u.host, addrs, policy)) co_return ec;
        co_return eps;
    }

    awaitable<result<std::unique_ptr<connection>>> open(const url& u, const host_policy& policy,
                                                       const std::string& ca_file, steady::time_point deadline)
    {
        auto eps = co_await endpoints(u, policy, deadline);
        if (!eps) co_return eps.error();
        auto on = co_await net::this_coro::executor;
        auto c = std::make_unique<connection>();
        c->ex = on;
        std::shared_ptr<ssl::context> ctx;
        if (u.scheme == "https") {
            auto t = tls_context(ca_file);
            if (!t) co_return t.error();
            ctx = *t;
            c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(on, *ctx);
        } else {
            c->plain = std::make_unique<beast::tcp_stream>(on);
        }
        auto& lowest = c->lowest();
        lowest.expires_at(std::min(deadline, steady::now() + opts.connect_timeout));
        auto [cec, ep] = co_await lowest.async_connect(*eps, nothrow);
        if (cec) {
            if (cec == beast::error::timeout) co_return make_error_code(errc::timeout);
            if (cec == net::error::operation_aborted) co_return make_error_code(common::errc::cancelled);
            co_return make_error_code(errc::connect_failed);
        }
        if (c->tls) {
            if (!u.host_is_ip && !SSL_set_tlsext_host_name(c->tls->native_handle(), u.host.c_str()))
                co_return make_error_code(errc::tls_failed);
            c->tls->set_verify_callback(ssl::host_name_verification(u.host));
            lowest.expires_at(std::min(deadline, steady::now() + opts.handshake_timeout));
            auto [hec] = co_await c->tls->async_handshake(ssl::stream_base::client, nothrow);
            if (hec) {
                if (hec == beast::error::timeout) co_return make_error_code(errc::timeout);
                if (hec == net::error::operation_aborted) co_return make_error_code(common::errc::cancelled);
                lg.warning("TLS handshake failed", {{"host", u.host}, {"error", hec.message()}});
                co_return make_error_code(errc::tls_failed);
            }
        }
        std::lock_guard lock(mutex);
        ++counters.connections_opened;
        co_return c;
    }

    template <class Stream>
    awaitable<result<response>> exchange(Stream& s, beast::tcp_stream& lowest, const request& req,
                                         steady::time_point deadline, bool& keep_alive)
    {
        bhttp::request<bhttp::string_body> r{bhttp::string_to_verb(req.method), req.target.target, 11};
        r.method_string(req.method);
        r.set(bhttp::field::host, req.target.authority());
        r.set(bhttp::field::user_agent, opts.user_agent);
        r.set(bhttp::field::accept_encoding, "gzip");
        for (const auto& [k, v] : req.headers) r.set(k, v);
        if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
            r.body() = req.body;
            r.prepare_payload();
        }
        lowest.expires_at(std::min(deadline, steady::now() + opts.io_timeout));
        auto [wec, wn] = co_await bhttp::async_write(s, r, nothrow);
        if (wec) co_return classify_io(wec);

        beast::flat_buffer buffer;
        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(opts.max_response_bytes);
        parser.header_limit(64 * 1024);
        if (req.method == "HEAD") parser.skip(true);
        lowest.expires_at(std::min(deadline, steady::now() + opts.io_timeout));
        auto [rec, rn] = co_await bhttp::async_read(s, buffer, parser, nothrow);
        if (rec) co_return classify_io(rec);
        auto msg = parser.release();
        keep_alive = msg.keep_alive() && buffer.size() == 0;
        response out;
        out.status = msg.result_int();
        for (const auto& f : msg) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        std::string_view enc = out.header("Content-Encoding");
        if (enc.empty() || iequals(enc, "identity")) {
            out.body = std::move(msg.body());
        } else if (iequals(enc, "gzip")) {
            auto plain = gunzip(msg.body(), opts.max_response_bytes);
            if (!plain) co_return plain.error();
            out.body = std::move(*plain);
        } else {
            co_return make_error_code(errc::bad_encoding);
        }
        if (out.status >= 300 && out.status < 400) co_return make_error_code(errc::redirect_not_followed);
        co_return out;
    }
};

client::client(net::any_io_executor ex, client_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(opts)))
{
}

client::~client() = default;

void client::set_resolve(std::vector<config::resolve_entry> entries)
{
    std::lock_guard lock(impl_->mutex);
    impl_->opts.resolve = std::move(entries);
}

client::stats client::counters() const
{
    std::lock_guard lock(impl_->mutex);
    return impl_->counters;
}

awaitable<result<response>> client::send(request req, host_policy policy, std::string ca_file)
{
    auto self = impl_;
    co_await net::this_coro::throw_if_cancelled(false);
    auto on = co_await net::this_coro::executor;
    if (auto ec = check_url(req.target, policy)) co_return ec;
    const auto deadline = steady::now() + self->opts.request_timeout;
    const std::string k = self->key(req.target, ca_file);
    {
        std::lock_guard lock(self->mutex);
        ++self->counters.requests;
    }
    // A pooled connection may have been closed by the server meanwhile: on a failure before any
    // response on a reused connection, try once more on a fresh one.
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto c = attempt == 0 ? self->take_idle(k, on) : nullptr;
        if (c) {
            // The connection may have been opened under another policy (the token URL's host is
            // allowed literally): judge the address it is connected to under this one.
            beast::error_code ec;
            auto remote = c->lowest().socket().remote_endpoint(ec);
            if (ec) {
                c.reset();
            } else if (auto pec = check_resolved(req.target.host, {remote.address()}, policy)) {
                self->give_back(k, std::move(c));
                co_return pec;
            }
        }
        const bool reused = c != nullptr;
        if (!c) {
            auto opened = co_await self->open(req.target, policy, ca_file, deadline);
            if (!opened) co_return opened.error();
            c = std::move(*opened);
        }
        bool keep_alive = false;
        // (Not a ?: with two co_awaits: g++ 12 destroys the result of such an expression early.)
        result<response> r = make_error_code(errc::connection_lost);
        if (c->tls) r = co_await self->exchange(*c->tls, c->lowest(), req, deadline, keep_alive);
        else r = co_await self->exchange(*c->plain, c->lowest(), req, deadline, keep_alive);
        if (!r && reused && r.error() == make_error_code(errc::connection_lost)) continue;
        if (r && keep_alive) self->give_back(k, std::move(c));
        co_return r;
    }
    co_return make_error_code(errc::connection_lost);
}

}  // namespace rostersync::http
