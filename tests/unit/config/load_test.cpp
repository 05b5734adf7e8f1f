#include "config/load.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

namespace rostersync::config {
namespace {

using namespace std::chrono_literals;

std::string read_text(const std::filesystem::path& p)
{
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string all_problems(const problems& p)
{
    std::string s;
    for (const auto& x : p.list) s += x.to_string() + "\n";
    return s;
}

constexpr const char* minimal_platform = R"(
[[platforms]]
name = "school"
issuer = "https://canvas.instructure.com"
client_id = "10000000000001"
token_url = "https://school.instructure.com/login/oauth2/token"
private_key_file = "tool-key.pem"
allowed_hosts = ["school.instructure.com"]
)";

TEST(ConfigLoad, EmptyFileGivesDesignDefaults)
{
    auto cfg = load_string("", "empty.toml", {});
    ASSERT_TRUE(cfg) << all_problems(cfg.error());
    EXPECT_EQ(cfg->kafka.brokers, "embedded");
    EXPECT_TRUE(cfg->kafka.embedded());
    EXPECT_EQ(cfg->kafka.group_id, "rostersync");
    EXPECT_EQ(cfg->kafka.partitions, 12);
    EXPECT_EQ(cfg->kafka.replication_factor, 3);
    EXPECT_FALSE(cfg->kafka.exactly_once);
    EXPECT_EQ(cfg->kafka.topics.membership_changes, "lti.membership-changes");
    EXPECT_EQ(cfg->sync.min_interval, 10min);
    EXPECT_EQ(cfg->sync.resync_interval, 24h);
    EXPECT_DOUBLE_EQ(cfg->sync.resync_share, 0.2);
    EXPECT_EQ(cfg->sync.retire_after, 180 * 24h);
    EXPECT_EQ(cfg->sync.page_size, 50);
    EXPECT_EQ(cfg->sync.max_concurrent_syncs, 512);
    EXPECT_DOUBLE_EQ(cfg->sync.max_removal_ratio, 0.5);
    EXPECT_EQ(cfg->sync.guard_min_members, 10);
    EXPECT_EQ(cfg->http.listen.to_string(), "127.0.0.1:9464");
    EXPECT_TRUE(cfg->http.listen.is_loopback());
    EXPECT_TRUE(cfg->http.admin_token_file.empty());
    EXPECT_EQ(cfg->daemon.shutdown_grace, 30s);
    EXPECT_EQ(cfg->log.format, log::format::logfmt);
}

TEST(ConfigLoad, FullPlatformAndBudget)
{
    std::string text = std::string(minimal_platform) + R"(budget = "canvas-cloud"
ca_file = "/etc/ssl/school-ca.pem"
[[budgets]]
name = "canvas-cloud"
max_in_flight = 8
reserve = 100
requests_per_second = 12.5
max_wait = "5m"
[http]
listen = "[::1]:9999"
[http.resolve]
"School.instructure.com:443" = "127.0.0.1:8443"
)";
    auto cfg = load_string(text, "x.toml", {}, "/etc/rostersync");
    ASSERT_TRUE(cfg) << all_problems(cfg.error());
    ASSERT_EQ(cfg->platforms.size(), 1u);
    const auto& p = cfg->platforms[0];
    EXPECT_EQ(p.private_key_file, "/etc/rostersync/tool-key.pem");
    EXPECT_EQ(p.ca_file, "/etc/ssl/school-ca.pem");
    EXPECT_TRUE(p.nrps);
    EXPECT_FALSE(p.allow_http);
    ASSERT_NE(cfg->find_budget("canvas-cloud"), nullptr);
    EXPECT_EQ(cfg->find_budget("canvas-cloud")->max_wait, 5min);
    EXPECT_DOUBLE_EQ(cfg->find_budget("canvas-cloud")->requests_per_second, 12.5);
    EXPECT_EQ(cfg->http.listen.to_string(), "[::1]:9999");
    EXPECT_TRUE(cfg->http.listen.is_loopback());
    ASSERT_EQ(cfg->http.resolve.size(), 1u);
    EXPECT_EQ(cfg->http.resolve[0].host, "school.instructure.com");
    EXPECT_EQ(cfg->http.resolve[0].port, 443);
    EXPECT_EQ(cfg->http.resolve[0].address, "127.0.0.1");
    EXPECT_EQ(cfg->http.resolve[0].address_port, 8443);
}

// Every ```toml block in the README must load (with the file references it makes resolvable).
TEST(ConfigLoad, EveryReadmeExampleParses)
{
    std::string readme = read_text(std::filesystem::path(ROSTERSYNC_SOURCE_DIR) / "README.md");
    std::regex block("```toml\n([\\s\\S]*?)```");
    int count = 0;
    for (std::sregex_iterator it(readme.begin(), readme.end(), block), end; it != end; ++it) {
        ++count;
        auto cfg = load_string((*it)[1].str(), "README.md example " + std::to_string(count), {});
        EXPECT_TRUE(cfg) << "README example " << count << ":\n" << (*it)[1].str() << "\n"
                         << (cfg ? "" : all_problems(cfg.error()));
    }
    EXPECT_GE(count, 2) << "the README should show the configuration as TOML examples";
}

TEST(ConfigLoad, ShippedExampleFilesParse)
{
    auto cfg = load_file(std::filesystem::path(ROSTERSYNC_SOURCE_DIR) / "deploy/rostersync.example.toml", {});
    EXPECT_TRUE(cfg) << (cfg ? "" : all_problems(cfg.error()));
    // The quick start's template, filled in as deploy/quickstart.sh fills it.
    auto text = read_text(std::filesystem::path(ROSTERSYNC_SOURCE_DIR) / "deploy/quickstart.toml.in");
    text = std::regex_replace(text, std::regex("@PORT@"), "8443");
    text = std::regex_replace(text, std::regex("@WORK@"), "/tmp/rostersync-quickstart");
    auto quick = load_string(text, "deploy/quickstart.toml.in", {});
    EXPECT_TRUE(quick) << (quick ? "" : all_problems(quick.error()));
    if (quick) {
        EXPECT_EQ(quick->http.resolve.size(), 2u);
        EXPECT_TRUE(quick->kafka.embedded());
    }
}

constexpr const char* platform_without_hosts = R"(
[[platforms]]
name = "school"
issuer = "https://canvas.instructure.com"
client_id = "10000000000001"
token_url = "https://school.instructure.com/login/oauth2/token"
private_key_file = "tool-key.pem"
)";

struct bad_case {
    const char* name;
    std::string toml;
    environment env;
    std::string expected;  // substring of the one (first) problem's text
};

std::string bad_case_name(const testing::TestParamInfo<bad_case>& i) { return i.param.name; }
void PrintTo(const bad_case& c, std::ostream* os) { *os << c.name; }

class ConfigBad : public testing::TestWithParam<bad_case> {};

TEST_P(ConfigBad, NamesKeyLineAndExpectation)
{
    const auto& c = GetParam();
    auto cfg = load_string(c.toml, "bad.toml", c.env);
    ASSERT_FALSE(cfg) << "expected a problem containing: " << c.expected;
    auto text = all_problems(cfg.error());
    EXPECT_NE(text.find(c.expected), std::string::npos) << "got:\n" << text << "expected: " << c.expected;
}

INSTANTIATE_TEST_SUITE_P(All, ConfigBad, testing::Values(
    bad_case{"Syntax", "[sync\nmin_interval = 1", {}, "bad.toml:1:"},
    bad_case{"UnknownSection", "[synk]\nx = 1\n", {}, "bad.toml:1: synk: unknown key; did you mean \"sync\"?"},
    bad_case{"UnknownKeyWithHint", "[sync]\nmin_intervall = \"5m\"\n", {},
             "bad.toml:2: sync.min_intervall: unknown key; did you mean \"min_interval\"?"},
    bad_case{"UnknownKeyListsKnown", "[http]\nfoo = 1\n", {}, "known keys here: listen, admin_token_file, resolve"},
    bad_case{"DurationWithoutUnit", "[sync]\n\n min_interval = \"10\"\n", {},
             "bad.toml:3: sync.min_interval: expected a duration with a unit"},
    bad_case{"DurationAsNumber", "[sync]\nmin_interval = 600\n", {},
             "sync.min_interval: expected a duration with a unit, such as \"90s\", \"10m\", \"24h\", \"180d\" or \"1h30m\" (units ms, s, m, h, d), got the integer 600"},
    bad_case{"ZeroDuration", "[sync]\nresync_interval = \"0s\"\n", {}, "bad.toml:2: sync.resync_interval: must be from 1ms to 3650d, got \"0s\""},
    bad_case{"MinAboveResync", "[sync]\nmin_interval = \"2d\"\n", {},
             "sync.min_interval: must not be longer than sync.resync_interval (1d), got 2d"},
    bad_case{"ShareOutOfRange", "[sync]\nresync_share = 1.5\n", {},
             "bad.toml:2: sync.resync_share: expected a number from 0 to 0.9, got the number 1.5"},
    bad_case{"RatioZero", "[sync]\nmax_removal_ratio = 0\n", {}, "expected a number above 0 to 1"},
    bad_case{"PageSizeString", "[sync]\npage_size = \"50\"\n", {},
             "sync.page_size: expected an integer from 1 to 1000, got the string \"50\""},
    bad_case{"PartitionsZero", "[kafka]\npartitions = 0\n", {}, "kafka.partitions: expected an integer from 1 to 10000"},
    bad_case{"BadBrokers", "[kafka]\nbrokers = \"kafka1\"\n", {}, "expected \"embedded\" or a list \"host:port,host:port\""},
    bad_case{"BadTopicName", "[kafka.topics]\nmembership_changes = \"bad topic\"\n", {}, "kafka.topics.membership_changes: expected a Kafka topic name"},
    bad_case{"DuplicateTopic", "[kafka.topics]\nmemberships = \"lti.membership-changes\"\n", {}, "names the same topic as kafka.topics.membership_changes"},
    bad_case{"BadBool", "[kafka]\nexactly_once = \"yes\"\n", {}, "kafka.exactly_once: expected true or false, got the string \"yes\""},
    bad_case{"PropertyTable", "[kafka.properties]\nx = { a = 1 }\n", {}, "kafka.properties.x: expected a string, integer or boolean, got a table"},
    bad_case{"MissingSecretFile", "[kafka.properties]\n\"sasl.password_file\" = \"/nonexistent/secret\"\n", {}, "kafka.properties.sasl.password_file: cannot read \"/nonexistent/secret\""},
    bad_case{"ListenNoPort", "[http]\nlisten = \"127.0.0.1\"\n", {}, "http.listen: expected \"address:port\""},
    bad_case{"ListenHostname", "[http]\nlisten = \"example.com:80\"\n", {}, "expected an IP address or localhost"},
    bad_case{"ListenV6NoBrackets", "[http]\nlisten = \"::1:80\"\n", {}, "write IPv6 addresses in brackets"},
    bad_case{"ResolveToName", "[http.resolve]\n\"a.example:443\" = \"b.example:443\"\n", {}, "http.resolve.a.example:443: expected \"host:port\" = \"address:port\""},
    bad_case{"LogLevel", "[log]\nlevel = \"verbose\"\n", {}, "log.level: expected \"debug\", \"info\", \"warning\" or \"error\", got \"verbose\""},
    bad_case{"PlatformMissingName", "[[platforms]]\nissuer = \"https://x\"\n", {}, "bad.toml:1: platforms[0].name: is required"},
    bad_case{"PlatformMissingClientId", "[[platforms]]\nname = \"p\"\nissuer = \"https://canvas.instructure.com\"\nnrps = false\n", {}, "platforms[p].client_id: is required"},
    bad_case{"PlatformMissingKey", "[[platforms]]\nname = \"p\"\nissuer = \"https://i\"\nclient_id = \"1\"\ntoken_url = \"https://i/t\"\nallowed_hosts = [\"i\"]\n", {}, "platforms[p].private_key_file: is required"},
    bad_case{"PlatformUnknownBudget", std::string(minimal_platform) + "budget = \"nope\"\n", {}, "platforms[school].budget: names the budget \"nope\", but no [[budgets]] has that name"},
    bad_case{"PlatformBadHostPattern", std::string(platform_without_hosts) + "allowed_hosts = [\"*.\"]\n", {}, "platforms[school].allowed_hosts: expected a host name, \"*.\" followed by a domain, or an IP address, got \"*.\""},
    bad_case{"PlatformsNotArray", "platforms = \"x\"\n", {}, "platforms: expected [[platforms]] tables, got the string \"x\""},
    bad_case{"DuplicatePlatform", std::string(minimal_platform) + minimal_platform, {}, "platforms[school].name: is used by two [[platforms]]"},
    bad_case{"BudgetZeroRate", "[[budgets]]\nname = \"b\"\nrequests_per_second = 0\n", {}, "budgets[b].requests_per_second: expected a number above 0"},
    bad_case{"DurationTooLong", "[daemon]\nshutdown_grace = \"200000d\"\n", {}, "daemon.shutdown_grace: must be from 1ms to 1h, got \"200000d\""},
    bad_case{"WildcardTld", std::string(platform_without_hosts) + "allowed_hosts = [\"*.com\"]\n", {}, "bad.toml:2: platforms[school].allowed_hosts: a wildcard must name a domain of at least two labels"},
    bad_case{"BracketedV4", "[http]\nlisten = \"[127.0.0.1]:80\"\n", {}, "\"127.0.0.1\" is not an IPv6 address"},
    bad_case{"NoBrokers", "[kafka]\nbrokers = \" , \"\n", {}, "kafka.brokers: expected \"embedded\" or a list"},
    bad_case{"HttpIssuer", "[[platforms]]\nname = \"p\"\nissuer = \"http://i\"\nclient_id = \"1\"\nnrps = false\n", {}, "bad.toml:3: platforms[p].issuer: expected an https URL (plain http needs allow_http = true)"},
    bad_case{"DuplicatePlatformHasLine", std::string(minimal_platform) + minimal_platform, {}, "bad.toml:10: platforms[school].name: is used by two [[platforms]]"},
    bad_case{"EnvBadDuration", "", {{"ROSTERSYNC_SYNC_MIN_INTERVAL", "5"}}, "environment ROSTERSYNC_SYNC_MIN_INTERVAL: sync.min_interval: expected a duration"},
    bad_case{"EnvUnknownVariable", "", {{"ROSTERSYNC_SYNC_MIN_INTERVALL", "5m"}}, "environment ROSTERSYNC_SYNC_MIN_INTERVALL: ROSTERSYNC_SYNC_MIN_INTERVALL: is not a configuration setting"},
    bad_case{"EnvUnknownPlatform", "", {{"ROSTERSYNC_PLATFORMS_NOPE_CLIENT_ID", "1"}}, "is not a configuration setting"}),
    bad_case_name);

// The case above with an empty expectation must fail, and say why precisely.
TEST(ConfigLoad, HttpTokenUrlNeedsAllowHttp)
{
    auto cfg = load_string(
        std::string("[[platforms]]\nname = \"p\"\nissuer = \"https://i\"\nclient_id = \"1\"\n"
                    "token_url = \"http://i/t\"\nprivate_key_file = \"k\"\nallowed_hosts = [\"i\"]\n"),
        "bad.toml", {});
    ASSERT_FALSE(cfg);
    EXPECT_EQ(cfg.error().list.at(0).to_string(),
              "bad.toml:5: platforms[p].token_url: expected an https URL (plain http needs "
              "allow_http = true), got \"http://i/t\"");
    auto ok = load_string(
        std::string("[[platforms]]\nname = \"p\"\nissuer = \"https://i\"\nclient_id = \"1\"\n"
                    "allow_http = true\ntoken_url = \"http://i/t\"\nprivate_key_file = \"k\"\n"
                    "allowed_hosts = [\"i\"]\n"),
        "ok.toml", {});
    EXPECT_TRUE(ok) << all_problems(ok.error());
}

TEST(ConfigLoad, HostPatterns)
{
    auto with_hosts = [](const std::string& hosts) {
        return load_string(std::string("[[platforms]]\nname = \"p\"\nissuer = \"https://i\"\n"
                                       "client_id = \"1\"\ntoken_url = \"https://i/t\"\n"
                                       "private_key_file = \"k\"\nallowed_hosts = ") + hosts + "\n",
                           "h.toml", {});
    };
    EXPECT_TRUE(with_hosts("[\"*.instructure.com\", \"Canvas.MySchool.edu\", \"127.0.0.1\", \"::1\", \"localhost\"]"));
    for (const char* bad : {"[\"*.\"]", "[\"*.127.0.0.1\"]", "[\"a..b\"]", "[\"-a.b\"]", "[\"a b\"]", "[]"}) {
        auto cfg = with_hosts(bad);
        EXPECT_FALSE(cfg) << bad;
        if (!cfg) {
            EXPECT_NE(all_problems(cfg.error()).find("platforms[p].allowed_hosts"), std::string::npos);
        }
    }
    auto cfg = with_hosts("[\"Canvas.MySchool.edu\"]");
    ASSERT_TRUE(cfg);
    EXPECT_EQ(cfg->platforms[0].allowed_hosts[0], "canvas.myschool.edu");
}

TEST(ConfigLoad, ReportsEveryProblemNotJustTheFirst)
{
    auto cfg = load_string("[sync]\npage_size = 0\nmin_interval = \"x\"\n[kafka]\npartitions = -1\nfoo = 1\n",
                           "many.toml", {});
    ASSERT_FALSE(cfg);
    EXPECT_EQ(cfg.error().list.size(), 4u) << all_problems(cfg.error());
}

TEST(ConfigLoad, EnvironmentOverridesFileValues)
{
    environment env{
        {"ROSTERSYNC_SYNC_MIN_INTERVAL", "5m"},
        {"ROSTERSYNC_KAFKA_BROKERS", "k1:9092,k2:9092"},
        {"ROSTERSYNC_KAFKA_EXACTLY_ONCE", "true"},
        {"ROSTERSYNC_KAFKA_PARTITIONS", "24"},
        {"ROSTERSYNC_KAFKA_TOPICS_MEMBERSHIP_CHANGES", "lms.changes"},
        {"ROSTERSYNC_KAFKA_PROPERTIES_SECURITY_PROTOCOL", "SASL_SSL"},
        {"ROSTERSYNC_KAFKA_PROPERTIES_SASL_OAUTHBEARER_CLIENT__ID", "abc"},
        {"ROSTERSYNC_SYNC_RESYNC_SHARE", "0.3"},
        {"ROSTERSYNC_HTTP_LISTEN", "0.0.0.0:9000"},
        {"ROSTERSYNC_HTTP_RESOLVE", "a.example:443=127.0.0.1:8443, b.example:443=127.0.0.2:8443"},
        {"ROSTERSYNC_PLATFORMS_SCHOOL_CLIENT_ID", "999"},
        {"ROSTERSYNC_PLATFORMS_SCHOOL_ALLOWED_HOSTS", "a.example, *.b.example"},
        {"ROSTERSYNC_LOG_FORMAT", "json"},
    };
    auto cfg = load_string(std::string("[sync]\nmin_interval = \"20m\"\n[kafka.properties]\n"
                                       "\"security.protocol\" = \"PLAINTEXT\"\n") + minimal_platform,
                           "env.toml", env);
    ASSERT_TRUE(cfg) << all_problems(cfg.error());
    EXPECT_EQ(cfg->sync.min_interval, 5min);
    EXPECT_EQ(cfg->kafka.brokers, "k1:9092,k2:9092");
    EXPECT_TRUE(cfg->kafka.exactly_once);
    EXPECT_EQ(cfg->kafka.partitions, 24);
    EXPECT_EQ(cfg->kafka.topics.membership_changes, "lms.changes");
    using kv = std::pair<std::string, std::string>;
    EXPECT_EQ(cfg->kafka.properties, (std::vector<kv>{{"security.protocol", "SASL_SSL"},
                                                      {"sasl.oauthbearer.client_id", "abc"}}));
    EXPECT_DOUBLE_EQ(cfg->sync.resync_share, 0.3);
    EXPECT_EQ(cfg->http.listen.to_string(), "0.0.0.0:9000");
    EXPECT_FALSE(cfg->http.listen.is_loopback());
    ASSERT_EQ(cfg->http.resolve.size(), 2u);
    EXPECT_EQ(cfg->http.resolve[1].address, "127.0.0.2");
    EXPECT_EQ(cfg->platforms[0].client_id, "999");
    EXPECT_EQ(cfg->platforms[0].allowed_hosts, (std::vector<std::string>{"a.example", "*.b.example"}));
    EXPECT_EQ(cfg->log.format, log::format::json);
}

TEST(ConfigLoad, SecretsFromFilesAndCredentialsDirectory)
{
    test::temp_dir creds;
    creds.write("sasl-password", "s3cret\n");
    creds.write("tool-key.pem", "pem");
    test::temp_dir conf;
    auto file = conf.write("rostersync.toml",
                           std::string("[kafka.properties]\n\"sasl.password_file\" = \"sasl-password\"\n"
                                       "[http]\nadmin_token_file = \"admin-token\"\n") + minimal_platform);
    auto cfg = load_file(file, {{"CREDENTIALS_DIRECTORY", creds.path().string()}});
    ASSERT_TRUE(cfg) << all_problems(cfg.error());
    ASSERT_EQ(cfg->kafka.properties.size(), 1u);
    EXPECT_EQ(cfg->kafka.properties[0].first, "sasl.password");
    EXPECT_EQ(cfg->kafka.properties[0].second, "s3cret");
    // present in the credentials directory: taken from there
    EXPECT_EQ(cfg->platforms[0].private_key_file, (creds.path() / "tool-key.pem").string());
    // absent there: relative to the config file
    EXPECT_EQ(cfg->http.admin_token_file, (conf.path() / "admin-token").string());
}

TEST(ConfigLoad, MissingFileSaysSo)
{
    auto cfg = load_file("/nonexistent/rostersync.toml", {});
    ASSERT_FALSE(cfg);
    EXPECT_EQ(cfg.error().list.at(0).to_string(),
              "/nonexistent/rostersync.toml: cannot read the file: No such file or directory");
}

TEST(ConfigLoad, DirectoryIsNotAConfigFile)
{
    test::temp_dir dir;
    auto cfg = load_file(dir.path(), {});
    ASSERT_FALSE(cfg);
    EXPECT_EQ(cfg.error().list.at(0).to_string(), dir.path().string() + ": cannot read the file: not a regular file");
}

TEST(ConfigLoad, RestartOnlyChangesAreNamed)
{
    auto a = load_string("", "a", {});
    auto b = load_string("[http]\nlisten = \"127.0.0.1:1\"\n[kafka]\npartitions = 3\n[log]\nlevel = \"debug\"\n", "b", {});
    ASSERT_TRUE(a && b);
    EXPECT_EQ(restart_only_changes(*a, *b), (std::vector<std::string>{"http.listen", "kafka.partitions"}));
    EXPECT_TRUE(restart_only_changes(*a, *a).empty());
}

// ---- account discovery (issue 9): platforms[].rest_url / rest_token_file and [[discovery]] ----

constexpr const char* rest_platform = R"(
[[platforms]]
name = "school"
issuer = "https://canvas.instructure.com"
client_id = "10000000000001"
token_url = "https://sso.canvaslms.com/login/oauth2/token"
private_key_file = "tool-key.pem"
allowed_hosts = ["*.instructure.com"]
rest_url = "https://school.instructure.com/"
rest_token_file = "canvas-rest.token"
)";

TEST(ConfigLoad, DiscoveryEntriesWithDefaults)
{
    auto cfg = load_string(std::string(rest_platform) + R"(
[[discovery]]
platform = "school"
account = 1

[[discovery]]
platform = "school"
account = "sis_account_id:SCIENCES"
term = 7
states = ["created", "available", "available"]
subaccounts = false
from_report = true
interval = "6h"
recheck_after = "1d"
)", "d.toml", {}, "/etc/rostersync");
    ASSERT_TRUE(cfg) << all_problems(cfg.error());
    const auto& p = cfg->platforms.at(0);
    EXPECT_EQ(p.rest_url, "https://school.instructure.com");  // the trailing slash dropped
    EXPECT_EQ(p.rest_token_file, "/etc/rostersync/canvas-rest.token");
    ASSERT_EQ(cfg->discovery.size(), 2u);
    const auto& a = cfg->discovery[0];
    EXPECT_EQ(a.platform, "school");
    EXPECT_EQ(a.account, "1");
    EXPECT_EQ(a.term, "");
    EXPECT_EQ(a.states, (std::vector<std::string>{"available"}));
    EXPECT_TRUE(a.subaccounts);
    EXPECT_FALSE(a.from_report);
    EXPECT_EQ(a.interval, 24h);
    EXPECT_EQ(a.recheck_after, 7 * 24h);
    const auto& b = cfg->discovery[1];
    EXPECT_EQ(b.account, "sis_account_id:SCIENCES");
    EXPECT_EQ(b.term, "7");
    EXPECT_EQ(b.states, (std::vector<std::string>{"available", "created"}));
    EXPECT_FALSE(b.subaccounts);
    EXPECT_TRUE(b.from_report);
    EXPECT_EQ(b.interval, 6h);
    EXPECT_EQ(b.recheck_after, 24h);
}

TEST(ConfigLoad, RestTokenFileFromCredentialsDirectoryAndEnvironment)
{
    test::temp_dir creds;
    creds.write("canvas-rest.token", "t0k3n\n");
    test::temp_dir conf;
    auto file = conf.write("rostersync.toml", rest_platform);
    auto cfg = load_file(file, {{"CREDENTIALS_DIRECTORY", creds.path().string()},
                                {"ROSTERSYNC_PLATFORMS_SCHOOL_REST_URL", "https://other.instructure.com"}});
    ASSERT_TRUE(cfg) << all_problems(cfg.error());
    EXPECT_EQ(cfg->platforms[0].rest_token_file, (creds.path() / "canvas-rest.token").string());
    EXPECT_EQ(cfg->platforms[0].rest_url, "https://other.instructure.com");
}

TEST(ConfigLoad, DiscoveryChangesNeedARestart)
{
    auto a = load_string(rest_platform, "a", {});
    auto b = load_string(std::string(rest_platform) + "[[discovery]]\nplatform = \"school\"\naccount = 1\n", "b", {});
    ASSERT_TRUE(a && b) << (a ? all_problems(b.error()) : all_problems(a.error()));
    EXPECT_EQ(restart_only_changes(*a, *b), (std::vector<std::string>{"discovery"}));
    auto c = load_string(std::string(rest_platform) + "[[discovery]]\nplatform = \"school\"\naccount = 1\n", "c",
                         {{"ROSTERSYNC_PLATFORMS_SCHOOL_REST_TOKEN_FILE", "/run/other.token"}});
    ASSERT_TRUE(c);
    EXPECT_EQ(restart_only_changes(*b, *c), (std::vector<std::string>{"platforms[school].rest_url/rest_token_file"}));
}

INSTANTIATE_TEST_SUITE_P(Discovery, ConfigBad, testing::Values(
    bad_case{"RestUrlNeedsToken", std::string(minimal_platform) + "rest_url = \"https://school.instructure.com\"\n", {},
             "platforms[school].rest_token_file: is required with rest_url"},
    bad_case{"RestTokenNeedsUrl", std::string(minimal_platform) + "rest_token_file = \"t\"\n", {},
             "platforms[school].rest_url: is required with rest_token_file"},
    bad_case{"RestUrlNotAllowed", std::string(minimal_platform) +
                 "rest_url = \"https://evil.example\"\nrest_token_file = \"t\"\n", {},
             "platforms[school].rest_url: host \"evil.example\" is not in allowed_hosts; the REST token is sent only to allowed hosts"},
    bad_case{"RestUrlWithPath", std::string(minimal_platform) +
                 "rest_url = \"https://school.instructure.com/api/v1\"\nrest_token_file = \"t\"\n", {},
             "platforms[school].rest_url: expected the site's base URL without a path"},
    bad_case{"RestUrlHttp", std::string(minimal_platform) +
                 "rest_url = \"http://school.instructure.com\"\nrest_token_file = \"t\"\n", {},
             "platforms[school].rest_url: expected an https URL (plain http needs allow_http = true)"},
    bad_case{"DiscoveryUnknownPlatform", std::string(rest_platform) + "[[discovery]]\nplatform = \"nope\"\naccount = 1\n", {},
             "discovery[0].platform: names the platform \"nope\", but no [[platforms]] has that name"},
    bad_case{"DiscoveryPlatformWithoutRest", std::string(minimal_platform) + "[[discovery]]\nplatform = \"school\"\naccount = 1\n", {},
             "discovery[0].platform: platform school has no rest_url and rest_token_file"},
    bad_case{"DiscoveryNeedsAccount", std::string(rest_platform) + "[[discovery]]\nplatform = \"school\"\n", {},
             "discovery[0].account: is required"},
    bad_case{"DiscoveryBadAccount", std::string(rest_platform) + "[[discovery]]\nplatform = \"school\"\naccount = \"a b\"\n", {},
             "discovery[0].account: expected a Canvas id (digits, or \"sis_…_id:VALUE\" without blanks), got the string \"a b\""},
    bad_case{"DiscoveryAccountAsBool", std::string(rest_platform) + "[[discovery]]\nplatform = \"school\"\naccount = true\n", {},
             "discovery[0].account: expected a Canvas id (an integer, or a string such as \"sis_account_id:X\"), got true"},
    bad_case{"DiscoveryBadState", std::string(rest_platform) + "[[discovery]]\nplatform = \"school\"\naccount = 1\nstates = [\"active\"]\n", {},
             "discovery[0].states: expected Canvas course states (created, claimed, available, completed, deleted), got \"active\""},
    bad_case{"DiscoveryEmptyStates", std::string(rest_platform) + "[[discovery]]\nplatform = \"school\"\naccount = 1\nstates = []\n", {},
             "discovery[0].states: must list at least one Canvas course state"},
    bad_case{"DiscoveryIntervalTooShort", std::string(rest_platform) + "[[discovery]]\nplatform = \"school\"\naccount = 1\ninterval = \"5s\"\n", {},
             "discovery[0].interval: must be from 1m to 3650d, got \"5s\""},
    bad_case{"DiscoveryUnknownKey", std::string(rest_platform) + "[[discovery]]\nplatform = \"school\"\naccount = 1\nfrom_reports = true\n", {},
             "discovery[0].from_reports: unknown key; did you mean \"from_report\"?"},
    bad_case{"DiscoveryTwice", std::string(rest_platform) + "[[discovery]]\nplatform = \"school\"\naccount = 1\n"
                                                            "[[discovery]]\nplatform = \"school\"\naccount = 1\n", {},
             "discovery[1].account: account 1 of platform school is listed twice"},
    bad_case{"DiscoveryNotTables", "discovery = 1\n" + std::string(rest_platform), {},
             "discovery: expected [[discovery]] tables, got the integer 1"}),
    bad_case_name);

}  // namespace
}  // namespace rostersync::config
