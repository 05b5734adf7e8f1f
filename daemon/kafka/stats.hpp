#pragma once
// File: kafka/stats.hpp
//
// librdkafka's statistics (its STATISTICS.md: one JSON object per `statistics.interval.ms`) as
// Prometheus metrics. One exporter per metrics registry, shared by every client handle; each
// handle reports under a role of its own (`client` label: "producer", "ingest", "requests",
// "state"), never under librdkafka's handle name, which changes with every new handle.
//
//     kafka::statistics_exporter kstats(registry);   // outlives the handles it is given to
//     auto p = kafka::producer::create({.bootstrap = b, .on_statistics = kstats.callback("producer")});
//     auto c = kafka::consumer::create({.bootstrap = b, .group_id = g,
//                                       .on_statistics = kstats.callback("ingest")});
//
// Metrics (`broker` is the broker's host:port, librdkafka's `nodename`):
//
//   rostersync_kafka_broker_up{client,broker}             1 while the connection is UP, else 0
//   rostersync_kafka_broker_rtt_seconds{client,broker}    mean request round trip of the last
//                                                         interval (a consumer's includes the Fetch
//                                                         long poll, up to fetch.wait.max.ms)
//   rostersync_kafka_request_errors_total{client,broker}  request transmit + receive errors
//   rostersync_kafka_producer_queue_messages{client}      records waiting in the producer's queues
//   rostersync_kafka_producer_queue_bytes{client}         their bytes
//   rostersync_kafka_tx_messages_total{client}            records sent to brokers (producers)
//   rostersync_kafka_rx_messages_total{client}            records fetched from brokers (consumers)
//   rostersync_kafka_consumer_lag_records{client,topic}   sum of librdkafka's consumer_lag (log end
//                                                         minus committed offset) over the topic's
//                                                         assigned partitions
//   rostersync_kafka_statistics_invalid_total{client}     reports that were not a JSON object
//                                                         (ignored)
//
// Cumulative librdkafka fields (txmsgs, rxmsgs, txerrs, rxerrs) become real counters: the exporter
// remembers the last value per handle (librdkafka's `name`) and broker entry and adds the
// difference, so rate() works, several handles of one role add up, and a new handle (its values
// start again from 0) does not read as a drop. A value lower than the last one is a reset: it
// counts in full, as Prometheus itself treats counter resets.
//
// Which broker entries count:
// - librdkafka's internal broker (source "internal", ":0/internal") never;
// - logical brokers ("GroupCoordinator", "TxnCoordinator": a second connection to a real broker)
//   only in request errors, under the coordinator's current host:port;
// - bootstrap entries ("host:port/bootstrap", nodeid -1) only in request errors: they are
//   addresses, often a load balancer, and would leave a stale `broker_up` series behind once
//   metadata names the brokers;
// - a broker this client never tried to reach (state INIT, connects 0: sparse connections mean a
//   client only connects to the brokers it needs) has no `broker_up` or RTT series. A connection
//   lost and not re-established because nothing needs it reads INIT too, hence 0: alert on the
//   maximum over clients (deploy/prometheus/rostersync.rules.yml does).
// RTT is left unchanged by an interval without a sample (librdkafka's window has cnt 0).
//
// Lag: only partitions that are assigned (`desired`) with a known lag (>= 0: the group has
// committed) count; a consumer that never commits (manual assignment) exports no lag. A topic
// whose lag was once exported reads 0 once none of its partitions count any more (revoked).
//
// Invalid input: JSON that does not parse, or whose top level is not an object, is ignored and
// counted in rostersync_kafka_statistics_invalid_total (the first per client is logged as a
// warning, later ones at debug). Fields that are missing or of another type are skipped one by
// one. update() never throws.
//
// Thread safety: update() and callback() may be called from any thread (librdkafka's statistics
// arrive on the producer's poll thread and the consumers' poll threads).

#include "metrics/registry.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace rostersync::kafka {

class statistics_exporter {
public:
    /// Registers the metrics above; one exporter per registry.
    explicit statistics_exporter(metrics::registry& reg);
    ~statistics_exporter();
    statistics_exporter(const statistics_exporter&) = delete;
    statistics_exporter& operator=(const statistics_exporter&) = delete;

    /// Applies one statistics report of the handle with role `client`.
    void update(std::string_view client, std::string_view json) noexcept;

    /// For producer_options/consumer_options::on_statistics: update(client, json). The exporter
    /// must outlive every handle given the callback.
    std::function<void(std::string_view json)> callback(std::string client);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rostersync::kafka
