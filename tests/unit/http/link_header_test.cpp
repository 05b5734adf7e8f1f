#include "http/link_header.hpp"

#include "http/error.hpp"

#include <gtest/gtest.h>

namespace rostersync::http {
namespace {

using strings = std::vector<std::string>;
using params = std::vector<std::pair<std::string, std::string>>;

result<std::vector<link>> parse1(std::string_view value)
{
    return parse_link_header({value});
}

// Canvas's byte format (Api.jsonapi_paginate: links.join(","), no space, in the order current,
// next, prev, first, last), with the URLs of the real example from sakaiproject/sakai#11843
// (SAK-49217) written out in full.
#define CANVAS_URL(n) \
    "https://umich.instructure.com/api/lti/courses/624214/names_and_roles?page=" #n "&per_page=50"

// clang-format off
constexpr std::string_view canvas_first_page =
    "<" CANVAS_URL(1) ">; rel=\"current\","
    "<" CANVAS_URL(2) ">; rel=\"next\","
    "<" CANVAS_URL(1) ">; rel=\"first\","
    "<" CANVAS_URL(3) ">; rel=\"last\"";

constexpr std::string_view canvas_middle_page =
    "<" CANVAS_URL(2) ">; rel=\"current\","
    "<" CANVAS_URL(3) ">; rel=\"next\","
    "<" CANVAS_URL(1) ">; rel=\"prev\","
    "<" CANVAS_URL(1) ">; rel=\"first\","
    "<" CANVAS_URL(3) ">; rel=\"last\"";

constexpr std::string_view canvas_last_page =
    "<" CANVAS_URL(3) ">; rel=\"current\","
    "<" CANVAS_URL(2) ">; rel=\"prev\","
    "<" CANVAS_URL(1) ">; rel=\"first\","
    "<" CANVAS_URL(3) ">; rel=\"last\"";
// clang-format on

TEST(LinkHeaderLenient, UnquotedValuesMayHoldSlashes)
{
    auto links = parse_link_header({"<https://h/x?page=2>; rel=next; type=application/json"});
    ASSERT_TRUE(links);
    ASSERT_EQ(links->size(), 1u);
    EXPECT_EQ(find_rel(*links, "next"), "https://h/x?page=2");
    EXPECT_EQ(links->at(0).params.at(1).second, "application/json");
}

TEST(LinkHeader, CanvasFirstPage)
{
    auto r = parse1(canvas_first_page);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->size(), 4u);
    EXPECT_EQ((*r)[0].target, CANVAS_URL(1));
    EXPECT_EQ((*r)[0].rels, strings{"current"});
    EXPECT_EQ((*r)[1].target, CANVAS_URL(2));
    EXPECT_EQ((*r)[1].rels, strings{"next"});
    EXPECT_EQ((*r)[1].params, (params{{"rel", "next"}}));
    EXPECT_EQ((*r)[2].rels, strings{"first"});
    EXPECT_EQ((*r)[3].target, CANVAS_URL(3));
    EXPECT_EQ((*r)[3].rels, strings{"last"});
    EXPECT_EQ(find_rel(*r, "next"), CANVAS_URL(2));
    EXPECT_EQ(find_rel(*r, "last"), CANVAS_URL(3));
    EXPECT_EQ(find_rel(*r, "prev"), std::nullopt);
}

TEST(LinkHeader, CanvasMiddlePage)
{
    auto r = parse1(canvas_middle_page);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 5u);
    const strings order{"current", "next", "prev", "first", "last"};
    for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ((*r)[i].rels, strings{order[i]});
    EXPECT_EQ(find_rel(*r, "next"), CANVAS_URL(3));
    EXPECT_EQ(find_rel(*r, "prev"), CANVAS_URL(1));
    EXPECT_EQ(find_rel(*r, "current"), CANVAS_URL(2));
}

TEST(LinkHeader, CanvasLastPageHasNoNext)
{
    auto r = parse1(canvas_last_page);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 4u);
    EXPECT_EQ(find_rel(*r, "next"), std::nullopt);
    EXPECT_EQ(find_rel(*r, "prev"), CANVAS_URL(2));
    EXPECT_EQ(find_rel(*r, "last"), CANVAS_URL(3));
}

TEST(LinkHeader, SeveralHeaderLinesKeepOrder)
{
    auto r = parse_link_header(
        {"<https://h/a?page=1>; rel=current",
         "<https://h/a?page=2>; rel=next,<https://h/a?page=9>; rel=last",
         "<https://h/a?page=1>; rel=first"}
    );
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 4u);
    EXPECT_EQ((*r)[0].rels, strings{"current"});
    EXPECT_EQ((*r)[1].target, "https://h/a?page=2");
    EXPECT_EQ((*r)[2].target, "https://h/a?page=9");
    EXPECT_EQ((*r)[3].rels, strings{"first"});
    EXPECT_EQ(find_rel(*r, "next"), "https://h/a?page=2");
}

TEST(LinkHeader, WhitespaceAroundSeparators)
{
    auto r =
        parse1("  <https://h/a> ;  rel = \"next\" ,\t<https://h/b>\t;\trel=last ;type = \"x\"  ");
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].target, "https://h/a");
    EXPECT_EQ((*r)[0].rels, strings{"next"});
    EXPECT_EQ((*r)[1].target, "https://h/b");
    EXPECT_EQ((*r)[1].rels, strings{"last"});
    EXPECT_EQ((*r)[1].params, (params{{"rel", "last"}, {"type", "x"}}));
}

TEST(LinkHeader, UnquotedRel)
{
    auto r = parse1("<https://h/x?page=2>; rel=next,<https://h/x?page=9>;rel=last");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].rels, strings{"next"});
    EXPECT_EQ((*r)[1].rels, strings{"last"});
}

TEST(LinkHeader, SeveralRelationTypesInOneRel)
{
    auto r =
        parse1("<https://h/x?page=2>; rel=\"next last\",<https://h/y>; rel=\" \tprev   first\t\"");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].rels, (strings{"next", "last"}));
    EXPECT_EQ((*r)[0].params, (params{{"rel", "next last"}}));
    EXPECT_EQ((*r)[1].rels, (strings{"prev", "first"}));
    EXPECT_EQ(find_rel(*r, "last"), "https://h/x?page=2");
    EXPECT_EQ(find_rel(*r, "first"), "https://h/y");
}

TEST(LinkHeader, RelAndParamNamesAreCaseInsensitive)
{
    auto r = parse1("<https://h/A>; REL=\"NEXT\",<https://h/B>; Rel=Last; TYPE=\"Text/HTML\"");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].rels, strings{"next"});
    EXPECT_EQ((*r)[0].params, (params{{"rel", "NEXT"}}));  // values are kept as written
    EXPECT_EQ((*r)[1].rels, strings{"last"});
    EXPECT_EQ((*r)[1].params, (params{{"rel", "Last"}, {"type", "Text/HTML"}}));
    EXPECT_EQ(find_rel(*r, "next"), "https://h/A");
    EXPECT_EQ(find_rel(*r, "NEXT"), "https://h/A");
    EXPECT_EQ(find_rel(*r, "lAsT"), "https://h/B");
}

TEST(LinkHeader, OnlyTheFirstRelCounts)
{
    auto r = parse1("<https://h/a>; rel=next; rel=last");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].rels, strings{"next"});
    EXPECT_EQ((*r)[0].params, (params{{"rel", "next"}, {"rel", "last"}}));
    EXPECT_EQ(find_rel(*r, "last"), std::nullopt);
}

TEST(LinkHeader, ExtraParameters)
{
    auto r = parse1(
        "<https://h/x?page=2>; rel=\"next\"; title*=UTF-8'de'n%c3%a4chstes; "
        "type=\"application/json\"; anchor=\"#members\"; hreflang=en; title=\"Next page\""
    );
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].rels, strings{"next"});
    EXPECT_EQ(
        (*r)[0].params,
        (params{
            {"rel", "next"},
            {"title*", "UTF-8'de'n%c3%a4chstes"},
            {"type", "application/json"},
            {"anchor", "#members"},
            {"hreflang", "en"},
            {"title", "Next page"}})
    );
}

TEST(LinkHeader, ParameterWithoutValue)
{
    auto r = parse1("<https://h/a>; crossorigin; rel=next");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].params, (params{{"crossorigin", ""}, {"rel", "next"}}));
    EXPECT_EQ((*r)[0].rels, strings{"next"});
}

TEST(LinkHeader, LinkWithoutParameters)
{
    auto r = parse1("<https://h/a>,<https://h/b>; rel=next");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].target, "https://h/a");
    EXPECT_TRUE((*r)[0].rels.empty());
    EXPECT_TRUE((*r)[0].params.empty());
    EXPECT_EQ(find_rel(*r, "next"), "https://h/b");
}

TEST(LinkHeader, CommasInsideUrlDoNotSplit)
{
    auto r =
        parse1("<https://h/x?ids=1,2,3&page=2>; rel=next,<https://h/x?ids=1,2,3&page=5>; rel=last");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].target, "https://h/x?ids=1,2,3&page=2");
    EXPECT_EQ((*r)[1].target, "https://h/x?ids=1,2,3&page=5");
}

TEST(LinkHeader, CommasAndSemicolonsInsideQuotedValuesDoNotSplit)
{
    auto r = parse1("<https://h/a>; title=\"a, b; c=d\"; rel=\"next\",<https://h/b>; rel=last");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].params, (params{{"title", "a, b; c=d"}, {"rel", "next"}}));
    EXPECT_EQ((*r)[0].rels, strings{"next"});
    EXPECT_EQ((*r)[1].rels, strings{"last"});
}

TEST(LinkHeader, QuotedStringEscapes)
{
    auto r = parse1(R"(<https://h/a>; title="say \"hi\", \\ \q"; rel=next)");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ(
        (*r)[0].params[0], (std::pair<std::string, std::string>{"title", R"(say "hi", \ q)"})
    );
    EXPECT_EQ((*r)[0].rels, strings{"next"});
}

TEST(LinkHeader, NonAsciiInQuotedValueIsKept)
{
    auto r = parse1(
        "<https://h/a>; title=\"n\xc3\xa4"
        "chste\"; rel=next"
    );
    ASSERT_TRUE(r);
    EXPECT_EQ(
        (*r)[0].params[0].second,
        "n\xc3\xa4"
        "chste"
    );
}

TEST(LinkHeader, UpperCaseInUrlsIsPreserved)
{
    auto r = parse1("<HTTPS://H.Example.COM/API/Courses/X?Page=2&Token=AbC%2Fz>; rel=next");
    ASSERT_TRUE(r);
    EXPECT_EQ(find_rel(*r, "next"), "HTTPS://H.Example.COM/API/Courses/X?Page=2&Token=AbC%2Fz");
}

TEST(LinkHeader, EmptyValuesAndElementsAreSkipped)
{
    auto r = parse_link_header(
        {"", "   ", ",", " , ,\t", "<https://h/a>; rel=next,, ,<https://h/b>; rel=last,"}
    );
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].target, "https://h/a");
    EXPECT_EQ((*r)[1].target, "https://h/b");

    auto none = parse_link_header({});
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
}

TEST(LinkHeader, EmptyParametersAndEmptyRelAreTolerated)
{
    auto r = parse1("<https://h/a>;; rel=next;,<https://h/b>; rel=\"\"");
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].rels, strings{"next"});
    EXPECT_EQ((*r)[0].params, (params{{"rel", "next"}}));
    EXPECT_TRUE((*r)[1].rels.empty());
    EXPECT_EQ((*r)[1].params, (params{{"rel", ""}}));
}

TEST(LinkHeader, EmptyTargetIsAReference)
{
    auto r = parse1("<>; rel=self");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].target, "");
    EXPECT_EQ(find_rel(*r, "self"), "");
}

TEST(LinkHeader, FindRelTakesTheFirstMatchAndWholeTypesOnly)
{
    auto r = parse1(
        "<https://h/1>; rel=nextpage,<https://h/2>; rel=\"last next\",<https://h/3>; rel=next"
    );
    ASSERT_TRUE(r);
    EXPECT_EQ(find_rel(*r, "next"), "https://h/2");
    EXPECT_EQ(find_rel(*r, "nextpage"), "https://h/1");
    EXPECT_EQ(find_rel(*r, "nex"), std::nullopt);
    EXPECT_EQ(find_rel(*r, ""), std::nullopt);
    EXPECT_EQ(find_rel({}, "next"), std::nullopt);
}

class LinkHeaderMalformed : public testing::TestWithParam<const char*> {};

TEST_P(LinkHeaderMalformed, Rejected)
{
    auto r = parse1(GetParam());
    ASSERT_FALSE(r) << GetParam();
    EXPECT_EQ(r.error(), make_error_code(errc::malformed_link_header)) << GetParam();
}

// clang-format off
INSTANTIATE_TEST_SUITE_P(All, LinkHeaderMalformed, testing::Values(
    "<https://h/x; rel=next",                       // missing '>'
    "<https://h/x?page=2",                          // missing '>' at the end
    "<https://h/a>; rel=next,<https://h/b",         // missing '>' in the second element
    "https://h/x>; rel=next",                       // missing '<'
    "https://h/x?page=2",                           // a bare URL
    "; rel=next",                                   // parameters without a target
    "\"<https://h/a>\"; rel=next",                  // quoted target
    "<https://h/a>; rel=\"next",                    // unterminated quote
    "<https://h/a>; rel=\"next\\",                  // unterminated after a backslash
    "<https://h/a>; title=\"a, <b>; rel=next",      // unterminated quote swallowing the rest
    "<https://h/a> rel=next",                       // no ';' before the parameter
    "<https://h/a>; rel=next <https://h/b>; rel=last",  // no ',' between links
    "<https://h/a>; rel=next junk",                 // text after a value
    "<https://h/a>; rel=\"next\"x",                 // text after a quoted value
    "<https://h/a>>; rel=next",                     // stray '>'
    "<https://h/a>; =next",                         // parameter without a name
    "<https://h/a>; rel=",                          // '=' without a value
    "<https://h/a>; rel=; type=x",                  // '=' without a value, mid-list
    "<https://h/a>; r(el=next",                     // non-token character in a name
    "<https://h/a>; rel=<https://h/b>",             // a target where a value belongs
    "<https://h/a>, junk",                          // an element that is not a link
    "<https://h/a>; rel=\"ne\x01xt\"",              // control character in a quoted value
    "<https://h/a\r\nX-Injected: 1>; rel=next"));   // control characters in the target
// clang-format on

TEST(LinkHeader, OneMalformedLineFailsTheWholeHeader)
{
    auto r = parse_link_header({"<https://h/a>; rel=next", "garbage"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(errc::malformed_link_header));
}

struct resolve_case {
    const char* base;
    const char* reference;
    const char* expected;
};

class ResolveReference : public testing::TestWithParam<resolve_case> {};

TEST_P(ResolveReference, Resolves)
{
    const auto& c = GetParam();
    auto r = resolve_reference(c.base, c.reference);
    ASSERT_TRUE(r) << c.base << " + " << c.reference << ": " << r.error().message();
    EXPECT_EQ(*r, c.expected) << c.base << " + " << c.reference;
}

INSTANTIATE_TEST_SUITE_P(
    All,
    ResolveReference,
    testing::Values(
        resolve_case{"https://h/api/x?page=1", "?page=2", "https://h/api/x?page=2"},
        resolve_case{"https://h/api/x?page=1", "/x?page=2", "https://h/x?page=2"},
        resolve_case{"https://h/api/x?page=1", "page=2", "https://h/api/page=2"},
        resolve_case{"https://h/api/x/?page=1", "page=2", "https://h/api/x/page=2"},
        resolve_case{"https://h/api/x?page=1", "../y?page=3", "https://h/y?page=3"},
        resolve_case{
            "https://h/api/x?page=1",
            "https://other.example/z?page=2",
            "https://other.example/z?page=2"},
        resolve_case{"https://h/api/x?page=1", "//cdn.example/z", "https://cdn.example/z"},
        resolve_case{"https://h/api/x?page=1#frag", "", "https://h/api/x?page=1"},
        resolve_case{"https://h/api/x?page=1#frag", "?page=2", "https://h/api/x?page=2"},
        resolve_case{"https://h/api/x?page=1", "?page=2#top", "https://h/api/x?page=2#top"},
        resolve_case{"http://h:8080/a/b", "?page=2", "http://h:8080/a/b?page=2"},
        resolve_case{"HTTPS://h/a", "?page=2", "HTTPS://h/a?page=2"},
        resolve_case{
            "https://H.Example/API/Roster?Page=1",
            "?Page=2&Token=AbC%2F",
            "https://H.Example/API/Roster?Page=2&Token=AbC%2F"},
        resolve_case{"https://h/api/x", "/API/X?Page=2", "https://h/API/X?Page=2"}
    )
);

class ResolveReferenceBad : public testing::TestWithParam<resolve_case> {};

TEST_P(ResolveReferenceBad, BadUrl)
{
    const auto& c = GetParam();
    auto r = resolve_reference(c.base, c.reference);
    ASSERT_FALSE(r) << c.base << " + " << c.reference;
    EXPECT_EQ(r.error(), make_error_code(errc::bad_url)) << c.base << " + " << c.reference;
}

// clang-format off
INSTANTIATE_TEST_SUITE_P(All, ResolveReferenceBad, testing::Values(
    resolve_case{"", "?page=2", nullptr},                        // empty base
    resolve_case{"/api/x?page=1", "?page=2", nullptr},           // relative base
    resolve_case{"//h/api/x", "?page=2", nullptr},               // scheme-relative base
    resolve_case{"ftp://h/x", "?page=2", nullptr},               // not http(s)
    resolve_case{"mailto:a@h", "?page=2", nullptr},              // not http(s)
    resolve_case{"https:/x", "?page=2", nullptr},                // no authority
    resolve_case{"https://h/a b", "?page=2", nullptr},           // invalid base
    resolve_case{"https://h/x", "https://h/a b", nullptr},       // invalid reference
    resolve_case{"https://h/x", "?page=<2>", nullptr},           // invalid reference
    resolve_case{"https://h/x", "ht tp://h/", nullptr}));        // invalid reference
// clang-format on

TEST(LinkHeader, ParseThenResolveRelativeNext)
{
    auto r = parse1("<?page=1&per_page=50>; rel=\"current\",<?page=2&per_page=50>; rel=\"next\"");
    ASSERT_TRUE(r);
    auto next = find_rel(*r, "next");
    ASSERT_TRUE(next);
    auto url = resolve_reference(
        "https://canvas.example/api/lti/courses/1/names_and_roles?page=1&per_page=50", *next
    );
    ASSERT_TRUE(url);
    EXPECT_EQ(*url, "https://canvas.example/api/lti/courses/1/names_and_roles?page=2&per_page=50");
}

#undef CANVAS_URL

}  // namespace
}  // namespace rostersync::http
