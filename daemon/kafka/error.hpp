#pragma once
// File: kafka/error.hpp
//
// librdkafka's rd_kafka_resp_err_t as error codes (category "rostersync.kafka"), with librdkafka's
// own messages and a retry classification.

#include "common/error.hpp"

#include <librdkafka/rdkafka.h>

namespace rostersync::kafka {

const error_category& category() noexcept;

inline error_code make_error_code(rd_kafka_resp_err_t e) noexcept
{
    return {static_cast<int>(e), category()};
}

}  // namespace rostersync::kafka
