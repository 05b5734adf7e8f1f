// The shipped unit file, checked with systemd's own tools where they are installed:
// `systemd-analyze verify` finds no problem, and `systemd-analyze security --offline=yes` rates
// the hardening as low exposure.
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

namespace rostersync::test {
namespace {

std::string run(const std::string& cmd, int& status)
{
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) {
        status = -1;
        return out;
    }
    std::array<char, 4096> buf{};
    while (auto n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    status = ::pclose(p);
    return out;
}

/// The unit with ExecStart pointing at the built binary, so verify can check it exists.
std::filesystem::path unit_copy(const temp_dir& dir)
{
    std::ifstream in(std::string(ROSTERSYNC_SOURCE_DIR) + "/systemd/rostersyncd.service");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = std::regex_replace(ss.str(), std::regex("/usr/bin/rostersyncd"), ROSTERSYNCD_PATH);
    return dir.write("rostersyncd.service", text, 0644);
}

bool have_systemd_analyze()
{
    int status = 0;
    run("command -v systemd-analyze", status);
    return status == 0;
}

TEST(SystemdUnit, VerifiesCleanly)
{
    if (!have_systemd_analyze()) GTEST_SKIP() << "systemd-analyze is not installed";
    temp_dir dir;
    int status = 0;
    auto out = run("systemd-analyze verify " + unit_copy(dir).string(), status);
    EXPECT_EQ(status, 0) << out;
    // Any line mentioning the unit is a complaint about it.
    EXPECT_EQ(out.find("rostersyncd.service"), std::string::npos) << out;
}

TEST(SystemdUnit, HardeningRatesLowExposure)
{
    if (!have_systemd_analyze()) GTEST_SKIP() << "systemd-analyze is not installed";
    temp_dir dir;
    int status = 0;
    auto out = run("systemd-analyze security --offline=yes --no-pager " + unit_copy(dir).string(), status);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(Overall exposure level for rostersyncd\.service: ([0-9.]+))"))) << out;
    double exposure = std::stod(m[1]);
    std::printf("systemd-analyze security: exposure %.1f\n", exposure);
    EXPECT_LT(exposure, 2.0) << out;  // systemd calls below 2.0 "OK"
}

}  // namespace
}  // namespace rostersync::test
