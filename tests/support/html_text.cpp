#include "support/html_text.hpp"

#include <initializer_list>
#include <string_view>
#include <utility>

namespace rostersync::test {

std::string visible_text(std::string html)
{
    for (const char* element : {"head", "style", "script"}) {
        const std::string open = std::string("<") + element,
                          close = std::string("</") + element + ">";
        for (auto at = html.find(open); at != std::string::npos; at = html.find(open, at)) {
            auto end = html.find(close, at);
            html.erase(at, end == std::string::npos ? std::string::npos : end + close.size() - at);
        }
    }
    std::string text;
    bool in_tag = false;
    for (char c : html) {
        if (c == '<')
            in_tag = true;
        else if (c == '>') {
            in_tag = false;
            text += ' ';
        } else if (!in_tag)
            text += c;
    }
    for (auto [ref, ch] : std::initializer_list<std::pair<std::string_view, std::string_view>>{
             {"&lt;", "<"},
             {"&gt;", ">"},
             {"&quot;", "\""},
             {"&#39;", "'"},
             {"&nbsp;", " "},
             {"&amp;", "&"}}) {
        for (auto at = text.find(ref); at != std::string::npos; at = text.find(ref, at + ch.size()))
            text.replace(at, ref.size(), ch);
    }
    std::string out;
    for (char c : text) {
        const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
        if (space && (out.empty() || out.back() == ' ')) continue;
        out += space ? ' ' : c;
    }
    return out;
}

}  // namespace rostersync::test
