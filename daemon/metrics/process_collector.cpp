#include "metrics/process_collector.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace rostersync::metrics {
namespace {

prometheus::MetricFamily one(std::string name, std::string help, prometheus::MetricType type,
                             double value)
{
    prometheus::MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = type;
    prometheus::ClientMetric m;
    if (type == prometheus::MetricType::Counter) m.counter.value = value;
    else m.gauge.value = value;
    f.metric.push_back(std::move(m));
    return f;
}

}  // namespace

process_collector::process_collector(std::string proc_root) : proc_root_(std::move(proc_root)) {}

std::vector<prometheus::MetricFamily> process_collector::Collect() const
{
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));

    // /proc/self/stat: the command may contain spaces and parentheses; fields resume after the
    // last ')'. Field 3 is the state; utime is 14, stime 15, starttime 22, vsize 23, rss 24.
    std::ifstream stat(proc_root_ + "/self/stat");
    std::string line;
    if (std::getline(stat, line)) {
        auto close = line.rfind(')');
        std::istringstream rest(close == std::string::npos ? "" : line.substr(close + 2));
        std::vector<std::string> f{"", ""};  // fields 1-2 (pid, comm) skipped: index = field number - 1
        for (std::string tok; rest >> tok;) f.push_back(tok);
        if (f.size() >= 24) {
            double utime = std::stod(f[13]), stime = std::stod(f[14]);
            double start_ticks = std::stod(f[21]), vsize = std::stod(f[22]), rss = std::stod(f[23]);
            out.push_back(one("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                              MetricType::Counter, (utime + stime) / ticks));
            out.push_back(one("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                              MetricType::Gauge, vsize));
            out.push_back(one("process_resident_memory_bytes", "Resident memory size in bytes.",
                              MetricType::Gauge, rss * page));
            std::ifstream pstat(proc_root_ + "/stat");
            for (std::string key; pstat >> key;) {
                if (key == "btime") {
                    double btime = 0;
                    pstat >> btime;
                    out.push_back(one("process_start_time_seconds",
                                      "Start time of the process since unix epoch in seconds.",
                                      MetricType::Gauge, btime + start_ticks / ticks));
                    break;
                }
                pstat.ignore(1 << 20, '\n');
            }
        }
    }

    std::error_code ec;
    double fds = 0;
    for (std::filesystem::directory_iterator it(proc_root_ + "/self/fd", ec), end; !ec && it != end;
         it.increment(ec))
        ++fds;
    if (!ec) out.push_back(one("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, fds));
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        out.push_back(one("process_max_fds", "Maximum number of open file descriptors.",
                          MetricType::Gauge, static_cast<double>(lim.rlim_cur)));
    }
    return out;
}

}  // namespace rostersync::metrics
