#pragma once
// File: common/handoff.hpp
//
// A value handed from another thread (librdkafka's delivery thread, a getaddrinfo thread) to a
// coroutine waiting for it, with a deadline.
//
//     auto h = handoff<delivery>::create(co_await net::this_coro::executor);
//     start_work([h](delivery d) { h->set(std::move(d)); });   // any thread
//     std::optional<delivery> d = co_await h->wait(deadline);  // nullopt: deadline passed
//
// The setter wakes the coroutine through a posted handler that holds only a weak reference to
// the timer (the waiting frame owns it), and posts only while the coroutine is still waiting —
// a guard clears that even when the frame is destroyed — so a late setter never touches a
// finished io_context. Thread-safe; wait() once, from the executor given to create().

#include "common/asio.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>

namespace rostersync {

template <class T>
class handoff : public std::enable_shared_from_this<handoff<T>> {
public:
    static std::shared_ptr<handoff> create(net::any_io_executor ex)
    {
        return std::shared_ptr<handoff>(new handoff(std::move(ex)));
    }

    /// Stores the value (the first one wins) and wakes the waiter.
    void set(T value)
    {
        std::lock_guard lock(mutex_);
        if (value_) return;
        value_ = std::move(value);
        if (waiting_) {
            net::post(ex_, [w = timer_] {
                if (auto t = w.lock()) t->cancel();
            });
        }
    }

    /// The value, or nullopt once `deadline` passed or the wait was cancelled. Re-checks every
    /// second, should a wake-up race the wait.
    awaitable<std::optional<T>> wait(std::chrono::steady_clock::time_point deadline)
    {
        auto timer = std::make_shared<net::steady_timer>(ex_);
        struct guard {
            std::shared_ptr<handoff> self;
            ~guard()
            {
                std::lock_guard lock(self->mutex_);
                self->waiting_ = false;
            }
        } g{this->shared_from_this()};
        {
            std::lock_guard lock(mutex_);
            timer_ = timer;
            waiting_ = true;
        }
        for (;;) {
            {
                std::lock_guard lock(mutex_);
                if (value_) co_return std::move(value_);  // one waiter: it takes the value
            }
            auto now = std::chrono::steady_clock::now();
            if (now >= deadline) co_return std::nullopt;
            timer->expires_at(std::min(deadline, now + std::chrono::seconds(1)));
            co_await timer->async_wait(nothrow);
            auto cs = co_await net::this_coro::cancellation_state;
            if (cs.cancelled() != net::cancellation_type::none) co_return std::nullopt;
        }
    }

private:
    explicit handoff(net::any_io_executor ex) : ex_(std::move(ex)) {}

    std::mutex mutex_;
    net::any_io_executor ex_;
    std::weak_ptr<net::steady_timer> timer_;
    std::optional<T> value_;
    bool waiting_ = false;
};

}  // namespace rostersync
