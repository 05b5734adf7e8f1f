#include "sync/pipeline.hpp"

#include "common/handoff.hpp"
#include "common/log.hpp"
#include "http/url.hpp"
#include "kafka/admin.hpp"
#include "kafka/consumer.hpp"
#include "kafka/embedded.hpp"
#include "kafka/error.hpp"
#include "kafka/partitioner.hpp"
#include "kafka/producer.hpp"
#include "kafka/stats.hpp"
#include "nrps/error.hpp"
#include "roster/encode.hpp"
#include "sync/course_seen.hpp"
#include "sync/records.hpp"
#include "sync/schedule.hpp"
#include "sync/state.hpp"
#include "sync/table_loader.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <thread>
#include <csignal>
#include <malloc.h>
#include <atomic>
#include <cmath>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

namespace rostersync::sync {
namespace json = boost::json;
using namespace std::chrono_literals;
using sys_clock = std::chrono::system_clock;
using steady = std::chrono::steady_clock;

namespace {

const log::logger lg{"pipeline"};


std::optional<std::string> header(const rd_kafka_message_t* m, const char* name)
{
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || hdrs == nullptr) return std::nullopt;
    const void* v = nullptr;
    std::size_t n = 0;
    if (rd_kafka_header_get_last(hdrs, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
    return std::string(kafka::bytes(v, n));
}

/// Offsets handed out in order, finished in any order: what may be committed.
struct offset_tracker {
    std::set<std::int64_t> outstanding;
    std::int64_t next = -1;       // one past the highest begun
    std::int64_t committed = -1;

    void begin(std::int64_t o)
    {
        outstanding.insert(o);
        next = std::max(next, o + 1);
    }
    void end(std::int64_t o) { outstanding.erase(o); }
    std::int64_t committable() const { return outstanding.empty() ? next : *outstanding.begin(); }
};

std::string host_of(const std::string& url)
{
    auto u = http::parse_url(url);
    return u ? u->host : std::string();
}

/// What a running pass fetched so far; written by the fetch's strand, read by status().
struct pass_progress {
    sys_clock::time_point started;
    std::atomic<int> pages{0};
    std::atomic<std::size_t> members{0};
};

struct batch_result {
    int sent = 0;
    int failed = 0;
    bool possibly_persisted = false;
    std::map<std::int32_t, std::int64_t> last_offset;  // by partition
    std::string first_error;
};

}  // namespace

struct pipeline::impl : std::enable_shared_from_this<impl> {
    struct launch {
        launch_user user;
        std::optional<roster::time_point> seen_at;
    };

    struct context_rt {
        context_record rec;
        std::int64_t last_acked = -1;  // offset of the last acknowledged change of this context
        bool busy = false;             // a pass or a launch holds the context
        std::list<launch> launches;  // not a deque: libstdc++'s allocates ~600 B even when empty
        std::shared_ptr<net::cancellation_signal> cancel;
        std::string budget_key;
        std::optional<sys_clock::time_point> received;  // oldest request not yet served (latency)
        int failures = 0;
        std::shared_ptr<pass_progress> progress;  // while a pass runs
    };

    enum class phase { restoring, replaying, live };

    struct partition_rt {
        std::int32_t id = 0;
        phase ph = phase::restoring;
        bool revoked = false;
        partition_state state;
        std::map<std::string, context_rt> contexts;
        std::int64_t fence = 0;          // after a failed delivery: the end offset measured then
        std::int64_t replay_target = 0;
        std::int64_t replay_start = 0;
        std::shared_ptr<restore_progress> loading = std::make_shared<restore_progress>();
        std::int64_t checkpointed = -1;
        sys_clock::time_point last_checkpoint = sys_clock::now();
        std::deque<kafka::message_ptr> pending;  // requests that arrived while restoring
        bool paused = false;
        offset_tracker requests;
        std::vector<std::weak_ptr<net::steady_timer>> waiters;
        int running = 0;
        bool snapshotting = false;
        std::int64_t produced_end = 0;   // one past the last change this instance saw acknowledged
        steady::time_point assigned_at = steady::now();
        steady::time_point slow_reported{};
    };

    impl(net::io_context& ioc, const config::config& c, nrps::engine& e, metrics::registry& m, pipeline_options o)
        : ioc(ioc), strand(net::make_strand(ioc)), cfg(c), engine(e), opts(o), kafka_stats(m),
          course_seen_total(m.counter("rostersync_course_seen_total",
                                      "CourseSeen events consumed, by result (accepted, dead_lettered).",
                                      {"result"})),
          dead_letters(m.counter("rostersync_dead_letters_total",
                                 "Events sent to the dead-letter topic, by reason.", {"reason"})),
          requests_total(m.counter("rostersync_sync_requests_total",
                                   "Sync requests taken by the scheduler, by outcome.", {"outcome"})),
          passes_total(m.counter("rostersync_sync_passes_total",
                                 "Roster passes by outcome (changed, unchanged, failed, abandoned, parked).",
                                 {"outcome"})),
          pass_seconds(m.histogram("rostersync_sync_pass_duration_seconds",
                                   "Duration of roster passes, fetch to acknowledged changes.",
                                   {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800})),
          changes_total(m.counter("rostersync_changes_published_total",
                                  "Membership changes acknowledged by Kafka, by type and source.",
                                  {"type", "source"})),
          delivery_failures(m.counter("rostersync_delivery_failures_total",
                                      "Records Kafka did not acknowledge, by topic.", {"topic"})),
          removals_held(m.counter("rostersync_removals_held_total",
                                  "Removals held by the removal guard.")),
          privacy_fields(m.counter("rostersync_privacy_level_fields_total",
                                   "Profile fields absent for every member of a pass (kept, not changed).",
                                   {"field"})),
          differences(m.counter("rostersync_nrps_differences_total",
                                "rel=\"differences\" links recorded (not applied: a full pass is authoritative).")),
          invalid_records(m.counter("rostersync_invalid_records_total",
                                    "Records of the daemon's own topics that could not be decoded, by topic.",
                                    {"topic"})),
          contexts_gauge(m.gauge("rostersync_contexts",
                                 "Owned contexts by state (tracked, held, parked, retired, running, overdue).",
                                 {"state"})),
          memberships_gauge(m.gauge("rostersync_memberships", "Tracked memberships in owned partitions.")),
          partitions_gauge(m.gauge("rostersync_partitions", "Owned partitions by phase.", {"phase"})),
          lag_gauge(m.gauge("rostersync_consumer_lag_records", "Records not yet consumed, by consumer.",
                            {"consumer"})),
          checkpoint_age(m.gauge("rostersync_checkpoint_age_seconds",
                                 "Age of the oldest checkpoint of an owned partition.")),
          latency(m.histogram("rostersync_event_latency_seconds",
                              "From a CourseSeen's arrival to the acknowledgement of the pass it caused.",
                              {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600})),
          backpressure(m.gauge("rostersync_backpressure",
                               "1 while a bounded queue is full and its consumer is held back (ingest: forwards in "
                               "flight; requests: requests waiting for a restore).",
                               {"queue"})),
          producing_stopped(m.gauge("rostersync_producing_stopped",
                                    "1 while production to a topic is stopped because its partition count changed.",
                                    {"topic"}))
    {
    }

    net::io_context& ioc;
    net::strand<net::io_context::executor_type> strand;
    net::thread_pool blocking{2};  // Kafka calls that wait on the network
    config::config cfg;
    nrps::engine& engine;
    pipeline_options opts;

    kafka::statistics_exporter kafka_stats;  // outlives the clients below
    std::unique_ptr<kafka::embedded_cluster> embedded;
    std::string bootstrap;
    std::unique_ptr<kafka::producer> producer;
    std::unique_ptr<kafka::consumer> ingest;
    std::unique_ptr<kafka::consumer> requests;
    std::unique_ptr<kafka::consumer> state_consumer;
    std::unique_ptr<table_loader> loader;  // restores: one thread and one consumer for them all

    std::map<std::int32_t, std::shared_ptr<partition_rt>> parts;
    std::map<std::int32_t, offset_tracker> ingest_offsets;
    std::map<std::string, int> running_per_budget;
    int running_total = 0;
    int ingest_in_flight = 0;
    static constexpr int max_ingest_in_flight = 10'000;  // forwards not yet acknowledged: then ingest stops polling
    bool stopping = false;
    bool fold_stopped = false;  // the fold runs on while stopping, until the last snapshot
    std::atomic<bool> started{false};
    bool topic_problems = false;
    std::string transactional_id;
    bool txn_dirty = false;                 // records sent since the transaction began
    std::atomic<bool> fatal{false};         // the pipeline cannot go on: the daemon exits non-zero
    std::atomic<bool> kafka_down{false};    // every broker unreachable (readiness)
    std::atomic<bool> winding_down{false};  // stopping, as other threads see it
    // Progress of each loop (steady clock ticks), for the watchdog: ingest, requests, state, housekeeping.
    std::array<std::atomic<steady::rep>, 4> beats{};
    void beat(std::size_t i) { beats[i].store(steady::now().time_since_epoch().count(), std::memory_order_relaxed); }
    bool probing = false;
    std::atomic<bool> topics_ok{true};
    std::string stop_reason;
    mutable std::mutex reason_mutex;
    std::shared_ptr<net::steady_timer> wake;  // the scheduler's
    std::vector<std::weak_ptr<net::steady_timer>> loop_timers;  // cancelled when stopping

    std::shared_ptr<net::steady_timer> loop_timer()
    {
        auto t = std::make_shared<net::steady_timer>(strand);
        loop_timers.push_back(t);
        return t;
    }

    // The last pass errors, for the status page.
    static constexpr std::size_t max_recent_errors = 20;
    std::deque<pass_error> recent_errors;  // newest at the back

    void note_error(const std::string& key, std::string outcome, std::string reason)
    {
        recent_errors.push_back({sys_clock::now(), key, std::move(outcome), std::move(reason)});
        while (recent_errors.size() > max_recent_errors) recent_errors.pop_front();
    }

    metrics::family<prometheus::Counter>& course_seen_total;
    metrics::family<prometheus::Counter>& dead_letters;
    metrics::family<prometheus::Counter>& requests_total;
    metrics::family<prometheus::Counter>& passes_total;
    metrics::family<prometheus::Histogram>& pass_seconds;
    metrics::family<prometheus::Counter>& changes_total;
    metrics::family<prometheus::Counter>& delivery_failures;
    metrics::family<prometheus::Counter>& removals_held;
    metrics::family<prometheus::Counter>& privacy_fields;
    metrics::family<prometheus::Counter>& differences;
    metrics::family<prometheus::Counter>& invalid_records;
    metrics::family<prometheus::Gauge>& contexts_gauge;
    metrics::family<prometheus::Gauge>& memberships_gauge;
    metrics::family<prometheus::Gauge>& partitions_gauge;
    metrics::family<prometheus::Gauge>& lag_gauge;
    metrics::family<prometheus::Gauge>& checkpoint_age;
    metrics::family<prometheus::Histogram>& latency;
    metrics::family<prometheus::Gauge>& backpressure;
    metrics::family<prometheus::Gauge>& producing_stopped;

    const config::topic_names& topics() const { return cfg.kafka.topics; }
    std::int32_t partitions() const { return cfg.kafka.partitions; }

    schedule_params params() const
    {
        schedule_params p;
        p.min_interval = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.sync.min_interval);
        p.resync_interval = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.sync.resync_interval);
        p.retire_after = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.sync.retire_after);
        p.resync_share = cfg.sync.resync_share;
        return p;
    }

    // ------------------------------------------------------------------------------------------
    // Kafka setup

    /// In exactly-once mode every consumer reads committed records only (aborted changes are
    /// never folded).
    static std::vector<std::pair<std::string, std::string>> consumer_properties(const config::kafka_config& k)
    {
        auto props = k.properties;
        if (k.exactly_once) props.insert(props.begin(), {"isolation.level", "read_committed"});
        return props;
    }

    result<void, std::string> connect()
    {
        const auto& k = cfg.kafka;
        if (k.embedded()) {
            auto c = kafka::embedded_cluster::start(1);
            if (!c) return result<void, std::string>(boost::system::in_place_error, c.error());
            embedded = std::move(*c);
            bootstrap = embedded->bootstrap();
            lg.info("embedded Kafka cluster started (for trials: data lives only as long as this process)",
                    {{"bootstrap", bootstrap}});
        } else {
            bootstrap = k.brokers;
        }
        auto fail = [](std::string s) { return result<void, std::string>(boost::system::in_place_error, std::move(s)); };

        auto producer_props = k.properties;
        if (k.exactly_once) {
            transactional_id = k.transactional_id;
            if (transactional_id.empty()) {
                char host[256] = {};
                ::gethostname(host, sizeof host - 1);
                transactional_id = k.group_id + "-" + host;
            }
            producer_props.insert(producer_props.begin(), {"transactional.id", transactional_id});
        }
        auto p = kafka::producer::create({.bootstrap = bootstrap, .client_id = "rostersync",
                                          .properties = producer_props,
                                          .on_statistics = kafka_stats.callback("producer"),
                                          .on_error = [this](error_code ec, std::string_view reason) {
                                              if (ec == kafka::make_error_code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)) {
                                                  if (!kafka_down.exchange(true))
                                                      lg.error("every Kafka broker is down; not ready until one is back",
                                                               {{"reason", reason}});
                                              }
                                          }});
        if (!p) return fail(p.error());
        producer = std::move(*p);

        std::vector<kafka::topic_spec> specs;
        const int rf = k.embedded() ? 1 : k.replication_factor;
        auto add = [&](const std::string& name, const char* policy) {
            specs.push_back({.name = name, .partitions = k.partitions, .replication_factor = rf,
                             .cleanup_policy = policy});
        };
        add(k.topics.course_seen, "delete");
        add(k.topics.course_seen_dlq, "delete");
        add(k.topics.membership_changes, "delete");
        add(k.topics.memberships, "compact");
        add(k.topics.contexts, "compact");
        add(k.topics.checkpoints, "compact");
        add(k.topics.sync_requests, "delete");
        std::vector<std::string> problems;
        auto ec = kafka::ensure_topics(producer->native(), specs, embedded.get(), problems, opts.kafka_timeout);
        topic_problems = !problems.empty();
        if (ec || !problems.empty()) {
            std::string all;
            for (const auto& pr : problems) all += (all.empty() ? "" : "; ") + pr;
            if (all.empty()) all = "cannot check the topics at " + bootstrap + ": " + ec.message() +
                                   " (is kafka.brokers right and the cluster reachable?)";
            return fail(all);
        }

        if (k.exactly_once) {
            auto r = producer->init_transactions(std::chrono::seconds(30));
            if (!r)
                return fail("kafka.exactly_once: cannot initialise transactions (" + r.message +
                            "); the brokers must support transactions (Kafka 2.5+) and the principal needs "
                            "Write on the TransactionalId " + transactional_id + ", or set kafka.exactly_once = false");
            if (auto b = producer->begin_transaction(); !b) return fail("kafka.exactly_once: " + b.message);
            lg.info("exactly-once mode: one transaction per commit interval", {{"transactional_id", transactional_id}});
        }
        auto make_consumer = [&](std::string group, const char* role, kafka::property_list props) {
            return kafka::consumer::create({.bootstrap = bootstrap, .group_id = std::move(group),
                                            .client_id = "rostersync", .properties = std::move(props),
                                            .on_statistics = kafka_stats.callback(role)});
        };
        auto in = make_consumer(k.group_id + ".ingest", "ingest", consumer_properties(k));
        if (!in) return fail(in.error());
        ingest = std::move(*in);
        auto rq = make_consumer(k.group_id, "requests", consumer_properties(k));
        if (!rq) return fail(rq.error());
        requests = std::move(*rq);
        // Manual assignment, never commits. Its prefetch stays librdkafka's default: a smaller
        // queue doubled the replay of 1,000,000 changes (benchmarks/README.md, restart).
        auto st = make_consumer(k.group_id + ".state", "state", consumer_properties(k));
        if (!st) return fail(st.error());
        state_consumer = std::move(*st);
        // Four consumers read the tables of every partition being restored. They keep
        // librdkafka's prefetch limit (64 MB): the loaders drain it as fast as it fills, and
        // librdkafka 2.0 stops fetching a partition whose queue is over the limit until its
        // broker thread next wakes up, so 4 MB made a 300,000-row load 2.3 times slower.
        loader = std::make_unique<table_loader>(table_loader::options{
            .bootstrap = bootstrap, .kafka = k, .properties = consumer_properties(k), .threads = 4});
        if (auto e = ingest->subscribe({k.topics.course_seen}))
            return fail("cannot subscribe to " + k.topics.course_seen + ": " + e.message());
        if (auto e = requests->subscribe({k.topics.sync_requests}))
            return fail("cannot subscribe to " + k.topics.sync_requests + ": " + e.message());
        return {};
    }

    /// Runs f on the blocking pool; `co_await take(job)` resumes the caller on its own executor.
    /// Keep the two in separate statements: g++ 12 copies a lambda with init-captures wrongly
    /// when it is a temporary of a full-expression that contains co_await.
    template <class F>
    auto to_pool(F f)
    {
        return to_pool(blocking, std::move(f));
    }

    template <class F>
    auto to_pool(net::thread_pool& pool, F f)
    {
        using T = decltype(f());
        auto h = handoff<T>::create(strand);
        net::post(pool, [f = std::move(f), h]() mutable { h->set(f()); });
        return h;
    }

    template <class T>
    static awaitable<T> take(std::shared_ptr<handoff<T>> h)
    {
        auto r = co_await h->wait(steady::time_point::max());
        if (!r) throw std::runtime_error("cancelled while waiting for Kafka");
        co_return std::move(*r);
    }

    /// Sends every record and waits for all deliveries.
    awaitable<batch_result> publish_all(std::vector<kafka::record> records)
    {
        struct shared {
            std::mutex m;
            int remaining = 0;
            batch_result r;
            std::shared_ptr<handoff<bool>> done;
        };
        auto s = std::make_shared<shared>();
        s->done = handoff<bool>::create(co_await net::this_coro::executor);
        s->remaining = static_cast<int>(records.size());
        s->r.sent = s->remaining;
        if (records.empty()) co_return s->r;
        txn_dirty = true;
        for (auto& rec : records) {
            std::string topic = rec.topic;
            auto finish = [s, topic, this](const kafka::delivery& d) {
                std::lock_guard lock(s->m);
                if (d.ec) {
                    ++s->r.failed;
                    s->r.possibly_persisted |= d.possibly_persisted;
                    if (s->r.first_error.empty()) s->r.first_error = d.ec.message();
                    delivery_failures.with({topic}).Increment();
                } else {
                    auto& last = s->r.last_offset[d.partition];
                    last = std::max(last, d.offset);
                    kafka_down = false;
                }
                if (--s->remaining == 0) s->done->set(true);
            };
            if (auto ec = producer->send(std::move(rec), finish)) {
                finish(kafka::delivery{.ec = ec});
            }
        }
        co_await s->done->wait(steady::time_point::max());
        std::lock_guard lock(s->m);
        co_return s->r;
    }

    // ------------------------------------------------------------------------------------------
    // Ingest: lti.course-seen → sync requests or the dead-letter topic

    /// The pace of a poll loop: after a round that handled nothing it waits 1, 2, 4 … 20 ms
    /// (polls are non-blocking, librdkafka fills its queues meanwhile); after a busy round it
    /// yields the strand so passes and the other loops run between rounds.
    class poll_pacer {
    public:
        explicit poll_pacer(const net::strand<net::io_context::executor_type>& strand) : strand_(strand), idle_(strand) {}

        awaitable<void> after(int handled)
        {
            if (handled == 0) {
                idle_.expires_after(backoff_);
                co_await idle_.async_wait(nothrow);
                backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(20));
            } else {
                backoff_ = std::chrono::milliseconds(1);
                co_await net::post(strand_, net::use_awaitable);
            }
        }

    private:
        net::strand<net::io_context::executor_type> strand_;
        net::steady_timer idle_;
        std::chrono::milliseconds backoff_{1};
    };

    awaitable<void> ingest_loop()
    {
        poll_pacer pace(strand);
        while (!stopping) {
            beat(0);
            int n = 0;
            while (n < 500 && ingest_in_flight < max_ingest_in_flight) {
                auto m = ingest->poll(0ms);
                if (!m) {
                    lg.warning("ingest consumer error", {{"error", m.error().message()}});
                    break;
                }
                if (!*m) break;
                handle_course_seen(std::move(*m));
                ++n;
            }
            ingest->take_rebalances();  // ingest partitions carry no state
            co_await pace.after(n);
        }
    }

    void handle_course_seen(kafka::message_ptr m)
    {
        const std::int32_t part = m->partition;
        const std::int64_t offset = m->offset;
        const auto value = kafka::bytes(m->payload, m->len);
        const auto key = std::string(kafka::bytes(m->key, m->key_len));
        auto parsed = parse_course_seen(value, cfg);
        kafka::record rec;
        bool accepted = static_cast<bool>(parsed);
        if (parsed) {
            const auto ctx_key = parsed->issuer + "|" + parsed->context_id;
            rec.topic = topics().sync_requests;
            rec.partition = kafka::partition_for(ctx_key, partitions());
            rec.key = ctx_key;
            rec.value = encode_sync_request(*parsed);
            rec.headers.emplace_back("rostersync.received_ms",
                                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                        sys_clock::now().time_since_epoch()).count()));
        } else {
            rec.topic = topics().course_seen_dlq;
            rec.partition = kafka::partition_for(key, partitions());
            rec.key = key;
            rec.value = std::string(value);
            rec.headers.emplace_back("rostersync.error", parsed.error().message);
            rec.headers.emplace_back("rostersync.reason", parsed.error().reason);
            rec.headers.emplace_back("rostersync.source",
                                     topics().course_seen + "/" + std::to_string(part) + "@" + std::to_string(offset));
            lg.warning("CourseSeen rejected: sent to the dead-letter topic",
                       {{"reason", parsed.error().reason}, {"problem", parsed.error().message},
                        {"partition", part}, {"offset", offset}});
        }
        ingest_offsets[part].begin(offset);
        ++ingest_in_flight;
        send_until_acknowledged(std::move(rec), [self = shared_from_this(), part, offset, accepted,
                                                 reason = parsed ? std::string() : parsed.error().reason] {
            --self->ingest_in_flight;
            self->ingest_offsets[part].end(offset);
            self->course_seen_total.with({accepted ? "accepted" : "dead_lettered"}).Increment();
            if (!accepted) self->dead_letters.with({reason}).Increment();
        });
    }

    /// An input record is committed only once what it became is in Kafka: retry until it is.
    void send_until_acknowledged(kafka::record rec, std::function<void()> done)
    {
        txn_dirty = true;
        auto copy = rec;
        std::weak_ptr<impl> weak = shared_from_this();
        auto on_delivery = [weak, copy = std::move(copy), done](const kafka::delivery& d) mutable {
            auto self = weak.lock();
            if (!self) return;
            if (!d.ec) self->kafka_down = false;
            net::post(self->strand, [self, d, copy = std::move(copy), done]() mutable {
                if (!d.ec) {
                    done();
                    return;
                }
                self->delivery_failures.with({copy.topic}).Increment();
                lg.warning("delivery failed; retrying", {{"topic", copy.topic}, {"error", d.ec.message()}});
                auto t = std::make_shared<net::steady_timer>(self->strand, 1s);
                t->async_wait([self, t, copy = std::move(copy), done](error_code) mutable {
                    self->send_until_acknowledged(std::move(copy), std::move(done));
                });
            });
        };
        if (auto ec = producer->send(std::move(rec), on_delivery)) on_delivery(kafka::delivery{.ec = ec});
    }

    // ------------------------------------------------------------------------------------------
    // Ownership: the requests consumer's assignment

    awaitable<void> requests_loop()
    {
        poll_pacer pace(strand);
        while (!stopping) {
            beat(1);
            for (auto& ev : requests->take_rebalances()) {
                for (const auto& tp : ev.partitions) {
                    if (ev.assigned) assign_partition(tp.partition);
                    else revoke_partition(tp.partition);
                }
            }
            int n = 0;
            while (n < 500) {
                auto m = requests->poll(0ms);
                if (!m) {
                    lg.warning("requests consumer error", {{"error", m.error().message()}});
                    break;
                }
                if (!*m) break;
                ++n;
                auto it = parts.find((*m)->partition);
                if (it == parts.end()) continue;  // not (or no longer) ours
                auto& part = *it->second;
                if (part.ph != phase::live) {
                    part.pending.push_back(std::move(*m));
                    if (part.pending.size() > 1000 && !part.paused) {
                        requests->pause({{topics().sync_requests, part.id}});
                        part.paused = true;
                    }
                    continue;
                }
                handle_request(it->second, std::move(*m));
            }
            co_await pace.after(n);
        }
    }

    void assign_partition(std::int32_t p)
    {
        if (parts.contains(p)) return;
        auto part = std::make_shared<partition_rt>();
        part->id = p;
        parts[p] = part;
        lg.info("partition assigned; restoring", {{"partition", p}});
        net::co_spawn(strand, restore(part), [p](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                lg.error("restore failed", {{"partition", p}, {"error", ex.what()}});
            }
        });
    }

    void revoke_partition(std::int32_t p)
    {
        auto it = parts.find(p);
        if (it == parts.end()) return;
        auto part = it->second;
        part->revoked = true;
        part->loading->abandon = true;
        for (auto& [k, c] : part->contexts)
            if (c.cancel) c.cancel->emit(net::cancellation_type::total);
        for (auto& w : part->waiters)
            if (auto t = w.lock()) t->cancel();
        parts.erase(it);
        stop_folding(p);
        lg.info("partition revoked; its state was dropped", {{"partition", p}});
    }

    // The state consumer's assignment only grows: a partition is added (incremental_assign) when
    // its first restore finished, paused when it is revoked, and moved (seek) and resumed when a
    // later restore finished. Replacing the whole assignment (rd_kafka_assign) stops and restarts
    // every partition, and a stop requested while another is in progress trips librdkafka
    // 2.0.2's assignment race (an abort: "rd_kafka_assignment_partition_stopped: Assertion
    // `rktp->rktp_started' failed", confluentinc/librdkafka#5573) when the group revokes and
    // re-assigns everything, as it does after every broker was down past the session timeout.
    std::set<std::int32_t> fold_assigned;  // in the state consumer's assignment
    std::set<std::int32_t> fold_paused;    // of those, paused (not ours now)

    void start_folding(std::int32_t p, std::int64_t from)
    {
        const kafka::partition_offset po{{topics().membership_changes, p}, std::max<std::int64_t>(from, 0)};
        if (!fold_assigned.contains(p)) {
            if (auto ec = state_consumer->incremental_assign({po})) {
                lg.error("cannot assign the state consumer", {{"partition", p}, {"error", ec.message()}});
                return;
            }
            fold_assigned.insert(p);
            return;
        }
        // Seek while still paused, then resume: records fetched from the old position carry an
        // outdated version and are dropped by librdkafka.
        if (auto ec = state_consumer->seek({po}))
            lg.error("cannot move the state consumer", {{"partition", p}, {"error", ec.message()}});
        if (fold_paused.erase(p)) {
            if (auto ec = state_consumer->resume({po.tp}))
                lg.error("cannot resume the state consumer", {{"partition", p}, {"error", ec.message()}});
        }
    }

    void stop_folding(std::int32_t p)
    {
        if (!fold_assigned.contains(p) || fold_paused.contains(p)) return;
        if (auto ec = state_consumer->pause({{topics().membership_changes, p}}))
            lg.error("cannot pause the state consumer", {{"partition", p}, {"error", ec.message()}});
        fold_paused.insert(p);
    }

    awaitable<void> restore(std::shared_ptr<partition_rt> part)
    {
        const auto started = steady::now();
        loaded_partition data;
        if (stopping) co_return;  // assigned while shutting down: the next owner restores it
        for (int attempt = 0;; ++attempt) {
            auto job = handoff<loaded_partition>::create(strand);
            loader->load(part->id, part->loading, opts.restore_timeout, [job](loaded_partition l) { job->set(std::move(l)); });
            data = co_await take(std::move(job));
            if (data.error.empty() || part->revoked || stopping) break;
            lg.error("restore failed; retrying", {{"partition", part->id}, {"problem", data.error}});
            net::steady_timer t(strand, std::min(std::chrono::seconds(1 << std::min(attempt, 5)), 30s));
            co_await t.async_wait(nothrow);
        }
        if (part->revoked || stopping) co_return;
        part->state = std::move(data.state);
        for (auto& rec : data.contexts) {
            auto& c = part->contexts[rec.context_key];
            rec.schedule.running = false;
            c.rec = std::move(rec);
            c.budget_key = budget_key(c.rec);
        }
        if (data.invalid) invalid_records.with({"restore"}).Increment(static_cast<double>(data.invalid));
        data.contexts = {};
        if (data.checkpoint_before_log_start) {
            lg.error("the checkpoint is older than the start of the change stream: state may be incomplete; "
                     "raise the retention of " + topics().membership_changes + " above sync.snapshot_interval",
                     {{"partition", part->id}, {"checkpoint", data.cp ? data.cp->changes_offset : -1},
                      {"log_start", data.changes.low}});
        }
        if (data.invalid_changes) {
            invalid_records.with({topics().membership_changes}).Increment(static_cast<double>(data.invalid_changes));
            lg.error("undecodable records in the change stream; skipped",
                     {{"partition", part->id}, {"records", data.invalid_changes},
                      {"first_offset", data.first_invalid_change.first}, {"problem", data.first_invalid_change.second}});
        }
        // The loader replayed the change stream up to the end it had when the load started; the
        // state consumer folds the rest (usually nothing: what the previous owner wrote last).
        const std::int64_t start = data.replay_from;
        part->checkpointed = start;
        part->replay_start = start;
        part->replay_target = data.changes.high;
        part->ph = phase::replaying;
        lg.info("partition table loaded; replaying the change stream",
                {{"partition", part->id}, {"memberships", part->state.memberships()},
                 {"table_memberships", data.table_memberships}, {"contexts", part->contexts.size()},
                 {"from", start}, {"to", data.changes.high}, {"replayed_to", part->state.position()},
                 {"seconds", std::chrono::duration<double>(steady::now() - started)}});
        start_folding(part->id, part->state.position());
        maybe_live(*part);
    }

    void maybe_live(partition_rt& part)
    {
        if (part.ph != phase::replaying || part.state.position() < part.replay_target) return;
        part.ph = phase::live;
        lg.info("partition live", {{"partition", part.id}, {"memberships", part.state.memberships()}});
        // The last restore of a burst: hand the pages the table loads and the replay freed back
        // to the system (the decoded records, librdkafka's fetch buffers).
        if (std::all_of(parts.begin(), parts.end(), [](const auto& kv) { return kv.second->ph == phase::live; }))
            net::post(blocking, [] { ::malloc_trim(0); });
        auto sp = parts.at(part.id);
        while (!part.pending.empty()) {
            auto m = std::move(part.pending.front());
            part.pending.pop_front();
            handle_request(sp, std::move(m));
        }
        if (part.paused) {
            requests->resume({{topics().sync_requests, part.id}});
            part.paused = false;
        }
        poke();
    }

    // ------------------------------------------------------------------------------------------
    // The fold: lti.membership-changes → state, in log order

    awaitable<void> state_loop()
    {
        poll_pacer pace(strand);
        while (!fold_stopped) {
            beat(2);
            int n = 0;
            std::set<std::int32_t> touched;
            while (n < 2000) {
                auto m = state_consumer->poll(0ms);
                if (!m || !*m) break;
                ++n;
                auto it = parts.find((*m)->partition);
                if (it == parts.end()) continue;
                auto& part = *it->second;
                // Fetched before the partition was revoked and assigned again: its restore
                // starts the fold afresh (start_folding).
                if (part.ph == phase::restoring) continue;
                const auto offset = (*m)->offset;
                auto ev = decode_change(kafka::bytes((*m)->payload, (*m)->len));
                if (!ev) {
                    invalid_records.with({topics().membership_changes}).Increment();
                    lg.error("undecodable record in the change stream; skipped",
                             {{"partition", part.id}, {"offset", offset}, {"problem", ev.error()}});
                    part.state.skip(offset);
                } else {
                    part.state.apply(*ev, offset);
                }
                touched.insert(part.id);
            }
            for (auto p : touched) {
                auto it = parts.find(p);
                if (it == parts.end()) continue;
                for (auto& w : it->second->waiters)
                    if (auto t = w.lock()) t->cancel();
                it->second->waiters.clear();
                maybe_live(*it->second);
            }
            co_await pace.after(n);
        }
    }

    /// Waits until the fold of `part` reached `target` (the next offset to read).
    awaitable<bool> caught_up(std::shared_ptr<partition_rt> part, std::int64_t target)
    {
        const auto deadline = steady::now() + opts.caught_up_timeout;
        while (part->state.position() < target) {
            if (part->revoked || stopping || steady::now() > deadline) co_return false;
            auto t = std::make_shared<net::steady_timer>(strand, std::min(deadline, steady::now() + 200ms));
            part->waiters.push_back(t);
            co_await t->async_wait(nothrow);
        }
        co_return true;
    }

    // ------------------------------------------------------------------------------------------
    // Requests and launches

    std::string budget_key(const context_record& r) const
    {
        if (const auto* pl = cfg.find_platform(r.platform); pl && !pl->budget.empty()) return "budget:" + pl->budget;
        return "host:" + host_of(r.memberships_url);
    }

    int budget_limit(const std::string& key) const
    {
        if (key.starts_with("budget:"))
            if (const auto* b = cfg.find_budget(std::string_view(key).substr(7))) return std::max(1, b->max_in_flight);
        return std::max(1, config::budget{}.max_in_flight);
    }

    void handle_request(std::shared_ptr<partition_rt> sp, kafka::message_ptr m)
    {
        auto& part = *sp;
        const std::int64_t offset = m->offset;
        auto cs = parse_course_seen(kafka::bytes(m->payload, m->len), cfg, max_sync_request_bytes);
        if (!cs) {
            // Valid at ingest, invalid now: the configuration changed since (a platform removed).
            kafka::record rec{.topic = topics().course_seen_dlq,
                              .partition = part.id % partitions(),
                              .key = std::string(kafka::bytes(m->key, m->key_len)),
                              .value = std::string(kafka::bytes(m->payload, m->len))};
            rec.headers.emplace_back("rostersync.error", cs.error().message);
            rec.headers.emplace_back("rostersync.reason", cs.error().reason);
            part.requests.begin(offset);
            dead_letters.with({cs.error().reason}).Increment();
            send_until_acknowledged(std::move(rec), [sp, offset] { sp->requests.end(offset); });
            return;
        }
        const auto key = cs->issuer + "|" + cs->context_id;
        auto [it, fresh] = part.contexts.try_emplace(key);
        auto& c = it->second;
        auto& r = c.rec;
        if (fresh) {
            r.context_key = key;
            r.schedule.context_key = key;
        }
        r.platform = cs->platform;
        r.issuer = cs->issuer;
        r.client_id = cs->client_id;
        r.context_id = cs->context_id;
        if (!cs->deployment_id.empty()) r.deployment_id = cs->deployment_id;
        if (!cs->context_label.empty()) r.label = cs->context_label;
        if (!cs->context_title.empty()) r.title = cs->context_title;
        if (!cs->memberships_url.empty()) r.memberships_url = cs->memberships_url;
        c.budget_key = budget_key(r);
        if (auto ms = header(m.get(), "rostersync.received_ms")) {
            try {
                auto t = sys_clock::time_point(std::chrono::milliseconds(std::stoll(*ms)));
                if (!c.received || t < *c.received) c.received = t;
            } catch (...) {
            }
        }
        const auto* pl = cfg.find_platform(r.platform);
        const bool pulls = pl != nullptr && pl->nrps && !r.memberships_url.empty();
        const auto now = sys_clock::now();
        if (pulls) {
            const bool was_forced_recently = cs->force && r.schedule.last_forced != clock_time{} &&
                                             now - r.schedule.last_forced < cfg.sync.min_interval;
            auto outcome = on_request(r.schedule, now, cs->force, params());
            const char* label = was_forced_recently                        ? "force_limited"
                                : outcome == request_outcome::due_now      ? "due_now"
                                : outcome == request_outcome::deferred     ? "deferred"
                                                                           : "unparked";
            requests_total.with({label}).Increment();
        } else {
            r.schedule.last_seen = now;
            r.schedule.retired = false;
            requests_total.with({"launch_only"}).Increment();
        }
        if (cs->user) c.launches.push_back({*cs->user, cs->seen_at});
        part.requests.begin(offset);
        persist_context(sp, c, [sp, offset] { sp->requests.end(offset); });
        if (!c.launches.empty() && !c.busy) start_launches(sp, key);
        poke();
    }

    void persist_context(std::shared_ptr<partition_rt> sp, context_rt& c, std::function<void()> done)
    {
        c.rec.members = 0;
        if (const auto* st = sp->state.context(c.rec.context_key)) {
            c.rec.members = st->members.size();
            c.rec.roster_version = std::max(c.rec.roster_version, st->roster_version);
        }
        kafka::record rec{.topic = topics().contexts, .partition = sp->id, .key = c.rec.context_key,
                          .value = encode_context(c.rec)};
        send_until_acknowledged(std::move(rec), std::move(done));
    }

    void start_launches(std::shared_ptr<partition_rt> sp, std::string key)
    {
        sp->contexts[key].busy = true;
        net::co_spawn(strand, run_launches(sp, key), net::detached);
    }

    awaitable<void> run_launches(std::shared_ptr<partition_rt> sp, std::string key)
    {
        auto& c = sp->contexts[key];
        while (!c.launches.empty() && !sp->revoked) {
            if (!co_await caught_up(sp, std::max(c.last_acked + 1, sp->fence))) break;
            auto l = std::move(c.launches.front());
            c.launches.pop_front();
            const auto* st = sp->state.context(key);
            if (st && st->members.contains(l.user.user_id)) continue;  // known: the next pass decides
            nrps::member after;
            after.user_id = l.user.user_id;
            after.roles = l.user.roles;
            after.name = l.user.name;
            after.email = l.user.email;
            roster::change ch{.type = roster::change_type::added, .user_id = after.user_id, .before = std::nullopt,
                              .after = after};
            roster::event_context ec{.issuer = c.rec.issuer, .client_id = c.rec.client_id,
                                     .deployment_id = c.rec.deployment_id, .context_id = c.rec.context_id,
                                     .context_label = c.rec.label, .context_title = c.rec.title,
                                     .source = "launch",
                                     .roster_version = (st ? st->roster_version : c.rec.roster_version) + 1,
                                     .time = l.seen_at.value_or(sys_clock::now())};
            std::vector<kafka::record> recs;
            recs.push_back(change_record(sp->id, ch, ec));
            auto r = co_await publish_all(std::move(recs));
            if (!co_await settle(sp, c, r)) {
                c.launches.push_front(std::move(l));  // retried after the fence
                continue;
            }
            changes_total.with({"member.added", "launch"}).Increment();
            lg.info("launch provisioned a member", {{"context", key}, {"roster_version", ec.roster_version}});
        }
        c.busy = false;
        poke();
    }

    kafka::record change_record(std::int32_t partition, const roster::change& ch, const roster::event_context& ec)
    {
        kafka::record rec{.topic = topics().membership_changes, .partition = partition,
                          .key = roster::membership_key(ec.issuer, ec.context_id, ch.user_id),
                          .value = roster::encode_change(ch, ec)};
        rec.headers = roster::cloudevents_headers(ch, ec);
        return rec;
    }

    /// After a batch of changes: on success the context's last acknowledged offset moves; on a
    /// failure the producer is flushed and the partition waits for the fold to pass the end
    /// offset measured then (a timed-out record may still land).
    awaitable<bool> settle(std::shared_ptr<partition_rt> sp, context_rt& c, const batch_result& r)
    {
        if (r.failed == 0) {
            if (auto it = r.last_offset.find(sp->id); it != r.last_offset.end()) {
                c.last_acked = std::max(c.last_acked, it->second);
                sp->produced_end = std::max(sp->produced_end, it->second + 1);
            }
            co_return true;
        }
        lg.error("changes not acknowledged; fencing the partition until the fold passes the log end",
                 {{"partition", sp->id}, {"failed", r.failed}, {"error", r.first_error}});
        auto p = sp->id;
        auto job = to_pool([this, p] {
            producer->flush(std::chrono::seconds(10));
            return kafka::query_watermarks(producer->native(), topics().membership_changes, p,
                                           std::chrono::seconds(10));
        });
        auto end = co_await take(std::move(job));
        if (end) sp->fence = std::max(sp->fence, end->high);
        else sp->fence = std::max(sp->fence, sp->state.position() + r.sent);  // conservative
        co_return false;
    }

    // ------------------------------------------------------------------------------------------
    // The scheduler and passes

    void poke()
    {
        if (auto w = wake) w->cancel();
    }

    awaitable<void> scheduler_loop()
    {
        wake = std::make_shared<net::steady_timer>(strand);
        while (!stopping) {
            schedule_passes();
            wake->expires_after(opts.tick);
            co_await wake->async_wait(nothrow);
        }
    }

    void schedule_passes()
    {
        const auto now = sys_clock::now();
        const auto p = params();
        struct cand {
            std::shared_ptr<partition_rt> part;
            const std::string* key;
            context_rt* c;
        };
        std::map<std::string, std::pair<std::vector<cand>, std::vector<cand>>> by_budget;  // fresh, periodic
        for (auto& [pid, sp] : parts) {
            if (sp->ph != phase::live || sp->revoked) continue;
            for (auto& [key, c] : sp->contexts) {
                auto& s = c.rec.schedule;
                if (c.busy || s.running || s.parked || s.retired) continue;
                if (c.rec.memberships_url.empty()) continue;
                const auto* pl = cfg.find_platform(c.rec.platform);
                if (pl == nullptr || !pl->nrps) continue;
                if (retire_if_stale(s, now, p)) {
                    lg.info("context retired (no launch within sync.retire_after)", {{"context", key}});
                    persist_context(sp, c, [] {});
                    continue;
                }
                if (s.next_due == clock_time{} || s.next_due > now) continue;
                auto& lists = by_budget[c.budget_key];
                (s.requested ? lists.first : lists.second).push_back({sp, &key, &c});
            }
        }
        for (auto& [bk, lists] : by_budget) {
            auto& [fresh, periodic] = lists;
            const int limit = budget_limit(bk);
            int slots = std::min(limit - running_per_budget[bk], cfg.sync.max_concurrent_syncs - running_total);
            if (slots <= 0) continue;
            auto stalest = [](const cand& a, const cand& b) {
                return a.c->rec.schedule.next_due < b.c->rec.schedule.next_due;
            };
            std::sort(fresh.begin(), fresh.end(), stalest);
            std::sort(periodic.begin(), periodic.end(), stalest);
            // The resync share: periodic passes keep their part of the slots while they wait.
            int reserved = periodic.empty() ? 0
                                            : std::min<int>(static_cast<int>(periodic.size()),
                                                            std::max(1, static_cast<int>(std::ceil(slots * p.resync_share))));
            std::size_t fi = 0, pi = 0;
            while (slots > 0 && (fi < fresh.size() || pi < periodic.size())) {
                const bool take_fresh = fi < fresh.size() && (slots > reserved || pi >= periodic.size());
                auto& cd = take_fresh ? fresh[fi++] : periodic[pi++];
                if (!take_fresh && reserved > 0) --reserved;
                start_pass(cd.part, *cd.key, *cd.c);
                --slots;
            }
        }
    }

    void start_pass(std::shared_ptr<partition_rt> sp, const std::string& key, context_rt& c)
    {
        c.busy = true;
        c.cancel = std::make_shared<net::cancellation_signal>();
        ++running_per_budget[c.budget_key];
        ++running_total;
        ++sp->running;
        net::co_spawn(strand, run_pass(sp, key), [self = shared_from_this(), key](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                lg.error("pass failed unexpectedly", {{"context", key}, {"error", ex.what()}});
                net::post(self->strand, [self, key, what = std::string(ex.what())] {
                    self->note_error(key, "failed", "unexpected error: " + what);
                });
            }
        });
    }

    awaitable<void> run_pass(std::shared_ptr<partition_rt> sp, std::string key)
    {
        auto& c = sp->contexts[key];
        const auto budget = c.budget_key;
        struct release_slot {
            impl* self;
            std::shared_ptr<partition_rt> sp;
            context_rt* c;
            std::string budget;
            ~release_slot()
            {
                --self->running_per_budget[budget];
                --self->running_total;
                --sp->running;
                c->busy = false;
                c->cancel.reset();
                c->progress.reset();
                c->rec.schedule.running = false;
                if (!c->launches.empty() && !sp->revoked) self->start_launches(sp, c->rec.context_key);
                self->poke();
            }
        } guard{this, sp, &c, budget};

        const auto started = sys_clock::now();
        const auto started_steady = steady::now();
        const bool fresh = c.rec.schedule.requested;
        on_pass_started(c.rec.schedule, started);
        auto progress = std::make_shared<pass_progress>();
        progress->started = started;
        c.progress = progress;
        nrps::fetch_options fo;
        fo.priority = fresh ? throttle::priority::fresh : throttle::priority::periodic;
        fo.on_page = [progress](const nrps::progress& p) {
            progress->pages = p.pages;
            progress->members = p.members;
        };
        auto fetched = co_await net::co_spawn(
            net::make_strand(ioc), engine.fetch(c.rec.platform, c.rec.memberships_url, std::move(fo)),
            net::bind_cancellation_slot(c.cancel->slot(), net::use_awaitable));
        if (sp->revoked || stopping) co_return;
        const auto now = sys_clock::now();
        if (!fetched) {
            const auto& err = fetched.error();
            std::string outcome = "failed";
            if (err.ec == nrps::errc::not_found || err.ec == nrps::errc::configuration) {
                outcome = "parked";
                park(c.rec.schedule, err.ec == nrps::errc::not_found
                                         ? "not found (404): the course is gone or the URL is wrong; a new launch "
                                           "unparks it"
                                         : "configuration: " + err.detail);
                c.rec.schedule.running = false;
            } else {
                if (err.ec == nrps::errc::throttled) outcome = "abandoned";
                ++c.failures;
                const auto backoff = std::min<std::chrono::milliseconds>(
                    std::chrono::milliseconds(5000) * (1 << std::min(c.failures, 8)), std::chrono::hours(1));
                on_pass_failed(c.rec.schedule, now, backoff);
            }
            c.rec.last_outcome = outcome;
            c.rec.last_error = err.ec.message() + (err.detail.empty() ? "" : ": " + err.detail);
            note_error(key, outcome, c.rec.last_error);
            passes_total.with({outcome}).Increment();
            lg.warning("pass " + outcome, {{"context", key}, {"reason", err.ec.message()}, {"detail", err.detail},
                                           {"duration_seconds", steady::now() - started_steady}});
            persist_context(sp, c, [] {});
            co_return;
        }
        auto& roster = *fetched;
        if (!co_await caught_up(sp, std::max(c.last_acked + 1, sp->fence))) {
            if (sp->revoked || stopping) co_return;
            on_pass_failed(c.rec.schedule, now, std::chrono::seconds(30));
            c.rec.last_outcome = "failed";
            c.rec.last_error = "the state fold did not catch up in time";
            note_error(key, "failed", c.rec.last_error);
            passes_total.with({"failed"}).Increment();
            co_return;
        }
        static const roster::member_table no_members;
        const auto* st = sp->state.context(key);
        roster::pass_input in{.members = std::move(roster.members), .started_at = started, .ended_at = now};
        const bool released = c.rec.release_until && now < *c.rec.release_until;
        auto d = roster::diff(st ? st->members : no_members, c.rec.candidates, in,
                              {.guard_min_members = cfg.sync.guard_min_members,
                               .max_removal_ratio = cfg.sync.max_removal_ratio,
                               .release_hold = released});
        roster::event_context ec{.issuer = c.rec.issuer, .client_id = c.rec.client_id,
                                 .deployment_id = c.rec.deployment_id, .context_id = c.rec.context_id,
                                 .context_label = roster.context.label.value_or(c.rec.label),
                                 .context_title = roster.context.title.value_or(c.rec.title),
                                 .source = "nrps",
                                 .roster_version = (st ? st->roster_version : c.rec.roster_version) + 1,
                                 .time = now};
        std::vector<kafka::record> recs;
        recs.reserve(d.changes.size());
        std::map<std::string, int> by_type;
        bool removed_any = false;
        for (const auto& ch : d.changes) {
            recs.push_back(change_record(sp->id, ch, ec));
            ++by_type[std::string(roster::to_string(ch.type))];
            removed_any |= ch.type == roster::change_type::removed;
        }
        auto br = co_await publish_all(std::move(recs));
        if (sp->revoked) co_return;
        if (!co_await settle(sp, c, br)) {
            on_pass_failed(c.rec.schedule, sys_clock::now(), std::chrono::seconds(5));
            c.rec.last_outcome = "failed";
            c.rec.last_error = "Kafka did not acknowledge the changes: " + br.first_error;
            note_error(key, "failed", c.rec.last_error);
            passes_total.with({"failed"}).Increment();
            persist_context(sp, c, [] {});
            co_return;
        }
        for (const auto& [type, n] : by_type) changes_total.with({type, "nrps"}).Increment(n);
        for (const auto& f : d.privacy_fields) privacy_fields.with({f}).Increment();
        if (!roster.differences.empty()) differences.get().Increment(static_cast<double>(roster.differences.size()));
        c.failures = 0;
        c.rec.label = ec.context_label;
        c.rec.title = ec.context_title;
        c.rec.candidates = std::move(d.candidates);
        if (!d.held.empty()) {
            if (c.rec.held == 0) {
                removals_held.get().Increment(static_cast<double>(d.held.size()));
                lg.warning("removals held by the removal guard; release them with `rostersync release` if they "
                           "are real",
                           {{"context", key}, {"held", d.held.size()}, {"members_before", st ? st->members.size() : 0}});
            }
            c.rec.held = d.held.size();
            if (!c.rec.held_since) c.rec.held_since = now;
        } else {
            c.rec.held = 0;
            c.rec.held_since.reset();
        }
        if (released && removed_any) c.rec.release_until.reset();  // a release lets removals through once
        if (!d.changes.empty()) c.rec.roster_version = ec.roster_version;
        c.rec.last_pass_end = now;
        const bool changed = !d.changes.empty();
        c.rec.last_outcome = changed ? "changed" : "unchanged";
        c.rec.last_error.clear();
        on_pass_finished(c.rec.schedule, now, changed, params());
        if (!c.rec.candidates.empty() && c.rec.held == 0) {
            // Removal candidates: confirm with a second complete pass, started after this one ended.
            // (Held removals wait for a release or the next regular pass instead.)
            c.rec.schedule.next_due = std::min(c.rec.schedule.next_due, now + 1ms);
        }
        if (c.received) {
            latency.get().Observe(std::chrono::duration<double>(sys_clock::now() - *c.received).count());
            c.received.reset();
        }
        passes_total.with({c.rec.last_outcome}).Increment();
        pass_seconds.get().Observe(std::chrono::duration<double>(steady::now() - started_steady).count());
        lg.info("pass", {{"context", key}, {"outcome", c.rec.last_outcome}, {"pages", roster.pages},
                         {"members", in.members.size()}, {"added", by_type["member.added"]},
                         {"removed", by_type["member.removed"]}, {"roles_changed", by_type["member.roles_changed"]},
                         {"status_changed", by_type["member.status_changed"]},
                         {"profile_changed", by_type["member.profile_changed"]},
                         {"candidates", c.rec.candidates.size()}, {"held", c.rec.held},
                         {"retries", roster.retries}, {"throttle_waits", roster.throttle_waits},
                         {"roster_version", c.rec.roster_version},
                         {"duration_seconds", steady::now() - started_steady}});
        persist_context(sp, c, [] {});
    }

    // ------------------------------------------------------------------------------------------
    // Snapshots, commits, gauges

    awaitable<void> snapshot(std::shared_ptr<partition_rt> sp)
    {
        if (sp->ph != phase::live || sp->snapshotting) co_return;
        const auto position = sp->state.position();
        if (!sp->state.has_dirty() && position == sp->checkpointed) {
            sp->last_checkpoint = sys_clock::now();
            co_return;
        }
        sp->snapshotting = true;
        // The rows the fold changed since the last snapshot (marked in the state itself: a set of
        // keys next to the state took ~250 B a membership after a replay from scratch).
        std::vector<kafka::record> recs;
        sp->state.take_dirty([&](const std::string& ctx_key, std::string_view user, const roster::member_state* member) {
            const auto* cr = [&]() -> const context_rt* {
                auto it = sp->contexts.find(ctx_key);
                return it == sp->contexts.end() ? nullptr : &it->second;
            }();
            const auto bar = ctx_key.find('|');
            const auto issuer = cr ? cr->rec.issuer : ctx_key.substr(0, bar);
            const auto context_id = cr ? cr->rec.context_id : ctx_key.substr(bar + 1);
            kafka::record rec{.topic = topics().memberships, .partition = sp->id,
                              .key = roster::membership_key(issuer, context_id, user)};
            if (member) rec.value = encode_row(issuer, context_id, *member, sp->state.context(ctx_key)->roster_version);
            else rec.tombstone = true;
            recs.push_back(std::move(rec));
        });
        std::vector<std::string> keys;  // to mark them again should the snapshot fail
        keys.reserve(recs.size());
        for (const auto& rec : recs) keys.push_back(rec.key);
        auto r = co_await publish_all(std::move(recs));
        if (r.failed == 0 && !sp->revoked) {
            kafka::record cp{.topic = topics().checkpoints, .partition = sp->id, .key = std::to_string(sp->id),
                             .value = encode_checkpoint({.partition = sp->id, .changes_offset = position,
                                                         .written_at = sys_clock::now()})};
            std::vector<kafka::record> one;
            one.push_back(std::move(cp));
            auto c = co_await publish_all(std::move(one));
            if (c.failed == 0) {
                sp->checkpointed = position;
                sp->last_checkpoint = sys_clock::now();
            }
        } else {
            for (const auto& k : keys) sp->state.mark_dirty(k);  // written again next time
        }
        sp->snapshotting = false;
    }

    awaitable<void> snapshot_loop()
    {
        auto timer = loop_timer();
        auto& t = *timer;
        while (!stopping) {
            t.expires_after(std::chrono::duration_cast<steady::duration>(cfg.sync.snapshot_interval));
            co_await t.async_wait(nothrow);
            if (stopping) break;
            auto owned = parts;  // the map may change while a snapshot waits
            for (auto& [p, sp] : owned) co_await snapshot(sp);
        }
    }

    void commit_offsets()
    {
        if (cfg.kafka.exactly_once) {
            commit_transaction();
            return;
        }
        for (auto& [p, tr] : ingest_offsets) {
            auto c = tr.committable();
            if (c > tr.committed && c >= 0) {
                ingest->commit({topics().course_seen, p}, c, true);
                tr.committed = c;
            }
        }
        for (auto& [p, sp] : parts) {
            auto c = sp->requests.committable();
            if (c > sp->requests.committed && c >= 0) {
                requests->commit({topics().sync_requests, p}, c, true);
                sp->requests.committed = c;
            }
        }
    }

    /// Exactly-once: the records sent since the last commit and the input offsets they cover go
    /// in one transaction (offsets with the consumers' group metadata). Runs on the strand, which
    /// is also where every send() starts, so nothing is produced while it commits. An aborted or
    /// fenced transaction ends the process (exit 1): the restart resumes from the committed
    /// offsets and state, which is simpler and safer than rewinding every consumer in place.
    void commit_transaction()
    {
        if (fatal) return;
        std::vector<kafka::partition_offset> in, rq;
        for (auto& [p, tr] : ingest_offsets) {
            auto c = tr.committable();
            if (c > tr.committed && c >= 0) in.push_back({{topics().course_seen, p}, c});
        }
        for (auto& [p, sp] : parts) {
            auto c = sp->requests.committable();
            if (c > sp->requests.committed && c >= 0) rq.push_back({{topics().sync_requests, p}, c});
        }
        if (!txn_dirty && in.empty() && rq.empty()) return;
        const auto timeout = opts.kafka_timeout;
        kafka::txn_result r;
        if (!in.empty()) r = producer->send_offsets(*ingest, in, timeout);
        if (r && !rq.empty()) r = producer->send_offsets(*requests, rq, timeout);
        if (r) r = producer->commit_transaction(timeout);
        if (!r) {
            fatal = true;
            set_reason("a Kafka transaction failed: " + r.message);
            lg.error("a Kafka transaction failed; stopping so that the restart resumes from committed state",
                     {{"error", r.message}, {"abortable", r.abortable}, {"fatal", r.fatal},
                      {"transactional_id", transactional_id}});
            if (r.abortable) producer->abort_transaction(timeout);
            topics_ok = false;
            ::raise(SIGTERM);
            return;
        }
        for (const auto& o : in) ingest_offsets[o.tp.partition].committed = o.offset;
        for (const auto& o : rq)
            if (auto it = parts.find(o.tp.partition); it != parts.end()) it->second->requests.committed = o.offset;
        txn_dirty = false;
        if (auto b = producer->begin_transaction(); !b) {
            fatal = true;
            set_reason("cannot begin a Kafka transaction: " + b.message);
            lg.error("cannot begin a Kafka transaction; stopping", {{"error", b.message}});
            ::raise(SIGTERM);
        }
    }

    void update_gauges()
    {
        const auto now = sys_clock::now();
        long tracked = 0, held = 0, parked = 0, retired = 0, running = 0, overdue = 0;
        std::size_t members = 0;
        long restoring = 0, live = 0;
        double oldest = 0;
        std::int64_t state_lag = 0;
        const auto grace = std::max<sys_clock::duration>(
            std::chrono::duration_cast<sys_clock::duration>(cfg.sync.min_interval),
            std::chrono::duration_cast<sys_clock::duration>(cfg.sync.resync_interval) / 10);
        for (const auto& [p, sp] : parts) {
            (sp->ph == phase::live ? live : restoring) += 1;
            if (sp->ph != phase::live && steady::now() - sp->assigned_at > 15s &&
                steady::now() - sp->slow_reported > 15s) {
                sp->slow_reported = steady::now();
                lg.warning("a partition is still not live", {{"partition", p},
                                                             {"phase", sp->ph == phase::restoring ? "restoring" : "replaying"},
                                                             {"position", sp->state.position()},
                                                             {"replay_target", sp->replay_target}});
            }
            members += sp->state.memberships();
            oldest = std::max(oldest, std::chrono::duration<double>(now - sp->last_checkpoint).count());
            std::int64_t lo = 0, hi = 0;
            if (rd_kafka_get_watermark_offsets(state_consumer->native(), topics().membership_changes.c_str(), p, &lo,
                                               &hi) == RD_KAFKA_RESP_ERR_NO_ERROR)
                state_lag += std::max<std::int64_t>(0, hi - sp->state.position());
            for (const auto& [k, c] : sp->contexts) {
                const auto& s = c.rec.schedule;
                ++tracked;
                held += c.rec.held > 0;
                parked += s.parked;
                retired += s.retired;
                running += c.busy;
                overdue += !s.parked && !s.retired && !c.busy && s.next_due != clock_time{} && s.next_due + grace < now;
            }
        }
        contexts_gauge.with({"tracked"}).Set(static_cast<double>(tracked));
        contexts_gauge.with({"held"}).Set(static_cast<double>(held));
        contexts_gauge.with({"parked"}).Set(static_cast<double>(parked));
        contexts_gauge.with({"retired"}).Set(static_cast<double>(retired));
        contexts_gauge.with({"running"}).Set(static_cast<double>(running));
        contexts_gauge.with({"overdue"}).Set(static_cast<double>(overdue));
        memberships_gauge.get().Set(static_cast<double>(members));
        partitions_gauge.with({"restoring"}).Set(static_cast<double>(restoring));
        partitions_gauge.with({"live"}).Set(static_cast<double>(live));
        checkpoint_age.get().Set(oldest);
        lag_gauge.with({"state"}).Set(static_cast<double>(state_lag));
        backpressure.with({"ingest"}).Set(ingest_in_flight >= max_ingest_in_flight ? 1 : 0);
        bool paused = false;
        for (const auto& [p, sp] : parts) paused |= sp->paused;
        backpressure.with({"requests"}).Set(paused ? 1 : 0);
    }

    awaitable<void> housekeeping_loop()
    {
        auto timer = loop_timer();
        auto& t = *timer;
        const char* stall = std::getenv("ROSTERSYNCD_TEST_STALL");  // fault injection for the watchdog test
        while (!stopping) {
            beat(3);
            if (stall != nullptr && std::string_view(stall) == "pipeline" && started) {
                lg.warning("ROSTERSYNCD_TEST_STALL=pipeline: blocking the pipeline's strand (tests only)");
                for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
            }
            commit_offsets();
            update_gauges();
            if (kafka_down && !probing) {
                // Idle daemons send nothing that would show the brokers are back: ask for metadata.
                probing = true;
                auto job = to_pool([this] {
                    const rd_kafka_metadata_t* md = nullptr;
                    auto err = rd_kafka_metadata(producer->native(), 0, nullptr, &md, 2000);
                    if (md) rd_kafka_metadata_destroy(md);
                    return err == RD_KAFKA_RESP_ERR_NO_ERROR;
                });
                if (co_await take(std::move(job))) {
                    if (kafka_down.exchange(false)) lg.info("Kafka is reachable again");
                }
                probing = false;
            }
            t.expires_after(opts.tick);
            co_await t.async_wait(nothrow);
        }
    }

    awaitable<void> metadata_loop()
    {
        auto timer = loop_timer();
        auto& t = *timer;
        std::vector<std::string> names{topics().course_seen, topics().course_seen_dlq, topics().membership_changes,
                                       topics().memberships, topics().contexts, topics().checkpoints,
                                       topics().sync_requests};
        while (!stopping) {
            t.expires_after(opts.metadata_interval);
            co_await t.async_wait(nothrow);
            if (stopping) break;
            auto job = to_pool([this, names] {
                std::vector<result<int>> out;
                for (const auto& n : names)
                    out.push_back(kafka::partition_count(producer->native(), n, std::chrono::seconds(10)));
                return out;
            });
            auto counts = co_await take(std::move(job));
            bool ok = true;
            for (std::size_t i = 0; i < names.size(); ++i) {
                if (!counts[i]) continue;  // unreachable now: readiness is about the count, not the outage
                const bool wrong = *counts[i] != partitions();
                producing_stopped.with({names[i]}).Set(wrong ? 1 : 0);
                if (wrong) {
                    ok = false;
                    lg.error("a topic's partition count changed; production stopped. Contexts would move to other "
                             "partitions and lose their state: restore the count (recreate the topic) or set "
                             "kafka.partitions to match and migrate",
                             {{"topic", names[i]}, {"partitions", *counts[i]}, {"expected", partitions()}});
                }
            }
            topics_ok = ok;
            if (!ok) set_reason("a topic's partition count changed (see the log)");
        }
    }

    void set_reason(std::string r)
    {
        std::lock_guard lock(reason_mutex);
        stop_reason = std::move(r);
    }

    // ------------------------------------------------------------------------------------------

    awaitable<void> run()
    {
        co_await net::this_coro::reset_cancellation_state(net::enable_total_cancellation());
        // Waits end through their own (nothrow) results. Left on, a cancellation recorded on this
        // coroutine made co_spawn's entry point throw "co_await: Operation canceled" after run()
        // had returned, outside any handler: std::terminate on a SIGTERM during start-up.
        co_await net::this_coro::throw_if_cancelled(false);
        auto self = shared_from_this();
        auto spawn = [this](awaitable<void> a, const char* what) {
            net::co_spawn(strand, std::move(a), [what](std::exception_ptr e) {
                if (!e) return;
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    lg.error("pipeline task failed", {{"task", what}, {"error", ex.what()}});
                }
            });
        };
        for (std::size_t i = 0; i < beats.size(); ++i) beat(i);
        spawn(ingest_loop(), "ingest");
        spawn(requests_loop(), "requests");
        spawn(state_loop(), "state");
        spawn(scheduler_loop(), "scheduler");
        spawn(snapshot_loop(), "snapshot");
        spawn(housekeeping_loop(), "housekeeping");
        spawn(metadata_loop(), "metadata");
        started = true;
        {
            net::steady_timer forever(strand, steady::time_point::max());
            co_await forever.async_wait(nothrow);
        }
        // Stopping: abandon running passes (they run again after the restart), snapshot, commit.
        stopping = true;
        winding_down = true;
        co_await net::this_coro::reset_cancellation_state(net::enable_terminal_cancellation());
        poke();
        for (auto& w : loop_timers)
            if (auto t = w.lock()) t->cancel();
        for (auto& [p, sp] : parts)
            for (auto& [k, c] : sp->contexts)
                if (c.cancel) c.cancel->emit(net::cancellation_type::total);
        net::steady_timer t(strand);
        while (running_total > 0) {
            t.expires_after(20ms);
            co_await t.async_wait(nothrow);
        }
        // The fold catches up with what this instance published, so the last snapshot has it.
        auto owned = parts;
        const auto drain_deadline = steady::now() + 10s;
        for (auto& [p, sp] : owned) {
            while (sp->ph == phase::live && sp->state.position() < sp->produced_end && steady::now() < drain_deadline) {
                t.expires_after(10ms);
                co_await t.async_wait(nothrow);
            }
        }
        for (auto& [p, sp] : owned) {
            while (sp->snapshotting) {  // a periodic one is writing: the last one must follow it
                t.expires_after(20ms);
                co_await t.async_wait(nothrow);
            }
            co_await snapshot(sp);
        }
        commit_offsets();
        fold_stopped = true;
        auto job = to_pool([this] {
            producer->flush(std::chrono::seconds(10));
            ingest->close();
            requests->close();
            state_consumer->close();
            return 0;
        });
        co_await take(std::move(job));
        lg.info("pipeline stopped", {{"partitions", owned.size()}});
    }

    // ------------------------------------------------------------------------------------------
    // Admin API

    json::object describe(const partition_rt& part, const context_rt& c) const
    {
        json::object o = json::parse(encode_context(c.rec)).as_object();
        o.erase("candidates");
        o["partition"] = part.id;
        o["removal_candidates"] = c.rec.candidates.size();
        o["running"] = c.busy;
        if (const auto* st = part.state.context(c.rec.context_key)) {
            o["members"] = st->members.size();
            o["roster_version"] = st->roster_version;
        }
        return o;
    }

    std::pair<std::shared_ptr<partition_rt>, context_rt*> find(const std::string& key)
    {
        auto p = kafka::partition_for(key, partitions());
        auto it = parts.find(p);
        if (it == parts.end() || it->second->ph != phase::live) return {nullptr, nullptr};
        auto c = it->second->contexts.find(key);
        if (c == it->second->contexts.end()) return {it->second, nullptr};
        return {it->second, &c->second};
    }

    admin_reply not_here(const std::string& key)
    {
        auto p = kafka::partition_for(key, partitions());
        auto it = parts.find(p);
        if (it == parts.end())
            return {421, json::serialize(json::object{
                             {"error", "this instance does not own the context's partition (another instance "
                                       "does, or partitions are still being assigned)"},
                             {"partition", p}})};
        if (it->second->ph != phase::live)
            return {503, json::serialize(json::object{
                             {"error", "the context's partition is being restored; try again shortly"},
                             {"partition", p}})};
        return {404, json::serialize(json::object{{"error", "unknown context"}, {"context_key", key}})};
    }
};

// ------------------------------------------------------------------------------------------------

void throw_exception_from_error(const start_error& e, const boost::source_location&)
{
    throw std::runtime_error(e.message);
}

result<std::unique_ptr<pipeline>, start_error> pipeline::create(net::io_context& ioc, const config::config& cfg,
                                                                nrps::engine& engine, metrics::registry& metrics,
                                                                pipeline_options opts)
{
    std::unique_ptr<pipeline> p(new pipeline());
    p->impl_ = std::make_shared<impl>(ioc, cfg, engine, metrics, opts);
    if (auto r = p->impl_->connect(); !r) {
        return result<std::unique_ptr<pipeline>, start_error>(
            boost::system::in_place_error, start_error{p->impl_->topic_problems, r.error()});
    }
    // Connected, topics checked, clients made: ready from here (run() starts the loops at once;
    // the daemon announces READY=1 right after, and /readyz must agree with it).
    for (std::size_t i = 0; i < p->impl_->beats.size(); ++i) p->impl_->beat(i);
    p->impl_->started = true;
    return p;
}

pipeline::~pipeline()
{
    if (impl_) {
        impl_->blocking.join();
        if (impl_->loader) impl_->loader->stop();
    }
}

awaitable<void> pipeline::run()
{
    // The daemon stops its tasks with a total cancellation: let it through to the strand.
    co_await net::this_coro::reset_cancellation_state(net::enable_total_cancellation());
    co_await net::this_coro::throw_if_cancelled(false);  // see impl::run()
    auto i = impl_;
    co_await net::co_spawn(i->strand, i->run(), net::use_awaitable);
}

std::string pipeline::not_ready_reason() const
{
    if (!impl_->started) return "starting";
    if (impl_->kafka_down) return "Kafka unreachable: every broker is down";
    if (!impl_->topics_ok) {
        std::lock_guard lock(impl_->reason_mutex);
        return impl_->stop_reason;
    }
    return {};
}

std::string pipeline::stalled(std::chrono::milliseconds max_age) const
{
    static constexpr const char* names[] = {"ingest loop", "requests loop", "state loop", "housekeeping loop"};
    const auto now = steady::now();
    if (!impl_->started || impl_->winding_down) return {};
    for (std::size_t i = 0; i < impl_->beats.size(); ++i) {
        const steady::time_point t(steady::duration(impl_->beats[i].load(std::memory_order_relaxed)));
        if (now - t > max_age) return names[i];
    }
    if (now - impl_->producer->last_poll() > max_age) return "Kafka producer poll thread";
    return {};
}

bool pipeline::failed() const
{
    return impl_->fatal;
}

std::string pipeline::bootstrap() const
{
    return impl_->bootstrap;
}

void pipeline::update(const config::config& cfg)
{
    net::post(impl_->strand, [i = impl_, cfg] {
        i->cfg.platforms = cfg.platforms;
        i->cfg.budgets = cfg.budgets;
        i->cfg.sync = cfg.sync;
        for (auto& [p, sp] : i->parts)
            for (auto& [k, c] : sp->contexts) c.budget_key = i->budget_key(c.rec);
    });
}

awaitable<admin_reply> pipeline::context_status(std::string key)
{
    auto i = impl_;
    auto fn = [i, key]() -> awaitable<admin_reply> {
            auto [sp, c] = i->find(key);
            if (c == nullptr) co_return i->not_here(key);
            co_return admin_reply{200, json::serialize(i->describe(*sp, *c))};
        };
    co_return co_await net::co_spawn(i->strand, std::move(fn), net::use_awaitable);
}

awaitable<admin_reply> pipeline::resync(std::string key)
{
    auto i = impl_;
    auto fn = [i, key]() -> awaitable<admin_reply> {
            auto [sp, c] = i->find(key);
            if (c == nullptr) co_return i->not_here(key);
            const auto* pl = i->cfg.find_platform(c->rec.platform);
            if (pl == nullptr || !pl->nrps || c->rec.memberships_url.empty())
                co_return admin_reply{409, json::serialize(json::object{
                                               {"error", "this context is provisioned from launches alone (its platform "
                                                         "has nrps = false or no memberships URL is known): there is "
                                                         "nothing to pull"},
                                               {"context_key", key}})};
            auto& s = c->rec.schedule;
            const bool was_parked = s.parked;
            s.parked = false;
            s.parked_reason.clear();
            s.retired = false;
            s.requested = true;
            s.next_due = sys_clock::now();
            if (c->busy) s.dirty = true;
            i->persist_context(sp, *c, [] {});
            i->poke();
            lg.info("resync requested through the admin API", {{"context", key}, {"was_parked", was_parked}});
            co_return admin_reply{202, json::serialize(json::object{{"context_key", key}, {"scheduled", true},
                                                                    {"was_parked", was_parked},
                                                                    {"running", c->busy}})};
        };
    co_return co_await net::co_spawn(i->strand, std::move(fn), net::use_awaitable);
}

awaitable<admin_reply> pipeline::release(std::string context_key, std::string platform)
{
    auto i = impl_;
    auto fn = [i, context_key, platform]() -> awaitable<admin_reply> {
            const auto until = sys_clock::now() + std::chrono::hours(24);
            json::array released;
            for (auto& [p, sp] : i->parts) {
                for (auto& [k, c] : sp->contexts) {
                    const bool match = context_key.empty() ? c.rec.platform == platform : k == context_key;
                    if (!match) continue;
                    if (!context_key.empty() || c.rec.held > 0) {
                        c.rec.release_until = until;
                        c.rec.schedule.requested = true;
                        c.rec.schedule.next_due = sys_clock::now();
                        i->persist_context(sp, c, [] {});
                        released.emplace_back(k);
                    }
                }
            }
            if (!context_key.empty() && released.empty()) co_return i->not_here(context_key);
            i->poke();
            if (context_key.empty())
                lg.warning("removal holds released through the admin API (valid for 24 h, once)",
                           {{"contexts", released.size()}, {"platform", platform}});
            else
                lg.warning("removal hold released through the admin API (valid for 24 h, once)",
                           {{"context", context_key}});
            co_return admin_reply{200, json::serialize(json::object{{"released", std::move(released)},
                                                                    {"until", roster::rfc3339(until)}})};
        };
    co_return co_await net::co_spawn(i->strand, std::move(fn), net::use_awaitable);
}

awaitable<admin_reply> pipeline::list(std::string filter)
{
    auto i = impl_;
    auto fn = [i, filter]() -> awaitable<admin_reply> {
            json::array out;
            std::size_t total = 0;
            for (auto& [p, sp] : i->parts) {
                for (auto& [k, c] : sp->contexts) {
                    if (filter == "held" && c.rec.held == 0) continue;
                    if (filter == "parked" && !c.rec.schedule.parked) continue;
                    ++total;
                    if (out.size() < 1000) out.push_back(i->describe(*sp, c));
                }
            }
            json::array owned;
            for (auto& [p, sp] : i->parts) owned.emplace_back(p);
            co_return admin_reply{200, json::serialize(json::object{{"contexts", std::move(out)},
                                                                    {"total", total},
                                                                    {"partitions", std::move(owned)}})};
        };
    co_return co_await net::co_spawn(i->strand, std::move(fn), net::use_awaitable);
}

awaitable<status_report> pipeline::status(std::size_t max_rows)
{
    auto i = impl_;
    auto fn = [i, max_rows]() -> awaitable<status_report> {
        // The rows a person looks at first: the oldest passes, the longest held, parked by key.
        auto by_start = [](const pass_status& a, const pass_status& b) {
            return std::tie(a.started, a.context_key) < std::tie(b.started, b.context_key);
        };
        auto by_since = [](const held_status& a, const held_status& b) {
            const auto as = a.since.value_or(clock_time::max()), bs = b.since.value_or(clock_time::max());
            return std::tie(as, a.context_key) < std::tie(bs, b.context_key);
        };
        auto by_key = [](const parked_status& a, const parked_status& b) { return a.context_key < b.context_key; };
        // Keeps the first max_rows by `first`; memory stays O(max_rows) however many contexts match.
        auto trim = [max_rows](auto& v, auto first) {
            if (v.size() > max_rows) {
                std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(max_rows), v.end(), first);
                v.resize(max_rows);
            } else {
                std::sort(v.begin(), v.end(), first);
            }
        };
        auto add = [&](auto& v, auto row, auto first) {
            v.push_back(std::move(row));
            if (v.size() >= 2 * max_rows + 1) trim(v, first);
        };
        status_report r;
        for (const auto& [p, sp] : i->parts) {
            using ph = partition_status::phase;
            partition_status ps{
                .partition = p, .memberships = sp->state.memberships(), .contexts = sp->contexts.size()};
            switch (sp->ph) {
                case impl::phase::restoring:
                    ps.ph = ph::loading;
                    ps.done = sp->loading->done;
                    ps.total = sp->loading->total;
                    break;
                case impl::phase::replaying:
                    ps.ph = ph::replaying;
                    ps.done = std::max<std::int64_t>(0, sp->state.position() - sp->replay_start);
                    ps.total = std::max<std::int64_t>(0, sp->replay_target - sp->replay_start);
                    break;
                case impl::phase::live: ps.ph = ph::live; break;
            }
            r.partitions.push_back(ps);
            r.memberships_total += sp->state.memberships();
            if (sp->ph != impl::phase::live) continue;  // contexts are complete once live
            for (const auto& [k, c] : sp->contexts) {
                ++r.contexts_total;
                if (c.progress) {
                    ++r.running_total;
                    add(r.running,
                        pass_status{k, c.rec.platform, c.progress->started, c.progress->pages, c.progress->members},
                        by_start);
                }
                if (c.rec.held > 0) {
                    ++r.held_total;
                    add(r.held, held_status{k, c.rec.platform, c.rec.held, c.rec.held_since, c.rec.release_until},
                        by_since);
                }
                if (c.rec.schedule.parked) {
                    ++r.parked_total;
                    add(r.parked, parked_status{k, c.rec.platform, c.rec.schedule.parked_reason}, by_key);
                }
            }
        }
        trim(r.running, by_start);
        trim(r.held, by_since);
        trim(r.parked, by_key);
        r.errors.assign(i->recent_errors.rbegin(), i->recent_errors.rend());
        co_return r;
    };
    co_return co_await net::co_spawn(i->strand, std::move(fn), net::use_awaitable);
}

}  // namespace rostersync::sync
