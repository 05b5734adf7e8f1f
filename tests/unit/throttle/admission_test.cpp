#include "throttle/admission.hpp"

#include "support/manual_clock.hpp"

#include <gtest/gtest.h>

namespace rostersync::throttle {
namespace {

using test::manual_clock;
using namespace std::chrono_literals;
using adm = admission<manual_clock>;

manual_clock::time_point at(double seconds)
{
    return manual_clock::time_point{} + std::chrono::duration_cast<manual_clock::duration>(std::chrono::duration<double>(seconds));
}

TEST(Admission, InFlightCapAndShare)
{
    adm a({.max_in_flight = 3, .requests_per_second = 1000});
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(a.decide(at(i)).admit);
        a.on_start(at(i));
    }
    auto d = a.decide(at(10));
    EXPECT_FALSE(d.admit);
    EXPECT_FALSE(d.retry_at);  // only a finishing request helps
    a.on_finish(at(10), std::nullopt);
    EXPECT_TRUE(a.decide(at(10)).admit);
    a.set_share(0.5);  // an instance owning half the partitions gets half the cap (at least 1)
    EXPECT_EQ(a.cap(), 1);
    a.set_share(0.01);
    EXPECT_EQ(a.cap(), 1);
}

TEST(Admission, PacesAtTheRateCeiling)
{
    adm a({.max_in_flight = 100, .requests_per_second = 4});
    a.on_start(at(0));
    a.on_finish(at(0), std::nullopt);
    auto d = a.decide(at(0.1));
    EXPECT_FALSE(d.admit);
    ASSERT_TRUE(d.retry_at);
    EXPECT_EQ(*d.retry_at, at(0.25));
    EXPECT_TRUE(a.decide(at(0.25)).admit);
}

TEST(Admission, RemainingMinusReserveMustCoverUpFrontForEveryRequestInFlight)
{
    // reserve 300, up-front 50, margin 10: one request needs 360, two 410, three 460.
    adm a({.max_in_flight = 10, .reserve = 300, .requests_per_second = 100, .up_front = 50, .margin = 10,
           .refill_per_second = 10});
    a.on_start(at(0));
    a.on_finish(at(0), 420.0);
    EXPECT_TRUE(a.decide(at(0.01)).admit);   // 420.1 >= 360
    a.on_start(at(0.01));
    EXPECT_TRUE(a.decide(at(0.02)).admit);   // 420.2 >= 410
    a.on_start(at(0.02));
    auto d = a.decide(at(0.03));             // 460 is more than the bucket ever offered (420):
    EXPECT_FALSE(d.admit);                   // only a finishing request can help
    EXPECT_FALSE(d.retry_at);
    EXPECT_FALSE(a.decide(at(10)).admit);
    a.on_finish(at(10), 500.0);              // one finished and reported more room
    EXPECT_TRUE(a.decide(at(10)).admit);     // 500 >= 410 for two in flight
}

TEST(Admission, LowAllowanceWaitsForTheRefill)
{
    adm a({.max_in_flight = 4, .reserve = 300, .requests_per_second = 1000, .refill_per_second = 10});
    a.on_start(at(0));
    a.on_finish(at(1), 100.0);  // need 360: 26 s of drain
    auto d = a.decide(at(1));
    ASSERT_TRUE(d.retry_at);
    EXPECT_EQ(*d.retry_at, at(27));
    EXPECT_FALSE(a.decide(at(26.9)).admit);
    EXPECT_TRUE(a.decide(at(27)).admit);
}

TEST(Admission, RejectionPausesForRetryAfterOrTheDefault)
{
    adm a({.max_in_flight = 4, .reserve = 0, .requests_per_second = 1000, .refill_per_second = 10,
           .default_pause = 5000ms});
    a.on_start(at(0));
    a.on_rejected(at(1), std::chrono::duration_cast<manual_clock::duration>(7s));
    EXPECT_EQ(a.rejections(), 1);
    EXPECT_EQ(a.in_flight(), 0);
    auto d = a.decide(at(2));
    EXPECT_FALSE(d.admit);
    EXPECT_EQ(*d.retry_at, at(8));
    // After the pause the allowance estimate is 0 + 10 × 7 = 70 >= 60: admitted.
    EXPECT_TRUE(a.decide(at(8)).admit);
    a.on_start(at(8));
    a.on_rejected(at(9), std::nullopt);
    EXPECT_EQ(*a.decide(at(9)).retry_at, at(14));
}

TEST(Admission, IdleRefillNeverExceedsTheLargestReport)
{
    // After a long idle the estimate stops at the largest remaining ever reported (600 here),
    // so four requests may start (300 + 50 × 4 + 10 = 510 ≤ 600) but not a fifth (560 + 50 > 600).
    adm a({.max_in_flight = 10, .reserve = 300, .requests_per_second = 1000, .up_front = 50, .margin = 10,
           .refill_per_second = 10});
    a.on_start(at(0));
    a.on_finish(at(0), 600.0);
    a.on_start(at(1));
    a.on_finish(at(1), 590.0);
    double t = 1000;  // a long idle
    int started = 0;
    while (a.decide(at(t)).admit) {
        a.on_start(at(t));
        ++started;
        t += 0.01;
    }
    EXPECT_EQ(started, 5);  // 600 ≥ 300 + 50 × 5 + 10 = 560; the sixth would need 610
}

TEST(Admission, WithoutHeadersOnlyCapAndPaceApply)
{
    adm a({.max_in_flight = 2, .reserve = 300, .requests_per_second = 10});
    EXPECT_FALSE(a.remaining());
    EXPECT_TRUE(a.decide(at(0)).admit);
    a.on_start(at(0));
    a.on_finish(at(0.05), std::nullopt);
    EXPECT_FALSE(a.decide(at(0.05)).admit);
    EXPECT_TRUE(a.decide(at(0.1)).admit);
}

// feedback = false (the benchmarks' naive strategies): a reported allowance is recorded but
// never consulted, so only the in-flight cap, the pace and a rejection's pause decide.
TEST(Admission, WithoutFeedbackTheReportedAllowanceIsIgnored)
{
    adm a({.max_in_flight = 3, .reserve = 300, .requests_per_second = 1000, .refill_per_second = 10,
           .default_pause = 5000ms, .feedback = false});
    a.on_start(at(0));
    a.on_finish(at(0), 0.0);  // the platform says "nothing left"
    ASSERT_TRUE(a.remaining());
    EXPECT_EQ(*a.remaining(), 0.0);
    for (int i = 0; i < 3; ++i) {
        auto d = a.decide(at(0.01 * (i + 1)));
        ASSERT_TRUE(d.admit) << i;  // with feedback this would wait 36 s for the refill
        a.on_start(at(0.01 * (i + 1)));
    }
    EXPECT_FALSE(a.decide(at(1)).admit);  // the cap still holds
    EXPECT_FALSE(a.decide(at(1)).retry_at);
    a.on_rejected(at(1), std::nullopt);   // a rejection still pauses, for the default 5 s
    auto d = a.decide(at(2));
    EXPECT_FALSE(d.admit);
    EXPECT_EQ(*d.retry_at, at(6));
    EXPECT_TRUE(a.decide(at(6)).admit);   // and then the allowance (0) is ignored again

    // The same reports with feedback on: the allowance decides.
    adm b({.max_in_flight = 3, .reserve = 300, .requests_per_second = 1000, .refill_per_second = 10});
    b.on_start(at(0));
    b.on_finish(at(0), 0.0);
    EXPECT_FALSE(b.decide(at(0.01)).admit);
}

// Sixteen requests in flight without feedback against Canvas's bucket (up-front 50 each, so the
// 12th in flight reaches the high-water mark of 600) are rejected; with feedback, never.
TEST(Admission, WithoutFeedbackSixteenInFlightTripCanvasBucket)
{
    for (bool feedback : {false, true}) {
        adm a({.max_in_flight = 16, .reserve = 0, .requests_per_second = 1000, .up_front = 50, .margin = 10,
               .refill_per_second = 10, .feedback = feedback});
        double bucket = 0;  // no drain within the burst: it lasts 0.16 s
        int rejected = 0;
        a.on_start(at(0));
        a.on_finish(at(0), 600.0);  // a first report: the bucket is empty
        for (int i = 0; i < 16; ++i) {
            const double now = 0.01 * (i + 1);
            if (!a.decide(at(now)).admit) break;
            bucket += 50;
            if (bucket >= 600) {
                bucket -= 50;  // Canvas keeps the charge; the model does not matter past here
                ++rejected;
                a.on_start(at(now));
                a.on_rejected(at(now), std::nullopt);
                break;
            }
            a.on_start(at(now));
        }
        if (feedback)
            EXPECT_EQ(rejected, 0);
        else
            EXPECT_EQ(rejected, 1);  // the 12th request
    }
}

// A sequential client following the rule against Canvas's default bucket never gets rejected
// and runs close to the drain rate: the rule's steady state.
TEST(Admission, SteadyStateAgainstACanvasBucketModel)
{
    adm a({.max_in_flight = 4, .reserve = 300, .requests_per_second = 1000, .up_front = 50, .margin = 10,
           .refill_per_second = 10});
    double bucket = 0, last = 0, now = 0;
    const double cost = 2.0;  // units per request: the drain allows 5 requests/s
    int done = 0;
    while (now < 600) {
        auto d = a.decide(at(now));
        if (!d.admit) {
            now = d.retry_at ? std::chrono::duration<double>(d.retry_at->time_since_epoch()).count() : now + 0.01;
            continue;
        }
        bucket = std::max(0.0, bucket - 10 * (now - last));
        last = now;
        bucket += 50;
        ASSERT_LT(bucket, 600) << "the platform would reject at t=" << now;
        a.on_start(at(now));
        now += 0.2;  // server time
        bucket = std::max(0.0, bucket - 10 * (now - last));
        last = now;
        bucket += cost - 50;
        a.on_finish(at(now), 600 - bucket);
        ++done;
    }
    EXPECT_GT(done, 2500);  // near the 3000 a request every 0.2 s allows
}

}  // namespace
}  // namespace rostersync::throttle
