// `rostersync` (fetch, keygen, jwks) and the daemon's JWKS endpoint, as an operator runs them.
#include "lms_sim/server.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <sstream>

namespace rostersync::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

std::string slurp(const std::filesystem::path& p)
{
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class Cli : public testing::Test {
protected:
    void SetUp() override
    {
        // A key made by the CLI itself, registered with the simulated platform by its JWK.
        daemon_process k(ROSTERSYNC_CLI_PATH, {"keygen", "--out", (dir_.path() / "tool-key.pem").string(), "--kid", "k1"});
        ASSERT_EQ(k.wait_exit(30s), 0) << k.log_text();
        std::smatch m;
        std::string out = k.log_text();
        ASSERT_TRUE(std::regex_search(out, m, std::regex(R"((\{"kty".*\}))"))) << out;
        jwk_ = m[1];

        lms_sim::server_options o{.tls = true};
        o.sim.hosts = {{.name = "school.test"}};
        sim_ = std::make_unique<lms_sim::server>(o);
        sim_->start();
        auto jwks = "{\"keys\":[" + jwk_ + "]}";
        course_ = sim_->call([&](lms_sim::sim_core& c) {
            c.register_client({.client_id = "10000000000001", .jwks_json = jwks});
            return c.state().w.add_course({.size = 75, .test_student = false}).id;
        });
        dir_.write("ca.pem", sim_->ca_pem());
        auto [from, to] = sim_->resolve_entry("school.test");
        config_ = dir_.write("rostersync.toml",
                             "[http]\nlisten = \"127.0.0.1:0\"\n[http.resolve]\n\"" + from + "\" = \"" + to + "\"\n"
                             "[[platforms]]\nname = \"school\"\nissuer = \"https://canvas.instructure.com\"\n"
                             "client_id = \"10000000000001\"\ntoken_url = \"" + sim_->base_url("school.test") +
                             "/login/oauth2/token\"\nprivate_key_file = \"tool-key.pem\"\nkey_id = \"k1\"\n"
                             "ca_file = \"ca.pem\"\nallowed_hosts = [\"school.test\"]\n");
    }

    std::string url(std::uint64_t id) const
    {
        return sim_->base_url("school.test") + "/api/lti/courses/" + std::to_string(id) + "/names_and_roles";
    }

    temp_dir dir_;
    std::string jwk_;
    std::unique_ptr<lms_sim::server> sim_;
    std::uint64_t course_ = 0;
    std::filesystem::path config_;
};

TEST_F(Cli, KeygenWritesAPrivateFileAndNeverOverwrites)
{
    struct stat st {};
    ASSERT_EQ(::stat((dir_.path() / "tool-key.pem").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_NE(slurp(dir_.path() / "tool-key.pem").find("BEGIN PRIVATE KEY"), std::string::npos);
    auto v = json::parse(jwk_).as_object();
    EXPECT_EQ(v["kid"].as_string(), "k1");
    EXPECT_EQ(v["alg"].as_string(), "RS256");
    daemon_process again(ROSTERSYNC_CLI_PATH, {"keygen", "--out", (dir_.path() / "tool-key.pem").string()});
    EXPECT_EQ(again.wait_exit(30s), 1);
    EXPECT_NE(again.log_text().find("never overwritten"), std::string::npos);
    daemon_process es(ROSTERSYNC_CLI_PATH, {"keygen", "--out", (dir_.path() / "ec.pem").string(), "--alg", "ES256"});
    EXPECT_EQ(es.wait_exit(30s), 0);
    EXPECT_NE(es.log_text().find("\"crv\":\"P-256\""), std::string::npos) << es.log_text();
}

TEST_F(Cli, FetchPrintsTheRosterWithProgress)
{
    daemon_process p(ROSTERSYNC_CLI_PATH, {"fetch", "--config", config_.string(), "--platform", "school", "--url", url(course_)});
    ASSERT_EQ(p.wait_exit(60s), 0) << p.log_text();
    auto text = p.log_text();
    EXPECT_NE(text.find("pages 2, members 75"), std::string::npos) << text;
    EXPECT_NE(text.find("75 members in 2 pages"), std::string::npos) << text;
    EXPECT_NE(text.find("USER_ID"), std::string::npos);
    auto truth = sim_->call([&](lms_sim::sim_core& c) { return c.state().w.snapshot_of(course_); });
    for (const auto& [uid, m] : truth) EXPECT_NE(text.find(uid), std::string::npos) << uid;
}

TEST_F(Cli, FetchJsonAndRoleFilter)
{
    daemon_process p(ROSTERSYNC_CLI_PATH, {"fetch", "--config", config_.string(), "--platform", "school", "--url", url(course_),
                                           "--format", "json", "--role", "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"});
    ASSERT_EQ(p.wait_exit(60s), 0) << p.log_text();
    std::string doc;
    for (const auto& l : p.log_lines())
        if (l.starts_with("{")) doc = l;
    ASSERT_FALSE(doc.empty()) << p.log_text();
    auto v = json::parse(doc).as_object();
    auto expected = sim_->call([&](lms_sim::sim_core& c) {
        std::size_t n = 0;
        for (auto& [uid, m] : c.state().w.snapshot_of(course_))
            n += m.enrollments.count(lms_sim::enrollment::teacher) + m.enrollments.count(lms_sim::enrollment::ta);
        return n;
    });
    EXPECT_EQ(v["members"].as_array().size(), expected);
}

TEST_F(Cli, FetchFailuresAreClassified)
{
    daemon_process gone(ROSTERSYNC_CLI_PATH, {"fetch", "--config", config_.string(), "--platform", "school", "--url", url(999999)});
    EXPECT_EQ(gone.wait_exit(60s), 1);
    EXPECT_NE(gone.log_text().find("failed (not found)"), std::string::npos) << gone.log_text();
    daemon_process evil(ROSTERSYNC_CLI_PATH, {"fetch", "--config", config_.string(), "--platform", "school", "--url",
                                              "https://evil.test/api/lti/courses/1/names_and_roles"});
    EXPECT_EQ(evil.wait_exit(60s), 1);
    EXPECT_NE(evil.log_text().find("allowed_hosts"), std::string::npos) << evil.log_text();
    daemon_process usage(ROSTERSYNC_CLI_PATH, {"fetch", "--config", config_.string()});
    EXPECT_EQ(usage.wait_exit(30s), 64);
    EXPECT_NE(usage.log_text().find("--platform is required"), std::string::npos);
}

TEST_F(Cli, DaemonServesTheJwksAndRefusesAnOpenKey)
{
    daemon_process d(ROSTERSYNCD_PATH, {"--config", config_.string()});
    ASSERT_TRUE(d.wait_for_notify("READY=1", 30s)) << d.log_text();
    auto line = d.wait_for_log("msg=ready", 5s);
    ASSERT_TRUE(line);
    auto address = logfmt_field(*line, "http_address");
    auto port = static_cast<unsigned short>(std::stoi(address.substr(address.rfind(':') + 1)));
    auto r = http_get("127.0.0.1", port, "/.well-known/jwks.json");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["content-type"], "application/json");
    auto keys = json::parse(r.body).as_object()["keys"].as_array();
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].as_object()["kid"].as_string(), "k1");
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(20s), 0);

    ::chmod((dir_.path() / "tool-key.pem").c_str(), 0644);
    daemon_process check(ROSTERSYNCD_PATH, {"--check-config", config_.string()});
    EXPECT_EQ(check.wait_exit(30s), 78);
    EXPECT_NE(check.log_text().find("chmod 600"), std::string::npos) << check.log_text();
    daemon_process start(ROSTERSYNCD_PATH, {"--config", config_.string()});
    EXPECT_EQ(start.wait_exit(30s), 78);
}

}  // namespace
}  // namespace rostersync::test
