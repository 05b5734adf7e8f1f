// The pull engine's hot paths: NRPS page parsing (next to bare simdjson walks over the same bytes:
// the floor, which reads every field the parser reads, and the old two-field walk for reference;
// also a page with rlid's `message`), Link headers, admission decisions and client-assertion
// signing.
#include "http/link_header.hpp"
#include "lms_sim/nrps_page.hpp"
#include "lms_sim/world.hpp"
#include "nrps/page.hpp"
#include "oauth/assertion.hpp"
#include "throttle/admission.hpp"

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <chrono>
#include <string>
#include <utility>

namespace {

using namespace rostersync;

/// The page the parse benchmarks and their floors read: a realistic Canvas page, 50 members of a
/// generated course, every field present (privacy `everything`). With `rlid_message`, the same
/// members also carry Canvas's `message` array (a request with rlid). Made once, so the parser
/// and the floors walk the same bytes.
const std::string& canvas_page(bool rlid_message = false)
{
    static const auto pages = [] {
        lms_sim::world w(7);
        auto& c = w.add_course({.size = 50, .test_student = false});
        auto s = lms_sim::slice(c, {{"limit", "50"}});
        const std::string url = "https://school.instructure.com/api/lti/courses/1/names_and_roles?limit=50";
        return std::pair{lms_sim::render_container(url, c, s.members, lms_sim::privacy::everything),
                         lms_sim::render_container(url, c, s.members, lms_sim::privacy::everything, true)};
    }();
    return rlid_message ? pages.second : pages.first;
}

void BM_ParseNrpsPage(benchmark::State& state)
{
    const std::string& page = canvas_page();
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

/// The same with rlid: a field parse_page skips unread (`message`) makes it count the members
/// array before reading it (see nrps/parse.cpp), so these pages cost one more walk of the array.
void BM_ParseNrpsPageRlid(benchmark::State& state)
{
    const std::string& page = canvas_page(true);
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
BENCHMARK(BM_ParseNrpsPageRlid);

namespace od = simdjson::ondemand;

/// One string value, unescaped into the parser's buffer and kept nowhere.
bool walk_string(od::value v)
{
    std::string_view s;
    if (v.get_string().get(s)) return false;
    benchmark::DoNotOptimize(s);
    return true;
}

/// One member: every field in document order, each string value unescaped, each role string
/// unescaped. `message` (Canvas's optional rlid claim; none on these pages) is skipped, as
/// parse_page skips it.
bool walk_member(od::value mv)
{
    od::object member;
    if (mv.get_object().get(member)) return false;
    for (auto field : member) {
        od::raw_json_string key;
        od::value v;
        if (field.key().get(key) || field.value().get(v)) return false;
        if (key == "roles") {
            od::array roles;
            if (v.get_array().get(roles)) return false;
            for (auto role : roles) {
                std::string_view s;
                if (role.get_string().get(s)) return false;
                benchmark::DoNotOptimize(s);
            }
        } else if (key == "message") {
            continue;
        } else if (!walk_string(v)) {
            return false;
        }
    }
    return true;
}

/// The page: the top-level fields (id, context {id, label, title}, members) in document order.
bool walk_page(od::parser& parser, simdjson::padded_string& padded, std::size_t& members)
{
    od::document doc;
    od::object root;
    if (parser.iterate(padded).get(doc) || doc.get_object().get(root)) return false;
    for (auto field : root) {
        od::raw_json_string key;
        od::value v;
        if (field.key().get(key) || field.value().get(v)) return false;
        if (key == "members") {
            od::array list;
            if (v.get_array().get(list)) return false;
            for (auto element : list) {
                od::value mv;
                if (element.get(mv) || !walk_member(mv)) return false;
                ++members;
            }
        } else if (key == "context") {
            od::object ctx;
            if (v.get_object().get(ctx)) return false;
            for (auto cf : ctx) {
                od::value cv;
                if (cf.value().get(cv) || !walk_string(cv)) return false;
            }
        } else if (key == "id") {
            if (!walk_string(v)) return false;
        }
    }
    return true;
}

/// The floor for BM_ParseNrpsPage: simdjson on demand over the same padded bytes, reading what
/// parse_page reads (every field of the container, its context and every member, in document
/// order, each string value and each role unescaped with get_string) but building nothing: no
/// strings, no vectors, no validation beyond simdjson's own, no error messages, keys compared raw.
/// What parse_page spends above this is its own work: the padded copy of the input, dispatching
/// and validating each field, and building the page's members (views into one text block).
void BM_BareSimdjsonWalk(benchmark::State& state)
{
    const std::string& page = canvas_page();
    od::parser parser;
    simdjson::padded_string padded(page);
    std::size_t members = 0;
    for (auto _ : state) {
        if (!walk_page(parser, padded, members)) {
            state.SkipWithError("page did not walk");
            break;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * page.size()));
    state.counters["members/s"] = benchmark::Counter(static_cast<double>(members), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BareSimdjsonWalk);

/// The old floor, kept for reference: only each member's user_id and roles (by key lookup),
/// everything else skipped. Cheaper than anything that reads the whole page.
void BM_BareSimdjsonWalkIdsAndRoles(benchmark::State& state)
{
    const std::string& page = canvas_page();
    od::parser parser;
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
BENCHMARK(BM_BareSimdjsonWalkIdsAndRoles);

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
