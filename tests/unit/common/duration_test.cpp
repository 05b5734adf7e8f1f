#include "common/duration.hpp"

#include <gtest/gtest.h>

namespace rostersync {
namespace {

using namespace std::chrono_literals;

struct good_case {
    const char* text;
    duration expected;
};

class DurationGood : public testing::TestWithParam<good_case> {};

TEST_P(DurationGood, Parses)
{
    auto r = parse_duration(GetParam().text);
    ASSERT_TRUE(r) << GetParam().text;
    EXPECT_EQ(*r, GetParam().expected);
    // and the canonical spelling reads back to the same value
    EXPECT_EQ(*parse_duration(format_duration(*r)), *r);
}

INSTANTIATE_TEST_SUITE_P(All, DurationGood, testing::Values(
    good_case{"500ms", 500ms}, good_case{"90s", 90s}, good_case{"10m", 10min},
    good_case{"24h", 24h}, good_case{"180d", 180 * 24h}, good_case{"1h30m", 90min},
    good_case{"1m30s250ms", 90250ms}, good_case{"0s", 0ms}));

class DurationBad : public testing::TestWithParam<const char*> {};

TEST_P(DurationBad, Rejected)
{
    EXPECT_FALSE(parse_duration(GetParam())) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(All, DurationBad, testing::Values(
    "", "10", "m", "10 m", "-5s", "5x", "1.5h", "10M", "h10", "99999999999999999999d", "10ms5"));

TEST(Duration, FormatsShortest)
{
    EXPECT_EQ(format_duration(90min), "1h30m");
    EXPECT_EQ(format_duration(1500ms), "1s500ms");
    EXPECT_EQ(format_duration(48h), "2d");
    EXPECT_EQ(format_duration(0ms), "0s");
}

}  // namespace
}  // namespace rostersync
