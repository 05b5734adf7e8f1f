#include "kafka/stats.hpp"

#include "common/log.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

namespace rostersync::kafka {
namespace {

namespace json = boost::json;

const log::logger lg{"kafka"};

// Handles whose last values are kept; beyond this the least recently reporting one is forgotten.
// Long-lived handles report every interval, so only handles gone for good are dropped.
constexpr std::size_t max_handles = 64;

std::optional<std::int64_t> integer(const json::object& o, std::string_view key)
{
    const json::value* v = o.if_contains(key);
    if (v == nullptr) return std::nullopt;
    if (const auto* i = v->if_int64()) return *i;
    if (const auto* u = v->if_uint64()) {
        if (*u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return static_cast<std::int64_t>(*u);
        return std::nullopt;
    }
    if (const auto* d = v->if_double()) {
        if (std::isfinite(*d) && std::fabs(*d) < 9.0e18) return static_cast<std::int64_t>(*d);
    }
    return std::nullopt;
}

std::string_view text(const json::object& o, std::string_view key)
{
    const json::value* v = o.if_contains(key);
    if (v == nullptr) return {};
    if (const auto* s = v->if_string()) return *s;
    return {};
}

bool boolean(const json::object& o, std::string_view key)
{
    const json::value* v = o.if_contains(key);
    if (v == nullptr) return false;
    if (const auto* b = v->if_bool()) return *b;
    return false;
}

const json::object* object(const json::object& o, std::string_view key)
{
    const json::value* v = o.if_contains(key);
    return v != nullptr ? v->if_object() : nullptr;
}

/// What the counters need of one handle between reports.
struct handle_state {
    std::uint64_t last_report = 0;               // for forgetting the least recent handle
    std::map<std::string, std::int64_t> totals;  // top-level "txmsgs", "rxmsgs"
    std::map<std::string, std::int64_t> errors;  // broker entry name -> txerrs + rxerrs
};

/// The increase from `last` to `now`; a fall is a reset (counted from 0). Updates `last`.
std::int64_t advance(std::int64_t& last, std::int64_t now)
{
    const std::int64_t d = now >= last ? now - last : now;
    last = now;
    return d;
}

}  // namespace

struct statistics_exporter::impl {
    explicit impl(metrics::registry& reg)
        : broker_up(reg.gauge("rostersync_kafka_broker_up",
                              "1 while the librdkafka client's connection to the broker is up, else 0.",
                              {"client", "broker"})),
          broker_rtt(reg.gauge("rostersync_kafka_broker_rtt_seconds",
                               "Mean request round trip to the broker over the last statistics "
                               "interval (a consumer's includes the Fetch long poll).",
                               {"client", "broker"})),
          request_errors(reg.counter("rostersync_kafka_request_errors_total",
                                     "Request transmit and receive errors, by broker.",
                                     {"client", "broker"})),
          queue_messages(reg.gauge("rostersync_kafka_producer_queue_messages",
                                   "Records waiting in the producer's queues (not yet acknowledged).",
                                   {"client"})),
          queue_bytes(reg.gauge("rostersync_kafka_producer_queue_bytes",
                                "Bytes of the records waiting in the producer's queues.", {"client"})),
          tx_messages(reg.counter("rostersync_kafka_tx_messages_total",
                                  "Records the producer sent to brokers.", {"client"})),
          rx_messages(reg.counter("rostersync_kafka_rx_messages_total",
                                  "Records the consumer fetched from brokers.", {"client"})),
          lag(reg.gauge("rostersync_kafka_consumer_lag_records",
                        "Records between the committed offset and the end of the log, summed over "
                        "the topic's assigned partitions (librdkafka's consumer_lag).",
                        {"client", "topic"})),
          invalid(reg.counter("rostersync_kafka_statistics_invalid_total",
                              "librdkafka statistics reports that were not a JSON object (ignored).",
                              {"client"}))
    {
    }

    void apply(std::string_view client, const json::object& root);
    void reject(std::string_view client, std::string_view why);
    handle_state& handle(std::string_view client, std::string_view name);

    metrics::family<prometheus::Gauge>& broker_up;
    metrics::family<prometheus::Gauge>& broker_rtt;
    metrics::family<prometheus::Counter>& request_errors;
    metrics::family<prometheus::Gauge>& queue_messages;
    metrics::family<prometheus::Gauge>& queue_bytes;
    metrics::family<prometheus::Counter>& tx_messages;
    metrics::family<prometheus::Counter>& rx_messages;
    metrics::family<prometheus::Gauge>& lag;
    metrics::family<prometheus::Counter>& invalid;

    std::mutex mutex;
    std::uint64_t reports = 0;
    std::map<std::string, handle_state> handles;                 // role + '\n' + handle name
    std::set<std::pair<std::string, std::string>> lag_topics;    // (client, topic) exported once
    std::set<std::string, std::less<>> warned;                   // clients with a logged rejection
};

handle_state& statistics_exporter::impl::handle(std::string_view client, std::string_view name)
{
    std::string key(client);
    key += '\n';
    key += name;
    auto& h = handles[key];
    h.last_report = ++reports;
    if (handles.size() > max_handles) {
        auto oldest = handles.begin();
        for (auto it = handles.begin(); it != handles.end(); ++it)
            if (it->second.last_report < oldest->second.last_report) oldest = it;
        handles.erase(oldest);  // never `h`: it reported last
    }
    return h;
}

void statistics_exporter::impl::reject(std::string_view client, std::string_view why)
{
    invalid.with({client}).Increment();
    bool first = false;
    {
        std::lock_guard lock(mutex);
        first = warned.emplace(client).second;
    }
    if (first)
        lg.warning("librdkafka statistics report ignored (later ones of this client: debug level)",
                   {{"client", client}, {"error", why}});
    else
        lg.debug("librdkafka statistics report ignored", {{"client", client}, {"error", why}});
}

void statistics_exporter::impl::apply(std::string_view client, const json::object& root)
{
    std::lock_guard lock(mutex);
    handle_state& h = handle(client, text(root, "name"));
    const std::string_view type = text(root, "type");

    auto count_total = [&](metrics::family<prometheus::Counter>& fam, const char* field) {
        const auto now = integer(root, field);
        if (!now || *now < 0) return;
        auto& counter = fam.with({client});  // from 0, so the first increase is seen by rate()
        auto [it, fresh] = h.totals.try_emplace(field, 0);
        (void)fresh;
        if (const auto d = advance(it->second, *now); d > 0) counter.Increment(static_cast<double>(d));
    };
    if (type == "producer") {
        if (const auto n = integer(root, "msg_cnt")) queue_messages.with({client}).Set(static_cast<double>(*n));
        if (const auto n = integer(root, "msg_size")) queue_bytes.with({client}).Set(static_cast<double>(*n));
        count_total(tx_messages, "txmsgs");
    } else if (type == "consumer") {
        count_total(rx_messages, "rxmsgs");
    }

    if (const json::object* brokers = object(root, "brokers")) {
        std::map<std::string, std::int64_t> errors;
        for (const auto& [key, value] : *brokers) {
            const json::object* b = value.if_object();
            if (b == nullptr) continue;
            const std::string_view source = text(*b, "source");
            const std::string_view node = text(*b, "nodename");
            if (source == "internal" || node.empty()) continue;
            const std::string name(key);

            // Errors: every real connection, bootstrap and coordinator ones included.
            const std::int64_t now = std::max<std::int64_t>(0, integer(*b, "txerrs").value_or(0)) +
                                     std::max<std::int64_t>(0, integer(*b, "rxerrs").value_or(0));
            std::int64_t last = 0;
            if (auto it = h.errors.find(name); it != h.errors.end()) {
                last = it->second;
            } else {
                // librdkafka renames "host:port/bootstrap" to "host:port/<id>" once metadata names
                // that broker; the counts carry on.
                const std::string boot = std::string(node) + "/bootstrap";
                if (auto b0 = h.errors.find(boot); b0 != h.errors.end() && !brokers->contains(boot)) last = b0->second;
            }
            auto& counter = request_errors.with({client, node});
            if (const auto d = advance(last, now); d > 0) counter.Increment(static_cast<double>(d));
            errors[name] = now;

            // Gauges: brokers known by id, not coordinators or bootstrap addresses.
            const auto id = integer(*b, "nodeid").value_or(-1);
            if (source == "logical" || id < 0) continue;
            const std::string_view state = text(*b, "state");
            if (state == "INIT" && integer(*b, "connects").value_or(1) == 0) continue;  // never needed
            broker_up.with({client, node}).Set(state == "UP" ? 1 : 0);
            if (const json::object* rtt = object(*b, "rtt")) {
                const auto cnt = integer(*rtt, "cnt").value_or(0);
                const auto avg = integer(*rtt, "avg");
                if (cnt > 0 && avg && *avg >= 0) broker_rtt.with({client, node}).Set(static_cast<double>(*avg) / 1e6);
            }
        }
        h.errors = std::move(errors);  // entries gone from the report are forgotten
    }

    if (type != "consumer") return;
    const json::object* topics = object(root, "topics");
    if (topics == nullptr) return;
    for (const auto& [topic, value] : *topics) {
        const json::object* t = value.if_object();
        if (t == nullptr) continue;
        std::int64_t sum = 0;
        bool known = false;
        if (const json::object* parts = object(*t, "partitions")) {
            for (const auto& [pkey, pvalue] : *parts) {
                const json::object* p = pvalue.if_object();
                if (p == nullptr) continue;
                // Partition -1 is librdkafka's internal UA (unassigned) partition.
                if (integer(*p, "partition").value_or(-1) < 0 || !boolean(*p, "desired")) continue;
                const auto l = integer(*p, "consumer_lag");
                if (!l || *l < 0) continue;  // -1: no committed offset or end of log yet
                sum += *l;
                known = true;
            }
        }
        auto key = std::make_pair(std::string(client), std::string(topic));
        if (!known && !lag_topics.contains(key)) continue;
        lag_topics.insert(std::move(key));
        lag.with({client, topic}).Set(static_cast<double>(sum));
    }
}

statistics_exporter::statistics_exporter(metrics::registry& reg) : impl_(std::make_unique<impl>(reg)) {}

statistics_exporter::~statistics_exporter() = default;

void statistics_exporter::update(std::string_view client, std::string_view json) noexcept
{
    try {
        boost::system::error_code ec;
        json::value v = json::parse(json, ec);
        if (ec) return impl_->reject(client, ec.message());
        const json::object* root = v.if_object();
        if (root == nullptr) return impl_->reject(client, "not a JSON object");
        impl_->apply(client, *root);
    } catch (const std::exception& e) {
        // Out of memory, or a metric refused: nothing of ours to clean up (the state stays
        // consistent up to the field that failed).
        try {
            lg.warning("librdkafka statistics report not applied", {{"client", client}, {"error", e.what()}});
        } catch (...) {
        }
    }
}

std::function<void(std::string_view json)> statistics_exporter::callback(std::string client)
{
    impl_->invalid.with({client});  // the series exists (at 0) before anything goes wrong
    return [this, client = std::move(client)](std::string_view json) { update(client, json); };
}

}  // namespace rostersync::kafka
