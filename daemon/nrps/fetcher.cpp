#include "nrps/fetcher.hpp"

#include "common/log.hpp"
#include "http/error.hpp"
#include "http/link_header.hpp"
#include "http/url.hpp"
#include "nrps/error.hpp"
#include "oauth/error.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <random>
#include <set>
#include <stdexcept>

namespace rostersync::nrps {
namespace {

const log::logger lg{"nrps"};

bool contains(std::string_view hay, std::string_view needle)
{
    return hay.find(needle) != std::string_view::npos;
}

/// The Canvas error message in {"errors":{"message":…}} or {"errors":[{"message":…}]}, roughly.
std::string error_message(std::string_view body)
{
    auto pos = body.find("\"message\"");
    if (pos == std::string_view::npos) return std::string(body.substr(0, 200));
    auto start = body.find('"', body.find(':', pos) + 1);
    if (start == std::string_view::npos) return {};
    auto end = body.find('"', start + 1);
    return std::string(body.substr(start + 1, end == std::string_view::npos ? 0 : end - start - 1));
}

/// Adds or replaces `limit` in the URL's query.
std::string with_limit(const http::url& u, int limit)
{
    std::string target = u.target;
    auto q = target.find('?');
    std::string path = target.substr(0, q);
    std::string query = q == std::string::npos ? "" : target.substr(q + 1);
    std::string out;
    std::size_t start = 0;
    while (start <= query.size() && !query.empty()) {
        auto amp = query.find('&', start);
        std::string item = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
        if (!item.empty() && !item.starts_with("limit=")) out += (out.empty() ? "" : "&") + item;
        if (amp == std::string::npos) break;
        start = amp + 1;
    }
    out += (out.empty() ? "" : "&") + std::string("limit=") + std::to_string(limit);
    return u.scheme + "://" + u.authority() + path + "?" + out;
}

std::string with_role(const std::string& url, const std::string& role)
{
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "role=" + http::percent_encode(role);
}

awaitable<void> sleep_for(net::any_io_executor ex, std::chrono::milliseconds d)
{
    net::steady_timer t(ex, d);
    co_await t.async_wait(nothrow);
}

}  // namespace

void throw_exception_from_error(const fetch_error& e, const boost::source_location&)
{
    throw std::runtime_error(e.ec.message() + (e.detail.empty() ? "" : ": " + e.detail));
}

struct engine::impl {
    impl(net::any_io_executor e, const config::config& c, metrics::registry* m, engine_options o)
        : ex(std::move(e)), opts(std::move(o)), client(ex, with_resolve(opts.http, c)), tokens(client, opts.tokens, m)
    {
        if (m != nullptr) {
            budget_metrics = std::make_unique<throttle::budget_metrics>(*m);
            m_requests = &m->counter("rostersync_nrps_requests_total",
                                     "NRPS page requests by budget and outcome (HTTP status or error).",
                                     {"budget", "status"});
            m_latency = &m->histogram("rostersync_nrps_request_duration_seconds", "NRPS page request latency.",
                                      {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}, {"budget"});
            m_pages = &m->counter("rostersync_nrps_pages_total", "NRPS pages fetched and parsed.", {"budget"});
            m_members = &m->counter("rostersync_nrps_members_fetched_total", "Members read from NRPS pages.",
                                    {"budget"});
            m_passes = &m->counter("rostersync_nrps_passes_total", "Roster passes by result.", {"result"});
        }
    }

    static http::client_options with_resolve(http::client_options o, const config::config& c)
    {
        if (o.resolve.empty()) o.resolve = c.http.resolve;
        return o;
    }

    /// What a reload replaces as a whole; a pass keeps the snapshot it started with.
    struct snapshot {
        config::config cfg;
        std::map<std::string, std::shared_ptr<const oauth::signing_key>> keys;  // by platform name
        std::vector<oauth::signing_key> published;                               // JWKS
    };

    net::any_io_executor ex;
    engine_options opts;
    http::client client;
    oauth::token_source tokens;
    mutable std::mutex snap_mutex;
    std::shared_ptr<const snapshot> snap;

    std::shared_ptr<const snapshot> current() const
    {
        std::lock_guard lock(snap_mutex);
        return snap;
    }

    static result<std::shared_ptr<snapshot>, fetch_error> load(const config::config& cfg)
    {
        auto out = std::make_shared<snapshot>();
        out->cfg = cfg;
        std::map<std::string, std::string> kid_owner;  // kid -> public JWK, to refuse clashes
        auto publish = [&](const oauth::signing_key& k, const std::string& where) -> std::optional<fetch_error> {
            auto [it, fresh] = kid_owner.emplace(k.kid(), k.public_jwk());
            if (!fresh && it->second != k.public_jwk())
                return fetch_error{make_error_code(oauth::errc::key_invalid),
                                   where + ": key id \"" + k.kid() + "\" is used by two different keys"};
            if (fresh) out->published.push_back(k);
            return std::nullopt;
        };
        for (const auto& p : cfg.platforms) {
            if (!p.nrps) continue;
            auto key = oauth::signing_key::load_file(p.private_key_file, p.key_id);
            if (!key) return fetch_error{key.error().ec, "platform " + p.name + ": " + key.error().message};
            if (auto e = publish(*key, "platform " + p.name)) return *e;
            out->keys[p.name] = std::make_shared<const oauth::signing_key>(std::move(*key));
            for (const auto& entry : p.previous_key_files) {
                // "KID=PATH" keeps the key id it was registered with; a bare path uses the thumbprint.
                std::string kid, path = entry;
                if (auto eq = entry.find('='); eq != std::string::npos && entry.find('/') > eq) {
                    kid = entry.substr(0, eq);
                    path = entry.substr(eq + 1);
                }
                auto k = oauth::signing_key::load_file(path, kid);
                if (!k) return fetch_error{k.error().ec, "platform " + p.name + " (previous_key_files): " + k.error().message};
                if (auto e = publish(*k, "platform " + p.name + " (previous_key_files)")) return *e;
            }
        }
        return out;
    }
    std::mutex budgets_mutex;
    std::map<std::string, std::unique_ptr<throttle::budget>> budgets;
    std::unique_ptr<throttle::budget_metrics> budget_metrics;
    metrics::family<prometheus::Counter>* m_requests = nullptr;
    metrics::family<prometheus::Histogram>* m_latency = nullptr;
    metrics::family<prometheus::Counter>* m_pages = nullptr;
    metrics::family<prometheus::Counter>* m_members = nullptr;
    metrics::family<prometheus::Counter>* m_passes = nullptr;

    static throttle::budget_options budget_options_for(const config::config& cfg, const std::string& name)
    {
        throttle::budget_options o{.name = name, .resync_share = cfg.sync.resync_share};
        if (const auto* b = cfg.find_budget(name)) {
            o.params.max_in_flight = b->max_in_flight;
            o.params.reserve = b->reserve;
            o.params.requests_per_second = b->requests_per_second;
            o.max_wait = b->max_wait;
        }
        return o;
    }

    throttle::budget& budget_for(const config::config& cfg, const config::platform& p, const std::string& host)
    {
        const std::string name = p.budget.empty() ? host : p.budget;
        std::lock_guard lock(budgets_mutex);
        auto& slot = budgets[name];
        if (!slot) slot = std::make_unique<throttle::budget>(budget_options_for(cfg, name), budget_metrics.get());
        return *slot;
    }

    oauth::credentials credentials_for(const snapshot& sn, const config::platform& p) const
    {
        oauth::credentials c{.token_url = p.token_url,
                             .client_id = p.client_id,
                             .scopes = {nrps_scope},
                             .key = sn.keys.at(p.name),
                             .policy = {.allowed_hosts = p.allowed_hosts, .allow_http = p.allow_http},
                             .ca_file = p.ca_file};
        // The token URL is configured explicitly: its host may receive the assertion.
        if (auto u = http::parse_url(p.token_url)) c.policy.allowed_hosts.push_back(u->host);
        return c;
    }

    std::chrono::milliseconds backoff(int attempt) const
    {
        static thread_local std::mt19937_64 rng{std::random_device{}()};
        auto cap = std::min<long long>(opts.limits.backoff_cap.count(),
                                       opts.limits.backoff_base.count() * (1LL << std::min(attempt, 20)));
        std::uniform_int_distribution<long long> d(cap / 2, std::max<long long>(cap / 2, cap));
        return std::chrono::milliseconds(d(rng));  // "equal jitter": half fixed, half random
    }
};

engine::engine(net::any_io_executor ex, const config::config& cfg, metrics::registry* m, engine_options opts)
    : impl_(std::make_unique<impl>(std::move(ex), cfg, m, std::move(opts)))
{
}

result<void, fetch_error> engine::update(const config::config& cfg)
{
    auto fresh = impl::load(cfg);
    if (!fresh) return fresh.error();
    {
        std::lock_guard lock(impl_->snap_mutex);
        impl_->snap = std::move(*fresh);
    }
    impl_->client.set_resolve(cfg.http.resolve);
    // Budgets keep their learned state (remaining allowance, in flight); only settings change.
    std::lock_guard lock(impl_->budgets_mutex);
    for (auto& [name, b] : impl_->budgets) {
        auto o = impl::budget_options_for(cfg, name);
        b->update(o.params, o.max_wait, o.resync_share);
    }
    return {};
}

engine::~engine() = default;

result<std::unique_ptr<engine>, fetch_error> engine::create(net::any_io_executor ex, const config::config& cfg,
                                                            metrics::registry* m, engine_options opts)
{
    auto snap = impl::load(cfg);
    if (!snap) return snap.error();
    std::unique_ptr<engine> e(new engine(std::move(ex), cfg, m, std::move(opts)));
    e->impl_->snap = std::move(*snap);
    return e;
}

std::string engine::jwks() const
{
    return oauth::jwks_document(impl_->current()->published);
}

http::client& engine::http_client() { return impl_->client; }
oauth::token_source& engine::tokens() { return impl_->tokens; }

throttle::budget& engine::budget_for(const config::platform& p, const std::string& host)
{
    return impl_->budget_for(impl_->current()->cfg, p, host);
}

std::vector<engine::budget_status> engine::budgets() const
{
    const auto snap = impl_->current();
    std::lock_guard lock(impl_->budgets_mutex);
    std::vector<budget_status> out;
    out.reserve(impl_->budgets.size());
    for (const auto& [name, b] : impl_->budgets) {
        budget_status s{name, b->state(), {}, {}};
        for (const auto& p : snap->cfg.platforms) {
            if (p.budget != name) continue;
            s.platforms.push_back(p.name);
            for (const auto& h : p.allowed_hosts)
                if (std::find(s.hosts.begin(), s.hosts.end(), h) == s.hosts.end()) s.hosts.push_back(h);
        }
        out.push_back(std::move(s));
    }
    return out;
}

awaitable<result<roster, fetch_error>> engine::fetch(std::string platform_name, std::string url_text, fetch_options fo)
{
    impl& s = *impl_;
    co_await net::this_coro::throw_if_cancelled(false);  // cancellation ends in errc::cancelled
    const auto sn = s.current();
    const config::config& cfg = sn->cfg;
    const config::platform* p = cfg.find_platform(platform_name);
    auto fail = [&](error_code ec, std::string detail) -> result<roster, fetch_error> {
        if (s.m_passes != nullptr) {
            std::string_view label = ec == make_error_code(errc::not_found)            ? "not_found"
                                     : ec == make_error_code(errc::configuration)      ? "configuration"
                                     : oauth::is_configuration_error(ec)               ? "configuration"
                                     : ec == make_error_code(errc::throttled)          ? "throttled"
                                     : ec == make_error_code(errc::cancelled)          ? "cancelled"
                                     : is_retryable(ec)                                ? "retryable_error"
                                                                                       : "error";
            s.m_passes->with({label}).Increment();
        }
        return fetch_error{ec, std::move(detail)};
    };
    if (p == nullptr) co_return fail(errc::configuration, "no platform named \"" + platform_name + "\"");
    if (!p->nrps) co_return fail(errc::configuration, "platform " + platform_name + " has nrps = false");

    const http::host_policy policy{.allowed_hosts = p->allowed_hosts, .allow_http = p->allow_http};
    auto first = http::parse_url(url_text);
    if (!first) co_return fail(first.error(), "memberships URL is not an absolute http(s) URL");
    if (auto ec = http::check_url(*first, policy)) co_return fail(ec, "memberships URL host " + first->host);

    std::string next = with_limit(*first, fo.limit.value_or(cfg.sync.page_size));
    if (fo.role) next = with_role(next, *fo.role);
    throttle::budget& budget = s.budget_for(cfg, *p, first->host);
    const auto creds = s.credentials_for(*sn, *p);
    // The budget wait is bounded per pass, not per page.
    std::chrono::milliseconds wait_left = budget.max_wait();
    const std::string& bname = budget.name();

    roster out;
    member_index index;  // user_id -> position in out.members (views into the pages' text)
    std::set<std::string> visited;
    progress prog;
    auto ex = co_await net::this_coro::executor;

    while (!next.empty()) {
        if (out.pages >= s.opts.limits.max_pages)
            co_return fail(errc::too_many_pages, std::to_string(out.pages) + " pages");
        if (!visited.insert(next).second) co_return fail(errc::next_loop, "page " + std::to_string(out.pages + 1));
        auto page_url = http::parse_url(next);
        if (!page_url) co_return fail(page_url.error(), "a rel=\"next\" URL is not absolute");
        if (auto ec = http::check_same_origin(*first, *page_url)) co_return fail(ec, "next host " + page_url->host);

        int attempts = 0, throttled = 0;
        bool token_retried = false;
        std::optional<page> parsed;
        http::response resp;
        for (;;) {
            // The token first: a slow token request must not hold an in-flight slot.
            auto token = co_await s.tokens.get(creds);
            if (!token) {
                if (token.error() == make_error_code(common::errc::cancelled)) co_return fail(errc::cancelled, {});
                co_return fail(token.error(), "token request for client_id " + p->client_id);
            }
            auto permit = co_await budget.acquire(fo.priority, wait_left);
            if (!permit) {
                if (permit.error() == make_error_code(throttle::errc::cancelled))
                    co_return fail(errc::cancelled, {});
                co_return fail(errc::throttled, "waited longer than max_wait for budget " + bname);
            }
            wait_left -= permit->waited();
            const auto t0 = std::chrono::steady_clock::now();
            // Built outside the co_await: g++ 12 cannot keep an initializer_list's array alive
            // across a suspension point.
            http::request req;
            req.target = *page_url;
            req.headers.emplace_back("Authorization", "Bearer " + *token);
            req.headers.emplace_back("Accept", nrps_media_type);
            auto r = co_await s.client.send(std::move(req), policy, p->ca_file);
            if (s.m_latency != nullptr)
                s.m_latency->with({bname}).Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            // Counts a retryable failure; false once the page's attempts are used up.
            auto may_retry = [&](const std::string& why) {
                if (++attempts >= s.opts.limits.max_attempts) return false;
                ++out.retries;
                ++prog.retries;
                lg.debug("retrying page", {{"budget", bname}, {"attempt", attempts}, {"reason", why}});
                return true;
            };
            if (!r) {
                permit->finish(std::nullopt);
                if (s.m_requests != nullptr) s.m_requests->with({bname, "error"}).Increment();
                if (r.error() == make_error_code(common::errc::cancelled)) co_return fail(errc::cancelled, {});
                if (auto cs = co_await net::this_coro::cancellation_state; cs.cancelled() != net::cancellation_type::none)
                    co_return fail(errc::cancelled, {});
                if (is_retryable(r.error()) && may_retry(r.error().message())) {
                    co_await sleep_for(ex, s.backoff(attempts));
                    continue;
                }
                if (is_retryable(r.error()))
                    co_return fail(errc::server_error, r.error().message() + " (after " + std::to_string(attempts) + " attempts)");
                co_return fail(r.error(), "page " + std::to_string(out.pages + 1));
            }
            resp = std::move(*r);
            const unsigned status = resp.status;
            if (s.m_requests != nullptr) s.m_requests->with({bname, std::to_string(status)}).Increment();
            std::optional<double> remaining;
            if (auto h = resp.header("X-Rate-Limit-Remaining"); !h.empty()) remaining = http::header_number(h);

            if (status == 429 || (status == 403 && contains(resp.body, "Rate Limit Exceeded"))) {
                permit->rejected(http::retry_after(resp.header("Retry-After")));
                ++out.throttle_waits;
                ++prog.throttle_waits;
                if (++throttled > s.opts.limits.max_throttle_retries)
                    co_return fail(errc::throttled, "rejected " + std::to_string(throttled) + " times by the platform's rate limit");
                continue;
            }
            permit->finish(remaining);
            if (status == 401) {
                std::string msg = error_message(resp.body);
                if (contains(msg, "Insufficient permissions") || contains(msg, "Developer Key") ||
                    contains(msg, "not linked to a Tool"))
                    co_return fail(errc::configuration, msg);
                s.tokens.invalidate(creds, *token);
                if (!token_retried) {
                    token_retried = true;
                    ++out.retries;
                    continue;
                }
                co_return fail(errc::token_rejected, msg);
            }
            if (status == 404) co_return fail(errc::not_found, error_message(resp.body));
            if (status >= 500) {
                if (may_retry("HTTP " + std::to_string(status))) {
                    co_await sleep_for(ex, s.backoff(attempts));
                    continue;
                }
                co_return fail(errc::server_error, "HTTP " + std::to_string(status) + " after " + std::to_string(attempts) + " attempts");
            }
            if (status != 200) {
                co_return fail(errc::unexpected_status, "HTTP " + std::to_string(status) + ": " + error_message(resp.body));
            }
            auto pg = parse_page(resp.body);
            if (!pg) {
                if (may_retry(pg.error().message)) {
                    co_await sleep_for(ex, s.backoff(attempts));
                    continue;
                }
                co_return fail(errc::malformed_page, "page " + std::to_string(out.pages + 1) + ": " + pg.error().message);
            }
            parsed = std::move(*pg);
            break;
        }

        ++out.pages;
        if (out.pages == 1) {
            out.context = parsed->context;
        } else if (parsed->context.id != out.context.id) {
            co_return fail(errc::malformed_page, "page " + std::to_string(out.pages) + " belongs to another context");
        }
        const std::size_t on_page = parsed->members.size();
        out.duplicates += static_cast<int>(out.members.merge(std::move(parsed->members), index));
        if (out.members.size() > s.opts.limits.max_members)
            co_return fail(errc::too_many_members, std::to_string(out.members.size()) + " members");
        if (s.m_pages != nullptr) {
            s.m_pages->with({bname}).Increment();
            s.m_members->with({bname}).Increment(static_cast<double>(on_page));
        }
        prog.pages = out.pages;
        prog.members = out.members.size();
        if (fo.on_page) fo.on_page(prog);

        auto links = http::parse_link_header(resp.headers_named("Link"));
        if (!links) co_return fail(links.error(), "page " + std::to_string(out.pages));
        if (auto d = http::find_rel(*links, "differences")) {
            if (auto abs = http::resolve_reference(next, *d)) out.differences.push_back(*abs);
        }
        next.clear();
        if (auto n = http::find_rel(*links, "next")) {
            auto abs = http::resolve_reference(page_url->str(), *n);
            if (!abs) co_return fail(abs.error(), "rel=\"next\" on page " + std::to_string(out.pages));
            next = *abs;
        }
        if (fo.max_pages > 0 && out.pages >= fo.max_pages && !next.empty()) {
            out.partial = true;
            break;
        }
    }
    if (s.m_passes != nullptr) s.m_passes->with({out.partial ? "partial" : "complete"}).Increment();
    co_return out;
}

}  // namespace rostersync::nrps
