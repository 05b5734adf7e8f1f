#include "support/prom_text.hpp"

#include <cctype>
#include <cstdlib>
#include <limits>
#include <set>

namespace rostersync::test {
namespace {

bool name_char(char c, bool first)
{
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
           (!first && std::isdigit(static_cast<unsigned char>(c)));
}

std::string read_name(std::string_view s, std::size_t& i)
{
    std::size_t start = i;
    while (i < s.size() && name_char(s[i], i == start)) ++i;
    return std::string(s.substr(start, i - start));
}

bool parse_value(std::string_view s, double& out)
{
    if (s == "+Inf") return out = std::numeric_limits<double>::infinity(), true;
    if (s == "-Inf") return out = -std::numeric_limits<double>::infinity(), true;
    if (s == "NaN") return out = std::numeric_limits<double>::quiet_NaN(), true;
    std::string tmp(s);
    char* end = nullptr;
    out = std::strtod(tmp.c_str(), &end);
    return !tmp.empty() && end == tmp.c_str() + tmp.size();
}

}  // namespace

std::optional<double> prom_document::value(std::string_view name,
                                           const std::map<std::string, std::string>& match) const
{
    std::optional<double> found;
    for (const auto& s : samples) {
        if (s.name != name) continue;
        bool ok = true;
        for (const auto& [k, v] : match) {
            auto it = s.labels.find(k);
            if (it == s.labels.end() || it->second != v) ok = false;
        }
        if (!ok) continue;
        if (found) return std::nullopt;  // ambiguous
        found = s.value;
    }
    return found;
}

prom_document parse_prom_text(std::string_view text, std::string& error)
{
    prom_document doc;
    std::size_t line_no = 0;
    static const std::set<std::string> kinds{"counter", "gauge", "histogram", "summary", "untyped"};
    auto fail = [&](const std::string& why) {
        error = "line " + std::to_string(line_no) + ": " + why;
        return prom_document{};
    };
    while (!text.empty()) {
        ++line_no;
        auto nl = text.find('\n');
        if (nl == std::string_view::npos) return fail("the last line has no newline");
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        if (line.empty()) continue;
        if (line[0] == '#') {
            if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
                std::size_t i = 7;
                std::string name = read_name(line, i);
                if (name.empty() || i >= line.size() || line[i] != ' ')
                    return fail("malformed HELP/TYPE line");
                std::string rest(line.substr(i + 1));
                if (line.starts_with("# TYPE ")) {
                    if (!kinds.count(rest)) return fail("unknown type \"" + rest + "\"");
                    if (doc.types.count(name)) return fail("second TYPE for " + name);
                    doc.types[name] = rest;
                } else {
                    doc.help[name] = rest;
                }
            }
            continue;
        }
        prom_sample s;
        std::size_t i = 0;
        s.name = read_name(line, i);
        if (s.name.empty()) return fail("a sample line must start with a metric name");
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                std::string label = read_name(line, i);
                if (label.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"')
                    return fail("malformed label");
                i += 2;
                std::string value;
                while (i < line.size() && line[i] != '"') {
                    if (line[i] == '\\' && i + 1 < line.size()) {
                        char e = line[++i];
                        value += e == 'n' ? '\n' : e;
                    } else {
                        value += line[i];
                    }
                    ++i;
                }
                if (i >= line.size()) return fail("unterminated label value");
                ++i;
                if (!s.labels.emplace(label, value).second) return fail("label " + label + " twice");
                if (i < line.size() && line[i] == ',') ++i;
            }
            if (i >= line.size()) return fail("unterminated label set");
            ++i;
        }
        if (i >= line.size() || line[i] != ' ') return fail("expected a space before the value");
        auto rest = line.substr(i + 1);
        auto sp = rest.find(' ');
        if (!parse_value(rest.substr(0, sp), s.value)) return fail("bad sample value");
        // The family is the name without a histogram/summary suffix.
        std::string family = s.name;
        for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
            if (family.ends_with(suffix) && !doc.types.count(family))
                family.resize(family.size() - suffix.size());
        }
        if (!doc.types.count(family)) return fail("sample " + s.name + " has no TYPE line before it");
        doc.samples.push_back(std::move(s));
    }
    return doc;
}

}  // namespace rostersync::test
