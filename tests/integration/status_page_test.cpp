// The status page at `/` as a person sees it: a real rostersyncd (mock Kafka cluster process,
// simulated platform over TLS) with a held and a parked course, loaded in headless Chromium
// (Debian's `chromium`), and the rendered DOM read for what is on screen.
#include "lms_sim/world.hpp"

#include "support/html_text.hpp"
#include "support/http_client.hpp"
#include "support/pipeline_env.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

namespace rostersync::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

/// The chromium binary on PATH, or empty.
std::string find_chromium()
{
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        for (const char* name : {"chromium", "chromium-browser"}) {
            const auto p = std::filesystem::path(dir) / name;
            if (::access(p.c_str(), X_OK) == 0) return p.string();
        }
    }
    return {};
}

std::string quote(const std::string& s)
{
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string slurp(const std::filesystem::path& p)
{
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// The visible text of the section that starts at <h2 id="ID"> (to the next <h2 or the end).
std::string section(const std::string& dom, const std::string& id)
{
    auto at = dom.find("<h2 id=\"" + id + "\"");
    if (at == std::string::npos) return {};
    auto end = dom.find("<h2", at + 1);
    return visible_text(dom.substr(at, end == std::string::npos ? std::string::npos : end - at));
}

class StatusPage : public testing::Test {
protected:
    void SetUp() override
    {
#if defined(__SANITIZE_THREAD__)
        GTEST_SKIP() << "librdkafka does not run under g++ 12's ThreadSanitizer";
#endif
        chromium_ = find_chromium();
        if (chromium_.empty())
            GTEST_SKIP(
            ) << "chromium is not installed (apt-get install --no-install-recommends chromium; "
                 ".ci/setup.sh installs it)";
    }

    /// Runs headless Chromium on `url` and returns the DOM after load; pumps the daemons' logs
    /// while it runs.
    std::string dump_dom(const std::string& url)
    {
        const auto out = env_->dir().path() / "dom.html";
        const auto err = env_->dir().path() / "chromium.err";
        const auto profile = env_->dir().path() / "chromium-profile";
        // As root Chromium needs --no-sandbox; the rest keeps it from reaching out or waiting for
        // anything (first-run UI, component updates, /dev/shm size, GPU).
        const std::string cmd =
            "timeout 45 " + quote(chromium_) +
            " --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run"
            " --no-default-browser-check --disable-extensions --disable-background-networking"
            " --disable-component-update --disable-sync --mute-audio --user-data-dir=" +
            quote(profile.string()) + " --dump-dom " + quote(url) + " >" + quote(out.string()) +
            " 2>" + quote(err.string());
        auto run = std::async(std::launch::async, [cmd] { return std::system(cmd.c_str()); });
        while (run.wait_for(100ms) != std::future_status::ready) env_->pump_logs();
        const int rc = run.get();
        const auto dom = slurp(out);
        EXPECT_EQ(rc, 0) << "chromium failed: " << slurp(err);
        return dom;
    }

    std::string chromium_;
    std::unique_ptr<pipeline_env> env_;
};

TEST_F(StatusPage, HeadlessChromiumShowsBudgetsHeldAndParkedContextsAndPartitions)
{
    // The platform's throttle on, so budgets learn a remaining allowance from its headers.
    env_ = std::make_unique<pipeline_env>(pipeline_env_options{.throttle = {}});
    auto big = env_->add_course("a.school.test", 40);
    auto gone = env_->add_course("b.school.test", 5);
    auto& d = env_->start_daemon();
    // Personal data the platform holds about these members: none of it may reach the page.
    const auto personal = env_->sim().call([&](lms_sim::sim_core& core) {
        std::vector<std::string> out;
        for (auto id : {big.id, gone.id})
            for (const auto& [uid, m] : core.state().w.snapshot_of(id))
                for (const auto* s :
                     {&m.who.user_id, &m.who.name, &m.who.email, &m.who.lti11_id, &m.who.sourcedid})
                    if (s->size() >= 5) out.push_back(*s);
        return out;
    });
    ASSERT_GE(personal.size(), 45u * 2);

    auto since = pipeline_env::now_text();
    env_->publish_seen(big);
    env_->publish_seen(gone);
    ASSERT_TRUE(env_->wait_pass_after(big, since, 30s)) << env_->last_admin_answer();
    ASSERT_TRUE(env_->wait_pass_after(gone, since, 30s)) << env_->last_admin_answer();

    // Everyone leaves the big course (the removal guard holds that); the other is deleted (404:
    // parked).
    env_->sim().call([&](lms_sim::sim_core& core) {
        core.state().w.empty(big.id);
        core.state().w.remove_context(gone.id);
    });
    since = pipeline_env::now_text();
    env_->publish_seen(big);
    env_->publish_seen(gone);
    auto held = env_->wait_pass_after(big, since, 30s);
    ASSERT_TRUE(held) << env_->last_admin_answer();
    ASSERT_NE(held->if_contains("held"), nullptr) << json::serialize(*held);
    auto parked = env_->wait_pass_after(gone, since, 30s);
    ASSERT_TRUE(parked) << env_->last_admin_answer();
    ASSERT_EQ(parked->at("last_outcome").as_string(), "parked") << json::serialize(*parked);

    // Served without the admin token, with the headers a browser needs.
    const auto url = "http://" + d.http_host + ":" + std::to_string(d.http_port) + "/";
    auto plain = http_get(d.http_host, d.http_port, "/");
    ASSERT_EQ(plain.status, 200) << plain.error;
    EXPECT_EQ(plain.headers["content-type"], "text/html; charset=utf-8");
    EXPECT_EQ(plain.headers["cache-control"], "no-store");
    EXPECT_EQ(plain.headers["x-content-type-options"], "nosniff");
    EXPECT_TRUE(plain.headers["content-security-policy"].starts_with(
        "default-src 'none'; style-src 'unsafe-inline'"
    ));

    const auto dom = dump_dom(url);
    if (const char* keep = std::getenv("STATUS_PAGE_TEST_SAVE"))
        std::ofstream(keep) << dom;  // to look at it
    ASSERT_NE(dom.find("<h2 id=\"partitions\""), std::string::npos)
        << "not the status page: " << dom;
    const auto all = visible_text(dom);

    // The header: the instance is ready.
    EXPECT_NE(all.find("rostersyncd on "), std::string::npos) << all;
    EXPECT_NE(all.find("State ready"), std::string::npos) << all;
    EXPECT_NE(dom.find("<title>rostersyncd on "), std::string::npos);

    // Budgets: the platform's shared budget ([[budgets]] "sim") with its hosts, and the allowance
    // the platform last reported.
    const auto budgets = section(dom, "budgets");
    EXPECT_NE(
        budgets.find("sim platforms school; hosts a.school.test, b.school.test"), std::string::npos
    ) << budgets;
    EXPECT_EQ(budgets.find("not reported yet"), std::string::npos) << budgets;

    // Held: the key, why, and how to release it.
    const auto held_text = section(dom, "held");
    EXPECT_NE(held_text.find(big.context_key()), std::string::npos) << held_text;
    EXPECT_NE(held_text.find("40 removals held by the removal guard"), std::string::npos)
        << held_text;
    EXPECT_NE(
        held_text.find(
            "rostersync release --config " + env_->config_path().string() + " --url http://" +
            d.http_host + ":" + std::to_string(d.http_port) + " --context '" + big.context_key() +
            "'"
        ),
        std::string::npos
    ) << held_text;

    // Parked: the deleted course and why; the same failure among the last errors.
    const auto parked_text = section(dom, "parked");
    EXPECT_NE(
        parked_text.find(gone.context_key() + " school not found (404): the course is gone"),
        std::string::npos
    ) << parked_text;
    const auto errors = section(dom, "errors");
    EXPECT_NE(
        errors.find(gone.context_key() + " parked the course or group does not exist (404)"),
        std::string::npos
    ) << errors;

    // Partitions: every one owned and ready.
    const auto parts = section(dom, "partitions");
    EXPECT_NE(parts.find("4 partitions owned: 4 ready, 0 restoring"), std::string::npos) << parts;
    EXPECT_EQ(parts.find("restoring:"), std::string::npos) << parts;

    // Nothing personal, nothing secret.
    EXPECT_EQ(dom.find(env_->admin_token()), std::string::npos);
    for (const auto& p : personal)
        EXPECT_EQ(dom.find(p), std::string::npos) << "personal data on the page: " << p;
}

}  // namespace
}  // namespace rostersync::test
