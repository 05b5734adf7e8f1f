#include "app/status_page.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace rostersync::app {
namespace {

using sys_clock = std::chrono::system_clock;

constexpr std::string_view style = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1f24;background:#fff}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.6em 0 .4em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,monospace;word-break:break-all}
.ok{color:#fff;background:#1a7f37;padding:.1em .5em;border-radius:3px}
.bad{color:#fff;background:#cf222e;padding:.1em .5em;border-radius:3px}
.warn{color:#9a6700}.muted{color:#57606a}dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:0}
dt{color:#57606a}dd{margin:0}
)";

void append_escaped(std::string& out, std::string_view s)
{
    for (char ch : s) {
        switch (ch) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += ch;
        }
    }
}

std::string time_text(sys_clock::time_point t)
{
    const std::time_t tt = sys_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

std::string duration_text(std::chrono::seconds d)
{
    long s = std::max<long>(0, static_cast<long>(d.count()));
    const long days = s / 86400, hours = s / 3600 % 24, minutes = s / 60 % 60, secs = s % 60;
    auto two = [](long a, const char* ua, long b, const char* ub) {
        return std::to_string(a) + ua + (b > 0 ? " " + std::to_string(b) + ub : std::string());
    };
    if (days > 0) return two(days, "d", hours, "h");
    if (hours > 0) return two(hours, "h", minutes, "m");
    if (minutes > 0) return two(minutes, "m", secs, "s");
    return std::to_string(secs) + "s";
}

/// "2026-11-27 10:00:03 UTC (5m 3s ago)" or "(in 4s)".
std::string when_text(sys_clock::time_point now, sys_clock::time_point t)
{
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    const std::string rel = t <= now ? duration_text(duration_cast<seconds>(now - t)) + " ago"
                                     : "in " + duration_text(std::chrono::ceil<seconds>(t - now));
    return time_text(t) + " (" + rel + ")";
}

std::string number_text(double v)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    std::string out = buf;
    if (out.ends_with(".0")) out.resize(out.size() - 2);
    return out;
}

/// "a, b, c" — at most `max` items, then "and N more".
std::string list_text(const std::vector<std::string>& items, std::size_t max)
{
    std::string out;
    for (std::size_t i = 0; i < items.size() && i < max; ++i)
        out += (i == 0 ? "" : ", ") + items[i];
    if (items.size() > max) out += " and " + std::to_string(items.size() - max) + " more";
    return out;
}

/// Builds the page; text() escapes, raw() does not (only for literal markup).
class page {
public:
    page& raw(std::string_view s)
    {
        out_ += s;
        return *this;
    }
    page& text(std::string_view s)
    {
        append_escaped(out_, s);
        return *this;
    }
    page& cell(std::string_view s, bool numeric = false)
    {
        raw(numeric ? "<td class=\"n\">" : "<td>").text(s).raw("</td>");
        return *this;
    }
    page& code_cell(std::string_view s)
    {
        raw("<td><code>").text(s).raw("</code></td>");
        return *this;
    }
    page& head(std::initializer_list<std::string_view> names)
    {
        raw("<table><thead><tr>");
        for (auto n : names) raw("<th>").text(n).raw("</th>");
        raw("</tr></thead><tbody>\n");
        return *this;
    }
    page& more(std::size_t shown, std::size_t total, std::string_view what)
    {
        raw("</tbody></table>\n");
        if (total > shown)
            raw("<p class=\"warn\">")
                .text(
                    "and " + std::to_string(total - shown) + " more " + std::string(what) +
                    " (not listed)"
                )
                .raw("</p>\n");
        return *this;
    }
    page& para(std::string_view s, std::string_view cls = "muted")
    {
        if (cls.empty())
            raw("<p>");
        else
            raw("<p class=\"").raw(cls).raw("\">");
        text(s).raw("</p>\n");
        return *this;
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

void header(page& p, const status_page_data& d)
{
    p.raw("<h1>").text("rostersyncd on " + d.instance).raw("</h1>\n<dl>\n");
    p.raw("<dt>State</dt><dd>");
    if (d.ready)
        p.raw("<span class=\"ok\">ready</span>");
    else
        p.raw("<span class=\"bad\">").text("not ready: " + d.not_ready_reason).raw("</span>");
    p.raw("</dd>\n<dt>Version</dt><dd>")
        .text(d.version + (d.revision.empty() ? "" : " (" + d.revision + ")"));
    p.raw("</dd>\n<dt>Uptime</dt><dd>")
        .text(
            duration_text(std::chrono::duration_cast<std::chrono::seconds>(d.now - d.started)) +
            ", since " + time_text(d.started)
        );
    p.raw("</dd>\n<dt>Kafka</dt><dd>").text(d.kafka);
    p.raw("</dd>\n<dt>Page generated</dt><dd>")
        .text(time_text(d.now) + "; it refreshes every 10 s");
    p.raw("</dd>\n</dl>\n");
}

void budgets(page& p, const status_page_data& d)
{
    p.raw("<h2 id=\"budgets\">Budgets</h2>\n");
    if (d.budgets.empty()) {
        p.para("No budget used yet: a budget appears with the first request to a platform host.");
        return;
    }
    p.head(
        {"Budget (host or [[budgets]] name)",
         "Used by",
         "Remaining allowance (last reported)",
         "In flight",
         "Max in flight",
         "Waiting",
         "Rejected",
         "Paused until"}
    );
    std::size_t shown = 0;
    for (const auto& b : d.budgets) {
        if (shown == d.max_rows) break;
        ++shown;
        const auto& s = b.state;
        p.raw("<tr>").code_cell(b.name);
        std::string used;
        if (!b.platforms.empty()) used = "platforms " + list_text(b.platforms, 10);
        if (!b.hosts.empty())
            used += (used.empty() ? "hosts " : "; hosts ") + list_text(b.hosts, 10);
        p.cell(used.empty() ? "this host" : used);
        p.cell(
            s.remaining ? number_text(*s.remaining) : "not reported yet", s.remaining.has_value()
        );
        p.cell(std::to_string(s.in_flight), true).cell(std::to_string(s.max_in_flight), true);
        p.cell(std::to_string(s.waiting), true).cell(std::to_string(s.rejections), true);
        p.cell(
            s.paused_for
                ? when_text(d.now, d.now + std::chrono::ceil<sys_clock::duration>(*s.paused_for))
                : "—"
        );
        p.raw("</tr>\n");
    }
    p.more(shown, d.budgets.size(), "budgets");
}

void passes(page& p, const status_page_data& d)
{
    const auto& r = d.pipeline;
    p.raw("<h2 id=\"passes\">Passes in progress</h2>\n");
    if (r.running.empty()) {
        p.para("No pass is running.");
        return;
    }
    p.head({"Context", "Platform", "Started", "Pages so far", "Members so far"});
    for (const auto& x : r.running) {
        p.raw("<tr>").code_cell(x.context_key).cell(x.platform).cell(when_text(d.now, x.started));
        p.cell(std::to_string(x.pages), true).cell(std::to_string(x.members), true).raw("</tr>\n");
    }
    p.more(r.running.size(), r.running_total, "passes");
}

void held(page& p, const status_page_data& d)
{
    const auto& r = d.pipeline;
    p.raw("<h2 id=\"held\">Held contexts</h2>\n");
    if (r.held.empty()) {
        p.para("No removals are held.");
        return;
    }
    p.para(
        "The removal guard held these removals (a pass would have removed more than "
        "sync.max_removal_ratio of "
        "the roster). If they are real, release them; a release lets them through once, within 24 "
        "h.",
        ""
    );
    if (!d.admin_api)
        p.para(
            "The admin API is off: set http.admin_token_file and restart to use rostersync "
            "release.",
            "warn"
        );
    p.head({"Context", "Platform", "Reason", "Since", "How to release"});
    for (const auto& x : r.held) {
        p.raw("<tr>").code_cell(x.context_key).cell(x.platform);
        p.cell(std::to_string(x.removals) + " removals held by the removal guard");
        p.cell(x.since ? when_text(d.now, *x.since) : "—");
        if (x.released_until && *x.released_until > d.now)
            p.cell(
                "released until " + time_text(*x.released_until) +
                ": the next pass applies the removals"
            );
        else
            p.code_cell(d.release_command + " --context " + shell_quote(x.context_key));
        p.raw("</tr>\n");
    }
    p.more(r.held.size(), r.held_total, "held contexts");
}

void parked(page& p, const status_page_data& d)
{
    const auto& r = d.pipeline;
    p.raw("<h2 id=\"parked\">Parked contexts</h2>\n");
    if (r.parked.empty()) {
        p.para("No context is parked.");
        return;
    }
    p.raw("<p>").text(
        "Parked contexts are not pulled until a new launch arrives, or until an operator runs "
    );
    p.raw("<code>").text(d.resync_command + " --context KEY").raw("</code>.</p>\n");
    p.head({"Context", "Platform", "Reason"});
    for (const auto& x : r.parked)
        p.raw("<tr>").code_cell(x.context_key).cell(x.platform).cell(x.reason).raw("</tr>\n");
    p.more(r.parked.size(), r.parked_total, "parked contexts");
}

void errors(page& p, const status_page_data& d)
{
    const auto& r = d.pipeline;
    p.raw("<h2 id=\"errors\">Last errors</h2>\n");
    if (r.errors.empty()) {
        p.para("No pass failed since the start.");
        return;
    }
    p.head({"Time", "Context", "Outcome", "Reason"});
    for (const auto& e : r.errors)
        p.raw("<tr>")
            .cell(when_text(d.now, e.at))
            .code_cell(e.context_key)
            .cell(e.outcome)
            .cell(e.reason)
            .raw("</tr>\n");
    p.raw("</tbody></table>\n");
    p.para(
        r.errors.size() == 1 ? std::string("The last pass error (at most 20 are kept).")
                             : "The last " + std::to_string(r.errors.size()) +
                                   " pass errors, newest first (at most 20 are kept)."
    );
}

void partitions(page& p, const status_page_data& d)
{
    const auto& r = d.pipeline;
    p.raw("<h2 id=\"partitions\">Partitions</h2>\n");
    if (r.partitions.empty()) {
        p.para(
            "This instance owns no partition (yet): partitions are assigned shortly after the "
            "start and "
            "during a rebalance."
        );
        return;
    }
    std::size_t live = 0;
    for (const auto& x : r.partitions) live += x.ph == sync::partition_status::phase::live;
    p.para(
        std::to_string(r.partitions.size()) + " partitions owned: " + std::to_string(live) +
            " ready, " + std::to_string(r.partitions.size() - live) + " restoring; " +
            std::to_string(r.memberships_total) + " memberships and " +
            std::to_string(r.contexts_total) + " contexts tracked.",
        ""
    );
    p.head({"Partition", "State", "Memberships tracked", "Contexts"});
    for (const auto& x : r.partitions) {
        std::string state;
        switch (x.ph) {
            case sync::partition_status::phase::loading:
                state = "restoring: table " + std::to_string(x.done) + "/" +
                        std::to_string(x.total) + " records";
                break;
            case sync::partition_status::phase::replaying:
                state = "restoring: change stream " + std::to_string(x.done) + "/" +
                        std::to_string(x.total) + " changes";
                break;
            case sync::partition_status::phase::live:
                state = "ready";
                break;
        }
        p.raw("<tr>").cell(std::to_string(x.partition), true).cell(state);
        p.cell(std::to_string(x.memberships), true)
            .cell(std::to_string(x.contexts), true)
            .raw("</tr>\n");
    }
    p.raw("</tbody></table>\n");
}

}  // namespace

std::string html_escape(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    append_escaped(out, s);
    return out;
}

std::string shell_quote(std::string_view s)
{
    const bool plain = !s.empty() && s.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789@%+=:,./-_"
                                     ) == std::string_view::npos;
    if (plain) return std::string(s);
    std::string out = "'";
    for (char ch : s) {
        if (ch == '\'')
            out += "'\\''";
        else
            out += ch;
    }
    return out + "'";
}

std::string render_status_page(const status_page_data& d)
{
    page p;
    p.raw(
         "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta http-equiv=\"refresh\" content=\"10\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>"
    )
        .text("rostersyncd on " + d.instance + (d.ready ? " — ready" : " — not ready"))
        .raw("</title>\n<style>")
        .raw(style)
        .raw("</style>\n</head>\n<body>\n");
    header(p, d);
    budgets(p, d);
    passes(p, d);
    held(p, d);
    parked(p, d);
    errors(p, d);
    partitions(p, d);
    p.raw(
        "<p class=\"muted\">Read-only. The same data as JSON: rostersync status (admin API); "
        "metrics at "
        "<code>/metrics</code>.</p>\n</body>\n</html>\n"
    );
    return p.take();
}

http_response status_page_response(const status_page_data& d)
{
    http_response r{.body = render_status_page(d), .content_type = "text/html; charset=utf-8"};
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    );
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("X-Frame-Options", "DENY");
    return r;
}

}  // namespace rostersync::app
