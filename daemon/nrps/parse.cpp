// File: nrps/parse.cpp
//
// parse_page: one pass over an NRPS membership container with simdjson On-Demand (3.0.1).
// Fields are visited in document order (`for (auto field : object)` + dispatch on the unescaped
// key); anything we do not know is never touched, so On-Demand skips it. Messages are built only
// on failure, so the happy path allocates nothing but the output strings and vectors.

#include "nrps/page.hpp"

#include "nrps/error.hpp"

#include <simdjson.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace rostersync::nrps {
namespace {

namespace od = simdjson::ondemand;
using sj_error = simdjson::error_code;

constexpr std::string_view status_active = "Active";
constexpr std::string_view status_inactive = "Inactive";
constexpr std::string_view status_deleted = "Deleted";

/// The input copied into a buffer with simdjson's padding. Reused per thread: a roster pass
/// parses many pages of similar size, so after the first page this costs one memcpy.
simdjson::padded_string_view padded_copy(std::string_view json)
{
    thread_local std::string buffer;
    const std::size_t needed = json.size() + simdjson::SIMDJSON_PADDING;
    if (buffer.size() < needed) {
        buffer.clear();  // nothing to keep: avoid copying the old contents while growing
        buffer.resize(needed);
    }
    if (!json.empty()) std::memcpy(buffer.data(), json.data(), json.size());
    // Padding must not hold leftovers of a longer earlier page (simdjson peeks at it).
    std::memset(buffer.data() + json.size(), 0, simdjson::SIMDJSON_PADDING);
    return simdjson::padded_string_view(buffer.data(), json.size(), buffer.size());
}

/// Whether `v` (known not to be a string) is JSON null. A token that starts with 'n' but is not
/// `null` is bad JSON, not a wrong type.
sj_error check_null(od::value& v, bool& null)
{
    auto e = v.is_null().get(null);
    return e == simdjson::INCORRECT_TYPE ? simdjson::N_ATOM_ERROR : e;
}

/// Names a member field in messages: "members[3].roles". Only built on failure.
std::string member_path(std::size_t index, std::string_view field)
{
    std::string s = "members[" + std::to_string(index) + "]";
    if (!field.empty()) {
        s += '.';
        s += field;
    }
    return s;
}

class reader {
public:
    explicit reader(std::size_t max_members) : max_members_(max_members) {}

    bool read(simdjson::padded_string_view input);

    page take_page() { return std::move(page_); }
    std::string take_error() { return std::move(error_); }

private:
    bool read_members(od::value& v);
    bool read_member(od::value& v, member& m, std::size_t index);
    bool read_context(od::value& v);

    /// Records `path: what` and returns false.
    bool fail(std::string path, std::string_view what)
    {
        error_ = std::move(path);
        error_ += ": ";
        error_ += what;
        return false;
    }

    /// A failure of the JSON itself (syntax, encoding, truncation), not of the NRPS shape.
    bool not_json(sj_error e)
    {
        error_ = "not JSON: ";
        error_ += simdjson::error_message(e);
        return false;
    }

    /// Reads a string; JSON null leaves `out` empty (absent). `path` is only evaluated on failure.
    template <class Path>
    bool optional_string(od::value& v, std::optional<std::string>& out, Path&& path)
    {
        std::string_view s;
        auto e = v.get_string().get(s);
        if (e == simdjson::SUCCESS) {
            out.emplace(s);
            return true;
        }
        if (e != simdjson::INCORRECT_TYPE) return not_json(e);
        bool null = false;
        if (auto ne = check_null(v, null)) return not_json(ne);
        if (!null) return fail(path(), "expected a string");
        out.reset();
        return true;
    }

    /// Reads a required non-empty string; null, other types and "" are errors.
    template <class Path>
    bool required_string(od::value& v, std::string& out, Path&& path)
    {
        std::string_view s;
        auto e = v.get_string().get(s);
        if (e == simdjson::INCORRECT_TYPE || (e == simdjson::SUCCESS && s.empty()))
            return fail(path(), "expected a non-empty string");
        if (e != simdjson::SUCCESS) return not_json(e);
        out.assign(s);
        return true;
    }

    std::size_t max_members_;
    page page_;
    std::string error_;
};

bool reader::read(simdjson::padded_string_view input)
{
    thread_local od::parser parser;

    od::document doc;
    if (auto e = parser.iterate(input).get(doc)) return not_json(e);

    od::object root;
    if (auto e = doc.get_object().get(root)) {
        if (e != simdjson::INCORRECT_TYPE) return not_json(e);
        // A valid value of another type, or no valid value at all?
        od::json_type t{};
        if (auto te = doc.type().get(t)) return not_json(te);
        return fail("page", "expected a JSON object at the top level");
    }

    bool have_members = false;
    bool have_context = false;
    for (auto field : root) {
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return not_json(e);
        od::value v;
        if (auto e = field.value().get(v)) return not_json(e);

        if (key == "members") {
            have_members = true;
            if (!read_members(v)) return false;
        } else if (key == "context") {
            have_context = true;
            if (!read_context(v)) return false;
        } else if (key == "id") {
            std::optional<std::string> id;
            if (!optional_string(v, id, [] { return std::string("id"); })) return false;
            page_.id = id ? std::move(*id) : std::string();
        }
        // Anything else ("@context", "differences", extensions) is skipped unread.
    }

    // simdjson 3.0.1 has no document::at_end(): at the end, current_location() is out of bounds.
    const char* trailing = nullptr;
    if (doc.current_location().get(trailing) == simdjson::SUCCESS)
        return not_json(simdjson::TRAILING_CONTENT);

    if (!have_context) return fail("context", "missing");
    if (!have_members) return fail("members", "missing");
    return true;
}

bool reader::read_context(od::value& v)
{
    od::object obj;
    if (auto e = v.get_object().get(obj)) {
        if (e == simdjson::INCORRECT_TYPE) return fail("context", "expected an object");
        return not_json(e);
    }
    context_info& c = page_.context;
    bool have_id = false;
    for (auto field : obj) {
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return not_json(e);
        od::value fv;
        if (auto e = field.value().get(fv)) return not_json(e);

        if (key == "id") {
            have_id = true;
            if (!required_string(fv, c.id, [] { return std::string("context.id"); })) return false;
        } else if (key == "label") {
            if (!optional_string(fv, c.label, [] { return std::string("context.label"); })) return false;
        } else if (key == "title") {
            if (!optional_string(fv, c.title, [] { return std::string("context.title"); })) return false;
        }
    }
    if (!have_id) return fail("context.id", "missing");
    return true;
}

bool reader::read_members(od::value& v)
{
    od::array arr;
    if (auto e = v.get_array().get(arr)) {
        if (e == simdjson::INCORRECT_TYPE) return fail("members", "expected an array");
        return not_json(e);
    }
    // A scan over the structural index (no value is decoded) so the vector is allocated once and
    // an oversized page is refused before any member is built.
    std::size_t count = 0;
    if (auto e = arr.count_elements().get(count)) return not_json(e);
    if (count > max_members_)
        return fail("members", "more than " + std::to_string(max_members_) + " members on one page");

    auto& members = page_.members;
    members.clear();
    members.reserve(count);
    std::size_t index = 0;
    for (auto element : arr) {
        od::value mv;
        if (auto e = element.get(mv)) return not_json(e);
        if (!read_member(mv, members.emplace_back(), index)) return false;
        ++index;
    }
    return true;
}

bool reader::read_member(od::value& v, member& m, std::size_t index)
{
    od::object obj;
    if (auto e = v.get_object().get(obj)) {
        if (e == simdjson::INCORRECT_TYPE) return fail(member_path(index, {}), "expected an object");
        return not_json(e);
    }
    bool have_user_id = false;
    bool have_roles = false;
    for (auto field : obj) {
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return not_json(e);
        od::value fv;
        if (auto e = field.value().get(fv)) return not_json(e);

        auto path = [index, key] { return member_path(index, key); };
        if (key == "user_id") {
            have_user_id = true;
            if (!required_string(fv, m.user_id, path)) return false;
        } else if (key == "roles") {
            have_roles = true;
            od::array roles;
            if (auto e = fv.get_array().get(roles)) {
                if (e == simdjson::INCORRECT_TYPE) return fail(path(), "expected an array of strings");
                return not_json(e);
            }
            m.roles.clear();
            for (auto role : roles) {
                std::string_view s;
                if (auto e = role.get_string().get(s)) {
                    if (e == simdjson::INCORRECT_TYPE) return fail(path(), "expected an array of strings");
                    return not_json(e);
                }
                m.roles.emplace_back(s);
            }
        } else if (key == "status") {
            std::string_view s;
            auto e = fv.get_string().get(s);
            if (e == simdjson::INCORRECT_TYPE) {
                bool null = false;
                if (auto ne = check_null(fv, null)) return not_json(ne);
                if (!null) return fail(path(), "expected \"Active\", \"Inactive\" or \"Deleted\"");
                m.status = status_active;  // null: absent, the spec's default
            } else if (e != simdjson::SUCCESS) {
                return not_json(e);
            } else if (s == status_active || s == status_inactive || s == status_deleted) {
                m.status = s;
            } else {
                return fail(path(), "expected \"Active\", \"Inactive\" or \"Deleted\"");
            }
        } else if (key == "name") {
            if (!optional_string(fv, m.name, path)) return false;
        } else if (key == "given_name") {
            if (!optional_string(fv, m.given_name, path)) return false;
        } else if (key == "family_name") {
            if (!optional_string(fv, m.family_name, path)) return false;
        } else if (key == "middle_name") {
            if (!optional_string(fv, m.middle_name, path)) return false;
        } else if (key == "email") {
            if (!optional_string(fv, m.email, path)) return false;
        } else if (key == "picture") {
            if (!optional_string(fv, m.picture, path)) return false;
        } else if (key == "lis_person_sourcedid") {
            if (!optional_string(fv, m.lis_person_sourcedid, path)) return false;
        } else if (key == "lti11_legacy_user_id") {
            if (!optional_string(fv, m.lti11_legacy_user_id, path)) return false;
        }
        // "message" (rlid) and anything else: skipped unread.
    }
    if (!have_user_id) return fail(member_path(index, "user_id"), "missing");
    if (!have_roles) return fail(member_path(index, "roles"), "missing");
    return true;
}

}  // namespace

void throw_exception_from_error(const page_error& e, const boost::source_location&)
{
    throw std::runtime_error(e.message);
}

result<page, page_error> parse_page(std::string_view json, std::size_t max_members)
{
    reader r(max_members);
    if (!r.read(padded_copy(json)))
        return page_error{make_error_code(errc::malformed_page), r.take_error()};
    return r.take_page();
}

}  // namespace rostersync::nrps
