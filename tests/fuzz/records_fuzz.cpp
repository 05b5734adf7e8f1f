// The records the daemon keeps in Kafka (contexts, memberships, checkpoints, changes, sync
// requests) are read back at every restore: a record damaged or written by someone else must decode
// or fail with a message, never crash. The first byte picks the decoder; what decodes is encoded
// again and must decode to the same thing (the encoders write what the decoders read). Sync
// requests: a CourseSeen that ingest accepts is written normalised (encode_sync_request) and parsed
// again by the pass scheduler, which must accept it as the same request.
#include "fuzz_platforms.hpp"

#include "roster/encode.hpp"
#include "sync/records.hpp"
#include "sync/state.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>

namespace {

using namespace rostersync;

void check(bool ok)
{
    if (!ok) std::abort();
}

void contexts(std::string_view text)
{
    auto c = sync::decode_context(text);
    if (!c) return;
    const std::string once = sync::encode_context(*c);
    auto again = sync::decode_context(once);
    check(again.has_value());
    check(sync::encode_context(*again) == once);

    // A restored schedule goes on through the scheduler: no overflow, whatever the record said.
    const sync::schedule_params params;
    const auto now = roster::time_point{} + std::chrono::hours(24 * 365 * 56);
    auto s = c->schedule;
    (void)sync::retire_if_stale(s, now, params);
    (void)sync::on_request(s, now, true, params);
    sync::on_pass_started(s, now);
    sync::on_pass_finished(s, now, false, params);
    sync::on_pass_failed(s, now, std::chrono::minutes(5));
    long periodic = 0, total = 0;
    (void)sync::due_order({c->schedule, s}, now, 2, params.resync_share, periodic, total);
}

void rows(std::string_view text)
{
    auto r = sync::decode_row(text);
    if (!r) return;
    const roster::member_state m{r->member, r->provisional, r->launch_seen_at};
    const std::string once = sync::encode_row(r->issuer, r->context_id, m, r->roster_version);
    auto again = sync::decode_row(once);
    check(again.has_value());
    check(
        again->member == r->member && again->issuer == r->issuer &&
        again->context_id == r->context_id && again->provisional == r->provisional &&
        again->roster_version == r->roster_version
    );
}

void checkpoints(std::string_view text)
{
    auto c = sync::decode_checkpoint(text);
    if (!c) return;
    const std::string once = sync::encode_checkpoint(*c);
    auto again = sync::decode_checkpoint(once);
    check(again.has_value());
    check(sync::encode_checkpoint(*again) == once);
}

void changes(std::string_view text)
{
    auto e = sync::decode_change(text);
    if (!e) return;
    check(!e->type.empty() && !e->issuer.empty() && !e->context_id.empty() && !e->user_id.empty());
    check(e->type == "member.removed" || e->after.has_value());
    sync::partition_state state;
    state.apply(*e, 0);
    state.apply(*e, 0);  // a replay is ignored
    check(state.ignored() == 1 && state.position() == 1);

    // Known types go through the change encoder and back.
    std::optional<roster::change_type> type;
    for (auto t :
         {roster::change_type::added,
          roster::change_type::removed,
          roster::change_type::roles_changed,
          roster::change_type::status_changed,
          roster::change_type::profile_changed}) {
        if (roster::to_string(t) == e->type) type = t;
    }
    if (!type) return;
    roster::change c{*type, e->user_id, std::nullopt, e->after};
    if (*type == roster::change_type::removed) c.after.reset();
    roster::event_context ctx;
    ctx.issuer = e->issuer;
    ctx.context_id = e->context_id;
    ctx.source = e->source;
    ctx.roster_version = e->roster_version;
    ctx.time = e->time.value_or(roster::time_point{});
    auto again = sync::decode_change(roster::encode_change(c, ctx));
    check(again.has_value());
    check(
        again->type == e->type && again->issuer == e->issuer &&
        again->context_id == e->context_id && again->user_id == e->user_id &&
        again->source == e->source && again->roster_version == e->roster_version &&
        again->after == c.after
    );
    check(again->time == std::chrono::floor<std::chrono::milliseconds>(ctx.time));
}

bool same_request(const sync::course_seen& a, const sync::course_seen& b)
{
    const auto ms = [](const std::optional<roster::time_point>& t) {
        return t ? std::optional(std::chrono::floor<std::chrono::milliseconds>(*t)) : std::nullopt;
    };
    const bool users =
        a.user.has_value() == b.user.has_value() &&
        (!a.user || (a.user->user_id == b.user->user_id && a.user->roles == b.user->roles &&
                     a.user->name == b.user->name && a.user->email == b.user->email));
    return a.platform == b.platform && a.issuer == b.issuer && a.client_id == b.client_id &&
           a.deployment_id == b.deployment_id && a.context_id == b.context_id &&
           a.context_label == b.context_label && a.context_title == b.context_title &&
           a.memberships_url == b.memberships_url && a.resource_link_id == b.resource_link_id &&
           ms(a.seen_at) == b.seen_at && a.force == b.force && users;
}

void sync_requests(std::string_view text)
{
    // The ingest limit, small so that the fuzzer reaches it. The normalised request can be a few
    // bytes longer than the record ("…:00Z" becomes "…:00.000Z", a path "/" is added), so it is
    // parsed again without the limit: a record at the limit, parsed again with it, is refused
    // (corpus/records/request_at_the_limit; sync/records_test.cpp, a disabled test).
    constexpr std::size_t limit = 2048;
    auto cs = sync::parse_course_seen(text, fuzz::fuzz_config(), limit);
    if (!cs) return;
    auto again = sync::parse_course_seen(
        sync::encode_sync_request(*cs), fuzz::fuzz_config(), std::numeric_limits<std::size_t>::max()
    );
    check(again.has_value());
    check(same_request(*cs, *again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    switch (data[0] % 5) {
        case 0:
            contexts(text);
            break;
        case 1:
            rows(text);
            break;
        case 2:
            checkpoints(text);
            break;
        case 3:
            changes(text);
            break;
        default:
            sync_requests(text);
            break;
    }
    return 0;
}
