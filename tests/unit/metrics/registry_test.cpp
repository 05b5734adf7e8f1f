#include "metrics/registry.hpp"

#include "common/version.hpp"
#include "metrics/process_collector.hpp"
#include "support/prom_text.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <ctime>
#include <map>

namespace rostersync::metrics {
namespace {

using prometheus::MetricType;

test::prom_document scrape(const registry& reg)
{
    std::string error;
    auto doc = test::parse_prom_text(reg.serialize_text(), error);
    EXPECT_TRUE(error.empty()) << error << "\n" << reg.serialize_text();
    return doc;
}

TEST(MetricsNaming, AcceptsConventionalNames)
{
    EXPECT_EQ(check_name("rostersync_syncs_total", MetricType::Counter), "");
    EXPECT_EQ(check_name("rostersync_sync_duration_seconds", MetricType::Histogram), "");
    EXPECT_EQ(check_name("rostersync_response_size_bytes", MetricType::Gauge), "");
    EXPECT_EQ(check_name("rostersync_budget_in_flight", MetricType::Gauge), "");
    EXPECT_EQ(check_name("rostersync_mstate", MetricType::Gauge), "");  // "_ms" only as a word
}

TEST(MetricsNaming, RejectsWithReasons)
{
    EXPECT_EQ(check_name("syncs_total", MetricType::Counter), "metric names start with \"rostersync_\"");
    EXPECT_EQ(check_name("rostersync_Syncs_total", MetricType::Counter), "metric names are lower-case snake_case");
    EXPECT_EQ(check_name("rostersync_syncs", MetricType::Counter), "counter names end in \"_total\"");
    EXPECT_EQ(check_name("rostersync_in_flight_total", MetricType::Gauge), "only counters end in \"_total\"");
    EXPECT_EQ(check_name("rostersync_latency_ms", MetricType::Histogram),
              "use base units: \"_ms\" should be \"_seconds\"");
    EXPECT_EQ(check_name("rostersync_wait_minutes_total", MetricType::Counter),
              "use base units: \"_minutes\" should be \"_seconds\"");
    EXPECT_EQ(check_name("rostersync_body_kb", MetricType::Gauge), "use base units: \"_kb\" should be \"_bytes\"");
    EXPECT_EQ(check_name("rostersync_removed_percent", MetricType::Gauge),
              "use base units: \"_percent\" should be \"_ratio (0 to 1)\"");
}

TEST(MetricsNaming, RejectsIdentityLabels)
{
    for (const char* l : {"user_id", "course", "context_id", "email", "url"})
        EXPECT_NE(check_label(l).find("identities never go in labels"), std::string::npos) << l;
    EXPECT_EQ(check_label("platform"), "");
    EXPECT_EQ(check_label("reason"), "");
    EXPECT_NE(check_label("Bad"), "");
    EXPECT_NE(check_label("__name"), "");
}

TEST(MetricsRegistry, RegistrationEnforcesConventions)
{
    registry reg;
    EXPECT_THROW(reg.counter("rostersync_syncs", "x"), std::invalid_argument);
    EXPECT_THROW(reg.gauge("rostersync_x", "x", {"user_id"}), std::invalid_argument);
    EXPECT_THROW(reg.histogram("rostersync_wait_ms", "x", {1, 2}), std::invalid_argument);
    auto& ok = reg.counter("rostersync_syncs_total", "Passes.", {"result"});
    EXPECT_THROW(ok.with({"a", "b"}), std::invalid_argument);
}

TEST(MetricsRegistry, SeriesPastTheCapFoldIntoOther)
{
    registry reg;
    auto& fam = reg.counter("rostersync_events_total", "Events.", {"platform"}, 3);
    for (int i = 0; i < 10; ++i) fam.with({"p" + std::to_string(i)}).Increment();
    EXPECT_EQ(fam.series(), 4u);  // three real ones and "other"
    auto doc = scrape(reg);
    EXPECT_EQ(doc.value("rostersync_events_total", {{"platform", "p0"}}), 1.0);
    EXPECT_EQ(doc.value("rostersync_events_total", {{"platform", "other"}}), 7.0);
    EXPECT_EQ(doc.value("rostersync_metric_series_overflow_total", {{"metric", "rostersync_events_total"}}), 7.0);
}

TEST(MetricsRegistry, TextFormatHasTypesBuildInfoAndHistograms)
{
    registry reg;
    reg.gauge("rostersync_in_flight", "Requests in flight.").get().Set(3);
    auto& h = reg.histogram("rostersync_wait_seconds", "Wait.", {0.1, 1, 10}, {"budget"});
    h.with({"b"}).Observe(0.5);
    h.with({"b"}).Observe(5);
    auto doc = scrape(reg);
    EXPECT_EQ(doc.types.at("rostersync_in_flight"), "gauge");
    EXPECT_EQ(doc.types.at("rostersync_wait_seconds"), "histogram");
    EXPECT_EQ(doc.value("rostersync_in_flight"), 3.0);
    EXPECT_EQ(doc.value("rostersync_wait_seconds_count", {{"budget", "b"}}), 2.0);
    EXPECT_EQ(doc.value("rostersync_wait_seconds_bucket", {{"budget", "b"}, {"le", "1"}}), 1.0);
    EXPECT_EQ(doc.value("rostersync_build_info", {{"version", rostersync::version}}), 1.0);
}

TEST(ProcessCollector, ReportsThisProcess)
{
    registry reg;
    auto doc = scrape(reg);
    EXPECT_EQ(doc.types.at("process_cpu_seconds_total"), "counter");
    auto rss = doc.value("process_resident_memory_bytes");
    ASSERT_TRUE(rss);
    EXPECT_GT(*rss, 1024 * 1024);  // a gtest binary is larger than a megabyte
    auto fds = doc.value("process_open_fds");
    ASSERT_TRUE(fds);
    EXPECT_GE(*fds, 3);
    auto start = doc.value("process_start_time_seconds");
    ASSERT_TRUE(start);
    double now = static_cast<double>(std::time(nullptr));
    EXPECT_LE(*start, now + 1);
    EXPECT_GT(*start, now - 3600);  // started within the hour
    EXPECT_TRUE(doc.value("process_max_fds"));
    EXPECT_TRUE(doc.value("process_virtual_memory_bytes"));
}

TEST(ProcessCollector, ReadsTheRightStatFields)
{
    // A /proc fixture: the command contains spaces and parentheses, as real ones can.
    test::temp_dir proc;
    std::string stat = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 500 0 7 0 ";
    stat += "300 200 0 0 20 0 3 0 5000 123456789 2500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    proc.write("self/stat", stat);
    proc.write("stat", "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n");
    proc.write("self/fd/0", "");
    proc.write("self/fd/1", "");
    proc.write("self/fd/2", "");
    process_collector c(proc.path().string());
    std::map<std::string, double> v;
    for (const auto& f : c.Collect()) {
        v[f.name] = f.type == MetricType::Counter ? f.metric.at(0).counter.value : f.metric.at(0).gauge.value;
    }
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    EXPECT_DOUBLE_EQ(v.at("process_cpu_seconds_total"), (300 + 200) / ticks);   // utime + stime
    EXPECT_DOUBLE_EQ(v.at("process_start_time_seconds"), 1700000000 + 5000 / ticks);
    EXPECT_DOUBLE_EQ(v.at("process_virtual_memory_bytes"), 123456789);
    EXPECT_DOUBLE_EQ(v.at("process_resident_memory_bytes"), 2500 * page);
    EXPECT_DOUBLE_EQ(v.at("process_open_fds"), 3);
}

TEST(ProcessCollector, MissingProcGivesNoProcessMetricsButNoCrash)
{
    process_collector c("/nonexistent");
    auto families = c.Collect();
    for (const auto& f : families) EXPECT_EQ(f.name, "process_max_fds");
}

}  // namespace
}  // namespace rostersync::metrics
