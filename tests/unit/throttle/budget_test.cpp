// The awaitable budget on a single-threaded io_context with real (short) timers.
#include "throttle/budget.hpp"

#include "support/prom_text.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <vector>

namespace rostersync::throttle {
namespace {

using namespace std::chrono_literals;

TEST(Budget, InFlightCapQueuesFirstComeFirstServed)
{
    net::io_context ioc;
    budget b({.name = "b", .params = {.max_in_flight = 2, .requests_per_second = 10000}});
    std::vector<int> order;
    std::vector<permit> held;
    for (int i = 0; i < 4; ++i) {
        net::co_spawn(ioc, [&, i]() -> awaitable<void> {
            auto p = co_await b.acquire();
            EXPECT_TRUE(p);
            order.push_back(i);
            held.push_back(std::move(*p));
        }, net::detached);
    }
    ioc.run_for(50ms);
    EXPECT_EQ(order, (std::vector<int>{0, 1}));
    EXPECT_EQ(b.state().waiting, 2u);
    held[0].finish(std::nullopt);
    ioc.run_for(50ms);
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
    held[1].finish(std::nullopt);
    held[2].finish(std::nullopt);
    ioc.run();  // everything completes: nothing may hang
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(b.state().admitted, 4);
}

TEST(Budget, WaitExceededIsAnErrorNotAPermit)
{
    net::io_context ioc;
    budget b({.name = "b", .params = {.max_in_flight = 1, .requests_per_second = 10000}, .max_wait = 30ms});
    permit first;
    error_code second_error;
    net::co_spawn(ioc, [&]() -> awaitable<void> {
        auto p = co_await b.acquire();
        first = std::move(*p);
        auto q = co_await b.acquire();
        second_error = q ? error_code{} : q.error();
    }, net::detached);
    ioc.run();
    EXPECT_EQ(second_error, make_error_code(errc::wait_exceeded));
    EXPECT_TRUE(is_retryable(second_error));
}

TEST(Budget, RejectionPausesEveryone)
{
    net::io_context ioc;
    budget b({.name = "b", .params = {.max_in_flight = 4, .reserve = 0, .requests_per_second = 10000}});
    std::chrono::steady_clock::time_point admitted_at;
    auto t0 = std::chrono::steady_clock::now();
    net::co_spawn(ioc, [&]() -> awaitable<void> {
        auto p = co_await b.acquire();
        p->rejected(200ms);
        auto q = co_await b.acquire();
        EXPECT_TRUE(q);
        admitted_at = std::chrono::steady_clock::now();
        q->finish(500.0);
    }, net::detached);
    ioc.run();
    EXPECT_GE(admitted_at - t0, 200ms);
    EXPECT_EQ(b.state().rejections, 1);
    EXPECT_EQ(b.state().remaining, 500.0);
}

TEST(Budget, StateShowsTheCapAndWhatIsLeftOfAPause)
{
    budget b({.name = "b", .params = {.max_in_flight = 6, .reserve = 0, .requests_per_second = 10000, .share = 0.5}});
    EXPECT_EQ(b.state().max_in_flight, 3);  // max_in_flight × share
    EXPECT_FALSE(b.state().paused_for);
    EXPECT_FALSE(b.state().remaining);
    net::io_context ioc;
    auto reject = [&]() -> awaitable<void> {
        auto p = co_await b.acquire();
        EXPECT_EQ(b.state().in_flight, 1);
        p->rejected(std::chrono::seconds(60));
    };
    net::co_spawn(ioc, reject, net::detached);
    ioc.run();
    const auto s = b.state();
    EXPECT_EQ(s.in_flight, 0);
    ASSERT_TRUE(s.paused_for);
    EXPECT_GT(*s.paused_for, 59s);
    EXPECT_LE(*s.paused_for, 60s);
    EXPECT_EQ(s.remaining, 0.0);  // a rejection sets the allowance to 0
}

TEST(Budget, WithoutFeedbackALowAllowanceDoesNotHoldRequests)
{
    net::io_context ioc;
    budget_params params{.max_in_flight = 2, .reserve = 300, .requests_per_second = 10000};
    budget b({.name = "b", .params = params});
    params.feedback = false;  // what benchmarks/e2e/naive_driver.cpp does through engine::budget_for
    b.update(params, std::chrono::minutes(10), 0.2);
    int admitted = 0;
    net::co_spawn(ioc, [&]() -> awaitable<void> {
        for (int i = 0; i < 3; ++i) {
            auto p = co_await b.acquire();
            EXPECT_TRUE(p);
            ++admitted;
            p->finish(0.0);  // the platform reports nothing left; with feedback the next would wait 36 s
        }
    }, net::detached);
    ioc.run_for(500ms);
    EXPECT_EQ(admitted, 3);
    EXPECT_EQ(b.state().remaining, 0.0);  // the report is still recorded
}

TEST(Budget, PeriodicWorkGetsItsShareWhileFreshWorkWaits)
{
    net::io_context ioc;
    budget b({.name = "b", .params = {.max_in_flight = 1, .requests_per_second = 100000}, .resync_share = 0.5});
    std::vector<char> order;
    permit gate;
    net::co_spawn(ioc, [&]() -> awaitable<void> { gate = std::move(*co_await b.acquire()); }, net::detached);
    ioc.run();  // out of work: the io_context stops until restart()
    ioc.restart();
    for (int i = 0; i < 4; ++i) {
        for (auto [cls, tag] : {std::pair{priority::fresh, 'f'}, std::pair{priority::periodic, 'p'}}) {
            net::co_spawn(ioc, [&, cls, tag]() -> awaitable<void> {
                auto p = co_await b.acquire(cls);
                order.push_back(tag);
                p->finish(std::nullopt);
            }, net::detached);
        }
    }
    ioc.run_for(10ms);
    gate.finish(std::nullopt);
    ioc.run();
    ASSERT_EQ(order.size(), 8u);
    // Of the first four admissions at least two are periodic (share 0.5), and fresh goes first.
    EXPECT_EQ(std::count(order.begin(), order.begin() + 4, 'p'), 2);
}

TEST(Budget, CancellationEndsTheWait)
{
    net::io_context ioc;
    budget b({.name = "b", .params = {.max_in_flight = 1, .requests_per_second = 10000}});
    permit held = [&] {
        permit p;
        net::co_spawn(ioc, [&]() -> awaitable<void> { p = std::move(*co_await b.acquire()); }, net::detached);
        ioc.run();
        ioc.restart();
        return p;
    }();
    net::cancellation_signal cancel;
    error_code result;
    net::co_spawn(ioc, [&]() -> awaitable<void> {
        auto p = co_await b.acquire();
        result = p ? error_code{} : p.error();
    }, net::bind_cancellation_slot(cancel.slot(), net::detached));
    ioc.run_for(20ms);
    cancel.emit(net::cancellation_type::terminal);
    ioc.run();
    EXPECT_EQ(result, make_error_code(errc::cancelled));
    EXPECT_EQ(b.state().waiting, 0u);
}

TEST(Budget, MetricsFollowTheState)
{
    net::io_context ioc;
    metrics::registry reg;
    budget_metrics m(reg);
    budget b({.name = "canvas", .params = {.max_in_flight = 2, .requests_per_second = 10000}}, &m);
    net::co_spawn(ioc, [&]() -> awaitable<void> {
        auto p = co_await b.acquire();
        p->finish(321.0);
        auto q = co_await b.acquire();
        q->rejected(1ms);
    }, net::detached);
    ioc.run();
    std::string error;
    auto doc = test::parse_prom_text(reg.serialize_text(), error);
    ASSERT_TRUE(error.empty()) << error;
    EXPECT_EQ(doc.value("rostersync_budget_admitted_total", {{"budget", "canvas"}}), 2.0);
    EXPECT_EQ(doc.value("rostersync_budget_rejections_total", {{"budget", "canvas"}}), 1.0);
    EXPECT_EQ(doc.value("rostersync_budget_in_flight", {{"budget", "canvas"}}), 0.0);
    EXPECT_EQ(doc.value("rostersync_budget_wait_seconds_count", {{"budget", "canvas"}}), 2.0);
}

}  // namespace
}  // namespace rostersync::throttle
