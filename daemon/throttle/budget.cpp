#include "throttle/budget.hpp"

#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>

namespace rostersync::throttle {
namespace {

class throttle_category final : public error_category {
public:
    const char* name() const noexcept override { return "rostersync.throttle"; }
    std::string message(int v) const override
    {
        switch (static_cast<errc>(v)) {
            case errc::wait_exceeded: return "waited longer than the budget's max_wait";
            case errc::cancelled: return "cancelled while waiting for the budget";
        }
        return "unknown rostersync.throttle error " + std::to_string(v);
    }
    bool retryable(int v) const noexcept override { return static_cast<errc>(v) == errc::wait_exceeded; }
};

// A waiter re-evaluates at least this often, so a wake-up lost to a race costs little.
constexpr auto max_sleep = std::chrono::milliseconds(250);

}  // namespace

const error_category& category() noexcept
{
    static const throttle_category instance;
    return instance;
}

budget_metrics::budget_metrics(metrics::registry& r)
    : admitted(r.counter("rostersync_budget_admitted_total", "Requests admitted by a throttle budget.", {"budget"})),
      rejections(r.counter("rostersync_budget_rejections_total",
                           "Requests the platform rejected for its rate limit (429, or 403 Rate Limit Exceeded).",
                           {"budget"})),
      wait_exceeded(r.counter("rostersync_budget_wait_exceeded_total",
                              "Acquisitions abandoned after max_wait (their pass is rescheduled).", {"budget"})),
      in_flight(r.gauge("rostersync_budget_in_flight", "Requests in flight under a budget.", {"budget"})),
      remaining(r.gauge("rostersync_budget_remaining",
                        "The platform's last reported rate-limit allowance (X-Rate-Limit-Remaining).", {"budget"})),
      waiting(r.gauge("rostersync_budget_waiting", "Requests waiting for admission.", {"budget"})),
      wait_seconds(r.histogram("rostersync_budget_wait_seconds", "Time requests waited for admission.",
                               {0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600}, {"budget"}))
{
}

struct budget::waiter {
    explicit waiter(net::any_io_executor ex) : timer(ex) {}
    net::steady_timer timer;
    bool woken = false;
    priority cls = priority::fresh;
};

// ---- permit ----

permit& permit::operator=(permit&& o) noexcept
{
    if (this != &o) {
        if (owner_ != nullptr) owner_->aborted();
        owner_ = std::exchange(o.owner_, nullptr);
        waited_ = o.waited_;
    }
    return *this;
}

permit::~permit()
{
    if (owner_ != nullptr) owner_->aborted();
}

void permit::finish(std::optional<double> remaining)
{
    if (auto* b = std::exchange(owner_, nullptr)) b->finished(remaining);
}

void permit::rejected(std::optional<std::chrono::milliseconds> retry_after)
{
    if (auto* b = std::exchange(owner_, nullptr)) b->rejected(retry_after);
}

// ---- budget ----

budget::budget(budget_options opts, budget_metrics* m) : opts_(std::move(opts)), adm_(opts_.params)
{
    if (m != nullptr) {
        m_admitted_ = &m->admitted.with({opts_.name});
        m_rejections_ = &m->rejections.with({opts_.name});
        m_wait_exceeded_ = &m->wait_exceeded.with({opts_.name});
        m_in_flight_ = &m->in_flight.with({opts_.name});
        m_remaining_ = &m->remaining.with({opts_.name});
        m_waiting_ = &m->waiting.with({opts_.name});
        m_wait_seconds_ = &m->wait_seconds.with({opts_.name});
    }
}

void budget::publish()
{
    if (m_in_flight_ != nullptr) m_in_flight_->Set(adm_.in_flight());
    if (m_waiting_ != nullptr) m_waiting_->Set(static_cast<double>(fresh_.size() + periodic_.size()));
    if (m_remaining_ != nullptr && adm_.remaining()) m_remaining_->Set(*adm_.remaining());
}

std::shared_ptr<budget::waiter> budget::head() const
{
    if (fresh_.empty() && periodic_.empty()) return nullptr;
    if (fresh_.empty()) return periodic_.front();
    if (periodic_.empty()) return fresh_.front();
    // Both wait: periodic work gets at least its share of admissions.
    const double share =
        contended_ == 0 ? 0.0 : static_cast<double>(contended_periodic_) / static_cast<double>(contended_);
    return share < opts_.resync_share ? periodic_.front() : fresh_.front();
}

void budget::remove(const std::shared_ptr<waiter>& w)
{
    auto& q = w->cls == priority::fresh ? fresh_ : periodic_;
    q.erase(std::remove(q.begin(), q.end(), w), q.end());
}

void budget::wake_head()
{
    if (auto h = head(); h && !h->woken) {
        h->woken = true;
        // Only a weak reference: a handler left in a destroyed io_context must not own a timer.
        net::post(h->timer.get_executor(), [w = std::weak_ptr<waiter>(h)] {
            if (auto x = w.lock()) x->timer.cancel();
        });
    }
}

std::chrono::milliseconds budget::max_wait() const
{
    std::lock_guard lock(mutex_);
    return opts_.max_wait;
}

awaitable<result<permit>> budget::acquire(priority cls, std::optional<std::chrono::milliseconds> max_wait_override)
{
    auto ex = co_await net::this_coro::executor;
    co_await net::this_coro::throw_if_cancelled(false);
    auto w = std::make_shared<waiter>(ex);
    w->cls = cls;
    const auto start = clock::now();
    clock::time_point deadline;
    {
        std::lock_guard lock(mutex_);
        deadline = start + std::max(std::chrono::milliseconds(0), max_wait_override.value_or(opts_.max_wait));
        (cls == priority::fresh ? fresh_ : periodic_).push_back(w);
        publish();
    }
    for (;;) {
        clock::time_point wake_at;
        {
            std::lock_guard lock(mutex_);
            auto now = clock::now();
            w->woken = false;
            if (head() == w) {
                auto d = adm_.decide(now);
                if (d.admit) {
                    // The resync share counts only admissions made while both classes waited.
                    if (!fresh_.empty() && !periodic_.empty()) {
                        ++contended_;
                        if (cls == priority::periodic) ++contended_periodic_;
                    }
                    remove(w);
                    adm_.on_start(now);
                    ++admitted_;
                    if (m_admitted_ != nullptr) m_admitted_->Increment();
                    if (m_wait_seconds_ != nullptr)
                        m_wait_seconds_->Observe(std::chrono::duration<double>(now - start).count());
                    publish();
                    wake_head();  // the next waiter may be admissible too (in-flight cap > 1)
                    co_return permit(this, std::chrono::duration_cast<std::chrono::milliseconds>(now - start));
                }
                wake_at = d.retry_at ? std::min(*d.retry_at, now + max_sleep) : now + max_sleep;
            } else {
                wake_at = now + max_sleep;
            }
            if (now >= deadline) {
                remove(w);
                if (m_wait_exceeded_ != nullptr) m_wait_exceeded_->Increment();
                publish();
                wake_head();
                co_return make_error_code(errc::wait_exceeded);
            }
            wake_at = std::min(wake_at, deadline);
        }
        w->timer.expires_at(wake_at);
        co_await w->timer.async_wait(nothrow);  // woken, timed out or cancelled: re-evaluate
        auto cs = co_await net::this_coro::cancellation_state;
        if (cs.cancelled() != net::cancellation_type::none) {
            std::lock_guard lock(mutex_);
            remove(w);
            publish();
            wake_head();
            co_return make_error_code(errc::cancelled);
        }
    }
}

void budget::finished(std::optional<double> remaining)
{
    std::lock_guard lock(mutex_);
    adm_.on_finish(clock::now(), remaining);
    publish();
    wake_head();
}

void budget::rejected(std::optional<std::chrono::milliseconds> retry_after)
{
    std::lock_guard lock(mutex_);
    std::optional<clock::duration> ra;
    if (retry_after) ra = std::chrono::duration_cast<clock::duration>(*retry_after);
    adm_.on_rejected(clock::now(), ra);
    if (m_rejections_ != nullptr) m_rejections_->Increment();
    publish();
    wake_head();
}

void budget::aborted()
{
    std::lock_guard lock(mutex_);
    adm_.on_abort();
    publish();
    wake_head();
}

void budget::update(budget_params params, std::chrono::milliseconds max_wait, double resync_share)
{
    std::lock_guard lock(mutex_);
    params.share = adm_.params().share;
    adm_.set_params(params);
    opts_.max_wait = max_wait;
    opts_.resync_share = resync_share;
    wake_head();
}

void budget::set_share(double share)
{
    std::lock_guard lock(mutex_);
    adm_.set_share(share);
    wake_head();
}

budget::snapshot budget::state() const
{
    std::lock_guard lock(mutex_);
    snapshot s{.in_flight = adm_.in_flight(),
               .remaining = adm_.remaining(),
               .rejections = adm_.rejections(),
               .waiting = fresh_.size() + periodic_.size(),
               .admitted = admitted_,
               .max_in_flight = adm_.cap()};
    const auto now = clock::now();
    if (auto until = adm_.paused_until(); until && *until > now)
        s.paused_for = std::chrono::ceil<std::chrono::milliseconds>(*until - now);
    return s;
}

}  // namespace rostersync::throttle
