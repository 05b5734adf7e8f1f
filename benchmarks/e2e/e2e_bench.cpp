// rostersync_e2e_bench: the end-to-end benchmark of issue 6 (item 2). rostersyncd runs as a child
// process against the simulated platform (in this process, HTTPS, tests/lms_sim) and the mock
// Kafka cluster as a process of its own (rostersync-kafka-mock), both set up by
// tests/support/pipeline_env. Scenarios (benchmarks/README.md says what each figure means):
//
//   bulk      20,000 courses of 5-60 members + 20 of 5,000, unthrottled: memberships/s, daemon
//             CPU-seconds per million memberships, peak RSS per membership, CourseSeen-to-last-
//             event latency p50/p99; with --callgrind also instructions per membership on a
//             smaller run of the same mix under valgrind --tool=callgrind
//   throttle  Canvas's bucket (hwm 600, outflow 10/s, up-front 50, page cost 0.05 + 0.004/member,
//             reply latency = cost seconds): pages/s against the analytic ceiling and rejections,
//             for rostersyncd and for naive_driver strategies, each its own client_id and bucket
//   restart   restore of 1,000,000 tracked memberships: replay only (SIGKILL before any snapshot)
//             and table load (after a graceful stop wrote the last snapshot); RSS after restore
//   scaleout  a second instance joins; then one of two stops (SIGTERM, then SIGKILL): time until
//             the other owns every partition live
//
// Each scenario writes DIR/<scenario>.json and DIR/<scenario>*.dat (time series for gnuplot) and
// prints a table. run.sh builds, runs this and plots.
#include "kafka/consumer.hpp"
#include "kafka/partitioner.hpp"
#include "kafka/producer.hpp"
#include "oauth/assertion.hpp"
#include "support/http_client.hpp"
#include "support/pipeline_env.hpp"
#include "support/prom_text.hpp"

#include <boost/json.hpp>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

namespace {

using namespace rostersync;
using namespace std::chrono_literals;
namespace json = boost::json;
using steady = std::chrono::steady_clock;
using test::pipeline_env;

// ---------------------------------------------------------------------------------------------
// options

struct options {
    std::set<std::string> scenarios{"bulk", "throttle", "restart", "scaleout"};
    bool quick = false;
    bool smoke = false;  // tiny sizes: proves the harness works (ctest bench-smoke)
    double scale() const { return smoke ? 0.01 : quick ? 0.1 : 1.0; }
    /// A pause that lets a measurement settle (idle RSS, what stays resident after a restore);
    /// none in --smoke, where only correctness counts. Never used to wait for a condition.
    std::chrono::milliseconds settle(std::chrono::milliseconds full) const { return smoke ? 0ms : full; }
    bool callgrind = true;
    std::filesystem::path out = "benchmarks/results";
    double throttle_seconds = 300;
    double seconds_per_cost = 1.0;
    std::string privacy = "anonymous";  // restart / scaleout state
    long restart_memberships = 1'000'000;
    double callgrind_share = 0.05;       // of the bulk workload (at full scale)
    int bulk_partitions = 96;            // enough that the mock keeps the whole change stream
    std::string compression = "lz4";     // the daemon's compression.type (the mock keeps 5 MiB per partition)
    std::vector<std::pair<std::string, std::string>> properties;  // --property KEY=VALUE: more [kafka.properties]
    std::string properties_toml() const
    {
        std::string out = compression == "none" ? std::string() : "\"compression.type\" = \"" + compression + "\"\n";
        for (const auto& [k, v] : properties) out += "\"" + k + "\" = \"" + v + "\"\n";
        return out;
    }
    int state_partitions = 96;           // restart / scale-out
    int daemon_max_in_flight = 6;        // throttle: rostersyncd's budget (the Canvas budget of
    int daemon_rps = 30;                 // deploy/rostersync.example.toml: 6, 300, 30)
    int daemon_reserve = 300;
};

const char* usage = R"(Usage: rostersync_e2e_bench [--scenario bulk,throttle,restart,scaleout] [--quick | --smoke]
                            [--out DIR] [--no-callgrind] [--callgrind-share F]
                            [--throttle-seconds N] [--seconds-per-cost S]
                            [--restart-memberships N] [--privacy anonymous|public]
                            [--daemon-budget MAX_IN_FLIGHT,RESERVE]
                            [--bulk-partitions N] [--state-partitions N] [--compression lz4|zstd|none]
                            [--property KEY=VALUE]…

The end-to-end benchmark: rostersyncd against the simulated platform and the mock Kafka cluster.
--quick shrinks every scenario (bulk 10 %, throttle 60 s, restart 100,000 memberships);
--smoke more (bulk 1 %, throttle 10 s, restart 10,000, 4 partitions, no settling pauses), to
check that the harness works (ctest bench_smoke.e2e). Exits 2 when a run is invalid (records
lost, a restore incomplete, a crash, a strategy that read nothing), 1 on an error.
--daemon-budget sets rostersyncd's budget in the throttle scenario (default 6,300: the Canvas
budget of deploy/rostersync.example.toml, with requests_per_second 30). Writes DIR/<scenario>.json and time series DIR/<scenario>*.dat; benchmarks/e2e/run.sh plots them.
The mock cluster keeps at most 5 MiB per partition (older records are dropped), so the bulk and
restart scenarios use 96 partitions and lz4 compression by default, enough to keep every record
(a 5,000-member course's changes land in one partition); a run that lost records says so and is
marked invalid.
)";

// ---------------------------------------------------------------------------------------------
// small helpers

double wall_now()
{
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double secs(steady::duration d)
{
    return std::chrono::duration<double>(d).count();
}

std::string read_text(const std::filesystem::path& p)
{
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string loadavg()
{
    auto t = read_text("/proc/loadavg");
    auto parts = t.substr(0, t.find(' ', t.find(' ', t.find(' ') + 1) + 1));
    return parts;
}

/// CPU seconds (user + system) and memory of a process, from /proc.
struct proc_sample {
    double cpu = 0;
    long rss_kb = 0;
    long hwm_kb = 0;
    bool ok = false;
};

proc_sample sample_proc(pid_t pid)
{
    proc_sample s;
    auto stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) return s;
    std::istringstream in(stat.substr(close + 2));
    std::string field;
    // Fields after the command: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime(14) stime(15).
    std::vector<std::string> f;
    while (in >> field && f.size() < 13) f.push_back(field);
    if (f.size() < 13) return s;
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    s.cpu = (std::stod(f[11]) + std::stod(f[12])) / tick;
    std::istringstream st(read_text("/proc/" + std::to_string(pid) + "/status"));
    for (std::string line; std::getline(st, line);) {
        if (line.starts_with("VmRSS:")) s.rss_kb = std::stol(line.substr(6));
        if (line.starts_with("VmHWM:")) s.hwm_kb = std::stol(line.substr(6));
    }
    s.ok = true;
    return s;
}

double percentile(std::vector<double> v, double q)
{
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const auto hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

std::string fmt(double v, int digits = 1)
{
    std::ostringstream o;
    o << std::fixed << std::setprecision(digits) << v;
    return o.str();
}

std::string thousands(double v)
{
    const auto digits = std::to_string(std::llabs(std::llround(v)));
    std::string out = v < -0.5 ? "-" : "";
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

void print_table(const std::string& title, const std::vector<std::pair<std::string, std::string>>& rows)
{
    std::cout << "\n## " << title << "\n\n| figure | value |\n|---|---|\n";
    for (const auto& [k, v] : rows) std::cout << "| " << k << " | " << v << " |\n";
    std::cout << std::flush;
}

void write_json(const options& o, const std::string& name, const json::object& obj)
{
    std::filesystem::create_directories(o.out);
    std::ofstream(o.out / (name + ".json")) << json::serialize(obj) << "\n";
}

// ---------------------------------------------------------------------------------------------
// daemon instances (started here rather than by pipeline_env, for valgrind and env overrides)

/// A rostersyncd child process whose stderr is drained all the time by a thread of its own (a
/// full pipe would block the daemon's logging, and with it the daemon). Every use of the process
/// goes through the mutex.
struct instance {
    std::unique_ptr<test::daemon_process> proc;
    std::string host;
    unsigned short port = 0;
    steady::time_point started;
    std::string name;
    pid_t pid_ = -1;

    pid_t pid() const { return pid_; }
    void start_pump()
    {
        pump_ = std::thread([this] {
            while (!stop_) {
                {
                    std::lock_guard l(m_);
                    proc->wait_for_log("\x01 never logged", 20ms);
                }
                std::this_thread::sleep_for(5ms);
            }
        });
    }
    void signal(int sig)
    {
        std::lock_guard l(m_);
        proc->signal(sig);
    }
    std::optional<int> wait_exit(std::chrono::milliseconds timeout)
    {
        std::lock_guard l(m_);
        return proc->wait_exit(timeout);
    }
    std::vector<std::string> lines()
    {
        std::lock_guard l(m_);
        return proc->log_lines();
    }
    std::string log_text()
    {
        std::lock_guard l(m_);
        return proc->log_text();
    }
    ~instance()
    {
        stop_ = true;
        if (pump_.joinable()) pump_.join();
        // ROSTERSYNC_BENCH_LOGS=DIR keeps each instance's log as DIR/<name>.log (for profiling).
        if (const char* dir = std::getenv("ROSTERSYNC_BENCH_LOGS"); dir != nullptr && proc)
            std::ofstream(std::string(dir) + "/" + name + ".log") << proc->log_text();
    }

private:
    std::mutex m_;
    std::thread pump_;
    std::atomic<bool> stop_{false};
};

/// A child process that is not a daemon (naive_driver), its output drained all the time.
/// The full path of a program found on PATH (daemon_process starts binaries with execve).
std::string which(const std::string& program)
{
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    for (std::string d; std::getline(dirs, d, ':');) {
        const auto candidate = std::filesystem::path(d.empty() ? "." : d) / program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    throw std::runtime_error(program + " not found on PATH");
}

std::unique_ptr<instance> start_pumped(const std::string& name, const std::string& binary,
                                       const std::vector<std::string>& args)
{
    auto in = std::make_unique<instance>();
    in->name = name;
    in->started = steady::now();
    in->proc = std::make_unique<test::daemon_process>(binary, args);
    in->pid_ = in->proc->pid();
    in->start_pump();
    return in;
}

std::unique_ptr<instance> start_instance(pipeline_env& env, const std::string& name,
                                         const std::map<std::string, std::string>& env_vars = {},
                                         const std::vector<std::string>& wrapper = {},
                                         std::chrono::milliseconds ready_timeout = 60s)
{
    auto in = std::make_unique<instance>();
    in->name = name;
    std::vector<std::string> args = wrapper;
    std::string binary = ROSTERSYNCD_PATH;
    if (!wrapper.empty()) {
        binary = wrapper.front();
        args.erase(args.begin());
        args.push_back(ROSTERSYNCD_PATH);
    }
    args.push_back("--config");
    args.push_back(env.config_path().string());
    in->started = steady::now();
    in->proc = std::make_unique<test::daemon_process>(binary, args, env_vars);
    // Poll READY=1 in short steps, so a process that exits at once (a wrong path) fails fast.
    const auto ready_deadline = steady::now() + ready_timeout;
    while (!in->proc->wait_for_notify("READY=1", 500ms)) {
        if (auto code = in->proc->wait_exit(0ms); code || steady::now() > ready_deadline)
            throw std::runtime_error(name + (code ? " exited with " + std::to_string(*code) : " did not get ready") +
                                     " before READY=1: " + in->proc->log_text());
    }
    auto line = in->proc->wait_for_log("msg=ready", 30s);
    if (!line) throw std::runtime_error(name + ": no ready line");
    auto address = test::logfmt_field(*line, "http_address");
    auto colon = address.rfind(':');
    in->host = address.substr(0, colon);
    in->port = static_cast<unsigned short>(std::stoi(address.substr(colon + 1)));
    in->pid_ = in->proc->pid();
    in->start_pump();
    return in;
}

std::optional<test::prom_document> scrape(const instance& in, std::chrono::milliseconds timeout = 10s)
{
    auto r = test::http_request(in.host, in.port, "GET", "/metrics", {}, {}, timeout);
    static std::atomic<int> reported{0};
    if (r.status != 200) {
        if (reported++ < 3) std::cerr << in.name << ": GET /metrics: " << r.status << " " << r.error << std::endl;
        return std::nullopt;
    }
    std::string err;
    auto doc = test::parse_prom_text(r.body, err);
    if (!err.empty()) {
        if (reported++ < 3) std::cerr << in.name << ": /metrics does not parse: " << err << std::endl;
        return std::nullopt;
    }
    return doc;
}

int live_partitions(const instance& in)
{
    auto doc = scrape(in);
    if (!doc) return -1;
    return static_cast<int>(doc->value("rostersync_partitions", {{"phase", "live"}}).value_or(0));
}

double metric(const instance& in, const std::string& name, const std::map<std::string, std::string>& labels = {})
{
    auto doc = scrape(in);
    if (!doc) return -1;
    return doc->value(name, labels).value_or(0);
}

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout, std::chrono::milliseconds step = 100ms)
{
    const auto deadline = steady::now() + timeout;
    while (steady::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(step);
    }
    return pred();
}

/// Every "partition table loaded" and "partition live" line of an instance since `from` (index).
struct restore_log {
    double max_load_seconds = 0;
    double sum_load_seconds = 0;
    long loaded_memberships = 0;
    long replayed = 0;
    int loaded = 0;
    int live = 0;
};

restore_log read_restore_log(instance& in, std::size_t from = 0)
{
    restore_log r;
    const auto lines = in.lines();
    for (std::size_t i = from; i < lines.size(); ++i) {
        const auto& l = lines[i];
        if (l.find("msg=\"partition table loaded") != std::string::npos) {
            ++r.loaded;
            const double s = std::atof(test::logfmt_field(l, "seconds").c_str());
            r.max_load_seconds = std::max(r.max_load_seconds, s);
            r.sum_load_seconds += s;
            r.loaded_memberships += std::atol(test::logfmt_field(l, "table_memberships").c_str());
            r.replayed += std::atol(test::logfmt_field(l, "to").c_str()) - std::atol(test::logfmt_field(l, "from").c_str());
        } else if (l.find("msg=\"partition live\"") != std::string::npos || l.find("msg=partition live") != std::string::npos) {
            ++r.live;
        }
    }
    return r;
}

// ---------------------------------------------------------------------------------------------
// Kafka access for the harness: publishing CourseSeen, counting and scanning topics

class kafka_io {
public:
    kafka_io(std::string bootstrap, int partitions) : bootstrap_(std::move(bootstrap)), partitions_(partitions)
    {
        auto p = kafka::producer::create({.bootstrap = bootstrap_, .client_id = "e2e-bench",
                                          .properties = {{"linger.ms", "5"}}});
        if (!p) throw std::runtime_error(p.error());
        producer_ = std::move(*p);
        // The idempotent producer's first send waits for its producer id and metadata; pay that
        // before any timed publish (one record to the dead-letter topic, which nothing reads).
        kafka::record warmup{.topic = "lti.course-seen.dlq", .partition = 0, .key = "e2e-bench-warmup", .value = "{}"};
        producer_->send(std::move(warmup), [](const kafka::delivery&) {});
        producer_->flush(30s);
    }

    /// Publishes CourseSeen events for the courses, asynchronously, and waits for every delivery.
    void publish_seen(const std::vector<test::sim_course>& courses)
    {
        std::atomic<long> failed{0};
        for (const auto& c : courses) {
            json::object o{{"issuer", test::sim_issuer},
                           {"client_id", test::sim_client_id},
                           {"deployment_id", "1:deployment"},
                           {"context", json::object{{"id", c.context_id}, {"label", std::to_string(c.id)}}},
                           {"context_memberships_url", c.url},
                           {"seen_at", pipeline_env::now_text()}};
            const auto key = c.context_key();
            kafka::record r{.topic = "lti.course-seen", .partition = kafka::partition_for(key, partitions_),
                            .key = key, .value = json::serialize(o)};
            for (;;) {
                auto ec = producer_->send(r, [&failed](const kafka::delivery& d) {
                    if (d.ec) ++failed;
                });
                if (!ec) break;
                std::this_thread::sleep_for(5ms);  // queue full: let deliveries drain
            }
        }
        producer_->flush(120s);
        if (failed) throw std::runtime_error(std::to_string(failed.load()) + " CourseSeen deliveries failed");
    }

    /// Records in a topic (sum of high watermarks).
    std::int64_t count(const std::string& topic)
    {
        std::int64_t total = 0;
        for (int p = 0; p < partitions_; ++p) {
            std::int64_t lo = 0, hi = 0;
            if (rd_kafka_query_watermark_offsets(producer_->native(), topic.c_str(), p, &lo, &hi, 10000) ==
                RD_KAFKA_RESP_ERR_NO_ERROR)
                total += hi;
        }
        return total;
    }

    /// Records the mock cluster already dropped from a topic (sum of low watermarks). The mock
    /// (librdkafka 2.0.2, rdkafka_mock.c) keeps at most 5 MiB per partition and drops the oldest
    /// message sets beyond that; a benchmark whose topics lost records is invalid.
    std::int64_t dropped(const std::string& topic)
    {
        std::int64_t total = 0;
        for (int p = 0; p < partitions_; ++p) {
            std::int64_t lo = 0, hi = 0;
            if (rd_kafka_query_watermark_offsets(producer_->native(), topic.c_str(), p, &lo, &hi, 10000) ==
                RD_KAFKA_RESP_ERR_NO_ERROR)
                total += lo;
        }
        return total;
    }

    const std::string& bootstrap() const { return bootstrap_; }
    int partitions() const { return partitions_; }

    /// Calls f(key, timestamp ms) for every record of a topic, from the start to the end measured now.
    template <class F>
    std::int64_t scan(const std::string& topic, F&& f)
    {
        const auto want = count(topic);
        auto c = kafka::consumer::create({.bootstrap = bootstrap_, .group_id = "e2e-bench-scan",
                                          .properties = {{"fetch.max.bytes", "104857600"}}});
        if (!c) throw std::runtime_error(c.error());
        std::vector<kafka::topic_partition> tps;
        for (int i = 0; i < partitions_; ++i) tps.push_back({topic, i});
        (*c)->assign(tps, RD_KAFKA_OFFSET_BEGINNING);
        std::int64_t n = 0;
        auto last_progress = steady::now();
        while (n < want && steady::now() - last_progress < 30s) {
            auto m = (*c)->poll(200ms);
            if (!m || !*m) continue;
            last_progress = steady::now();
            const rd_kafka_message_t& msg = **m;
            rd_kafka_timestamp_type_t tt;
            const std::int64_t ts = rd_kafka_message_timestamp(&msg, &tt);
            std::string_view key(static_cast<const char*>(msg.key), msg.key_len);
            f(key, ts);
            ++n;
        }
        (*c)->close();
        return n;
    }

private:
    std::string bootstrap_;
    int partitions_;
    std::unique_ptr<kafka::producer> producer_;
};

/// Reads the change stream while it is written (the mock cluster would drop what a reader
/// reaches too late): per context the last change's timestamp, changes per second, bytes.
class tail_reader {
public:
    tail_reader(const kafka_io& io, double t0_wall) : t0_(t0_wall)
    {
        auto c = kafka::consumer::create({.bootstrap = io.bootstrap(), .group_id = "e2e-bench-tail",
                                          .properties = {{"fetch.max.bytes", "104857600"}}});
        if (!c) throw std::runtime_error(c.error());
        consumer_ = std::move(*c);
        std::vector<kafka::topic_partition> tps;
        for (int i = 0; i < io.partitions(); ++i) tps.push_back({"lti.membership-changes", i});
        consumer_->assign(tps, RD_KAFKA_OFFSET_BEGINNING);
        next_.assign(static_cast<std::size_t>(io.partitions()), 0);
        thread_ = std::thread([this] { run(); });
    }
    ~tail_reader() { stop(); }
    void stop()
    {
        if (thread_.joinable()) {
            stop_ = true;
            thread_.join();
            consumer_->close();
        }
    }
    std::int64_t records() const { return records_.load(); }
    std::int64_t missed() const { return missed_.load(); }
    // Valid after stop():
    std::unordered_map<std::string, std::int64_t> last_change;
    std::map<long, long> per_second;
    std::int64_t last_ts = 0;
    std::int64_t bytes = 0;

private:
    void run()
    {
        while (!stop_) {
            auto m = consumer_->poll(100ms);
            if (!m || !*m) continue;
            const rd_kafka_message_t& msg = **m;
            auto& expected = next_[static_cast<std::size_t>(msg.partition)];
            if (msg.offset > expected) missed_ += msg.offset - expected;
            expected = msg.offset + 1;
            rd_kafka_timestamp_type_t tt;
            const std::int64_t ts = rd_kafka_message_timestamp(&msg, &tt);
            std::string_view key(static_cast<const char*>(msg.key), msg.key_len);
            auto& l = last_change[std::string(key.substr(0, key.rfind('|')))];
            l = std::max(l, ts);
            last_ts = std::max(last_ts, ts);
            per_second[static_cast<long>(std::floor(static_cast<double>(ts) / 1000.0 - t0_))]++;
            std::size_t header_bytes = 0;
            rd_kafka_headers_t* h = nullptr;
            if (rd_kafka_message_headers(&msg, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char* name = nullptr;
                const void* v = nullptr;
                size_t n = 0;
                for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
                    header_bytes += std::strlen(name) + n;
            }
            bytes += static_cast<std::int64_t>(msg.key_len + msg.len + header_bytes);
            ++records_;
        }
    }
    double t0_;
    std::unique_ptr<kafka::consumer> consumer_;
    std::vector<std::int64_t> next_;
    std::atomic<std::int64_t> records_{0}, missed_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// workloads

/// `small` courses of 5-60 members (uniform, seeded) and `big` of 5,000, shuffled together.
/// With `total` > 0, small courses are added until the memberships reach `total` exactly.
std::vector<test::sim_course> make_courses(pipeline_env& env, const std::string& host, int small, int big,
                                           long total, long& memberships, std::uint32_t seed = 42,
                                           std::unordered_map<std::string, int>* size_by_context = nullptr)
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> size(5, 60);
    std::vector<int> sizes(static_cast<std::size_t>(big), 5000);
    memberships = 5000L * big;
    if (total > 0) {
        while (memberships < total) {
            int s = static_cast<int>(std::min<long>(size(rng), total - memberships));
            sizes.push_back(s);
            memberships += s;
        }
    } else {
        for (int i = 0; i < small; ++i) {
            sizes.push_back(size(rng));
            memberships += sizes.back();
        }
    }
    std::shuffle(sizes.begin(), sizes.end(), rng);
    std::vector<test::sim_course> out;
    out.reserve(sizes.size());
    for (int s : sizes) {
        out.push_back(env.add_course(host, s));
        if (size_by_context != nullptr) (*size_by_context)[out.back().context_key()] = s;
    }
    return out;
}

void set_privacy(pipeline_env& env, const std::string& level)
{
    const auto p = level == "public" ? lms_sim::privacy::everything : lms_sim::privacy::anonymous;
    env.sim().call([&](lms_sim::sim_core& c) { c.state().clients.at(test::sim_client_id).level = p; });
}

// A background sampler of one process: CPU, RSS and a counter every `period`.
class sampler {
public:
    struct point {
        double t = 0;  // seconds since start
        proc_sample p;
        double counter = 0;
    };
    sampler(pid_t pid, std::function<double()> counter, std::chrono::milliseconds period = 1000ms)
        : pid_(pid), counter_(std::move(counter)), period_(period), start_(steady::now())
    {
        thread_ = std::thread([this] { run(); });
    }
    ~sampler() { stop(); }
    void stop()
    {
        if (thread_.joinable()) {
            stop_ = true;
            thread_.join();
        }
    }
    std::vector<point> points()
    {
        std::lock_guard l(m_);
        return points_;
    }

private:
    void run()
    {
        while (!stop_) {
            point pt{.t = secs(steady::now() - start_), .p = sample_proc(pid_), .counter = counter_ ? counter_() : 0};
            {
                std::lock_guard l(m_);
                points_.push_back(pt);
            }
            const auto next = start_ + period_ * static_cast<long>(points_.size());
            while (!stop_ && steady::now() < next) std::this_thread::sleep_for(20ms);
        }
    }
    pid_t pid_;
    std::function<double()> counter_;
    std::chrono::milliseconds period_;
    steady::time_point start_;
    std::atomic<bool> stop_{false};
    std::mutex m_;
    std::vector<point> points_;
    std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// bulk

struct bulk_result {
    long memberships = 0;
    long courses = 0;
    double seconds = 0;        // first CourseSeen published → last change in the log
    double cpu_seconds = 0;    // daemon, until the fold held every membership
    double hwm_bytes = 0;
    double baseline_rss_bytes = 0;
    double p50 = 0, p99 = 0, p50_big = 0, max_latency = 0;
    double hist_p50 = 0, hist_p99 = 0;
    long changes = 0;
};

/// p50/p99 from a Prometheus histogram (linear within a bucket, as histogram_quantile does).
std::pair<double, double> histogram_quantiles(const test::prom_document& doc, const std::string& name)
{
    std::vector<std::pair<double, double>> buckets;
    for (const auto& s : doc.samples) {
        if (s.name != name + "_bucket") continue;
        auto le = s.labels.at("le");
        buckets.emplace_back(le == "+Inf" ? INFINITY : std::stod(le), s.value);
    }
    std::sort(buckets.begin(), buckets.end());
    auto q = [&](double quant) {
        if (buckets.empty() || buckets.back().second <= 0) return 0.0;
        const double rank = quant * buckets.back().second;
        double prev_le = 0, prev_count = 0;
        for (const auto& [le, count] : buckets) {
            if (count >= rank) {
                if (std::isinf(le)) return prev_le;
                return prev_le + (le - prev_le) * (rank - prev_count) / std::max(1e-9, count - prev_count);
            }
            prev_le = le;
            prev_count = count;
        }
        return prev_le;
    };
    return {q(0.5), q(0.99)};
}

json::object run_bulk(const options& o)
{
    const int small = static_cast<int>(20000 * o.scale());
    const int big = std::max(1, static_cast<int>(20 * o.scale()));
    std::cout << "\n# bulk: " << small << " courses of 5-60 members + " << big << " of 5,000 (load " << loadavg() << ")"
              << std::endl;
    const std::string load_before = loadavg();
    const int parts = o.bulk_partitions;
    pipeline_env env({.hosts = {"a.school.test"}, .partitions = parts,
                      .extra_sync_toml = "min_interval = \"10m\"\nsnapshot_interval = \"5m\"\n",
                      .extra_properties_toml = o.properties_toml()});
    long memberships = 0;
    std::unordered_map<std::string, int> size_of;
    auto courses = make_courses(env, "a.school.test", small, big, 0, memberships, 42, &size_of);
    auto d = start_instance(env, "bulk");
    if (!wait_until([&] { return live_partitions(*d) == parts; }, 600s))
        throw std::runtime_error("bulk: " + std::to_string(live_partitions(*d)) + " of " + std::to_string(parts) +
                                 " partitions live: " + d->log_text().substr(0, 4000));
    std::cout << "daemon live (" << parts << " partitions) after " << fmt(secs(steady::now() - d->started), 1) << " s" << std::endl;
    kafka_io io(env.bootstrap(), parts);
    std::this_thread::sleep_for(o.settle(2s));  // the idle baseline
    const auto base = sample_proc(d->pid());

    std::atomic<std::int64_t> changes_now{0};
    sampler smp(d->pid(), [&] { return static_cast<double>(changes_now.load()); });
    const double t0_wall = wall_now();
    tail_reader tail(io, t0_wall);
    const auto t0 = steady::now();
    const auto cpu0 = sample_proc(d->pid()).cpu;
    io.publish_seen(courses);
    const double publish_seconds = secs(steady::now() - t0);
    std::cout << "published " << courses.size() << " CourseSeen in " << fmt(publish_seconds, 2) << " s" << std::endl;
    const auto timeout = std::chrono::seconds(o.scale() < 1 ? 600 : 3600);
    bool done = wait_until([&] {
        changes_now = io.count("lti.membership-changes");
        return changes_now >= memberships;
    }, timeout, 250ms);
    if (!done) throw std::runtime_error("bulk: only " + std::to_string(changes_now.load()) + " of " + std::to_string(memberships) + " changes");
    const double changes_done = secs(steady::now() - t0);
    // The fold: every membership tracked (the gauge is refreshed every half second).
    const bool folded = wait_until([&] { return metric(*d, "rostersync_memberships") >= static_cast<double>(memberships); },
                                   120s, 100ms);
    const double fold_done = secs(steady::now() - t0);
    const auto end = sample_proc(d->pid());
    smp.stop();
    wait_until([&] { return tail.records() >= changes_now.load(); }, 60s);
    tail.stop();
    const auto dropped = io.dropped("lti.membership-changes");
    if (!folded || tail.missed() > 0 || dropped > 0)
        std::cout << "WARNING: invalid run: the fold " << (folded ? "completed" : "did not complete") << ", the reader missed "
                  << tail.missed() << " records, the mock dropped " << dropped
                  << " (it keeps 5 MiB per partition: use more --bulk-partitions)" << std::endl;
    auto doc = scrape(*d);

    // Latency per course: its CourseSeen's timestamp → its last change's timestamp.
    std::unordered_map<std::string, std::int64_t> seen_at;
    io.scan("lti.course-seen", [&](std::string_view key, std::int64_t ts) { seen_at.emplace(std::string(key), ts); });
    const auto& last_change = tail.last_change;
    const auto& per_second = tail.per_second;
    const std::int64_t last_ts = tail.last_ts;
    const auto changes = tail.records();
    std::vector<double> lat, lat_big;
    std::vector<std::pair<double, double>> lat_series;  // completion second, latency
    for (const auto& c : courses) {
        auto s = seen_at.find(c.context_key());
        auto l = last_change.find(c.context_key());
        if (s == seen_at.end() || l == last_change.end()) continue;
        const double v = static_cast<double>(l->second - s->second) / 1000.0;
        lat.push_back(v);
        if (size_of[c.context_key()] == 5000) lat_big.push_back(v);
        lat_series.emplace_back(static_cast<double>(l->second) / 1000.0 - t0_wall, v);
    }
    bulk_result r;
    r.memberships = memberships;
    r.courses = static_cast<long>(courses.size());
    r.changes = static_cast<long>(changes);
    r.seconds = static_cast<double>(last_ts) / 1000.0 - t0_wall;
    r.cpu_seconds = end.cpu - cpu0;
    r.hwm_bytes = static_cast<double>(end.hwm_kb) * 1024;
    r.baseline_rss_bytes = static_cast<double>(base.rss_kb) * 1024;
    r.p50 = percentile(lat, 0.5);
    r.p99 = percentile(lat, 0.99);
    r.max_latency = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
    r.p50_big = percentile(lat_big, 0.5);
    if (doc) std::tie(r.hist_p50, r.hist_p99) = histogram_quantiles(*doc, "rostersync_event_latency_seconds");

    // Time series for the plot: second, memberships/s, daemon CPU %, RSS MB; and latencies.
    {
        std::ofstream ts(o.out / "bulk.dat");
        ts << "# second memberships_per_s\n";
        for (const auto& [s, n] : per_second) ts << s << ' ' << n << '\n';
        std::ofstream lt(o.out / "bulk_latency.dat");
        lt << "# completion_second latency_s\n";
        for (const auto& [t, v] : lat_series) lt << fmt(t, 3) << ' ' << fmt(v, 3) << '\n';
        std::ofstream pr(o.out / "bulk_proc.dat");
        pr << "# second cpu_percent rss_mb changes\n";
        auto pts = smp.points();
        for (std::size_t i = 1; i < pts.size(); ++i) {
            const double dt = pts[i].t - pts[i - 1].t;
            pr << fmt(pts[i].t, 2) << ' ' << fmt(dt > 0 ? 100 * (pts[i].p.cpu - pts[i - 1].p.cpu) / dt : 0, 1) << ' '
               << fmt(static_cast<double>(pts[i].p.rss_kb) / 1024, 1) << ' ' << pts[i].counter << '\n';
        }
    }

    const double rate = static_cast<double>(r.memberships) / r.seconds;
    const double cpu_per_m = r.cpu_seconds / static_cast<double>(r.memberships) * 1e6;
    json::object out{{"scenario", "bulk"},
                     {"date", pipeline_env::now_text()},
                     {"quick", o.quick},
                     {"smoke", o.smoke},
                     {"load_before", load_before},
                     {"load_after", loadavg()},
                     {"courses", r.courses},
                     {"memberships", r.memberships},
                     {"changes_read", r.changes},
                     {"publish_seconds", publish_seconds},
                     {"seconds_to_last_change", r.seconds},
                     {"seconds_to_changes_counted", changes_done},
                     {"seconds_to_fold_complete", fold_done},
                     {"memberships_per_second", rate},
                     {"daemon_cpu_seconds", r.cpu_seconds},
                     {"daemon_cpu_seconds_per_million", cpu_per_m},
                     {"daemon_cpu_utilisation", r.cpu_seconds / fold_done},
                     {"peak_rss_bytes", r.hwm_bytes},
                     {"baseline_rss_bytes", r.baseline_rss_bytes},
                     {"peak_rss_bytes_per_membership", r.hwm_bytes / static_cast<double>(r.memberships)},
                     {"peak_rss_above_baseline_bytes_per_membership",
                      (r.hwm_bytes - r.baseline_rss_bytes) / static_cast<double>(r.memberships)},
                     {"privacy", "public"},
                     {"latency_p50_seconds", r.p50},
                     {"latency_p99_seconds", r.p99},
                     {"latency_max_seconds", r.max_latency},
                     {"latency_p50_big_courses_seconds", r.p50_big},
                     {"histogram_latency_p50_seconds", r.hist_p50},
                     {"histogram_latency_p99_seconds", r.hist_p99},
                     {"budget", "max_in_flight 8, reserve 0, requests_per_second 5000 (pipeline_env's \"sim\")"},
                     {"partitions", parts},
                     {"compression", o.compression},
                     {"change_stream_bytes", tail.bytes},
                     {"change_bytes_per_record", changes > 0 ? static_cast<double>(tail.bytes) / static_cast<double>(changes) : 0.0},
                     {"fold_complete", folded},
                     {"reader_missed_records", tail.missed()},
                     {"mock_dropped_records", dropped},
                     {"valid", folded && tail.missed() == 0 && dropped == 0}};
    print_table("bulk (" + thousands(static_cast<double>(r.courses)) + " courses, " +
                    thousands(static_cast<double>(r.memberships)) + " memberships, public privacy level)",
                {{"memberships/s (first CourseSeen → last change)", thousands(rate)},
                 {"seconds to last change", fmt(r.seconds, 1)},
                 {"daemon CPU-seconds per million memberships", fmt(cpu_per_m, 1)},
                 {"daemon CPU utilisation (of 2 cores = 200 %)", fmt(100 * r.cpu_seconds / fold_done, 0) + " %"},
                 {"peak RSS (VmHWM) per membership", fmt(r.hwm_bytes / static_cast<double>(r.memberships), 0) + " B"},
                 {"peak RSS above idle baseline per membership",
                  fmt((r.hwm_bytes - r.baseline_rss_bytes) / static_cast<double>(r.memberships), 0) + " B"},
                 {"CourseSeen → last event p50 / p99 (record timestamps)", fmt(r.p50, 2) + " s / " + fmt(r.p99, 2) + " s"},
                 {"CourseSeen → pass acknowledged p50 / p99 (daemon histogram)",
                  fmt(r.hist_p50, 2) + " s / " + fmt(r.hist_p99, 2) + " s"},
                 {"5,000-member courses: latency p50", fmt(r.p50_big, 2) + " s"},
                 {"load average before → after", load_before + " → " + loadavg()}});
    return out;
}

/// The bulk mix, smaller, with the daemon under valgrind --tool=callgrind; counters are zeroed
/// right before the CourseSeen events are published and dumped once every membership is folded.
json::object run_callgrind(const options& o)
{
    const int small = std::max(50, static_cast<int>(20000 * o.callgrind_share * o.scale()));
    const int big = std::max(1, static_cast<int>(std::lround(20 * o.callgrind_share * o.scale())));
    std::cout << "\n# bulk under callgrind: " << small << " + " << big << " × 5,000 (load " << loadavg() << ")" << std::endl;
    const int parts = o.bulk_partitions;
    pipeline_env env({.hosts = {"a.school.test"}, .partitions = parts,
                      .extra_sync_toml = "min_interval = \"10m\"\nsnapshot_interval = \"5m\"\n",
                      .session_timeout_ms = 60000, .extra_properties_toml = o.properties_toml()});
    long memberships = 0;
    auto courses = make_courses(env, "a.school.test", small, big, 0, memberships);
    const auto out_file = o.out / "callgrind.out.rostersyncd";
    std::filesystem::create_directories(o.out);
    auto d = start_instance(env, "callgrind", {},
                            {which("valgrind"), "--tool=callgrind", "--callgrind-out-file=" + out_file.string(),
                             "--dump-instr=no", "--collect-jumps=no"},
                            600s);
    if (!wait_until([&] { return live_partitions(*d) == parts; }, 600s, 500ms)) throw std::runtime_error("callgrind: not live");
    kafka_io io(env.bootstrap(), parts);
    std::this_thread::sleep_for(o.settle(5s));  // past the start-up work
    const auto pid = std::to_string(d->pid());
    auto run = [](const std::string& cmd) {
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
    };
    run("callgrind_control -z " + pid + " >/dev/null");
    const auto t0 = steady::now();
    io.publish_seen(courses);
    bool done = wait_until([&] { return metric(*d, "rostersync_memberships", {}) >= static_cast<double>(memberships); },
                           7200s, 1000ms);
    if (!done) throw std::runtime_error("callgrind run did not finish");
    const double seconds = secs(steady::now() - t0);
    // Dump: callgrind writes <out>.<n> (a part file) with the instructions since the zeroing.
    for (const auto& e : std::filesystem::directory_iterator(o.out))
        if (e.path().filename().string().starts_with("callgrind.out.rostersyncd")) std::filesystem::remove(e.path());
    run("callgrind_control -d " + pid + " >/dev/null");
    double ir = 0;
    std::string dump;
    // The dump is complete once its totals line is written.
    wait_until([&] {
        for (const auto& e : std::filesystem::directory_iterator(o.out)) {
            if (!e.path().filename().string().starts_with("callgrind.out.rostersyncd")) continue;
            dump = e.path().string();
            std::istringstream in(read_text(e.path()));
            for (std::string line; std::getline(in, line);)
                if (line.starts_with("totals:") || line.starts_with("summary:"))
                    ir = std::max(ir, std::stod(line.substr(line.find(':') + 1)));
        }
        return ir > 0;
    }, 60s, 200ms);
    if (ir <= 0) throw std::runtime_error("callgrind: no dump with totals in " + o.out.string());
    d->signal(SIGTERM);
    d->wait_exit(120s);
    json::object out{{"scenario", "bulk_callgrind"},
                     {"courses", static_cast<long>(courses.size())},
                     {"memberships", memberships},
                     {"seconds_under_valgrind", seconds},
                     {"instructions", ir},
                     {"instructions_per_membership", ir / static_cast<double>(memberships)},
                     {"dump", dump}};
    print_table("bulk under callgrind (" + thousands(static_cast<double>(courses.size())) + " courses, " +
                    thousands(static_cast<double>(memberships)) + " memberships)",
                {{"instructions (daemon, all threads, publish → fold complete)", thousands(ir)},
                 {"instructions per membership", thousands(ir / static_cast<double>(memberships))},
                 {"wall seconds under valgrind", fmt(seconds, 0)}});
    return out;
}

// ---------------------------------------------------------------------------------------------
// throttle

struct strategy {
    std::string name;
    std::string client_id;
    std::string description;
    int max_in_flight = 0;
    int reserve = 0;
    double rps = 0;
    bool feedback = true;
    int workers = 16;
};

json::object run_throttle(const options& o)
{
    const double run_seconds = o.smoke ? 10 : o.quick ? 60 : o.throttle_seconds;
    const double warmup = std::min(10.0, run_seconds / 6);
    const double spc = o.seconds_per_cost;
    std::cout << "\n# throttle: " << run_seconds << " s, seconds_per_cost " << spc << " (load " << loadavg() << ")"
              << std::endl;
    const std::string load_before = loadavg();
    lms_sim::throttle_options th{.enabled = true, .seconds_per_cost = spc};
    pipeline_env env({.hosts = {"a.school.test"}, .partitions = 12,
                      .extra_sync_toml = "min_interval = \"10m\"\nsnapshot_interval = \"5m\"\n", .throttle = th});
    const lms_sim::bucket_params bucket = th.bucket;
    // Rosters of 980: 19 full pages and one of 30, as many for every strategy.
    const int course_size = 980;
    const int pages_per_course = 20;
    // rostersyncd runs each course once (one CourseSeen each), so it needs enough of them to stay
    // busy: 1.5 × what the pure drain ceiling would allow.
    const double page_cost = th.page_base_cost + th.member_cost * 50;
    const int daemon_courses = static_cast<int>(std::ceil(1.5 * run_seconds * bucket.outflow / page_cost / pages_per_course));
    std::vector<test::sim_course> daemon_courses_v, driver_courses;
    for (int i = 0; i < daemon_courses; ++i) daemon_courses_v.push_back(env.add_course("a.school.test", course_size));
    for (int i = 0; i < 40; ++i) driver_courses.push_back(env.add_course("a.school.test", course_size));
    set_privacy(env, "anonymous");  // page cost does not depend on it; the mock keeps fewer bytes

    // The naive strategies (and rostersync's budget without a reserve) through naive_driver.
    std::vector<strategy> drivers{
        {"serial", "10000000000002", "one request at a time, no feedback (max_in_flight 1, feedback off)", 1, 0, 1000, false, 4},
        {"fixed16", "10000000000003", "a fixed 16 in flight, no feedback (max_in_flight 16, feedback off)", 16, 0, 1000, false, 32},
        {"rostersync_open", "10000000000004",
         "rostersync's budget with feedback, opened up: max_in_flight 16, reserve 0, requests_per_second 1000 (naive_driver)",
         16, 0, 1000, true, 32},
    };
    {
        std::ofstream urls(env.dir().path() / "urls.txt");
        for (const auto& c : driver_courses) urls << c.url << '\n';
    }
    auto [from, to] = env.sim().resolve_entry("a.school.test");
    std::vector<std::unique_ptr<instance>> procs;
    for (const auto& s : drivers) {
        auto key = oauth::generate_key("RS256", "k1");
        if (!key) throw std::runtime_error("key");
        auto key_path = env.dir().write("key-" + s.name + ".pem", key->private_pem, 0600);
        auto pub = key->public_pem;
        env.sim().call([&](lms_sim::sim_core& c) {
            c.register_client({.client_id = s.client_id, .public_key_pem = pub, .level = lms_sim::privacy::anonymous});
        });
        std::ostringstream t;
        t << "[log]\nlevel = \"warning\"\n[http.resolve]\n\"" << from << "\" = \"" << to << "\"\n"
          << "[[platforms]]\nname = \"" << s.name << "\"\nissuer = \"" << test::sim_issuer << "\"\nclient_id = \""
          << s.client_id << "\"\ntoken_url = \"" << env.sim().base_url("a.school.test") << "/login/oauth2/token\"\n"
          << "private_key_file = \"" << key_path.string() << "\"\nkey_id = \"k1\"\nca_file = \""
          << (env.dir().path() / "ca.pem").string() << "\"\nallowed_hosts = [\"a.school.test\"]\nbudget = \"" << s.name
          << "\"\n[[budgets]]\nname = \"" << s.name << "\"\nmax_in_flight = " << s.max_in_flight
          << "\nreserve = " << s.reserve << "\nrequests_per_second = " << fmt(s.rps, 1) << "\nmax_wait = \"1h\"\n";
        env.dir().write("driver-" + s.name + ".toml", t.str());
    }

    // rostersyncd with the Canvas budget of deploy/rostersync.example.toml (max_in_flight 6,
    // reserve 300, requests_per_second 30), set through the environment over pipeline_env's "sim".
    const std::map<std::string, std::string> daemon_budget{
        {"ROSTERSYNC_BUDGETS_SIM_MAX_IN_FLIGHT", std::to_string(o.daemon_max_in_flight)},
        {"ROSTERSYNC_BUDGETS_SIM_RESERVE", std::to_string(o.daemon_reserve)},
        {"ROSTERSYNC_BUDGETS_SIM_REQUESTS_PER_SECOND", std::to_string(o.daemon_rps)}};
    auto d = start_instance(env, "throttle", daemon_budget);
    if (!wait_until([&] { return live_partitions(*d) == 12; }, 60s)) throw std::runtime_error("throttle: not live");
    kafka_io io(env.bootstrap(), 12);
    env.sim().call([](lms_sim::sim_core& c) { c.state().log.clear(); });

    const double t0 = wall_now();
    const auto cpu0 = sample_proc(d->pid()).cpu;
    for (const auto& s : drivers) {
        procs.push_back(start_pumped(
            s.name, ROSTERSYNC_NAIVE_DRIVER_PATH,
            std::vector<std::string>{"--config", (env.dir().path() / ("driver-" + s.name + ".toml")).string(),
                                     "--platform", s.name, "--urls", (env.dir().path() / "urls.txt").string(),
                                     "--seconds", fmt(run_seconds, 0), "--workers", std::to_string(s.workers),
                                     "--feedback", s.feedback ? "on" : "off", "--drain-seconds", o.smoke ? "5" : "20"}));
    }
    io.publish_seen(daemon_courses_v);
    std::this_thread::sleep_for(std::chrono::duration<double>(run_seconds - (wall_now() - t0)));
    const auto cpu1 = sample_proc(d->pid()).cpu;
    auto doc = scrape(*d);
    d->signal(SIGTERM);
    std::vector<json::value> driver_out;
    for (auto& p : procs) {
        p->wait_exit(120s);
        json::value v;
        for (const auto& line : p->lines())
            if (line.starts_with("{")) v = json::parse(line);
        driver_out.push_back(v);
    }
    d->wait_exit(60s);

    // The simulator's log is the ground truth: every NRPS request by client, arrival time, status.
    struct rec {
        double t;
        std::string client;
        int status;
        bool throttled;
        double cost;
        double remaining;
        bool nrps;
    };
    auto log = env.sim().call([](lms_sim::sim_core& c) {
        std::vector<rec> out;
        out.reserve(c.state().log.size());
        for (const auto& r : c.state().log)
            out.push_back({r.time, r.client_id, r.status, r.throttled, r.cost, r.remaining, r.route == "nrps"});
        return out;
    });

    struct tally {
        long pages = 0, rejections = 0, tokens = 0, other = 0;
        double cost = 0;
        double min_remaining = 1e9;
        std::map<long, long> pages_per_s, rejections_per_s;
        std::map<long, double> min_remaining_per_s;
    };
    std::map<std::string, tally> by_client;
    const double from_t = t0 + warmup, to_t = t0 + run_seconds;
    for (const auto& r : log) {
        if (r.t < t0 || r.t > to_t || r.client.empty()) continue;
        auto& t = by_client[r.client];
        const long sec = static_cast<long>(r.t - t0);
        if (!r.nrps) {
            ++t.tokens;
            continue;
        }
        if (r.throttled) {
            ++t.rejections_per_s[sec];
            if (r.t >= from_t) ++t.rejections;
            continue;
        }
        if (r.status != 200) {
            ++t.other;
            continue;
        }
        ++t.pages_per_s[sec];
        if (r.remaining >= 0) {
            auto it = t.min_remaining_per_s.find(sec);
            t.min_remaining_per_s[sec] = it == t.min_remaining_per_s.end() ? r.remaining : std::min(it->second, r.remaining);
        }
        if (r.t >= from_t) {
            ++t.pages;
            t.cost += r.cost;
            if (r.remaining >= 0) t.min_remaining = std::min(t.min_remaining, r.remaining);
        }
    }

    // The analytic ceiling. A leaky bucket drains `outflow` units/s whenever it is not empty, so
    // the pure drain ceiling is outflow / c̄ pages/s (c̄: mean X-Request-Cost of a page). A client
    // that keeps `reserve` units free never holds more than (hwm − reserve) / up_front requests in
    // flight (each holds its up-front charge while it runs), and a request in flight for
    // seconds_per_cost × c̄ seconds consumes c̄ units: such a slot drains at most
    // 1 / seconds_per_cost units/s. The drain rate left after the reserve is therefore
    //   D_R = min(outflow, (hwm − reserve) / (up_front × seconds_per_cost))
    // and the ceiling D_R / c̄ pages/s.
    auto drain_after = [&](double reserve) {
        const double by_slots = spc > 0 ? (bucket.hwm - reserve) / (bucket.up_front * spc) : INFINITY;
        return std::min(bucket.outflow, by_slots);
    };
    const double window = to_t - from_t;
    json::array rows;
    std::vector<std::pair<std::string, std::string>> table;
    std::vector<strategy> all{{"rostersyncd", test::sim_client_id,
                               "rostersyncd (max_in_flight " + std::to_string(o.daemon_max_in_flight) + ", reserve " +
                                   std::to_string(o.daemon_reserve) + ", requests_per_second " + std::to_string(o.daemon_rps) +
                                   "; deploy/rostersync.example.toml's Canvas budget: 6, 300, 30)",
                               o.daemon_max_in_flight, o.daemon_reserve, static_cast<double>(o.daemon_rps), true, 0}};
    for (const auto& s : drivers) all.push_back(s);
    double mean_cost_all = 0;
    long pages_all = 0;
    for (const auto& s : all) {
        mean_cost_all += by_client[s.client_id].cost;
        pages_all += by_client[s.client_id].pages;
    }
    mean_cost_all = pages_all > 0 ? mean_cost_all / static_cast<double>(pages_all) : page_cost;
    const double ceiling_300 = drain_after(300) / mean_cost_all;
    const double ceiling_0 = drain_after(0) / mean_cost_all;
    const double ceiling_drain = bucket.outflow / mean_cost_all;
    {
        std::ofstream ts(o.out / "throttle.dat");
        ts << "# second";
        for (const auto& s : all) ts << ' ' << s.name << "_pages " << s.name << "_rejections " << s.name << "_min_remaining";
        ts << '\n';
        for (long sec = 0; sec < static_cast<long>(run_seconds); ++sec) {
            ts << sec;
            for (const auto& s : all) {
                auto& t = by_client[s.client_id];
                auto rem = t.min_remaining_per_s.find(sec);
                ts << ' ' << (t.pages_per_s.count(sec) ? t.pages_per_s[sec] : 0) << ' '
                   << (t.rejections_per_s.count(sec) ? t.rejections_per_s[sec] : 0) << ' '
                   << (rem == t.min_remaining_per_s.end() ? std::string("NaN") : fmt(rem->second, 1));
            }
            ts << '\n';
        }
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
        const auto& s = all[i];
        auto& t = by_client[s.client_id];
        const double pps = static_cast<double>(t.pages) / window;
        const double c = t.pages > 0 ? t.cost / static_cast<double>(t.pages) : 0;
        const double own_ceiling = drain_after(s.reserve) / mean_cost_all;
        // What max_in_flight alone allows: each request in flight for seconds_per_cost × c̄.
        const double cap_bound = spc > 0 ? s.max_in_flight / (spc * mean_cost_all) : INFINITY;
        json::object row{{"strategy", s.name},
                         {"client_id", s.client_id},
                         {"description", s.description},
                         {"pages", t.pages},
                         {"pages_per_second", pps},
                         {"percent_of_ceiling_reserve_300", 100 * pps / ceiling_300},
                         {"percent_of_own_reserve_ceiling", 100 * pps / own_ceiling},
                         {"max_in_flight_bound_pages_per_second", cap_bound},
                         {"percent_of_max_in_flight_bound", 100 * pps / cap_bound},
                         {"percent_of_drain_ceiling", 100 * pps / ceiling_drain},
                         {"rejections", t.rejections},
                         {"token_requests", t.tokens},
                         {"other_errors", t.other},
                         {"mean_page_cost", c},
                         {"min_remaining", t.min_remaining > 1e8 ? -1.0 : t.min_remaining}};
        if (i > 0 && driver_out[i - 1].is_object()) row["driver"] = driver_out[i - 1];
        rows.push_back(row);
        table.emplace_back(s.name + ": pages/s (% of ceiling after reserve 300 / % of drain ceiling)",
                           fmt(pps, 2) + " (" + fmt(100 * pps / ceiling_300, 0) + " % / " + fmt(100 * pps / ceiling_drain, 0) + " %)");
        table.emplace_back(s.name + ": % of what its max_in_flight " + std::to_string(s.max_in_flight) + " allows (" +
                               fmt(cap_bound, 2) + " pages/s)", fmt(100 * pps / cap_bound, 0) + " %");
        table.emplace_back(s.name + ": rejections received", std::to_string(t.rejections));
    }
    table.insert(table.begin(), {"analytic ceiling after reserve 300 / reserve 0 / pure drain (pages/s)",
                                 fmt(ceiling_300, 2) + " / " + fmt(ceiling_0, 2) + " / " + fmt(ceiling_drain, 2)});
    table.insert(table.begin(), {"mean page cost c̄ (X-Request-Cost, units)", fmt(mean_cost_all, 4)});
    table.emplace_back("rostersyncd CPU-seconds over the run", fmt(cpu1 - cpu0, 2));
    table.emplace_back("load average before → after", load_before + " → " + loadavg());
    double budget_in_flight = -1;
    if (doc) budget_in_flight = doc->value("rostersync_budget_in_flight", {{"budget", "sim"}}).value_or(-1);
    json::object out{{"scenario", "throttle"},
                     {"date", pipeline_env::now_text()},
                     {"quick", o.quick},
                     {"smoke", o.smoke},
                     {"load_before", load_before},
                     {"load_after", loadavg()},
                     {"run_seconds", run_seconds},
                     {"window_seconds", window},
                     {"warmup_seconds", warmup},
                     {"bucket", json::object{{"hwm", bucket.hwm}, {"maximum", bucket.maximum}, {"outflow", bucket.outflow},
                                             {"up_front", bucket.up_front}}},
                     {"page_cost_formula", "0.05 + 0.004 × members on the page"},
                     {"seconds_per_cost", spc},
                     {"course_size", course_size},
                     {"daemon_courses", daemon_courses},
                     {"mean_page_cost", mean_cost_all},
                     {"ceiling_drain_pages_per_second", ceiling_drain},
                     {"ceiling_reserve_300_pages_per_second", ceiling_300},
                     {"ceiling_reserve_0_pages_per_second", ceiling_0},
                     {"daemon_cpu_seconds", cpu1 - cpu0},
                     {"daemon_budget_in_flight_at_end", budget_in_flight},
                     {"strategies", rows}};
    print_table("Canvas throttle (" + fmt(run_seconds, 0) + " s, counted from " + fmt(warmup, 0) +
                    " s; bucket hwm 600, outflow 10/s, up-front 50; reply latency " + fmt(spc, 2) + " s per cost unit)",
                table);
    return out;
}

// ---------------------------------------------------------------------------------------------
// restart and scale-out (one state, built once)

struct state_env {
    std::unique_ptr<pipeline_env> env;  // first: destroyed last, after the instances
    std::unique_ptr<kafka_io> io;
    std::vector<std::unique_ptr<instance>> retired;
    std::unique_ptr<instance> current;
    long memberships = 0;
    long courses = 0;
    int partitions = 12;
    double build_seconds = 0;
    double build_cpu = 0;
    double build_hwm_bytes = 0;
    int generation = 0;
};

/// A timeline of one or two instances while partitions move: live partitions, tracked
/// memberships and RSS every 100 ms, until `done` says so.
struct timeline_point {
    double t;
    int live_a, live_b;
    double memberships_a;
    double rss_mb_a;
};

/// An instance that had to stay up exited (a crash); what it logged last.
struct instance_died : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string log_tail(instance* in, std::size_t n = 30)
{
    if (in == nullptr) return {};
    auto exit = in->wait_exit(0ms);
    auto lines = in->lines();
    std::string t = "\n--- " + in->name + (exit ? " exited with " + std::to_string(*exit) : " running") + ", last lines:\n";
    for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) t += lines[i] + "\n";
    return t;
}

/// The rest of a scenario is left out (--smoke).
struct skipped {};

template <class Done>
std::vector<timeline_point> watch(steady::time_point t0, instance* a, instance* b, Done done, std::chrono::seconds timeout,
                                  bool b_may_exit = false)
{
    std::vector<timeline_point> out;
    const auto deadline = steady::now() + timeout;
    for (;;) {
        for (instance* in : {a, b_may_exit ? nullptr : b}) {
            if (in != nullptr && in->wait_exit(0ms))
                throw instance_died(in->name + " exited unexpectedly" + log_tail(in, 8));
        }
        timeline_point p{secs(steady::now() - t0), -1, -1, -1, -1};
        if (a != nullptr) {
            if (auto doc = scrape(*a, 2s)) {
                p.live_a = static_cast<int>(doc->value("rostersync_partitions", {{"phase", "live"}}).value_or(0));
                p.memberships_a = doc->value("rostersync_memberships").value_or(0);
            }
            p.rss_mb_a = static_cast<double>(sample_proc(a->pid()).rss_kb) / 1024;
        }
        if (b != nullptr && !b->wait_exit(0ms)) {
            if (auto doc = scrape(*b, 2s)) p.live_b = static_cast<int>(doc->value("rostersync_partitions", {{"phase", "live"}}).value_or(0));
        }
        out.push_back(p);
        if (done(p)) break;
        if (steady::now() > deadline) throw std::runtime_error("timed out waiting for partitions" + log_tail(a) + log_tail(b));
        std::this_thread::sleep_for(100ms);
    }
    return out;
}

void write_timeline(const options& o, const std::string& name, const std::vector<timeline_point>& pts)
{
    std::ofstream ts(o.out / (name + ".dat"));
    ts << "# second live_a live_b memberships_a rss_mb_a\n";
    for (const auto& p : pts)
        ts << fmt(p.t, 2) << ' ' << p.live_a << ' ' << p.live_b << ' ' << fmt(p.memberships_a, 0) << ' ' << fmt(p.rss_mb_a, 1) << '\n';
}

state_env build_state(const options& o)
{
    state_env s;
    s.partitions = o.state_partitions;
    const long total = static_cast<long>(static_cast<double>(o.restart_memberships) * o.scale());
    const int big = std::max(1, static_cast<int>(20 * o.scale()));
    std::cout << "\n# state: " << thousands(static_cast<double>(total)) << " memberships at the " << o.privacy
              << " privacy level (load " << loadavg() << ")" << std::endl;
    // No periodic snapshot while the state is built ("1h"): a SIGKILL then leaves only the change
    // stream, and a graceful stop writes the whole table as its last snapshot.
    s.env = std::make_unique<pipeline_env>(test::pipeline_env_options{
        .hosts = {"a.school.test"}, .partitions = o.state_partitions,
        .extra_sync_toml = "min_interval = \"10m\"\nsnapshot_interval = \"1h\"\n",
        .extra_properties_toml = o.properties_toml()});
    set_privacy(*s.env, o.privacy);
    auto courses = make_courses(*s.env, "a.school.test", 0, big, total, s.memberships, 7);
    s.courses = static_cast<long>(courses.size());
    s.current = start_instance(*s.env, "state-" + std::to_string(++s.generation));
    if (!wait_until([&] { return live_partitions(*s.current) == s.partitions; }, 60s)) throw std::runtime_error("state: not live");
    s.io = std::make_unique<kafka_io>(s.env->bootstrap(), s.partitions);
    const auto t0 = steady::now();
    const auto cpu0 = sample_proc(s.current->pid()).cpu;
    s.io->publish_seen(courses);
    if (!wait_until([&] { return metric(*s.current, "rostersync_memberships") >= static_cast<double>(s.memberships); },
                    std::chrono::seconds(o.scale() < 1 ? 600 : 3600), 500ms))
        throw std::runtime_error("state: the sync did not finish");
    s.build_seconds = secs(steady::now() - t0);
    const auto end = sample_proc(s.current->pid());
    s.build_cpu = end.cpu - cpu0;
    s.build_hwm_bytes = static_cast<double>(end.hwm_kb) * 1024;
    std::cout << "state built: " << thousands(static_cast<double>(s.memberships)) << " memberships in "
              << fmt(s.build_seconds, 1) << " s (" << thousands(static_cast<double>(s.memberships) / s.build_seconds)
              << "/s), daemon CPU " << fmt(s.build_cpu, 1) << " s, VmHWM " << fmt(s.build_hwm_bytes / 1048576, 0) << " MiB"
              << std::endl;
    return s;
}

/// Starts a new instance and measures its restore: READY, every partition live, every membership tracked.
json::object measure_restore(const options& o, state_env& s, const std::string& variant)
{
    const auto dropped_changes = s.io->dropped("lti.membership-changes");
    const auto dropped_rows = s.io->dropped("rostersync.memberships");
    if (dropped_changes > 0 || dropped_rows > 0)
        std::cout << "WARNING: invalid run: the mock dropped " << dropped_changes << " changes and " << dropped_rows
                  << " table rows (it keeps 5 MiB per partition: use more --state-partitions)" << std::endl;
    auto in = start_instance(*s.env, "state-" + std::to_string(++s.generation));
    const double ready = secs(steady::now() - in->started);
    auto pts = watch(in->started, in.get(), nullptr, [&](const timeline_point& p) {
        return p.live_a == s.partitions && p.memberships_a >= static_cast<double>(s.memberships);
    }, 600s);
    const double live = pts.empty() ? -1 : pts.back().t;
    const bool complete = !pts.empty() && pts.back().live_a == s.partitions;
    std::this_thread::sleep_for(o.settle(3s));  // what stays resident after the restore
    const auto mem = sample_proc(in->pid());
    if (const char* dir = std::getenv("ROSTERSYNC_BENCH_LOGS"))  // where the resident set is (profiling)
        std::ofstream(std::string(dir) + "/" + in->name + ".smaps")
            << std::ifstream("/proc/" + std::to_string(in->pid()) + "/smaps").rdbuf();
    const auto log = read_restore_log(*in);
    write_timeline(o, "restart_" + variant, pts);
    s.current = std::move(in);
    return json::object{{"variant", variant},
                        {"complete", complete},
                        {"seconds_to_ready", ready},
                        {"seconds_to_all_live", live},
                        {"table_load_seconds_max_partition", log.max_load_seconds},
                        {"table_load_seconds_sum", log.sum_load_seconds},
                        {"table_rows_loaded", log.loaded_memberships},
                        {"change_records_replayed", log.replayed},
                        {"rss_bytes_after_restore", static_cast<double>(mem.rss_kb) * 1024},
                        {"hwm_bytes_during_restore", static_cast<double>(mem.hwm_kb) * 1024},
                        {"rss_bytes_per_membership", static_cast<double>(mem.rss_kb) * 1024 / static_cast<double>(s.memberships)},
                        {"cpu_seconds", mem.cpu},
                        {"mock_dropped_changes", dropped_changes},
                        {"mock_dropped_rows", dropped_rows},
                        {"valid", complete && dropped_changes == 0 && dropped_rows == 0}};
}

json::object run_restart(const options& o, state_env& s)
{
    const std::string load_before = loadavg();
    // 1. SIGKILL before any snapshot: the restore replays the whole change stream. The group
    //    notices the dead member after session.timeout.ms (6 s here); waiting that out first keeps
    //    the figure about the restore (scaleout measures the detection).
    s.current->signal(SIGKILL);
    s.current->wait_exit(30s);
    s.retired.push_back(std::move(s.current));
    std::this_thread::sleep_for(o.settle(7s));
    auto replay = measure_restore(o, s, "replay");
    std::cout << "restore by replay: " << json::serialize(replay) << std::endl;
    // 2. A graceful stop writes the last snapshot (the whole table); the restart loads it.
    const auto stop0 = steady::now();
    s.current->signal(SIGTERM);
    auto code = s.current->wait_exit(300s);
    const double stop_seconds = secs(steady::now() - stop0);
    s.retired.push_back(std::move(s.current));
    const auto table_rows = s.io->count("rostersync.memberships");
    auto table = measure_restore(o, s, "table");
    std::cout << "restore from the table: " << json::serialize(table) << std::endl;

    const double m = static_cast<double>(s.memberships);
    json::object out{{"scenario", "restart"},
                     {"date", pipeline_env::now_text()},
                     {"quick", o.quick},
                     {"smoke", o.smoke},
                     {"load_before", load_before},
                     {"load_after", loadavg()},
                     {"privacy", o.privacy},
                     {"memberships", s.memberships},
                     {"courses", s.courses},
                     {"partitions", s.partitions},
                     {"compression", o.compression},
                     {"kafka_properties", o.properties_toml()},
                     {"build_seconds", s.build_seconds},
                     {"build_memberships_per_second", m / s.build_seconds},
                     {"build_cpu_seconds_per_million", s.build_cpu / m * 1e6},
                     {"build_hwm_bytes_per_membership", s.build_hwm_bytes / m},
                     {"graceful_stop_seconds", stop_seconds},
                     {"graceful_stop_exit_code", code ? *code : -999},
                     {"memberships_topic_records", table_rows},
                     {"replay", replay},
                     {"table", table}};
    auto row = [&](const json::object& r) {
        return fmt(r.at("seconds_to_all_live").to_number<double>(), 2) + " s (READY " +
               fmt(r.at("seconds_to_ready").to_number<double>(), 2) + " s; slowest partition's table load " +
               fmt(r.at("table_load_seconds_max_partition").to_number<double>(), 2) + " s)";
    };
    print_table("restart (" + thousands(m) + " memberships, " + o.privacy + " privacy level)",
                {{"state built by a bulk sync: memberships/s", thousands(m / s.build_seconds)},
                 {"restore by replay of " + thousands(replay.at("change_records_replayed").to_number<double>()) +
                      " changes (no snapshot): process start → all partitions live",
                  row(replay)},
                 {"RSS after the replay restore (per membership)",
                  fmt(replay.at("rss_bytes_after_restore").to_number<double>() / 1048576, 0) + " MiB (" +
                      fmt(replay.at("rss_bytes_per_membership").to_number<double>(), 0) + " B)"},
                 {"graceful stop (writes the last snapshot)", fmt(stop_seconds, 2) + " s"},
                 {"restore from the table (" + thousands(table.at("table_rows_loaded").to_number<double>()) +
                      " rows) + replay of " + thousands(table.at("change_records_replayed").to_number<double>()),
                  row(table)},
                 {"RSS after the table restore (per membership)",
                  fmt(table.at("rss_bytes_after_restore").to_number<double>() / 1048576, 0) + " MiB (" +
                      fmt(table.at("rss_bytes_per_membership").to_number<double>(), 0) + " B)"},
                 {"load average before → after", load_before + " → " + loadavg()}});
    return out;
}

json::object run_scaleout(const options& o, state_env& s)
{
    const std::string load_before = loadavg();
    instance& a = *s.current;
    std::vector<timeline_point> all;
    auto append = [&](const std::vector<timeline_point>& pts, double offset) {
        for (auto p : pts) {
            p.t += offset;
            all.push_back(p);
        }
    };
    const auto t0 = steady::now();
    const int n = s.partitions;
    double join = -1, takeover_term = -1, join2 = -1, takeover_kill = -1;
    int b_share = 0;
    std::string crash;
    bool rest_skipped = false;
    std::unique_ptr<instance> b, c;
    try {
        // Join: a second instance takes its share (cooperative-sticky) and restores it from the table.
        b = start_instance(*s.env, "state-" + std::to_string(++s.generation));
        auto pts = watch(b->started, &a, b.get(), [n](const timeline_point& p) {
            return p.live_b > 0 && p.live_a + p.live_b == n;
        }, 300s);
        join = pts.back().t;
        b_share = pts.back().live_b;
        append(pts, secs(b->started - t0));
        std::this_thread::sleep_for(o.settle(3s));  // a steady state before the next move
        // Takeover after a graceful stop (the leaving member hands its partitions back at once).
        auto stop0 = steady::now();
        b->signal(SIGTERM);
        pts = watch(stop0, &a, b.get(), [n](const timeline_point& p) { return p.live_a == n; }, 300s, true);
        takeover_term = pts.back().t;
        append(pts, secs(stop0 - t0));
        b->wait_exit(120s);
        // Again, then SIGKILL: the group notices after session.timeout.ms (6 s here). The smoke
        // run stops here (the restart scenario already restores after a SIGKILL).
        if (o.smoke) throw skipped{};
        c = start_instance(*s.env, "state-" + std::to_string(++s.generation));
        pts = watch(c->started, &a, c.get(), [n](const timeline_point& p) { return p.live_b > 0 && p.live_a + p.live_b == n; }, 300s);
        join2 = pts.back().t;
        append(pts, secs(c->started - t0));
        std::this_thread::sleep_for(o.settle(3s));  // a steady state before the next move
        auto kill0 = steady::now();
        c->signal(SIGKILL);
        pts = watch(kill0, &a, nullptr, [n](const timeline_point& p) { return p.live_a == n; }, 300s);
        takeover_kill = pts.back().t;
        append(pts, secs(kill0 - t0));
        c->wait_exit(30s);
    } catch (const skipped&) {
        rest_skipped = true;
    } catch (const instance_died& e) {
        // Recorded, not hidden: an instance crashed while partitions moved.
        crash = e.what();
        std::cout << "CRASH during scale-out: " << crash << std::endl;
    }
    write_timeline(o, "scaleout", all);
    if (b) s.retired.push_back(std::move(b));
    if (c) s.retired.push_back(std::move(c));

    json::object out{{"scenario", "scaleout"},
                     {"date", pipeline_env::now_text()},
                     {"quick", o.quick},
                     {"smoke", o.smoke},
                     {"load_before", load_before},
                     {"load_after", loadavg()},
                     {"memberships", s.memberships},
                     {"partitions", s.partitions},
                     {"kafka_properties", o.properties_toml()},
                     {"session_timeout_ms", 6000},
                     {"join_seconds", join},
                     {"join_partitions_moved", b_share},
                     {"join_again_seconds", rest_skipped ? json::value() : json::value(join2)},
                     {"takeover_after_sigterm_seconds", takeover_term},
                     {"takeover_after_sigkill_seconds", rest_skipped ? json::value() : json::value(takeover_kill)},
                     {"crash", crash}};
    auto v = [&](double x) { return rest_skipped && x < 0 ? std::string("skipped (--smoke)") : x < 0 ? std::string("not reached") : fmt(x, 2) + " s"; };
    std::vector<std::pair<std::string, std::string>> rows{
        {"second instance starts → both together own all " + std::to_string(n) + " live (" + std::to_string(b_share) + " moved)", v(join)},
        {"SIGTERM one of two → the other owns all partitions live", v(takeover_term)},
        {"second instance again → both own all live", v(join2)},
        {"SIGKILL one of two → the other owns all partitions live", v(takeover_kill)},
        {"load average before → after", load_before + " → " + loadavg()}};
    if (!crash.empty()) rows.emplace_back("CRASH", crash.substr(0, crash.find('\n')));
    print_table("scale-out (" + thousands(static_cast<double>(s.memberships)) + " memberships, " + std::to_string(n) +
                    " partitions, session.timeout.ms 6000)",
                rows);
    return out;
}

/// Problems a scenario's result reports about itself ("valid": false, a crash, a figure not
/// reached); an empty list when the run is sound.
void problems(const json::value& v, const std::string& where, std::vector<std::string>& out)
{
    if (v.is_array()) {
        for (const auto& e : v.as_array()) problems(e, where, out);
        return;
    }
    if (!v.is_object()) return;
    for (const auto& kv : v.as_object()) {
        const std::string k(kv.key());
        const auto& x = kv.value();
        if (k == "valid" && x.is_bool() && !x.as_bool()) out.push_back(where + ": not valid");
        else if (k == "crash" && x.is_string() && !x.as_string().empty()) out.push_back(where + ": crash");
        else if (k.starts_with("takeover_") && x.is_number() && x.to_number<double>() < 0) out.push_back(where + ": " + k + " not reached");
        else problems(x, where, out);
    }
}

}  // namespace

int main(int argc, char** argv)
{
    options o;
    try {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
                return argv[++i];
            };
            if (a == "-h" || a == "--help") {
                std::cout << usage;
                return 0;
            } else if (a == "--scenario") {
                o.scenarios.clear();
                std::stringstream ss(value());
                for (std::string x; std::getline(ss, x, ',');) {
                    if (x != "bulk" && x != "throttle" && x != "restart" && x != "scaleout")
                        throw std::runtime_error("unknown scenario " + x);
                    o.scenarios.insert(x);
                }
            } else if (a == "--quick") {
                o.quick = true;
            } else if (a == "--smoke") {
                // Tiny sizes need few partitions (each costs the restore a consumer of its own).
                o.smoke = true;
                o.bulk_partitions = 4;
                o.state_partitions = 4;
            } else if (a == "--out") {
                o.out = value();
            } else if (a == "--no-callgrind") {
                o.callgrind = false;
            } else if (a == "--callgrind-share") {
                o.callgrind_share = std::stod(value());
            } else if (a == "--throttle-seconds") {
                o.throttle_seconds = std::stod(value());
            } else if (a == "--seconds-per-cost") {
                o.seconds_per_cost = std::stod(value());
            } else if (a == "--restart-memberships") {
                o.restart_memberships = std::stol(value());
            } else if (a == "--daemon-budget") {
                auto v = value();
                auto comma = v.find(',');
                if (comma == std::string::npos) throw std::runtime_error("--daemon-budget MAX_IN_FLIGHT,RESERVE");
                o.daemon_max_in_flight = std::stoi(v.substr(0, comma));
                o.daemon_reserve = std::stoi(v.substr(comma + 1));
            } else if (a == "--bulk-partitions") {
                o.bulk_partitions = std::stoi(value());
            } else if (a == "--state-partitions") {
                o.state_partitions = std::stoi(value());
            } else if (a == "--property") {
                auto v = value();
                auto eq = v.find('=');
                if (eq == std::string::npos) throw std::runtime_error("--property KEY=VALUE");
                o.properties.emplace_back(v.substr(0, eq), v.substr(eq + 1));
            } else if (a == "--compression") {
                o.compression = value();
            } else if (a == "--privacy") {
                o.privacy = value();
                if (o.privacy != "anonymous" && o.privacy != "public") throw std::runtime_error("--privacy anonymous|public");
            } else {
                throw std::runtime_error("unknown argument " + a);
            }
        }
    } catch (const std::exception& e) {
        std::cerr << "rostersync_e2e_bench: " << e.what() << "\n\n" << usage;
        return 64;
    }
    ::signal(SIGPIPE, SIG_IGN);
    std::filesystem::create_directories(o.out);
    std::cout << "# rostersync end-to-end benchmark, " << pipeline_env::now_text() << ", " << std::thread::hardware_concurrency()
              << " cores, load average " << loadavg() << (o.quick ? ", --quick" : "") << std::endl;
    std::vector<std::string> bad;
    auto record = [&](const std::string& name, const json::object& r) {
        write_json(o, name, r);
        problems(r, name, bad);
    };
    try {
        if (o.scenarios.count("bulk")) {
            auto r = run_bulk(o);
            write_json(o, "bulk", r);  // kept if the (long) callgrind run fails
            if (o.callgrind) {
                try {
                    r["callgrind"] = run_callgrind(o);
                } catch (const std::exception& e) {
                    std::cerr << "rostersync_e2e_bench: callgrind: " << e.what() << "\n";
                    r["callgrind"] = json::object{{"error", e.what()}, {"valid", false}};
                }
            }
            record("bulk", r);
        }
        if (o.scenarios.count("throttle")) {
            auto r = run_throttle(o);
            for (const auto& row : r.at("strategies").as_array())
                if (row.as_object().at("pages").to_number<long>() <= 0)
                    bad.push_back("throttle: " + std::string(row.as_object().at("strategy").as_string()) + " read no page");
            record("throttle", r);
        }
        if (o.scenarios.count("restart") || o.scenarios.count("scaleout")) {
            auto s = build_state(o);
            if (o.scenarios.count("restart")) record("restart", run_restart(o, s));
            if (o.scenarios.count("scaleout")) record("scaleout", run_scaleout(o, s));
        }
    } catch (const std::exception& e) {
        std::cerr << "rostersync_e2e_bench: " << e.what() << "\n";
        return 1;
    }
    for (const auto& b : bad) std::cerr << "rostersync_e2e_bench: " << b << "\n";
    return bad.empty() ? 0 : 2;
}
