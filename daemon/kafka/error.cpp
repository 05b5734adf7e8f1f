#include "kafka/error.hpp"

#include "common/log.hpp"

namespace rostersync::kafka {
namespace {

class kafka_category final : public error_category {
public:
    const char* name() const noexcept override { return "rostersync.kafka"; }
    std::string message(int v) const override { return rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(v)); }
    bool retryable(int v) const noexcept override
    {
        switch (static_cast<rd_kafka_resp_err_t>(v)) {
            case RD_KAFKA_RESP_ERR__TRANSPORT:
            case RD_KAFKA_RESP_ERR__TIMED_OUT:
            case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
            case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
            case RD_KAFKA_RESP_ERR__QUEUE_FULL:
            case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
            case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
            case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
            case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
            case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
            case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
            case RD_KAFKA_RESP_ERR_NOT_COORDINATOR: return true;
            default: return false;
        }
    }
};

}  // namespace

const error_category& category() noexcept
{
    static const kafka_category instance;
    return instance;
}

void log_callback(const rd_kafka_t*, int level, const char* facility, const char* text)
{
    static const log::logger lg{"kafka"};
    log::level l = level <= 3 ? log::level::error : level == 4 ? log::level::warning : log::level::debug;
    // Noise, not news: the mock cluster (embedded mode, tests) answers with an old protocol
    // version, so every metadata request warns that allow.auto.create.topics is unsupported; a
    // shared [kafka.properties] entry meant for consumers warns in the producer.
    const std::string_view f(facility != nullptr ? facility : "");
    if (f == "AUTOCREATE" || f == "CONFWARN") l = log::level::debug;
    lg.write(l, "librdkafka", {{"facility", facility}, {"text", text}});
}

result<conf_ptr, std::string> make_conf(property_list defaults, const property_list& overrides)
{
    char err[512];
    conf_ptr conf(rd_kafka_conf_new());
    defaults.insert(defaults.end(), overrides.begin(), overrides.end());
    for (const auto& [k, v] : defaults) {
        if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
            return "kafka property " + k + ": " + err;
    }
    rd_kafka_conf_set_log_cb(conf.get(), log_callback);
    return conf;
}

}  // namespace rostersync::kafka
