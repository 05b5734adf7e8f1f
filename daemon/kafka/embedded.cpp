#include "kafka/embedded.hpp"

#include "kafka/error.hpp"

#include <librdkafka/rdkafka.h>
// rdkafka_mock.h must come after rdkafka.h.
#include <librdkafka/rdkafka_mock.h>

namespace rostersync::kafka {

result<std::unique_ptr<embedded_cluster>, std::string> embedded_cluster::start(int brokers)
{
    char err[512];
    conf_ptr conf(rd_kafka_conf_new());
    // The handle only hosts the mock; it never connects anywhere.
    if (rd_kafka_conf_set(conf.get(), "client.id", "rostersync-embedded", err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf.get(), "log_level", "3", err, sizeof err) != RD_KAFKA_CONF_OK)
        return std::string(err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
    if (rk == nullptr) return std::string("cannot create the embedded cluster's handle: ") + err;
    conf.release();  // owned by rk now
    std::unique_ptr<embedded_cluster> c(new embedded_cluster());
    c->handle_.reset(rk);
    c->mock_ = rd_kafka_mock_cluster_new(rk, brokers);
    if (c->mock_ == nullptr) return std::string("librdkafka could not start a mock cluster");
    c->bootstrap_ = rd_kafka_mock_cluster_bootstraps(c->mock_);
    return c;
}

embedded_cluster::~embedded_cluster()
{
    if (mock_ != nullptr) rd_kafka_mock_cluster_destroy(mock_);
    // handle_ is destroyed after the mock, as librdkafka requires.
}

error_code embedded_cluster::create_topic(const std::string& name, int partitions, int replication)
{
    auto e = rd_kafka_mock_topic_create(mock_, name.c_str(), partitions, replication);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR ? error_code{} : make_error_code(e);
}

}  // namespace rostersync::kafka
