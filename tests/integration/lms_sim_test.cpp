// The simulated platform over real sockets: plain HTTP and HTTPS, in process and as the
// standalone binary, driven by a real HTTP client the way the daemon will drive it.
#include "lms_sim/jwt_verify.hpp"
#include "lms_sim/server.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>

namespace rostersync::lms_sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* client_id = "10000000000001";

double epoch_now()
{
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class SimServer : public testing::Test {
protected:
    static void SetUpTestSuite() { key_ = new rsa_key_pair(generate_rsa_key()); }
    static void TearDownTestSuite() { delete key_; }

    void start(bool tls)
    {
        server_options o{.tls = tls};
        o.sim.hosts = {{.name = "school.test"}, {.name = "other.test"}};
        sim_ = std::make_unique<server>(o);
        sim_->start();
        course_id_ = sim_->call([](sim_core& c) {
            c.register_client({.client_id = client_id, .public_key_pem = key_->public_pem});
            return c.state().w.add_course({.size = 120}).id;
        });
    }

    test::call_options at(const std::string& target, const std::string& host = "school.test")
    {
        return {.port = sim_->port(), .host_header = host + ":" + std::to_string(sim_->port()),
                .tls = sim_->scheme() == "https", .ca_pem = sim_->ca_pem(), .target = target};
    }

    std::string token(const std::string& host = "school.test")
    {
        std::string aud = sim_->base_url(host) + "/login/oauth2/token";
        double now = epoch_now();
        json::object claims{{"iss", client_id}, {"sub", client_id}, {"aud", aud}, {"iat", now}, {"exp", now + 300}, {"jti", "j1"}};
        auto jwt = sign_rs256(R"({"alg":"RS256","typ":"JWT"})", json::serialize(claims), key_->private_pem);
        auto o = at("/login/oauth2/token", host);
        o.method = "POST";
        o.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
        o.body = "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                 "&client_assertion=" + jwt + "&scope=https%3A%2F%2Fpurl.imsglobal.org%2Fspec%2Flti-nrps%2Fscope%2Fcontextmembership.readonly";
        auto r = test::http_call(o);
        EXPECT_EQ(r.status, 200) << r.error << r.body;
        if (r.status != 200) return {};
        return std::string(json::parse(r.body).as_object()["access_token"].as_string());
    }

    /// Follows rel="next" from the first page; returns every user_id seen.
    std::vector<std::string> fetch_all(const std::string& tok, int& pages)
    {
        std::vector<std::string> ids;
        std::string target = "/api/lti/courses/" + std::to_string(course_id_) + "/names_and_roles?limit=50";
        std::regex next("<([^>]*)>; rel=\"next\"");
        pages = 0;
        while (!target.empty() && pages < 20) {
            auto o = at(target);
            o.headers = {{"Authorization", "Bearer " + tok}};
            auto r = test::http_call(o);
            EXPECT_EQ(r.status, 200) << r.error << r.body;
            if (r.status != 200) break;
            ++pages;
            EXPECT_EQ(r.headers["content-type"], "application/vnd.ims.lti-nrps.v2.membershipcontainer+json");
            EXPECT_FALSE(r.headers["x-rate-limit-remaining"].empty());
            auto body = json::parse(r.body);
            for (auto& m : body.as_object()["members"].as_array())
                ids.emplace_back(m.as_object()["user_id"].as_string());
            std::smatch mt;
            const std::string link = r.headers["link"];
            target.clear();
            if (std::regex_search(link, mt, next)) {
                std::string url = mt[1];
                target = url.substr(url.find('/', url.find("//") + 2));
            }
        }
        return ids;
    }

    static rsa_key_pair* key_;
    std::unique_ptr<server> sim_;
    std::uint64_t course_id_ = 0;
};

rsa_key_pair* SimServer::key_ = nullptr;

TEST_F(SimServer, PlainHttpTokenAndEveryPage)
{
    start(false);
    auto tok = token();
    ASSERT_FALSE(tok.empty());
    int pages = 0;
    auto ids = fetch_all(tok, pages);
    EXPECT_EQ(pages, 3);
    EXPECT_EQ(ids.size(), 121u);
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 121u);
    auto counts = sim_->call([](sim_core& c) {
        int tokens = 0, pages = 0;
        for (const auto& r : c.state().log) {
            tokens += r.route == "token";
            pages += r.route == "nrps" && r.status == 200;
        }
        return std::pair{tokens, pages};
    });
    EXPECT_EQ(counts, (std::pair{1, 3}));
}

TEST_F(SimServer, HttpsVerifiesAgainstTheGeneratedCa)
{
    start(true);
    auto tok = token();
    ASSERT_FALSE(tok.empty());
    int pages = 0;
    EXPECT_EQ(fetch_all(tok, pages).size(), 121u);
    // Both host names are in the certificate; an unlisted one fails verification.
    EXPECT_EQ(test::http_call(at("/_sim/state", "other.test")).status, 200);
    auto bad = test::http_call(at("/_sim/state", "evil.test"));
    EXPECT_EQ(bad.status, 0);
    EXPECT_FALSE(bad.error.empty());
    // A client that does not trust the CA fails too.
    auto untrusted = at("/_sim/state");
    untrusted.ca_pem = make_tls_material({"x.test"}).ca_cert_pem;
    EXPECT_EQ(test::http_call(untrusted).status, 0);
}

TEST_F(SimServer, FaultsOnTheWire)
{
    start(false);
    auto tok = token();
    auto page = [&] {
        auto o = at("/api/lti/courses/" + std::to_string(course_id_) + "/names_and_roles");
        o.headers = {{"Authorization", "Bearer " + tok}};
        return test::http_call(o);
    };
    auto add = [&](const std::string& fault_json) {
        auto o = at("/_sim/faults");
        o.method = "POST";
        o.body = fault_json;
        EXPECT_EQ(test::http_call(o).status, 200);
    };
    add(R"({"kind":"reset"})");
    auto reset = page();
    EXPECT_EQ(reset.status, 0);
    EXPECT_FALSE(reset.error.empty());
    add(R"({"kind":"truncate"})");
    auto truncated = page();
    EXPECT_EQ(truncated.status, 0) << "a truncated body must not parse as a whole response";
    add(R"({"kind":"status","status":503})");
    EXPECT_EQ(page().status, 503);
    add(R"({"kind":"slow","delay_ms":200})");
    EXPECT_EQ(page().status, 200);
    add(R"({"kind":"malformed"})");
    auto bad = page();
    EXPECT_EQ(bad.status, 200);
    boost::system::error_code ec;
    json::parse(bad.body, ec);
    EXPECT_TRUE(ec);
    EXPECT_EQ(page().status, 200);  // every fault was used up

    auto log = test::http_call(at("/_sim/requests"));
    ASSERT_EQ(log.status, 200);
    std::vector<std::string> faults;
    auto entries = json::parse(log.body);
    for (auto& r : entries.as_array()) {
        auto f = std::string(r.as_object().at("fault").as_string());
        if (!f.empty()) faults.push_back(f);
    }
    EXPECT_EQ(faults, (std::vector<std::string>{"reset", "truncate", "status", "slow", "malformed"}));
}

TEST_F(SimServer, StopIsPromptEvenWithASlowReplyPending)
{
    start(false);
    sim_->call([](sim_core& c) { c.state().faults.push_back({.what = fault::kind::slow, .delay_ms = 60'000}); });
    auto tok = token();
    std::thread client([&] {
        auto o = at("/api/lti/courses/" + std::to_string(course_id_) + "/names_and_roles");
        o.headers = {{"Authorization", "Bearer " + tok}};
        o.timeout = 120s;
        test::http_call(o);
    });
    // The slow request is in the log once the server has taken it.
    for (int i = 0; i < 1000; ++i) {
        if (sim_->call([](sim_core& c) { return c.state().log.size(); }) >= 2) break;
        std::this_thread::yield();
    }
    auto t0 = std::chrono::steady_clock::now();
    sim_->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
    client.join();
}

TEST(SimBinary, StartsPrintsUrlsServesAndStops)
{
    test::temp_dir dir;
    auto ca = (dir.path() / "ca.pem").string();
    test::daemon_process p(ROSTERSYNC_LMS_SIM_PATH,
                           {"--tls", "--ca-out", ca, "--host", "school.test", "--spec-host", "spec.test",
                            "--courses", "2", "--course-size", "10"});
    ASSERT_TRUE(p.wait_for_log("ready", 30s)) << p.log_text();
    auto text = p.log_text();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(text, m, std::regex("listening on https://127\\.0\\.0\\.1:([0-9]+)"))) << text;
    unsigned short port = static_cast<unsigned short>(std::stoi(m[1]));
    EXPECT_NE(text.find("resolve \"school.test:" + std::string(m[1]) + "\" = \"127.0.0.1:" + std::string(m[1]) + "\""),
              std::string::npos) << text;
    std::ifstream in(ca);
    std::string ca_pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_NE(ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
    auto r = test::http_call({.port = port, .host_header = "spec.test:" + std::string(m[1]), .tls = true,
                              .ca_pem = ca_pem, .target = "/_sim/state"});
    ASSERT_EQ(r.status, 200) << r.error;
    auto state = json::parse(r.body).as_object();
    EXPECT_EQ(state["courses"].as_array().size(), 2u);
    EXPECT_TRUE(state["hosts"].as_array()[1].as_object()["spec_mode"].as_bool());
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait_exit(20s), 0) << p.log_text();
}

TEST(SimBinary, BadArgumentsAre64)
{
    test::daemon_process p(ROSTERSYNC_LMS_SIM_PATH, {"--throttle", "sometimes"});
    EXPECT_EQ(p.wait_exit(20s), 64);
    EXPECT_NE(p.log_text().find("--throttle: off, 403 or 429"), std::string::npos);
}

}  // namespace
}  // namespace rostersync::lms_sim
