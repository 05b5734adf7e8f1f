#include "common/duration.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace rostersync {
namespace {

struct unit {
    std::string_view name;
    std::int64_t ms;
};

// Longest names first so that "ms" is not read as "m" followed by garbage.
constexpr std::array<unit, 5> units{{
    {"ms", 1},
    {"s", 1000},
    {"m", 60'000},
    {"h", 3'600'000},
    {"d", 86'400'000},
}};

}  // namespace

result<duration> parse_duration(std::string_view text)
{
    const auto bad = make_error_code(common::errc::invalid_argument);
    if (text.empty()) return bad;
    std::int64_t total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        std::int64_t number = 0;
        std::size_t digits = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            if (number > (std::numeric_limits<std::int64_t>::max() - 9) / 10) return bad;
            number = number * 10 + (text[i] - '0');
            ++i;
            ++digits;
        }
        if (digits == 0) return bad;
        const unit* found = nullptr;
        for (const auto& u : units) {
            if (text.substr(i, u.name.size()) == u.name) {
                found = &u;
                break;
            }
        }
        if (found == nullptr) return bad;
        i += found->name.size();
        if (number > (std::numeric_limits<std::int64_t>::max() - total) / found->ms) return bad;
        total += number * found->ms;
    }
    return duration{total};
}

std::string format_duration(duration d)
{
    auto ms = d.count();
    if (ms == 0) return "0s";
    std::string out;
    if (ms < 0) {
        out += '-';
        ms = -ms;
    }
    for (auto it = units.rbegin(); it != units.rend(); ++it) {
        if (ms >= it->ms) {
            out += std::to_string(ms / it->ms);
            out += it->name;
            ms %= it->ms;
        }
    }
    return out;
}

}  // namespace rostersync
