#include "support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>

namespace rostersync::test {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

http_result http_request(const std::string& host, unsigned short port, const std::string& method,
                         const std::string& target, const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::chrono::milliseconds timeout)
{
    http_result out;
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.method_string(method);
    req.set(http::field::host, host + ":" + std::to_string(port));
    req.set(http::field::user_agent, "rostersync-test");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    if (!body.empty() || method == "POST" || method == "PUT") req.prepare_payload();
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (method == "HEAD") parser.skip(true);
    beast::flat_buffer buffer;
    beast::error_code result;

    stream.expires_after(timeout);
    stream.async_connect(tcp::endpoint(net::ip::make_address(host), port), [&](beast::error_code ec) {
        if (ec) {
            result = ec;
            return;
        }
        http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
            if (ec) {
                result = ec;
                return;
            }
            http::async_read(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
                result = ec;
            });
        });
    });
    ioc.run();
    if (result) {
        out.error = result.message();
        return out;
    }
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    for (const auto& f : res) {
        std::string name(f.name_string());
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        out.headers[name] = std::string(f.value());
    }
    return out;
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
