#include "kafka/partitioner.hpp"

#include <cassert>

namespace rostersync::kafka {

namespace {

constexpr std::uint32_t seed = 0x9747b28cU;
constexpr std::uint32_t m = 0x5bd1e995U;
constexpr int r = 24;

// Java's `data[i] & 0xff`: the byte's value as unsigned, whatever the signedness of char.
constexpr std::uint32_t byte_at(std::string_view s, std::size_t i) noexcept
{
    return static_cast<std::uint32_t>(static_cast<unsigned char>(s[i]));
}

}  // namespace

// A transcription of org.apache.kafka.common.utils.Utils.murmur2 in unsigned 32-bit arithmetic:
// Java's int multiplication and shifts wrap modulo 2^32, and `>>>` is a logical shift, which is
// exactly what uint32_t does, so the bits are identical.
std::uint32_t murmur2(std::string_view data) noexcept
{
    const std::size_t length = data.size();
    // Java: int h = seed ^ length (a byte[] length fits in an int).
    std::uint32_t h = seed ^ static_cast<std::uint32_t>(length);
    const std::size_t length4 = length / 4;

    for (std::size_t i = 0; i < length4; ++i) {
        const std::size_t i4 = i * 4;
        std::uint32_t k = byte_at(data, i4 + 0) + (byte_at(data, i4 + 1) << 8) + (byte_at(data, i4 + 2) << 16) +
                          (byte_at(data, i4 + 3) << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }

    const std::size_t tail = length & ~std::size_t{3};
    switch (length % 4) {
    case 3:
        h ^= byte_at(data, tail + 2) << 16;
        [[fallthrough]];
    case 2:
        h ^= byte_at(data, tail + 1) << 8;
        [[fallthrough]];
    case 1:
        h ^= byte_at(data, tail);
        h *= m;
        break;
    default:
        break;
    }

    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

std::int32_t partition_for(std::string_view key, std::int32_t partitions) noexcept
{
    assert(partitions >= 1);
    const std::uint32_t positive = murmur2(key) & 0x7fffffffU;
    return static_cast<std::int32_t>(positive % static_cast<std::uint32_t>(partitions));
}

std::string context_key(std::string_view issuer, std::string_view context_id)
{
    std::string out;
    out.reserve(issuer.size() + 1 + context_id.size());
    out.append(issuer).append(1, '|').append(context_id);
    return out;
}

std::string membership_key(std::string_view issuer, std::string_view context_id, std::string_view user_id)
{
    std::string out;
    out.reserve(issuer.size() + context_id.size() + user_id.size() + 2);
    out.append(issuer).append(1, '|').append(context_id).append(1, '|').append(user_id);
    return out;
}

}  // namespace rostersync::kafka
