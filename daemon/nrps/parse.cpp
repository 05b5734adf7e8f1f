// File: nrps/parse.cpp
//
// parse_page: one pass over an NRPS membership container with simdjson On-Demand (3.0.1).
// Fields are visited in document order (`for (auto field : object)`). Keys are compared raw (the
// key's bytes, then its closing quote: nothing is unescaped or copied), a member's key by a switch
// on its first byte; only a key that matches nothing and holds an escape is unescaped and compared
// again, so "user\u005fid" is still user_id. Anything we do not know is never touched, so
// On-Demand skips it.
//
// The output is built in place: every string of a member is unescaped by simdjson straight into
// the page's text block (sized from the body, which no unescaped string outgrows, and cut to what
// the strings used at the end) and viewed there; role views go to a per-thread scratch vector,
// copied to one array per page at the end.
// So a page of any size costs a few allocations (its text, its members, its roles, the context's
// strings), and the page keeps only the strings, not the body. Messages are built only on
// failure.
//
// What the profile taught (perf; benchmarks/README.md has the figures): On-Demand's fields and
// values are used where they lie (`value_unsafe()`), not copied out of their results, and strings
// come back by value (both were store-forwarding stalls; the first cost a third of the page); a
// member is copied from a constant rather than value-initialised (`rep stos`); a member's key
// switch calls the field's reader directly. The members array is not counted before it is read,
// except where counting could change the outcome (read_members).

#include "nrps/page.hpp"

#include "nrps/error.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
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

enum class key : unsigned char {
    unknown, id, context, members, label, title,
    user_id, roles, status, name, given_name, family_name, middle_name, email, picture,
    lis_person_sourcedid, lti11_legacy_user_id,
};

/// The name of a known member key, for messages (an escaped key is named unescaped, as sent).
std::string_view member_key_name(key k)
{
    switch (k) {
        case key::user_id: return "user_id";
        case key::roles: return "roles";
        case key::status: return "status";
        case key::name: return "name";
        case key::given_name: return "given_name";
        case key::family_name: return "family_name";
        case key::middle_name: return "middle_name";
        case key::email: return "email";
        case key::picture: return "picture";
        case key::lis_person_sourcedid: return "lis_person_sourcedid";
        case key::lti11_legacy_user_id: return "lti11_legacy_user_id";
        default: return {};
    }
}

/// Whether the raw key `r` (the bytes after its opening quote) is `lit`: the literal's bytes, then
/// the closing quote. A key with an escape never matches (a backslash differs from every literal).
/// Reads at most sizeof(lit) bytes: inside the document or its padding.
template <std::size_t N>
bool raw_is(const char* r, const char (&lit)[N])
{
    return r[N - 1] == '"' && std::memcmp(r, lit, N - 1) == 0;
}

key page_key(const char* r)
{
    switch (r[0]) {
        case 'm': return raw_is(r, "members") ? key::members : key::unknown;
        case 'c': return raw_is(r, "context") ? key::context : key::unknown;
        case 'i': return raw_is(r, "id") ? key::id : key::unknown;
        default: return key::unknown;
    }
}

key context_key(const char* r)
{
    switch (r[0]) {
        case 'i': return raw_is(r, "id") ? key::id : key::unknown;
        case 'l': return raw_is(r, "label") ? key::label : key::unknown;
        case 't': return raw_is(r, "title") ? key::title : key::unknown;
        default: return key::unknown;
    }
}

key member_key(const char* r)
{
    switch (r[0]) {
        case 'u': return raw_is(r, "user_id") ? key::user_id : key::unknown;
        case 'r': return raw_is(r, "roles") ? key::roles : key::unknown;
        case 's': return raw_is(r, "status") ? key::status : key::unknown;
        case 'n': return raw_is(r, "name") ? key::name : key::unknown;
        case 'g': return raw_is(r, "given_name") ? key::given_name : key::unknown;
        case 'f': return raw_is(r, "family_name") ? key::family_name : key::unknown;
        case 'm': return raw_is(r, "middle_name") ? key::middle_name : key::unknown;
        case 'e': return raw_is(r, "email") ? key::email : key::unknown;
        case 'p': return raw_is(r, "picture") ? key::picture : key::unknown;
        case 'l':
            if (raw_is(r, "lis_person_sourcedid")) return key::lis_person_sourcedid;
            return raw_is(r, "lti11_legacy_user_id") ? key::lti11_legacy_user_id : key::unknown;
        default: return key::unknown;
    }
}

/// Whether a raw key holds an escape. Stops at the closing quote (stage 1 checked there is one).
bool has_escape(const char* r)
{
    for (;; ++r) {
        if (*r == '"') return false;
        if (*r == '\\') return true;
    }
}

/// The slow way for a key that matched nothing raw: if it holds an escape, it is unescaped (which
/// consumes it) and classified again, from a copy with a closing quote. A key with a quote of its
/// own, or longer than any we know, is none of ours.
[[gnu::noinline]] sj_error escaped_key(od::field& field, key (*classify)(const char*), key& out)
{
    if (!has_escape(field.key().raw())) return simdjson::SUCCESS;
    std::string_view k;
    if (auto e = field.unescaped_key().get(k)) return e;
    constexpr std::size_t longest = sizeof("lti11_legacy_user_id") - 1;
    if (k.size() > longest || k.find('"') != std::string_view::npos) return simdjson::SUCCESS;
    char copy[longest + 2] = {};
    std::memcpy(copy, k.data(), k.size());
    copy[k.size()] = '"';
    out = classify(copy);
    return simdjson::SUCCESS;
}

/// The field's key, classified by `Classify` (one of the three above); compared raw, nothing is
/// unescaped unless it matches nothing.
template <key (*Classify)(const char*)>
[[gnu::always_inline]] inline sj_error field_key(od::field& field, key& out)
{
    out = Classify(field.key().raw());
    if (out != key::unknown) [[likely]]
        return simdjson::SUCCESS;
    return escaped_key(field, Classify, out);
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

/// Per-thread state reused from page to page.
struct scratch {
    od::parser parser;
    std::vector<std::string_view> roles;                       ///< every role of the page, in order
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;  ///< per member: first role, count
    std::size_t last_count = 0;                                ///< members on the last page (a reserve hint)
};

}  // namespace

/// Reads one page into `page_`, its strings unescaped into `text` (which must hold the body's size
/// plus simdjson's padding: simdjson writes in blocks past a string's end).
class page_builder {
public:
    /// A page's text block (malloc'd: it is shrunk with realloc once the page is read).
    static member_list::text_ptr allocate_text(std::size_t size)
    {
        member_list::text_ptr text(static_cast<char*>(std::malloc(size)));
        if (!text) throw std::bad_alloc();
        return text;
    }

    page_builder(simdjson::padded_string_view input, std::size_t max_members, char* text, scratch& s,
                 bool count_first)
        : count_first_(count_first), input_(input), max_members_(max_members),
          dst_(reinterpret_cast<std::uint8_t*>(text)), s_(s)
    {
        s_.roles.clear();
        s_.ranges.clear();
    }

    bool read();

    /// The page, owning `text` (which its views point into) and its role views. The text block was
    /// sized by the body; what the strings did not use (keys, punctuation, skipped fields: a third
    /// of a Canvas page, half with rlid's `message`) is given back.
    page take_page(member_list::text_ptr text)
    {
        member_list& list = page_.members;
        member_list::block b;
        if (!s_.roles.empty()) {
            b.roles = std::make_unique_for_overwrite<std::string_view[]>(s_.roles.size());
            std::copy(s_.roles.begin(), s_.roles.end(), b.roles.get());
            for (std::size_t i = 0; i < list.refs_.size(); ++i)
                list.refs_[i].roles = role_views(b.roles.get() + s_.ranges[i].first, s_.ranges[i].second);
        }
        // The old address as an integer, taken before the block may be freed.
        const auto from = reinterpret_cast<std::uintptr_t>(text.get());
        const auto used = static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(dst_) - from);
        b.text = shrink(std::move(text), used);
        if (reinterpret_cast<std::uintptr_t>(b.text.get()) != from)
            rebase(list, b.roles.get(), s_.roles.size(), from, used, b.text.get());
        list.blocks_.push_back(std::move(b));
        return std::move(page_);
    }

    std::string take_error() { return std::move(error_); }
    /// Whether a failed read() must be run again with count_first.
    bool wants_fallback() const { return fallback_; }

private:
    /// `text` cut to `used` bytes. glibc's realloc shrinks in place; the standard allows a move, so the
    /// caller rebases the views if the block moved. Debug builds always move it (a copy), so the tests
    /// run the rebasing.
    static member_list::text_ptr shrink(member_list::text_ptr text, std::size_t used)
    {
        const std::size_t size = std::max<std::size_t>(used, 1);  // realloc(p, 0) may free p
#ifdef NDEBUG
        if (char* p = static_cast<char*>(std::realloc(text.get(), size))) {
            (void)text.release();
            text.reset(p);
        }  // on failure the old block stays, whole
        return text;
#else
        member_list::text_ptr moved(static_cast<char*>(std::malloc(size)));
        if (!moved) return text;
        if (used != 0) std::memcpy(moved.get(), text.get(), used);
        return moved;
#endif
    }

    /// Moves every view into the old block [from, from + used] to the same place in `now`. Addresses
    /// are compared as integers: the old block is freed already.
    static void rebase(member_list& list, std::string_view* roles, std::size_t role_count, std::uintptr_t from,
                       std::size_t used, const char* now)
    {
        auto moved = [&](std::string_view v) {
            const auto at = reinterpret_cast<std::uintptr_t>(v.data());
            if (at < from || at > from + used) return v;  // a status constant
            return std::string_view(now + (at - from), v.size());
        };
        for (std::size_t i = 0; i < role_count; ++i) roles[i] = moved(roles[i]);
        for (member_ref& m : list.refs_) {
            m.user_id = moved(m.user_id);
            m.status = moved(m.status);
            for (auto* f : {&m.name, &m.given_name, &m.family_name, &m.middle_name, &m.email, &m.picture,
                            &m.lis_person_sourcedid, &m.lti11_legacy_user_id})
                if (*f) **f = moved(**f);
        }
    }

    bool read_members(od::value& v);
    /// count_elements() and the bound, as this parser used to do before reading any member.
    bool count_members(od::array& arr);
    enum class member_read { ok, failed, skipped };
    /// `skipped`: a field was skipped unread while the array was not counted (`counted`).
    member_read read_member(od::value& v, member_ref& m, std::size_t index, bool counted);
    /// A members array failed before it was counted: ask for the page to be read again counting
    /// every members array first, which names the problem counting finds first.
    bool fall_back()
    {
        fallback_ = true;
        return false;
    }
    /// One member field, its key known. Inlined where the key is a constant, so the switch folds.
    [[gnu::always_inline]] bool member_field(key k, od::value& fv, member_ref& m, std::size_t index);
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

    /// get_string, unescaped into the page's text instead of the parser's buffer. Returned by
    /// value, not through a reference: a 16-byte view stored as two halves and read back whole
    /// stalls the load (store forwarding fails).
    std::string_view page_string(od::value& v, sj_error& error)
    {
        od::raw_json_string raw;
        if ((error = v.get_raw_json_string().get(raw))) return {};
        std::string_view s;
        error = s_.parser.unescape(raw, dst_).get(s);  // advances dst_ past the string
        return s;
    }

    /// Reads a string; JSON null leaves `out` empty (absent). `path` is only evaluated on failure.
    template <class Path>
    [[gnu::always_inline]] bool optional_string(od::value& v, std::optional<std::string_view>& out, Path&& path)
    {
        sj_error e{};
        const std::string_view s = page_string(v, e);
        if (e == simdjson::SUCCESS) {
            out = s;
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
    bool required_string(od::value& v, std::string_view& out, Path&& path)
    {
        sj_error e{};
        const std::string_view s = page_string(v, e);
        if (e == simdjson::INCORRECT_TYPE || (e == simdjson::SUCCESS && s.empty()))
            return fail(path(), "expected a non-empty string");
        if (e != simdjson::SUCCESS) return not_json(e);
        out = s;
        return true;
    }

    static constexpr unsigned seen_user_id = 1, seen_roles = 2;
    unsigned seen_ = 0;        ///< the current member's required fields read so far
    bool count_first_;         ///< count every members array before reading it (the fallback)
    bool fallback_ = false;    ///< read() failed and asks to be run again with count_first

    simdjson::padded_string_view input_;  ///< the padded copy being parsed
    std::size_t max_members_;
    std::uint8_t* dst_;                   ///< where the next string is unescaped to
    scratch& s_;
    page page_;
    std::string error_;
};

bool page_builder::read()
{
    od::document doc;
    if (auto e = s_.parser.iterate(input_).get(doc)) return not_json(e);

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
    for (auto result : root) {
        // Used in place: copying On-Demand's fields and values costs more than reading them.
        if (auto e = result.error()) return not_json(e);
        od::field& field = result.value_unsafe();
        key k{};
        if (auto e = field_key<page_key>(field, k)) return not_json(e);
        od::value& v = field.value();

        if (k == key::members) {
            have_members = true;
            if (!read_members(v)) return false;
        } else if (k == key::context) {
            have_context = true;
            if (!read_context(v)) return false;
        } else if (k == key::id) {
            std::optional<std::string_view> id;
            if (!optional_string(v, id, [] { return std::string("id"); })) return false;
            page_.id.assign(id.value_or(std::string_view()));
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

bool page_builder::read_context(od::value& v)
{
    od::object obj;
    if (auto e = v.get_object().get(obj)) {
        if (e == simdjson::INCORRECT_TYPE) return fail("context", "expected an object");
        return not_json(e);
    }
    context_info& c = page_.context;
    bool have_id = false;
    for (auto result : obj) {
        if (auto e = result.error()) return not_json(e);
        od::field& field = result.value_unsafe();
        key k{};
        if (auto e = field_key<context_key>(field, k)) return not_json(e);
        od::value& fv = field.value();

        std::optional<std::string_view> s;
        if (k == key::id) {
            have_id = true;
            std::string_view id;
            if (!required_string(fv, id, [] { return std::string("context.id"); })) return false;
            c.id.assign(id);
        } else if (k == key::label) {
            if (!optional_string(fv, s, [] { return std::string("context.label"); })) return false;
            c.label = s ? std::optional<std::string>(std::in_place, *s) : std::nullopt;
        } else if (k == key::title) {
            if (!optional_string(fv, s, [] { return std::string("context.title"); })) return false;
            c.title = s ? std::optional<std::string>(std::in_place, *s) : std::nullopt;
        }
    }
    if (!have_id) return fail("context.id", "missing");
    return true;
}

bool page_builder::read_members(od::value& v)
{
    od::array arr;
    if (auto e = v.get_array().get(arr)) {
        if (e == simdjson::INCORRECT_TYPE) return fail("members", "expected an array");
        return not_json(e);
    }
    // Counting first (as this parser used to, and still does after a fallback) walks the whole
    // array once more: a sixth of the page. Without it, the bound is checked as members come.
    // Counting also refuses an array broken inside a field nobody reads, and it names a page with
    // several problems by the one it meets first; so the first skipped field, or any failure,
    // falls back to counting first (see fallback_).
    bool counted = count_first_;
    if (counted && !count_members(arr)) return false;
    std::uint8_t* const dst_start = dst_;
    const std::size_t roles_start = s_.roles.size();
    auto& members = page_.members.refs_;
    for (;;) {
        members.clear();  // a second "members" array replaces the first; a restart, the partial read
        members.reserve(std::min(max_members_, s_.last_count));
        s_.ranges.clear();
        s_.roles.resize(roles_start);
        dst_ = dst_start;
        member_read result = member_read::ok;
        std::size_t index = 0;
        for (auto element : arr) {
            if (auto e = element.error()) return counted ? not_json(e) : fall_back();
            if (!counted && index == max_members_) return fall_back();
            s_.ranges.emplace_back(0, 0);
            // Copied from a constant: value-initialising the 240-byte member compiles to
            // `rep stos`, whose start-up cost was a twentieth of the page.
            static constexpr member_ref blank{};
            result = read_member(element.value_unsafe(), members.emplace_back(blank), index, counted);
            if (result != member_read::ok) break;
            ++index;
        }
        if (result == member_read::failed) return counted ? false : fall_back();
        if (result == member_read::ok) {
            s_.last_count = index;
            return true;
        }
        // A field skipped unread: back to the array's start (the iterator is sound: nothing
        // failed), count, and read the members again, as counting first would have.
        counted = true;
        if (arr.reset().error()) return fall_back();
        if (!count_members(arr)) return false;
    }
}

bool page_builder::count_members(od::array& arr)
{
    std::size_t count = 0;
    if (auto e = arr.count_elements().get(count)) return not_json(e);  // leaves the array at its start
    if (count > max_members_)
        return fail("members", "more than " + std::to_string(max_members_) + " members on one page");
    return true;
}

inline bool page_builder::member_field(key k, od::value& fv, member_ref& m, std::size_t index)
{
    auto path = [index, k] { return member_path(index, member_key_name(k)); };
    switch (k) {
        case key::user_id:
            seen_ |= seen_user_id;
            return required_string(fv, m.user_id, path);
        case key::roles: {
            seen_ |= seen_roles;
            od::array roles;
            if (auto e = fv.get_array().get(roles)) {
                if (e == simdjson::INCORRECT_TYPE) return fail(path(), "expected an array of strings");
                return not_json(e);
            }
            const std::size_t first = s_.roles.size();
            for (auto role : roles) {
                std::string_view s;
                auto e = role.error();
                if (e == simdjson::SUCCESS) s = page_string(role.value_unsafe(), e);
                if (e != simdjson::SUCCESS) {
                    if (e == simdjson::INCORRECT_TYPE) return fail(path(), "expected an array of strings");
                    return not_json(e);
                }
                s_.roles.push_back(s);
            }
            s_.ranges[index] = {static_cast<std::uint32_t>(first), static_cast<std::uint32_t>(s_.roles.size() - first)};
            return true;
        }
        case key::status: {
            std::string_view s;
            auto e = fv.get_string().get(s);  // compared, never kept: no need to place it
            if (e == simdjson::INCORRECT_TYPE) {
                bool null = false;
                if (auto ne = check_null(fv, null)) return not_json(ne);
                if (!null) return fail(path(), "expected \"Active\", \"Inactive\" or \"Deleted\"");
                m.status = status_active;  // null: absent, the spec's default
            } else if (e != simdjson::SUCCESS) {
                return not_json(e);
            } else if (s == status_active) {
                m.status = status_active;
            } else if (s == status_inactive) {
                m.status = status_inactive;
            } else if (s == status_deleted) {
                m.status = status_deleted;
            } else {
                return fail(path(), "expected \"Active\", \"Inactive\" or \"Deleted\"");
            }
            return true;
        }
        case key::name: return optional_string(fv, m.name, path);
        case key::given_name: return optional_string(fv, m.given_name, path);
        case key::family_name: return optional_string(fv, m.family_name, path);
        case key::middle_name: return optional_string(fv, m.middle_name, path);
        case key::email: return optional_string(fv, m.email, path);
        case key::picture: return optional_string(fv, m.picture, path);
        case key::lis_person_sourcedid: return optional_string(fv, m.lis_person_sourcedid, path);
        case key::lti11_legacy_user_id: return optional_string(fv, m.lti11_legacy_user_id, path);
        default: return true;
    }
}

page_builder::member_read page_builder::read_member(od::value& v, member_ref& m, std::size_t index, bool counted)
{
    od::object obj;
    if (auto e = v.get_object().get(obj)) {
        if (e == simdjson::INCORRECT_TYPE) {
            fail(member_path(index, {}), "expected an object");
        } else {
            not_json(e);
        }
        return member_read::failed;
    }
    seen_ = 0;
    for (auto result : obj) {
        if (auto e = result.error()) {
            not_json(e);
            return member_read::failed;
        }
        od::field& field = result.value_unsafe();
        od::value& fv = field.value();
        // The raw key's first byte picks the one literal it can be; each case reads its field
        // (member_field with a constant key: no second dispatch).
        const char* r = field.key().raw();
#define ROSTERSYNC_FIELD(literal, k)                                       \
    if (raw_is(r, literal)) {                                              \
        if (!member_field(k, fv, m, index)) return member_read::failed;    \
        continue;                                                          \
    }
        switch (r[0]) {
            case 'u': ROSTERSYNC_FIELD("user_id", key::user_id) break;
            case 'r': ROSTERSYNC_FIELD("roles", key::roles) break;
            case 's': ROSTERSYNC_FIELD("status", key::status) break;
            case 'n': ROSTERSYNC_FIELD("name", key::name) break;
            case 'g': ROSTERSYNC_FIELD("given_name", key::given_name) break;
            case 'f': ROSTERSYNC_FIELD("family_name", key::family_name) break;
            case 'm': ROSTERSYNC_FIELD("middle_name", key::middle_name) break;
            case 'e': ROSTERSYNC_FIELD("email", key::email) break;
            case 'p': ROSTERSYNC_FIELD("picture", key::picture) break;
            case 'l':
                ROSTERSYNC_FIELD("lis_person_sourcedid", key::lis_person_sourcedid)
                ROSTERSYNC_FIELD("lti11_legacy_user_id", key::lti11_legacy_user_id)
                break;
            default: break;
        }
#undef ROSTERSYNC_FIELD
        // Nothing matched raw: "message" (rlid) or another field we skip unread, or an escaped key.
        key k = key::unknown;
        if (auto e = escaped_key(field, member_key, k)) {
            not_json(e);
            return member_read::failed;
        }
        if (k == key::unknown) {
            if (!counted) return member_read::skipped;
        } else if (!member_field(k, fv, m, index)) {
            return member_read::failed;
        }
    }
    if (!(seen_ & seen_user_id)) {
        fail(member_path(index, "user_id"), "missing");
        return member_read::failed;
    }
    if (!(seen_ & seen_roles)) {
        fail(member_path(index, "roles"), "missing");
        return member_read::failed;
    }
    return member_read::ok;
}

void throw_exception_from_error(const page_error& e, const boost::source_location&)
{
    throw std::runtime_error(e.message);
}

result<page, page_error> parse_page(std::string_view json, std::size_t max_members)
{
    thread_local scratch s;
    const simdjson::padded_string_view input = padded_copy(json);
    // The page's strings: unescaped, they take at most the body's bytes, plus simdjson's padding.
    auto text = page_builder::allocate_text(json.size() + simdjson::SIMDJSON_PADDING);
    {
        page_builder b(input, max_members, text.get(), s, false);
        if (b.read()) return b.take_page(std::move(text));
        if (!b.wants_fallback()) return page_error{make_error_code(errc::malformed_page), b.take_error()};
    }
    // A members array failed before it was counted: the page again, counting first (rare).
    page_builder b(input, max_members, text.get(), s, true);
    if (b.read()) return b.take_page(std::move(text));
    return page_error{make_error_code(errc::malformed_page), b.take_error()};
}

}  // namespace rostersync::nrps
