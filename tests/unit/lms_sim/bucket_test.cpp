#include "lms_sim/canvas_bucket.hpp"

#include <gtest/gtest.h>

namespace rostersync::lms_sim {
namespace {

TEST(CanvasBucket, ParallelBurstIsRejectedAtTheHighWaterMark)
{
    canvas_bucket b;  // hwm 600, up-front 50
    int admitted = 0;
    while (b.admit(0.0)) ++admitted;
    // 11 requests in flight hold 550; the 12th takes the count to 600 = hwm and is rejected.
    EXPECT_EQ(admitted, 11);
    EXPECT_EQ(b.rejected(), 1);
    EXPECT_DOUBLE_EQ(b.remaining(), 0.0);
}

TEST(CanvasBucket, SequentialClientBelowTheOutflowIsNeverRejected)
{
    canvas_bucket b;
    double now = 0;
    for (int i = 0; i < 10000; ++i) {
        ASSERT_TRUE(b.admit(now)) << "request " << i;
        now += 0.4;                  // the request takes 0.4 s of server time
        double remaining = b.finish(now, 0.4);
        EXPECT_GT(remaining, 500.0);
        now += 0.1;
    }
    EXPECT_EQ(b.rejected(), 0);
}

TEST(CanvasBucket, CostAccumulatesAndDrainsAtTheOutflow)
{
    canvas_bucket b({.hwm = 600, .maximum = 800, .outflow = 10, .up_front = 50});
    ASSERT_TRUE(b.admit(0));
    EXPECT_DOUBLE_EQ(b.count(), 50);
    EXPECT_DOUBLE_EQ(b.finish(0, 300), 300);  // refund 50, keep the real cost 300
    EXPECT_DOUBLE_EQ(b.count(), 300);
    b.charge(0, 200);                          // a token request sharing the bucket
    EXPECT_DOUBLE_EQ(b.count(), 500);
    ASSERT_TRUE(b.admit(10));                  // 10 s drained 100, then +50
    EXPECT_DOUBLE_EQ(b.count(), 450);
    EXPECT_DOUBLE_EQ(b.finish(100, 0), 600);   // long drain empties it, cost 0 refunds the charge
    EXPECT_DOUBLE_EQ(b.count(), 0);
}

TEST(CanvasBucket, CountNeverExceedsTheMaximum)
{
    canvas_bucket b({.hwm = 600, .maximum = 800, .outflow = 10, .up_front = 50});
    b.charge(0, 5000);
    EXPECT_DOUBLE_EQ(b.count(), 800);
    EXPECT_FALSE(b.admit(0));
}

TEST(RubyFloat, FormatsLikeFloatToS)
{
    EXPECT_EQ(ruby_float(0.0), "0.0");
    EXPECT_EQ(ruby_float(600.0), "600.0");
    EXPECT_EQ(ruby_float(599.93), "599.93");
    EXPECT_EQ(ruby_float(12.5), "12.5");
}

}  // namespace
}  // namespace rostersync::lms_sim
