#include "app/options.hpp"

#include <gtest/gtest.h>

namespace rostersync::app {
namespace {

using action = options::action;

TEST(Options, DefaultsToRunWithTheSystemConfig)
{
    auto o = parse_options({});
    EXPECT_EQ(o.what, action::run);
    EXPECT_EQ(o.config_path, "/etc/rostersync/rostersync.toml");
    EXPECT_TRUE(o.error.empty());
}

TEST(Options, ConfigForms)
{
    EXPECT_EQ(parse_options({"--config", "a.toml"}).config_path, "a.toml");
    EXPECT_EQ(parse_options({"-c", "b.toml"}).config_path, "b.toml");
    EXPECT_EQ(parse_options({"--config=c.toml"}).config_path, "c.toml");
    EXPECT_EQ(parse_options({"--config"}).error, "--config needs a file name");
}

TEST(Options, CheckConfigTakesAnOptionalFile)
{
    auto a = parse_options({"--check-config", "x.toml"});
    EXPECT_EQ(a.what, action::check_config);
    EXPECT_EQ(a.config_path, "x.toml");
    auto b = parse_options({"--check-config", "--config", "y.toml"});
    EXPECT_EQ(b.what, action::check_config);
    EXPECT_EQ(b.config_path, "y.toml");
    auto c = parse_options({"--check-config"});
    EXPECT_EQ(c.what, action::check_config);
    EXPECT_TRUE(c.error.empty());
    EXPECT_EQ(parse_options({"--check-config=z.toml"}).config_path, "z.toml");
}

TEST(Options, HelpVersionAndUnknown)
{
    EXPECT_EQ(parse_options({"--help"}).what, action::help);
    EXPECT_EQ(parse_options({"-h"}).what, action::help);
    EXPECT_EQ(parse_options({"--version"}).what, action::version);
    EXPECT_EQ(parse_options({"--frobnicate"}).error, "unknown argument \"--frobnicate\"");
    EXPECT_NE(usage_text().find("--check-config"), std::string::npos);
}

}  // namespace
}  // namespace rostersync::app
