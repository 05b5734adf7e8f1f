#include "http/link_header.hpp"

#include "http/error.hpp"

#include <boost/url.hpp>

#include <exception>

namespace rostersync::http {
namespace {

// RFC 8288 section 3 (with RFC 9110 tokens and quoted strings):
//
//   Link       = #link-value
//   link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param )
//   link-param = token BWS [ "=" BWS ( token / quoted-string ) ]
//
// Leniencies, all harmless: empty list elements and empty values are skipped (RFC 9110 section
// 5.6.1), and so are empty parameters (";;" or a trailing ";"). The target is kept byte for byte;
// only control characters are refused in it (the reference itself is checked on resolution).

bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

bool is_ctl(char c)
{
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
}

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" /
//         "~" / DIGIT / ALPHA
bool is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~':
            return true;
        default:
            return false;
    }
}

char to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s)
{
    std::string out(s);
    for (auto& c : out) c = to_lower(c);
    return out;
}

std::vector<std::string> split_rels(std::string_view value)
{
    std::vector<std::string> rels;
    std::size_t i = 0;
    while (i < value.size()) {
        while (i < value.size() && is_ows(value[i])) ++i;
        const std::size_t start = i;
        while (i < value.size() && !is_ows(value[i])) ++i;
        if (i > start) rels.push_back(lower(value.substr(start, i - start)));
    }
    return rels;
}

class value_parser {
public:
    explicit value_parser(std::string_view text) : s_(text) {}

    /// Appends the links of one header value; false when it is malformed.
    bool parse(std::vector<link>& out)
    {
        for (;;) {
            skip_ows();
            if (at_end()) return true;
            if (peek() == ',') {  // empty element
                ++i_;
                continue;
            }
            if (peek() != '<') return false;
            link l;
            if (!parse_link(l)) return false;
            out.push_back(std::move(l));
            skip_ows();
            if (at_end()) return true;
            if (peek() != ',') return false;
            ++i_;
        }
    }

private:
    bool at_end() const { return i_ >= s_.size(); }
    char peek() const { return s_[i_]; }
    void skip_ows()
    {
        while (!at_end() && is_ows(peek())) ++i_;
    }

    // At '<'. Reads the target and the parameters, up to (not including) ',' or the end.
    bool parse_link(link& l)
    {
        ++i_;
        const auto close = s_.find('>', i_);
        if (close == std::string_view::npos) return false;
        const auto target = s_.substr(i_, close - i_);
        for (char c : target) {
            if (is_ctl(c)) return false;
        }
        l.target = std::string(target);
        i_ = close + 1;

        bool have_rel = false;
        for (;;) {
            skip_ows();
            if (at_end() || peek() == ',') return true;
            if (peek() != ';') return false;
            ++i_;
            skip_ows();
            if (at_end() || peek() == ',' || peek() == ';') continue;  // empty parameter

            std::string name;
            std::string value;
            if (!parse_param(name, value)) return false;
            // RFC 8288 section 3.3: only the first rel parameter counts.
            if (name == "rel" && !have_rel) {
                have_rel = true;
                l.rels = split_rels(value);
            }
            l.params.emplace_back(std::move(name), std::move(value));
        }
    }

    bool parse_param(std::string& name, std::string& value)
    {
        const auto token = read_token();
        if (token.empty()) return false;
        name = lower(token);
        skip_ows();
        if (at_end() || peek() != '=') return true;  // a parameter without a value
        ++i_;
        skip_ows();
        if (at_end()) return false;
        if (peek() == '"') return read_quoted(value);
        const auto v = read_bare_value();
        if (v.empty()) return false;
        value = std::string(v);
        return true;
    }

    // Lenient about unquoted values: platforms write `type=application/json` though RFC 8288
    // wants a token. Any visible character but separators and quotes, so one odd parameter does
    // not fail a whole page.
    std::string_view read_bare_value()
    {
        const std::size_t start = i_;
        while (!at_end()) {
            const char c = peek();
            if (c <= ' ' || c == 0x7f || c == ';' || c == ',' || c == '"' || c == '<' || c == '>') break;
            ++i_;
        }
        return s_.substr(start, i_ - start);
    }

    std::string_view read_token()
    {
        const std::size_t start = i_;
        while (!at_end() && is_tchar(peek())) ++i_;
        return s_.substr(start, i_ - start);
    }

    // At '"'. quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
    bool read_quoted(std::string& value)
    {
        ++i_;
        for (;;) {
            if (at_end()) return false;  // unterminated
            const char c = s_[i_++];
            if (c == '"') return true;
            if (c == '\\') {
                if (at_end()) return false;
                const char escaped = s_[i_++];
                if (is_ctl(escaped) && escaped != '\t') return false;
                value += escaped;
                continue;
            }
            if (is_ctl(c) && c != '\t') return false;
            value += c;
        }
    }

    std::string_view s_;
    std::size_t i_ = 0;
};

}  // namespace

result<std::vector<link>> parse_link_header(const std::vector<std::string_view>& values)
{
    std::vector<link> links;
    for (const auto value : values) {
        value_parser p(value);
        if (!p.parse(links)) return make_error_code(errc::malformed_link_header);
    }
    return links;
}

std::optional<std::string> find_rel(const std::vector<link>& links, std::string_view rel)
{
    const auto wanted = lower(rel);
    for (const auto& l : links) {
        for (const auto& r : l.rels) {
            if (r == wanted) return l.target;
        }
    }
    return std::nullopt;
}

result<std::string> resolve_reference(std::string_view base, std::string_view reference)
{
    namespace urls = boost::urls;
    const auto bad = make_error_code(errc::bad_url);
    try {
        const auto b = urls::parse_uri(base);
        if (!b) return bad;
        if (b->scheme_id() != urls::scheme::http && b->scheme_id() != urls::scheme::https) {
            return bad;
        }
        if (!b->has_authority() || b->encoded_host().empty()) return bad;
        const auto ref = urls::parse_uri_reference(reference);
        if (!ref) return bad;
        urls::url out;
        if (!urls::resolve(*b, *ref, out)) return bad;
        // RFC 3986 section 5.2.2: the fragment always comes from the reference (Boost.URL 1.81
        // keeps the base's for an empty reference).
        if (!ref->has_fragment()) out.remove_fragment();
        return std::string(out.buffer());
    } catch (const std::exception&) {
        return bad;
    }
}

}  // namespace rostersync::http
