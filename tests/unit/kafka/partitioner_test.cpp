#include "kafka/partitioner.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <bit>
#include <cstdint>
#include <random>
#include <string>

namespace rostersync::kafka {
namespace {

std::int32_t as_java_int(std::uint32_t h)
{
    return std::bit_cast<std::int32_t>(h);
}

std::int32_t librdkafka_partition(std::string_view key, std::int32_t partitions)
{
    // The murmur2 partitioner ignores the topic and both opaques.
    return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), partitions, nullptr, nullptr);
}

// Kafka's own UtilsTest.testMurmur2.
TEST(Murmur2, MatchesKafkaUtilsTest)
{
    EXPECT_EQ(as_java_int(murmur2("21")), -973932308);
    EXPECT_EQ(murmur2("21"), 0xC5F2F8ECU);  // == -973932308 (not 0xC5F26AEC, which is -973968660)
    EXPECT_EQ(as_java_int(murmur2("foobar")), -790332482);
    EXPECT_EQ(as_java_int(murmur2("a-little-bit-long-string")), -985981536);
    EXPECT_EQ(as_java_int(murmur2("a-little-bit-longer-string")), -1486304829);
    EXPECT_EQ(as_java_int(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")), -58897971);
    EXPECT_EQ(as_java_int(murmur2("abc")), 479470107);
}

TEST(Murmur2, EmptyKey)
{
    // Only the seed, length 0 and the final mix.
    std::uint32_t h = 0x9747b28cU;
    h ^= h >> 13;
    h *= 0x5bd1e995U;
    h ^= h >> 15;
    EXPECT_EQ(murmur2(""), h);
    EXPECT_EQ(murmur2(std::string_view{}), h);
    EXPECT_EQ(partition_for("", 12), librdkafka_partition(std::string{}, 12));
    EXPECT_EQ(partition_for("", 1), 0);
}

TEST(PartitionFor, KnownPartitions)
{
    EXPECT_EQ(partition_for("a", 12), 4);
    EXPECT_EQ(partition_for("hello", 12), 9);
    EXPECT_EQ(partition_for("canvas|ctx-1", 12), 8);
    EXPECT_EQ(partition_for(context_key("canvas", "ctx-1"), 12), 8);
}

TEST(PartitionFor, SinglePartitionIsZero)
{
    EXPECT_EQ(partition_for("anything", 1), 0);
    EXPECT_EQ(partition_for("\xff\xfe\x80", 1), 0);
}

TEST(PartitionFor, HighBytesAreUnsigned)
{
    // Java's `& 0xff`: bytes >= 0x80 count as 128..255 in both the blocks and the tail.
    for (std::string key : {std::string("\x80"), std::string("\xff\xff"), std::string("\xc3\xa9t\xc3\xa9"),
                            std::string("\xe2\x82\xac\xe2\x82\xac\xe2"), std::string("caf\xc3\xa9|\xf0\x9f\x98\x80")}) {
        for (std::int32_t n : {3, 12, 100}) {
            EXPECT_EQ(partition_for(key, n), librdkafka_partition(key, n)) << "n=" << n;
        }
    }
}

TEST(PartitionFor, MatchesLibrdkafkaMurmur2Partitioner)
{
    std::mt19937 rng(20240601);
    std::uniform_int_distribution<int> len_dist(0, 64);
    std::uniform_int_distribution<int> byte_dist(0, 255);
    std::uniform_int_distribution<int> ascii_dist(0x20, 0x7e);
    const std::string utf8_pieces[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xd0\x96", "|"};
    std::uniform_int_distribution<std::size_t> piece_dist(0, std::size(utf8_pieces) - 1);

    for (int i = 0; i < 10000; ++i) {
        const int len = len_dist(rng);
        std::string key;
        switch (i % 3) {
        case 0:  // arbitrary bytes, including >= 0x80 and NUL
            for (int j = 0; j < len; ++j) {
                key.push_back(static_cast<char>(byte_dist(rng)));
            }
            break;
        case 1:  // printable ASCII
            for (int j = 0; j < len; ++j) {
                key.push_back(static_cast<char>(ascii_dist(rng)));
            }
            break;
        default:  // UTF-8 mixed with ASCII
            while (key.size() < static_cast<std::size_t>(len)) {
                if (byte_dist(rng) % 2 == 0) {
                    key += utf8_pieces[piece_dist(rng)];
                } else {
                    key.push_back(static_cast<char>(ascii_dist(rng)));
                }
            }
            break;
        }
        for (std::int32_t n : {1, 3, 12, 100}) {
            const std::int32_t ours = partition_for(key, n);
            ASSERT_EQ(ours, librdkafka_partition(key, n)) << "key #" << i << " length " << key.size() << " n=" << n;
            ASSERT_GE(ours, 0);
            ASSERT_LT(ours, n);
        }
    }
}

TEST(Keys, ContextKey)
{
    EXPECT_EQ(context_key("canvas", "ctx-1"), "canvas|ctx-1");
    EXPECT_EQ(context_key("https://canvas.instructure.com", "abc123"), "https://canvas.instructure.com|abc123");
    EXPECT_EQ(context_key("", ""), "|");
}

TEST(Keys, MembershipKey)
{
    EXPECT_EQ(membership_key("canvas", "ctx-1", "user-7"), "canvas|ctx-1|user-7");
    EXPECT_EQ(membership_key("", "", ""), "||");
    // The membership key starts with its context key.
    EXPECT_TRUE(membership_key("iss", "ctx", "u").starts_with(context_key("iss", "ctx") + "|"));
}

}  // namespace
}  // namespace rostersync::kafka
