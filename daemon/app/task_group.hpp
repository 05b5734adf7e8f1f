#pragma once
// File: app/task_group.hpp
//
// Tracks spawned coroutines so shutdown can cancel them and wait for them (after Beast's
// server-flex-awaitable example).
//
//     net::co_spawn(ex, job(), tasks.adapt(on_done));   // registered until it completes
//     tasks.emit(net::cancellation_type::total);         // ask every child to wind down
//     co_await tasks.async_wait(nothrow);                // completes when none are left
//
// Thread safety: all members may be called from any thread.
//
// Lifetime of the signals: Asio's co_spawn forwards an emit to the coroutine's executor as a
// posted function holding a raw pointer into the signal's handler memory. A task that finishes
// before that function runs must not free its signal, so once emit() has been called, finished
// tasks' signals are kept (spliced to a retired list, no allocation) until the group is destroyed
// (after its io_context stopped running handlers). Before the first emit nothing can point at a
// signal and finished tasks free theirs at once, so a long-running group does not grow.

#include <boost/asio/append.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/consign.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <list>
#include <mutex>
#include <utility>

namespace rostersync::app {

class task_group {
public:
    explicit task_group(boost::asio::any_io_executor ex)
        : cv_(std::move(ex), boost::asio::steady_timer::time_point::max())
    {
    }
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;

    /// Wraps a completion token so the operation is tracked and can be cancelled by emit().
    template <class CompletionToken>
    auto adapt(CompletionToken&& token)
    {
        std::lock_guard lock(mutex_);
        auto it = signals_.emplace(signals_.end());
        return boost::asio::bind_cancellation_slot(
            it->slot(),
            boost::asio::consign(std::forward<CompletionToken>(token), remover{this, it})
        );
    }

    /// Emits a cancellation to every tracked operation.
    void emit(boost::asio::cancellation_type type)
    {
        std::lock_guard lock(mutex_);
        emitted_ = true;
        for (auto& s : signals_) s.emit(type);
    }

    std::size_t size() const
    {
        std::lock_guard lock(mutex_);
        return signals_.size();
    }

    /// Completes when no operation is tracked any more.
    template <class CompletionToken>
    auto async_wait(CompletionToken&& token)
    {
        return boost::asio::async_compose<CompletionToken, void(boost::system::error_code)>(
            [this, scheduled = false](auto&& self, boost::system::error_code ec = {}) mutable {
                if (!scheduled) {
                    self.reset_cancellation_state(boost::asio::enable_total_cancellation());
                }
                if (!self.cancelled() && ec == boost::asio::error::operation_aborted) ec = {};
                {
                    std::lock_guard lock(mutex_);
                    if (!signals_.empty() && !ec) {
                        scheduled = true;
                        return cv_.async_wait(std::move(self));
                    }
                }
                if (!std::exchange(scheduled, true)) {
                    return boost::asio::post(boost::asio::append(std::move(self), ec));
                }
                self.complete(ec);
            },
            token,
            cv_
        );
    }

private:
    using list = std::list<boost::asio::cancellation_signal>;

    class remover {
    public:
        remover(task_group* g, list::iterator it) : group_(g), it_(it) {}
        remover(remover&& o) noexcept : group_(std::exchange(o.group_, nullptr)), it_(o.it_) {}
        remover(const remover&) = delete;
        ~remover()
        {
            if (group_ == nullptr) return;
            std::lock_guard lock(group_->mutex_);
            if (group_->emitted_) group_->retired_.splice(group_->retired_.end(), group_->signals_, it_);
            else group_->signals_.erase(it_);
            if (group_->signals_.empty()) group_->cv_.cancel();
        }

    private:
        task_group* group_;
        list::iterator it_;
    };

    mutable std::mutex mutex_;
    boost::asio::steady_timer cv_;
    list signals_;
    list retired_;          // finished after an emit (see the header)
    bool emitted_ = false;  // emit() was called
};

}  // namespace rostersync::app
