// CourseSeen records come from whoever can write to the course-seen topic: any bytes must give a
// sync request or a rejection, never a crash. Beyond "no crash", the fuzzer checks what ingest
// promises: an accepted memberships URL passes the platform's URL guard again as written (it is
// what later requests use), and a rejection's message is printable ASCII (it goes into Kafka
// headers and logs).
#include "fuzz_platforms.hpp"

#include "http/url.hpp"
#include "sync/course_seen.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

using namespace rostersync;
using fuzz::fuzz_config;

void check(bool ok)
{
    if (!ok) std::abort();
}

bool printable(std::string_view s)
{
    for (unsigned char c : s) {
        if (c < 0x20 || c >= 0x7f) return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto& cfg = fuzz_config();
    (void)sync::parse_rfc3339(text);

    auto r = sync::parse_course_seen(text, cfg, 16 * 1024);
    if (!r) {
        check(
            !r.error().reason.empty() && printable(r.error().reason) && printable(r.error().message)
        );
        return 0;
    }
    const config::platform* p = nullptr;
    for (const auto& candidate : cfg.platforms) {
        if (candidate.name == r->platform) p = &candidate;
    }
    check(p != nullptr && p->issuer == r->issuer && p->client_id == r->client_id);
    check(!r->context_id.empty() && !r->issuer.empty() && !r->client_id.empty());
    if (p->nrps) check(!r->memberships_url.empty());
    if (!r->memberships_url.empty()) {
        auto u = http::parse_url(r->memberships_url);
        check(u.has_value());
        check(!http::check_url(*u, http::host_policy{p->allowed_hosts, p->allow_http}));
        check(u->str() == r->memberships_url);  // normalised once, stable after
    }
    if (r->user) check(!r->user->user_id.empty() && !r->user->roles.empty());
    return 0;
}
