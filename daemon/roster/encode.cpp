#include "roster/encode.hpp"

#include <boost/json.hpp>
#include <openssl/evp.h>

#include <cstdio>
#include <ctime>

namespace rostersync::roster {
namespace json = boost::json;
namespace {

json::object member_object(const nrps::member& m)
{
    json::object o;
    o["status"] = m.status;
    json::array roles;
    for (const auto& r : m.roles) roles.emplace_back(r);
    o["roles"] = std::move(roles);
    auto put = [&](const char* k, const std::optional<std::string>& v) {
        if (v) o[k] = *v;
    };
    put("name", m.name);
    put("given_name", m.given_name);
    put("family_name", m.family_name);
    put("middle_name", m.middle_name);
    put("email", m.email);
    put("picture", m.picture);
    put("lis_person_sourcedid", m.lis_person_sourcedid);
    put("lti11_legacy_user_id", m.lti11_legacy_user_id);
    return o;
}

std::string sha256_hex32(std::string_view data)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < 16 && i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

}  // namespace

std::string membership_key(std::string_view issuer, std::string_view context_id, std::string_view user_id)
{
    std::string k;
    k.reserve(issuer.size() + context_id.size() + user_id.size() + 2);
    k.append(issuer).append("|").append(context_id).append("|").append(user_id);
    return k;
}

std::string encode_member(const nrps::member& m)
{
    return json::serialize(member_object(m));
}

std::string event_id(const change& c, const event_context& ctx)
{
    std::string input = membership_key(ctx.issuer, ctx.context_id, c.user_id);
    input += '\n';
    input += to_string(c.type);
    input += '\n';
    input += std::to_string(ctx.roster_version);
    input += '\n';
    input += c.after ? encode_member(*c.after) : "null";
    return sha256_hex32(input);
}

std::string rfc3339(time_point t)
{
    using namespace std::chrono;
    auto secs = floor<seconds>(t);  // not time_point_cast: before 1970 that truncates towards 0, giving negative ms
    auto ms = duration_cast<milliseconds>(t - secs).count();
    std::time_t tt = system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

std::string encode_change(const change& c, const event_context& ctx)
{
    json::object context{{"id", ctx.context_id}};
    if (!ctx.context_label.empty()) context["label"] = ctx.context_label;
    if (!ctx.context_title.empty()) context["title"] = ctx.context_title;
    json::object o;
    o["id"] = event_id(c, ctx);
    o["type"] = to_string(c.type);
    o["time"] = rfc3339(ctx.time);
    o["source"] = ctx.source;
    o["issuer"] = ctx.issuer;
    o["client_id"] = ctx.client_id;
    if (!ctx.deployment_id.empty()) o["deployment_id"] = ctx.deployment_id;
    o["context"] = std::move(context);
    o["user_id"] = c.user_id;
    o["roster_version"] = ctx.roster_version;
    o["before"] = c.before ? json::value(member_object(*c.before)) : json::value(nullptr);
    o["after"] = c.after ? json::value(member_object(*c.after)) : json::value(nullptr);
    return json::serialize(o);
}

std::vector<std::pair<std::string, std::string>> cloudevents_headers(const change& c, const event_context& ctx)
{
    return {
        {"ce_specversion", "1.0"},
        {"ce_id", event_id(c, ctx)},
        {"ce_type", std::string(to_string(c.type))},
        {"ce_source", ctx.issuer + "/contexts/" + ctx.context_id},
        {"ce_time", rfc3339(ctx.time)},
        {"ce_subject", c.user_id},
        {"ce_dataschema", "https://rostersync.dev/schemas/rostersync.v1.MembershipChange"},
        {"content-type", "application/json"},
    };
}

}  // namespace rostersync::roster
