// app::task_group across threads: coroutines on strands of a multi-threaded io_context register,
// finish and are cancelled while another coroutine waits for the group to empty (the daemon's
// shutdown). Written for ThreadSanitizer as much as for the assertions.
#include "app/task_group.hpp"

#include "common/asio.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <exception>
#include <thread>
#include <vector>

namespace rostersync::app {
namespace {

using namespace std::chrono_literals;

struct counters {
    std::atomic<int> waiting{0};
    std::atomic<int> cancelled{0};
    std::atomic<int> finished{0};
    std::atomic<bool> empty{false};
};

awaitable<void> sleeper(std::chrono::milliseconds d, counters* c)
{
    net::steady_timer t(co_await net::this_coro::executor, d);
    // Counted in the same strand handler that starts the wait: a cancellation posted to the
    // strand after this is seen.
    c->waiting.fetch_add(1);
    auto [ec] = co_await t.async_wait(nothrow);
    if (ec == net::error::operation_aborted) c->cancelled.fetch_add(1);
}

awaitable<void> wait_empty(task_group* g, counters* c)
{
    co_await g->async_wait(nothrow);
    c->empty.store(true);
}

/// Once all `n` tasks wait, emits total (coroutines let only terminal through by default, so
/// the sleepers go on) and then terminal, once, as the daemon's shutdown does.
awaitable<void> emit_once_all_wait(task_group* g, counters* c, int n)
{
    net::steady_timer t(co_await net::this_coro::executor);
    while (c->waiting.load() < n) {
        t.expires_after(1ms);
        co_await t.async_wait(nothrow);
    }
    g->emit(net::cancellation_type::total);
    g->emit(net::cancellation_type::terminal);
}

/// Emits every millisecond until the group is empty, racing tasks that finish.
awaitable<void> emit_until_empty(task_group* g, counters* c)
{
    net::steady_timer t(co_await net::this_coro::executor);
    while (!c->empty.load()) {
        g->emit(net::cancellation_type::terminal);
        t.expires_after(1ms);
        co_await t.async_wait(nothrow);
    }
}

void run_on_two_threads(net::io_context& ioc)
{
    std::vector<std::thread> runners;
    for (int t = 0; t < 2; ++t) runners.emplace_back([&] { ioc.run(); });
    for (auto& r : runners) r.join();
}

/// Spawns `n` sleepers, each on a strand of its own and tracked by `tasks`; sleeper i sleeps
/// `duration(i)`. Each counts itself finished (without an exception) when it completes.
template <class Duration>
void spawn_sleepers(net::io_context& ioc, task_group& tasks, counters& c, int n, Duration duration)
{
    for (int i = 0; i < n; ++i) {
        auto done = tasks.adapt([&c](std::exception_ptr e) {
            EXPECT_FALSE(e);
            c.finished.fetch_add(1);
        });
        net::co_spawn(net::make_strand(ioc), sleeper(duration(i), &c), std::move(done));
    }
}

TEST(TaskGroup, TracksTasksFinishingOnManyThreads)
{
    constexpr int n = 400;
    net::io_context ioc(2);
    task_group tasks(ioc.get_executor());
    counters c;
    spawn_sleepers(ioc, tasks, c, n, [](int i) { return std::chrono::milliseconds(i % 7); });
    EXPECT_EQ(tasks.size(), static_cast<std::size_t>(n));
    net::co_spawn(ioc, wait_empty(&tasks, &c), net::detached);
    run_on_two_threads(ioc);
    EXPECT_TRUE(c.empty.load());
    EXPECT_EQ(c.finished.load(), n);
    EXPECT_EQ(c.cancelled.load(), 0);
    EXPECT_EQ(tasks.size(), 0u);
}

TEST(TaskGroup, EmitFromAnotherThreadCancelsEveryTask)
{
    constexpr int n = 200;
    net::io_context ioc(2);
    task_group tasks(ioc.get_executor());
    counters c;
    spawn_sleepers(ioc, tasks, c, n, [](int) { return std::chrono::milliseconds(1h); });
    net::co_spawn(ioc, wait_empty(&tasks, &c), net::detached);
    net::co_spawn(ioc, emit_once_all_wait(&tasks, &c, n), net::detached);
    run_on_two_threads(ioc);
    EXPECT_TRUE(c.empty.load());
    EXPECT_EQ(c.finished.load(), n);
    EXPECT_EQ(c.cancelled.load(), n);
}

// Emits racing tasks that are finishing (in the daemon: shutdown_grace ending as a task winds
// down after the total emit). Asio 1.26's co_spawn cancellation handler forwards an emit to the
// coroutine's executor as a posted function holding a raw pointer into the task's signal; the
// group keeps finished tasks' signals once it has emitted, so that function never emits through
// freed memory (ASan reported it within a few hundred runs before; run with --gtest_repeat).
TEST(TaskGroup, EmitRacingFinishingTasks)
{
    constexpr int n = 200;
    net::io_context ioc(2);
    task_group tasks(ioc.get_executor());
    counters c;
    spawn_sleepers(ioc, tasks, c, n, [](int i) { return std::chrono::milliseconds(i % 5); });
    net::co_spawn(ioc, wait_empty(&tasks, &c), net::detached);
    net::co_spawn(ioc, emit_until_empty(&tasks, &c), net::detached);
    run_on_two_threads(ioc);
    EXPECT_EQ(c.finished.load(), n);
}

}  // namespace
}  // namespace rostersync::app
