// The RFC 4180 parser: quoting, line breaks of every kind, chunk boundaries anywhere, limits.
#include "discovery/csv.hpp"

#include <gtest/gtest.h>

#include <random>

namespace rostersync::discovery {
namespace {

using rows = std::vector<std::vector<std::string>>;

rows parse_ok(std::string_view text)
{
    auto r = parse_csv(text);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : rows{};
}

/// Feeds `text` in chunks of `n` bytes.
rows parse_chunked(std::string_view text, std::size_t n)
{
    rows out;
    csv_parser p;
    auto on_row = [&](const std::vector<std::string>& f, std::size_t) {
        out.push_back(f);
        return true;
    };
    for (std::size_t i = 0; i < text.size(); i += n) EXPECT_TRUE(p.feed(text.substr(i, n), on_row));
    EXPECT_TRUE(p.finish(on_row));
    return out;
}

TEST(Csv, PlainFieldsAndRecords)
{
    EXPECT_EQ(parse_ok("a,b,c\n1,2,3\n"), (rows{{"a", "b", "c"}, {"1", "2", "3"}}));
    EXPECT_EQ(parse_ok("a,b\r\n1,2\r\n"), (rows{{"a", "b"}, {"1", "2"}}));
    EXPECT_EQ(parse_ok("a,b\r1,2"), (rows{{"a", "b"}, {"1", "2"}}));  // lone CR, no final break
    EXPECT_EQ(parse_ok("a,,c,\n"), (rows{{"a", "", "c", ""}}));
    EXPECT_EQ(parse_ok(" a , b \n"), (rows{{" a ", " b "}}));          // not trimmed
}

TEST(Csv, QuotedFieldsHoldSeparatorsQuotesAndLineBreaks)
{
    EXPECT_EQ(parse_ok("\"a,b\",\"say \"\"hi\"\"\"\n"), (rows{{"a,b", "say \"hi\""}}));
    EXPECT_EQ(parse_ok("\"two\nlines\",x\r\n\"cr\r\nlf\",y\n"), (rows{{"two\nlines", "x"}, {"cr\r\nlf", "y"}}));
    EXPECT_EQ(parse_ok("\"\",\"\"\"\"\n"), (rows{{"", "\""}}));
    EXPECT_EQ(parse_ok("\"end\""), (rows{{"end"}}));
}

TEST(Csv, LenientWhereExportsAreSloppy)
{
    // A quote inside an unquoted field, and text after a closing quote, are kept as written.
    EXPECT_EQ(parse_ok("5\" disk,x\n"), (rows{{"5\" disk", "x"}}));
    EXPECT_EQ(parse_ok("\"a\"b,c\n"), (rows{{"ab", "c"}}));
}

TEST(Csv, BomAndBlankLines)
{
    EXPECT_EQ(parse_ok("\xEF\xBB\xBFid,name\n\n1,x\n\r\n\n2,y\n"), (rows{{"id", "name"}, {"1", "x"}, {"2", "y"}}));
    // A partial BOM is data.
    EXPECT_EQ(parse_ok("\xEF\xBBz\n"), (rows{{"\xEF\xBBz"}}));
    EXPECT_EQ(parse_ok("\xEF"), (rows{{"\xEF"}}));
    EXPECT_EQ(parse_ok(""), rows{});
    EXPECT_EQ(parse_ok("\n\n"), rows{});
}

TEST(Csv, LineNumbersCountPhysicalLines)
{
    std::vector<std::size_t> lines;
    csv_parser p;
    auto on_row = [&](const std::vector<std::string>&, std::size_t line) {
        lines.push_back(line);
        return true;
    };
    ASSERT_TRUE(p.feed("h\r\n\"a\nb\nc\"\n\nd\r\ne", on_row));
    ASSERT_TRUE(p.finish(on_row));
    EXPECT_EQ(lines, (std::vector<std::size_t>{1, 2, 6, 7}));
}

TEST(Csv, UnclosedQuoteIsAnErrorNamingTheLine)
{
    auto r = parse_csv("a\nb\n\"open,\nstill open");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().line, 3u);
    EXPECT_NE(r.error().message.find("not closed"), std::string::npos);
}

TEST(Csv, LimitsAreErrorsNotCrashes)
{
    auto wide = parse_csv("a,b,c,d\n", {.max_field_bytes = 100, .max_fields = 3});
    ASSERT_FALSE(wide);
    EXPECT_NE(wide.error().message.find("more than 3 fields"), std::string::npos);
    auto longf = parse_csv("x\n" + std::string(200, 'y') + "\n", {.max_field_bytes = 100, .max_fields = 10});
    ASSERT_FALSE(longf);
    EXPECT_EQ(longf.error().line, 2u);
    // Once failed, the parser stays failed.
    csv_parser p({.max_field_bytes = 2, .max_fields = 10});
    auto none = [](const std::vector<std::string>&, std::size_t) { return true; };
    EXPECT_FALSE(p.feed("abc", none));
    EXPECT_FALSE(p.feed("d\n", none));
    EXPECT_FALSE(p.finish(none));
}

TEST(Csv, StoppingEarly)
{
    csv_parser p;
    int seen = 0;
    auto first_two = [&](const std::vector<std::string>&, std::size_t) { return ++seen < 2; };
    EXPECT_TRUE(p.feed("1\n2\n3\n4\n", first_two));
    EXPECT_TRUE(p.finish(first_two));
    EXPECT_EQ(seen, 2);
}

TEST(Csv, ChunkBoundariesNeverChangeTheResult)
{
    const std::string text =
        "\xEF\xBB\xBF" "canvas_course_id,long_name\r\n101,\"Biology, \"\"Honors\"\"\r\nsection\"\r\n102,Plain\n\n103,\"\"\r\n";
    const rows whole = parse_ok(text);
    ASSERT_EQ(whole.size(), 4u);
    EXPECT_EQ(whole[1][1], "Biology, \"Honors\"\r\nsection");
    for (std::size_t n = 1; n <= text.size(); ++n) EXPECT_EQ(parse_chunked(text, n), whole) << "chunks of " << n;
}

TEST(Csv, RandomBytesNeverCrashAndChunkingAgrees)
{
    // A small property test (the fuzzer does the big one): any input parses or fails the same
    // way whole and in chunks.
    std::mt19937 rng(7);
    const std::string alphabet = "ab,\"\r\n\xEF\xBB\xBF ";
    for (int round = 0; round < 500; ++round) {
        std::string text;
        const int len = static_cast<int>(rng() % 40);
        for (int i = 0; i < len; ++i) text += alphabet[rng() % alphabet.size()];
        auto whole = parse_csv(text);
        rows chunked;
        csv_parser p;
        bool ok = true;
        auto on_row = [&](const std::vector<std::string>& f, std::size_t) {
            chunked.push_back(f);
            return true;
        };
        for (std::size_t i = 0; i < text.size() && ok; i += 3) ok = bool(p.feed(std::string_view(text).substr(i, 3), on_row));
        if (ok) ok = bool(p.finish(on_row));
        ASSERT_EQ(ok, bool(whole)) << "input: " << text;
        if (ok) {
            EXPECT_EQ(chunked, *whole);
        }
    }
}

}  // namespace
}  // namespace rostersync::discovery
