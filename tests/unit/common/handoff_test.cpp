// handoff<T> across threads: setters on plain threads racing waiters on a multi-threaded
// io_context (the librdkafka delivery thread and getaddrinfo threads do this). Written for
// ThreadSanitizer as much as for the assertions.
#include "common/handoff.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace rostersync {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

awaitable<void> wait_into(
    std::shared_ptr<handoff<int>> h,
    steady::time_point deadline,
    std::atomic<int>* got,
    std::atomic<int>* sum,
    std::atomic<int>* timed_out
)
{
    auto v = co_await h->wait(deadline);
    if (v) {
        got->fetch_add(1);
        sum->fetch_add(*v);
    } else {
        timed_out->fetch_add(1);
    }
}

TEST(Handoff, SettersOnOtherThreadsWakeEveryWaiter)
{
    constexpr int n = 300;
    net::io_context ioc(2);
    std::vector<std::shared_ptr<handoff<int>>> hs;
    std::atomic<int> got{0}, sum{0}, timed_out{0};
    for (int i = 0; i < n; ++i) {
        auto strand = net::make_strand(ioc);
        hs.push_back(handoff<int>::create(strand));
        net::co_spawn(
            strand, wait_into(hs.back(), steady::now() + 20s, &got, &sum, &timed_out), net::detached
        );
    }
    std::vector<std::thread> runners;
    for (int t = 0; t < 2; ++t) runners.emplace_back([&] { ioc.run(); });
    // Two setters per handoff, racing each other and the waiters: the first value wins.
    std::vector<std::thread> setters;
    for (int t = 0; t < 2; ++t) {
        setters.emplace_back([&, t] {
            for (int i = 0; i < n; ++i)
                hs[static_cast<std::size_t>(t == 0 ? i : n - 1 - i)]->set(1);
        });
    }
    for (auto& s : setters) s.join();
    for (auto& r : runners) r.join();
    EXPECT_EQ(got.load(), n);
    EXPECT_EQ(sum.load(), n);
    EXPECT_EQ(timed_out.load(), 0);
}

TEST(Handoff, ValueSetBeforeTheWaitIsTaken)
{
    net::io_context ioc;
    auto h = handoff<int>::create(ioc.get_executor());
    std::thread([h] { h->set(7); }).join();
    std::atomic<int> got{0}, sum{0}, timed_out{0};
    net::co_spawn(ioc, wait_into(h, steady::now() + 5s, &got, &sum, &timed_out), net::detached);
    ioc.run();
    EXPECT_EQ(got.load(), 1);
    EXPECT_EQ(sum.load(), 7);
}

TEST(Handoff, LateSetterAfterTheDeadlineAndTheContextAreGone)
{
    std::shared_ptr<handoff<int>> h;
    std::atomic<int> got{0}, sum{0}, timed_out{0};
    {
        net::io_context ioc;
        h = handoff<int>::create(ioc.get_executor());
        net::co_spawn(
            ioc, wait_into(h, steady::now() + 5ms, &got, &sum, &timed_out), net::detached
        );
        ioc.run();
    }
    EXPECT_EQ(timed_out.load(), 1);
    // The io_context is destroyed: a setter (another thread, late) must not post to it.
    std::thread([h] { h->set(1); }).join();
    EXPECT_EQ(got.load(), 0);
}

TEST(Handoff, CancellationEndsTheWait)
{
    net::io_context ioc(2);
    auto strand = net::make_strand(ioc);
    auto h = handoff<int>::create(strand);
    net::cancellation_signal cancel;
    std::atomic<int> got{0}, sum{0}, timed_out{0};
    net::co_spawn(
        strand,
        wait_into(h, steady::now() + 1h, &got, &sum, &timed_out),
        net::bind_cancellation_slot(cancel.slot(), net::detached)
    );
    std::thread runner([&] { ioc.run(); });
    // The signal belongs to the strand: emit it there. A coroutine lets only terminal
    // cancellation through by default (the daemon emits total, then terminal).
    net::post(strand, [&] { cancel.emit(net::cancellation_type::terminal); });
    runner.join();
    EXPECT_EQ(timed_out.load(), 1);
    EXPECT_EQ(got.load(), 0);
}

}  // namespace
}  // namespace rostersync
