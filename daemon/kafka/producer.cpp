#include "kafka/producer.hpp"

#include "kafka/consumer.hpp"
#include "kafka/error.hpp"

#include "common/handoff.hpp"

#include "common/log.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <exception>
#include <mutex>
#include <optional>

namespace rostersync::kafka {
namespace {

using callback = std::function<void(const delivery&)>;

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*)
{
    std::unique_ptr<callback> done(static_cast<callback*>(m->_private));
    if (!done) return;
    delivery d;
    d.partition = m->partition;
    d.offset = m->offset;
    if (m->err) {
        d.ec = make_error_code(m->err);
        d.possibly_persisted = rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_NOT_PERSISTED;
    }
    (*done)(d);
}


}  // namespace

result<std::unique_ptr<producer>, std::string> producer::create(const producer_options& opts)
{
    property_list settings{
        {"bootstrap.servers", opts.bootstrap},
        {"client.id", opts.client_id},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"message.timeout.ms", std::to_string(opts.message_timeout.count())},
    };
    if (opts.on_statistics)
        settings.emplace_back("statistics.interval.ms", std::to_string(opts.statistics_interval.count()));
    auto made = make_conf(std::move(settings), opts.properties);
    if (!made) return made.error();
    conf_ptr conf = std::move(*made);
    std::unique_ptr<producer> p(new producer());
    rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
    rd_kafka_conf_set_opaque(conf.get(), p.get());
    if (opts.on_statistics) {
        p->on_statistics_ = opts.on_statistics;
        rd_kafka_conf_set_stats_cb(conf.get(), &producer::on_stats);
    }
    if (opts.on_error) {
        p->on_error_ = opts.on_error;
        rd_kafka_conf_set_error_cb(conf.get(), &producer::on_error_event);
    }
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
    if (rk == nullptr) return std::string("cannot create the Kafka producer: ") + err;
    conf.release();
    p->handle_.reset(rk);
    p->close_timeout_ = opts.close_timeout;
    p->poller_ = std::thread([raw = p.get()] {
        while (!raw->stop_.load(std::memory_order_relaxed)) {
            rd_kafka_poll(raw->handle_.get(), 100);
            raw->last_poll_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
        }
    });
    return p;
}

void producer::on_error_event(rd_kafka_t*, int err, const char* reason, void* opaque)
{
    auto* self = static_cast<producer*>(opaque);
    try {
        if (self != nullptr && self->on_error_)
            self->on_error_(make_error_code(static_cast<rd_kafka_resp_err_t>(err)), reason ? reason : "");
    } catch (...) {
    }
}

int producer::on_stats(rd_kafka_t*, char* json, std::size_t len, void* opaque)
{
    auto* self = static_cast<producer*>(opaque);
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

producer::~producer()
{
    if (!handle_) return;  // create() failed in rd_kafka_new
    rd_kafka_flush(handle_.get(), static_cast<int>(close_timeout_.count()));
    stop_ = true;
    if (poller_.joinable()) poller_.join();
    // Whatever is still queued is failed now: purge triggers its delivery reports.
    rd_kafka_purge(handle_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(handle_.get(), 0);
}

error_code producer::send(record r, std::function<void(const delivery&)> done)
{
    auto* opaque = new callback(std::move(done));
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(r.headers.size());
    for (const auto& [k, v] : r.headers)
        rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(), static_cast<ssize_t>(v.size()));
    auto err = rd_kafka_producev(
        handle_.get(), RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
        RD_KAFKA_V_KEY(r.key.data(), r.key.size()),
        RD_KAFKA_V_VALUE(r.tombstone ? nullptr : r.value.data(), r.tombstone ? 0 : r.value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hdrs);  // not taken over on failure
        delete opaque;
        return make_error_code(err);
    }
    return {};
}

awaitable<delivery> producer::publish(record r)
{
    // The report arrives on the producer's thread.
    auto h = handoff<delivery>::create(co_await net::this_coro::executor);
    auto ec = send(std::move(r), [h](const delivery& d) { h->set(d); });
    if (ec) co_return delivery{.ec = ec};
    auto d = co_await h->wait(std::chrono::steady_clock::time_point::max());
    co_return d ? *d : delivery{.ec = make_error_code(RD_KAFKA_RESP_ERR__TIMED_OUT)};
}

namespace {

txn_result classify(rd_kafka_error_t* e)
{
    txn_result r;
    if (e == nullptr) return r;
    r.ec = make_error_code(rd_kafka_error_code(e));
    r.retriable = rd_kafka_error_is_retriable(e) != 0;
    r.abortable = rd_kafka_error_txn_requires_abort(e) != 0;
    r.fatal = rd_kafka_error_is_fatal(e) != 0;
    r.message = rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    return r;
}

}  // namespace

txn_result producer::init_transactions(std::chrono::milliseconds timeout)
{
    return classify(rd_kafka_init_transactions(handle_.get(), static_cast<int>(timeout.count())));
}

txn_result producer::begin_transaction()
{
    return classify(rd_kafka_begin_transaction(handle_.get()));
}

txn_result producer::send_offsets(consumer& c, const std::vector<partition_offset>& offsets,
                                  std::chrono::milliseconds timeout)
{
    partition_list_ptr l(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
    for (const auto& o : offsets)
        rd_kafka_topic_partition_list_add(l.get(), o.tp.topic.c_str(), o.tp.partition)->offset = o.offset;
    rd_kafka_consumer_group_metadata_t* md = rd_kafka_consumer_group_metadata(c.native());
    auto r = classify(rd_kafka_send_offsets_to_transaction(handle_.get(), l.get(), md, static_cast<int>(timeout.count())));
    rd_kafka_consumer_group_metadata_destroy(md);
    return r;
}

txn_result producer::commit_transaction(std::chrono::milliseconds timeout)
{
    return classify(rd_kafka_commit_transaction(handle_.get(), static_cast<int>(timeout.count())));
}

txn_result producer::abort_transaction(std::chrono::milliseconds timeout)
{
    return classify(rd_kafka_abort_transaction(handle_.get(), static_cast<int>(timeout.count())));
}

error_code producer::flush(std::chrono::milliseconds timeout)
{
    auto err = rd_kafka_flush(handle_.get(), static_cast<int>(timeout.count()));
    return err ? make_error_code(err) : error_code{};
}

}  // namespace rostersync::kafka
