#include "common/log.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

namespace rostersync {
namespace {

TEST(Log, LogfmtQuotesOnlyWhenNeeded)
{
    auto line = log::render(log::format::logfmt, log::level::info, "app", "http server listening",
                            {{"address", "127.0.0.1:9464"}, {"count", 3}, {"ok", true}, {"empty", ""}},
                            "2026-11-27T10:00:00.000Z");
    EXPECT_EQ(line,
              "ts=2026-11-27T10:00:00.000Z level=info component=app msg=\"http server listening\" "
              "address=127.0.0.1:9464 count=3 ok=true empty=\"\"");
}

TEST(Log, LogfmtEscapesQuotesNewlinesAndEquals)
{
    auto line = log::render(log::format::logfmt, log::level::error, "x", "m",
                            {{"v", "a \"b\"\nc=d\\"}}, "");
    EXPECT_EQ(line, "level=error component=x msg=m v=\"a \\\"b\\\"\\nc=d\\\\\"");
}

TEST(Log, JsonKeepsNumbersAndBooleansBare)
{
    auto line = log::render(log::format::json, log::level::warning, "cfg", "say \"hi\"",
                            {{"n", 42}, {"b", false}, {"s", "x\ty"}, {"secs", std::chrono::milliseconds(1500)}},
                            "T");
    EXPECT_EQ(line,
              "{\"ts\":\"T\",\"level\":\"warning\",\"component\":\"cfg\",\"msg\":\"say \\\"hi\\\"\","
              "\"n\":42,\"b\":false,\"s\":\"x\\ty\",\"secs\":1.5}");
}

TEST(Log, JsonEscapesControlCharacters)
{
    auto line = log::render(log::format::json, log::level::info, "c", std::string_view("a\x01", 2), {}, "");
    EXPECT_EQ(line, "{\"level\":\"info\",\"component\":\"c\",\"msg\":\"a\\u0001\"}");
}

TEST(Log, NonFiniteNumbersStayValidJson)
{
    auto line = log::render(log::format::json, log::level::info, "c", "m",
                            {{"a", std::numeric_limits<double>::infinity()}, {"b", std::nan("")}}, "");
    EXPECT_EQ(line, "{\"level\":\"info\",\"component\":\"c\",\"msg\":\"m\",\"a\":\"+Inf\",\"b\":\"NaN\"}");
}

TEST(Log, LevelFilterAndSinkCapture)
{
    std::vector<std::string> lines;
    auto previous = log::set_sink([&](log::level, std::string_view l) { lines.emplace_back(l); });
    log::configure({.min_level = log::level::warning, .fmt = log::format::logfmt});
    log::logger lg{"test"};
    lg.info("dropped");
    lg.warning("kept", {{"k", "v"}});
    lg.error("kept too");
    log::configure({});
    log::set_sink(previous);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("level=warning component=test msg=kept k=v"), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("msg=\"kept too\""), std::string::npos);
}

TEST(Log, LinesFromManyThreadsStayWhole)
{
    std::mutex m;
    std::vector<std::string> lines;
    auto previous = log::set_sink([&](log::level, std::string_view l) {
        std::lock_guard lock(m);
        lines.emplace_back(l);
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([t] {
            log::logger lg{"mt"};
            for (int i = 0; i < 100; ++i) lg.info("line", {{"thread", t}, {"i", i}});
        });
    }
    for (auto& th : threads) th.join();
    log::set_sink(previous);
    ASSERT_EQ(lines.size(), 400u);
    for (const auto& l : lines) EXPECT_NE(l.find("component=mt msg=line thread="), std::string::npos);
}

TEST(Log, ParsesLevelsAndFormats)
{
    log::level l{};
    EXPECT_TRUE(log::parse_level("debug", l));
    EXPECT_EQ(l, log::level::debug);
    EXPECT_FALSE(log::parse_level("verbose", l));
    log::format f{};
    EXPECT_TRUE(log::parse_format("json", f));
    EXPECT_EQ(f, log::format::json);
    EXPECT_FALSE(log::parse_format("xml", f));
}

}  // namespace
}  // namespace rostersync
