#include "discovery/rest_client.hpp"

#include "common/log.hpp"
#include "discovery/error.hpp"
#include "http/error.hpp"
#include "http/link_header.hpp"
#include "http/url.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>

namespace rostersync::discovery {
namespace {

const log::logger lg{"discovery"};

rest_error err(errc e, std::string detail)
{
    return {make_error_code(e), std::move(detail)};
}

bool same_origin(const http::url& a, const http::url& b)
{
    return a.scheme == b.scheme && a.host == b.host && a.port == b.port;
}

/// Path (and query) of a URL for messages; the query is dropped when it may carry a signature.
std::string shown(const http::url& u, bool with_query = true)
{
    if (with_query) return u.target;
    return u.target.substr(0, u.target.find('?'));
}

/// Waits; false when cancelled.
awaitable<bool> pause(std::chrono::milliseconds d)
{
    auto ex = co_await net::this_coro::executor;
    net::steady_timer t(ex, d);
    co_await t.async_wait(nothrow);
    auto cs = co_await net::this_coro::cancellation_state;
    co_return cs.cancelled() == net::cancellation_type::none;
}

}  // namespace

void throw_exception_from_error(const rest_error& e, const boost::source_location&)
{
    throw std::runtime_error(e.ec.message() + (e.detail.empty() ? "" : ": " + e.detail));
}

result<std::string, rest_error> read_token_file(const std::string& path)
{
    auto unreadable = [&](const std::string& why) {
        return err(errc::token_file, "cannot read the REST token file " + path + ": " + why);
    };
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return unreadable(std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return unreadable("not a regular file");
    if ((st.st_mode & 077) != 0)
        return err(errc::token_file, path + " is readable by group or others; run: chmod 600 " + path);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return unreadable(std::strerror(errno));
    std::string text;
    std::array<char, 4096> buf{};
    bool failed = false;
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) failed = true;
        if (n <= 0) break;
        text.append(buf.data(), static_cast<std::size_t>(n));
        if (text.size() > 8192) break;
    }
    ::close(fd);
    if (failed) return unreadable(std::strerror(errno));
    text = text.substr(0, text.find('\n'));
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.erase(0, 1);
    if (text.empty()) return err(errc::token_file, "the REST token file " + path + " is empty");
    if (text.size() > 4096) return err(errc::token_file, "the REST token in " + path + " is longer than 4 KiB");
    for (unsigned char c : text)
        if (c < 0x21 || c > 0x7e)
            return err(errc::token_file, "the REST token in " + path + " has blanks or control characters");
    return text;
}

rest_client::rest_client(http::client& http, throttle::budget& budget, config::platform p, std::string token,
                         rest_options opts, metrics::family<prometheus::Counter>* requests)
    : http_(http), budget_(budget), p_(std::move(p)), token_(std::move(token)), opts_(opts), requests_(requests)
{
    if (auto u = http::parse_url(p_.rest_url)) base_ = *u;
}

std::chrono::milliseconds rest_client::backoff(int attempt) const
{
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    auto cap = std::min<long long>(opts_.backoff_cap.count(),
                                   opts_.backoff_base.count() * (1LL << std::min(attempt, 20)));
    std::uniform_int_distribution<long long> d(cap / 2, std::max<long long>(cap / 2, cap));
    return std::chrono::milliseconds(d(rng));
}

awaitable<result<http::response, rest_error>> rest_client::call(std::string method, std::string url_text,
                                                                std::string body, std::string what,
                                                                std::string permission)
{
    co_await net::this_coro::throw_if_cancelled(false);
    const http::host_policy policy{.allowed_hosts = p_.allowed_hosts, .allow_http = p_.allow_http};
    auto u = http::parse_url(url_text);
    if (!u) co_return err(errc::url_refused, what + ": not an absolute http(s) URL");
    if (auto ec = http::check_url(*u, policy)) {
        co_return err(errc::url_refused, what + ": " + ec.message() + " (host " + u->host + "; platform " + p_.name +
                                             " allows " + std::to_string(p_.allowed_hosts.size()) +
                                             " hosts in allowed_hosts: add this one if it is the platform's)");
    }
    // Only the REST host gets the token and counts against its bucket; a file store's
    // pre-signed URL needs neither.
    const bool rest_host = same_origin(*u, base_);
    const std::string label = method + " " + shown(*u, rest_host);
    std::chrono::milliseconds wait_left = budget_.max_wait();
    int attempts = 0;
    int throttled = 0;
    for (;;) {
        std::optional<throttle::permit> permit;
        if (rest_host) {
            auto pr = co_await budget_.acquire(throttle::priority::periodic, wait_left);
            if (!pr) {
                if (pr.error() == make_error_code(throttle::errc::cancelled)) co_return err(errc::cancelled, {});
                co_return err(errc::throttled, what + ": waited longer than max_wait for budget " + budget_.name());
            }
            wait_left -= pr->waited();
            permit.emplace(std::move(*pr));
        }
        http::request req;
        req.method = method;
        req.target = *u;
        req.headers.emplace_back("Accept", "application/json+canvas-string-ids, application/json, text/csv, */*");
        if (rest_host) req.headers.emplace_back("Authorization", "Bearer " + token_);
        if (!body.empty()) {
            req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
            req.body = body;
        }
        auto r = co_await http_.send(std::move(req), policy, p_.ca_file);
        if (!r) {
            if (permit) permit->finish(std::nullopt);
            if (requests_ != nullptr) requests_->with({budget_.name(), "error"}).Increment();
            if (r.error() == make_error_code(common::errc::cancelled)) co_return err(errc::cancelled, {});
            if (auto cs = co_await net::this_coro::cancellation_state; cs.cancelled() != net::cancellation_type::none)
                co_return err(errc::cancelled, {});
            if (r.error() == make_error_code(http::errc::redirect_not_followed))
                co_return err(errc::url_refused, what + ": " + label + " answered with a redirect, which rostersync "
                                                                          "never follows");
            if (is_retryable(r.error()) && ++attempts < opts_.max_attempts) {
                ++retries_;
                lg.debug("retrying a REST call", {{"call", label}, {"attempt", attempts}, {"reason", r.error().message()}});
                const bool alive = co_await pause(backoff(attempts));
                if (!alive) co_return err(errc::cancelled, {});
                continue;
            }
            if (is_retryable(r.error()))
                co_return err(errc::server_error, what + ": " + r.error().message() + " (after " +
                                                      std::to_string(attempts) + " attempts)");
            co_return err(errc::unexpected_status, what + ": " + r.error().message());
        }
        const unsigned status = r->status;
        if (requests_ != nullptr) requests_->with({budget_.name(), std::to_string(status)}).Increment();
        std::optional<double> remaining;
        if (auto h = r->header("X-Rate-Limit-Remaining"); !h.empty()) remaining = http::header_number(h);
        if (status == 429 || (status == 403 && r->body.find("Rate Limit Exceeded") != std::string::npos)) {
            if (permit) permit->rejected(http::retry_after(r->header("Retry-After")));
            ++throttle_waits_;
            if (++throttled > opts_.max_throttle_retries)
                co_return err(errc::throttled, what + ": rejected " + std::to_string(throttled) +
                                                   " times by the platform's rate limit");
            if (!permit) {  // not under the budget (a file store): wait here instead
                const bool alive = co_await pause(backoff(throttled));
                if (!alive) co_return err(errc::cancelled, {});
            }
            continue;
        }
        if (permit) permit->finish(remaining);
        if (status >= 200 && status < 300) co_return std::move(*r);
        const std::string message = canvas_error_message(r->body);
        if (status == 401 || status == 403) {
            if (message.find("not authorized") != std::string::npos || status == 403)
                co_return err(errc::not_authorized,
                              what + ": Canvas answered " + std::to_string(status) + " \"" + message + "\" to " + label +
                                  " on platform " + p_.name + " (" + p_.rest_url + "): the user behind the REST token " +
                                  "needs " + permission);
            co_return err(errc::token_rejected,
                          what + ": Canvas answered " + std::to_string(status) + " \"" + message + "\" to " + label +
                              ": it does not accept the REST token in " + p_.rest_token_file +
                              " (expired, deleted or for another Canvas); issue a new one");
        }
        if (status == 404)
            co_return err(errc::not_found, what + ": " + label + " answered 404 \"" + message + "\"");
        if (status >= 500 && ++attempts < opts_.max_attempts) {
            ++retries_;
            const bool alive = co_await pause(backoff(attempts));
            if (!alive) co_return err(errc::cancelled, {});
            continue;
        }
        if (status >= 500)
            co_return err(errc::server_error, what + ": " + label + " answered " + std::to_string(status) + " after " +
                                                  std::to_string(attempts) + " attempts");
        co_return err(errc::unexpected_status,
                      what + ": " + label + " answered " + std::to_string(status) + " \"" + message + "\"");
    }
}

awaitable<result<std::vector<course>, rest_error>> rest_client::list_courses(std::string account, filters f,
                                                                             std::function<void(int, std::size_t)> on_page)
{
    // g++ 12: every argument of a co_awaited call is a named object (no temporaries).
    const std::string get = "GET";
    const std::string no_body;
    const std::string what = "listing the courses of account " + account;
    const std::string permission = "the account permission to list its courses (\"Courses - view list\", "
                                   "read_course_list) on account " + account;
    std::string next = courses_url(p_.rest_url, account, f, opts_.per_page);
    std::set<std::string> visited;
    std::set<std::string> ids;
    std::vector<course> out;
    int pages = 0;
    while (!next.empty()) {
        if (pages >= opts_.max_pages)
            co_return err(errc::too_many_pages, what + ": more than " + std::to_string(opts_.max_pages) + " pages");
        if (!visited.insert(next).second)
            co_return err(errc::too_many_pages, what + ": a rel=\"next\" link repeats page " + std::to_string(pages));
        const std::string current = next;
        auto r = co_await call(get, current, no_body, what, permission);
        if (!r) co_return r.error();
        auto page = parse_courses_page(r->body);
        if (!page) co_return err(errc::malformed, what + ": page " + std::to_string(pages + 1) + ": " + page.error().message);
        ++pages;
        ++pages_;
        for (auto& c : *page)
            if (ids.insert(c.id).second) out.push_back(std::move(c));
        if (on_page) on_page(pages, out.size());
        auto links = http::parse_link_header(r->headers_named("Link"));
        if (!links) co_return err(errc::malformed, what + ": page " + std::to_string(pages) + ": a Link header that "
                                                            "RFC 8288 cannot read");
        next.clear();
        if (auto n = http::find_rel(*links, "next")) {
            auto abs = http::resolve_reference(current, *n);
            if (!abs) co_return err(errc::malformed, what + ": a rel=\"next\" link is not a URL");
            auto nu = http::parse_url(*abs);
            if (!nu || !same_origin(*nu, base_))
                co_return err(errc::url_refused, what + ": a rel=\"next\" link leaves " + p_.rest_url);
            next = *abs;
        }
    }
    co_return out;
}

awaitable<result<std::string, rest_error>> rest_client::account_id(std::string account)
{
    if (is_canvas_id(account)) co_return account;
    const std::string get = "GET";
    const std::string no_body;
    const std::string what = "looking up account " + account;
    const std::string url = account_url(p_.rest_url, account);
    const std::string permission = "the account permission to read account " + account;
    auto r = co_await call(get, url, no_body, what, permission);
    if (!r) co_return r.error();
    auto id = parse_account_id(r->body);
    if (!id) co_return err(errc::malformed, what + ": " + id.error().message);
    co_return *id;
}

awaitable<result<std::vector<course>, rest_error>> rest_client::report_courses(
    std::string account, filters f, std::function<void(const report_status&)> on_poll)
{
    const std::string get = "GET";
    const std::string post = "POST";
    const std::string no_body;
    const std::string what = "the provisioning report of account " + account;
    const std::string permission = "the account permission to run reports (\"Reports - manage\", read_reports) "
                                   "on account " + account;
    const std::string start_url = report_url(p_.rest_url, account);
    const std::string form = report_form(f);
    auto started = co_await call(post, start_url, form, what, permission);
    if (!started) co_return started.error();
    auto st = parse_report(started->body);
    if (!st) co_return err(errc::malformed, what + ": starting it: " + st.error().message);
    lg.info("provisioning report started", {{"platform", p_.name}, {"account", account}, {"report", st->id}});
    if (on_poll) on_poll(*st);
    const auto deadline = std::chrono::steady_clock::now() + opts_.report_timeout;
    for (int attempt = 0; st->running(); ++attempt) {
        if (std::chrono::steady_clock::now() >= deadline)
            co_return err(errc::report_timeout, what + ": report " + st->id + " still " + st->status + " after " +
                                                    std::to_string(std::chrono::duration_cast<std::chrono::minutes>(
                                                                       opts_.report_timeout).count()) + " minutes");
        const bool alive = co_await pause(poll_delay(attempt, opts_.poll_first, opts_.poll_cap));
        if (!alive) co_return err(errc::cancelled, {});
        const std::string status_url = report_status_url(p_.rest_url, account, st->id);
        auto r = co_await call(get, status_url, no_body, what, permission);
        if (!r) co_return r.error();
        st = parse_report(r->body);
        if (!st) co_return err(errc::malformed, what + ": polling it: " + st.error().message);
        if (on_poll) on_poll(*st);
    }
    if (!st->complete())
        co_return err(errc::report_failed, what + ": report " + st->id + " ended \"" + st->status + "\"" +
                                               (st->message.empty() ? "" : ": " + st->message));
    std::string file = st->file_url;
    if (!st->file_id.empty()) {
        const std::string public_url = public_url_url(p_.rest_url, st->file_id);
        const std::string file_what = what + ": its file";
        const std::string file_permission = "permission to read the report's file (the user who ran the report has it)";
        auto pu = co_await call(get, public_url, no_body, file_what, file_permission);
        if (!pu) co_return pu.error();
        auto url = parse_public_url(pu->body);
        if (!url) co_return err(errc::malformed, what + ": the file's public_url: " + url.error().message);
        file = *url;
    }
    if (file.empty()) co_return err(errc::malformed, what + ": report " + st->id + " is complete without a file");
    const std::string download_what = what + ": downloading its file";
    const std::string download_permission = "permission to read the report's file";
    auto body = co_await call(get, file, no_body, download_what, download_permission);
    if (!body) co_return body.error();
    if (body->body.starts_with("PK\x03\x04"))
        co_return err(errc::bad_csv, what + ": the file is a zip archive, expected the courses CSV");
    std::vector<course> out;
    std::set<std::string> ids;
    courses_csv csv([&](course c) {
        if (ids.insert(c.id).second) out.push_back(std::move(c));
    });
    // Parsed as a stream, in slices: memory stays bounded by the courses kept, not the rows read.
    std::string_view all = body->body;
    constexpr std::size_t slice = 64 * 1024;
    for (std::size_t pos = 0; pos < all.size(); pos += slice) {
        if (auto e = csv.feed(all.substr(pos, slice)); !e)
            co_return err(errc::bad_csv, what + ": line " + std::to_string(e.error().line) + ": " + e.error().message);
    }
    if (auto e = csv.finish(); !e)
        co_return err(errc::bad_csv, what + ": line " + std::to_string(e.error().line) + ": " + e.error().message);
    co_return out;
}

}  // namespace rostersync::discovery
