#pragma once
// File: oauth/token_source.hpp
//
// Access tokens for LTI Advantage services, cached per (token URL, client_id, scope set).
//
//   - a token is reused until `refresh_ahead` before it expires (Canvas: 1 h tokens, and every
//     token request costs +200 throttle units, so reuse matters);
//   - single flight: while one request for a key is in flight, every other caller waits for it;
//   - invalidate() drops a token the platform called expired, so the next get() fetches one;
//   - configuration errors (bad key, claims, scope) are remembered for `error_backoff`, so a
//     broken platform costs one token request per backoff, not one per pass (no storm);
//     retryable errors are remembered for `retry_backoff`.
//
//     auto tok = co_await tokens.get(creds);
//     if (!tok) …  // oauth::errc or http::errc; oauth::is_configuration_error() for the operator's kind
//
// Threads: get() and invalidate() may be called from coroutines on any executor; state is guarded
// by a mutex. The source must outlive every get().

#include "common/asio.hpp"
#include "common/error.hpp"
#include "http/client.hpp"
#include "metrics/registry.hpp"
#include "oauth/assertion.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace rostersync::oauth {

/// What a token request needs: where, who, which key, what scopes.
struct credentials {
    std::string token_url;
    std::string client_id;
    std::vector<std::string> scopes;
    std::shared_ptr<const signing_key> key;
    http::host_policy policy;   ///< must allow the token URL's host
    std::string ca_file;
};

struct token_source_options {
    std::chrono::seconds refresh_ahead{300};
    std::chrono::seconds error_backoff{300};   ///< after a configuration error
    std::chrono::seconds retry_backoff{5};     ///< after a retryable error
    std::chrono::seconds assertion_lifetime{300};
};

class token_source {
public:
    token_source(http::client& client, token_source_options opts = {}, metrics::registry* metrics = nullptr);
    token_source(const token_source&) = delete;
    token_source& operator=(const token_source&) = delete;

    awaitable<result<std::string>> get(const credentials& c);

    /// The platform rejected `token` as expired or invalid: forget it (if it is still the cached
    /// one) so the next get() asks for a fresh one.
    void invalidate(const credentials& c, const std::string& token);

    struct stats {
        long requests = 0;   ///< token requests sent
        long cache_hits = 0;
    };
    stats counters() const;

private:
    struct entry;
    using clock = std::chrono::steady_clock;
    static std::string key_of(const credentials& c);
    awaitable<result<std::string>> request_token(const credentials& c, std::chrono::seconds& lifetime);

    http::client& client_;
    token_source_options opts_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<entry>> entries_;
    stats stats_;
    metrics::family<prometheus::Counter>* m_requests_ = nullptr;
};

}  // namespace rostersync::oauth
