// Loading and validating a production-sized configuration (SIGHUP reload cost).
#include "config/load.hpp"

#include <benchmark/benchmark.h>

#include <string>

namespace {

std::string make_config(int platforms)
{
    std::string s = "[kafka]\nbrokers = \"k1:9092,k2:9092,k3:9092\"\n[sync]\nmin_interval = \"10m\"\n"
                    "[[budgets]]\nname = \"canvas-cloud\"\nmax_in_flight = 4\n";
    for (int i = 0; i < platforms; ++i) {
        auto n = std::to_string(i);
        s += "[[platforms]]\nname = \"p" + n + "\"\nissuer = \"https://canvas.instructure.com\"\n"
             "client_id = \"1000000000" + n + "\"\ntoken_url = \"https://sso.canvaslms.com/login/oauth2/token\"\n"
             "private_key_file = \"/etc/rostersync/key.pem\"\nallowed_hosts = [\"*.instructure.com\"]\n"
             "budget = \"canvas-cloud\"\n";
    }
    return s;
}

void BM_LoadConfig(benchmark::State& state)
{
    auto text = make_config(static_cast<int>(state.range(0)));
    for (auto _ : state) {
        auto cfg = rostersync::config::load_string(text, "bench.toml", {});
        if (!cfg) state.SkipWithError("config did not load");
        benchmark::DoNotOptimize(cfg);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_LoadConfig)->Arg(1)->Arg(100);

}  // namespace

BENCHMARK_MAIN();
