#include "lms_sim/sim_core.hpp"

#include "lms_sim/jwt_verify.hpp"
#include "lms_sim/nrps_page.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <random>
#include <sstream>

namespace rostersync::lms_sim {
namespace json = boost::json;

namespace {

constexpr const char* nrps_media_type = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json";
constexpr const char* jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

std::string canvas_error(std::string_view type, std::string_view message)
{
    json::object inner{{"type", type}, {"message", message}};
    return json::serialize(json::object{{"errors", std::move(inner)}});
}

std::string generic_404()
{
    return R"({"errors":[{"message":"The specified resource does not exist."}]})";
}

std::string oauth_error(const token_error& e)
{
    return json::serialize(json::object{{"error", e.error}, {"error_description", e.description}});
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string url_decode(std::string_view s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() + 0 && i + 2 <= s.size() - 1 + 1 &&
                   hex_value(s[i + 1]) >= 0 && i + 2 < s.size() && hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::optional<std::uint64_t> parse_u64(std::string_view s)
{
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

std::string random_token()
{
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < 40; ++i) s += digits[rng() % 16];
    return s;
}

std::vector<std::string> split_spaces(std::string_view s)
{
    std::vector<std::string> out;
    std::istringstream in{std::string(s)};
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

std::string strip_port(std::string_view host)
{
    if (!host.empty() && host.front() == '[') return std::string(host.substr(0, host.find(']') + 1));
    return std::string(host.substr(0, host.rfind(':') == std::string_view::npos ? host.size() : host.rfind(':')));
}

std::string_view fault_name(fault::kind k)
{
    switch (k) {
        case fault::kind::status: return "status";
        case fault::kind::slow: return "slow";
        case fault::kind::reset: return "reset";
        case fault::kind::truncate: return "truncate";
        case fault::kind::malformed: return "malformed";
        case fault::kind::loop_next: return "loop_next";
        case fault::kind::expire_token: return "expire_token";
        case fault::kind::drop_first: return "drop_first";
        case fault::kind::throttle: return "throttle";
        case fault::kind::foreign_next: return "foreign_next";
    }
    return "?";
}

std::optional<fault::kind> fault_kind(std::string_view s)
{
    for (auto k : {fault::kind::status, fault::kind::slow, fault::kind::reset, fault::kind::truncate,
                   fault::kind::malformed, fault::kind::loop_next, fault::kind::expire_token,
                   fault::kind::drop_first, fault::kind::throttle, fault::kind::foreign_next})
        if (fault_name(k) == s) return k;
    return std::nullopt;
}

std::optional<privacy> privacy_from(std::string_view s)
{
    if (s == "anonymous") return privacy::anonymous;
    if (s == "name_only") return privacy::name_only;
    if (s == "email_only") return privacy::email_only;
    if (s == "public") return privacy::everything;
    return std::nullopt;
}

sim_response json_response(int status, std::string body)
{
    sim_response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q)
{
    std::vector<std::pair<std::string, std::string>> out;
    while (!q.empty()) {
        auto amp = q.find('&');
        auto item = q.substr(0, amp);
        if (!item.empty()) {
            auto eq = item.find('=');
            out.emplace_back(url_decode(item.substr(0, eq)),
                             eq == std::string_view::npos ? "" : url_decode(item.substr(eq + 1)));
        }
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return out;
}

std::string sim_response::header(std::string_view name) const
{
    for (const auto& [k, v] : headers)
        if (k == name) return v;
    return {};
}

sim_core::sim_core(sim_options opts) : opts_(std::move(opts)), state_{world(opts_.seed), {}, {}, {}, {}, {}} {}

void sim_core::register_client(client_registration c)
{
    auto id = c.client_id;
    state_.clients[id] = std::move(c);
}

void sim_core::register_rest_token(rest_token t)
{
    auto token = t.token;
    state_.rest_tokens[token] = std::move(t);
}

const host_config* sim_core::find_host(std::string_view host_header) const
{
    auto name = strip_port(host_header);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    for (const auto& h : opts_.hosts)
        if (h.name == name) return &h;
    return nullptr;
}

std::optional<fault> sim_core::take_fault(std::string_view route, std::uint64_t context, int page)
{
    for (auto it = state_.faults.begin(); it != state_.faults.end(); ++it) {
        if (it->route != route || (it->context != 0 && it->context != context) ||
            (it->page != 0 && it->page != page))
            continue;
        fault f = *it;
        if (it->times > 0 && --it->times == 0) state_.faults.erase(it);
        return f;
    }
    return std::nullopt;
}

sim_response sim_core::reject(request_record& rec)
{
    const auto& t = opts_.throttle;
    sim_response r;
    rec.throttled = true;
    rec.remaining = 0;
    r.content_type = "text/plain; charset=utf-8";
    if (t.mode == reject_mode::forbidden_403) {
        r.status = 403;
        r.body = "403 Forbidden (Rate Limit Exceeded)\n";
    } else {
        r.status = 429;
        r.body = "429 Too Many Requests (Rate Limit Exceeded)\n";
    }
    r.headers.emplace_back("X-Rate-Limit-Remaining", "0.0");
    if (t.retry_after) r.headers.emplace_back("Retry-After", std::to_string(*t.retry_after));
    return r;
}

sim_response sim_core::handle(const sim_request& req, double now)
{
    request_record rec;
    extra_delay_ = 0;
    truncate_ = false;
    rec.time = now;
    rec.method = req.method;
    rec.host = req.host;
    rec.target = req.target;
    rec.authorized = !req.authorization.empty();
    auto q = req.target.find('?');
    std::string path = req.target.substr(0, q);

    sim_response r;
    if (path.starts_with("/_sim/")) {
        rec.route = "control";
        r = handle_control(req, rec, now);
    } else if (find_host(req.host) == nullptr) {
        rec.route = "other";
        r = json_response(404, generic_404());
    } else if (path == "/login/oauth2/token") {
        rec.route = "token";
        if (req.method != "POST") {
            r = json_response(405, generic_404());
            r.headers.emplace_back("Allow", "POST");
        } else {
            r = handle_token(req, rec, now);
        }
    } else if (path.starts_with("/api/lti/")) {
        rec.route = "nrps";
        r = handle_nrps(req, rec, now);
    } else if (path.starts_with("/api/v1/")) {
        rec.route = "rest";
        r = handle_rest(req, rec, now);
    } else if (path.starts_with("/files/") || path.starts_with("/_files/")) {
        rec.route = "file";
        r = handle_file(req, rec);
    } else {
        rec.route = "other";
        r = json_response(404, generic_404());
    }
    rec.status = r.status;
    r.delay_seconds += extra_delay_;
    if (truncate_ && r.how == sim_response::transport::normal) r.how = sim_response::transport::truncate;
    state_.log.push_back(std::move(rec));
    r.record = state_.log.size() - 1;
    return r;
}

void sim_core::complete(sim_response& r, double now)
{
    if (!r.admitted) return;
    auto& b = state_.buckets.at(r.bucket_key);
    double remaining = b.finish(now, r.cost);
    r.admitted = false;
    r.headers.emplace_back("X-Request-Cost", ruby_float(r.cost));
    r.headers.emplace_back("X-Rate-Limit-Remaining", ruby_float(remaining));
    if (r.record < state_.log.size()) {
        state_.log[r.record].cost = r.cost;
        state_.log[r.record].remaining = remaining;
    }
}

// ---------------------------------------------------------------------------------------------
// POST /login/oauth2/token

sim_response sim_core::handle_token(const sim_request& req, request_record& rec, double now)
{
    if (auto f = take_fault("token", 0, 0)) {
        rec.fault = fault_name(f->what);
        if (f->what == fault::kind::status) {
            auto r = json_response(f->status, "<html><body><h1>Service Unavailable</h1></body></html>");
            r.content_type = "text/html";
            return r;
        }
        if (f->what == fault::kind::reset) {
            sim_response r;
            r.how = sim_response::transport::reset;
            return r;
        }
        if (f->what == fault::kind::malformed) return json_response(200, "{\"access_token\": ");
        if (f->what == fault::kind::throttle) return reject(rec);
        if (f->what == fault::kind::slow) extra_delay_ += f->delay_ms / 1000.0;
        if (f->what == fault::kind::truncate) truncate_ = true;
    }

    std::map<std::string, std::string> params;
    if (req.content_type.find("json") != std::string::npos) {
        boost::system::error_code ec;
        auto v = json::parse(req.body, ec);
        if (!ec && v.is_object()) {
            for (const auto& [k, val] : v.as_object())
                if (val.is_string()) params[std::string(k)] = std::string(val.as_string());
        }
    } else {
        for (auto& [k, v] : parse_query(req.body)) params[k] = v;
    }
    auto fail = [&](const token_error& e) {
        auto r = json_response(e.status, oauth_error(e));
        if (e.status == 401) r.headers.emplace_back("WWW-Authenticate", "Canvas OAuth 2.0");
        return r;
    };
    if (params["grant_type"] != "client_credentials") {
        return fail({400, "unsupported_grant_type", "The grant_type you requested is not currently supported"});
    }
    if (params["client_assertion_type"] != jwt_bearer) {
        return fail({400, "invalid_request", "assertion method not supported for this grant_type"});
    }
    const std::string& assertion = params["client_assertion"];
    auto peek = peek_assertion(assertion);
    if (!peek) return fail({400, "invalid_request", "JWS signature invalid."});
    auto client = state_.clients.find(peek->sub);
    if (client == state_.clients.end() || !client->second.active || !parse_u64(peek->sub)) {
        return fail({401, "invalid_client", "unknown client"});
    }
    rec.client_id = peek->sub;
    const auto& reg = client->second;

    sim_response ok;
    const auto& t = opts_.throttle;
    if (t.enabled && t.token_requests_cost) {
        const host_config* host = find_host(req.host);
        std::string key = reg.client_id + "|" + host->cluster;
        auto& bucket = state_.buckets.try_emplace(key, t.bucket).first->second;
        if (!bucket.admit(now)) return reject(rec);
        ok.bucket_key = key;
        ok.admitted = true;
        ok.cost = t.token_cost;
    }

    verify_input in{.jwt = assertion,
                    .expected_aud = req.scheme + "://" + req.host + "/login/oauth2/token",
                    .now = now,
                    .public_key_pem = reg.public_key_pem,
                    .jwks_json = reg.jwks_json};
    auto verified = verify_client_assertion(in);
    if (auto* e = std::get_if<token_error>(&verified);
        e != nullptr && e->description == "the 'aud' is invalid" && strip_port(req.host) != req.host) {
        in.expected_aud = req.scheme + "://" + strip_port(req.host) + "/login/oauth2/token";
        verified = verify_client_assertion(in);
    }
    auto finish_error = [&](const token_error& e) {
        auto r = fail(e);
        r.bucket_key = ok.bucket_key;
        r.admitted = ok.admitted;
        r.cost = ok.cost;
        return r;
    };
    if (auto* e = std::get_if<token_error>(&verified)) return finish_error(*e);

    std::string scope_text = params.count("scope") ? params["scope"] : params["scopes"];
    auto requested = split_spaces(scope_text);
    std::vector<std::string> not_granted;
    for (const auto& s : requested) {
        if (std::find(reg.scopes.begin(), reg.scopes.end(), s) == reg.scopes.end()) not_granted.push_back(s);
    }
    if (requested.empty() || !not_granted.empty()) {
        std::string list;
        for (const auto& s : not_granted) list += (list.empty() ? "" : " ") + s;
        return finish_error({400, "invalid_scope",
                             "A requested scope is invalid, unknown, malformed, or exceeds the scope granted "
                             "by the resource owner. The following scopes were requested, but not granted: " +
                                 list});
    }

    std::string token = random_token();
    state_.tokens[token] = {reg.client_id, requested, now + opts_.token_ttl_seconds};
    std::string granted;
    for (const auto& s : requested) granted += (granted.empty() ? "" : " ") + s;
    ok.status = 200;
    ok.body = json::serialize(json::object{{"access_token", token},
                                           {"token_type", "Bearer"},
                                           {"expires_in", opts_.token_ttl_seconds},
                                           {"scope", granted}});
    return ok;
}

// ---------------------------------------------------------------------------------------------
// GET /api/lti/{courses|groups}/{id}/names_and_roles

sim_response sim_core::handle_nrps(const sim_request& req, request_record& rec, double now)
{
    auto qpos = req.target.find('?');
    std::string path = req.target.substr(0, qpos);
    auto query = parse_query(qpos == std::string::npos ? "" : std::string_view(req.target).substr(qpos + 1));
    const host_config* host = find_host(req.host);

    // /api/lti/courses/42/names_and_roles
    std::string_view rest = std::string_view(path).substr(std::string_view("/api/lti/").size());
    bool group = false;
    if (rest.starts_with("courses/")) rest.remove_prefix(8);
    else if (rest.starts_with("groups/")) rest.remove_prefix(7), group = true;
    else return json_response(404, generic_404());
    auto slash = rest.find('/');
    auto id = parse_u64(rest.substr(0, slash));
    if (!id || slash == std::string_view::npos || rest.substr(slash) != "/names_and_roles") {
        return json_response(404, generic_404());
    }
    rec.context = *id;
    rec.page = page_number(query);

    std::optional<fault> f = take_fault("nrps", *id, rec.page);
    if (f) rec.fault = fault_name(f->what);
    if (f && f->what == fault::kind::slow) {
        extra_delay_ += f->delay_ms / 1000.0;  // whatever the answer is, it comes late
        f.reset();
    } else if (f && f->what == fault::kind::truncate) {
        truncate_ = true;  // whatever the answer is, half of it arrives
        f.reset();
    }
    if (f && f->what == fault::kind::status) {
        auto r = json_response(f->status, "<html><body><h1>" + std::to_string(f->status) + "</h1></body></html>");
        r.content_type = "text/html";
        if (f->status >= 300 && f->status < 400) r.headers.emplace_back("Location", "https://elsewhere.test/login");
        return r;
    }
    if (f && f->what == fault::kind::reset) {
        sim_response r;
        r.how = sim_response::transport::reset;
        return r;
    }

    auto unauthorized = [](std::string_view message) {
        return json_response(401, canvas_error("unauthorized", message));
    };
    std::string token;
    if (req.authorization.size() > 7 &&
        (req.authorization.starts_with("Bearer ") || req.authorization.starts_with("bearer "))) {
        token = req.authorization.substr(7);
    } else {
        for (const auto& [k, v] : query)
            if (k == "access_token") token = v;
    }
    if (token.empty()) return unauthorized("Missing access token");
    auto tok = state_.tokens.find(token);
    if (tok == state_.tokens.end()) return unauthorized("Invalid access token format");
    rec.client_id = tok->second.client_id;
    if (f && f->what == fault::kind::expire_token) tok->second.expires_at = now - 1;
    if (tok->second.expires_at <= now) return unauthorized("Access token expired");
    auto client = state_.clients.find(tok->second.client_id);
    if (client == state_.clients.end() || !client->second.active) {
        return unauthorized("Unknown or inactive Developer Key");
    }
    const auto& reg = client->second;
    const auto& scopes = tok->second.scopes;
    if (std::find(scopes.begin(), scopes.end(), nrps_scope) == scopes.end()) {
        return unauthorized("Insufficient permissions");
    }
    if (reg.unbound.count(*id)) return unauthorized("Invalid Developer Key");
    context* ctx = state_.w.find(group, *id);
    if (ctx == nullptr) return json_response(404, generic_404());
    if (ctx->deleted) return json_response(404, canvas_error("not_found", "Context is deleted or not found"));
    if (reg.not_installed.count(*id)) {
        return unauthorized("Access Token not linked to a Tool associated with this Context");
    }
    std::optional<std::string> rlid;
    for (const auto& [k, v] : query)
        if (k == "rlid") rlid = v;
    const bool with_message = rlid && *rlid != ctx->context_id;
    if (with_message && !ctx->resource_links.count(*rlid)) {
        return json_response(400, canvas_error("bad_request", "Tool does not have access to rlid or rlid does not exist"));
    }

    sim_response r;
    const auto& t = opts_.throttle;
    if (t.enabled) {
        std::string key = reg.client_id + "|" + host->cluster;
        auto& bucket = state_.buckets.try_emplace(key, t.bucket).first->second;
        if (f && f->what == fault::kind::throttle) return reject(rec);
        if (!bucket.admit(now)) return reject(rec);
        r.bucket_key = key;
        r.admitted = true;
    }
    if (f && f->what == fault::kind::drop_first) state_.w.drop_first(*id, group);

    const std::string base = req.scheme + "://" + req.host + path;
    const std::string request_url = req.scheme + "://" + req.host + req.target;
    std::optional<std::uint64_t> since;
    if (host->spec_mode) {
        for (const auto& [k, v] : query)
            if (k == "since") since = parse_u64(v);
    }
    int members = 0;
    if (since) {
        // Differences: everyone changed after `since`, in their current state; the departed as Deleted.
        std::vector<const member*> changed;
        std::map<std::string, std::string> statuses;
        json::array deleted;
        std::set<std::string> present;
        for (const auto& [cid, m] : ctx->members) {
            present.insert(m.who.user_id);
            auto it = ctx->changed_at.find(m.who.user_id);
            if (it != ctx->changed_at.end() && it->second > *since) changed.push_back(&m);
            if (ctx->inactive.count(m.who.user_id)) statuses[m.who.user_id] = "Inactive";
        }
        for (const auto& [uid, seq] : ctx->changed_at) {
            if (seq > *since && !present.count(uid)) {
                deleted.push_back(json::object{{"status", "Deleted"}, {"user_id", uid}, {"roles", json::array{}}});
            }
        }
        auto body = json::parse(render_container(request_url, *ctx, changed, reg.level, false, &statuses)).as_object();
        auto& arr = body["members"].as_array();
        for (auto& d : deleted) arr.push_back(d);
        members = static_cast<int>(arr.size());
        r.body = json::serialize(body);
        r.headers.emplace_back("Link", "<" + base + "?since=" + std::to_string(ctx->seq) + ">; rel=\"differences\"");
    } else {
        auto s = slice(*ctx, query);
        members = static_cast<int>(s.members.size());
        std::map<std::string, std::string> statuses;
        if (host->spec_mode) {
            for (const auto& uid : ctx->inactive) statuses[uid] = "Inactive";
        }
        r.body = render_container(request_url, *ctx, s.members, reg.level, with_message,
                                  host->spec_mode ? &statuses : nullptr);
        std::string link = link_header(base, query, s.page, s.per_page, s.last_page);
        if (f && f->what == fault::kind::loop_next) {
            auto current = link.substr(0, link.find(">; rel=\"current\"") + 1);
            link = current + "; rel=\"current\"," + current + "; rel=\"next\"";
        }
        if (f && f->what == fault::kind::foreign_next) {
            link = "<https://evil.test" + path + "?page=2&per_page=" + std::to_string(s.per_page) + ">; rel=\"next\"";
        }
        if (host->spec_mode) link += ",<" + base + "?since=" + std::to_string(ctx->seq) + ">; rel=\"differences\"";
        const std::string origin = req.scheme + "://" + req.host;
        if (host->link_style == "relative") {
            for (auto pos = link.find("<" + origin); pos != std::string::npos; pos = link.find("<" + origin, pos))
                link.erase(pos + 1, origin.size());
            r.headers.emplace_back("Link", link);
        } else if (host->link_style == "split") {
            std::size_t start = 0;
            while (start < link.size()) {
                auto end = link.find(",<", start);
                r.headers.emplace_back("link", link.substr(start, end == std::string::npos ? std::string::npos : end - start));
                if (end == std::string::npos) break;
                start = end + 1;
            }
        } else if (host->link_style == "spaced") {
            std::string spaced;
            for (char ch : link) {
                if (ch == ',' ) spaced += ", ";
                else spaced += ch;
            }
            for (auto pos = spaced.find("rel=\""); pos != std::string::npos; pos = spaced.find("rel=\"", pos)) {
                spaced.replace(pos, 5, "REL=");
                auto q = spaced.find('"', pos);
                if (q != std::string::npos) spaced.erase(q, 1);
            }
            r.headers.emplace_back("LINK", spaced);
        } else {
            r.headers.emplace_back("Link", link);
        }
    }
    rec.members = members;
    r.status = 200;
    r.content_type = nrps_media_type;
    r.cost = (t.page_base_cost + t.member_cost * members) * (with_message ? t.rlid_factor : 1.0);
    r.delay_seconds = r.cost * t.seconds_per_cost;
    if (f && f->what == fault::kind::malformed) {
        r.body = "{\"id\":\"" + request_url + "\",\"members\":[{\"status\":\"Act";
    }
    return r;
}

// ---------------------------------------------------------------------------------------------
// /_sim/ control and inspection API

sim_response sim_core::handle_control(const sim_request& req, request_record&, double)
{
    auto qpos = req.target.find('?');
    std::string path = req.target.substr(0, qpos);
    boost::system::error_code ec;
    json::value body = req.body.empty() ? json::value(json::object{}) : json::parse(req.body, ec);
    if (ec || !body.is_object()) return json_response(400, R"({"error":"the body must be a JSON object"})");
    const json::object& in = body.as_object();
    auto num = [&](std::string_view k, double d) {
        auto it = in.find(k);
        if (it == in.end()) return d;
        if (it->value().is_int64()) return static_cast<double>(it->value().as_int64());
        if (it->value().is_uint64()) return static_cast<double>(it->value().as_uint64());
        if (it->value().is_double()) return it->value().as_double();
        return d;
    };
    auto str = [&](std::string_view k, std::string d = {}) {
        auto it = in.find(k);
        return it != in.end() && it->value().is_string() ? std::string(it->value().as_string()) : d;
    };
    auto flag = [&](std::string_view k, bool d) {
        auto it = in.find(k);
        return it != in.end() && it->value().is_bool() ? it->value().as_bool() : d;
    };
    auto context_json = [](const context& c) {
        json::array links;
        for (const auto& l : c.resource_links) links.emplace_back(l);
        return json::object{{"id", c.id},
                            {"group", c.group},
                            {"context_id", c.context_id},
                            {"label", c.label},
                            {"title", c.title},
                            {"members", c.members.size()},
                            {"deleted", c.deleted},
                            {"resource_links", std::move(links)},
                            {"account_id", c.account_id},
                            {"term_id", c.term_id},
                            {"state", c.state}};
    };
    const std::string& m = req.method;

    if (path == "/_sim/state" && m == "GET") {
        json::array courses;
        for (const auto& [id, c] : state_.w.courses()) courses.push_back(context_json(c));
        json::object buckets;
        for (const auto& [k, b] : state_.buckets) {
            buckets[k] = json::object{{"count", b.count()},
                                      {"remaining", b.remaining()},
                                      {"admitted", b.admitted()},
                                      {"rejected", b.rejected()}};
        }
        json::array hosts;
        for (const auto& h : opts_.hosts)
            hosts.push_back(json::object{{"name", h.name}, {"cluster", h.cluster}, {"spec_mode", h.spec_mode}});
        std::size_t token_requests = 0, pages = 0, rejections = 0;
        for (const auto& r : state_.log) {
            token_requests += r.route == "token";
            pages += r.route == "nrps" && r.status == 200;
            rejections += r.throttled;
        }
        return json_response(200, json::serialize(json::object{
            {"hosts", std::move(hosts)},
            {"courses", std::move(courses)},
            {"buckets", std::move(buckets)},
            {"tokens_issued", state_.tokens.size()},
            {"token_requests", token_requests},
            {"pages", pages},
            {"rejections", rejections},
            {"faults_pending", state_.faults.size()},
            {"accounts", [&] {
                 json::array a;
                 for (const auto& [id, acc] : state_.w.accounts())
                     a.push_back(json::object{{"id", id}, {"parent", acc.parent}, {"name", acc.name}});
                 return a;
             }()},
            {"reports", state_.reports.size()},
            {"rest_tokens", state_.rest_tokens.size()}}));
    }
    if (path == "/_sim/requests" && m == "GET") {
        json::array out;
        for (const auto& r : state_.log) {
            out.push_back(json::object{{"time", r.time}, {"method", r.method}, {"host", r.host},
                                       {"target", r.target}, {"route", r.route}, {"status", r.status},
                                       {"client_id", r.client_id}, {"context", r.context}, {"page", r.page},
                                       {"members", r.members}, {"cost", r.cost}, {"remaining", r.remaining},
                                       {"throttled", r.throttled}, {"fault", r.fault},
                                       {"authorized", r.authorized}});
        }
        return json_response(200, json::serialize(out));
    }
    if (path == "/_sim/requests" && m == "DELETE") {
        state_.log.clear();
        return json_response(200, "{}");
    }
    if (path == "/_sim/faults" && m == "POST") {
        auto k = fault_kind(str("kind"));
        if (!k) return json_response(400, R"({"error":"kind must be one of status, slow, reset, truncate, malformed, loop_next, expire_token, drop_first, throttle"})");
        fault f{.what = *k,
                .route = str("route", "nrps"),
                .context = static_cast<std::uint64_t>(num("context", 0)),
                .page = static_cast<int>(num("page", 0)),
                .status = static_cast<int>(num("status", 500)),
                .delay_ms = static_cast<int>(num("delay_ms", 0)),
                .times = static_cast<int>(num("times", 1))};
        state_.faults.push_back(f);
        return json_response(200, "{}");
    }
    if (path == "/_sim/faults" && m == "DELETE") {
        state_.faults.clear();
        return json_response(200, "{}");
    }
    if (path == "/_sim/rest_tokens" && m == "POST") {
        rest_token t{.token = str("token"),
                     .account = static_cast<std::uint64_t>(num("account", 1)),
                     .list_courses = flag("list_courses", true),
                     .run_reports = flag("run_reports", true)};
        if (t.token.empty()) return json_response(400, R"({"error":"token is required"})");
        register_rest_token(std::move(t));
        return json_response(200, "{}");
    }
    if (path == "/_sim/accounts" && m == "POST") {
        auto parent = static_cast<std::uint64_t>(num("parent", 1));
        if (state_.w.find_account(parent) == nullptr) return json_response(400, R"({"error":"no such parent account"})");
        auto& a = state_.w.add_account(parent, str("name", "Sub-account"));
        return json_response(200, json::serialize(json::object{{"id", a.id}, {"parent", a.parent}, {"name", a.name}}));
    }
    if (path == "/_sim/clients" && m == "POST") {
        client_registration c;
        c.client_id = str("client_id");
        if (!parse_u64(c.client_id)) return json_response(400, R"({"error":"client_id must be a numeric string"})");
        c.public_key_pem = str("public_key_pem");
        c.jwks_json = str("jwks");
        c.active = flag("active", true);
        if (auto p = privacy_from(str("privacy", "public"))) c.level = *p;
        else return json_response(400, R"({"error":"privacy must be anonymous, name_only, email_only or public"})");
        if (auto it = in.find("scopes"); it != in.end() && it->value().is_array()) {
            c.scopes.clear();
            for (const auto& s : it->value().as_array())
                if (s.is_string()) c.scopes.emplace_back(s.as_string());
        }
        for (auto [key, target] : {std::pair{"not_installed", &c.not_installed}, std::pair{"unbound", &c.unbound}}) {
            if (auto it = in.find(key); it != in.end() && it->value().is_array()) {
                for (const auto& v : it->value().as_array())
                    if (v.is_int64()) target->insert(static_cast<std::uint64_t>(v.as_int64()));
            }
        }
        register_client(std::move(c));
        return json_response(200, "{}");
    }
    const bool groups = path.starts_with("/_sim/groups");
    if ((path == "/_sim/courses" || path == "/_sim/groups") && m == "POST") {
        if (groups) return json_response(200, json::serialize(context_json(state_.w.add_group(static_cast<int>(num("size", 5))))));
        course_spec spec;
        spec.size = static_cast<int>(num("size", spec.size));
        spec.teacher_share = num("teacher_share", spec.teacher_share);
        spec.ta_share = num("ta_share", spec.ta_share);
        spec.observer_share = num("observer_share", spec.observer_share);
        spec.designer_share = num("designer_share", spec.designer_share);
        spec.test_student = flag("test_student", spec.test_student);
        spec.missing_name_share = num("missing_name_share", spec.missing_name_share);
        spec.missing_email_share = num("missing_email_share", spec.missing_email_share);
        spec.account_id = static_cast<std::uint64_t>(num("account_id", 1));
        spec.term_id = static_cast<std::uint64_t>(num("term_id", 1));
        spec.state = str("state", "available");
        spec.title = str("title");
        if (state_.w.find_account(spec.account_id) == nullptr) return json_response(400, R"({"error":"no such account"})");
        return json_response(200, json::serialize(context_json(state_.w.add_course(spec))));
    }
    // /_sim/courses/{id}/{action}
    std::string_view rest = std::string_view(path).substr(groups ? 13 : 14);
    if (path.starts_with("/_sim/courses/") || path.starts_with("/_sim/groups/")) {
        auto slash = rest.find('/');
        auto id = parse_u64(rest.substr(0, slash));
        std::string action = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
        context* c = id ? state_.w.find(groups, *id) : nullptr;
        if (c == nullptr) return json_response(404, R"({"error":"no such context"})");
        if (action.empty() && m == "GET") return json_response(200, json::serialize(context_json(*c)));
        if (action == "roster" && m == "GET") {
            json::object out;
            for (const auto& [cid, mem] : c->members) {
                json::array roles;
                for (auto& r : lti_roles(mem)) roles.emplace_back(r);
                out[mem.who.user_id] = json::object{{"roles", std::move(roles)}, {"email", mem.who.email}, {"name", mem.who.name}};
            }
            return json_response(200, json::serialize(out));
        }
        if (m != "POST") return json_response(405, R"({"error":"use POST"})");
        auto before = state_.w.snapshot_of(*id, groups);
        if (action == "churn") {
            state_.w.churn(*id, {.joins = static_cast<int>(num("joins", 0)),
                                 .drops = static_cast<int>(num("drops", 0)),
                                 .role_changes = static_cast<int>(num("role_changes", 0)),
                                 .profile_changes = static_cast<int>(num("profile_changes", 0))},
                           groups);
        } else if (action == "drop_first") {
            state_.w.drop_first(*id, groups);
        } else if (action == "empty") {
            state_.w.empty(*id, groups);
        } else if (action == "delete") {
            state_.w.remove_context(*id, groups);
        } else if (action == "deactivate") {
            state_.w.deactivate(*id, str("user_id"), groups);
        } else {
            return json_response(404, R"({"error":"actions: churn, drop_first, empty, delete, deactivate, roster"})");
        }
        json::array expected;
        for (const auto& e : diff(before, state_.w.snapshot_of(*id, groups)))
            expected.push_back(json::object{{"user_id", e.user_id}, {"type", e.type}});
        return json_response(200, json::serialize(json::object{{"expected", std::move(expected)}}));
    }
    return json_response(404, R"({"error":"unknown control path"})");
}

}  // namespace rostersync::lms_sim
