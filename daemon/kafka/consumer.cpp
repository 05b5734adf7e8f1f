#include "kafka/consumer.hpp"

#include "common/log.hpp"
#include "kafka/error.hpp"

#include <exception>

namespace rostersync::kafka {
namespace {


partition_list_ptr to_list(const std::vector<topic_partition>& tps, std::int64_t offset)
{
    partition_list_ptr l(rd_kafka_topic_partition_list_new(static_cast<int>(tps.size())));
    for (const auto& tp : tps) rd_kafka_topic_partition_list_add(l.get(), tp.topic.c_str(), tp.partition)->offset = offset;
    return l;
}

std::vector<topic_partition> from_list(const rd_kafka_topic_partition_list_t* l)
{
    std::vector<topic_partition> out;
    for (int i = 0; l != nullptr && i < l->cnt; ++i) out.push_back({l->elems[i].topic, l->elems[i].partition});
    return out;
}

}  // namespace

void consumer::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque)
{
    auto* self = static_cast<consumer*>(opaque);
    const bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
    rebalance_event ev{err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, from_list(parts)};
    if (ev.assigned) {
        if (cooperative) {
            if (auto* e = rd_kafka_incremental_assign(rk, parts)) rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
    } else {
        if (cooperative) {
            if (auto* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, nullptr);
        }
    }
    std::lock_guard lock(self->mutex_);
    self->rebalances_.push_back(std::move(ev));
}

int consumer::on_stats(rd_kafka_t*, char* json, std::size_t len, void* opaque)
{
    auto* self = static_cast<consumer*>(opaque);
    // An exception must not unwind through librdkafka's C frames.
    try {
        if (self != nullptr && self->on_statistics_) self->on_statistics_(std::string_view(json, len));
    } catch (const std::exception& e) {
        log::logger{"kafka"}.warning("statistics callback failed", {{"error", e.what()}});
    } catch (...) {
        log::logger{"kafka"}.warning("statistics callback failed");
    }
    return 0;  // librdkafka frees the JSON
}

result<std::unique_ptr<consumer>, std::string> consumer::create(const consumer_options& opts)
{
    if (opts.group_id.empty()) return std::string("a consumer needs a group.id");
    property_list settings{
        {"bootstrap.servers", opts.bootstrap},
        {"group.id", opts.group_id},
        {"client.id", opts.client_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"session.timeout.ms", std::to_string(opts.session_timeout.count())},
        {"allow.auto.create.topics", "false"},
    };
    if (opts.on_statistics)
        settings.emplace_back("statistics.interval.ms", std::to_string(opts.statistics_interval.count()));
    auto made = make_conf(std::move(settings), opts.properties);
    if (!made) return made.error();
    conf_ptr conf = std::move(*made);
    std::unique_ptr<consumer> c(new consumer());
    rd_kafka_conf_set_opaque(conf.get(), c.get());
    rd_kafka_conf_set_rebalance_cb(conf.get(), &consumer::on_rebalance);
    if (opts.on_statistics) {
        c->on_statistics_ = opts.on_statistics;
        rd_kafka_conf_set_stats_cb(conf.get(), &consumer::on_stats);
    }
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof err);
    if (rk == nullptr) return std::string("cannot create the Kafka consumer: ") + err;
    conf.release();
    c->handle_.reset(rk);
    rd_kafka_poll_set_consumer(rk);
    return c;
}

consumer::~consumer()
{
    close();
}

void consumer::close()
{
    if (closed_ || !handle_) return;
    closed_ = true;
    rd_kafka_consumer_close(handle_.get());
}

error_code consumer::subscribe(const std::vector<std::string>& topics)
{
    partition_list_ptr l(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
    for (const auto& t : topics) rd_kafka_topic_partition_list_add(l.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    auto err = rd_kafka_subscribe(handle_.get(), l.get());
    return err ? make_error_code(err) : error_code{};
}

error_code consumer::assign(const std::vector<topic_partition>& partitions, std::int64_t offset)
{
    auto l = to_list(partitions, offset);
    auto err = rd_kafka_assign(handle_.get(), l.get());
    return err ? make_error_code(err) : error_code{};
}

namespace {
partition_list_ptr to_list(const std::vector<partition_offset>& partitions)
{
    partition_list_ptr l(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
    for (const auto& p : partitions)
        rd_kafka_topic_partition_list_add(l.get(), p.tp.topic.c_str(), p.tp.partition)->offset = p.offset;
    return l;
}

/// An rd_kafka_error_t as an error_code (destroying it).
error_code take_error(rd_kafka_error_t* e)
{
    if (!e) return {};
    const auto code = rd_kafka_error_code(e);
    rd_kafka_error_destroy(e);
    return make_error_code(code);
}
}  // namespace

error_code consumer::assign(const std::vector<partition_offset>& partitions)
{
    auto err = rd_kafka_assign(handle_.get(), to_list(partitions).get());
    return err ? make_error_code(err) : error_code{};
}

error_code consumer::incremental_assign(const std::vector<partition_offset>& partitions)
{
    return take_error(rd_kafka_incremental_assign(handle_.get(), to_list(partitions).get()));
}

error_code consumer::seek(const std::vector<partition_offset>& partitions)
{
    auto l = to_list(partitions);
    if (auto ec = take_error(rd_kafka_seek_partitions(handle_.get(), l.get(), 0))) return ec;
    for (int i = 0; i < l->cnt; ++i)
        if (l->elems[i].err) return make_error_code(l->elems[i].err);
    return {};
}

result<message_ptr> consumer::poll(std::chrono::milliseconds timeout)
{
    message_ptr m(rd_kafka_consumer_poll(handle_.get(), static_cast<int>(timeout.count())));
    if (!m) return message_ptr{};
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return message_ptr{};
    if (m->err) return make_error_code(m->err);
    return m;
}

error_code consumer::commit(const topic_partition& tp, std::int64_t next_offset, bool async)
{
    auto l = to_list({tp}, next_offset);
    auto err = rd_kafka_commit(handle_.get(), l.get(), async ? 1 : 0);
    return err ? make_error_code(err) : error_code{};
}

result<std::vector<std::int64_t>> consumer::committed(const std::vector<topic_partition>& tps,
                                                      std::chrono::milliseconds timeout)
{
    auto l = to_list(tps, RD_KAFKA_OFFSET_INVALID);
    auto err = rd_kafka_committed(handle_.get(), l.get(), static_cast<int>(timeout.count()));
    if (err) return make_error_code(err);
    std::vector<std::int64_t> out;
    for (int i = 0; i < l->cnt; ++i) out.push_back(l->elems[i].offset);
    return out;
}

error_code consumer::pause(const std::vector<topic_partition>& tps)
{
    auto l = to_list(tps, RD_KAFKA_OFFSET_INVALID);
    auto err = rd_kafka_pause_partitions(handle_.get(), l.get());
    return err ? make_error_code(err) : error_code{};
}

error_code consumer::resume(const std::vector<topic_partition>& tps)
{
    auto l = to_list(tps, RD_KAFKA_OFFSET_INVALID);
    auto err = rd_kafka_resume_partitions(handle_.get(), l.get());
    return err ? make_error_code(err) : error_code{};
}

std::vector<topic_partition> consumer::assignment() const
{
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(handle_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    partition_list_ptr l(raw);  // must be destroyed, or rd_kafka_destroy() hangs
    return from_list(l.get());
}

std::vector<rebalance_event> consumer::take_rebalances()
{
    std::lock_guard lock(mutex_);
    std::vector<rebalance_event> out(std::make_move_iterator(rebalances_.begin()), std::make_move_iterator(rebalances_.end()));
    rebalances_.clear();
    return out;
}

}  // namespace rostersync::kafka
