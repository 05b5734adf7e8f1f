// The roster diff at 30, 1,000 and 100,000 members with 0 %, 1 % and 100 % churn (a changed member
// gets a new role and a new email: two events); event encoding; the state fold (changes/s); a
// restore's table load (rows/s).
// Memory per membership at 1,000,000 memberships: state_memory_bench.cpp.
#include "roster/diff.hpp"
#include "roster/encode.hpp"
#include "sync/records.hpp"
#include "sync/state.hpp"

#include <benchmark/benchmark.h>


namespace {

using namespace rostersync;

nrps::member make(int i, int variant = 0)
{
    nrps::member m;
    m.user_id = "0ae836b9-7fc9-4060-006f-" + std::to_string(100000000000 + i);
    m.roles = {variant % 2 ? "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
                           : "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"};
    m.name = "Member " + std::to_string(i);
    m.given_name = "Member";
    m.family_name = std::to_string(i);
    m.email = "member" + std::to_string(i) + (variant ? ".new" : "") + "@example.edu";
    m.lti11_legacy_user_id = "fa31b56e39e6e0e64bb3a41f2b1c5bbc5c1d" + std::to_string(1000 + i % 9000);
    return m;
}

void BM_Diff(benchmark::State& state)
{
    const int n = static_cast<int>(state.range(0));
    const int churn_pct = static_cast<int>(state.range(1));
    roster::member_table known;
    for (int i = 0; i < n; ++i) known.insert_or_assign(roster::member_state{make(i)});
    roster::pass_input pass;
    const int changed = n * churn_pct / 100;
    for (int i = 0; i < n; ++i) pass.members.push_back(make(i, i < changed ? 1 : 0));
    pass.started_at = roster::time_point{} + std::chrono::hours(1);
    pass.ended_at = pass.started_at + std::chrono::seconds(10);
    std::size_t events = 0;
    for (auto _ : state) {
        auto r = roster::diff(known, {}, pass);
        events += r.changes.size();
        benchmark::DoNotOptimize(r);
    }
    state.counters["members/s"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * n, benchmark::Counter::kIsRate);
    state.counters["events/pass"] = static_cast<double>(events) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Diff)->ArgsProduct({{30, 1000, 100000}, {0, 1, 100}})->Unit(benchmark::kMicrosecond);

void BM_EncodeChange(benchmark::State& state)
{
    roster::change c{roster::change_type::roles_changed, make(1).user_id, make(1), make(1, 1)};
    roster::event_context ctx{.issuer = "https://canvas.instructure.com", .client_id = "10000000000001",
                              .context_id = "4dde05e8ca1973bcca9bffc13e1548820eee93a3", .roster_version = 17,
                              .time = std::chrono::system_clock::now()};
    for (auto _ : state) {
        auto json = roster::encode_change(c, ctx);
        auto headers = roster::cloudevents_headers(c, ctx);
        benchmark::DoNotOptimize(json);
        benchmark::DoNotOptimize(headers);
    }
}
BENCHMARK(BM_EncodeChange);

void BM_StateFold(benchmark::State& state)
{
    std::vector<std::string> records;
    roster::event_context ctx{.issuer = "https://canvas.instructure.com", .client_id = "1", .context_id = "c",
                              .roster_version = 1, .time = std::chrono::system_clock::now()};
    for (int i = 0; i < 1000; ++i)
        records.push_back(roster::encode_change({roster::change_type::added, make(i).user_id, std::nullopt, make(i)}, ctx));
    std::size_t folded = 0;
    for (auto _ : state) {
        sync::partition_state st;
        std::int64_t offset = 0;
        for (const auto& r : records) {
            auto e = sync::decode_change(r);
            st.apply(*e, offset++);
        }
        folded += records.size();
        benchmark::DoNotOptimize(st);
    }
    state.counters["changes/s"] = benchmark::Counter(static_cast<double>(folded), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StateFold)->Unit(benchmark::kMillisecond);

/// A restore's table load: rows of the memberships table decoded into the state (rows/s).
void BM_TableLoad(benchmark::State& state)
{
    std::vector<std::string> rows;
    for (int i = 0; i < 1000; ++i)
        rows.push_back(sync::encode_row("https://canvas.instructure.com", "c" + std::to_string(i / 50),
                                        roster::member_state{make(i)}, 3));
    std::size_t loaded = 0;
    for (auto _ : state) {
        sync::partition_state st;
        for (const auto& text : rows) {
            auto r = sync::decode_row(text);
            st.load(r->issuer + "|" + r->context_id, r->member.user_id,
                    {.record = std::move(r->member), .provisional = r->provisional, .launch_seen_at = r->launch_seen_at},
                    r->roster_version);
        }
        loaded += rows.size();
        benchmark::DoNotOptimize(st);
    }
    state.counters["rows/s"] = benchmark::Counter(static_cast<double>(loaded), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TableLoad)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
