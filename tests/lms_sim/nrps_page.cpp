#include "lms_sim/nrps_page.hpp"

#include "lms_sim/canvas_bucket.hpp"

#include <boost/json.hpp>

#include <charconv>

namespace rostersync::lms_sim {
namespace {

std::optional<std::string> param(const query& q, std::string_view name)
{
    for (const auto& [k, v] : q)
        if (k == name) return v;
    return std::nullopt;
}

std::optional<int> positive_int(const std::optional<std::string>& v)
{
    if (!v) return std::nullopt;
    int n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc{} || end != v->data() + v->size() || n <= 0) return std::nullopt;
    return n;
}

constexpr const char* lis = "http://purl.imsglobal.org/vocab/lis/v2/membership#";

}  // namespace

std::string ruby_float(double v)
{
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    std::string s(buf, ec == std::errc{} ? end : buf);
    if (s.find_first_of(".en") == std::string::npos) s += ".0";
    return s;
}

int page_size(const query& q)
{
    if (auto n = positive_int(param(q, "limit"))) return std::min(*n, max_page_size);
    if (auto n = positive_int(param(q, "per_page"))) return std::min(*n, max_page_size);
    return max_page_size;
}

int page_number(const query& q)
{
    return positive_int(param(q, "page")).value_or(1);
}

bool role_matches(const member& m, const std::string& role, bool group)
{
    auto has = [&](enrollment e) { return m.enrollments.count(e) != 0; };
    const std::string l = lis;
    if (group) {
        if (role == l + "Member") return true;
        if (role == l + "Manager") return has(enrollment::group_leader);
        return false;
    }
    if (role == l + "Learner") return has(enrollment::student) || has(enrollment::test_student);
    if (role == l + "Instructor") return has(enrollment::teacher) || has(enrollment::ta);
    if (role == "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant")
        return has(enrollment::ta);
    if (role == l + "ContentDeveloper") return has(enrollment::designer);
    if (role == l + "Mentor") return has(enrollment::observer);
    return false;  // short names ("Learner") and unknown URIs match nobody, as in Canvas
}

page_slice slice(const context& c, const query& q)
{
    page_slice s;
    s.per_page = page_size(q);
    s.page = page_number(q);
    auto role = param(q, "role");
    std::vector<const member*> all;
    for (const auto& [id, m] : c.members) {
        if (!role || role_matches(m, *role, c.group)) all.push_back(&m);
    }
    s.last_page = std::max<int>(1, static_cast<int>((all.size() + s.per_page - 1) / s.per_page));
    std::size_t from = static_cast<std::size_t>(s.page - 1) * static_cast<std::size_t>(s.per_page);
    for (std::size_t i = from; i < all.size() && i < from + static_cast<std::size_t>(s.per_page); ++i)
        s.members.push_back(all[i]);
    return s;
}

std::string url_encode(const std::string& s)
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

std::string link_header(const std::string& base_url, const query& q, int page, int per_page, int last_page)
{
    std::string others;
    for (const auto& [k, v] : q) {
        if (k == "page" || k == "per_page" || k == "limit" || k == "access_token" || k == "api_key") continue;
        others += url_encode(k) + "=" + url_encode(v) + "&";
    }
    auto url = [&](int p) {
        return "<" + base_url + "?" + others + "page=" + std::to_string(p) +
               "&per_page=" + std::to_string(per_page) + ">";
    };
    std::vector<std::string> links;
    links.push_back(url(page) + "; rel=\"current\"");
    if (page < last_page) links.push_back(url(page + 1) + "; rel=\"next\"");
    if (page > 1) links.push_back(url(page - 1) + "; rel=\"prev\"");
    links.push_back(url(1) + "; rel=\"first\"");
    links.push_back(url(last_page) + "; rel=\"last\"");
    std::string out;
    for (std::size_t i = 0; i < links.size(); ++i) out += (i ? "," : "") + links[i];
    return out;
}

std::string render_container(const std::string& request_url, const context& c,
                             const std::vector<const member*>& members, privacy level,
                             bool rlid_message, const std::map<std::string, std::string>* statuses)
{
    namespace json = boost::json;
    json::object ctx;
    ctx["id"] = c.context_id;
    if (!c.label.empty()) ctx["label"] = c.label;
    if (!c.title.empty()) ctx["title"] = c.title;
    const bool names = level == privacy::everything || level == privacy::name_only;
    const bool email = level == privacy::everything || level == privacy::email_only;
    const bool picture = level == privacy::everything;
    json::array list;
    for (const member* m : members) {
        const person& p = m->who;
        json::object o;
        o["status"] = "Active";
        if (statuses != nullptr) {
            if (auto it = statuses->find(p.user_id); it != statuses->end()) o["status"] = it->second;
        }
        auto put = [&](const char* key, const std::string& v, bool allowed) {
            if (allowed && !v.empty()) o[key] = v;  // null fields are omitted
        };
        put("name", p.name, names);
        put("picture", p.picture, picture);
        put("given_name", p.given_name, names);
        put("family_name", p.family_name, names);
        put("email", p.email, email);
        put("lis_person_sourcedid", p.sourcedid, names);
        o["user_id"] = p.user_id;
        o["lti11_legacy_user_id"] = p.lti11_id;
        json::array roles;
        for (auto& r : lti_roles(*m)) roles.emplace_back(r);
        o["roles"] = std::move(roles);
        if (rlid_message) {
            json::object msg;
            msg["https://purl.imsglobal.org/spec/lti/claim/message_type"] = "LtiResourceLinkRequest";
            msg["locale"] = "en";
            msg["https://purl.imsglobal.org/spec/lti/claim/custom"] = json::object{};
            msg["https://www.instructure.com/canvas_user_id"] = p.canvas_id;
            msg["https://www.instructure.com/canvas_user_login_id"] = "login" + std::to_string(p.canvas_id);
            o["message"] = json::array{std::move(msg)};
        }
        list.emplace_back(std::move(o));
    }
    json::object container;
    container["id"] = request_url;
    container["context"] = std::move(ctx);
    container["members"] = std::move(list);
    return json::serialize(container);
}

}  // namespace rostersync::lms_sim
