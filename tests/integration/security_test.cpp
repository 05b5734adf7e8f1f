// Security checks (README "Security") through the shipped binaries, against the simulated platform
// over HTTPS:
// - the URL guard refuses memberships URLs on other hosts, IP literals, localhost, link-local
//   addresses, userinfo and percent-encoding tricks, plain http, names that resolve to private
//   addresses, redirects and rel="next" links to other hosts: through `rostersync fetch` and
//   through the daemon's ingest (dead letters with reason url_not_allowed) and passes;
// - no request, with or without a token, reaches a host outside the platform's allowed_hosts
//   and token URL (the simulator plays those hosts too and logs every request it gets);
// - TLS: a CA the tool does not trust and a certificate for another name refuse the connection;
// - private key files readable by group or others are refused (exit 78);
// - the admin API wants its bearer token (401) and is off without a token file (404);
// - the daemon's log after a full sync with public privacy holds no access token, assertion,
//   email address or name of a simulated member.
#include "lms_sim/server.hpp"

#include "http/url.hpp"
#include "oauth/assertion.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/pipeline_env.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace rostersync::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* client_id = "10000000000001";

struct run_result {
    int rc = -1;
    std::string out;
};

/// Runs a binary to its end: exit code (-1 on a timeout) and stdout + stderr.
run_result run(
    const std::string& binary,
    const std::vector<std::string>& args,
    std::chrono::milliseconds timeout = 60s
)
{
    daemon_process p(binary, args);
    auto rc = p.wait_exit(timeout);
    return {rc.value_or(-1), p.log_text()};
}

/// The host name of a Host header ("school.test:443" → "school.test").
std::string host_name(const std::string& host_header)
{
    if (host_header.starts_with("[")) return host_header.substr(0, host_header.find(']') + 1);
    return host_header.substr(0, host_header.rfind(':'));
}

// ---------------------------------------------------------------------------------------------
// `rostersync fetch`: the simulator plays school.test (allowed), a.school.test (reached only
// through a wildcard, and resolving to 127.0.0.1), evil.test and elsewhere.test (served, never
// allowed).

class FetchSecurity : public testing::Test {
protected:
    void SetUp() override
    {
        lms_sim::server_options o{.tls = true};
        o.sim.hosts = {
            {.name = "school.test"},
            {.name = "a.school.test"},
            {.name = "evil.test"},
            {.name = "elsewhere.test"}};
        sim_ = std::make_unique<lms_sim::server>(o);
        sim_->start();
        auto key = oauth::generate_key("RS256", "k1");
        ASSERT_TRUE(key);
        dir_.write("tool-key.pem", key->private_pem, 0600);
        auto pub = key->public_pem;
        course_ = sim_->call([&](lms_sim::sim_core& c) {
            c.register_client({.client_id = client_id, .public_key_pem = pub});
            return c.state().w.add_course({.size = 12, .test_student = false}).id;
        });
        dir_.write("ca.pem", sim_->ca_pem());
        dir_.write("other-ca.pem", lms_sim::make_tls_material({"school.test"}).ca_cert_pem);
        config_ = write_config("rostersync.toml", "ca_file = \"ca.pem\"\n");
    }

    /// Platforms "school" (allowed_hosts = ["school.test"]) and "wild" (["*.school.test"]), both
    /// getting tokens from school.test; `tls` is added to both.
    std::filesystem::path write_config(const std::string& name, const std::string& tls)
    {
        std::string resolve;
        for (const char* h : {"school.test", "a.school.test", "evil.test", "elsewhere.test"}) {
            auto [from, to] = sim_->resolve_entry(h);
            resolve += "\"" + from + "\" = \"" + to + "\"\n";
        }
        const std::string common =
            "client_id = \"" + std::string(client_id) + "\"\ntoken_url = \"" +
            sim_->base_url("school.test") +
            "/login/oauth2/token\"\nprivate_key_file = \"tool-key.pem\"\nkey_id = \"k1\"\n" + tls;
        return dir_.write(
            name,
            "[http.resolve]\n" + resolve +
                "[[platforms]]\nname = \"school\"\nissuer = \"https://canvas.instructure.com\"\n" +
                common +
                "allowed_hosts = [\"school.test\"]\n"
                "[[platforms]]\nname = \"wild\"\nissuer = \"https://wild.instructure.com\"\n" +
                common + "allowed_hosts = [\"*.school.test\"]\n"
        );
    }

    std::string path() const
    {
        return "/api/lti/courses/" + std::to_string(course_) + "/names_and_roles";
    }
    std::string port() const { return std::to_string(sim_->port()); }

    run_result fetch(
        const std::string& url,
        const std::string& platform = "school",
        const std::filesystem::path& config = {}
    )
    {
        return run(
            ROSTERSYNC_CLI_PATH,
            {"fetch",
             "--config",
             (config.empty() ? config_ : config).string(),
             "--platform",
             platform,
             "--url",
             url}
        );
    }

    std::vector<lms_sim::request_record> requests()
    {
        return sim_->call([](lms_sim::sim_core& c) { return c.state().log; });
    }

    void clear_requests()
    {
        sim_->call([](lms_sim::sim_core& c) { c.state().log.clear(); });
    }

    void fault(lms_sim::fault f)
    {
        sim_->call([f](lms_sim::sim_core& c) { c.state().faults.push_back(f); });
    }

    /// Every request the simulator got went to school.test, tokens to the token URL only.
    void expect_only_allowed_hosts_reached()
    {
        for (const auto& r : requests()) {
            EXPECT_EQ(host_name(r.host), "school.test") << r.method << " " << r.host << r.target;
            if (r.route == "token") {
                EXPECT_EQ(r.target, "/login/oauth2/token");
            }
        }
    }

    temp_dir dir_;
    std::unique_ptr<lms_sim::server> sim_;
    std::uint64_t course_ = 0;
    std::filesystem::path config_;
};

TEST_F(FetchSecurity, UrlGuardRefusesBeforeAnyRequest)
{
    const std::string p = port();
    struct refused {
        std::string url;
        std::string why;  // in the error message
    };
    const std::vector<refused> cases{
        {"https://evil.test:" + p + path(), "allowed_hosts"},
        {"https://elsewhere.test:" + p + path(), "allowed_hosts"},
        {"https://school.test.evil.test:" + p + path(), "allowed_hosts"},
        {"https://evilschool.test:" + p + path(), "allowed_hosts"},
        {"https://127.0.0.1:" + p + path(), "allowed_hosts"},
        {"https://[::1]:" + p + path(), "allowed_hosts"},
        {"https://[::ffff:127.0.0.1]:" + p + path(), "allowed_hosts"},
        {"https://localhost:" + p + path(), "allowed_hosts"},
        {"https://169.254.169.254/latest/meta-data/iam/security-credentials/", "allowed_hosts"},
        {"https://[fe80::1]:" + p + path(), "allowed_hosts"},
        {"https://2130706433:" + p + path(), "not an absolute http(s) URL"},
        {"https://0x7f.0.0.1:" + p + path(), "not an absolute http(s) URL"},
        {"https://school.test@evil.test:" + p + path(), "not an absolute http(s) URL"},
        {"https://school.test:" + p + "@evil.test:" + p + path(), "not an absolute http(s) URL"},
        {"https://evil.test:" + p + "@school.test:" + p + path(), "not an absolute http(s) URL"},
        {"https://school%2Etest:" + p + path(), "not an absolute http(s) URL"},
        {"https://evil.test%2F.school.test:" + p + path(), "not an absolute http(s) URL"},
        {"https://evil.test%00.school.test:" + p + path(), "not an absolute http(s) URL"},
        {"https://school.test\\@evil.test:" + p + path(), "not an absolute http(s) URL"},
        {"http://school.test:" + p + path(), "plain http"},
        {"file:///etc/passwd", "not an absolute http(s) URL"},
        {"//evil.test:" + p + path(), "not an absolute http(s) URL"},
    };
    for (const auto& c : cases) {
        auto r = fetch(c.url);
        EXPECT_EQ(r.rc, 1) << c.url << "\n" << r.out;
        EXPECT_NE(r.out.find("failed (refused)"), std::string::npos) << c.url << "\n" << r.out;
        EXPECT_NE(r.out.find(c.why), std::string::npos) << c.url << "\n" << r.out;
    }
    // Refused before a token was asked for or a connection made.
    EXPECT_TRUE(requests().empty());

    // The same roster through an allowed URL arrives (the setup is not what refused them).
    auto ok = fetch("https://SCHOOL.test.:" + p + path());
    EXPECT_EQ(ok.rc, 0) << ok.out;
    EXPECT_NE(ok.out.find("12 members"), std::string::npos) << ok.out;
    expect_only_allowed_hosts_reached();
}

TEST_F(FetchSecurity, NameResolvingToAPrivateAddressIsRefused)
{
    // a.school.test matches "*.school.test" but resolves (resolve map) to 127.0.0.1.
    auto r = fetch("https://a.school.test:" + port() + path(), "wild");
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_NE(r.out.find("loopback, private or link-local"), std::string::npos) << r.out;
    expect_only_allowed_hosts_reached();
}

TEST_F(FetchSecurity, RedirectsAndForeignNextLinksAreNotFollowed)
{
    // 302 to elsewhere.test (which the simulator also plays): not followed, not retried.
    fault({.what = lms_sim::fault::kind::status, .context = course_, .status = 302});
    auto redirected = fetch("https://school.test:" + port() + path());
    EXPECT_EQ(redirected.rc, 1) << redirected.out;
    EXPECT_NE(redirected.out.find("redirect"), std::string::npos) << redirected.out;
    for (int status : {301, 303, 307, 308}) {
        fault({.what = lms_sim::fault::kind::status, .context = course_, .status = status});
        auto r = fetch("https://school.test:" + port() + path());
        EXPECT_EQ(r.rc, 1) << status << "\n" << r.out;
        EXPECT_NE(r.out.find("redirect"), std::string::npos) << status << "\n" << r.out;
    }
    // rel="next" to evil.test: the first page's host only.
    fault({.what = lms_sim::fault::kind::foreign_next, .context = course_, .page = 1});
    auto foreign = fetch("https://school.test:" + port() + path());
    EXPECT_EQ(foreign.rc, 1) << foreign.out;
    EXPECT_NE(foreign.out.find("points at another host"), std::string::npos) << foreign.out;
    std::size_t nrps = 0;
    for (const auto& r : requests()) nrps += r.route == "nrps";
    EXPECT_EQ(
        nrps, 6u
    );  // one request per fetch: no redirect or foreign page followed, none retried
    expect_only_allowed_hosts_reached();
}

TEST_F(FetchSecurity, TlsVerificationFailuresRefuseTheConnection)
{
    // A CA the tool does not trust: the platform's ca_file is another CA, or the system store.
    for (const std::string tls : {"ca_file = \"other-ca.pem\"\n", ""}) {
        auto config = write_config("untrusted.toml", tls);
        auto r = fetch("https://school.test:" + port() + path(), "school", config);
        EXPECT_EQ(r.rc, 1) << tls << r.out;
        EXPECT_NE(r.out.find("TLS handshake or certificate verification failed"), std::string::npos)
            << tls << r.out;
    }
    EXPECT_TRUE(requests().empty());  // no HTTP request crossed a failed handshake

    // A certificate from the trusted CA, for another name.
    lms_sim::server_options o{
        .tls = true, .tls_given = lms_sim::make_tls_material({"elsewhere.test"})};
    o.sim.hosts = {{.name = "school.test"}};
    lms_sim::server wrong(o);
    wrong.start();
    dir_.write("wrong-ca.pem", o.tls_given->ca_cert_pem);
    auto [from, to] = wrong.resolve_entry("school.test");
    auto config = dir_.write(
        "wrong-name.toml",
        "[http.resolve]\n\"" + from + "\" = \"" + to +
            "\"\n[[platforms]]\nname = \"school\"\n"
            "issuer = \"https://canvas.instructure.com\"\nclient_id = \"" +
            std::string(client_id) + "\"\ntoken_url = \"" + wrong.base_url("school.test") +
            "/login/oauth2/token\"\n"
            "private_key_file = \"tool-key.pem\"\nkey_id = \"k1\"\nca_file = \"wrong-ca.pem\"\n"
            "allowed_hosts = [\"school.test\"]\n"
    );
    auto r = fetch(wrong.base_url("school.test") + path(), "school", config);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_NE(r.out.find("TLS handshake or certificate verification failed"), std::string::npos)
        << r.out;
    EXPECT_TRUE(wrong.call([](lms_sim::sim_core& c) { return c.state().log.empty(); }));
}

TEST_F(FetchSecurity, KeyFilesReadableByOthersAreRefused)
{
    const auto key = dir_.path() / "tool-key.pem";
    for (mode_t mode : {0644, 0640, 0604, 0666}) {
        ASSERT_EQ(::chmod(key.c_str(), mode), 0);
        auto r = fetch("https://school.test:" + port() + path());
        EXPECT_EQ(r.rc, 78) << std::oct << mode << "\n" << r.out;
        EXPECT_NE(r.out.find("chmod 600"), std::string::npos) << r.out;
        auto check = run(ROSTERSYNCD_PATH, {"--check-config", config_.string()});
        EXPECT_EQ(check.rc, 78) << check.out;
        EXPECT_NE(check.out.find("chmod 600"), std::string::npos) << check.out;
        auto start = run(ROSTERSYNCD_PATH, {"--config", config_.string()});
        EXPECT_EQ(start.rc, 78) << start.out;
    }
    EXPECT_TRUE(requests().empty());
    for (mode_t mode : {0600, 0400}) {
        ASSERT_EQ(::chmod(key.c_str(), mode), 0);
        auto ok = fetch("https://school.test:" + port() + path());
        EXPECT_EQ(ok.rc, 0) << std::oct << mode << "\n" << ok.out;
    }
}

// Account discovery's REST token files are checked like the keys: by --check-config (the unit's
// ExecStartPre) and at start.
TEST_F(FetchSecurity, RestTokenFilesReadableByOthersAreRefused)
{
    const auto token = dir_.path() / "rest-token";
    {
        std::ofstream out(token);
        out << "1~restsecret\n";
    }
    // Platform "school" gets a REST API on its own host (the REST token goes only to allowed hosts).
    const auto config = write_config("rest.toml", "ca_file = \"ca.pem\"\n");
    {
        std::stringstream text;
        text << std::ifstream(config).rdbuf();
        auto toml = text.str();
        const std::string school = "name = \"school\"\n";
        const auto at = toml.find(school);
        ASSERT_NE(at, std::string::npos) << toml;
        toml.insert(at + school.size(), "rest_url = \"https://school.test\"\nrest_token_file = \"rest-token\"\n");
        std::ofstream(config) << toml;
    }
    ASSERT_EQ(::chmod(token.c_str(), 0644), 0);
    auto check = run(ROSTERSYNCD_PATH, {"--check-config", config.string()});
    EXPECT_EQ(check.rc, 78) << check.out;
    EXPECT_NE(check.out.find("rest_token_file"), std::string::npos) << check.out;
    EXPECT_NE(check.out.find("chmod 600"), std::string::npos) << check.out;
    EXPECT_EQ(check.out.find("restsecret"), std::string::npos) << "the token was printed";
    ASSERT_EQ(::chmod(token.c_str(), 0600), 0);
    auto ok = run(ROSTERSYNCD_PATH, {"--check-config", config.string()});
    EXPECT_EQ(ok.rc, 0) << ok.out;
    std::filesystem::remove(token);
    auto missing = run(ROSTERSYNCD_PATH, {"--check-config", config.string()});
    EXPECT_EQ(missing.rc, 78) << missing.out;
    EXPECT_NE(missing.out.find("rest_token_file"), std::string::npos) << missing.out;
}

// ---------------------------------------------------------------------------------------------
// The daemon, through Kafka. Besides the environment's platform (every simulated host allowed),
// "strict" allows only a.school.test and "wild" allows "*.school.test"; both are the client
// 20000000000002 of the simulator, getting tokens from a.school.test.

constexpr const char* strict_client = "20000000000002";
constexpr const char* strict_issuer = "https://strict.instructure.com";
constexpr const char* wild_issuer = "https://wild.instructure.com";

std::string strict_platforms(const std::string& token_url)
{
    const std::string common =
        "client_id = \"" + std::string(strict_client) + "\"\ntoken_url = \"" + token_url +
        "\"\nprivate_key_file = \"strict-key.pem\"\nkey_id = \"s1\"\nca_file = \"ca.pem\"\n";
    return std::string("[[platforms]]\nname = \"strict\"\nissuer = \"") + strict_issuer + "\"\n" +
           common +
           "allowed_hosts = [\"a.school.test\"]\n[[platforms]]\nname = \"wild\"\nissuer = \"" +
           wild_issuer + "\"\n" + common + "allowed_hosts = [\"*.school.test\"]\n";
}

/// The environment with the two extra platforms; the simulator plays a.school.test, evil.test and
/// elsewhere.test.
std::unique_ptr<pipeline_env> make_strict_env()
{
    // The token URL needs the simulator's port, known once it runs: write the key and platforms
    // after construction, before any daemon starts.
    auto env = std::make_unique<pipeline_env>(pipeline_env_options{
        .hosts = {"a.school.test", "evil.test", "elsewhere.test"}, .partitions = 2});
    auto key = oauth::generate_key("RS256", "s1");
    if (!key) throw std::runtime_error("cannot generate a key");
    env->dir().write("strict-key.pem", key->private_pem, 0600);
    auto pub = key->public_pem;
    env->sim().call([&](lms_sim::sim_core& c) {
        c.register_client({.client_id = strict_client, .public_key_pem = pub});
    });
    std::ofstream(env->config_path(), std::ios::app)
        << strict_platforms(env->sim().base_url("a.school.test") + "/login/oauth2/token");
    return env;
}

std::string seen(const std::string& issuer, const std::string& context_id, const std::string& url)
{
    return json::serialize(json::object{
        {"issuer", issuer},
        {"client_id", strict_client},
        {"context", json::object{{"id", context_id}}},
        {"context_memberships_url", url},
        {"seen_at", pipeline_env::now_text()}});
}

/// A context's state from the daemon's admin API, once `done(state)` holds (or the last one).
json::object wait_context(
    pipeline_env& env,
    daemon_instance& d,
    const std::string& key,
    const std::function<bool(const json::object&)>& done
)
{
    json::object last;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto [status, v] = env.admin(d, "GET", "/admin/contexts/" + http::percent_encode(key));
        if (status == 200 && v.is_object()) {
            last = v.as_object();
            if (done(last)) break;
        }
        d.process->wait_for_log(
            "\x01 nothing matches this", 100ms
        );  // keeps the stderr pipe drained
    }
    return last;
}

std::string text_of(const json::object& o, const char* k)
{
    auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

TEST(DaemonSecurity, IngestAndPassesKeepTokensOnAllowedHosts)
{
    auto env = make_strict_env();
    auto& d = env->start_daemon();
    auto& sim = env->sim();
    const std::string p = std::to_string(sim.port());
    auto course = env->add_course("a.school.test", 8);
    const std::string nrps_path =
        "/api/lti/courses/" + std::to_string(course.id) + "/names_and_roles";

    // Ingest: URLs the strict platform's guard refuses are dead-lettered with their reason.
    const std::vector<std::string> refused{
        "https://evil.test:" + p + nrps_path,
        "https://elsewhere.test:" + p + nrps_path,
        "https://127.0.0.1:" + p + nrps_path,
        "https://[::1]:" + p + nrps_path,
        "https://localhost:" + p + nrps_path,
        "https://169.254.169.254/latest/meta-data/",
        "https://a.school.test@evil.test:" + p + nrps_path,
        "https://a.school.test:" + p + "@evil.test:" + p + nrps_path,
        "https://a%2Eschool.test:" + p + nrps_path,
        "https://evil.test%2F.a.school.test:" + p + nrps_path,
        "http://a.school.test:" + p + nrps_path,
        "https://2130706433:" + p + nrps_path,
    };
    for (std::size_t i = 0; i < refused.size(); ++i)
        env->publish_raw(
            "k" + std::to_string(i), seen(strict_issuer, "refused-" + std::to_string(i), refused[i])
        );
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (env->record_count("lti.course-seen.dlq") < static_cast<std::int64_t>(refused.size()) &&
           std::chrono::steady_clock::now() < deadline) {
        d.process->wait_for_log("\x01 nothing matches this", 100ms);
    }
    auto dlq = env->read_topic("lti.course-seen.dlq");
    ASSERT_EQ(dlq.size(), refused.size());
    std::set<std::string> contexts;
    for (const auto& r : dlq) {
        EXPECT_EQ(r.headers.at("rostersync.reason"), "url_not_allowed") << r.value;
        EXPECT_NE(
            r.headers.at("rostersync.error").find("context_memberships_url"), std::string::npos
        );
        contexts.insert(std::string(r.json.at("context").as_object().at("id").as_string()));
    }
    EXPECT_EQ(contexts.size(), refused.size());

    // Passes: a name resolving to loopback through a wildcard, a redirect, a foreign next link.
    env->publish_raw("w", seen(wild_issuer, "wild-1", course.url));
    auto wild =
        wait_context(*env, d, std::string(wild_issuer) + "|wild-1", [](const json::object& o) {
            return !text_of(o, "last_error").empty();
        });
    EXPECT_NE(
        text_of(wild, "last_error").find("loopback, private or link-local"), std::string::npos
    ) << json::serialize(wild);

    auto redirected = env->add_course("a.school.test", 8);
    sim.call([&](lms_sim::sim_core& c) {
        c.state().faults.push_back(
            {.what = lms_sim::fault::kind::status, .context = redirected.id, .status = 302}
        );
    });
    env->publish_raw("r", seen(strict_issuer, redirected.context_id, redirected.url));
    auto r = wait_context(
        *env,
        d,
        std::string(strict_issuer) + "|" + redirected.context_id,
        [](const json::object& o) { return !text_of(o, "last_error").empty(); }
    );
    EXPECT_NE(text_of(r, "last_error").find("redirect"), std::string::npos) << json::serialize(r);

    auto foreign = env->add_course("a.school.test", 60);  // two pages
    sim.call([&](lms_sim::sim_core& c) {
        c.state().faults.push_back(
            {.what = lms_sim::fault::kind::foreign_next,
             .context = foreign.id,
             .page = 1,
             .times = -1}
        );
    });
    env->publish_raw("f", seen(strict_issuer, foreign.context_id, foreign.url));
    auto f = wait_context(
        *env,
        d,
        std::string(strict_issuer) + "|" + foreign.context_id,
        [](const json::object& o) { return !text_of(o, "last_error").empty(); }
    );
    EXPECT_NE(text_of(f, "last_error").find("points at another host"), std::string::npos)
        << json::serialize(f);

    // A valid request of the strict platform syncs, with its tokens from a.school.test.
    env->publish_raw("ok", seen(strict_issuer, course.context_id, course.url));
    auto ok = wait_context(
        *env,
        d,
        std::string(strict_issuer) + "|" + course.context_id,
        [](const json::object& o) { return text_of(o, "last_outcome") == "changed"; }
    );
    EXPECT_EQ(text_of(ok, "last_outcome"), "changed") << json::serialize(ok);

    // Nothing reached evil.test or elsewhere.test; tokens were asked for at the token URL only.
    auto log = sim.call([](lms_sim::sim_core& c) { return c.state().log; });
    std::size_t tokens = 0;
    for (const auto& rec : log) {
        EXPECT_EQ(host_name(rec.host), "a.school.test")
            << rec.method << " " << rec.host << rec.target;
        if (rec.route == "token") {
            ++tokens;
            EXPECT_EQ(rec.target, "/login/oauth2/token");
        }
    }
    EXPECT_GE(tokens, 1u);
}

TEST(DaemonSecurity, AdminApiWantsItsBearerToken)
{
    pipeline_env env({.partitions = 1});
    auto& d = env.start_daemon();
    const std::string token = env.admin_token();
    auto get = [&](std::vector<std::pair<std::string, std::string>> headers,
                   const std::string& method = "GET",
                   const std::string& target = "/admin/contexts") {
        return http_request(d.http_host, d.http_port, method, target, "", headers).status;
    };
    EXPECT_EQ(get({}), 401);
    EXPECT_EQ(get({{"Authorization", "Bearer"}}), 401);
    EXPECT_EQ(get({{"Authorization", "Bearer "}}), 401);
    EXPECT_EQ(get({{"Authorization", "Bearer wrong-token-0123456789abcdef"}}), 401);
    EXPECT_EQ(get({{"Authorization", "Bearer " + token + "x"}}), 401);
    EXPECT_EQ(get({{"Authorization", "Bearer " + token.substr(0, token.size() - 1)}}), 401);
    EXPECT_EQ(get({{"Authorization", "Basic " + token}}), 401);
    EXPECT_EQ(get({{"Authorization", token}}), 401);
    EXPECT_EQ(
        get({{"Authorization", "Bearer " + token}}, "GET", "/admin/contexts?filter=held"), 200
    );
    EXPECT_EQ(get({}, "POST", "/admin/release?platform=school"), 401);
    EXPECT_EQ(get({}, "POST", "/admin/contexts/x/resync"), 401);
    auto www = http_request(d.http_host, d.http_port, "GET", "/admin/contexts");
    EXPECT_EQ(www.headers["www-authenticate"], "Bearer realm=\"rostersync admin\"");
    EXPECT_EQ(www.body.find(token), std::string::npos);
    EXPECT_EQ(get({{"Authorization", "Bearer " + token}}), 200);

    // Without a token file the admin API is off: 404, with or without a token. (Its own consumer
    // group, so the running instance keeps its partitions.)
    std::ifstream in(env.config_path());
    std::stringstream ss;
    ss << in.rdbuf();
    std::string toml = std::regex_replace(ss.str(), std::regex("admin_token_file = [^\n]*\n"), "");
    toml = std::regex_replace(
        toml, std::regex("\\[kafka\\]\n"), "[kafka]\ngroup_id = \"security-admin-off\"\n"
    );
    auto off_config = env.dir().write("admin-off.toml", toml);
    daemon_process off(ROSTERSYNCD_PATH, {"--config", off_config.string()});
    auto ready = off.wait_for_log("msg=ready", 60s);
    ASSERT_TRUE(ready) << off.log_text();
    EXPECT_EQ(logfmt_field(*ready, "admin_api"), "off") << *ready;
    const auto address = logfmt_field(*ready, "http_address");
    const auto port =
        static_cast<unsigned short>(std::stoi(address.substr(address.rfind(':') + 1)));
    EXPECT_EQ(http_request("127.0.0.1", port, "GET", "/admin/contexts").status, 404);
    EXPECT_EQ(
        http_request(
            "127.0.0.1", port, "GET", "/admin/contexts", "", {{"Authorization", "Bearer " + token}}
        ).status,
        404
    );
    EXPECT_EQ(
        http_request(
            "127.0.0.1",
            port,
            "POST",
            "/admin/release?platform=school",
            "",
            {{"Authorization", "Bearer " + token}}
        ).status,
        404
    );
    off.signal(SIGTERM);
    EXPECT_EQ(off.wait_exit(30s), 0) << off.log_text();
}

TEST(DaemonSecurity, LogsHoldNoTokensAssertionsOrPersonalData)
{
    pipeline_env env({.partitions = 2});
    auto& d = env.start_daemon();
    auto& sim = env.sim();
    std::vector<sim_course> courses;
    std::size_t expected = 0;
    for (int size : {30, 55, 12}) {
        courses.push_back(
            env.add_course(courses.size() % 2 ? "b.school.test" : "a.school.test", size)
        );
        expected += env.truth(courses.back()).size();
    }
    // Faults that make the daemon log warnings on the way: an expired token mid-pass, a 500.
    sim.call([&](lms_sim::sim_core& c) {
        c.state().faults.push_back(
            {.what = lms_sim::fault::kind::expire_token, .context = courses[1].id, .page = 2}
        );
        c.state().faults.push_back(
            {.what = lms_sim::fault::kind::status, .context = courses[2].id, .status = 500}
        );
    });
    // A launch carries a member's name and email too.
    auto launch_member = sim.call([&](lms_sim::sim_core& c) {
        for (const auto& [uid, m] : c.state().w.snapshot_of(courses[0].id))
            if (!m.who.name.empty() && !m.who.email.empty()) return m.who;
        return lms_sim::person{};
    });
    ASSERT_FALSE(launch_member.email.empty());
    for (const auto& c : courses) {
        json::object extra;
        if (c.id == courses[0].id) {
            extra["launch_user"] = json::object{
                {"user_id", launch_member.user_id},
                {"roles", json::array{"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"}},
                {"name", launch_member.name},
                {"email", launch_member.email}};
        }
        env.publish_seen(c, extra);
    }
    env.wait_changes(expected, 120s);
    EXPECT_GE(env.changes().size(), expected);
    // Names and emails did reach the change stream (public privacy): they are in the run.
    std::size_t with_email = 0;
    for (const auto& r : env.changes()) {
        if (auto* after = r.json.if_contains("after"); after && after->is_object())
            with_email += after->as_object().contains("email");
    }
    EXPECT_GT(with_email, 0u);
    // An invalid event is dead-lettered and logged too.
    env.publish_raw(
        "bad",
        "{\"issuer\": \"" + std::string(sim_issuer) + "\", \"client_id\": \"" + sim_client_id +
            "\", \"context\": {\"id\": \"x\"}, \"context_memberships_url\": \"https://" +
            launch_member.email + "/\", \"launch_user\": {\"name\": \"" + launch_member.name +
            "\"}}"
    );
    while (env.record_count("lti.course-seen.dlq") < 1)
        d.process->wait_for_log("\x01 nothing matches this", 100ms);

    d.process->signal(SIGTERM);
    ASSERT_EQ(d.process->wait_exit(60s), 0) << d.process->log_text();
    const std::string log = d.process->log_text();
    ASSERT_FALSE(log.empty());

    auto [people, tokens] = sim.call([&](lms_sim::sim_core& c) {
        std::vector<lms_sim::person> ps;
        for (const auto& course : courses)
            for (const auto& [uid, m] : c.state().w.snapshot_of(course.id)) ps.push_back(m.who);
        std::vector<std::string> ts;
        for (const auto& [t, info] : c.state().tokens) ts.push_back(t);
        return std::pair{ps, ts};
    });
    ASSERT_GE(people.size(), expected);
    ASSERT_GE(tokens.size(), 2u);  // the first token and the one after the expiry
    for (const auto& who : people) {
        if (!who.email.empty()) {
            EXPECT_EQ(log.find(who.email), std::string::npos) << who.email;
        }
        if (!who.name.empty()) {
            EXPECT_EQ(log.find(who.name), std::string::npos) << who.name;
        }
    }
    for (const auto& t : tokens)
        EXPECT_EQ(log.find(t), std::string::npos) << "an access token is in the log";
    EXPECT_EQ(log.find(env.admin_token()), std::string::npos) << "the admin token is in the log";
    EXPECT_EQ(log.find("PRIVATE KEY"), std::string::npos);
    // JWTs: a base64url JSON header ("eyJ") or any three long base64url segments joined by dots.
    static const std::regex jwt(R"([A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,})");
    std::smatch m;
    EXPECT_FALSE(std::regex_search(log, m, jwt)) << m.str();
    EXPECT_EQ(log.find("eyJ"), std::string::npos);
    // Something was logged about each kind of event, so the scan looked at a real run.
    EXPECT_NE(log.find("dead"), std::string::npos) << log;
    EXPECT_NE(log.find("msg=ready"), std::string::npos);
}

}  // namespace
}  // namespace rostersync::test
