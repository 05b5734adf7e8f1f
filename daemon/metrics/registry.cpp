#include "metrics/registry.hpp"

#include "common/version.hpp"
#include "metrics/process_collector.hpp"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <sstream>

namespace rostersync::metrics {
namespace {

constexpr std::string_view prefix = "rostersync_";

// Non-base units, and what to use instead.
constexpr std::array<std::pair<std::string_view, std::string_view>, 14> bad_units{{
    {"_ms", "_seconds"},
    {"_millis", "_seconds"},
    {"_milliseconds", "_seconds"},
    {"_microseconds", "_seconds"},
    {"_us", "_seconds"},
    {"_ns", "_seconds"},
    {"_nanoseconds", "_seconds"},
    {"_minutes", "_seconds"},
    {"_hours", "_seconds"},
    {"_days", "_seconds"},
    {"_kb", "_bytes"},
    {"_kilobytes", "_bytes"},
    {"_mb", "_bytes"},
    {"_percent", "_ratio (0 to 1)"},
}};

// Labels that would carry identities: one series per user or course is unbounded.
constexpr std::array<std::string_view, 16> unbounded_labels{
    "user", "user_id", "sub", "email", "name", "course", "course_id", "context", "context_id",
    "context_key", "membership", "membership_key", "url", "memberships_url", "token", "id"};

bool snake(std::string_view s)
{
    if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

}  // namespace

std::string check_name(std::string_view name, prometheus::MetricType type)
{
    if (!name.starts_with(prefix)) return "metric names start with \"rostersync_\"";
    if (!snake(name)) return "metric names are lower-case snake_case";
    // Match a unit as a whole word: "_ms" at the end or followed by '_'.
    for (const auto& [unit, instead] : bad_units) {
        for (auto pos = name.find(unit); pos != std::string_view::npos; pos = name.find(unit, pos + 1)) {
            auto after = pos + unit.size();
            if (after == name.size() || name[after] == '_')
                return "use base units: \"" + std::string(unit) + "\" should be \"" +
                       std::string(instead) + "\"";
        }
    }
    const bool total = name.ends_with("_total");
    if (type == prometheus::MetricType::Counter && !total) return "counter names end in \"_total\"";
    if (type != prometheus::MetricType::Counter && total)
        return "only counters end in \"_total\"";
    return "";
}

std::string check_label(std::string_view label)
{
    if (!snake(label) || label.starts_with("__")) return "label names are lower-case snake_case";
    if (std::find(unbounded_labels.begin(), unbounded_labels.end(), label) != unbounded_labels.end())
        return "\"" + std::string(label) +
               "\" would make one series per user or course; identities never go in labels";
    return "";
}

registry::registry()
    : registry_(std::make_shared<prometheus::Registry>()),
      process_(std::make_shared<process_collector>())
{
    overflow_family_ = &prometheus::BuildCounter()
                            .Name("rostersync_metric_series_overflow_total")
                            .Help("Label values folded into the \"other\" series because a metric "
                                  "reached its series cap.")
                            .Register(*registry_);
    gauge("rostersync_build_info", "Build information; the value is always 1.",
          {"version", "revision"})
        .with({rostersync::version, rostersync::revision})
        .Set(1);
}

registry::~registry() = default;

void registry::check(std::string_view name, prometheus::MetricType type,
                     const std::vector<std::string>& labels) const
{
    if (auto why = check_name(name, type); !why.empty())
        throw std::invalid_argument("metric \"" + std::string(name) + "\": " + why);
    for (const auto& l : labels) {
        if (auto why = check_label(l); !why.empty())
            throw std::invalid_argument("metric \"" + std::string(name) + "\" label: " + why);
    }
}

family<prometheus::Counter>& registry::counter(std::string name, std::string help,
                                               std::vector<std::string> labels,
                                               std::size_t max_series)
{
    check(name, prometheus::MetricType::Counter, labels);
    std::lock_guard lock(mutex_);
    auto& fam = prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
    auto& overflow = overflow_family_->Add({{"metric", name}});
    counters_.push_back(std::make_unique<family<prometheus::Counter>>(fam, std::move(labels), max_series, overflow));
    return *counters_.back();
}

family<prometheus::Gauge>& registry::gauge(std::string name, std::string help,
                                           std::vector<std::string> labels, std::size_t max_series)
{
    check(name, prometheus::MetricType::Gauge, labels);
    std::lock_guard lock(mutex_);
    auto& fam = prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
    auto& overflow = overflow_family_->Add({{"metric", name}});
    gauges_.push_back(std::make_unique<family<prometheus::Gauge>>(fam, std::move(labels), max_series, overflow));
    return *gauges_.back();
}

family<prometheus::Histogram>& registry::histogram(std::string name, std::string help,
                                                   std::vector<double> buckets,
                                                   std::vector<std::string> labels,
                                                   std::size_t max_series)
{
    check(name, prometheus::MetricType::Histogram, labels);
    std::lock_guard lock(mutex_);
    auto& fam = prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
    auto& overflow = overflow_family_->Add({{"metric", name}});
    histograms_.push_back(std::make_unique<family<prometheus::Histogram>>(
        fam, std::move(labels), max_series, overflow, std::move(buckets)));
    return *histograms_.back();
}

std::vector<prometheus::MetricFamily> registry::collect() const
{
    auto out = registry_->Collect();
    auto proc = process_->Collect();
    out.insert(out.end(), std::make_move_iterator(proc.begin()), std::make_move_iterator(proc.end()));
    return out;
}

std::string registry::serialize_text() const
{
    std::ostringstream os;
    prometheus::TextSerializer{}.Serialize(os, collect());
    return os.str();
}

}  // namespace rostersync::metrics
