#include "support/pipeline_env.hpp"

#include "http/url.hpp"
#include "kafka/consumer.hpp"
#include "kafka/partitioner.hpp"
#include "kafka/producer.hpp"
#include "oauth/assertion.hpp"
#include "roster/encode.hpp"
#include "support/http_client.hpp"

#include <librdkafka/rdkafka.h>
#include <signal.h>

#include <sys/stat.h>

#include <fstream>
#include <future>
#include <regex>
#include <stdexcept>
#include <thread>

namespace rostersync::test {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> topic_names{"lti.course-seen",        "lti.course-seen.dlq",   "lti.membership-changes",
                                           "rostersync.memberships", "rostersync.contexts",   "rostersync.checkpoints",
                                           "rostersync.sync-requests"};

/// The test defaults of [sync], except the keys the test sets itself.
std::string sync_defaults(const std::string& extra)
{
    std::string out;
    if (extra.find("min_interval") == std::string::npos) out += "min_interval = \"1s\"\n";
    if (extra.find("snapshot_interval") == std::string::npos) out += "snapshot_interval = \"1s\"\n";
    return out;
}

std::string quote(const std::string& s)
{
    return "\"" + s + "\"";
}

}  // namespace

pipeline_env::pipeline_env(pipeline_env_options opts) : opts_(std::move(opts))
{
    const auto fifo = dir_.path() / "mock-control";
    if (::mkfifo(fifo.c_str(), 0600) != 0) throw std::runtime_error("cannot make the mock's control pipe");
    std::vector<std::string> args{"--brokers", std::to_string(opts_.brokers), "--control", fifo.string()};
    for (const auto& t : topic_names) {
        args.push_back("--topic");
        args.push_back(t + ":" + std::to_string(opts_.partitions));
    }
    mock_ = std::make_unique<daemon_process>(ROSTERSYNC_KAFKA_MOCK_PATH, args);
    auto line = mock_->wait_for_log("bootstrap: ", 30s);
    if (!line) throw std::runtime_error("the mock cluster did not start: " + mock_->log_text());
    bootstrap_ = line->substr(line->find("bootstrap: ") + 11);
    if (!mock_->wait_for_log("ready", 10s)) throw std::runtime_error("mock cluster not ready: " + mock_->log_text());

    lms_sim::server_options o{.tls = true};
    o.sim.hosts.clear();
    for (const auto& h : opts_.hosts) o.sim.hosts.push_back({.name = h});
    o.sim.throttle = opts_.throttle;
    sim_ = std::make_unique<lms_sim::server>(o);
    sim_->start();
    auto key = oauth::generate_key("RS256", "k1");
    if (!key) throw std::runtime_error("cannot generate a key");
    dir_.write("tool-key.pem", key->private_pem, 0600);
    auto pub = key->public_pem;
    sim_->call([&](lms_sim::sim_core& c) { c.register_client({.client_id = sim_client_id, .public_key_pem = pub}); });
    dir_.write("ca.pem", sim_->ca_pem());
    token_ = "test-admin-token-0123456789abcdef";
    dir_.write("admin.token", token_ + "\n", 0600);

    std::string hosts, resolve;
    for (const auto& h : opts_.hosts) {
        hosts += (hosts.empty() ? "" : ", ") + quote(h);
        auto [from, to] = sim_->resolve_entry(h);
        resolve += quote(from) + " = " + quote(to) + "\n";
    }
    std::string toml =
        "[kafka]\nbrokers = " + quote(bootstrap_) + "\npartitions = " + std::to_string(opts_.partitions) +
        "\nreplication_factor = 1\n" + opts_.extra_kafka_toml + "\n[kafka.properties]\n\"session.timeout.ms\" = \"" + std::to_string(opts_.session_timeout_ms) + "\"\n"
        "\"heartbeat.interval.ms\" = \"500\"\n" + opts_.extra_properties_toml + "\n"
        "[sync]\n" + sync_defaults(opts_.extra_sync_toml) + opts_.extra_sync_toml +
        "\n[http]\nlisten = \"127.0.0.1:0\"\nadmin_token_file = \"admin.token\"\n[http.resolve]\n" + resolve +
        "[[platforms]]\nname = \"school\"\nissuer = " + quote(sim_issuer) + "\nclient_id = " + quote(sim_client_id) +
        "\ntoken_url = " + quote(sim_->base_url(opts_.hosts.front()) + "/login/oauth2/token") +
        "\nprivate_key_file = \"tool-key.pem\"\nkey_id = \"k1\"\nca_file = \"ca.pem\"\nallowed_hosts = [" + hosts +
        "]\nbudget = \"sim\"\n"
        "[[budgets]]\nname = \"sim\"\nrequests_per_second = 5000.0\nmax_in_flight = 8\nreserve = 0\n"
        "[[platforms]]\nname = \"launches\"\nissuer = \"https://moodle.test\"\nclient_id = \"m-1\"\nnrps = false\n" +
        opts_.extra_toml;
    config_ = dir_.write("rostersync.toml", toml);

    auto p = kafka::producer::create({.bootstrap = bootstrap_, .client_id = "pipeline-test"});
    if (!p) throw std::runtime_error(p.error());
    producer_ = std::move(*p);
    auto c = kafka::consumer::create({.bootstrap = bootstrap_, .group_id = "pipeline-test-reader"});
    if (!c) throw std::runtime_error(c.error());
    reader_ = std::move(*c);
    std::vector<kafka::topic_partition> tps;
    for (int i = 0; i < opts_.partitions; ++i) tps.push_back({"lti.membership-changes", i});
    reader_->assign(tps, RD_KAFKA_OFFSET_BEGINNING);
}

pipeline_env::~pipeline_env()
{
    for (auto& d : daemons_) {
        if (d->process && !d->process->wait_exit(0ms)) {
            d->process->signal(SIGTERM);
            d->process->wait_exit(30s);
        }
    }
    daemons_.clear();
    if (reader_) reader_->close();
    reader_.reset();
    producer_.reset();
    sim_.reset();
    if (mock_) {
        mock_->signal(SIGTERM);
        mock_->wait_exit(20s);
    }
}

sim_course pipeline_env::add_course(const std::string& host, int size)
{
    sim_course c;
    c.host = host;
    auto [id, ctx] = sim_->call([&](lms_sim::sim_core& core) {
        auto& course = core.state().w.add_course({.size = size, .test_student = false});
        return std::pair{course.id, course.context_id};
    });
    c.id = id;
    c.context_id = ctx;
    c.url = sim_->base_url(host) + "/api/lti/courses/" + std::to_string(id) + "/names_and_roles";
    return c;
}

std::map<std::string, std::set<std::string>> pipeline_env::truth(const sim_course& c)
{
    return sim_->call([&](lms_sim::sim_core& core) {
        std::map<std::string, std::set<std::string>> out;
        for (const auto& [uid, m] : core.state().w.snapshot_of(c.id)) {
            auto roles = lms_sim::lti_roles(m);
            out[roster::membership_key(sim_issuer, c.context_id, uid)] = {roles.begin(), roles.end()};
        }
        return out;
    });
}

std::map<std::string, std::set<std::string>> pipeline_env::truth(const std::vector<sim_course>& courses)
{
    std::map<std::string, std::set<std::string>> all;
    for (const auto& c : courses) all.merge(truth(c));
    return all;
}

std::string pipeline_env::sync_all(const std::vector<sim_course>& courses, std::chrono::milliseconds timeout)
{
    const auto since = now_text();
    for (const auto& c : courses) publish_seen(c);
    for (const auto& c : courses)
        if (!wait_pass_after(c, since, timeout))
            return "no pass of " + c.context_key() + " since " + since + ": " +
                   boost::json::serialize(context_state(c).value_or(boost::json::object{})) + " " +
                   last_admin_answer() + "\n" + log_text();
    return {};
}

std::string pipeline_env::log_text(std::size_t tail)
{
    std::string out;
    for (auto& d : daemons_)
        if (d->process) {
            d->process->wait_for_log("(drain what is there)", std::chrono::milliseconds(200));
            out += "---- " + d->name + "\n" + d->process->log_text();
        }
    return out.size() > tail ? out.substr(out.size() - tail) : out;
}

daemon_instance& pipeline_env::start_daemon(int live, std::chrono::milliseconds timeout)
{
    auto d = std::make_unique<daemon_instance>();
    d->name = "rostersyncd-" + std::to_string(++instance_counter_);
    d->process = std::make_unique<daemon_process>(ROSTERSYNCD_PATH, std::vector<std::string>{"--config", config_.string()});
    if (!d->process->wait_for_notify("READY=1", 60s))
        throw std::runtime_error("the daemon did not get ready: " + d->process->log_text());
    auto line = d->process->wait_for_log("msg=ready", 5s);
    if (!line) throw std::runtime_error("no ready line: " + d->process->log_text());
    auto address = logfmt_field(*line, "http_address");
    auto colon = address.rfind(':');
    d->http_host = address.substr(0, colon);
    d->http_port = static_cast<unsigned short>(std::stoi(address.substr(colon + 1)));
    daemons_.push_back(std::move(d));
    auto& ref = *daemons_.back();
    if (live != 0 && !wait_live(ref, live < 0 ? opts_.partitions : live, timeout))
        throw std::runtime_error("partitions did not become live: " + ref.process->log_text());
    return ref;
}

int pipeline_env::live_partitions(daemon_instance& d)
{
    auto r = http_request(d.http_host, d.http_port, "GET", "/metrics");
    if (r.status != 200) return -1;
    std::smatch m;
    static const std::regex re(R"re(rostersync_partitions\{phase="live"\} ([0-9]+))re");
    if (!std::regex_search(r.body, m, re)) return 0;
    return std::stoi(m[1]);
}

void pipeline_env::pump_logs()
{
    // The daemons write their logs to pipes this process reads only while waiting on them: read
    // what is there, or a full pipe blocks a daemon's next log line (and with it its pipeline).
    for (auto& d : daemons_)
        if (d->process && !d->process->wait_exit(0ms)) d->process->wait_for_log("(pump the log pipe)", 1ms);
}

bool pipeline_env::wait_live(daemon_instance& d, int n, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pump_logs();
        if (live_partitions(d) == n) return true;
        // A condition polled with a deadline; the metrics are refreshed every half second.
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

void pipeline_env::publish_seen(const sim_course& c, json::object extra)
{
    json::object o{{"issuer", sim_issuer},
                   {"client_id", sim_client_id},
                   {"deployment_id", "1:deployment"},
                   {"context", json::object{{"id", c.context_id}, {"label", "C" + std::to_string(c.id)}}},
                   {"context_memberships_url", c.url},
                   {"seen_at", now_text()}};
    for (auto& kv : extra) o[kv.key()] = kv.value();
    publish_raw(c.context_key(), json::serialize(o));
}

void pipeline_env::mock_command(const std::string& command)
{
    {
        std::ofstream out(dir_.path() / "mock-control");
        out << command << "\n";
    }
    auto line = mock_->wait_for_log(command, 10s);
    if (!line || !line->starts_with("ok ")) throw std::runtime_error("mock command " + command + ": " + line.value_or("no answer"));
}

std::pair<int, std::string> pipeline_env::ready(daemon_instance& d)
{
    auto r = http_request(d.http_host, d.http_port, "GET", "/readyz");
    return {r.status, r.body};
}

void pipeline_env::publish_raw(const std::string& key, const std::string& value)
{
    std::promise<kafka::delivery> done;
    auto fut = done.get_future();
    kafka::record r{.topic = "lti.course-seen", .partition = kafka::partition_for(key, opts_.partitions),
                    .key = key, .value = value};
    auto ec = producer_->send(std::move(r), [&done](const kafka::delivery& d) { done.set_value(d); });
    if (ec) throw std::runtime_error("cannot publish: " + ec.message());
    if (fut.wait_for(30s) != std::future_status::ready) throw std::runtime_error("publish timed out");
    auto d = fut.get();
    if (d.ec) throw std::runtime_error("publish failed: " + d.ec.message());
}

namespace {

change_record to_record(const rd_kafka_message_t& msg, bool parse)
{
    change_record r{.partition = msg.partition, .offset = msg.offset};
    if (msg.key) r.key.assign(static_cast<const char*>(msg.key), msg.key_len);
    if (msg.payload) r.value.assign(static_cast<const char*>(msg.payload), msg.len);
    if (parse && msg.payload) {
        boost::system::error_code ec;
        auto v = json::parse(r.value, ec);
        if (!ec && v.is_object()) r.json = std::move(v.as_object());
    }
    rd_kafka_headers_t* h = nullptr;
    if (rd_kafka_message_headers(&msg, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* v = nullptr;
        size_t n = 0;
        for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
            r.headers[name] = std::string(static_cast<const char*>(v), n);
    }
    return r;
}

}  // namespace

const std::vector<change_record>& pipeline_env::wait_changes(std::size_t n, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        pump_logs();
        // Drain what is there, then stop when enough arrived or the deadline passed.
        for (;;) {
            auto m = reader_->poll(changes_.size() >= n ? 0ms : 100ms);
            if (!m || !*m) break;
            changes_.push_back(to_record(**m, true));
        }
        if (changes_.size() >= n || std::chrono::steady_clock::now() >= deadline) break;
    }
    return changes_;
}

std::int64_t pipeline_env::record_count(const std::string& topic)
{
    std::int64_t total = 0;
    for (int p = 0; p < opts_.partitions; ++p) {
        std::int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(producer_->native(), topic.c_str(), p, &lo, &hi, 10000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
            total += hi;
    }
    return total;
}

std::vector<change_record> pipeline_env::read_topic(const std::string& topic, bool parse_json)
{
    std::vector<change_record> out;
    const auto want = record_count(topic);
    auto c = kafka::consumer::create({.bootstrap = bootstrap_, .group_id = "pipeline-test-scan"});
    if (!c) return out;
    std::vector<kafka::topic_partition> tps;
    for (int i = 0; i < opts_.partitions; ++i) tps.push_back({topic, i});
    (*c)->assign(tps, RD_KAFKA_OFFSET_BEGINNING);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (static_cast<std::int64_t>(out.size()) < want && std::chrono::steady_clock::now() < deadline) {
        auto m = (*c)->poll(100ms);
        if (!m || !*m) continue;
        out.push_back(to_record(**m, parse_json));
    }
    (*c)->close();
    return out;
}

std::pair<int, json::value> pipeline_env::admin(daemon_instance& d, const std::string& method, const std::string& target)
{
    auto r = http_request(d.http_host, d.http_port, method, target, "", {{"Authorization", "Bearer " + token_}});
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    return {r.status, ec ? json::value{} : std::move(v)};
}

std::optional<json::object> pipeline_env::context_state(const sim_course& c)
{
    const auto target = "/admin/contexts/" + http::percent_encode(c.context_key());
    for (auto& d : daemons_) {
        if (!d->process || d->process->wait_exit(0ms)) continue;
        auto [status, v] = admin(*d, "GET", target);
        if (status == 200 && v.is_object()) return v.as_object();
        last_admin_answer_ = d->name + ": " + std::to_string(status) + " " + json::serialize(v);
    }
    return std::nullopt;
}

std::optional<json::object> pipeline_env::wait_pass_after(const sim_course& c, const std::string& since,
                                                          std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::optional<json::object> last;
    while (std::chrono::steady_clock::now() < deadline) {
        pump_logs();
        last = context_state(c);
        if (last) {
            auto start = last->if_contains("last_pass_start");
            auto running = last->if_contains("running");
            auto cand = last->if_contains("removal_candidates");
            auto held = last->if_contains("held");
            const bool after = start && start->is_string() && std::string(start->as_string()) >= since;
            const bool idle = running && running->is_bool() && !running->as_bool();
            const bool confirmed = !cand || cand->to_number<std::int64_t>() == 0 || (held && held->to_number<std::int64_t>() > 0);
            const bool dirty = last->if_contains("dirty") != nullptr;
            if (after && idle && confirmed && !dirty) return last;
        }
        std::this_thread::sleep_for(100ms);
    }
    return std::nullopt;
}

std::string pipeline_env::now_text()
{
    return roster::rfc3339(std::chrono::system_clock::now());
}

std::map<std::string, std::set<std::string>> pipeline_env::fold() const
{
    std::map<std::string, std::set<std::string>> out;
    for (const auto& r : changes_) {
        if (r.json.empty()) continue;
        if (r.type() == "member.removed") {
            out.erase(r.key);
            continue;
        }
        std::set<std::string> roles;
        for (const auto& x : r.json.at("after").as_object().at("roles").as_array()) roles.emplace(x.as_string());
        out[r.key] = std::move(roles);
    }
    return out;
}

}  // namespace rostersync::test
