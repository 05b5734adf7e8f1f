// The daemon's HTTP server, in process on 127.0.0.1:0, driven by a real HTTP client.
#include "app/http_server.hpp"

#include "support/http_client.hpp"
#include "support/prom_text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace rostersync::app {
namespace {

class HttpServer : public testing::Test {
protected:
    void start(http_server_options opts = {})
    {
        opts.listen = {"127.0.0.1", 0};
        server = std::make_unique<http_server>(ioc, opts, registry);
        server->route("GET", "/healthz", [](const http_request&) { return http_response{.body = "ok\n"}; });
        server->route("GET", "/metrics", [this](const http_request&) {
            return http_response{.body = registry.serialize_text(),
                                 .content_type = "text/plain; version=0.0.4; charset=utf-8"};
        });
        server->route("POST", "/echo", [](const http_request& r) {
            return http_response{.body = r.method + " " + r.target + " " + r.body};
        });
        server->route("GET", "/boom", [](const http_request&) -> http_response {
            throw std::runtime_error("handler bug");
        });
        // Beast refuses a body on a 204: building the reply throws, after the handler returned.
        server->route("GET", "/bad204", [](const http_request&) {
            return http_response{.status = 204, .body = "not allowed"};
        });
        auto ep = server->listen();
        ASSERT_TRUE(ep) << ep.error().message();
        port = ep->port();
        net::co_spawn(server->executor(), server->run(), [this](std::exception_ptr e) {
            run_done.set_value(e == nullptr);
        });
        thread = std::thread([this] { ioc.run(); });
    }

    void TearDown() override
    {
        if (server) {
            server->stop();
            auto done = run_done.get_future();
            EXPECT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready)
                << "run() did not complete after stop()";
        }
        ioc.stop();
        if (thread.joinable()) thread.join();
    }

    test::http_result get(const std::string& target) { return test::http_get("127.0.0.1", port, target); }

    net::io_context ioc;
    metrics::registry registry;
    std::unique_ptr<http_server> server;
    std::promise<bool> run_done;
    std::thread thread;
    unsigned short port = 0;
};

TEST_F(HttpServer, ServesRoutesAnd404)
{
    start();
    auto ok = get("/healthz");
    EXPECT_EQ(ok.status, 200) << ok.error;
    EXPECT_EQ(ok.body, "ok\n");
    EXPECT_EQ(ok.headers["content-type"], "text/plain; charset=utf-8");
    auto missing = get("/nope");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(get("/healthz?verbose=1").status, 200);  // the query is not part of the path
}

TEST_F(HttpServer, MethodNotAllowedNamesAllowedMethods)
{
    start();
    auto r = test::http_request("127.0.0.1", port, "DELETE", "/healthz");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.headers["allow"], "GET, HEAD");
    auto echo = test::http_request("127.0.0.1", port, "POST", "/echo?x=1", "hello");
    EXPECT_EQ(echo.status, 200);
    EXPECT_EQ(echo.body, "POST /echo?x=1 hello");
}

TEST_F(HttpServer, HeadHasLengthButNoBody)
{
    start();
    auto r = test::http_request("127.0.0.1", port, "HEAD", "/healthz");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["content-length"], "3");
    EXPECT_TRUE(r.body.empty());
}

TEST_F(HttpServer, HandlerExceptionIs500AndServerStaysUp)
{
    start();
    EXPECT_EQ(get("/boom").status, 500);
    EXPECT_EQ(get("/bad204").status, 500);
    EXPECT_EQ(get("/healthz").status, 200);
    // TearDown's stop() must still see every connection deregistered and run() complete.
}

TEST_F(HttpServer, OversizedBodyGets413AndServerStaysUp)
{
    start({.max_body_bytes = 1024});
    std::string big(100 * 1024, 'x');
    auto r = test::http_request("127.0.0.1", port, "POST", "/echo", big);
    EXPECT_EQ(r.status, 413) << r.error;
    EXPECT_EQ(r.body, "request body too large\n");
    EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(HttpServer, OversizedHeaderGets431AndServerStaysUp)
{
    start({.max_header_bytes = 2048});
    auto r = test::http_request("127.0.0.1", port, "GET", "/healthz", "",
                                {{"X-Filler", std::string(8192, 'a')}});
    EXPECT_EQ(r.status, 431) << r.error;
    EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(HttpServer, GarbageGets400)
{
    start();
    auto raw = test::http_raw("127.0.0.1", port, "NOT HTTP AT ALL\r\n\r\n");
    EXPECT_TRUE(raw.starts_with("HTTP/1.1 400")) << raw;
    EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection)
{
    start();
    auto raw = test::http_raw("127.0.0.1", port,
                              "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(raw.find("HTTP/1.1 200"), 0u) << raw;
    EXPECT_NE(raw.find("HTTP/1.1 404"), std::string::npos);
    EXPECT_NE(raw.rfind("HTTP/1.1 200"), 0u);
}

TEST_F(HttpServer, ConnectionCapClosesExtraConnections)
{
    start({.max_connections = 1});
    // Hold one connection open by sending half a request from another thread's client.
    net::io_context client;
    net::ip::tcp::socket held(client);
    held.connect({net::ip::make_address("127.0.0.1"), port});
    net::write(held, net::buffer(std::string("GET /healthz HTTP/1.1\r\n")));
    // The held connection has been counted once a request on a second connection is refused.
    test::http_result r;
    for (int i = 0; i < 50 && r.status == 0 && r.error.empty(); ++i) r = get("/healthz");
    EXPECT_EQ(r.status, 0) << "a second connection should have been closed";
    held.close();
    // Once the held connection is gone, requests succeed again (the server notices the close).
    test::http_result after;
    for (int i = 0; i < 200 && after.status != 200; ++i) after = get("/healthz");
    EXPECT_EQ(after.status, 200);
    std::string error;
    auto doc = test::parse_prom_text(registry.serialize_text(), error);
    EXPECT_GE(doc.value("rostersync_http_connections_rejected_total").value_or(0), 1.0);
}

TEST_F(HttpServer, CountsRequestsByRouteAndCode)
{
    start();
    get("/healthz");
    get("/healthz");
    get("/nope");
    auto r = get("/metrics");
    ASSERT_EQ(r.status, 200);
    std::string error;
    auto doc = test::parse_prom_text(r.body, error);
    ASSERT_TRUE(error.empty()) << error;
    EXPECT_EQ(doc.value("rostersync_http_requests_total", {{"route", "/healthz"}, {"code", "200"}}), 2.0);
    EXPECT_EQ(doc.value("rostersync_http_requests_total", {{"route", "other"}, {"code", "404"}}), 1.0);
}

TEST_F(HttpServer, StopClosesIdleKeepAliveConnectionsAndRunCompletes)
{
    start();
    net::io_context client;
    net::ip::tcp::socket idle(client);
    idle.connect({net::ip::make_address("127.0.0.1"), port});
    net::write(idle, net::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")));
    std::string got;
    boost::system::error_code ec;
    std::array<char, 1024> buf{};
    // read the first response; the connection then idles in keep-alive
    while (got.find("ok\n") == std::string::npos && !ec) {
        auto n = idle.read_some(net::buffer(buf), ec);
        got.append(buf.data(), n);
    }
    ASSERT_NE(got.find("HTTP/1.1 200"), std::string::npos);
    server->stop();
    // the server closes the idle connection: the read ends with EOF, not a hang
    auto n = idle.read_some(net::buffer(buf), ec);
    EXPECT_EQ(n, 0u);
    EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
}

TEST(HttpServerListen, AddressInUseIsAnError)
{
    net::io_context ioc;
    metrics::registry reg;
    http_server a(ioc, {.listen = {"127.0.0.1", 0}}, reg);
    auto ep = a.listen();
    ASSERT_TRUE(ep);
    metrics::registry reg2;
    http_server b(ioc, {.listen = {"127.0.0.1", ep->port()}}, reg2);
    auto second = b.listen();
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error(), net::error::address_in_use);
}

}  // namespace
}  // namespace rostersync::app
