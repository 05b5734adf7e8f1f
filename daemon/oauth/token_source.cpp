#include "oauth/token_source.hpp"

#include "common/log.hpp"
#include "http/url.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <list>

namespace rostersync::oauth {
namespace {

const log::logger lg{"oauth"};

std::string_view result_label(const error_code& ec)
{
    if (!ec) return "ok";
    if (is_configuration_error(ec)) return "configuration";
    if (ec == make_error_code(errc::token_throttled)) return "throttled";
    return "error";
}

}  // namespace

struct token_source::entry {
    std::string token;
    clock::time_point refresh_at{};  // reuse until then
    clock::time_point expires_at{};
    bool in_flight = false;
    error_code last_error;
    clock::time_point error_until{};
    std::list<std::shared_ptr<net::steady_timer>> waiters;
};

token_source::token_source(http::client& client, token_source_options opts, metrics::registry* metrics)
    : client_(client), opts_(opts)
{
    if (metrics != nullptr) {
        m_requests_ = &metrics->counter("rostersync_oauth_token_requests_total",
                                        "Token requests sent to platforms, by result.", {"result"});
    }
}

std::string token_source::key_of(const credentials& c)
{
    auto scopes = c.scopes;
    std::sort(scopes.begin(), scopes.end());
    std::string k = c.token_url + "|" + c.client_id + "|";
    for (const auto& s : scopes) k += s + " ";
    return k;
}

token_source::stats token_source::counters() const
{
    std::lock_guard lock(mutex_);
    return stats_;
}

void token_source::invalidate(const credentials& c, const std::string& token)
{
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key_of(c));
    if (it != entries_.end() && it->second->token == token) {
        it->second->token.clear();
        it->second->refresh_at = it->second->expires_at = clock::time_point{};
    }
}

awaitable<result<std::string>> token_source::get(const credentials& c)
{
    const std::string k = key_of(c);
    auto ex = co_await net::this_coro::executor;
    co_await net::this_coro::throw_if_cancelled(false);
    for (;;) {
        std::shared_ptr<entry> e;
        std::shared_ptr<net::steady_timer> wait;
        {
            std::lock_guard lock(mutex_);
            auto& slot = entries_[k];
            if (!slot) slot = std::make_shared<entry>();
            e = slot;
            const auto now = clock::now();
            const bool usable = !e->token.empty() && now < e->expires_at - std::chrono::seconds(30);
            if (usable && (now < e->refresh_at || e->in_flight)) {
                // Fresh, or being refreshed by another caller while still valid: use it.
                ++stats_.cache_hits;
                co_return e->token;
            }
            if (!usable && e->last_error && now < e->error_until) co_return e->last_error;
            if (e->in_flight) {
                // Another caller is fetching and nothing valid is cached: wait for it (bounded,
                // then look again).
                wait = std::make_shared<net::steady_timer>(ex, std::chrono::seconds(1));
                e->waiters.push_back(wait);
            } else {
                e->in_flight = true;
            }
        }
        if (wait) {
            co_await wait->async_wait(nothrow);
            {
                std::lock_guard lock(mutex_);
                e->waiters.remove(wait);
            }
            auto cs = co_await net::this_coro::cancellation_state;
            if (cs.cancelled() != net::cancellation_type::none) co_return make_error_code(common::errc::cancelled);
            continue;
        }

        // The leader: whatever happens (error, cancellation, exception), in_flight is cleared
        // and the waiters are woken.
        struct leader_guard {
            token_source* self;
            std::shared_ptr<entry> e;
            ~leader_guard()
            {
                std::list<std::shared_ptr<net::steady_timer>> to_wake;
                {
                    std::lock_guard lock(self->mutex_);
                    e->in_flight = false;
                    to_wake.swap(e->waiters);
                }
                for (auto& w : to_wake) {
                    net::post(w->get_executor(), [weak = std::weak_ptr<net::steady_timer>(w)] {
                        if (auto t = weak.lock()) t->cancel();
                    });
                }
            }
        } guard{this, e};

        std::chrono::seconds lifetime{0};
        auto r = co_await request_token(c, lifetime);
        std::lock_guard lock(mutex_);
        const auto now = clock::now();
        if (r) {
            e->token = *r;
            e->expires_at = now + lifetime;
            // Refresh ahead of expiry, but never sooner than half the lifetime.
            e->refresh_at = now + std::max(lifetime - opts_.refresh_ahead, lifetime / 2);
            e->last_error = {};
            co_return r;
        }
        if (r.error() == make_error_code(common::errc::cancelled)) co_return r;  // never cached
        // A failed refresh does not take away a token that is still valid.
        if (!e->token.empty() && now < e->expires_at - std::chrono::seconds(30)) {
            e->refresh_at = now + opts_.retry_backoff;
            co_return e->token;
        }
        e->last_error = r.error();
        e->error_until = now + (is_configuration_error(r.error()) ? opts_.error_backoff : opts_.retry_backoff);
        co_return r;
    }
}

awaitable<result<std::string>> token_source::request_token(const credentials& c, std::chrono::seconds& lifetime)
{
    auto bump = [&](const error_code& ec) {
        if (m_requests_ != nullptr) m_requests_->with({result_label(ec)}).Increment();
    };
    {
        std::lock_guard lock(mutex_);
        ++stats_.requests;
    }
    auto url = http::parse_url(c.token_url);
    if (!url) {
        bump(url.error());
        co_return url.error();
    }
    if (!c.key) co_return make_error_code(errc::key_invalid);
    auto assertion = make_client_assertion(*c.key, {.client_id = c.client_id,
                                                    .audience = c.token_url,
                                                    .issued_at = std::chrono::system_clock::now(),
                                                    .lifetime = opts_.assertion_lifetime,
                                                    .jti = random_uuid()});
    if (!assertion) {
        bump(assertion.error());
        co_return assertion.error();
    }
    std::string scope;
    for (const auto& s : c.scopes) scope += (scope.empty() ? "" : " ") + s;
    http::request req{.method = "POST",
                      .target = *url,
                      .headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}},
                      .body = "grant_type=client_credentials"
                              "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                              "&client_assertion=" + *assertion + "&scope=" + http::percent_encode(scope)};
    auto resp = co_await client_.send(std::move(req), c.policy, c.ca_file);
    if (!resp) {
        bump(resp.error());
        lg.warning("token request failed", {{"token_url", c.token_url}, {"client_id", c.client_id},
                                            {"error", resp.error().message()}});
        co_return resp.error();
    }
    std::string detail;
    auto parsed = parse_token_response(static_cast<int>(resp->status), resp->body, detail);
    bump(parsed ? error_code{} : parsed.error());
    if (!parsed) {
        auto level = is_configuration_error(parsed.error()) ? log::level::error : log::level::warning;
        lg.write(level, "token request rejected",
                 {{"token_url", c.token_url}, {"client_id", c.client_id}, {"status", resp->status},
                  {"error", parsed.error().message()}, {"detail", detail}});
        co_return parsed.error();
    }
    lifetime = parsed->expires_in;
    lg.debug("token issued", {{"token_url", c.token_url}, {"client_id", c.client_id},
                              {"expires_in_seconds", lifetime.count()}});
    co_return parsed->access_token;
}

}  // namespace rostersync::oauth
