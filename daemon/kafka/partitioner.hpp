#pragma once
// File: kafka/partitioner.hpp
//
// Kafka's standard key partitioning (the Java client's DefaultPartitioner):
//
//     partition = (murmur2(key_bytes) & 0x7fffffff) % partitions
//
// The daemon computes partitions itself and produces to an explicit partition, because
// librdkafka's default partitioner (consistent_random, CRC32) places keys differently from the
// Java clients and Kafka Streams; computing it here keeps placement identical across clients.
//
// Every topic is partitioned by the context key "<issuer>|<context_id>", not by the record key
// (e.g. a membership record keyed "<issuer>|<context_id>|<user_id>" still goes to the partition of
// its context), so all records of one context land on one partition, in order.
//
// Pure and thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

namespace rostersync::kafka {

/// Kafka's Utils.murmur2 over the key's bytes, as unsigned (Java's int result reinterpreted).
std::uint32_t murmur2(std::string_view key) noexcept;

/// toPositive(murmur2(key)) % partitions, as the Java DefaultPartitioner. Requires partitions >= 1.
std::int32_t partition_for(std::string_view key, std::int32_t partitions) noexcept;

/// The partitioning key of a context: "<issuer>|<context_id>".
std::string context_key(std::string_view issuer, std::string_view context_id);

/// The record key of a membership: "<issuer>|<context_id>|<user_id>".
std::string membership_key(std::string_view issuer, std::string_view context_id, std::string_view user_id);

}  // namespace rostersync::kafka
