#include "discovery/discover.hpp"

#include "common/log.hpp"
#include "discovery/error.hpp"
#include "http/error.hpp"
#include "kafka/partitioner.hpp"
#include "kafka/producer.hpp"
#include "nrps/error.hpp"
#include "oauth/error.hpp"
#include "roster/encode.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

#include <map>
#include <mutex>
#include <set>

namespace rostersync::discovery {
namespace {

const log::logger lg{"discovery"};

bool contains(std::string_view hay, std::string_view needle)
{
    return hay.find(needle) != std::string_view::npos;
}

}  // namespace

std::string_view to_string(outcome o)
{
    switch (o) {
        case outcome::published: return "published";
        case outcome::not_installed: return "not_installed";
        case outcome::gone: return "gone";
        case outcome::failed: return "failed";
        case outcome::skipped: return "skipped";
    }
    return "?";
}

probe_verdict classify_probe(const nrps::fetch_error& e)
{
    if (e.ec == make_error_code(nrps::errc::cancelled)) return {outcome::failed, make_error_code(errc::cancelled)};
    if (e.ec == make_error_code(nrps::errc::not_found)) return {outcome::gone, {}};
    if (e.ec == make_error_code(nrps::errc::configuration)) {
        // Per course: the tool is not installed in the course or its account chain, or the
        // course's account turned the developer key off. Anything else (the NRPS scope missing,
        // no such platform) refuses every course alike.
        if (contains(e.detail, "not linked to a Tool") || contains(e.detail, "Invalid Developer Key"))
            return {outcome::not_installed, {}};
        return {outcome::failed, make_error_code(errc::platform)};
    }
    if (oauth::is_configuration_error(e.ec)) return {outcome::failed, make_error_code(errc::platform)};
    if (e.ec.category() == http::category()) {
        switch (static_cast<http::errc>(e.ec.value())) {
            case http::errc::scheme_not_allowed:
            case http::errc::host_not_allowed:
            case http::errc::private_address:
            case http::errc::tls_failed: return {outcome::failed, make_error_code(errc::platform)};
            default: break;
        }
    }
    return {outcome::failed, {}};
}

std::string encode_course_seen(const config::platform& p, const nrps::context_info& ctx, std::string_view memberships_url,
                               std::string_view seen_at)
{
    boost::json::object context{{"id", ctx.id}};
    if (ctx.label) context["label"] = *ctx.label;
    if (ctx.title) context["title"] = *ctx.title;
    boost::json::object o;
    o["issuer"] = p.issuer;
    o["client_id"] = p.client_id;
    o["context"] = std::move(context);
    o["context_memberships_url"] = memberships_url;
    o["seen_at"] = seen_at;
    o["force"] = false;
    return boost::json::serialize(o);
}

struct discoverer::impl : std::enable_shared_from_this<impl> {
    impl(net::any_io_executor e, const config::config& c, nrps::engine& en, metrics::registry* m, discoverer_options o)
        : ex(std::move(e)), cfg(c), engine(en), opts(std::move(o)), http(ex, with_resolve(opts.http, c))
    {
        if (m != nullptr) {
            budget_metrics = std::make_unique<throttle::budget_metrics>(*m);
            m_runs = &m->counter("rostersync_discovery_runs_total",
                                 "Account discoveries by result (complete, configuration, failed, cancelled).", {"result"});
            m_courses = &m->counter("rostersync_discovery_courses_total",
                                    "Courses handled by account discovery, by outcome (published, not_installed, gone, "
                                    "failed, skipped).",
                                    {"outcome"});
            m_requests = &m->counter("rostersync_discovery_rest_requests_total",
                                     "Canvas REST API requests of account discovery by budget and HTTP status (or error).",
                                     {"budget", "status"});
            m_last = &m->gauge("rostersync_discovery_last_complete_timestamp_seconds",
                               "When a discovery of the platform last completed (Unix time).", {"platform"});
        }
    }

    static http::client_options with_resolve(http::client_options o, const config::config& c)
    {
        if (o.resolve.empty()) o.resolve = c.http.resolve;
        return o;
    }

    /// The platform's REST budget: "<platform>.rest", configured by a [[budgets]] entry of that
    /// name, else one request at a time (as Canvas asks of REST clients) with the default pace.
    throttle::budget& rest_budget(const config::platform& p)
    {
        const std::string name = p.name + ".rest";
        std::lock_guard lock(budgets_mutex);
        auto& slot = budgets[name];
        if (!slot) {
            throttle::budget_options o{.name = name, .resync_share = 0};
            o.params.max_in_flight = 1;
            if (const auto* b = cfg.find_budget(name)) {
                o.params.max_in_flight = b->max_in_flight;
                o.params.reserve = b->reserve;
                o.params.requests_per_second = b->requests_per_second;
                o.max_wait = b->max_wait;
            }
            slot = std::make_unique<throttle::budget>(o, budget_metrics.get());
        }
        return *slot;
    }

    net::any_io_executor ex;
    config::config cfg;
    nrps::engine& engine;
    discoverer_options opts;
    http::client http;
    std::unique_ptr<throttle::budget_metrics> budget_metrics;
    std::mutex budgets_mutex;
    std::map<std::string, std::unique_ptr<throttle::budget>> budgets;
    kafka::producer* producer = nullptr;
    std::string topic;
    int partitions = 1;
    metrics::family<prometheus::Counter>* m_runs = nullptr;
    metrics::family<prometheus::Counter>* m_courses = nullptr;
    metrics::family<prometheus::Counter>* m_requests = nullptr;
    metrics::family<prometheus::Gauge>* m_last = nullptr;
};

namespace {

/// What the probe workers share; they all run on the run's strand, so no lock.
struct run_state {
    nrps::engine* engine = nullptr;
    kafka::producer* producer = nullptr;     // null: publish nothing
    std::string topic;
    int partitions = 1;
    int max_consecutive_failures = 25;
    const config::platform* p = nullptr;
    std::string platform;
    bool dry_run = false;
    std::vector<course_report> reports;
    std::vector<std::size_t> queue;          // indexes into reports, to probe
    std::size_t next = 0;
    int consecutive_failures = 0;
    bool stop = false;
    error_code stop_ec;
    std::string stop_detail;
    progress counts;
    std::function<void(const progress&)> on_progress;
};

}  // namespace

discoverer::discoverer(net::any_io_executor ex, const config::config& cfg, nrps::engine& engine, metrics::registry* m,
                       discoverer_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), cfg, engine, m, std::move(opts)))
{
}

discoverer::~discoverer() = default;

void discoverer::set_publisher(kafka::producer* producer, std::string topic, int partitions)
{
    impl_->producer = producer;
    impl_->topic = std::move(topic);
    impl_->partitions = std::max(1, partitions);
}

namespace {

/// One probe worker: takes the next course, probes it, publishes it; until the queue is empty
/// or the run stops.
awaitable<void> probe_worker(std::shared_ptr<run_state> st)
{
    co_await net::this_coro::reset_cancellation_state(net::enable_total_cancellation());
    co_await net::this_coro::throw_if_cancelled(false);
    const config::platform& p = *st->p;
    while (!st->stop && st->next < st->queue.size()) {
        course_report& rep = st->reports[st->queue[st->next++]];
        const std::string url = memberships_url(p.rest_url, rep.c.id);
        const std::string platform = st->platform;
        nrps::fetch_options fo;
        fo.priority = throttle::priority::periodic;
        fo.limit = 1;  // the context is on every page; one member keeps the probe cheap
        fo.max_pages = 1;
        auto r = co_await st->engine->fetch(platform, url, std::move(fo));
        if (r) {
            rep.context_id = r->context.id;
            rep.result = outcome::published;
            if (!st->dry_run && st->producer != nullptr) {
                const std::string key = kafka::context_key(p.issuer, r->context.id);
                kafka::record rec{.topic = st->topic,
                                  .partition = kafka::partition_for(key, st->partitions),
                                  .key = key,
                                  .value = encode_course_seen(p, r->context, url,
                                                              roster::rfc3339(std::chrono::system_clock::now())),
                                  .headers = {{"content-type", "application/json"}}};
                auto d = co_await st->producer->publish(std::move(rec));
                if (d.ec) {
                    rep.result = outcome::failed;
                    rep.detail = "publishing its CourseSeen failed: " + d.ec.message();
                }
            }
        } else {
            const auto& e = r.error();
            auto v = classify_probe(e);
            rep.result = v.result;
            rep.detail = e.detail.empty() ? e.ec.message() : e.detail;
            if (v.stop) {
                if (!st->stop) {
                    st->stop = true;
                    st->stop_ec = v.stop;
                    st->stop_detail = v.stop == make_error_code(errc::cancelled)
                                          ? std::string("cancelled")
                                          : "NRPS refuses course " + rep.c.id + " for a reason that holds for every "
                                            "course of platform " + p.name + ": " + e.ec.message() +
                                            (e.detail.empty() ? "" : " (" + e.detail + ")");
                }
                // The course was not decided: it goes back to "failed" and is tried next run.
                rep.result = outcome::failed;
            }
        }
        if (rep.result == outcome::failed && !st->stop) {
            lg.warning("probing a discovered course failed",
                       {{"platform", p.name}, {"course", rep.c.id}, {"reason", rep.detail}});
            if (++st->consecutive_failures >= st->max_consecutive_failures) {
                st->stop = true;
                st->stop_ec = make_error_code(errc::server_error);
                st->stop_detail = std::to_string(st->consecutive_failures) + " courses in a row failed (last: course " +
                                  rep.c.id + ": " + rep.detail + "); stopped so as not to hammer the platform";
            }
        } else if (rep.result != outcome::failed) {
            st->consecutive_failures = 0;
            lg.debug("discovered course", {{"platform", p.name}, {"course", rep.c.id},
                                           {"outcome", to_string(rep.result)}});
        }
        ++st->counts.probed;
        switch (rep.result) {
            case outcome::published: ++st->counts.published; break;
            case outcome::not_installed: ++st->counts.not_installed; break;
            case outcome::gone: ++st->counts.gone; break;
            case outcome::failed: ++st->counts.failed; break;
            case outcome::skipped: ++st->counts.skipped; break;
        }
        if (st->on_progress) st->on_progress(st->counts);
    }
}

}  // namespace

awaitable<discover_summary> discoverer::run(discover_request req)
{
    auto s = impl_;
    co_await net::this_coro::throw_if_cancelled(false);
    discover_summary out;
    auto st = std::make_shared<run_state>();
    st->engine = &s->engine;
    st->producer = s->producer;
    st->topic = s->topic;
    st->partitions = s->partitions;
    st->max_consecutive_failures = s->opts.max_consecutive_failures;
    st->platform = req.platform;
    st->dry_run = req.dry_run;
    st->on_progress = req.on_progress;
    auto finish = [&](error_code ec, std::string detail) {
        out.ec = ec;
        out.detail = std::move(detail);
        out.counts = st->counts;
        out.counts.phase = "done";
        if (s->m_runs != nullptr) {
            std::string_view result = !ec                                         ? "complete"
                                      : ec == make_error_code(errc::cancelled)    ? "cancelled"
                                      : is_configuration(ec)                      ? "configuration"
                                                                                  : "failed";
            s->m_runs->with({result}).Increment();
            if (!ec && s->m_last != nullptr)
                s->m_last->with({req.platform}).Set(std::chrono::duration<double>(
                    std::chrono::system_clock::now().time_since_epoch()).count());
        }
        if (s->m_courses != nullptr) {
            const auto& c = st->counts;
            for (auto [label, n] : {std::pair<std::string_view, std::size_t>{"published", c.published},
                                    {"not_installed", c.not_installed}, {"gone", c.gone}, {"failed", c.failed},
                                    {"skipped", c.skipped}})
                if (n > 0) s->m_courses->with({label}).Increment(static_cast<double>(n));
        }
        if (st->on_progress) st->on_progress(out.counts);
    };

    const config::platform* p = s->cfg.find_platform(req.platform);
    if (p == nullptr) {
        finish(make_error_code(errc::platform), "no platform named \"" + req.platform + "\"");
        co_return out;
    }
    if (p->rest_url.empty() || p->rest_token_file.empty()) {
        finish(make_error_code(errc::platform),
               "platform " + p->name + " has no rest_url and rest_token_file: discovery needs a Canvas REST API token "
               "(the LTI key's token does not work for the REST API)");
        co_return out;
    }
    if (!p->nrps) {
        finish(make_error_code(errc::platform), "platform " + p->name + " has nrps = false; discovered courses sync through NRPS");
        co_return out;
    }
    st->p = p;
    // A CSV names the courses itself: the REST API (and its token) is needed only to look an SIS
    // account id up for subaccounts = false.
    std::optional<rest_client> rest;
    const bool needs_rest = req.from != source::csv || (!req.f.subaccounts && !req.account.empty());
    if (needs_rest) {
        auto token = read_token_file(p->rest_token_file);
        if (!token) {
            finish(token.error().ec, token.error().detail);
            co_return out;
        }
        rest.emplace(s->http, s->rest_budget(*p), *p, std::move(*token), s->opts.rest, s->m_requests);
    }
    auto report = [&](std::string_view phase) {
        st->counts.phase = std::string(phase);
        st->counts.pages = rest ? rest->pages() : 0;
        if (st->on_progress) st->on_progress(st->counts);
    };

    // The account's numeric id, for --no-subaccounts (an SIS id must be looked up first).
    std::string account_id = req.account;
    if (!req.f.subaccounts && !req.account.empty()) {
        const std::string account = req.account;
        auto id = co_await rest->account_id(account);
        if (!id) {
            finish(id.error().ec, id.error().detail);
            co_return out;
        }
        account_id = *id;
    }

    std::vector<course> listed;
    if (req.from == source::csv) {
        std::set<std::string> ids;
        courses_csv csv([&](course c) {
            if (ids.insert(c.id).second) listed.push_back(std::move(c));
        });
        auto fed = csv.feed(req.csv);
        if (fed) fed = csv.finish();
        if (!fed) {
            finish(make_error_code(errc::bad_csv),
                   "line " + std::to_string(fed.error().line) + ": " + fed.error().message);
            co_return out;
        }
    } else if (req.from == source::report) {
        report("report");
        const std::string account = req.account;
        const filters f = req.f;
        std::function<void(const report_status&)> on_poll = [&st](const report_status& rs) {
            st->counts.phase = "report";
            st->counts.report_status = rs.status;
            st->counts.report_progress = rs.progress;
            if (st->on_progress) st->on_progress(st->counts);
        };
        auto r = co_await rest->report_courses(account, f, on_poll);
        if (!r) {
            finish(r.error().ec, r.error().detail);
            co_return out;
        }
        listed = std::move(*r);
    } else {
        report("listing");
        const std::string account = req.account;
        const filters f = req.f;
        std::function<void(int, std::size_t)> on_page = [&st](int pages, std::size_t) {
            st->counts.phase = "listing";
            st->counts.pages = pages;
            if (st->on_progress) st->on_progress(st->counts);
        };
        auto r = co_await rest->list_courses(account, f, on_page);
        if (!r) {
            finish(r.error().ec, r.error().detail);
            co_return out;
        }
        listed = std::move(*r);
    }

    for (auto& c : listed) {
        if (!wanted(c, req.f, req.f.subaccounts ? std::string_view{} : std::string_view{account_id})) continue;
        course_report rep{.c = std::move(c)};
        if (req.skip && req.skip(rep.c)) {
            rep.result = outcome::skipped;
            ++st->counts.skipped;
        } else {
            st->queue.push_back(st->reports.size());
        }
        st->reports.push_back(std::move(rep));
    }
    st->counts.listed = st->reports.size();
    report("probing");
    lg.info("discovery listed courses", {{"platform", p->name},
                                         {"account", req.account},
                                         {"courses", st->counts.listed},
                                         {"to_probe", st->queue.size()},
                                         {"pages", st->counts.pages}});

    if (!st->queue.empty()) {
        auto ex = co_await net::this_coro::executor;
        const int n = static_cast<int>(std::min<std::size_t>(std::max(1, s->opts.probes_in_flight), st->queue.size()));
        using op_type = decltype(net::co_spawn(ex, probe_worker(st), net::deferred));
        std::vector<op_type> ops;
        for (int i = 0; i < n; ++i) ops.push_back(net::co_spawn(ex, probe_worker(st), net::deferred));
        auto group = net::experimental::make_parallel_group(std::move(ops));
        auto [order, errors] = co_await group.async_wait(net::experimental::wait_for_all(), net::use_awaitable);
        for (const auto& e : errors) {
            if (!e) continue;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex2) {
                st->stop = true;
                st->stop_ec = make_error_code(errc::server_error);
                st->stop_detail = std::string("a probe failed unexpectedly: ") + ex2.what();
            }
        }
    }
    if (auto cs = co_await net::this_coro::cancellation_state;
        cs.cancelled() != net::cancellation_type::none && !st->stop) {
        st->stop = true;
        st->stop_ec = make_error_code(errc::cancelled);
        st->stop_detail = "cancelled";
    }
    // Courses a stopped run never reached stay undecided: "failed", tried again next run.
    for (std::size_t i = st->next; i < st->queue.size(); ++i) {
        auto& rep = st->reports[st->queue[i]];
        rep.result = outcome::failed;
        rep.detail = "not probed: the run stopped";
        ++st->counts.failed;
    }
    out.courses = std::move(st->reports);
    finish(st->stop_ec, st->stop_detail);
    lg.info("discovery finished", {{"platform", p->name},
                                   {"account", req.account},
                                   {"listed", out.counts.listed},
                                   {"published", out.counts.published},
                                   {"not_installed", out.counts.not_installed},
                                   {"gone", out.counts.gone},
                                   {"failed", out.counts.failed},
                                   {"skipped", out.counts.skipped},
                                   {"dry_run", req.dry_run},
                                   {"stopped", out.detail}});
    co_return out;
}

}  // namespace rostersync::discovery
