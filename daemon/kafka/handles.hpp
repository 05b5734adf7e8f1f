#pragma once
// File: kafka/handles.hpp
//
// RAII ownership of librdkafka handles (after modern-cpp-kafka's RdKafkaHelper.h): every
// rd_kafka_*_t the daemon holds is one of these, so nothing leaks on an error path. Note the
// librdkafka pitfall: a partition list from rd_kafka_assignment() that is never destroyed makes
// rd_kafka_destroy() hang — hold it in a partition_list_ptr.

#include <librdkafka/rdkafka.h>

#include <cstddef>
#include <memory>
#include <string_view>

namespace rostersync::kafka {

struct conf_deleter {
    void operator()(rd_kafka_conf_t* p) const noexcept { rd_kafka_conf_destroy(p); }
};
struct handle_deleter {
    void operator()(rd_kafka_t* p) const noexcept { rd_kafka_destroy(p); }
};
struct partition_list_deleter {
    void operator()(rd_kafka_topic_partition_list_t* p) const noexcept { rd_kafka_topic_partition_list_destroy(p); }
};
struct headers_deleter {
    void operator()(rd_kafka_headers_t* p) const noexcept { rd_kafka_headers_destroy(p); }
};
struct message_deleter {
    void operator()(rd_kafka_message_t* p) const noexcept { rd_kafka_message_destroy(p); }
};
struct event_deleter {
    void operator()(rd_kafka_event_t* p) const noexcept { rd_kafka_event_destroy(p); }
};
struct queue_deleter {
    void operator()(rd_kafka_queue_t* p) const noexcept { rd_kafka_queue_destroy(p); }
};

using conf_ptr = std::unique_ptr<rd_kafka_conf_t, conf_deleter>;
using handle_ptr = std::unique_ptr<rd_kafka_t, handle_deleter>;
using partition_list_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, partition_list_deleter>;
using headers_ptr = std::unique_ptr<rd_kafka_headers_t, headers_deleter>;
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;
using event_ptr = std::unique_ptr<rd_kafka_event_t, event_deleter>;
using queue_ptr = std::unique_ptr<rd_kafka_queue_t, queue_deleter>;

/// A record's key or payload as a view; empty for a null pointer (a tombstone, no key).
inline std::string_view bytes(const void* p, std::size_t n)
{
    return p == nullptr ? std::string_view{} : std::string_view(static_cast<const char*>(p), n);
}

}  // namespace rostersync::kafka
