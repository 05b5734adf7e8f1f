#include "support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>

namespace rostersync::test {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

template <class Stream>
void exchange(Stream& stream, net::io_context& ioc, const call_options& o, http_result& out)
{
    std::string host = o.host_header.empty() ? o.address + ":" + std::to_string(o.port) : o.host_header;
    http::request<http::string_body> req{http::string_to_verb(o.method), o.target, 11};
    req.method_string(o.method);
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "rostersync-test");
    for (const auto& [k, v] : o.headers) req.set(k, v);
    req.body() = o.body;
    if (!o.body.empty() || o.method == "POST" || o.method == "PUT") req.prepare_payload();
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (o.method == "HEAD") parser.skip(true);
    beast::flat_buffer buffer;
    beast::error_code result;
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(o.timeout);
    auto do_request = [&] {
        http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
            if (ec) {
                result = ec;
                return;
            }
            http::async_read(stream, buffer, parser, [&](beast::error_code ec2, std::size_t) { result = ec2; });
        });
    };
    lowest.async_connect(tcp::endpoint(net::ip::make_address(o.address), o.port), [&](beast::error_code ec) {
        if (ec) {
            result = ec;
            return;
        }
        if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
            do_request();
        } else {
            stream.async_handshake(net::ssl::stream_base::client, [&](beast::error_code hec) {
                if (hec) {
                    result = hec;
                    return;
                }
                do_request();
            });
        }
    });
    ioc.run();
    if (result) {
        out.error = result.message();
        return;
    }
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    for (const auto& f : res) {
        std::string name(f.name_string());
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        out.headers[name] = std::string(f.value());
    }
}

}  // namespace

http_result http_call(const call_options& o)
{
    http_result out;
    net::io_context ioc;
    if (!o.tls) {
        beast::tcp_stream stream(ioc);
        exchange(stream, ioc, o, out);
        return out;
    }
    std::string name = o.host_header.empty() ? o.address : o.host_header.substr(0, o.host_header.rfind(':'));
    net::ssl::context ctx(net::ssl::context::tls_client);
    beast::error_code ec;
    ctx.add_certificate_authority(net::buffer(o.ca_pem), ec);
    if (ec) {
        out.error = "bad CA: " + ec.message();
        return out;
    }
    ctx.set_verify_mode(net::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
    stream.set_verify_callback(net::ssl::host_name_verification(name));
    exchange(stream, ioc, o, out);
    return out;
}

http_result http_request(const std::string& host, unsigned short port, const std::string& method,
                         const std::string& target, const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::chrono::milliseconds timeout)
{
    return http_call({.address = host, .port = port, .method = method, .target = target, .body = body,
                      .headers = headers, .timeout = timeout});
}

std::string http_raw(const std::string& host, unsigned short port, const std::string& bytes,
                     std::chrono::milliseconds timeout)
{
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    std::string received;
    std::array<char, 4096> buf{};
    std::function<void()> read_more = [&] {
        stream.async_read_some(net::buffer(buf), [&](beast::error_code ec, std::size_t n) {
            received.append(buf.data(), n);
            if (!ec) read_more();
        });
    };
    stream.expires_after(timeout);
    stream.async_connect(tcp::endpoint(net::ip::make_address(host), port), [&](beast::error_code ec) {
        if (ec) return;
        read_more();
        net::async_write(stream, net::buffer(bytes), [&](beast::error_code, std::size_t) {});
    });
    ioc.run();
    return received;
}

}  // namespace rostersync::test
