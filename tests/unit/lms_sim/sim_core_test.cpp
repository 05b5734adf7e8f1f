// The simulated platform's rules, driven without sockets and with time passed in.
#include "lms_sim/sim_core.hpp"

#include "lms_sim/jwt_verify.hpp"
#include "lms_sim/nrps_page.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace rostersync::lms_sim {
namespace {

namespace json = boost::json;

constexpr double t0 = 1'800'000'000;  // seconds since the epoch
constexpr const char* client_id = "10000000000001";
constexpr const char* host = "school.test";
constexpr const char* token_url = "https://school.test/login/oauth2/token";

std::string form_escape(const std::string& s) { return url_encode(s); }

class SimCore : public testing::Test {
protected:
    static void SetUpTestSuite() { key_ = new rsa_key_pair(generate_rsa_key()); }
    static void TearDownTestSuite() { delete key_; }

    void SetUp() override
    {
        core_ = std::make_unique<sim_core>(opts());
        core_->register_client({.client_id = client_id, .public_key_pem = key_->public_pem});
        course_ = &core_->state().w.add_course({.size = 120});
    }

    virtual sim_options opts() { return {.hosts = {{.name = host}, {.name = "other.test", .cluster = "cluster-2"}}}; }

    std::string assertion(double iat, const std::string& aud = token_url, const std::string& sub = client_id)
    {
        json::object claims{{"iss", sub}, {"sub", sub}, {"aud", aud}, {"iat", iat}, {"exp", iat + 300}, {"jti", "j-" + std::to_string(iat)}};
        return sign_rs256(R"({"alg":"RS256","typ":"JWT","kid":"k1"})", json::serialize(claims), key_->private_pem);
    }

    sim_response token_request(const std::string& jwt, const std::string& scope = nrps_scope, double now = t0,
                               const std::string& on_host = host)
    {
        std::string body = "grant_type=client_credentials&client_assertion_type=" +
                           form_escape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
                           "&client_assertion=" + jwt + "&scope=" + form_escape(scope);
        auto r = core_->handle({.method = "POST", .host = on_host, .target = "/login/oauth2/token",
                                .content_type = "application/x-www-form-urlencoded", .body = body},
                               now);
        core_->complete(r, now);
        return r;
    }

    std::string token(double now = t0)
    {
        auto r = token_request(assertion(now), nrps_scope, now);
        EXPECT_EQ(r.status, 200) << r.body;
        return std::string(json::parse(r.body).as_object()["access_token"].as_string());
    }

    sim_response get(const std::string& target, const std::string& tok, double now = t0, const std::string& on_host = host)
    {
        auto r = core_->handle({.method = "GET", .host = on_host, .target = target,
                                .authorization = tok.empty() ? "" : "Bearer " + tok},
                               now);
        core_->complete(r, now);
        return r;
    }

    std::string roster_path() const { return "/api/lti/courses/" + std::to_string(course_->id) + "/names_and_roles"; }

    static std::string message(const sim_response& r)
    {
        auto v = json::parse(r.body).as_object();
        return std::string(v["errors"].as_object()["message"].as_string());
    }

    static rsa_key_pair* key_;
    std::unique_ptr<sim_core> core_;
    context* course_ = nullptr;
};

rsa_key_pair* SimCore::key_ = nullptr;

TEST_F(SimCore, TokenIssuedWithCanvasShape)
{
    auto r = token_request(assertion(t0));
    ASSERT_EQ(r.status, 200) << r.body;
    auto v = json::parse(r.body).as_object();
    EXPECT_EQ(v["token_type"].as_string(), "Bearer");
    EXPECT_EQ(v["expires_in"].as_int64(), 3600);
    EXPECT_EQ(v["scope"].as_string(), nrps_scope);
    EXPECT_FALSE(v["access_token"].as_string().empty());
}

TEST_F(SimCore, TokenJsonBodyAndScopesAlias)
{
    json::object body{{"grant_type", "client_credentials"},
                      {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                      {"client_assertion", assertion(t0)},
                      {"scopes", nrps_scope}};
    auto r = core_->handle({.method = "POST", .host = host, .target = "/login/oauth2/token",
                            .content_type = "application/json", .body = json::serialize(body)},
                           t0);
    EXPECT_EQ(r.status, 200) << r.body;
}

struct token_case {
    const char* name;
    int status;
    const char* error;
    const char* description;
};

TEST_F(SimCore, TokenErrorsHaveCanvasStatusAndBody)
{
    auto check = [&](const sim_response& r, const token_case& c) {
        EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body;
        auto v = json::parse(r.body).as_object();
        EXPECT_EQ(v["error"].as_string(), c.error) << c.name;
        EXPECT_EQ(v["error_description"].as_string(), c.description) << c.name;
    };
    // unsupported grant type
    auto r = core_->handle({.method = "POST", .host = host, .target = "/login/oauth2/token",
                            .content_type = "application/x-www-form-urlencoded", .body = "grant_type=password"},
                           t0);
    check(r, {"grant", 400, "unsupported_grant_type", "The grant_type you requested is not currently supported"});
    // wrong assertion type
    r = core_->handle({.method = "POST", .host = host, .target = "/login/oauth2/token",
                       .content_type = "application/x-www-form-urlencoded",
                       .body = "grant_type=client_credentials&client_assertion_type=secret"},
                      t0);
    check(r, {"type", 400, "invalid_request", "assertion method not supported for this grant_type"});
    // unknown client: 401 with the Canvas challenge
    r = token_request(assertion(t0, token_url, "99999"));
    check(r, {"client", 401, "invalid_client", "unknown client"});
    EXPECT_EQ(r.header("WWW-Authenticate"), "Canvas OAuth 2.0");
    // garbage assertion
    check(token_request("not.a.jwt"), {"garbage", 400, "invalid_request", "JWS signature invalid."});
    // signed by another key
    auto other = generate_rsa_key();
    json::object claims{{"iss", client_id}, {"sub", client_id}, {"aud", token_url}, {"iat", t0}, {"exp", t0 + 60}, {"jti", "x"}};
    check(token_request(sign_rs256(R"({"alg":"RS256"})", json::serialize(claims), other.private_pem)),
          {"signature", 400, "invalid_request", "JWS signature invalid."});
    // aud for another host
    check(token_request(assertion(t0, "https://elsewhere.test/login/oauth2/token")),
          {"aud", 400, "invalid_request", "the 'aud' is invalid"});
    // iat too old and in the future; expired
    check(token_request(assertion(t0 - 400), nrps_scope, t0),
          {"old", 400, "invalid_request", "the JWT has expired"});
    json::object old_iat{{"iss", client_id}, {"sub", client_id}, {"aud", token_url}, {"iat", t0 - 400}, {"exp", t0 + 60}, {"jti", "o"}};
    check(token_request(sign_rs256(R"({"alg":"RS256"})", json::serialize(old_iat), key_->private_pem)),
          {"old iat", 400, "invalid_request", "the 'iat' must be less than 300 seconds old"});
    check(token_request(assertion(t0 + 60), nrps_scope, t0),
          {"future", 400, "invalid_request", "the 'iat' must not be in the future"});
    // missing claims
    check(token_request(sign_rs256(R"({"alg":"RS256"})", R"({"sub":"10000000000001"})", key_->private_pem)),
          {"missing", 400, "invalid_request", "the following assertions are missing: aud,exp,iat,jti,iss"});
    // scope not granted, and empty
    check(token_request(assertion(t0), "https://purl.imsglobal.org/spec/lti-ags/scope/score"),
          {"scope", 400, "invalid_scope",
           "A requested scope is invalid, unknown, malformed, or exceeds the scope granted by the resource owner. "
           "The following scopes were requested, but not granted: https://purl.imsglobal.org/spec/lti-ags/scope/score"});
    EXPECT_EQ(token_request(assertion(t0), "").status, 400);
}

TEST_F(SimCore, AudMayCarryThePortOfTheHostHeader)
{
    auto jwt = assertion(t0, "https://school.test:8443/login/oauth2/token");
    EXPECT_EQ(token_request(jwt, nrps_scope, t0, "school.test:8443").status, 200);
    EXPECT_EQ(token_request(assertion(t0), nrps_scope, t0, "school.test:8443").status, 200);
}

TEST_F(SimCore, JwksRegistrationVerifiesByKid)
{
    std::string jwks = "{\"keys\":[" + public_jwk(key_->public_pem, "k1") + "]}";
    core_->register_client({.client_id = "10000000000002", .jwks_json = jwks});
    json::object claims{{"iss", "x"}, {"sub", "10000000000002"}, {"aud", token_url}, {"iat", t0}, {"exp", t0 + 60}, {"jti", "x"}};
    auto ok = sign_rs256(R"({"alg":"RS256","kid":"k1"})", json::serialize(claims), key_->private_pem);
    EXPECT_EQ(token_request(ok).status, 200);
    auto wrong_kid = sign_rs256(R"({"alg":"RS256","kid":"k9"})", json::serialize(claims), key_->private_pem);
    auto r = token_request(wrong_kid);
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("JWK Error"), std::string::npos);
}

TEST_F(SimCore, NrpsErrorsInCanvasOrder)
{
    EXPECT_EQ(get(roster_path(), "").status, 401);
    EXPECT_EQ(message(get(roster_path(), "")), "Missing access token");
    EXPECT_EQ(message(get(roster_path(), "bogus")), "Invalid access token format");
    auto tok = token();
    // expired after its TTL
    auto late = get(roster_path(), tok, t0 + 3601);
    EXPECT_EQ(late.status, 401);
    EXPECT_EQ(message(late), "Access token expired");
    EXPECT_EQ(late.content_type, "application/json");
    // unknown course: Canvas's generic 404
    auto missing = get("/api/lti/courses/999999/names_and_roles", tok);
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.body, R"({"errors":[{"message":"The specified resource does not exist."}]})");
    // tool not installed
    core_->state().clients[client_id].not_installed.insert(course_->id);
    EXPECT_EQ(message(get(roster_path(), tok)), "Access Token not linked to a Tool associated with this Context");
    core_->state().clients[client_id].not_installed.clear();
    // unbound key comes before the context checks
    core_->state().clients[client_id].unbound.insert(course_->id);
    EXPECT_EQ(message(get(roster_path(), tok)), "Invalid Developer Key");
    core_->state().clients[client_id].unbound.clear();
    // deleted course
    core_->state().w.remove_context(course_->id);
    auto gone = get(roster_path(), tok);
    EXPECT_EQ(gone.status, 404);
    EXPECT_EQ(message(gone), "Context is deleted or not found");
    // inactive developer key
    core_->state().clients[client_id].active = false;
    EXPECT_EQ(message(get(roster_path(), tok)), "Unknown or inactive Developer Key");
}

TEST_F(SimCore, TokenWithoutNrpsScopeIsInsufficient)
{
    const std::string ags = "https://purl.imsglobal.org/spec/lti-ags/scope/score";
    core_->state().clients[client_id].scopes.push_back(ags);
    auto r = token_request(assertion(t0), ags);
    ASSERT_EQ(r.status, 200);
    auto tok = std::string(json::parse(r.body).as_object()["access_token"].as_string());
    EXPECT_EQ(message(get(roster_path(), tok)), "Insufficient permissions");
}

TEST_F(SimCore, PagesWithLinkHeadersAndMediaType)
{
    auto tok = token();
    auto r = get(roster_path() + "?limit=50", tok);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.content_type, "application/vnd.ims.lti-nrps.v2.membershipcontainer+json");
    const std::string base = "https://school.test" + roster_path();
    EXPECT_EQ(r.header("Link"),
              "<" + base + "?page=1&per_page=50>; rel=\"current\",<" + base + "?page=2&per_page=50>; rel=\"next\",<" +
                  base + "?page=1&per_page=50>; rel=\"first\",<" + base + "?page=3&per_page=50>; rel=\"last\"");
    auto body = json::parse(r.body).as_object();
    EXPECT_EQ(body["id"].as_string(), base + "?limit=50");
    EXPECT_EQ(body["members"].as_array().size(), 50u);
    // access_token in the query works too, and is not echoed in links
    auto q = get(roster_path() + "?page=3&per_page=50&access_token=" + tok, "");
    ASSERT_EQ(q.status, 200);
    EXPECT_EQ(json::parse(q.body).as_object()["members"].as_array().size(), 21u);
    EXPECT_EQ(q.header("Link").find(tok), std::string::npos);
    EXPECT_EQ(q.header("Link").find("rel=\"next\""), std::string::npos);
}

TEST_F(SimCore, RlidUnknownIsBadRequestKnownAddsMessage)
{
    auto tok = token();
    auto bad = get(roster_path() + "?rlid=nope", tok);
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(message(bad), "Tool does not have access to rlid or rlid does not exist");
    auto same = get(roster_path() + "?rlid=" + course_->context_id, tok);
    EXPECT_EQ(same.status, 200);
    EXPECT_EQ(same.body.find("\"message\""), std::string::npos);
    auto good = get(roster_path() + "?rlid=" + *course_->resource_links.begin() + "&limit=5", tok);
    ASSERT_EQ(good.status, 200);
    auto m = json::parse(good.body).as_object()["members"].as_array()[0].as_object();
    ASSERT_TRUE(m.contains("message"));
    EXPECT_EQ(m["message"].as_array().size(), 1u);
}

TEST_F(SimCore, ThrottleHeadersAreFloats)
{
    auto tok = token();
    auto r = get(roster_path(), tok);
    ASSERT_EQ(r.status, 200);
    // cost of a 50-member page: 0.05 + 50 * 0.004 = 0.25
    EXPECT_EQ(r.header("X-Request-Cost"), "0.25");
    EXPECT_EQ(r.header("X-Rate-Limit-Remaining"), "599.75");
}

TEST_F(SimCore, ParallelBurstIsRejectedWithCanvas403)
{
    auto tok = token();
    std::vector<sim_response> in_flight;
    sim_response rejected;
    for (int i = 0; i < 20; ++i) {
        auto r = core_->handle({.method = "GET", .host = host, .target = roster_path(), .authorization = "Bearer " + tok}, t0);
        if (r.status != 200) {
            rejected = r;
            break;
        }
        in_flight.push_back(std::move(r));
    }
    EXPECT_EQ(in_flight.size(), 11u);  // the 12th in flight reaches the high-water mark
    EXPECT_EQ(rejected.status, 403);
    EXPECT_EQ(rejected.body, "403 Forbidden (Rate Limit Exceeded)\n");
    EXPECT_EQ(rejected.content_type, "text/plain; charset=utf-8");
    EXPECT_EQ(rejected.header("X-Rate-Limit-Remaining"), "0.0");
    EXPECT_EQ(rejected.header("X-Request-Cost"), "");
    for (auto& r : in_flight) core_->complete(r, t0 + 1);
    // another host of the same cluster shares the bucket; a host of another cluster does not
    core_->state().log.clear();
    EXPECT_TRUE(core_->state().buckets.count(std::string(client_id) + "|cluster-1"));
}

TEST_F(SimCore, SequentialClientNeverRejected)
{
    auto tok = token();
    double now = t0;
    for (int i = 0; i < 2000; ++i) {
        auto r = core_->handle({.method = "GET", .host = host, .target = roster_path() + "?page=" + std::to_string(i % 3 + 1), .authorization = "Bearer " + tok}, now);
        ASSERT_EQ(r.status, 200) << "request " << i;
        now += r.cost;  // the request takes its cost in server time
        core_->complete(r, now);
        now += 0.05;
    }
    int rejections = 0;
    for (const auto& rec : core_->state().log) rejections += rec.throttled;
    EXPECT_EQ(rejections, 0);
}

class SimCore429 : public SimCore {
    sim_options opts() override
    {
        sim_options o{.hosts = {{.name = host}}};
        o.throttle.mode = reject_mode::too_many_429;
        o.throttle.retry_after = 7;
        o.throttle.token_requests_cost = true;
        return o;
    }
};

TEST_F(SimCore429, TokenRequestsCostAndRejectionsAre429WithRetryAfter)
{
    auto tok = token();
    EXPECT_DOUBLE_EQ(core_->state().buckets.begin()->second.count(), 200);  // +200 per token request
    std::vector<sim_response> held;
    sim_response last;
    for (int i = 0; i < 20 && last.status != 429; ++i) {
        last = core_->handle({.method = "GET", .host = host, .target = roster_path(), .authorization = "Bearer " + tok}, t0);
        if (last.status == 200) held.push_back(last);
    }
    EXPECT_EQ(held.size(), 7u);  // 200 + 8 * 50 = 600
    EXPECT_EQ(last.status, 429);
    EXPECT_EQ(last.header("Retry-After"), "7");
}

TEST_F(SimCore, FaultsApplyOncePerMatchAndAreLogged)
{
    auto tok = token();
    auto& faults = core_->state().faults;
    faults.push_back({.what = fault::kind::status, .context = course_->id, .page = 2, .status = 503});
    EXPECT_EQ(get(roster_path() + "?page=1", tok).status, 200);
    EXPECT_EQ(get(roster_path() + "?page=2", tok).status, 503);
    EXPECT_EQ(get(roster_path() + "?page=2", tok).status, 200);  // times = 1

    faults.push_back({.what = fault::kind::reset});
    EXPECT_EQ(get(roster_path(), tok).how, sim_response::transport::reset);
    faults.push_back({.what = fault::kind::truncate});
    EXPECT_EQ(get(roster_path(), tok).how, sim_response::transport::truncate);
    faults.push_back({.what = fault::kind::malformed});
    boost::system::error_code ec;
    json::parse(get(roster_path(), tok).body, ec);
    EXPECT_TRUE(ec);
    faults.push_back({.what = fault::kind::slow, .delay_ms = 1500});
    EXPECT_GE(get(roster_path(), tok).delay_seconds, 1.5);
    faults.push_back({.what = fault::kind::loop_next});
    auto loop = get(roster_path() + "?page=1", tok);
    const std::string base = "https://school.test" + roster_path();
    EXPECT_EQ(loop.header("Link"), "<" + base + "?page=1&per_page=50>; rel=\"current\",<" + base + "?page=1&per_page=50>; rel=\"next\"");
    faults.push_back({.what = fault::kind::throttle});
    EXPECT_EQ(get(roster_path(), tok).status, 403);
    faults.push_back({.what = fault::kind::expire_token});
    EXPECT_EQ(message(get(roster_path(), tok)), "Access token expired");
    EXPECT_EQ(message(get(roster_path(), tok)), "Access token expired");  // it stays expired
    std::vector<std::string> seen;
    for (const auto& rec : core_->state().log)
        if (!rec.fault.empty()) seen.push_back(rec.fault);
    EXPECT_EQ(seen, (std::vector<std::string>{"status", "reset", "truncate", "malformed", "slow", "loop_next", "throttle", "expire_token"}));
}

TEST_F(SimCore, MemberLeavingMidPassShiftsPages)
{
    auto tok = token();
    auto page1 = json::parse(get(roster_path() + "?page=1", tok).body).as_object()["members"].as_array();
    core_->state().faults.push_back({.what = fault::kind::drop_first, .page = 2});
    auto page2 = json::parse(get(roster_path() + "?page=2", tok).body).as_object()["members"].as_array();
    // The first member left, so the 51st member moved onto page 1 and is seen by nobody.
    std::set<std::string> seen;
    for (auto& m : page1) seen.insert(std::string(m.as_object()["user_id"].as_string()));
    for (auto& m : page2) seen.insert(std::string(m.as_object()["user_id"].as_string()));
    auto it = course_->members.begin();
    std::advance(it, 49);  // after the drop, index 49 is the former 51st member
    EXPECT_FALSE(seen.count(it->second.who.user_id));
}

TEST_F(SimCore, GroupRosters)
{
    auto& g = core_->state().w.add_group(4);
    auto tok = token();
    auto r = get("/api/lti/groups/" + std::to_string(g.id) + "/names_and_roles", tok);
    ASSERT_EQ(r.status, 200) << r.body;
    auto body = json::parse(r.body).as_object();
    EXPECT_EQ(body["members"].as_array().size(), 4u);
    EXPECT_FALSE(body["context"].as_object().contains("label"));
}

class SpecMode : public SimCore {
    sim_options opts() override { return {.hosts = {{.name = host, .spec_mode = true}}}; }
};

TEST_F(SpecMode, DifferencesListChangedInactiveAndDeleted)
{
    auto tok = token();
    auto first = get(roster_path(), tok);
    auto link = first.header("Link");
    auto pos = link.find("rel=\"differences\"");
    ASSERT_NE(pos, std::string::npos) << link;
    auto start = link.rfind('<', pos) + 1;
    std::string diff_url = link.substr(start, link.find('>', start) - start);
    std::string diff_target = diff_url.substr(std::string("https://school.test").size());

    auto before = core_->state().w.snapshot_of(course_->id);
    core_->state().w.churn(course_->id, {.joins = 2, .drops = 3});
    auto victim = course_->members.begin()->second.who.user_id;
    core_->state().w.deactivate(course_->id, victim);

    auto d = get(diff_target, tok);
    ASSERT_EQ(d.status, 200) << d.body;
    std::map<std::string, int> statuses;
    auto parsed = json::parse(d.body);
    for (auto& m : parsed.as_object()["members"].as_array())
        ++statuses[std::string(m.as_object()["status"].as_string())];
    EXPECT_EQ(statuses["Deleted"], 3);
    EXPECT_EQ(statuses["Inactive"], 1);
    EXPECT_EQ(statuses["Active"], 2);
    // a normal page in spec mode reports the inactive member as Inactive
    auto full = get(roster_path() + "?limit=50", tok);
    EXPECT_NE(full.body.find("\"Inactive\""), std::string::npos);
}

TEST_F(SimCore, ControlApiChurnReportsExpectedChanges)
{
    auto r = core_->handle({.method = "POST", .host = "anything", .target = "/_sim/courses/" + std::to_string(course_->id) + "/churn",
                            .body = R"({"joins":2,"drops":1})"},
                           t0);
    ASSERT_EQ(r.status, 200) << r.body;
    auto expected = json::parse(r.body).as_object()["expected"].as_array();
    EXPECT_EQ(expected.size(), 3u);
    auto state = json::parse(core_->handle({.method = "GET", .host = "x", .target = "/_sim/state"}, t0).body).as_object();
    EXPECT_EQ(state["courses"].as_array().size(), 1u);
    auto bad = core_->handle({.method = "POST", .host = "x", .target = "/_sim/faults", .body = R"({"kind":"nonsense"})"}, t0);
    EXPECT_EQ(bad.status, 400);
    auto ok = core_->handle({.method = "POST", .host = "x", .target = "/_sim/faults", .body = R"({"kind":"status","status":502,"times":2})"}, t0);
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(core_->state().faults.size(), 1u);
    EXPECT_EQ(core_->state().faults[0].times, 2);
}

TEST_F(SimCore, PrivacyLevelIsPerClient)
{
    core_->state().clients[client_id].level = privacy::anonymous;
    auto tok = token();
    auto r = get(roster_path() + "?limit=5", tok);
    ASSERT_EQ(r.status, 200);
    auto parsed = json::parse(r.body);
    for (auto& m : parsed.as_object()["members"].as_array()) {
        const auto& o = m.as_object();
        EXPECT_FALSE(o.contains("name"));
        EXPECT_FALSE(o.contains("email"));
        EXPECT_TRUE(o.contains("user_id"));
    }
}

TEST_F(SimCore, UnknownHostIs404)
{
    auto tok = token();
    EXPECT_EQ(get(roster_path(), tok, t0, "evil.test").status, 404);
}

}  // namespace
}  // namespace rostersync::lms_sim
