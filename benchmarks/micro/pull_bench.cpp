// The pull engine's hot paths: NRPS page parsing (next to a bare simdjson walk over the same
// bytes), Link headers, admission decisions and client-assertion signing.
#include "http/link_header.hpp"
#include "lms_sim/nrps_page.hpp"
#include "lms_sim/world.hpp"
#include "nrps/page.hpp"
#include "oauth/assertion.hpp"
#include "throttle/admission.hpp"

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <chrono>

namespace {

using namespace rostersync;

/// A realistic Canvas page: 50 members of a generated course, every field present.
std::string canvas_page(int members)
{
    static lms_sim::world w(7);
    auto& c = w.add_course({.size = members, .test_student = false});
    auto s = lms_sim::slice(c, {{"limit", "50"}});
    return lms_sim::render_container("https://school.instructure.com/api/lti/courses/1/names_and_roles?limit=50", c,
                                     s.members, lms_sim::privacy::everything);
}

void BM_ParseNrpsPage(benchmark::State& state)
{
    const std::string page = canvas_page(50);
    std::size_t members = 0;
    for (auto _ : state) {
        auto p = nrps::parse_page(page);
        if (!p) state.SkipWithError("page did not parse");
        members += p->members.size();
        benchmark::DoNotOptimize(p);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * page.size()));
    state.counters["members/s"] = benchmark::Counter(static_cast<double>(members), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ParseNrpsPage);

/// The floor: simdjson on demand touching every member's user_id and roles, building nothing.
void BM_BareSimdjsonWalk(benchmark::State& state)
{
    const std::string page = canvas_page(50);
    simdjson::ondemand::parser parser;
    simdjson::padded_string padded(page);
    std::size_t members = 0;
    for (auto _ : state) {
        auto doc = parser.iterate(padded);
        for (auto m : doc["members"].get_array()) {
            std::string_view id = m["user_id"].get_string().value();
            benchmark::DoNotOptimize(id);
            for (auto r : m["roles"].get_array()) benchmark::DoNotOptimize(r.get_string().value());
            ++members;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * page.size()));
    state.counters["members/s"] = benchmark::Counter(static_cast<double>(members), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BareSimdjsonWalk);

void BM_LinkHeaderCanvas(benchmark::State& state)
{
    const std::string h =
        "<https://school.instructure.com/api/lti/courses/42/names_and_roles?page=2&per_page=50>; rel=\"current\","
        "<https://school.instructure.com/api/lti/courses/42/names_and_roles?page=3&per_page=50>; rel=\"next\","
        "<https://school.instructure.com/api/lti/courses/42/names_and_roles?page=1&per_page=50>; rel=\"prev\","
        "<https://school.instructure.com/api/lti/courses/42/names_and_roles?page=1&per_page=50>; rel=\"first\","
        "<https://school.instructure.com/api/lti/courses/42/names_and_roles?page=9&per_page=50>; rel=\"last\"";
    for (auto _ : state) {
        auto links = http::parse_link_header({h});
        auto next = http::find_rel(*links, "next");
        benchmark::DoNotOptimize(next);
    }
}
BENCHMARK(BM_LinkHeaderCanvas);

struct fake_clock {
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<fake_clock>;
    static time_point now() { return {}; }
};

void BM_AdmissionDecision(benchmark::State& state)
{
    throttle::admission<fake_clock> a({.max_in_flight = 4, .requests_per_second = 1e9});
    fake_clock::time_point t{};
    a.on_start(t);
    a.on_finish(t, 450.0);
    for (auto _ : state) {
        t += std::chrono::microseconds(1);
        auto d = a.decide(t);
        benchmark::DoNotOptimize(d);
    }
}
BENCHMARK(BM_AdmissionDecision);

void BM_SignAssertion(benchmark::State& state)
{
    auto key = oauth::generate_key(state.range(0) == 0 ? "RS256" : "ES256");
    auto k = oauth::signing_key::from_pem(key->private_pem);
    for (auto _ : state) {
        auto jwt = oauth::make_client_assertion(*k, {.client_id = "10000000000001",
                                                     .audience = "https://sso.canvaslms.com/login/oauth2/token",
                                                     .issued_at = std::chrono::system_clock::now(),
                                                     .jti = "fixed"});
        benchmark::DoNotOptimize(jwt);
    }
    state.SetLabel(state.range(0) == 0 ? "RS256" : "ES256");
}
BENCHMARK(BM_SignAssertion)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
