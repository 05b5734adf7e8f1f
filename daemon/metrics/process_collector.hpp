#pragma once
// File: metrics/process_collector.hpp
//
// The standard process metrics, named as the Prometheus client libraries name them
// (process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds), read from /proc at scrape time.
// Thread-safe: Collect() only reads /proc.

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <string>

namespace rostersync::metrics {

class process_collector final : public prometheus::Collectable {
public:
    /// `proc_root` lets tests point it at a fixture; production uses "/proc".
    explicit process_collector(std::string proc_root = "/proc");
    std::vector<prometheus::MetricFamily> Collect() const override;

private:
    std::string proc_root_;
};

}  // namespace rostersync::metrics
