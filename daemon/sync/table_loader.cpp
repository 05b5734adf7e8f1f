#include "sync/table_loader.hpp"

#include "common/log.hpp"
#include "kafka/consumer.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>

namespace rostersync::sync {
namespace {

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

const log::logger lg{"restore"};

}  // namespace

// The table topics, by index: memberships, contexts, checkpoints; then the change stream.
constexpr int table_topics = 3;
constexpr int changes_topic = 3;

struct table_loader::job {
    std::int32_t partition = 0;
    std::shared_ptr<restore_progress> progress;
    std::chrono::milliseconds timeout{};
    std::function<void(loaded_partition)> done;

    // While reading (loader thread only).
    steady::time_point deadline{};
    steady::time_point next_report{};
    loaded_partition out;
    std::map<std::string, context_record> contexts;
    std::vector<kafka::topic_partition> assigned;  // paused when finished
    // Per table topic: still to be read to its end, its offsets [low, high), how far past low.
    std::array<bool, table_topics> open{};
    std::array<std::int64_t, table_topics> low{}, high{}, read_to{};
    bool replaying = false;  // the tables are read; the change stream is being replayed

    bool reading() const { return std::find(open.begin(), open.end(), true) != open.end(); }

    void advance(int topic, std::int64_t next)
    {
        const auto upto = std::clamp(next - low[topic], std::int64_t{0}, high[topic] - low[topic]);
        if (upto <= read_to[topic]) return;
        progress->done += upto - read_to[topic];
        read_to[topic] = upto;
    }

    void finish(std::string error = {})
    {
        out.error = std::move(error);
        if (out.error.empty()) {
            out.contexts.reserve(contexts.size());
            for (auto& [key, r] : contexts) out.contexts.push_back(std::move(r));
        } else {
            out.state = {};
        }
        contexts.clear();
        auto f = std::move(done);
        f(std::move(out));
    }
};

/// The loader thread's consumer and the loads it is reading.
struct table_loader::reader {
    const options& opts;
    std::array<std::string, table_topics + 1> names;  // the table topics, then the change stream
    std::unique_ptr<kafka::consumer> consumer;
    std::set<kafka::topic_partition> assigned;     // ever, by this consumer (finished ones paused)
    std::map<std::pair<int, std::int32_t>, job*> owner;  // (topic index, partition) → its load
    std::vector<std::unique_ptr<job>> active;
    std::deque<std::unique_ptr<job>> waiting;      // their topics are still assigned: after the close
    steady::time_point idle_since = steady::now();
    steady::time_point next_check = steady::now();
    const rd_kafka_topic_t* last_rkt = nullptr;    // the topic of the previous record, and its index
    int last_topic = -1;

    explicit reader(const options& o)
        : opts(o),
          names{o.kafka.topics.memberships, o.kafka.topics.contexts, o.kafka.topics.checkpoints,
                o.kafka.topics.membership_changes}
    {
    }

    bool overlaps(const job& j) const
    {
        for (const auto& t : names)
            if (assigned.contains({t, j.partition})) return true;
        return false;
    }

    int topic_index(const rd_kafka_topic_t* rkt)
    {
        if (rkt != last_rkt) {
            last_rkt = rkt;
            const std::string_view name = rkt ? rd_kafka_topic_name(const_cast<rd_kafka_topic_t*>(rkt)) : "";
            last_topic = static_cast<int>(std::find(names.begin(), names.end(), name) - names.begin());
        }
        return last_topic;
    }

    std::string open_consumer()
    {
        if (consumer) return {};
        auto props = opts.properties;
        props.emplace_back("enable.partition.eof", "true");
        auto c = kafka::consumer::create({.bootstrap = opts.bootstrap, .group_id = opts.kafka.group_id + ".restore",
                                          .client_id = "rostersync-restore", .properties = std::move(props)});
        if (!c) return c.error();
        consumer = std::move(*c);
        return {};
    }

    void close_consumer()
    {
        if (!consumer) return;
        consumer->close();
        consumer.reset();
        assigned.clear();
        last_rkt = nullptr;
    }

    /// Starts reading loads, or reports them at once (an error, or nothing to read). The
    /// watermarks of all of them are asked for together: one at a time, a few hundred queries
    /// took seconds while the first partitions' fetches kept the brokers busy.
    void start(std::vector<std::unique_ptr<job>> jobs)
    {
        if (jobs.empty()) return;
        if (auto e = open_consumer(); !e.empty()) {
            for (auto& j : jobs) j->finish("cannot create the restore consumer: " + e);
            return;
        }
        std::vector<std::pair<std::string, std::int32_t>> query;
        for (const auto& j : jobs)
            for (const auto& t : names) query.emplace_back(t, j->partition);
        auto w = kafka::query_watermarks(consumer->native(), query, 10s);
        if (!w) {
            for (auto& j : jobs) j->finish("cannot read the ends of the table topics: " + w.error().message());
            return;
        }
        std::vector<kafka::partition_offset> assign;
        std::vector<job*> started;
        std::vector<job*> no_tables;
        std::size_t at = 0;
        for (auto& j : jobs) {
            j->deadline = steady::now() + j->timeout;
            j->next_report = steady::now() + 10s;
            std::int64_t total = 0;
            bool any = false;
            for (int t = 0; t < table_topics; ++t) {
                const auto& m = (*w)[at++];
                if (m.high <= m.low) continue;
                assign.push_back({{names[t], j->partition}, RD_KAFKA_OFFSET_BEGINNING});
                j->assigned.push_back(assign.back().tp);
                j->open[t] = any = true;
                j->low[t] = m.low;
                j->high[t] = m.high;
                total += m.high - m.low;
            }
            j->out.changes = (*w)[at++];
            j->progress->done = 0;
            j->progress->total = total;
            if (any) {
                for (int t = 0; t < table_topics; ++t)
                    if (j->open[t]) owner[{t, j->partition}] = j.get();
                started.push_back(j.get());
            } else {
                no_tables.push_back(j.get());
            }
            active.push_back(std::move(j));
        }
        if (!assign.empty()) {
            if (auto ec = consumer->incremental_assign(assign)) {
                for (auto* j : started) {
                    j->assigned.clear();  // nothing was assigned: nothing to pause
                    end(j, "cannot assign the restore consumer: " + ec.message());
                }
            } else {
                for (const auto& po : assign) assigned.insert(po.tp);
            }
        }
        for (auto* j : no_tables) replay(j);
    }

    /// The tables are read: replays the change stream from the checkpoint (or the log's start)
    /// to the end measured when the load started, into the loaded state, on this thread and
    /// consumer rather than the pipeline's single state consumer.
    void replay(job* j)
    {
        auto& out = j->out;
        std::int64_t from = out.cp ? out.cp->changes_offset : out.changes.low;
        if (from < out.changes.low) {
            out.checkpoint_before_log_start = true;
            from = out.changes.low;
        }
        out.replay_from = from;
        out.table_memberships = out.state.memberships();
        out.state.set_position(from);
        if (from >= out.changes.high) return end(j);
        const kafka::topic_partition tp{names[changes_topic], j->partition};
        if (auto ec = consumer->incremental_assign({{tp, from}}))
            return end(j, "cannot assign the restore consumer: " + ec.message());
        assigned.insert(tp);
        j->assigned.push_back(tp);
        owner[{changes_topic, j->partition}] = j;
        j->replaying = true;
        j->progress->total += out.changes.high - from;
    }

    /// Removes a load from the active ones, pausing its partitions, and reports it.
    void end(job* j, std::string error = {})
    {
        if (consumer && !j->assigned.empty()) consumer->pause(j->assigned);
        for (int t = 0; t <= changes_topic; ++t) owner.erase({t, j->partition});
        auto it = std::find_if(active.begin(), active.end(), [j](const auto& a) { return a.get() == j; });
        auto owned = std::move(*it);
        active.erase(it);
        if (active.empty()) idle_since = steady::now();
        owned->finish(std::move(error));
    }

    void dispatch(const rd_kafka_message_t* m)
    {
        const int t = topic_index(m->rkt);
        auto it = owner.find({t, m->partition});
        if (it == owner.end()) return;  // a finished partition's late record
        job& j = *it->second;
        if (t == changes_topic) return replayed(j, m);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            j.open[t] = false;
            j.advance(t, j.high[t]);
            if (!j.reading()) replay(&j);
            return;
        }
        if (m->err) return;  // transient; librdkafka retries
        j.advance(t, m->offset + 1);
        const auto key = kafka::bytes(m->key, m->key_len);
        const auto value = kafka::bytes(m->payload, m->len);
        if (t == 0) {  // memberships
            if (m->payload == nullptr) {
                j.out.state.erase_row(key);
                return;
            }
            auto r = decode_row(value);
            if (!r) {
                ++j.out.invalid;
                return;
            }
            roster::member_state ms{.record = std::move(r->member), .provisional = r->provisional,
                                    .launch_seen_at = r->launch_seen_at};
            auto user = ms.record.user_id;
            j.out.state.load(r->issuer + "|" + r->context_id, std::move(user), std::move(ms), r->roster_version);
        } else if (t == 1) {  // contexts
            if (m->payload == nullptr) {
                j.contexts.erase(std::string(key));
                return;
            }
            auto r = decode_context(value);
            if (!r) {
                ++j.out.invalid;
                return;
            }
            j.contexts.insert_or_assign(std::string(key), std::move(*r));
        } else {  // checkpoints
            auto r = decode_checkpoint(value);
            if (r && r->partition == j.partition) j.out.cp = *r;
            else ++j.out.invalid;
        }
    }

    /// A record of the change stream, folded as the pipeline's state consumer folds it.
    void replayed(job& j, const rd_kafka_message_t* m)
    {
        auto& out = j.out;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return end(&j);  // the end (of committed records)
        if (m->err) return;
        ++j.progress->done;
        auto ev = decode_change(kafka::bytes(m->payload, m->len));
        if (ev) {
            out.state.apply(*ev, m->offset);
        } else {
            out.state.skip(m->offset);
            if (out.invalid_changes++ == 0) out.first_invalid_change = {m->offset, ev.error()};
        }
        if (m->offset + 1 >= out.changes.high) end(&j);
    }

    /// Deadlines, abandoned loads, and the "still reading" report (every 100 ms at most).
    void check()
    {
        const auto now = steady::now();
        if (now < next_check) return;
        next_check = now + 100ms;
        std::vector<std::pair<job*, std::string>> ended;
        for (auto& j : active) {
            if (j->progress->abandon) ended.emplace_back(j.get(), "abandoned: the partition was revoked");
            else if (now > j->deadline) ended.emplace_back(j.get(), "the table did not load within the restore timeout");
            else if (now > j->next_report) {
                std::string topics;
                for (int t = 0; t < table_topics; ++t)
                    if (j->open[t]) topics += (topics.empty() ? "" : ",") + names[t];
                if (j->replaying) topics = names[changes_topic];
                lg.warning("restore is slow: still reading to the end of",
                           {{"partition", j->partition}, {"topics", topics},
                            {"memberships", j->out.state.memberships()}});
                j->next_report = now + 10s;
            }
        }
        for (auto& [j, why] : ended) end(j, std::move(why));
    }
};

table_loader::table_loader(options o) : opts_(std::move(o))
{
    const int n = std::max(opts_.threads, 1);
    for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<worker>());
    for (auto& w : workers_) w->thread = std::thread([this, w = w.get()] { run(*w); });
}

table_loader::~table_loader()
{
    stop();
}

void table_loader::stop()
{
    for (auto& w : workers_) {
        {
            std::lock_guard lock(w->mutex);
            w->stop = true;
        }
        w->cv.notify_all();
    }
    for (auto& w : workers_)
        if (w->thread.joinable()) w->thread.join();
}

void table_loader::load(std::int32_t p, std::shared_ptr<restore_progress> progress, std::chrono::milliseconds timeout,
                        std::function<void(loaded_partition)> done)
{
    auto j = std::make_unique<job>();
    j->partition = p;
    j->progress = std::move(progress);
    j->timeout = timeout;
    j->done = std::move(done);
    auto& w = *workers_[static_cast<std::size_t>(p < 0 ? -(p + 1) : p) % workers_.size()];
    {
        std::lock_guard lock(w.mutex);
        if (!w.stop) {
            w.submitted.push_back(std::move(j));
            j = nullptr;
        }
    }
    if (j) return j->finish("stopping");
    w.cv.notify_all();
}

void table_loader::run(worker& w)
{
    reader r(opts_);
    for (;;) {
        {
            std::unique_lock lock(w.mutex);
            if (r.active.empty() && r.waiting.empty() && w.submitted.empty() && !w.stop) {
                if (r.consumer) {
                    const auto close_at = r.idle_since + opts_.linger;
                    w.cv.wait_until(lock, close_at, [&] { return w.stop || !w.submitted.empty(); });
                    if (!w.stop && w.submitted.empty()) {
                        lock.unlock();
                        r.close_consumer();
                        continue;
                    }
                } else {
                    w.cv.wait(lock, [&] { return w.stop || !w.submitted.empty(); });
                }
            }
            if (w.stop) break;
            while (!w.submitted.empty()) {
                r.waiting.push_back(std::move(w.submitted.front()));
                w.submitted.pop_front();
            }
        }
        // Start what does not collide with a partition the consumer still has assigned; once
        // nothing is active, close the consumer so the rest can start on a fresh one.
        std::vector<std::unique_ptr<job>> startable;
        std::set<std::int32_t> batch;
        for (std::size_t n = r.waiting.size(); n > 0; --n) {
            auto j = std::move(r.waiting.front());
            r.waiting.pop_front();
            if (j->progress->abandon) j->finish("abandoned: the partition was revoked");
            else if (r.overlaps(*j) || !batch.insert(j->partition).second) r.waiting.push_back(std::move(j));
            else startable.push_back(std::move(j));
        }
        r.start(std::move(startable));
        if (r.active.empty()) {
            if (!r.waiting.empty()) r.close_consumer();
            else r.idle_since = steady::now();
            continue;
        }
        kafka::message_ptr m(rd_kafka_consumer_poll(r.consumer->native(), 100));
        if (m) r.dispatch(m.get());
        r.check();
    }
    while (!r.active.empty()) r.end(r.active.front().get(), "stopping");
    for (auto& j : r.waiting) j->finish("stopping");
    r.waiting.clear();
    std::deque<std::unique_ptr<job>> left;
    {
        std::lock_guard lock(w.mutex);
        left.swap(w.submitted);
    }
    for (auto& j : left) j->finish("stopping");
    r.close_consumer();
}

}  // namespace rostersync::sync
