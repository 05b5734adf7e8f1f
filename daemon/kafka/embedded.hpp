#pragma once
// File: kafka/embedded.hpp
//
// An in-process Kafka-protocol cluster (librdkafka's mock cluster) for `brokers = "embedded"`,
// trials and tests. It speaks the real protocol on 127.0.0.1 (each broker on a port of its own
// choosing); clients reach it through bootstrap(). What the mock does and does not emulate is in
// the README ("Embedded Kafka"): no CreateTopics through the Admin API (create_topic() uses the
// mock's own API), no compaction, transactions only as API calls.
//
//     auto cluster = kafka::embedded_cluster::start(3);
//     cluster->create_topic("lti.membership-changes", 12);
//     // clients: bootstrap.servers = cluster->bootstrap()
//
// Threads: the cluster runs its own thread; members are thread-safe. Destroying it stops the
// brokers (clients still connected see transport errors).

#include "common/error.hpp"
#include "kafka/handles.hpp"

#include <memory>
#include <string>

struct rd_kafka_mock_cluster_s;

namespace rostersync::kafka {

class embedded_cluster {
public:
    /// Starts `brokers` brokers; the error names what librdkafka said.
    static result<std::unique_ptr<embedded_cluster>, std::string> start(int brokers = 1);
    ~embedded_cluster();
    embedded_cluster(const embedded_cluster&) = delete;
    embedded_cluster& operator=(const embedded_cluster&) = delete;

    /// "127.0.0.1:port,…"
    const std::string& bootstrap() const { return bootstrap_; }

    error_code create_topic(const std::string& name, int partitions, int replication = 1);

    /// The mock itself, for fault injection (rdkafka_mock.h) in tests.
    rd_kafka_mock_cluster_s* mock() const { return mock_; }

private:
    embedded_cluster() = default;
    handle_ptr handle_;  // the mock needs a client handle to live in
    rd_kafka_mock_cluster_s* mock_ = nullptr;
    std::string bootstrap_;
};

}  // namespace rostersync::kafka
