#include "discovery/canvas.hpp"

#include "http/url.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

namespace rostersync::discovery {
namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 5> states{"created", "claimed", "available", "completed", "deleted"};

std::string trim_base(std::string_view base)
{
    while (base.ends_with('/')) base.remove_suffix(1);
    return std::string(base);
}

/// An id given as a JSON integer or a string of digits.
std::optional<std::string> id_of(const json::value& v)
{
    if (v.is_int64() && v.as_int64() >= 0) return std::to_string(v.as_int64());
    if (v.is_uint64()) return std::to_string(v.as_uint64());
    if (v.is_string() && is_canvas_id(v.as_string())) return std::string(v.as_string());
    return std::nullopt;
}

std::string string_of(const json::object& o, std::string_view key)
{
    auto it = o.find(key);
    if (it == o.end() || !it->value().is_string()) return {};
    return std::string(it->value().as_string());
}

result<json::value, bad_answer> parse_json(std::string_view text)
{
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return bad_answer{"not JSON: " + ec.message()};
    return v;
}

bad_answer bad(std::string m)
{
    return bad_answer{std::move(m)};
}

}  // namespace

void throw_exception_from_error(const bad_answer& e, const boost::source_location&)
{
    throw std::runtime_error(e.message);
}

bool valid_state(std::string_view state)
{
    return std::find(states.begin(), states.end(), state) != states.end();
}

bool is_canvas_id(std::string_view s)
{
    return !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

/// A path segment such as "sis_account_id:A1": ':' stays as written.
std::string encode_segment(std::string_view s)
{
    return http::percent_encode(s, ":");
}

std::string account_url(std::string_view base, std::string_view account)
{
    return trim_base(base) + "/api/v1/accounts/" + encode_segment(account);
}

std::string courses_url(std::string_view base, std::string_view account, const filters& f, int per_page)
{
    std::string url = account_url(base, account) + "/courses?per_page=" + std::to_string(per_page);
    for (const auto& s : f.states) url += "&state%5B%5D=" + http::percent_encode(s);
    if (!f.term.empty()) url += "&enrollment_term_id=" + http::percent_encode(f.term);
    return url;
}

std::string report_url(std::string_view base, std::string_view account)
{
    return account_url(base, account) + "/reports/provisioning_csv";
}

std::string report_status_url(std::string_view base, std::string_view account, std::string_view report_id)
{
    return report_url(base, account) + "/" + encode_segment(report_id);
}

std::string public_url_url(std::string_view base, std::string_view file_id)
{
    return trim_base(base) + "/api/v1/files/" + encode_segment(file_id) + "/public_url";
}

std::string report_form(const filters& f)
{
    std::string body = "parameters%5Bcourses%5D=true";
    if (!f.term.empty()) body += "&parameters%5Benrollment_term_id%5D=" + http::percent_encode(f.term);
    const bool beyond_default = std::any_of(f.states.begin(), f.states.end(),
                                            [](const std::string& s) { return s == "completed" || s == "deleted"; });
    if (beyond_default) body += "&parameters%5Binclude_deleted%5D=true";
    return body;
}

std::string memberships_url(std::string_view base, std::string_view course_id)
{
    return trim_base(base) + "/api/lti/courses/" + encode_segment(course_id) + "/names_and_roles";
}

result<std::vector<course>, bad_answer> parse_courses_page(std::string_view text)
{
    auto v = parse_json(text);
    if (!v) return v.error();
    if (!v->is_array()) return bad("expected a JSON array of courses");
    std::vector<course> out;
    const auto& arr = v->as_array();
    out.reserve(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) {
        const std::string where = "[" + std::to_string(i) + "]";
        if (!arr[i].is_object()) return bad(where + ": expected a Course object");
        const auto& o = arr[i].as_object();
        course c;
        auto id = o.find("id");
        if (id == o.end()) return bad(where + ".id: missing");
        auto text_id = id_of(id->value());
        if (!text_id) return bad(where + ".id: expected a Canvas id");
        c.id = *text_id;
        for (auto [key, target] : {std::pair<std::string_view, std::string*>{"account_id", &c.account_id},
                                   {"enrollment_term_id", &c.term_id}}) {
            auto it = o.find(key);
            if (it == o.end() || it->value().is_null()) continue;
            auto x = id_of(it->value());
            if (!x) return bad(where + "." + std::string(key) + ": expected a Canvas id");
            *target = *x;
        }
        c.state = string_of(o, "workflow_state");
        c.code = string_of(o, "course_code");
        c.name = string_of(o, "name");
        out.push_back(std::move(c));
    }
    return out;
}

result<std::string, bad_answer> parse_account_id(std::string_view text)
{
    auto v = parse_json(text);
    if (!v) return v.error();
    if (!v->is_object()) return bad("expected an Account object");
    auto it = v->as_object().find("id");
    if (it == v->as_object().end()) return bad("id: missing");
    auto id = id_of(it->value());
    if (!id) return bad("id: expected a Canvas id");
    return {boost::system::in_place_value, *id};
}

result<report_status, bad_answer> parse_report(std::string_view text)
{
    auto v = parse_json(text);
    if (!v) return v.error();
    if (!v->is_object()) return bad("expected a Report object");
    const auto& o = v->as_object();
    report_status r;
    auto id = o.find("id");
    if (id == o.end()) return bad("id: missing");
    auto text_id = id_of(id->value());
    if (!text_id) return bad("id: expected a Canvas id");
    r.id = *text_id;
    r.status = string_of(o, "status");
    if (r.status.empty()) return bad("status: expected a string");
    if (auto p = o.find("progress"); p != o.end()) {
        if (p->value().is_int64()) r.progress = static_cast<int>(std::clamp<std::int64_t>(p->value().as_int64(), 0, 100));
        else if (p->value().is_double()) r.progress = static_cast<int>(std::clamp(p->value().as_double(), 0.0, 100.0));
    }
    if (auto a = o.find("attachment"); a != o.end() && a->value().is_object()) {
        const auto& att = a->value().as_object();
        if (auto fid = att.find("id"); fid != att.end()) {
            if (auto x = id_of(fid->value())) r.file_id = *x;
        }
        r.file_url = string_of(att, "url");
    }
    if (r.file_url.empty()) r.file_url = string_of(o, "file_url");
    if (auto p = o.find("parameters"); p != o.end() && p->value().is_object())
        r.message = string_of(p->value().as_object(), "extra_text");
    return r;
}

result<std::string, bad_answer> parse_public_url(std::string_view text)
{
    auto v = parse_json(text);
    if (!v) return v.error();
    if (!v->is_object()) return bad("expected an object with public_url");
    auto url = string_of(v->as_object(), "public_url");
    if (url.empty()) return bad("public_url: expected a URL");
    return {boost::system::in_place_value, std::move(url)};
}

std::string canvas_error_message(std::string_view body)
{
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (!ec && v.is_object()) {
        const auto& o = v.as_object();
        if (auto e = o.find("errors"); e != o.end()) {
            if (e->value().is_array() && !e->value().as_array().empty() && e->value().as_array()[0].is_object()) {
                auto m = string_of(e->value().as_array()[0].as_object(), "message");
                if (!m.empty()) return m;
            }
            if (e->value().is_object()) {
                auto m = string_of(e->value().as_object(), "message");
                if (!m.empty()) return m;
            }
        }
        for (auto key : {"message", "error"}) {
            auto m = string_of(o, key);
            if (!m.empty()) return m;
        }
    }
    std::string out(body.substr(0, 200));
    std::replace_if(out.begin(), out.end(), [](unsigned char c) { return c < ' '; }, ' ');
    return out;
}

std::string state_from_report_status(std::string_view status)
{
    if (status == "active") return "available";
    if (status == "unpublished") return "created";
    if (status == "concluded") return "completed";
    if (status == "deleted") return "deleted";
    return {};
}

bool wanted(const course& c, const filters& f, std::string_view account_id)
{
    if (!f.subaccounts && !account_id.empty() && c.account_id != account_id) return false;
    if (!f.term.empty() && !c.term_id.empty() && is_canvas_id(f.term) && c.term_id != f.term) return false;
    if (!f.states.empty() && !c.state.empty()) {
        auto match = [&](std::string_view s) {
            // The report says only "unpublished" for both created and claimed.
            if (c.state == s) return true;
            return (c.state == "created" || c.state == "claimed") && (s == "created" || s == "claimed");
        };
        if (std::none_of(f.states.begin(), f.states.end(), match)) return false;
    }
    return true;
}

// ---- courses CSV ----

namespace {
enum field_index { f_id, f_account, f_term, f_status, f_code, f_name, f_count };
}

courses_csv::courses_csv(course_fn on_course, csv_limits limits) : on_course_(std::move(on_course)), parser_(limits) {}

bool courses_csv::row(const std::vector<std::string>& fields, std::size_t line)
{
    if (!header_done_) {
        header_done_ = true;
        width_ = fields.size();
        column_.assign(fields.size(), -1);
        bool have_id = false;
        for (std::size_t i = 0; i < fields.size(); ++i) {
            std::string name = fields[i];
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            int idx = -1;
            if (name == "canvas_course_id") idx = f_id, have_id = true;
            else if (name == "canvas_account_id") idx = f_account;
            else if (name == "canvas_term_id") idx = f_term;
            else if (name == "status") idx = f_status;
            else if (name == "short_name") idx = f_code;
            else if (name == "long_name") idx = f_name;
            if (idx >= 0 && std::find(column_.begin(), column_.end(), idx) != column_.end()) {
                error_ = csv_error{line, "column \"" + fields[i] + "\" appears twice"};
                return false;
            }
            column_[i] = idx;
        }
        if (!have_id) {
            error_ = csv_error{line, "the header has no canvas_course_id column (the provisioning report's "
                                     "courses.csv has one; an export needs it too)"};
            return false;
        }
        return true;
    }
    ++rows_;
    if (fields.size() != width_) {
        error_ = csv_error{line, std::to_string(fields.size()) + " fields, the header has " + std::to_string(width_)};
        return false;
    }
    std::array<std::string, f_count> v;
    for (std::size_t i = 0; i < fields.size(); ++i)
        if (column_[i] >= 0) v[static_cast<std::size_t>(column_[i])] = fields[i];
    if (!is_canvas_id(v[f_id])) {
        error_ = csv_error{line, "canvas_course_id \"" + v[f_id].substr(0, 40) + "\" is not a Canvas id"};
        return false;
    }
    course c{.id = v[f_id], .account_id = v[f_account], .term_id = v[f_term], .code = v[f_code], .name = v[f_name]};
    if (!v[f_status].empty()) {
        c.state = state_from_report_status(v[f_status]);
        if (c.state.empty() && valid_state(v[f_status])) c.state = v[f_status];  // an export with Canvas's own states
        if (c.state.empty()) {
            error_ = csv_error{line, "status \"" + v[f_status].substr(0, 40) +
                                         "\" is not active, unpublished, concluded or deleted"};
            return false;
        }
    }
    on_course_(std::move(c));
    return true;
}

result<void, csv_error> courses_csv::feed(std::string_view chunk)
{
    if (error_) return *error_;
    auto r = parser_.feed(chunk, [this](const std::vector<std::string>& f, std::size_t line) { return row(f, line); });
    if (error_) return *error_;
    return r;
}

result<void, csv_error> courses_csv::finish()
{
    if (error_) return *error_;
    auto r = parser_.finish([this](const std::vector<std::string>& f, std::size_t line) { return row(f, line); });
    if (error_) return *error_;
    if (!r) return r;
    if (!header_done_) return csv_error{1, "the CSV is empty; it needs a header row with a canvas_course_id column"};
    return {};
}

std::chrono::milliseconds poll_delay(int attempt, std::chrono::milliseconds first, std::chrono::milliseconds cap)
{
    double d = static_cast<double>(first.count()) * std::pow(1.5, std::min(attempt, 60));
    return std::chrono::milliseconds(static_cast<long long>(std::min(d, static_cast<double>(cap.count()))));
}

}  // namespace rostersync::discovery
