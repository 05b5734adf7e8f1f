#pragma once
// File: kafka/error.hpp
//
// librdkafka's rd_kafka_resp_err_t as error codes (category "rostersync.kafka"), with librdkafka's
// own messages and a retry classification.

#include "common/error.hpp"
#include "kafka/handles.hpp"

#include <librdkafka/rdkafka.h>

#include <string>
#include <utility>
#include <vector>

namespace rostersync::kafka {

const error_category& category() noexcept;

inline error_code make_error_code(rd_kafka_resp_err_t e) noexcept
{
    return {static_cast<int>(e), category()};
}

/// librdkafka's log lines into ours (syslog levels): errors and warnings stay visible, the rest
/// goes to debug. Install with rd_kafka_conf_set_log_cb.
void log_callback(const rd_kafka_t* rk, int level, const char* facility, const char* text);

using property_list = std::vector<std::pair<std::string, std::string>>;

/// A librdkafka configuration: `defaults`, then `overrides` ([kafka.properties], which win over
/// the defaults, statistics.interval.ms included), with log_callback installed. The error names
/// the property librdkafka refused and why.
result<conf_ptr, std::string> make_conf(property_list defaults, const property_list& overrides);

}  // namespace rostersync::kafka
