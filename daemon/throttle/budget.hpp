#pragma once
// File: throttle/budget.hpp
//
// A throttle budget shared by every pass that talks to one platform bucket: requests wait in
// acquire() until admission (throttle/admission.hpp) allows them, then report how they ended so
// the budget learns the platform's remaining allowance.
//
//     auto p = co_await budget.acquire(throttle::priority::fresh);
//     if (!p) co_return p.error();                 // throttle::errc::wait_exceeded after max_wait
//     auto res = co_await client.request(...);
//     p->finish(res.rate_limit_remaining());       // or p->rejected(retry_after) on 429 / 403 RLE
//
// Fairness: waiters are served first come, first served within a class; `fresh` (launch
// triggered) goes before `periodic` (resyncs) except that periodic requests get at least
// `resync_share` of the admissions while both wait, so launch storms cannot starve resyncs.
//
// Threads: every member may be called from any thread (a mutex guards the state; waiters are
// woken through their own executors). A permit must not outlive its budget. Cancelling an
// acquire (total or terminal) ends it with throttle::errc::cancelled.

#include "common/asio.hpp"
#include "common/error.hpp"
#include "metrics/registry.hpp"
#include "throttle/admission.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace rostersync::throttle {

enum class errc {
    wait_exceeded = 1,  ///< max_wait passed before admission
    cancelled,          ///< the acquire was cancelled (shutdown)
};
const error_category& category() noexcept;
inline error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

enum class priority { fresh, periodic };

struct budget_options {
    std::string name;
    budget_params params;
    std::chrono::milliseconds max_wait{std::chrono::minutes(10)};
    double resync_share = 0.2;
};

class budget;

/// The metric families of every budget (one set per registry), labelled by budget name.
struct budget_metrics {
    explicit budget_metrics(metrics::registry& r);
    metrics::family<prometheus::Counter>& admitted;
    metrics::family<prometheus::Counter>& rejections;
    metrics::family<prometheus::Counter>& wait_exceeded;
    metrics::family<prometheus::Gauge>& in_flight;
    metrics::family<prometheus::Gauge>& remaining;
    metrics::family<prometheus::Gauge>& waiting;
    metrics::family<prometheus::Histogram>& wait_seconds;
};

/// The right to one request in flight. Report exactly one outcome; a permit dropped without one
/// counts as aborted.
class permit {
public:
    permit() = default;
    permit(permit&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), waited_(o.waited_) {}
    permit& operator=(permit&& o) noexcept;
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;
    ~permit();

    /// The request got a response; `remaining` from X-Rate-Limit-Remaining when sent.
    void finish(std::optional<double> remaining);
    /// The platform's throttle rejected it (429, or 403 "Rate Limit Exceeded").
    void rejected(std::optional<std::chrono::milliseconds> retry_after);
    /// How long acquire() waited for this permit.
    std::chrono::milliseconds waited() const { return waited_; }

private:
    friend class budget;
    permit(budget* b, std::chrono::milliseconds waited) : owner_(b), waited_(waited) {}
    budget* owner_ = nullptr;
    std::chrono::milliseconds waited_{0};
};

class budget {
public:
    budget(budget_options opts, budget_metrics* metrics = nullptr);
    budget(const budget&) = delete;
    budget& operator=(const budget&) = delete;

    /// Waits for admission; the coroutine's executor is used for its timers, so call it from a
    /// strand (or a single-threaded io_context). `max_wait` overrides the budget's (a pass passes
    /// what is left of its own allowance, so the bound holds per pass, not per page).
    awaitable<result<permit>> acquire(priority p = priority::fresh,
                                      std::optional<std::chrono::milliseconds> max_wait = std::nullopt);
    std::chrono::milliseconds max_wait() const;

    const std::string& name() const { return opts_.name; }
    /// Reconfigure (SIGHUP) or rescale (share of partitions); takes effect for the next decision.
    void update(budget_params params, std::chrono::milliseconds max_wait, double resync_share);
    void set_share(double share);

    struct snapshot {
        int in_flight = 0;
        std::optional<double> remaining;  ///< the platform's last X-Rate-Limit-Remaining
        long rejections = 0;
        std::size_t waiting = 0;
        long admitted = 0;
        int max_in_flight = 0;            ///< the in-flight cap now (max_in_flight × share, at least 1)
        std::optional<std::chrono::milliseconds> paused_for;  ///< what is left of a pause after a rejection
    };
    /// A consistent view of the budget (for the status page and tests). Thread-safe.
    snapshot state() const;

private:
    friend class permit;
    struct waiter;
    using clock = std::chrono::steady_clock;

    void finished(std::optional<double> remaining);
    void rejected(std::optional<std::chrono::milliseconds> retry_after);
    void aborted();
    void wake_head();  // requires mutex_
    std::shared_ptr<waiter> head() const;  // requires mutex_
    void remove(const std::shared_ptr<waiter>& w);  // requires mutex_

    budget_options opts_;
    mutable std::mutex mutex_;
    admission<clock> adm_;
    std::deque<std::shared_ptr<waiter>> fresh_, periodic_;
    long admitted_ = 0;
    long contended_ = 0;           // admissions made while both classes had waiters
    long contended_periodic_ = 0;  // … of which periodic

    // metrics (optional)
    prometheus::Counter* m_admitted_ = nullptr;
    prometheus::Counter* m_rejections_ = nullptr;
    prometheus::Counter* m_wait_exceeded_ = nullptr;
    prometheus::Gauge* m_in_flight_ = nullptr;
    prometheus::Gauge* m_remaining_ = nullptr;
    prometheus::Gauge* m_waiting_ = nullptr;
    prometheus::Histogram* m_wait_seconds_ = nullptr;
    void publish();  // requires mutex_
};

}  // namespace rostersync::throttle

template <>
struct boost::system::is_error_code_enum<rostersync::throttle::errc> : std::true_type {};
