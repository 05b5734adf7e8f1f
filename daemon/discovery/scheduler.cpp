#include "discovery/scheduler.hpp"

#include "common/log.hpp"
#include "discovery/error.hpp"
#include "kafka/producer.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <map>
#include <set>

namespace rostersync::discovery {
namespace {

const log::logger lg{"discovery"};
using clock = std::chrono::steady_clock;

std::string describe(const config::discovery_entry& e)
{
    return "platform " + e.platform + ", account " + e.account + (e.term.empty() ? "" : ", term " + e.term);
}

}  // namespace

struct scheduler::impl {
    struct memo {
        outcome result = outcome::failed;
        clock::time_point at;
    };
    struct entry {
        config::discovery_entry cfg;
        clock::time_point due;
        std::map<std::string, memo> known;  // course id → what it was, when
    };

    config::config cfg;
    std::unique_ptr<kafka::producer> producer;
    std::unique_ptr<discoverer> disc;
    std::vector<entry> entries;
};

scheduler::~scheduler() = default;

result<std::unique_ptr<scheduler>, std::string> scheduler::create(net::io_context& ioc, const config::config& cfg,
                                                                  nrps::engine& engine, metrics::registry& metrics,
                                                                  std::string bootstrap, scheduler_options opts)
{
    for (const auto& e : cfg.discovery) {
        const config::platform* p = cfg.find_platform(e.platform);
        if (p == nullptr || p->rest_token_file.empty())
            return "[[discovery]] " + describe(e) + ": the platform has no rest_url and rest_token_file";
        if (auto t = read_token_file(p->rest_token_file); !t)
            return "[[discovery]] " + describe(e) + ": " + t.error().detail;
    }
    // The pipeline's producer is its own; discovery gets one on the same cluster. A
    // transactional.id in kafka.properties belongs to the pipeline's transactions, not to this one.
    auto props = cfg.kafka.properties;
    std::erase_if(props, [](const auto& kv) { return kv.first == "transactional.id"; });
    auto made = kafka::producer::create({.bootstrap = bootstrap, .client_id = "rostersync-discovery", .properties = props});
    if (!made) return "account discovery: " + made.error();

    std::unique_ptr<scheduler> s(new scheduler());
    s->impl_ = std::make_unique<impl>();
    auto& m = *s->impl_;
    m.cfg = cfg;
    m.producer = std::move(*made);
    m.disc = std::make_unique<discoverer>(ioc.get_executor(), cfg, engine, &metrics, opts.discover);
    // The pipeline made (or checked) the topic with kafka.partitions partitions.
    m.disc->set_publisher(m.producer.get(), cfg.kafka.topics.course_seen, cfg.kafka.partitions);
    const auto now = clock::now();
    for (const auto& e : cfg.discovery) m.entries.push_back({.cfg = e, .due = now, .known = {}});
    return s;
}

awaitable<void> scheduler::run()
{
    co_await net::this_coro::reset_cancellation_state(net::enable_total_cancellation());
    co_await net::this_coro::throw_if_cancelled(false);
    auto& m = *impl_;
    auto ex = co_await net::this_coro::executor;
    net::steady_timer timer(ex);
    lg.info("account discovery scheduled", {{"entries", m.entries.size()}});
    for (;;) {
        if (auto cs = co_await net::this_coro::cancellation_state; cs.cancelled() != net::cancellation_type::none)
            co_return;
        // The entry due first; entries run one at a time (one REST request at a time per token).
        auto next = std::min_element(m.entries.begin(), m.entries.end(),
                                     [](const impl::entry& a, const impl::entry& b) { return a.due < b.due; });
        if (next == m.entries.end()) co_return;
        if (clock::now() < next->due) {
            timer.expires_at(next->due);
            co_await timer.async_wait(nothrow);
            continue;
        }
        impl::entry& e = *next;
        const auto started = clock::now();
        const auto recheck = e.cfg.recheck_after;
        discover_request req;
        req.platform = e.cfg.platform;
        req.account = e.cfg.account;
        req.f = {.term = e.cfg.term, .states = e.cfg.states, .subaccounts = e.cfg.subaccounts};
        req.from = e.cfg.from_report ? source::report : source::list;
        req.skip = [&e, started, recheck](const course& c) {
            auto it = e.known.find(c.id);
            return it != e.known.end() && started - it->second.at < recheck;
        };
        auto summary = co_await m.disc->run(std::move(req));
        for (const auto& r : summary.courses) {
            if (r.result == outcome::published || r.result == outcome::not_installed)
                e.known[r.c.id] = {r.result, started};
            else if (r.result != outcome::skipped)
                e.known.erase(r.c.id);
        }
        if (summary.ok()) {  // a complete listing: forget courses it no longer names
            std::set<std::string> listed;
            for (const auto& r : summary.courses) listed.insert(r.c.id);
            std::erase_if(e.known, [&listed](const auto& kv) { return !listed.contains(kv.first); });
        }
        e.due = started + e.cfg.interval;
        if (summary.ec == make_error_code(errc::cancelled)) co_return;
        if (summary.ec && is_configuration(summary.ec)) {
            lg.error("account discovery failed; an administrator must act",
                     {{"entry", describe(e.cfg)}, {"error", summary.ec.message()}, {"detail", summary.detail}});
        } else if (summary.ec) {
            lg.warning("account discovery stopped early; the next run is as scheduled",
                       {{"entry", describe(e.cfg)}, {"error", summary.ec.message()}, {"detail", summary.detail}});
        }
    }
}

}  // namespace rostersync::discovery
