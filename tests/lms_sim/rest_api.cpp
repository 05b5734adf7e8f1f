// The Canvas REST API side of the simulated platform (account discovery): accounts, the courses
// list with Canvas's bookmark pagination, sub-accounts, provisioning reports that take a while,
// their files (a redirecting download URL and a pre-signed public URL on the file store), REST
// tokens with an account scope and permissions, Canvas's 401 bodies, and the throttle (one
// bucket per REST token, as Canvas keys REST requests by token).
#include "lms_sim/sim_core.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <map>
#include <random>
#include <set>

namespace rostersync::lms_sim {
namespace json = boost::json;

namespace {

sim_response reply(int status, std::string body)
{
    sim_response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

sim_response not_found()
{
    return reply(404, R"({"errors":[{"message":"The specified resource does not exist."}]})");
}

sim_response unauthorized()
{
    return reply(401, R"({"status":"unauthorized","errors":[{"message":"user not authorized to perform that action"}]})");
}

sim_response invalid_token()
{
    auto r = reply(401, R"({"errors":[{"message":"Invalid access token."}]})");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"canvas-lms\"");
    return r;
}

std::optional<std::uint64_t> to_u64(std::string_view s)
{
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

bool truthy(std::string_view v)
{
    return v == "true" || v == "1" || v == "yes" || v == "on";
}

std::string encode(std::string_view s)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

constexpr char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(std::string_view in)
{
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : in) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += b64[(acc >> bits) & 63];
        }
    }
    if (bits > 0) out += b64[(acc << (6 - bits)) & 63];
    return out;
}

std::optional<std::string> unbase64url(std::string_view in)
{
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        const char* p = std::find(b64, b64 + 64, c);
        if (p == b64 + 64) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}

/// Canvas's bookmark for "after this id": bookmark:<base64url of [id]>.
std::string bookmark(std::uint64_t last_id)
{
    return "bookmark:" + base64url("[" + std::to_string(last_id) + "]");
}

std::optional<std::uint64_t> from_bookmark(std::string_view page)
{
    if (!page.starts_with("bookmark:")) return std::nullopt;
    auto text = unbase64url(page.substr(9));
    if (!text || text->size() < 3 || text->front() != '[' || text->back() != ']') return std::nullopt;
    return to_u64(std::string_view(*text).substr(1, text->size() - 2));
}

std::string random_hex(std::size_t n)
{
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += digits[rng() % 16];
    return s;
}

std::string port_suffix(std::string_view host_header)
{
    if (!host_header.empty() && host_header.front() == '[') {
        auto close = host_header.find(']');
        return close == std::string_view::npos ? "" : std::string(host_header.substr(close + 1));
    }
    auto colon = host_header.rfind(':');
    return colon == std::string_view::npos ? "" : std::string(host_header.substr(colon));
}

std::vector<std::string_view> split_path(std::string_view path)
{
    std::vector<std::string_view> out;
    while (!path.empty()) {
        auto slash = path.find('/');
        auto seg = path.substr(0, slash);
        if (!seg.empty()) out.push_back(seg);
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

std::string csv_field(const std::string& v)
{
    if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
    std::string out = "\"";
    for (char c : v) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string report_status_of(const std::string& state)
{
    if (state == "created" || state == "claimed") return "unpublished";
    if (state == "available") return "active";
    if (state == "completed") return "concluded";
    return "deleted";
}

}  // namespace

std::string sim_core::provisioning_csv(const sim_report& r) const
{
    // AccountReports::SisExporter#courses (non-SIS format): this header, every course of the
    // account and its sub-accounts, neither deleted nor completed unless include_deleted.
    std::string out = "canvas_course_id,course_id,integration_id,short_name,long_name,canvas_account_id,account_id,"
                      "canvas_term_id,term_id,status,start_date,end_date,course_format,canvas_blueprint_course_id,"
                      "blueprint_course_id,created_by_sis\r\n";
    const auto tree = state_.w.account_tree(r.account);
    for (const auto& [id, c] : state_.w.courses()) {
        if (!tree.count(c.account_id)) continue;
        if (r.term && c.term_id != *r.term) continue;
        if (!r.include_deleted && (c.state == "deleted" || c.state == "completed")) continue;
        out += std::to_string(id) + ",SIS-" + std::to_string(id) + ",," + csv_field(c.label) + "," + csv_field(c.title) +
               "," + std::to_string(c.account_id) + ",," + std::to_string(c.term_id) + ",," +
               report_status_of(c.state) + ",,,,,,false\r\n";
    }
    return out;
}

std::string sim_core::render_report(const sim_report& r, const std::string& origin) const
{
    json::object params{{"courses", true}, {"include_deleted", r.include_deleted}};
    if (r.term) params["enrollment_term_id"] = *r.term;
    json::object o{{"id", r.id},
                   {"report", "provisioning_csv"},
                   {"status", r.status},
                   {"created_at", "2026-11-27T10:00:00Z"},
                   {"progress", r.status == "complete" ? 100 : r.status == "created" ? 0 : 50},
                   {"current_line", nullptr},
                   {"file_url", nullptr},
                   {"attachment", nullptr}};
    if (r.status == "error")
        params["extra_text"] = "Generating the report, Provisioning, failed.  Please report this error to support.";
    if (r.status == "complete") {
        const auto& f = state_.files.at(r.file_id);
        o["file_url"] = origin + "/accounts/" + std::to_string(r.account) + "/files/" + std::to_string(r.file_id) + "/download";
        o["attachment"] = json::object{
            {"id", r.file_id},
            {"display_name", f.name},
            {"filename", f.name},
            {"content-type", f.content_type},
            {"size", f.content.size()},
            {"url", origin + "/files/" + std::to_string(r.file_id) + "/download?download_frd=1&verifier=" + f.verifier}};
    }
    o["parameters"] = std::move(params);
    return json::serialize(o);
}

sim_response sim_core::handle_rest(const sim_request& req, request_record& rec, double now)
{
    auto qpos = req.target.find('?');
    const std::string path = req.target.substr(0, qpos);
    auto query = parse_query(qpos == std::string::npos ? "" : std::string_view(req.target).substr(qpos + 1));
    const host_config* host = find_host(req.host);
    const std::string origin = req.scheme + "://" + req.host;

    std::optional<fault> f = take_fault("rest", 0, 0);
    if (f) rec.fault = f->what == fault::kind::status ? "status" : f->what == fault::kind::throttle ? "throttle" : "other";
    if (f && f->what == fault::kind::slow) extra_delay_ += f->delay_ms / 1000.0;
    if (f && f->what == fault::kind::status) {
        auto r = reply(f->status, "<html><body><h1>" + std::to_string(f->status) + "</h1></body></html>");
        r.content_type = "text/html";
        return r;
    }
    if (f && f->what == fault::kind::reset) {
        sim_response r;
        r.how = sim_response::transport::reset;
        return r;
    }

    std::string token;
    if (req.authorization.size() > 7 && (req.authorization.starts_with("Bearer ") || req.authorization.starts_with("bearer ")))
        token = req.authorization.substr(7);
    for (const auto& [k, v] : query)
        if (k == "access_token" && token.empty()) token = v;
    auto tok = state_.rest_tokens.find(token);
    if (tok == state_.rest_tokens.end()) return invalid_token();  // LTI Advantage tokens too: not REST tokens
    const rest_token& t = tok->second;
    rec.client_id = "rest";

    sim_response r;
    const auto& th = opts_.throttle;
    if (th.enabled) {
        const std::string key = "rest:" + t.token + "|" + host->cluster;
        auto& bucket = state_.buckets.try_emplace(key, th.bucket).first->second;
        if (f && f->what == fault::kind::throttle) return reject(rec);
        if (!bucket.admit(now)) return reject(rec);
        r.bucket_key = key;
        r.admitted = true;
    }
    r.cost = opts_.rest.page_base_cost;
    auto finish = [&](sim_response body) {
        body.bucket_key = r.bucket_key;
        body.admitted = r.admitted;
        body.cost = r.cost;
        body.delay_seconds += body.cost * th.seconds_per_cost;
        return body;
    };

    const auto seg = split_path(std::string_view(path).substr(std::string_view("/api/v1/").size()));
    auto param = [&](std::string_view name) -> std::optional<std::string> {
        for (const auto& [k, v] : query)
            if (k == name) return v;
        return std::nullopt;
    };
    auto params = [&](std::string_view name) {
        std::vector<std::string> out;
        for (const auto& [k, v] : query)
            if (k == name) out.push_back(v);
        return out;
    };
    // /api/v1/files/:id/public_url
    if (seg.size() == 3 && seg[0] == "files" && seg[2] == "public_url" && req.method == "GET") {
        auto id = to_u64(seg[1]);
        auto it = id ? state_.files.find(*id) : state_.files.end();
        if (it == state_.files.end()) return finish(not_found());
        const std::string files_host = opts_.rest.files_host.empty() ? host->name : opts_.rest.files_host;
        const std::string url = req.scheme + "://" + files_host + port_suffix(req.host) + "/_files/" +
                                std::to_string(*id) + "?sig=" + it->second.verifier;
        return finish(reply(200, json::serialize(json::object{{"public_url", url}})));
    }
    if (seg.size() < 2 || seg[0] != "accounts") return finish(not_found());
    auto account_id = to_u64(seg[1]);
    const account* acc = account_id ? state_.w.find_account(*account_id) : nullptr;
    if (acc == nullptr) return finish(not_found());
    // The token's user administers its account and everything below it.
    const bool in_scope = state_.w.account_tree(t.account).count(acc->id) != 0;

    // GET /api/v1/accounts/:id
    if (seg.size() == 2 && req.method == "GET") {
        if (!in_scope) return finish(unauthorized());
        json::object o{{"id", acc->id}, {"name", acc->name}, {"workflow_state", "active"}, {"root_account_id", nullptr},
                       {"parent_account_id", nullptr}};
        if (acc->parent != 0) {
            o["parent_account_id"] = acc->parent;
            o["root_account_id"] = 1;
        }
        return finish(reply(200, json::serialize(o)));
    }
    // GET /api/v1/accounts/:id/sub_accounts[?recursive=true]
    if (seg.size() == 3 && seg[2] == "sub_accounts" && req.method == "GET") {
        if (!in_scope) return finish(unauthorized());
        const bool recursive = truthy(param("recursive").value_or(""));
        const auto tree = state_.w.account_tree(acc->id);
        json::array out;
        for (const auto& [id, a] : state_.w.accounts()) {
            if (id == acc->id || !tree.count(id)) continue;
            if (!recursive && a.parent != acc->id) continue;
            out.push_back(json::object{{"id", id}, {"name", a.name}, {"parent_account_id", a.parent},
                                       {"root_account_id", 1}, {"workflow_state", "active"}});
        }
        return finish(reply(200, json::serialize(out)));
    }
    // GET /api/v1/accounts/:id/courses
    if (seg.size() == 3 && seg[2] == "courses" && req.method == "GET") {
        if (!in_scope || !t.list_courses) return finish(unauthorized());
        std::set<std::string> states{"created", "claimed", "available", "completed"};
        if (auto s = params("state[]"); !s.empty()) {
            states = {s.begin(), s.end()};
            if (states.count("all")) states = {"created", "claimed", "available", "completed", "deleted"};
        }
        if (auto p = param("published")) {
            if (truthy(*p)) std::erase_if(states, [](const std::string& x) { return x != "available"; });
            else states.erase("available");
        }
        std::optional<std::uint64_t> term;
        if (auto v = param("enrollment_term_id")) {
            term = to_u64(*v);
            if (!term) return finish(not_found());
        }
        std::optional<bool> with_enrollments;
        if (auto v = param("with_enrollments")) with_enrollments = truthy(*v);
        std::set<std::uint64_t> scope = state_.w.account_tree(acc->id);
        if (auto subs = params("by_subaccounts[]"); !subs.empty()) {
            std::set<std::uint64_t> only;
            for (const auto& s : subs)
                if (auto id = to_u64(s))
                    for (auto x : state_.w.account_tree(*id)) only.insert(x);
            std::set<std::uint64_t> both;
            std::set_intersection(scope.begin(), scope.end(), only.begin(), only.end(), std::inserter(both, both.end()));
            scope = std::move(both);
        }
        int per_page = opts_.rest.default_per_page;
        if (auto v = param("per_page")) {
            if (auto n = to_u64(*v); n && *n > 0) per_page = static_cast<int>(std::min<std::uint64_t>(*n, opts_.rest.max_per_page));
        }
        const std::string page = param("page").value_or("first");
        const std::uint64_t after = from_bookmark(page).value_or(0);
        json::array out;
        std::uint64_t last = 0;
        bool more = false;
        for (const auto& [id, c] : state_.w.courses()) {
            if (id <= after || !scope.count(c.account_id) || !states.count(c.state)) continue;
            if (term && c.term_id != *term) continue;
            if (with_enrollments && *with_enrollments == c.members.empty()) continue;
            if (static_cast<int>(out.size()) == per_page) {
                more = true;
                break;
            }
            out.push_back(json::object{{"id", id},
                                       {"name", c.title},
                                       {"account_id", c.account_id},
                                       {"uuid", c.context_id.substr(0, 40)},
                                       {"course_code", c.label},
                                       {"enrollment_term_id", c.term_id},
                                       {"workflow_state", c.state},
                                       {"root_account_id", 1},
                                       {"sis_course_id", nullptr},
                                       {"start_at", nullptr},
                                       {"end_at", nullptr},
                                       {"is_public", false},
                                       {"blueprint", false},
                                       {"default_view", "modules"}});
            last = id;
        }
        r.cost = opts_.rest.page_base_cost + opts_.rest.course_cost * static_cast<double>(out.size());
        rec.members = static_cast<int>(out.size());
        // Link (Api.paginate with bookmarks): current, next, first; other parameters passed through.
        std::string pass;
        for (const auto& [k, v] : query) {
            if (k == "page" || k == "per_page" || k == "access_token") continue;
            pass += encode(k) + "=" + encode(v) + "&";
        }
        auto link = [&](const std::string& pg) {
            return "<" + origin + path + "?" + pass + "page=" + pg + "&per_page=" + std::to_string(per_page) + ">";
        };
        std::string header = link(page) + "; rel=\"current\"";
        if (more) header += "," + link(bookmark(last)) + "; rel=\"next\"";
        header += "," + link("first") + "; rel=\"first\"";
        auto resp = reply(200, json::serialize(out));
        resp.headers.emplace_back("Link", header);
        return finish(std::move(resp));
    }
    // POST /api/v1/accounts/:id/reports/provisioning_csv, GET …/provisioning_csv/:report_id
    if (seg.size() >= 4 && seg[2] == "reports") {
        if (seg[3] != "provisioning_csv") return finish(not_found());
        if (!in_scope || !t.run_reports) return finish(unauthorized());
        if (seg.size() == 4 && req.method == "POST") {
            std::map<std::string, std::string> form;
            for (auto& [k, v] : parse_query(req.body)) form[k] = v;
            if (!truthy(form["parameters[courses]"]))
                return finish(reply(400, R"({"errors":[{"message":"the sim only makes the courses report: parameters[courses]=true"}]})"));
            sim_report rep{.id = next_report_++, .account = acc->id, .token = t.token};
            if (auto v = form["parameters[enrollment_term_id]"]; !v.empty()) {
                rep.term = to_u64(v);
                if (!rep.term) return finish(not_found());
            }
            rep.include_deleted = truthy(form["parameters[include_deleted]"]);
            rep.polls_left = opts_.rest.report_polls;
            auto& stored = state_.reports[rep.id] = rep;
            return finish(reply(200, render_report(stored, origin)));
        }
        if (seg.size() == 5 && req.method == "GET") {
            auto id = to_u64(seg[4]);
            auto it = id ? state_.reports.find(*id) : state_.reports.end();
            if (it == state_.reports.end() || it->second.account != acc->id) return finish(not_found());
            sim_report& rep = it->second;
            if (rep.status == "created" || rep.status == "running") {
                if (rep.polls_left > 0) {
                    --rep.polls_left;
                    rep.status = "running";
                } else if (opts_.rest.fail_reports) {
                    rep.status = "error";
                } else {
                    sim_file file{.content = provisioning_csv(rep),
                                  .name = "provisioning_csv_" + std::to_string(rep.id) + ".csv",
                                  .verifier = random_hex(24)};
                    rep.file_id = next_file_++;
                    state_.files[rep.file_id] = std::move(file);
                    rep.status = "complete";
                }
            }
            return finish(reply(200, render_report(rep, origin)));
        }
        return finish(not_found());
    }
    return finish(not_found());
}

sim_response sim_core::handle_file(const sim_request& req, request_record&)
{
    auto qpos = req.target.find('?');
    const std::string path = req.target.substr(0, qpos);
    auto query = parse_query(qpos == std::string::npos ? "" : std::string_view(req.target).substr(qpos + 1));
    auto param = [&](std::string_view name) {
        for (const auto& [k, v] : query)
            if (k == name) return v;
        return std::string();
    };
    const auto seg = split_path(path);
    // /files/:id/download?download_frd=1&verifier=V on the API host: Canvas redirects to its file store.
    if (seg.size() == 3 && seg[0] == "files" && seg[2] == "download") {
        auto id = to_u64(seg[1]);
        auto it = id ? state_.files.find(*id) : state_.files.end();
        if (it == state_.files.end() || param("verifier") != it->second.verifier) return not_found();
        const std::string files_host = opts_.rest.files_host.empty() ? find_host(req.host)->name : opts_.rest.files_host;
        auto r = reply(302, "<html><body>You are being redirected.</body></html>");
        r.content_type = "text/html";
        r.headers.emplace_back("Location", req.scheme + "://" + files_host + port_suffix(req.host) + "/_files/" +
                                               std::to_string(*id) + "?sig=" + it->second.verifier);
        return r;
    }
    // /_files/:id?sig=V: the file store, pre-signed, no token.
    if (seg.size() == 2 && seg[0] == "_files") {
        if (!opts_.rest.files_host.empty() && find_host(req.host)->name != opts_.rest.files_host) return not_found();
        auto id = to_u64(seg[1]);
        auto it = id ? state_.files.find(*id) : state_.files.end();
        if (it == state_.files.end()) return not_found();
        if (param("sig") != it->second.verifier) {
            auto r = reply(403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>");
            r.content_type = "application/xml";
            return r;
        }
        auto r = reply(200, it->second.content);
        r.content_type = it->second.content_type;
        return r;
    }
    return not_found();
}

}  // namespace rostersync::lms_sim
