// The daemon's HTTPS client against the simulated platform over real sockets.
#include "http/client.hpp"
#include "http/error.hpp"
#include "lms_sim/server.hpp"
#include "lms_sim/tls_ca.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace rostersync::http {
namespace {

using namespace std::chrono_literals;

class HttpClient : public testing::Test {
protected:
    void start(lms_sim::server_options o = {.tls = true})
    {
        o.sim.hosts = {{.name = "school.test"}, {.name = "other.test"}, {.name = "lms.school.test"}};
        sim_ = std::make_unique<lms_sim::server>(o);
        sim_->start();
        if (o.tls) ca_file_ = dir_.write("ca.pem", sim_->ca_pem()).string();
        course_ = sim_->call([](lms_sim::sim_core& c) { return c.state().w.add_course({.size = 200}).id; });
    }

    client_options options()
    {
        client_options o;
        for (const char* h : {"school.test", "other.test", "lms.school.test"}) {
            o.resolve.push_back({.host = h, .port = sim_->port(), .address = "127.0.0.1", .address_port = sim_->port()});
        }
        return o;
    }

    result<response> run(client& c, const std::string& text, host_policy policy, std::string ca)
    {
        auto u = parse_url(text);
        if (!u) return u.error();
        std::optional<result<response>> out;
        net::co_spawn(ioc_, c.send({.target = *u}, policy, ca), [&](std::exception_ptr e, result<response> r) {
            if (e) std::rethrow_exception(e);
            out = std::move(r);
        });
        ioc_.run();
        ioc_.restart();
        return *out;
    }

    result<response> get(client& c, const std::string& path, const std::string& host = "school.test")
    {
        return run(c, sim_->base_url(host) + path, policy_, ca_file_);
    }

    void fault(lms_sim::fault f)
    {
        sim_->call([f](lms_sim::sim_core& c) { c.state().faults.push_back(f); });
    }

    std::string roster() const { return "/api/lti/courses/" + std::to_string(course_) + "/names_and_roles"; }

    test::temp_dir dir_;
    net::io_context ioc_;
    std::unique_ptr<lms_sim::server> sim_;
    std::string ca_file_;
    std::uint64_t course_ = 0;
    host_policy policy_{.allowed_hosts = {"school.test", "other.test"}};
};

TEST_F(HttpClient, HttpsThroughTheResolveMapWithKeepAlive)
{
    start();
    client c(ioc_.get_executor(), options());
    auto r = get(c, "/_sim/state");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200u);
    auto again = get(c, "/_sim/state");
    ASSERT_TRUE(again);
    EXPECT_EQ(c.counters().connections_opened, 1);
    EXPECT_EQ(c.counters().connections_reused, 1);
    // A second host name is a second pool entry.
    ASSERT_TRUE(get(c, "/_sim/state", "other.test"));
    EXPECT_EQ(c.counters().connections_opened, 2);
}

TEST_F(HttpClient, GzipBodiesAreDecoded)
{
    start();
    client c(ioc_.get_executor(), options());
    sim_->call([](lms_sim::sim_core& core) {
        for (int i = 0; i < 20; ++i) core.state().w.add_course({.size = 3});
    });
    auto state = get(c, "/_sim/state");  // several KB: compressed by the simulator
    ASSERT_TRUE(state);
    EXPECT_EQ(state->header("content-encoding"), "gzip");
    boost::system::error_code ec;
    boost::json::parse(state->body, ec);
    EXPECT_FALSE(ec) << state->body.substr(0, 80);
}

TEST_F(HttpClient, CertificateForAnotherNameIsRefused)
{
    auto wrong = lms_sim::make_tls_material({"nothere.test"});
    start({.tls = true, .tls_given = wrong});
    ca_file_ = dir_.write("ca.pem", wrong.ca_cert_pem).string();
    client c(ioc_.get_executor(), options());
    auto r = get(c, "/_sim/state");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(errc::tls_failed));
    EXPECT_FALSE(is_retryable(r.error()));
}

TEST_F(HttpClient, UntrustedCaIsRefused)
{
    start();
    auto other = dir_.write("other-ca.pem", lms_sim::make_tls_material({"x.test"}).ca_cert_pem).string();
    client c(ioc_.get_executor(), options());
    auto r = run(c, sim_->base_url("school.test") + "/_sim/state", policy_, other);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(errc::tls_failed));
    // and a CA file that does not exist says so the same way
    auto missing = run(c, sim_->base_url("school.test") + "/_sim/state", policy_, "/nonexistent/ca.pem");
    EXPECT_EQ(missing.error(), make_error_code(errc::tls_failed));
}

TEST_F(HttpClient, PolicyRefusesBeforeConnecting)
{
    start();
    client c(ioc_.get_executor(), options());
    auto evil = run(c, "https://evil.test:" + std::to_string(sim_->port()) + "/x", policy_, ca_file_);
    EXPECT_EQ(evil.error(), make_error_code(errc::host_not_allowed));
    auto plain = run(c, "http://school.test:" + std::to_string(sim_->port()) + "/x", policy_, ca_file_);
    EXPECT_EQ(plain.error(), make_error_code(errc::scheme_not_allowed));
    // Listed only through a wildcard, a name that maps to loopback is refused.
    auto wildcard = run(c, sim_->base_url("lms.school.test") + "/x", {.allowed_hosts = {"*.school.test"}}, ca_file_);
    EXPECT_EQ(wildcard.error(), make_error_code(errc::private_address));
    EXPECT_EQ(c.counters().connections_opened, 0);
    auto seen = sim_->call([](lms_sim::sim_core& core) { return core.state().log.size(); });
    EXPECT_EQ(seen, 0u);  // nothing reached the platform
}

TEST_F(HttpClient, PlainHttpWhenAllowed)
{
    start({.tls = false});
    client c(ioc_.get_executor(), options());
    auto r = run(c, sim_->base_url("school.test") + "/_sim/state", {.allowed_hosts = {"school.test"}, .allow_http = true}, "");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200u);
}

TEST_F(HttpClient, RedirectsAreNotFollowed)
{
    start();
    client c(ioc_.get_executor(), options());
    fault({.what = lms_sim::fault::kind::status, .status = 302});
    auto r = get(c, roster());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(errc::redirect_not_followed));
    auto seen = sim_->call([](lms_sim::sim_core& core) { return core.state().log.size(); });
    EXPECT_EQ(seen, 1u);  // elsewhere.test was never asked
}

TEST_F(HttpClient, ResponseSizeLimit)
{
    start();
    auto o = options();
    o.max_response_bytes = 200;
    client c(ioc_.get_executor(), o);
    auto r = get(c, "/_sim/state");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(errc::response_too_large));
}

TEST_F(HttpClient, DeadlinesResetsAndTruncation)
{
    start();
    auto o = options();
    o.io_timeout = 300ms;
    client c(ioc_.get_executor(), o);
    fault({.what = lms_sim::fault::kind::slow, .delay_ms = 5000});
    auto slow = get(c, roster());
    ASSERT_FALSE(slow);
    EXPECT_EQ(slow.error(), make_error_code(errc::timeout));
    EXPECT_TRUE(is_retryable(slow.error()));
    fault({.what = lms_sim::fault::kind::reset});
    auto reset = get(c, roster());
    ASSERT_FALSE(reset);
    EXPECT_EQ(reset.error(), make_error_code(errc::connection_lost));
    fault({.what = lms_sim::fault::kind::truncate});
    auto truncated = get(c, roster());
    ASSERT_FALSE(truncated);
    EXPECT_EQ(truncated.error(), make_error_code(errc::connection_lost));
    EXPECT_TRUE(get(c, roster()));  // and the next request is fine
}

TEST_F(HttpClient, RealNameResolutionForALiteralName)
{
    // No resolve entry: "localhost" goes through getaddrinfo (on its own thread), resolves to
    // loopback, and is allowed because it is listed literally.
    start();
    client c(ioc_.get_executor(), options());
    auto r = run(c, "https://localhost:" + std::to_string(sim_->port()) + "/_sim/state",
                 {.allowed_hosts = {"localhost"}}, ca_file_);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200u);
    // a name that does not resolve is a retryable resolve failure (or a timeout), never a hang
    auto o = options();
    o.resolve_timeout = std::chrono::seconds(3);
    client d(ioc_.get_executor(), o);
    auto bad = run(d, "https://no-such-host.invalid/x", {.allowed_hosts = {"no-such-host.invalid"}}, ca_file_);
    ASSERT_FALSE(bad);
    EXPECT_TRUE(bad.error() == make_error_code(errc::resolve_failed) || bad.error() == make_error_code(errc::timeout))
        << bad.error().message();
    EXPECT_TRUE(is_retryable(bad.error()));
}

TEST_F(HttpClient, ConnectionRefused)
{
    start();
    auto o = options();
    o.resolve = {{.host = "school.test", .port = sim_->port(), .address = "127.0.0.1", .address_port = 1}};
    client c(ioc_.get_executor(), o);
    auto r = get(c, "/_sim/state");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(errc::connect_failed));
    EXPECT_TRUE(is_retryable(r.error()));
}

}  // namespace
}  // namespace rostersync::http
