// The cost of counting (hot path) and of a /metrics scrape.
#include "metrics/registry.hpp"

#include <benchmark/benchmark.h>

namespace {

void BM_CounterIncrementHeld(benchmark::State& state)
{
    rostersync::metrics::registry reg;
    auto& c = reg.counter("rostersync_bench_total", "x", {"result"}).with({"ok"});
    for (auto _ : state) c.Increment();
}
BENCHMARK(BM_CounterIncrementHeld);

void BM_CounterIncrementLookup(benchmark::State& state)
{
    rostersync::metrics::registry reg;
    auto& fam = reg.counter("rostersync_bench_total", "x", {"result"});
    for (auto _ : state) fam.with({"ok"}).Increment();
}
BENCHMARK(BM_CounterIncrementLookup);

void BM_Scrape(benchmark::State& state)
{
    rostersync::metrics::registry reg;
    auto& fam = reg.counter("rostersync_bench_total", "x", {"platform", "result"});
    for (int i = 0; i < state.range(0); ++i) fam.with({"p" + std::to_string(i), "ok"}).Increment();
    for (auto _ : state) {
        auto text = reg.serialize_text();
        benchmark::DoNotOptimize(text);
    }
}
BENCHMARK(BM_Scrape)->Arg(10)->Arg(150);

}  // namespace

BENCHMARK_MAIN();
