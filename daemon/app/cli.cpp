#include "app/cli.hpp"

#include "app/options.hpp"
#include "common/duration.hpp"
#include "common/log.hpp"
#include "common/version.hpp"
#include "config/load.hpp"
#include "discovery/discover.hpp"
#include "discovery/error.hpp"
#include "http/url.hpp"
#include "kafka/admin.hpp"
#include "kafka/consumer.hpp"
#include "kafka/error.hpp"
#include "kafka/partitioner.hpp"
#include "kafka/producer.hpp"
#include "nrps/error.hpp"
#include "nrps/fetcher.hpp"
#include "oauth/assertion.hpp"
#include "roster/encode.hpp"
#include "sync/course_seen.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace rostersync::app {
namespace {

constexpr const char* usage_head = R"(Usage: rostersync COMMAND [options]

Commands:
  fetch --config FILE --platform NAME --url URL [--role URI] [--format table|json]
        Fetch one roster through the daemon's pull engine (same URL guard, budget, token and
        retries) and print it. Progress goes to stderr. Exit 0 with the roster; 1 when the pass
        failed (the error is classified: retryable, throttled, configuration, not found …).
  keygen --out FILE [--alg RS256|ES256] [--kid KID]
        Write a new private key (mode 0600; an existing file is never overwritten) and print its
        public JWK, to register the tool with a platform.
  jwks --config FILE
        Print the JWK set the daemon serves at /.well-known/jwks.json.
)";

constexpr const char* seen_usage = R"(  seen KAFKA (--platform NAME | --issuer URL --client-id ID) --context-id ID
       [--memberships-url URL] [--deployment-id ID] [--label TEXT] [--title TEXT] [--force]
       [--user-id ID --role URI [--role URI]...]
  seen KAFKA --from-csv FILE|-
        Publish CourseSeen events (what an LTI launch reports) to kafka.topics.course_seen, keyed
        and partitioned by the context key "<issuer>|<context_id>"; seen_at is now. --platform
        takes issuer and client_id from the config. Events are checked first as the daemon
        would (required fields, a configured platform, the platform's allowed_hosts). --from-csv
        reads a header row naming columns platform, issuer, client_id, context_id,
        memberships_url, deployment_id, label, title, force, user_id, roles (space-separated),
        then one event a row; bad rows are reported by line number and skipped. Waits for every
        delivery, prints "published N, failed M"; exit 1 when any failed.
)";

constexpr const char* discover_usage = R"(  discover --config FILE --platform NAME (--account ID | --from-csv FILE|-) [--term ID]
       [--state STATE[,STATE]...] [--no-subaccounts] [--from-report] [--dry-run] [--json]
       [--brokers HOST:PORT[,...]] [--topic NAME]
        Find the courses of a Canvas account (and its sub-accounts) through the REST API, with
        the platform's rest_url and rest_token_file, and announce each course where the tool is
        installed as a CourseSeen on kafka.topics.course_seen (keyed and partitioned by the
        context key, as seen does), so rostersyncd syncs it before anyone launches. The LTI
        context of a course is learned from the first page of its NRPS roster; courses where the
        tool is not installed are reported and parked, never retried in a storm. --state takes
        Canvas course states (created, claimed, available, completed, deleted, or unpublished
        for created and claimed; default available), --term an enrollment_term_id (or
        sis_term_id:X), --no-subaccounts leaves sub-accounts out. --from-report reads the account's
        provisioning report (one report instead of thousands of list calls, for very large
        accounts; it may take long), --from-csv a courses CSV of your own with a
        canvas_course_id column (the report's format). --dry-run probes but publishes nothing
        and needs no Kafka; it lists every course and its outcome. Prints a summary; exit 0
        when every course was decided, 1 when some failed or the run stopped, 78 when the
        platform refuses the REST token or a permission (the message says which).
)";

constexpr const char* tail_usage = R"(  tail KAFKA [--from-beginning] [--count N] [--timeout DURATION] [--json] [--verbose]
        Print MembershipChange events of kafka.topics.membership_changes, one line each:
          TIME TYPE ISSUER|CONTEXT|USER roles=... status=... vVERSION (SOURCE)
        Roles are shortened to their last part; names and emails only with --verbose (they are
        personal data). --json prints each record's JSON instead. Reads every partition without
        joining a consumer group (never disturbs the daemon's). New events only, unless
        --from-beginning. --count N: exit 0 after N events. --timeout DURATION ("30s", "500ms"):
        stop after that long without a record; exit 0, or 1 when --count N was not reached.
        Malformed records are reported on stderr and skipped. Ctrl-C stops (exit 0).
)";

constexpr const char* kafka_usage = R"(  KAFKA is --config FILE (kafka.brokers, kafka.topics, kafka.properties) and/or
        --brokers HOST:PORT[,...] (overrides kafka.brokers; needed when it is "embedded": that
        cluster lives inside rostersyncd, use the bootstrap address it logged), plus
        [--topic NAME] to override the topic.
)";

constexpr const char* status_usage = R"(  status --config FILE [--url URL] [--held | --parked] [--json]
  status --config FILE [--url URL] (--context KEY | --platform NAME --context-id ID) [--json]
        Ask the running rostersyncd which contexts it owns: a table of context key, platform,
        members, roster version, last outcome, next due and held/parked state (--held, --parked:
        only those), or everything about one context. --json prints the daemon's answer.
)";

constexpr const char* resync_usage = R"(  resync --config FILE [--url URL] (--context KEY | --platform NAME --context-id ID) [--json]
        Schedule a pass of one context now (a parked context is unparked).
)";

constexpr const char* release_usage = R"(  release --config FILE [--url URL] (--context KEY | --platform NAME --context-id ID) [--json]
  release --config FILE [--url URL] --platform NAME --all [--json]
        Let the removals held by the removal guard through, once, within 24 h: for one context,
        or for every context of the platform that holds removals (that needs --all).
)";

constexpr const char* admin_usage = R"(  status, resync and release use the daemon's admin API: plain HTTP on http.listen (a daemon
        listening on 0.0.0.0 or :: is reached on loopback; --url http://HOST:PORT overrides it,
        needed when http.listen has port 0), with the bearer token in http.admin_token_file
        (unset: the admin API is off, exit 78). A context KEY is "<issuer>|<context_id>";
        --platform NAME --context-id ID builds it from the platform's issuer. Exit 1 when the
        daemon cannot be reached, refuses the token, does not know the context, or does not own
        its partition (another instance does).
)";

constexpr const char* usage_tail = R"(  version, --version     Print the version.
  help, --help           This text.

Exit codes: 0 success, 1 the operation failed, 64 bad command line, 78 invalid configuration.
)";

const std::string usage = std::string(usage_head) + seen_usage + discover_usage + tail_usage + kafka_usage + status_usage + resync_usage +
                          release_usage + admin_usage + usage_tail;

struct args {
    std::map<std::string, std::string> values;
    std::string error;
};

args parse(int argc, char** argv, int from, const std::vector<std::string>& known)
{
    args a;
    for (int i = from; i < argc; ++i) {
        std::string k = argv[i];
        if (!k.starts_with("--") || std::find(known.begin(), known.end(), k.substr(2)) == known.end()) {
            a.error = "unknown argument \"" + k + "\"";
            return a;
        }
        if (i + 1 >= argc) {
            a.error = k + " needs a value";
            return a;
        }
        a.values[k.substr(2)] = argv[++i];
    }
    return a;
}

std::optional<config::config> load_config(const std::string& path)
{
    auto cfg = config::load_file(path, config::process_environment());
    if (!cfg) {
        for (const auto& p : cfg.error().list) std::cerr << p.to_string() << '\n';
        return std::nullopt;
    }
    return std::move(*cfg);
}

std::string error_class(const error_code& ec)
{
    if (ec == make_error_code(nrps::errc::not_found)) return "not found";
    if (ec == make_error_code(nrps::errc::configuration) || oauth::is_configuration_error(ec)) return "configuration";
    if (ec == make_error_code(nrps::errc::throttled)) return "throttled";
    if (is_retryable(ec)) return "retryable";
    return "refused";
}

std::string short_role(std::string_view uri)
{
    auto hash = uri.rfind('#');
    return std::string(hash == std::string_view::npos ? uri : uri.substr(hash + 1));
}

int fetch(int argc, char** argv)
{
    auto a = parse(argc, argv, 2, {"config", "platform", "url", "role", "format"});
    for (const char* required : {"config", "platform", "url"}) {
        if (a.error.empty() && !a.values.count(required)) a.error = std::string("--") + required + " is required";
    }
    const std::string format = a.values.count("format") ? a.values["format"] : "table";
    if (a.error.empty() && format != "table" && format != "json") a.error = "--format is table or json";
    if (!a.error.empty()) {
        std::cerr << "rostersync fetch: " << a.error << "\n\n" << usage;
        return exit_usage;
    }
    auto cfg = load_config(a.values["config"]);
    if (!cfg) return exit_config;
    log::configure({.min_level = log::level::warning, .fmt = cfg->log.format});
    net::io_context ioc;
    auto engine = nrps::engine::create(ioc.get_executor(), *cfg);
    if (!engine) {
        std::cerr << "rostersync fetch: " << engine.error().detail << "\n";
        return exit_config;
    }
    nrps::fetch_options fo;
    if (a.values.count("role")) fo.role = a.values["role"];
    const auto start = std::chrono::steady_clock::now();
    const bool tty = isatty(STDERR_FILENO) != 0;
    fo.on_page = [&](const nrps::progress& p) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "%spages %d, members %zu, %.0f members/s, throttle waits %d, retries %d%s",
                     tty ? "\r" : "", p.pages, p.members, secs > 0 ? static_cast<double>(p.members) / secs : 0.0,
                     p.throttle_waits, p.retries, tty ? "" : "\n");
    };
    std::optional<result<nrps::roster, nrps::fetch_error>> out;
    net::co_spawn(ioc, (*engine)->fetch(a.values["platform"], a.values["url"], fo),
                  [&](std::exception_ptr e, result<nrps::roster, nrps::fetch_error> r) {
                      if (e) std::rethrow_exception(e);
                      out = std::move(r);
                  });
    ioc.run();
    if (tty) std::fprintf(stderr, "\n");
    if (!*out) {
        const auto& err = out->error();
        std::cerr << "rostersync fetch: failed (" << error_class(err.ec) << "): " << err.ec.message()
                  << (err.detail.empty() ? "" : ": " + err.detail) << "\n";
        return exit_runtime_failure;
    }
    const auto& r = **out;
    if (format == "json") {
        boost::json::array members;
        for (const auto& m : r.members) {
            // The Member JSON of the event contract, with the user_id in front.
            boost::json::object o{{"user_id", m.user_id}};
            auto encoded = boost::json::parse(roster::encode_member(m.to_member()));
            for (auto& [k, v] : encoded.as_object()) o[k] = v;
            members.push_back(std::move(o));
        }
        boost::json::object ctx{{"id", r.context.id}};
        if (r.context.label) ctx["label"] = *r.context.label;
        if (r.context.title) ctx["title"] = *r.context.title;
        std::cout << boost::json::serialize(boost::json::object{{"context", std::move(ctx)}, {"pages", r.pages},
                                                                {"members", std::move(members)}})
                  << "\n";
    } else {
        std::printf("%-38s %-8s %-40s %s\n", "USER_ID", "STATUS", "ROLES", "NAME");
        for (const auto& m : r.members) {
            std::string roles;
            for (const auto& x : m.roles) roles += (roles.empty() ? "" : ",") + short_role(x);
            std::printf("%-38s %-8s %-40s %s\n", std::string(m.user_id).c_str(), std::string(m.status).c_str(),
                        roles.c_str(), std::string(m.name.value_or("")).c_str());
        }
        std::fprintf(stderr, "context %s: %zu members in %d pages (%d duplicates, %d retries, %d throttle waits)\n",
                     r.context.id.c_str(), r.members.size(), r.pages, r.duplicates, r.retries, r.throttle_waits);
    }
    return exit_ok;
}

int keygen(int argc, char** argv)
{
    auto a = parse(argc, argv, 2, {"out", "alg", "kid"});
    if (a.error.empty() && !a.values.count("out")) a.error = "--out is required";
    if (!a.error.empty()) {
        std::cerr << "rostersync keygen: " << a.error << "\n\n" << usage;
        return exit_usage;
    }
    auto key = oauth::generate_key(a.values.count("alg") ? a.values["alg"] : "RS256",
                                   a.values.count("kid") ? a.values["kid"] : "");
    if (!key) {
        std::cerr << "rostersync keygen: " << key.error().message << "\n";
        return exit_usage;
    }
    const std::string& path = a.values["out"];
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::cerr << "rostersync keygen: cannot create " << path << ": " << std::strerror(errno)
                  << (errno == EEXIST ? " (an existing key is never overwritten)" : "") << "\n";
        return exit_runtime_failure;
    }
    const std::string& pem = key->private_pem;
    bool ok = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
    ok = ::close(fd) == 0 && ok;
    if (!ok) {
        std::cerr << "rostersync keygen: writing " << path << " failed\n";
        return exit_runtime_failure;
    }
    std::cout << key->public_jwk << "\n";
    std::cerr << "wrote " << path << " (kid " << key->kid << "); register the JWK above with the platform, or its "
              << "JWKS URL (http://<http.listen>/.well-known/jwks.json)\n";
    return exit_ok;
}

int jwks(int argc, char** argv)
{
    auto a = parse(argc, argv, 2, {"config"});
    if (a.error.empty() && !a.values.count("config")) a.error = "--config is required";
    if (!a.error.empty()) {
        std::cerr << "rostersync jwks: " << a.error << "\n\n" << usage;
        return exit_usage;
    }
    auto cfg = load_config(a.values["config"]);
    if (!cfg) return exit_config;
    net::io_context ioc;
    auto engine = nrps::engine::create(ioc.get_executor(), *cfg);
    if (!engine) {
        std::cerr << "rostersync jwks: " << engine.error().detail << "\n";
        return exit_config;
    }
    std::cout << (*engine)->jwks() << "\n";
    return exit_ok;
}


// ---- seen and tail: the Kafka side of the contract (DESIGN.md section 2) ----

/// A flag of `seen`/`tail`: `--name VALUE` (or `--name=VALUE`), or a switch without a value.
struct flag_spec {
    std::string name;
    bool takes_value = true;
    bool repeatable = false;
};

struct flags {
    std::map<std::string, std::vector<std::string>> values;
    std::string error;

    bool has(const std::string& k) const { return values.count(k) != 0; }
    std::string get(const std::string& k) const
    {
        auto it = values.find(k);
        return it == values.end() ? std::string() : it->second.back();
    }
    std::vector<std::string> all(const std::string& k) const
    {
        auto it = values.find(k);
        return it == values.end() ? std::vector<std::string>{} : it->second;
    }
};

flags parse_flags(int argc, char** argv, int from, const std::vector<flag_spec>& known)
{
    flags f;
    for (int i = from; i < argc; ++i) {
        std::string arg = argv[i];
        std::optional<std::string> inline_value;
        if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
            inline_value = arg.substr(eq + 1);
            arg.resize(eq);
        }
        const auto spec = std::find_if(known.begin(), known.end(),
                                       [&](const flag_spec& s) { return arg.starts_with("--") && s.name == arg.substr(2); });
        if (spec == known.end()) {
            f.error = "unknown argument \"" + std::string(argv[i]) + "\"";
            return f;
        }
        if (f.has(spec->name) && !spec->repeatable) {
            f.error = arg + " is given twice";
            return f;
        }
        if (!spec->takes_value) {
            if (inline_value) {
                f.error = arg + " takes no value";
                return f;
            }
            f.values[spec->name].emplace_back();
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= argc) {
                f.error = arg + " needs a value";
                return f;
            }
            inline_value = argv[++i];
        }
        f.values[spec->name].push_back(std::move(*inline_value));
    }
    return f;
}

/// Where to find Kafka: brokers, client properties and topic names, from --config and --brokers.
struct kafka_target {
    std::optional<config::config> cfg;
    std::string bootstrap;
    std::vector<std::pair<std::string, std::string>> properties;
    config::topic_names topics;
};

/// exit_ok, or the exit code after printing why not.
int resolve_kafka(const flags& f, const std::string& cmd, kafka_target& out)
{
    if (f.has("config")) {
        out.cfg = load_config(f.get("config"));
        if (!out.cfg) return exit_config;
        out.bootstrap = out.cfg->kafka.brokers;
        out.properties = out.cfg->kafka.properties;
        out.topics = out.cfg->kafka.topics;
        log::configure({.min_level = log::level::warning, .fmt = out.cfg->log.format});
    } else {
        log::configure({.min_level = log::level::warning});
    }
    if (f.has("brokers")) out.bootstrap = f.get("brokers");
    if (out.bootstrap.empty()) {
        std::cerr << "rostersync " << cmd << ": --config or --brokers is required\n";
        return exit_usage;
    }
    if (out.bootstrap == "embedded") {
        std::cerr << "rostersync " << cmd << ": kafka.brokers is \"embedded\" in " << f.get("config")
                  << ": that cluster lives inside the rostersyncd process and cannot be reached from another "
                     "process by that name. Pass --brokers HOST:PORT with the bootstrap address the daemon "
                     "logged when it started its embedded cluster (or run rostersync-kafka-mock and point "
                     "both at it).\n";
        return exit_usage;
    }
    return exit_ok;
}

/// The partition count of `topic`, or the exit code after printing why not (missing topic,
/// unreachable brokers).
std::optional<int> topic_partitions(rd_kafka_t* client, const std::string& topic, const std::string& bootstrap,
                                    const std::string& cmd)
{
    auto n = kafka::partition_count(client, topic, std::chrono::seconds(10));
    if (!n) {
        std::cerr << "rostersync " << cmd << ": cannot read the cluster's metadata from " << bootstrap << ": "
                  << n.error().message() << "\n";
        return std::nullopt;
    }
    if (*n == 0) {
        std::cerr << "rostersync " << cmd << ": topic " << topic << " does not exist on " << bootstrap
                  << " (rostersyncd creates its topics at start; check --topic or kafka.topics)\n";
        return std::nullopt;
    }
    return *n;
}

// ---- seen ----

constexpr std::size_t max_identifier_bytes = 1024;  // as the daemon's ingest (sync/course_seen)

struct seen_event {
    std::string platform, issuer, client_id, context_id, memberships_url, deployment_id, label, title, user_id;
    std::vector<std::string> roles;
    bool force = false;
};

/// A course membership role, the only kind a launch user provisions (as sync/course_seen).
bool is_membership_role(std::string_view role)
{
    constexpr std::string_view base = "http://purl.imsglobal.org/vocab/lis/v2/membership#";
    constexpr std::string_view sub = "http://purl.imsglobal.org/vocab/lis/v2/membership/";
    if (role.starts_with(base)) return role.size() > base.size();
    if (role.starts_with(sub)) {
        auto rest = role.substr(sub.size());
        auto hash = rest.find('#');
        return hash != std::string_view::npos && hash > 0 && hash + 1 < rest.size();
    }
    return false;
}

/// Checks an event as the daemon's ingest would and fills issuer/client_id from its platform.
/// Returns "" or the problem; fields are named as flags (--context-id) or CSV columns (context_id).
std::string check_event(seen_event& e, const config::config* cfg, bool csv)
{
    auto name = [csv](std::string column) {
        if (csv) return column;
        if (column == "roles") return std::string("--role");
        std::replace(column.begin(), column.end(), '_', '-');
        return "--" + column;
    };
    const config::platform* p = nullptr;
    if (!e.platform.empty()) {
        if (cfg == nullptr) return name("platform") + " needs --config (its issuer and client_id come from there)";
        p = cfg->find_platform(e.platform);
        if (p == nullptr) return "no platform named \"" + e.platform + "\" in " + cfg->source;
        if (!e.issuer.empty() && e.issuer != p->issuer)
            return name("issuer") + " \"" + e.issuer + "\" is not the issuer of platform " + p->name + " (\"" +
                   p->issuer + "\")";
        if (!e.client_id.empty() && e.client_id != p->client_id)
            return name("client_id") + " \"" + e.client_id + "\" is not the client_id of platform " + p->name +
                   " (\"" + p->client_id + "\")";
        e.issuer = p->issuer;
        e.client_id = p->client_id;
    }
    if (e.issuer.empty()) return name("issuer") + " (or " + name("platform") + ") is required";
    if (e.client_id.empty()) return name("client_id") + " (or " + name("platform") + ") is required";
    if (e.context_id.empty()) return name("context_id") + " is required";
    for (const auto& [column, v] : {std::pair<std::string, const std::string*>{"issuer", &e.issuer},
                                    {"client_id", &e.client_id},
                                    {"context_id", &e.context_id},
                                    {"deployment_id", &e.deployment_id},
                                    {"user_id", &e.user_id}}) {
        if (v->size() > max_identifier_bytes)
            return name(column) + " is longer than " + std::to_string(max_identifier_bytes) + " bytes";
    }
    if (p == nullptr && cfg != nullptr) {
        for (const auto& candidate : cfg->platforms) {
            if (candidate.issuer == e.issuer && candidate.client_id == e.client_id) p = &candidate;
        }
        if (p == nullptr)
            return "no platform in " + cfg->source + " has issuer \"" + e.issuer + "\" and client_id \"" + e.client_id +
                   "\" (the daemon would dead-letter the event as unknown_platform)";
    }
    if (e.memberships_url.empty()) {
        if (p == nullptr || p->nrps)
            return name("memberships_url") + " is required" + (p ? " (platform " + p->name + " has nrps = true)" : "");
    } else {
        auto u = http::parse_url(e.memberships_url);
        if (!u) return name("memberships_url") + " is not an absolute http(s) URL: \"" + e.memberships_url + "\"";
        if (p != nullptr) {
            if (auto ec = http::check_url(*u, {.allowed_hosts = p->allowed_hosts, .allow_http = p->allow_http}))
                return name("memberships_url") + ": " + ec.message() + " (platform " + p->name + ", host " + u->host + ")";
        }
    }
    if (!e.roles.empty() && e.user_id.empty()) return name("roles") + " needs " + name("user_id");
    if (!e.user_id.empty()) {
        if (e.roles.empty()) return name("user_id") + " needs at least one " + name("roles") + " (a membership role URI)";
        for (const auto& r : e.roles) {
            if (!is_membership_role(r))
                return "role \"" + r + "\" is not a course membership role "
                       "(http://purl.imsglobal.org/vocab/lis/v2/membership#...); the daemon would ignore it";
        }
    }
    return "";
}

std::string encode_seen(const seen_event& e, const std::string& seen_at)
{
    boost::json::object ctx;
    ctx["id"] = e.context_id;
    if (!e.label.empty()) ctx["label"] = e.label;
    if (!e.title.empty()) ctx["title"] = e.title;
    boost::json::object o;
    o["issuer"] = e.issuer;
    o["client_id"] = e.client_id;
    if (!e.deployment_id.empty()) o["deployment_id"] = e.deployment_id;
    o["context"] = std::move(ctx);
    if (!e.memberships_url.empty()) o["context_memberships_url"] = e.memberships_url;
    o["seen_at"] = seen_at;
    o["force"] = e.force;
    if (!e.user_id.empty()) {
        boost::json::array roles;
        for (const auto& r : e.roles) roles.emplace_back(r);
        boost::json::object user;
        user["user_id"] = e.user_id;
        user["roles"] = std::move(roles);
        o["launch_user"] = std::move(user);
    }
    return boost::json::serialize(o);
}

std::optional<bool> parse_bool(std::string v)
{
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (v.empty() || v == "false" || v == "0" || v == "no") return false;
    if (v == "true" || v == "1" || v == "yes") return true;
    return std::nullopt;
}

std::string trim(std::string_view s)
{
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) return {};
    return std::string(s.substr(b, s.find_last_not_of(" \t") - b + 1));
}

/// Reads CSV records (RFC 4180: fields in double quotes may hold commas, "" and line breaks)
/// from a stream, one at a time, counting physical lines.
class csv_reader {
public:
    explicit csv_reader(std::istream& in) : in_(in) {}

    /// The next non-empty record (fields trimmed of surrounding blanks), or false at the end.
    /// `line` is where the record starts; `error` names an unterminated quote.
    bool next(std::vector<std::string>& fields, std::size_t& line, std::string& error)
    {
        fields.clear();
        error.clear();
        std::string text;
        do {
            if (!read_line(text)) return false;
        } while (trim(text).empty());
        line = lines_;
        std::string field;
        bool quoted = false;
        for (std::size_t i = 0;;) {
            if (i == text.size()) {
                if (!quoted) break;
                if (!read_line(text)) {
                    error = "a quoted field is not closed";
                    break;
                }
                field += '\n';
                i = 0;
                continue;
            }
            const char ch = text[i++];
            if (quoted) {
                if (ch != '"') {
                    field += ch;
                } else if (i < text.size() && text[i] == '"') {
                    field += '"';
                    ++i;
                } else {
                    quoted = false;
                }
            } else if (ch == ',') {
                fields.push_back(trim(field));
                field.clear();
            } else if (ch == '"' && trim(field).empty()) {
                field.clear();
                quoted = true;
            } else {
                field += ch;
            }
        }
        fields.push_back(trim(field));
        return true;
    }

private:
    bool read_line(std::string& out)
    {
        if (!std::getline(in_, out)) return false;
        if (++lines_ == 1 && out.starts_with("\xEF\xBB\xBF")) out.erase(0, 3);  // a UTF-8 BOM
        if (!out.empty() && out.back() == '\r') out.pop_back();
        return true;
    }

    std::istream& in_;
    std::size_t lines_ = 0;
};

const std::vector<std::string> csv_columns = {"platform", "issuer",        "client_id", "context_id",
                                              "memberships_url", "deployment_id", "label", "title",
                                              "force",    "user_id",       "roles"};

/// Delivery reports arrive on the producer's thread; the command waits until each is in.
struct delivery_tally {
    std::mutex mutex;
    std::condition_variable changed;
    std::size_t sent = 0;
    std::size_t delivered = 0;
    std::vector<std::pair<std::size_t, std::string>> failures;  // line (0: flags), why
    kafka::delivery last;

    void report(std::size_t line, const kafka::delivery& d)
    {
        std::lock_guard lock(mutex);
        if (d.ec) {
            failures.emplace_back(line, d.ec.message() + (d.possibly_persisted ? " (it may have been written anyway)" : ""));
        } else {
            ++delivered;
            last = d;
        }
        changed.notify_all();
    }

    /// Waits until every sent record is reported; false when the deadline passed first.
    bool wait(std::chrono::steady_clock::time_point deadline)
    {
        std::unique_lock lock(mutex);
        return changed.wait_until(lock, deadline, [&] { return delivered + failures.size() >= sent; });
    }
};

int seen(int argc, char** argv)
{
    auto f = parse_flags(argc, argv, 2,
                         {{"config"}, {"brokers"}, {"topic"}, {"from-csv"}, {"platform"}, {"issuer"}, {"client-id"},
                          {"context-id"}, {"memberships-url"}, {"deployment-id"}, {"label"}, {"title"},
                          {"force", false}, {"user-id"}, {"role", true, true}});
    const std::vector<std::string> event_flags = {"platform", "issuer", "client-id", "context-id", "memberships-url",
                                                  "deployment-id", "label", "title", "force", "user-id", "role"};
    const bool from_csv = f.has("from-csv");
    if (f.error.empty() && from_csv) {
        for (const auto& k : event_flags) {
            if (f.has(k) && f.error.empty()) f.error = "--from-csv takes every event from the file; drop --" + k;
        }
    }
    if (f.error.empty() && !f.has("config") && !f.has("brokers")) f.error = "--config or --brokers is required";
    if (!f.error.empty()) {
        std::cerr << "rostersync seen: " << f.error << "\n\nUsage:\n" << seen_usage << kafka_usage;
        return exit_usage;
    }

    // The CSV header is read (and checked) before connecting: a wrong file costs no round trip.
    std::ifstream file;
    std::istream* in = nullptr;
    std::map<std::string, std::size_t> column_of;
    std::size_t columns = 0;
    std::optional<csv_reader> reader;
    if (from_csv) {
        const std::string path = f.get("from-csv");
        if (path == "-") {
            in = &std::cin;
        } else {
            file.open(path);
            if (!file) {
                std::cerr << "rostersync seen: cannot read " << path << ": " << std::strerror(errno) << "\n";
                return exit_runtime_failure;
            }
            in = &file;
        }
        reader.emplace(*in);
        std::vector<std::string> header;
        std::size_t line = 0;
        std::string error;
        if (!reader->next(header, line, error)) {
            std::cerr << "rostersync seen: " << path << " is empty; it needs a header row naming its columns ("
                      << "platform, issuer, client_id, context_id, memberships_url, ...)\n";
            return exit_usage;
        }
        for (std::size_t i = 0; i < header.size(); ++i) {
            std::string c = header[i];
            std::transform(c.begin(), c.end(), c.begin(), [](unsigned char ch) {
                return ch == '-' ? '_' : static_cast<char>(std::tolower(ch));
            });
            if (std::find(csv_columns.begin(), csv_columns.end(), c) == csv_columns.end()) {
                std::string known;
                for (const auto& k : csv_columns) known += (known.empty() ? "" : ", ") + k;
                std::cerr << "rostersync seen: " << path << " line " << line << ": unknown column \"" << header[i]
                          << "\" (columns: " << known << ")\n";
                return exit_usage;
            }
            if (!column_of.emplace(c, i).second) {
                std::cerr << "rostersync seen: " << path << " line " << line << ": column " << c << " appears twice\n";
                return exit_usage;
            }
        }
        columns = header.size();
        if (!column_of.count("context_id") ||
            (!column_of.count("platform") && !(column_of.count("issuer") && column_of.count("client_id")))) {
            std::cerr << "rostersync seen: " << path << " line " << line
                      << ": the header needs a context_id column and platform (or issuer and client_id)\n";
            return exit_usage;
        }
    }

    kafka_target target;
    if (int rc = resolve_kafka(f, "seen", target)) return rc;
    const config::config* cfg = target.cfg ? &*target.cfg : nullptr;

    // Single-event mode: checked before connecting; a bad event is a bad command line.
    seen_event single;
    if (!from_csv) {
        single.platform = f.get("platform");
        single.issuer = f.get("issuer");
        single.client_id = f.get("client-id");
        single.context_id = f.get("context-id");
        single.memberships_url = f.get("memberships-url");
        single.deployment_id = f.get("deployment-id");
        single.label = f.get("label");
        single.title = f.get("title");
        single.force = f.has("force");
        single.user_id = f.get("user-id");
        single.roles = f.all("role");
        if (auto problem = check_event(single, cfg, false); !problem.empty()) {
            std::cerr << "rostersync seen: " << problem << "\n";
            return exit_usage;
        }
    }

    const std::string topic = f.has("topic") ? f.get("topic") : target.topics.course_seen;
    delivery_tally tally;  // outlives the producer: its destructor may still report
    auto made = kafka::producer::create(
        {.bootstrap = target.bootstrap, .client_id = "rostersync-cli", .properties = target.properties});
    if (!made) {
        std::cerr << "rostersync seen: " << made.error() << "\n";
        return exit_config;
    }
    auto& producer = **made;
    auto partitions = topic_partitions(producer.native(), topic, target.bootstrap, "seen");
    if (!partitions) return exit_runtime_failure;

    auto send = [&](const seen_event& e, std::size_t line) {
        const std::string key = kafka::context_key(e.issuer, e.context_id);
        kafka::record r{.topic = topic,
                        .partition = kafka::partition_for(key, *partitions),
                        .key = key,
                        .value = encode_seen(e, roster::rfc3339(std::chrono::system_clock::now())),
                        .headers = {{"content-type", "application/json"}}};
        {
            std::lock_guard lock(tally.mutex);
            ++tally.sent;
        }
        for (;;) {
            auto ec = producer.send(r, [&tally, line](const kafka::delivery& d) { tally.report(line, d); });
            if (ec != kafka::make_error_code(RD_KAFKA_RESP_ERR__QUEUE_FULL)) {
                if (ec) tally.report(line, {.ec = ec});
                return;
            }
            producer.flush(std::chrono::milliseconds(100));  // the local queue is full: let it drain
        }
    };

    std::size_t invalid = 0;
    if (!from_csv) {
        send(single, 0);
    } else {
        std::vector<std::string> row;
        std::size_t line = 0;
        std::string error;
        while (reader->next(row, line, error)) {
            std::string problem = error;
            if (problem.empty() && row.size() != columns)
                problem = std::to_string(row.size()) + " fields, the header has " + std::to_string(columns);
            seen_event e;
            auto cell = [&](const char* column) {
                auto it = column_of.find(column);
                return it == column_of.end() ? std::string() : row[it->second];
            };
            if (problem.empty()) {
                e.platform = cell("platform");
                e.issuer = cell("issuer");
                e.client_id = cell("client_id");
                e.context_id = cell("context_id");
                e.memberships_url = cell("memberships_url");
                e.deployment_id = cell("deployment_id");
                e.label = cell("label");
                e.title = cell("title");
                e.user_id = cell("user_id");
                std::istringstream roles(cell("roles"));
                for (std::string r; roles >> r;) e.roles.push_back(r);
                if (auto force = parse_bool(cell("force"))) {
                    e.force = *force;
                } else {
                    problem = "force is \"" + cell("force") + "\"; expected true or false";
                }
            }
            if (problem.empty()) problem = check_event(e, cfg, true);
            if (!problem.empty()) {
                ++invalid;
                std::cerr << "rostersync seen: line " << line << ": " << problem << "; skipped\n";
                continue;
            }
            send(e, line);
        }
        if (in->bad()) {
            std::cerr << "rostersync seen: reading " << f.get("from-csv") << " failed after line " << line << "\n";
            ++invalid;
        }
    }

    // Every delivery report, within the producer's message timeout (30 s) and a margin.
    producer.flush(std::chrono::seconds(35));
    const bool complete = tally.wait(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    std::lock_guard lock(tally.mutex);
    auto failures = tally.failures;
    std::sort(failures.begin(), failures.end());
    for (const auto& [line, why] : failures) {
        std::cerr << "rostersync seen: " << (line ? "line " + std::to_string(line) + ": " : std::string())
                  << "delivery failed: " << why << "\n";
    }
    std::size_t unreported = complete ? 0 : tally.sent - tally.delivered - tally.failures.size();
    if (unreported) std::cerr << "rostersync seen: " << unreported << " events without a delivery report\n";
    if (!from_csv && tally.delivered == 1) {
        std::cout << topic << " partition " << tally.last.partition << " offset " << tally.last.offset << ": "
                  << kafka::context_key(single.issuer, single.context_id) << "\n";
    }
    const std::size_t failed = invalid + failures.size() + unreported;
    std::cout << "published " << tally.delivered << ", failed " << failed << std::endl;
    return failed == 0 ? exit_ok : exit_runtime_failure;
}

/// "account 1 and its sub-accounts, term 7, states available, from the courses API"
std::string req_scope_text(const flags& f)
{
    std::string s = f.has("from-csv") ? "courses of " + f.get("from-csv")
                                      : "account " + f.get("account") +
                                            (f.has("no-subaccounts") ? " (without sub-accounts)" : " and its sub-accounts");
    if (f.has("term")) s += ", term " + f.get("term");
    std::string states;
    for (const auto& v : f.all("state")) states += (states.empty() ? "" : ",") + v;
    s += ", states " + (states.empty() ? std::string("available") : states);
    s += f.has("from-report") ? ", from the provisioning report" : f.has("from-csv") ? "" : ", from the courses API";
    return s;
}

// ---- discover ----

int discover(int argc, char** argv)
{
    auto f = parse_flags(argc, argv, 2,
                         {{"config"}, {"platform"}, {"account"}, {"term"}, {"state", true, true}, {"no-subaccounts", false},
                          {"from-report", false}, {"from-csv"}, {"dry-run", false}, {"json", false}, {"brokers"},
                          {"topic"}});
    auto fail_usage = [&](const std::string& why) {
        std::cerr << "rostersync discover: " << why << "\n\nUsage:\n" << discover_usage << kafka_usage;
        return exit_usage;
    };
    for (int i = 2; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
            std::cout << "Usage:\n" << discover_usage << kafka_usage;
            return exit_ok;
        }
    }
    if (!f.error.empty()) return fail_usage(f.error);
    for (const char* required : {"config", "platform"})
        if (!f.has(required)) return fail_usage(std::string("--") + required + " is required");
    if (!f.has("account") && !f.has("from-csv")) return fail_usage("--account is required (or --from-csv FILE)");
    if (f.has("from-report") && f.has("from-csv")) return fail_usage("--from-report and --from-csv exclude each other");
    if (f.has("no-subaccounts") && !f.has("account")) return fail_usage("--no-subaccounts needs --account");
    if (f.has("dry-run") && (f.has("brokers") || f.has("topic"))) return fail_usage("--dry-run publishes nothing; drop --brokers/--topic");
    discovery::discover_request req;
    req.platform = f.get("platform");
    req.account = f.get("account");
    req.f.term = f.get("term");
    req.f.subaccounts = !f.has("no-subaccounts");
    req.dry_run = f.has("dry-run");
    req.from = f.has("from-report") ? discovery::source::report
               : f.has("from-csv")  ? discovery::source::csv
                                    : discovery::source::list;
    if (f.has("state")) {
        req.f.states.clear();
        for (const auto& v : f.all("state")) {
            std::stringstream ss(v);
            for (std::string st; std::getline(ss, st, ',');) {
                st = trim(st);
                if (st.empty()) continue;
                if (st == "unpublished") {  // the report's word for both
                    req.f.states.insert(req.f.states.end(), {"created", "claimed"});
                    continue;
                }
                if (!discovery::valid_state(st))
                    return fail_usage("--state " + st + ": expected created, claimed, available, completed or deleted");
                req.f.states.push_back(st);
            }
        }
        std::sort(req.f.states.begin(), req.f.states.end());
        req.f.states.erase(std::unique(req.f.states.begin(), req.f.states.end()), req.f.states.end());
    }
    for (const auto& [flag, value] : {std::pair<std::string, std::string>{"account", req.account}, {"term", req.f.term}}) {
        if (f.has(flag) && (value.empty() || value.find_first_of(" \t\r\n/?#") != std::string::npos))
            return fail_usage("--" + flag + " \"" + value + "\": expected a Canvas id (digits, or sis_…_id:VALUE)");
    }
    if (req.from == discovery::source::csv) {
        const std::string path = f.get("from-csv");
        std::ifstream file;
        std::istream* in = &std::cin;
        if (path != "-") {
            file.open(path, std::ios::binary);
            if (!file) {
                std::cerr << "rostersync discover: cannot read " << path << ": " << std::strerror(errno) << "\n";
                return exit_runtime_failure;
            }
            in = &file;
        }
        std::ostringstream text;
        text << in->rdbuf();
        req.csv = text.str();
    }

    kafka_target target;
    if (req.dry_run) {
        target.cfg = load_config(f.get("config"));
        if (!target.cfg) return exit_config;
        log::configure({.min_level = log::level::warning, .fmt = target.cfg->log.format});
    } else if (int rc = resolve_kafka(f, "discover", target)) {
        return rc;
    }
    const config::config& cfg = *target.cfg;
    const config::platform* p = cfg.find_platform(req.platform);
    if (p == nullptr) {
        std::cerr << "rostersync discover: no platform named \"" << req.platform << "\" in " << cfg.source << "\n";
        return exit_config;
    }
    if (p->rest_url.empty()) {
        std::cerr << "rostersync discover: platform " << p->name << " has no rest_url and rest_token_file; discovery "
                  << "needs a Canvas REST API token of its own (the LTI key's tokens do not work for the REST API)\n";
        return exit_config;
    }
    net::io_context ioc;
    auto engine = nrps::engine::create(ioc.get_executor(), cfg);
    if (!engine) {
        std::cerr << "rostersync discover: " << engine.error().detail << "\n";
        return exit_config;
    }
    discovery::discoverer disc(ioc.get_executor(), cfg, **engine);
    std::unique_ptr<kafka::producer> producer;
    const std::string topic = f.has("topic") ? f.get("topic") : target.topics.course_seen;
    if (!req.dry_run) {
        auto made = kafka::producer::create(
            {.bootstrap = target.bootstrap, .client_id = "rostersync-cli", .properties = target.properties});
        if (!made) {
            std::cerr << "rostersync discover: " << made.error() << "\n";
            return exit_config;
        }
        producer = std::move(*made);
        auto partitions = topic_partitions(producer->native(), topic, target.bootstrap, "discover");
        if (!partitions) return exit_runtime_failure;
        disc.set_publisher(producer.get(), topic, *partitions);
    }

    const bool tty = isatty(STDERR_FILENO) != 0;
    std::string last_phase, last_status;
    std::size_t last_probed = 0;
    req.on_progress = [&](const discovery::progress& pr) {
        std::string line;
        if (pr.phase == "listing") {
            line = "listing: " + std::to_string(pr.pages) + (pr.pages == 1 ? " page" : " pages");
        } else if (pr.phase == "report") {
            line = "provisioning report: " + (pr.report_status.empty() ? std::string("starting") : pr.report_status) +
                   (pr.report_status == "running" ? " " + std::to_string(pr.report_progress) + "%" : "");
        } else if (pr.phase == "probing") {
            line = "probing " + std::to_string(pr.probed) + "/" + std::to_string(pr.listed - pr.skipped) +
                   ": installed " + std::to_string(pr.published) + ", not installed " + std::to_string(pr.not_installed) +
                   ", gone " + std::to_string(pr.gone) + ", failed " + std::to_string(pr.failed);
        } else {
            return;
        }
        // A terminal gets one line rewritten; a log gets the first and every 10th page, each
        // report status, the start of probing and every 100th probe.
        if (!tty) {
            const bool changed = pr.phase != last_phase || (pr.phase == "report" && pr.report_status != last_status);
            const bool due = pr.phase == "listing" ? pr.pages == 1 || pr.pages % 10 == 0
                           : pr.phase == "probing" ? changed || pr.probed >= last_probed + 100
                                                   : changed;
            if (!due || (pr.phase == "listing" && pr.pages == 0)) return;
        }
        last_phase = pr.phase;
        last_status = pr.report_status;
        last_probed = pr.probed;
        std::fprintf(stderr, "%s%s%s", tty ? "\r\033[K" : "", line.c_str(), tty ? "" : "\n");
    };

    std::optional<discovery::discover_summary> out;
    net::co_spawn(ioc, disc.run(std::move(req)), [&](std::exception_ptr e, discovery::discover_summary r) {
        if (e) std::rethrow_exception(e);
        out = std::move(r);
    });
    ioc.run();
    if (tty) std::fprintf(stderr, "\n");
    if (producer) producer->flush(std::chrono::seconds(35));
    const auto& sum = *out;
    const auto& c = sum.counts;
    const bool dry = f.has("dry-run");
    if (f.has("json")) {
        boost::json::array courses;
        for (const auto& r : sum.courses) {
            boost::json::object o{{"id", r.c.id}, {"account_id", r.c.account_id}, {"term_id", r.c.term_id},
                                  {"state", r.c.state}, {"outcome", discovery::to_string(r.result)}};
            if (!r.context_id.empty()) o["context_id"] = r.context_id;
            if (!r.detail.empty()) o["detail"] = r.detail;
            courses.push_back(std::move(o));
        }
        boost::json::object o{{"platform", f.get("platform")}, {"account", f.get("account")}, {"dry_run", dry},
                              {"listed", c.listed}, {"published", c.published}, {"not_installed", c.not_installed},
                              {"gone", c.gone}, {"failed", c.failed}, {"skipped", c.skipped}, {"pages", c.pages},
                              {"courses", std::move(courses)}};
        if (sum.ec) o["error"] = boost::json::object{{"message", sum.ec.message()}, {"detail", sum.detail}};
        std::cout << boost::json::serialize(o) << "\n";
    } else if (!(sum.ec && c.listed == 0)) {  // a run refused before listing has nothing to sum up
        if (dry) {
            std::printf("%-12s %-10s %-8s %-10s %-14s %s\n", "COURSE", "ACCOUNT", "TERM", "STATE", "OUTCOME", "CONTEXT / DETAIL");
            for (const auto& r : sum.courses) {
                std::string outcome(r.result == discovery::outcome::published ? "installed" : discovery::to_string(r.result));
                std::printf("%-12s %-10s %-8s %-10s %-14s %s\n", r.c.id.c_str(), r.c.account_id.c_str(), r.c.term_id.c_str(),
                            r.c.state.c_str(), outcome.c_str(), (r.context_id.empty() ? r.detail : r.context_id).c_str());
            }
        }
        std::string scope = req_scope_text(f);
        std::cout << "platform " << f.get("platform") << ", " << scope << ": " << c.listed << " courses"
                  << (c.pages > 0 ? " (" + std::to_string(c.pages) + (c.pages == 1 ? " REST page)" : " REST pages)")
                                  : std::string())
                  << "\n";
        const std::string published_text = dry ? "dry run: nothing published" : "CourseSeen on " + topic;
        std::printf("  %-14s %6zu  %s\n", dry ? "installed" : "published", c.published, published_text.c_str());
        std::printf("  %-14s %6zu  %s\n", "not installed", c.not_installed,
                    "the tool is not installed there (or its account turned the key off): parked");
        std::printf("  %-14s %6zu  %s\n", "gone", c.gone, "deleted since it was listed (404)");
        if (c.failed > 0) std::printf("  %-14s %6zu  %s\n", "failed", c.failed, "see the warnings above; run again later");
        else std::printf("  %-14s %6zu\n", "failed", c.failed);
    }
    if (sum.ec) {
        const bool config_problem = discovery::is_configuration(sum.ec);
        std::cerr << "rostersync discover: " << (config_problem ? "configuration: " : "stopped: ") << sum.ec.message()
                  << (sum.detail.empty() ? "" : ": " + sum.detail) << "\n";
        return config_problem ? exit_config : exit_runtime_failure;
    }
    return c.failed == 0 ? exit_ok : exit_runtime_failure;
}

// ---- tail ----

volatile std::sig_atomic_t tail_stop = 0;

void on_tail_signal(int)
{
    tail_stop = 1;
}

/// The last part of a role URI: after '#', else after the last '/'.
std::string role_name(std::string_view uri)
{
    if (auto hash = uri.rfind('#'); hash != std::string_view::npos && hash + 1 < uri.size())
        return std::string(uri.substr(hash + 1));
    if (auto slash = uri.rfind('/'); slash != std::string_view::npos && slash + 1 < uri.size())
        return std::string(uri.substr(slash + 1));
    return std::string(uri);
}

const boost::json::string* string_field(const boost::json::object* o, std::string_view key)
{
    if (o == nullptr) return nullptr;
    auto it = o->find(key);
    return it != o->end() && it->value().is_string() ? &it->value().get_string() : nullptr;
}

const boost::json::object* object_field(const boost::json::object& o, std::string_view key)
{
    auto it = o.find(key);
    return it != o.end() && it->value().is_object() ? &it->value().get_object() : nullptr;
}

std::string text_of(const boost::json::string* s, std::string_view fallback = "-")
{
    return s ? std::string(s->data(), s->size()) : std::string(fallback);
}

std::string roles_of(const boost::json::object* member)
{
    std::string out;
    if (member != nullptr) {
        if (auto it = member->find("roles"); it != member->end() && it->value().is_array()) {
            for (const auto& r : it->value().get_array()) {
                if (r.is_string()) out += (out.empty() ? "" : ",") + role_name(r.get_string());
            }
        }
    }
    return out.empty() ? "-" : out;
}

/// "a" or "a->b" when they differ.
std::string from_to(const std::string& before, const std::string& after)
{
    return before == after ? after : before + "->" + after;
}

std::string quoted(const boost::json::string* s)
{
    return s ? boost::json::serialize(*s) : "-";
}

constexpr std::array<std::string_view, 8> profile_fields = {
    "name", "given_name", "family_name", "middle_name", "email", "picture", "lis_person_sourcedid",
    "lti11_legacy_user_id"};

/// One readable line for a MembershipChange; "" with `why` set when the value is not one.
std::string format_change(const boost::json::value& v, std::string_view record_time, bool verbose, std::string& why)
{
    auto bad = [&why](const char* reason) {
        why = reason;
        return std::string();
    };
    if (!v.is_object()) return bad("not a JSON object");
    const auto& o = v.get_object();
    const auto* type = string_field(&o, "type");
    const auto* issuer = string_field(&o, "issuer");
    const auto* context = object_field(o, "context");
    const auto* context_id = string_field(context, "id");
    const auto* user_id = string_field(&o, "user_id");
    if (type == nullptr) return bad("no \"type\" string");
    if (issuer == nullptr) return bad("no \"issuer\" string");
    if (context_id == nullptr) return bad("no \"context.id\" string");
    if (user_id == nullptr) return bad("no \"user_id\" string");
    const auto* before = object_field(o, "before");
    const auto* after = object_field(o, "after");
    const auto* now = after ? after : before;  // a removal has only `before`

    std::string line = text_of(string_field(&o, "time"), record_time);
    char type_col[64];
    std::snprintf(type_col, sizeof type_col, " %-22s ", std::string(type->data(), type->size()).c_str());
    line += type_col;
    line += kafka::membership_key(*issuer, *context_id, *user_id);
    const std::string roles = before && after ? from_to(roles_of(before), roles_of(after)) : roles_of(now);
    const std::string status = before && after
                                   ? from_to(text_of(string_field(before, "status")), text_of(string_field(after, "status")))
                                   : text_of(string_field(now, "status"));
    line += "  roles=" + roles + " status=" + status;
    if (before && after) {
        std::string changed;
        for (auto k : profile_fields) {
            const auto* b = string_field(before, k);
            const auto* a = string_field(after, k);
            if ((b == nullptr) != (a == nullptr) || (b && *b != *a)) changed += (changed.empty() ? "" : ",") + std::string(k);
        }
        if (!changed.empty()) line += " changed=" + changed;
    }
    if (auto it = o.find("roster_version"); it != o.end() && (it->value().is_uint64() || it->value().is_int64()))
        line += " v" + boost::json::serialize(it->value());
    line += " (" + text_of(string_field(&o, "source"), "?") + ")";
    if (verbose) {
        for (auto k : profile_fields) {
            const auto* b = before && after ? string_field(before, k) : nullptr;
            const auto* a = string_field(now, k);
            if (b == nullptr && a == nullptr) continue;
            line += " " + std::string(k) + "=";
            line += b && (a == nullptr || *a != *b) ? quoted(b) + "->" + quoted(a) : quoted(a);
        }
    }
    return line;
}

/// A warning line on stderr in one write (librdkafka's threads log there too).
void warn(const std::string& what)
{
    const std::string line = "rostersync tail: warning: " + what + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
}

std::optional<std::uint64_t> parse_count(const std::string& s)
{
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size() || n == 0) return std::nullopt;
    return n;
}

int tail(int argc, char** argv)
{
    auto f = parse_flags(argc, argv, 2,
                         {{"config"}, {"brokers"}, {"topic"}, {"from-beginning", false}, {"count"}, {"timeout"},
                          {"json", false}, {"verbose", false}});
    std::optional<std::uint64_t> count;
    std::optional<std::chrono::milliseconds> idle_limit;
    if (f.error.empty() && f.has("count") && !(count = parse_count(f.get("count"))))
        f.error = "--count needs a positive whole number, got \"" + f.get("count") + "\"";
    if (f.error.empty() && f.has("timeout")) {
        auto d = parse_duration(f.get("timeout"));
        if (!d || d->count() <= 0)
            f.error = "--timeout needs a duration with a unit (\"30s\", \"500ms\", \"5m\"), got \"" + f.get("timeout") + "\"";
        else
            idle_limit = *d;
    }
    if (f.error.empty() && f.has("json") && f.has("verbose"))
        f.error = "--json prints whole records; --verbose applies to the readable lines only";
    if (f.error.empty() && !f.has("config") && !f.has("brokers")) f.error = "--config or --brokers is required";
    if (!f.error.empty()) {
        std::cerr << "rostersync tail: " << f.error << "\n\nUsage:\n" << tail_usage << kafka_usage;
        return exit_usage;
    }
    kafka_target target;
    if (int rc = resolve_kafka(f, "tail", target)) return rc;
    const std::string topic = f.has("topic") ? f.get("topic") : target.topics.membership_changes;
    const bool from_beginning = f.has("from-beginning");
    const bool as_json = f.has("json");
    const bool verbose = f.has("verbose");

    // A manually assigned consumer: it never joins a group (the group id is only required by
    // librdkafka), so it cannot take partitions from the daemon's consumers, and commits nothing.
    auto made = kafka::consumer::create({.bootstrap = target.bootstrap,
                                         .group_id = "rostersync-tail",
                                         .client_id = "rostersync-tail",
                                         .properties = target.properties});
    if (!made) {
        std::cerr << "rostersync tail: " << made.error() << "\n";
        return exit_config;
    }
    auto& consumer = **made;
    auto partitions = topic_partitions(consumer.native(), topic, target.bootstrap, "tail");
    if (!partitions) return exit_runtime_failure;
    // "New events only" starts at each partition's current end, resolved now: everything
    // published after the "tailing" line below is printed.
    kafka::partition_list_ptr list(rd_kafka_topic_partition_list_new(*partitions));
    for (std::int32_t p = 0; p < *partitions; ++p) {
        std::int64_t offset = RD_KAFKA_OFFSET_BEGINNING;
        if (!from_beginning) {
            std::int64_t low = 0;
            auto err = rd_kafka_query_watermark_offsets(consumer.native(), topic.c_str(), p, &low, &offset, 10000);
            if (err) {
                std::cerr << "rostersync tail: cannot read the end of " << topic << " partition " << p << ": "
                          << rd_kafka_err2str(err) << "\n";
                return exit_runtime_failure;
            }
        }
        rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = offset;
    }
    if (auto err = rd_kafka_assign(consumer.native(), list.get())) {
        std::cerr << "rostersync tail: cannot assign " << topic << ": " << rd_kafka_err2str(err) << "\n";
        return exit_runtime_failure;
    }
    // Handlers first: a signal right after the "tailing" line (which scripts wait for) must
    // stop cleanly too.
    struct sigaction sa {};
    sa.sa_handler = on_tail_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    std::cerr << "rostersync tail: tailing " << topic << " (" << *partitions << " partitions) "
              << (from_beginning ? "from the beginning" : "from the end: new events only") << std::endl;

    std::uint64_t printed = 0;
    auto last_record = std::chrono::steady_clock::now();
    const auto tick = std::chrono::milliseconds(200);
    while (!tail_stop) {
        auto wait = tick;
        if (idle_limit) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(last_record + *idle_limit -
                                                                              std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                if (count) {
                    std::cerr << "rostersync tail: nothing for " << format_duration(*idle_limit) << " after " << printed
                              << " of " << *count << " events\n";
                    return exit_runtime_failure;
                }
                std::cerr << "rostersync tail: nothing for " << format_duration(*idle_limit) << "; " << printed
                          << " events\n";
                return exit_ok;
            }
            wait = std::min(wait, left);
        }
        auto got = consumer.poll(wait);
        if (!got) {
            const auto ec = got.error();
            warn(ec.message());
            if (ec == kafka::make_error_code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) ||
                ec == kafka::make_error_code(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) ||
                ec == kafka::make_error_code(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED))
                return exit_runtime_failure;
            continue;
        }
        if (!*got) continue;
        const rd_kafka_message_t& m = **got;
        last_record = std::chrono::steady_clock::now();
        const std::string where = topic + "[" + std::to_string(m.partition) + "]@" + std::to_string(m.offset);
        if (m.payload == nullptr) {
            warn(where + ": a record without a value; skipped");
            continue;
        }
        const std::string_view value(static_cast<const char*>(m.payload), m.len);
        boost::system::error_code jec;
        auto doc = boost::json::parse(value, jec);
        std::string line;
        if (jec) {
            warn(where + ": not JSON (" + jec.message() + "); skipped");
            continue;
        }
        if (as_json) {
            if (!doc.is_object()) {
                warn(where + ": not a JSON object; skipped");
                continue;
            }
            line = boost::json::serialize(doc);  // one line, whatever the producer's layout
        } else {
            rd_kafka_timestamp_type_t ts_type{};
            const std::int64_t ts = rd_kafka_message_timestamp(&m, &ts_type);
            const std::string record_time =
                ts >= 0 ? roster::rfc3339(std::chrono::system_clock::time_point(std::chrono::milliseconds(ts))) : "-";
            std::string why;
            line = format_change(doc, record_time, verbose, why);
            if (line.empty()) {
                warn(where + ": not a MembershipChange (" + why + "); skipped");
                continue;
            }
        }
        line += '\n';
        if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fflush(stdout) != 0)
            return errno == EPIPE ? exit_ok : exit_runtime_failure;  // the reader went away (| head)
        if (count && ++printed >= *count) return exit_ok;
        if (!count) ++printed;
    }
    std::cerr << "rostersync tail: stopped; " << printed << " events\n";
    return exit_ok;
}

// ---- status, resync, release: the daemon's admin API (daemon.cpp install_admin_routes) ----

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

constexpr auto admin_timeout = std::chrono::seconds(15);

/// Where the admin API is and how to present it in messages.
struct admin_target {
    std::string host;       ///< to connect to: an IP literal or a name; IPv6 without brackets
    std::uint16_t port = 0;
    std::string authority;  ///< "127.0.0.1:9464", "[::1]:9464": the Host header and messages
    std::string origin;     ///< where the address came from, for messages
    std::string config_path;
    std::string token_file;
    std::string token;
};

struct admin_http_result {
    error_code ec;  ///< the exchange failed (no status)
    std::string step;
    unsigned status = 0;
    std::string body;
};

/// One request on a fresh connection, blocking, bounded by admin_timeout.
admin_http_result admin_exchange(const admin_target& t, bhttp::verb method, const std::string& target)
{
    admin_http_result out;
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    error_code ec;
    const auto endpoints = resolver.resolve(t.host, std::to_string(t.port), tcp::resolver::numeric_service, ec);
    if (ec) {
        out.ec = ec;
        out.step = "resolve";
        return out;
    }
    for (const auto& e : endpoints) {
        if (!e.endpoint().address().is_loopback()) {
            std::cerr << "rostersync: warning: the admin token goes in clear text (plain HTTP) to " << t.authority
                      << ", which is not a loopback address\n";
            break;
        }
    }
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, t.authority);
    req.set(bhttp::field::user_agent, std::string("rostersync/") + rostersync::version);
    req.set(bhttp::field::authorization, "Bearer " + t.token);
    req.set(bhttp::field::accept, "application/json");
    req.set(bhttp::field::connection, "close");
    req.prepare_payload();
    bhttp::response<bhttp::string_body> res;
    beast::flat_buffer buffer;
    beast::tcp_stream stream(ioc);
    stream.expires_after(admin_timeout);  // one deadline for the whole exchange
    auto fail = [&out](const char* step, error_code e) {
        out.ec = e;
        out.step = step;
    };
    stream.async_connect(endpoints, [&](error_code e, const tcp::endpoint&) {
        if (e) return fail("connect", e);
        bhttp::async_write(stream, req, [&](error_code e2, std::size_t) {
            if (e2) return fail("send", e2);
            bhttp::async_read(stream, buffer, res, [&](error_code e3, std::size_t) {
                if (e3) return fail("read", e3);
                out.status = res.result_int();
                out.body = std::move(res.body());
            });
        });
    });
    ioc.run();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return out;
}

/// The admin API's address from --url or http.listen, and its token; exit_ok or the exit code
/// after printing why not.
int resolve_admin(const flags& f, const std::string& cmd, const config::config& cfg, admin_target& t)
{
    t.config_path = f.get("config");
    if (cfg.http.admin_token_file.empty()) {
        std::cerr << "rostersync " << cmd << ": the admin API is off: set http.admin_token_file in " << t.config_path
                  << " (a file holding a secret of at least 16 characters, e.g. `openssl rand -hex 32 > FILE`; "
                     "chmod 600) and restart rostersyncd\n";
        return exit_config;
    }
    if (f.has("url")) {
        std::string text = f.get("url");
        if (text.find("://") == std::string::npos) text = "http://" + text;
        auto u = http::parse_url(text);
        if (!u) {
            std::cerr << "rostersync " << cmd << ": --url is http://HOST:PORT, got \"" << f.get("url") << "\"\n";
            return exit_usage;
        }
        if (u->scheme != "http") {
            std::cerr << "rostersync " << cmd << ": --url: the admin API is plain HTTP on http.listen; use http://"
                      << u->authority() << "\n";
            return exit_usage;
        }
        if (u->target != "/") {
            std::cerr << "rostersync " << cmd << ": --url is http://HOST:PORT without a path, got \"" << f.get("url")
                      << "\"\n";
            return exit_usage;
        }
        t.host = u->host;
        t.port = u->port;
        t.origin = "--url " + f.get("url");
    } else {
        const auto& l = cfg.http.listen;
        if (l.port == 0) {
            std::cerr << "rostersync " << cmd << ": http.listen in " << t.config_path << " has port 0 (any free port): "
                      << "pass --url http://HOST:PORT with the http_address rostersyncd logged in its \"ready\" line\n";
            return exit_usage;
        }
        // A daemon listening on every address is reached on loopback.
        t.host = l.host == "0.0.0.0" ? "127.0.0.1" : l.host == "::" ? "::1" : l.host;
        t.port = l.port;
        t.origin = "http.listen in " + t.config_path;
    }
    t.authority = (t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host) + ":" + std::to_string(t.port);

    t.token_file = cfg.http.admin_token_file;
    std::ifstream in(t.token_file);
    if (!in) {
        std::cerr << "rostersync " << cmd << ": cannot read the admin token file " << t.token_file
                  << " (http.admin_token_file): " << std::strerror(errno)
                  << (errno == EACCES ? " (run as a user that may read it)" : "") << "\n";
        return exit_runtime_failure;
    }
    // As the daemon reads it: the first line, trailing blanks dropped.
    std::getline(in, t.token);
    while (!t.token.empty() && std::isspace(static_cast<unsigned char>(t.token.back()))) t.token.pop_back();
    if (t.token.empty()) {
        std::cerr << "rostersync " << cmd << ": the admin token file " << t.token_file << " is empty\n";
        return exit_config;
    }
    return exit_ok;
}

std::string json_error_of(const std::string& body)
{
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (!ec && v.is_object()) {
        if (const auto* e = string_field(&v.get_object(), "error")) return std::string(e->data(), e->size());
    }
    std::string text = body;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    return text;
}

/// Sends one admin request; on success (2xx) fills `doc` with the JSON answer and returns
/// exit_ok, otherwise prints what went wrong and returns the exit code. `context_key` names the
/// context the request is about (for 404 and 421), if any.
int admin_call(const std::string& cmd, const admin_target& t, bhttp::verb method, const std::string& target,
               const std::string& context_key, boost::json::object& doc, std::string& raw)
{
    const std::string who = "rostersync " + cmd + ": ";
    auto r = admin_exchange(t, method, target);
    if (r.ec) {
        if (r.ec == net::error::connection_refused) {
            std::cerr << who << "cannot connect to " << t.authority << ": " << r.ec.message()
                      << "; is rostersyncd running? (it listens on " << t.authority << " according to "
                      << t.origin << ")\n";
        } else if (r.ec == beast::error::timeout) {
            std::cerr << who << "no answer from rostersyncd at " << t.authority << " within "
                      << format_duration(admin_timeout) << " (" << r.step << ")\n";
        } else {
            std::cerr << who << "talking to rostersyncd at " << t.authority << " (" << t.origin << ") failed ("
                      << r.step << "): " << r.ec.message() << "\n";
        }
        return exit_runtime_failure;
    }
    const std::string why = json_error_of(r.body);
    switch (r.status) {
        case 401:
            std::cerr << who << "wrong admin token: rostersyncd at " << t.authority << " refused the token in "
                      << t.token_file << " (http.admin_token_file). The daemon reads that file when it starts: "
                         "restart it after changing the token, and check that both use the same file.\n";
            return exit_runtime_failure;
        case 404:
            if (why == "unknown context") {
                std::cerr << who << "unknown context \"" << context_key << "\": rostersyncd owns its partition but "
                          << "tracks no such context (no CourseSeen for it yet, its partition is still being "
                             "restored after a start, or a typo; a key is \"<issuer>|<context_id>\", see "
                             "`rostersync status`)\n";
            } else {
                std::cerr << who << "rostersyncd at " << t.authority << " does not serve the admin API ("
                          << (why.empty() ? "404" : why) << "): it runs without http.admin_token_file (set it and "
                          << "restart it), or --url points at something else\n";
            }
            return exit_runtime_failure;
        case 421: {
            boost::system::error_code ec;
            auto v = boost::json::parse(r.body, ec);
            std::string partition;
            if (!ec && v.is_object()) {
                if (auto it = v.get_object().find("partition"); it != v.get_object().end())
                    partition = " " + boost::json::serialize(it->value());
            }
            std::cerr << who << "another instance owns context \"" << context_key << "\": rostersyncd at "
                      << t.authority << " does not own its partition" << partition
                      << ". Ask the instance that owns it (--url http://HOST:PORT), or try again in a moment if "
                         "the partitions are being assigned (just after a start or during a rebalance).\n";
            return exit_runtime_failure;
        }
        default: break;
    }
    if (r.status < 200 || r.status >= 300) {
        std::cerr << who << "rostersyncd at " << t.authority << " answered HTTP " << r.status
                  << (why.empty() ? "" : ": " + why) << "\n";
        return exit_runtime_failure;
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (ec || !v.is_object()) {
        std::cerr << who << "rostersyncd at " << t.authority << " answered HTTP " << r.status
                  << " with something that is not a JSON object\n";
        return exit_runtime_failure;
    }
    doc = std::move(v.get_object());
    raw = boost::json::serialize(doc);
    return exit_ok;
}

// JSON fields of the admin API's answers (sync/pipeline.cpp describe()).

std::string str_of(const boost::json::object& o, std::string_view key)
{
    const auto* s = string_field(&o, key);
    return s ? std::string(s->data(), s->size()) : std::string();
}

std::optional<std::uint64_t> uint_of(const boost::json::object& o, std::string_view key)
{
    auto it = o.find(key);
    if (it == o.end()) return std::nullopt;
    if (it->value().is_uint64()) return it->value().get_uint64();
    if (it->value().is_int64() && it->value().get_int64() >= 0)
        return static_cast<std::uint64_t>(it->value().get_int64());
    return std::nullopt;
}

bool bool_of(const boost::json::object& o, std::string_view key)
{
    auto it = o.find(key);
    return it != o.end() && it->value().is_bool() && it->value().get_bool();
}

/// "5s", "3m12s", "23h59m", "4d2h": a duration rounded to its two largest units (seconds at least).
std::string rough(std::chrono::milliseconds d)
{
    using namespace std::chrono;
    auto s = duration_cast<seconds>(d);
    if (s >= hours(24)) s = duration_cast<hours>(s);
    else if (s >= hours(1)) s = duration_cast<minutes>(s);
    return format_duration(duration_cast<milliseconds>(s));
}

/// "in 5m", "3s ago", "now": an RFC 3339 time relative to this machine's clock ("" when unparsable).
std::string relative(const std::string& when, std::chrono::system_clock::time_point now)
{
    auto t = sync::parse_rfc3339(when);
    if (!t) return {};
    const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(*t - now);
    if (std::chrono::abs(d) < std::chrono::seconds(1)) return "now";
    return d.count() > 0 ? "in " + rough(d) : rough(-d) + " ago";
}

/// The NEXT DUE column: relative, "running", "parked", or "overdue 5m".
std::string next_due_cell(const boost::json::object& c, std::chrono::system_clock::time_point now)
{
    if (bool_of(c, "running")) return "running";
    if (bool_of(c, "parked")) return "parked";
    if (bool_of(c, "retired")) return "retired";
    const auto when = str_of(c, "next_due");
    if (when.empty()) return "-";
    auto rel = relative(when, now);
    if (rel.ends_with(" ago")) return "overdue " + rel.substr(0, rel.size() - 4);
    return rel.empty() ? when : rel;
}

/// The NOTE column: held removals, the parked reason, a release, a retirement.
std::string note_cell(const boost::json::object& c)
{
    std::string note;
    auto add = [&note](const std::string& s) { note += (note.empty() ? "" : "; ") + s; };
    if (auto held = uint_of(c, "held"); held && *held > 0) add("held " + std::to_string(*held) + " removals");
    if (bool_of(c, "parked")) {
        const auto reason = str_of(c, "parked_reason");
        add("parked" + (reason.empty() ? std::string() : ": " + reason));
    }
    if (bool_of(c, "retired")) add("retired");
    if (const auto until = str_of(c, "release_until"); !until.empty()) add("released until " + until);
    return note.empty() ? "-" : note;
}

/// "0-3,5,7-11"
std::string partition_ranges(const boost::json::array& parts)
{
    std::vector<std::int64_t> ids;
    for (const auto& p : parts) {
        if (p.is_int64()) ids.push_back(p.get_int64());
        else if (p.is_uint64()) ids.push_back(static_cast<std::int64_t>(p.get_uint64()));
    }
    std::sort(ids.begin(), ids.end());
    std::string out;
    for (std::size_t i = 0; i < ids.size();) {
        std::size_t j = i;
        while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
        out += (out.empty() ? "" : ",") + std::to_string(ids[i]) + (j > i ? "-" + std::to_string(ids[j]) : "");
        i = j + 1;
    }
    return out;
}

void print_context_table(const boost::json::object& doc)
{
    const auto now = std::chrono::system_clock::now();
    const std::array<std::string, 7> head = {"CONTEXT", "PLATFORM", "MEMBERS", "VERSION", "LAST OUTCOME", "NEXT DUE",
                                             "HELD/PARKED"};
    std::vector<std::array<std::string, 7>> rows;
    if (auto it = doc.find("contexts"); it != doc.end() && it->value().is_array()) {
        for (const auto& v : it->value().get_array()) {
            if (!v.is_object()) continue;
            const auto& c = v.get_object();
            auto number = [&c](std::string_view k) {
                auto n = uint_of(c, k);
                return n ? std::to_string(*n) : std::string("-");
            };
            const auto outcome = str_of(c, "last_outcome");
            rows.push_back({str_of(c, "context_key"), str_of(c, "platform"), number("members"),
                            number("roster_version"), outcome.empty() ? "-" : outcome, next_due_cell(c, now),
                            note_cell(c)});
        }
    }
    std::array<std::size_t, 7> width{};
    for (std::size_t i = 0; i < head.size(); ++i) width[i] = head[i].size();
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    auto print_row = [&width](const std::array<std::string, 7>& r) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            const bool numeric = i == 2 || i == 3;
            const std::string pad(width[i] - r[i].size(), ' ');
            if (i + 1 == r.size()) line += r[i];  // no trailing blanks
            else line += (numeric ? pad + r[i] : r[i] + pad) + "  ";
        }
        std::cout << line << "\n";
    };
    if (!rows.empty()) {
        print_row(head);
        for (const auto& r : rows) print_row(r);
    }
    const auto total = uint_of(doc, "total").value_or(rows.size());
    std::string parts;
    if (auto it = doc.find("partitions"); it != doc.end() && it->value().is_array())
        parts = partition_ranges(it->value().get_array());
    std::cout << total << (total == 1 ? " context" : " contexts");
    if (total > rows.size()) std::cout << " (the first " << rows.size() << " shown)";
    if (parts.empty())
        std::cout << "; this instance owns no partition yet (starting, or other instances own them all)\n";
    else
        std::cout << " on this instance's partitions " << parts << "\n";
}

void print_context(const boost::json::object& c)
{
    const auto now = std::chrono::system_clock::now();
    auto line = [](const char* label, const std::string& value) {
        if (!value.empty()) std::printf("%-14s %s\n", label, value.c_str());
    };
    auto when = [&now](const std::string& t) {
        if (t.empty()) return t;
        auto rel = relative(t, now);
        return rel.empty() ? t : t + " (" + rel + ")";
    };
    line("context", str_of(c, "context_key"));
    std::string platform = str_of(c, "platform");
    std::string ids = "issuer " + str_of(c, "issuer") + ", client_id " + str_of(c, "client_id");
    if (auto d = str_of(c, "deployment_id"); !d.empty()) ids += ", deployment " + d;
    line("platform", (platform.empty() ? std::string("-") : platform) + " (" + ids + ")");
    if (const auto* ctx = object_field(c, "context")) {
        std::string course = str_of(*ctx, "id");
        if (auto l = str_of(*ctx, "label"); !l.empty()) course += "  " + l;
        if (auto t = string_field(ctx, "title")) course += "  " + boost::json::serialize(*t);
        line("course", course);
    }
    line("memberships", str_of(c, "context_memberships_url"));
    if (auto p = uint_of(c, "partition")) line("partition", std::to_string(*p));
    {
        auto m = uint_of(c, "members");
        auto v = uint_of(c, "roster_version");
        line("members", (m ? std::to_string(*m) : std::string("-")) + " (roster version " +
                            (v ? std::to_string(*v) : std::string("-")) + ")");
    }
    const auto start = str_of(c, "last_pass_start");
    const auto end = str_of(c, "last_pass_end");
    if (!start.empty() || !end.empty()) {
        std::string pass = start.empty() ? std::string() : "started " + when(start);
        if (!end.empty()) pass += (pass.empty() ? "" : ", ") + std::string("ended ") + when(end);
        line("last pass", pass);
    } else {
        line("last pass", "never");
    }
    line("last outcome", str_of(c, "last_outcome"));
    line("last error", str_of(c, "last_error"));
    std::string state;
    auto add = [&state](const std::string& s) { state += (state.empty() ? "" : ", ") + s; };
    if (bool_of(c, "running")) add("a pass is running");
    if (bool_of(c, "requested")) add("requested");
    if (bool_of(c, "dirty")) add("another pass follows the running one");
    if (auto n = uint_of(c, "unchanged_passes"); n && *n > 0) add(std::to_string(*n) + " unchanged passes in a row");
    if (bool_of(c, "parked")) {
        const auto reason = str_of(c, "parked_reason");
        add("parked" + (reason.empty() ? std::string() : ": " + reason) +
            " (a launch or `rostersync resync` unparks it)");
    }
    if (bool_of(c, "retired")) add("retired (no launch for sync.retire_after)");
    line("state", state.empty() ? "idle" : state);
    line("next due", when(str_of(c, "next_due")));
    line("last launch", when(str_of(c, "last_seen")));
    line("last forced", when(str_of(c, "last_forced")));
    if (auto held = uint_of(c, "held"); held && *held > 0) {
        std::string h = std::to_string(*held) + " removals held by the removal guard";
        if (auto since = str_of(c, "held_since"); !since.empty()) h += " since " + when(since);
        line("held", h + "; `rostersync release --context KEY` lets them through");
    }
    if (auto n = uint_of(c, "removal_candidates"); n && *n > 0)
        line("candidates", std::to_string(*n) + " removals awaiting a confirming pass");
    if (auto until = str_of(c, "release_until"); !until.empty())
        line("released", "until " + when(until) + "; the next pass lets held removals through, once");
}

/// The context key from --context, or --platform (its issuer) + --context-id. "" with `error`
/// set when the flags do not name one.
std::string context_key_of(const flags& f, const config::config& cfg, std::string& error)
{
    if (f.has("context")) {
        const auto key = f.get("context");
        if (key.find('|') == std::string::npos || key.front() == '|' || key.back() == '|')
            error = "--context is a context key \"<issuer>|<context_id>\", got \"" + key + "\"";
        return key;
    }
    const auto name = f.get("platform");
    const auto* p = cfg.find_platform(name);
    if (p == nullptr) {
        std::string known;
        for (const auto& q : cfg.platforms) known += (known.empty() ? "" : ", ") + q.name;
        error = "no platform named \"" + name + "\" in " + cfg.source +
                (known.empty() ? std::string(" (it configures none)") : " (platforms: " + known + ")");
        return {};
    }
    return kafka::context_key(p->issuer, f.get("context-id"));
}

/// Usage problems shared by the three commands' context flags ("" when fine).
std::string check_context_flags(const flags& f, bool context_required)
{
    if (f.has("context") && (f.has("platform") || f.has("context-id")))
        return "give either --context KEY or --platform NAME --context-id ID, not both";
    if (f.has("context-id") && !f.has("platform"))
        return "--context-id needs --platform NAME (its issuer makes the key), or give --context KEY";
    if (f.has("context") && f.get("context").empty()) return "--context needs a context key";
    if (f.has("context-id") && f.get("context-id").empty()) return "--context-id needs a value";
    if (context_required && !f.has("context") && !f.has("context-id"))
        return "name a context: --context KEY or --platform NAME --context-id ID";
    return "";
}

/// Flags every admin command takes.
std::vector<flag_spec> admin_flags(std::vector<flag_spec> more)
{
    more.insert(more.end(), {{"config"}, {"url"}, {"context"}, {"platform"}, {"context-id"}, {"json", false}});
    return more;
}

/// Parses and checks the common part: flags, config, context key, target. exit_ok or the code.
struct admin_command {
    flags f;
    std::optional<config::config> cfg;
    admin_target target;
    std::string key;
};

int prepare_admin(int argc, char** argv, const std::string& cmd, const char* cmd_usage,
                  const std::vector<flag_spec>& extra, bool context_required,
                  const std::function<std::string(const flags&)>& check, admin_command& out)
{
    out.f = parse_flags(argc, argv, 2, admin_flags(extra));
    auto& f = out.f;
    if (f.error.empty() && !f.has("config")) f.error = "--config FILE is required (http.listen, http.admin_token_file)";
    if (f.error.empty()) f.error = check_context_flags(f, context_required);
    if (f.error.empty()) f.error = check(f);
    if (!f.error.empty()) {
        std::cerr << "rostersync " << cmd << ": " << f.error << "\n\nUsage:\n" << cmd_usage << admin_usage;
        return exit_usage;
    }
    out.cfg = load_config(f.get("config"));
    if (!out.cfg) return exit_config;
    log::configure({.min_level = log::level::warning, .fmt = out.cfg->log.format});
    if (f.has("context") || f.has("context-id")) {
        std::string error;
        out.key = context_key_of(f, *out.cfg, error);
        if (!error.empty()) {
            std::cerr << "rostersync " << cmd << ": " << error << "\n";
            return exit_usage;
        }
    }
    return resolve_admin(f, cmd, *out.cfg, out.target);
}

std::string context_path(const std::string& key)
{
    return "/admin/contexts/" + http::percent_encode(key);
}

int status(int argc, char** argv)
{
    admin_command c;
    auto check = [](const flags& f) -> std::string {
        if (f.has("held") && f.has("parked")) return "--held and --parked are exclusive";
        if ((f.has("held") || f.has("parked")) && (f.has("context") || f.has("context-id")))
            return "--held and --parked filter the list; one context is shown whatever its state";
        if (f.has("platform") && !f.has("context-id"))
            return "--platform NAME needs --context-id ID (to show one context); without them status lists all";
        return "";
    };
    const std::vector<flag_spec> filters = {{"held", false}, {"parked", false}};
    if (int rc = prepare_admin(argc, argv, "status", status_usage, filters, false, check, c)) return rc;
    boost::json::object doc;
    std::string raw;
    if (!c.key.empty()) {
        if (int rc = admin_call("status", c.target, bhttp::verb::get, context_path(c.key), c.key, doc, raw)) return rc;
        if (c.f.has("json")) std::cout << raw << "\n";
        else print_context(doc);
        return exit_ok;
    }
    std::string target = "/admin/contexts";
    if (c.f.has("held")) target += "?filter=held";
    if (c.f.has("parked")) target += "?filter=parked";
    if (int rc = admin_call("status", c.target, bhttp::verb::get, target, "", doc, raw)) return rc;
    if (c.f.has("json")) std::cout << raw << "\n";
    else print_context_table(doc);
    return exit_ok;
}

int resync(int argc, char** argv)
{
    admin_command c;
    auto check = [](const flags&) { return std::string(); };
    if (int rc = prepare_admin(argc, argv, "resync", resync_usage, {}, true, check, c)) return rc;
    boost::json::object doc;
    std::string raw;
    if (int rc = admin_call("resync", c.target, bhttp::verb::post, context_path(c.key) + "/resync", c.key, doc, raw))
        return rc;
    if (c.f.has("json")) {
        std::cout << raw << "\n";
        return exit_ok;
    }
    std::cout << "resync scheduled for " << c.key;
    if (bool_of(doc, "was_parked")) std::cout << " (it was parked: unparked)";
    if (bool_of(doc, "running")) std::cout << " (a pass is running: another one follows it)";
    std::cout << "\n";
    return exit_ok;
}

int release(int argc, char** argv)
{
    admin_command c;
    auto check = [](const flags& f) -> std::string {
        if (f.has("all") && !f.has("platform")) return "--all goes with --platform NAME";
        if (f.has("all") && f.has("context-id"))
            return "--all releases every held context of the platform; drop --context-id, or --all to release one";
        if (f.has("platform") && !f.has("context-id") && !f.has("all"))
            return "releasing the held removals of every context of a platform needs --all: "
                   "rostersync release --platform " + f.get("platform") + " --all";
        if (!f.has("context") && !f.has("platform"))
            return "name a context (--context KEY, or --platform NAME --context-id ID) or a whole platform "
                   "(--platform NAME --all)";
        return "";
    };
    if (int rc = prepare_admin(argc, argv, "release", release_usage, {{"all", false}}, false, check, c)) return rc;
    const bool whole_platform = c.key.empty();
    const std::string platform = c.f.get("platform");
    if (whole_platform && c.cfg->find_platform(platform) == nullptr) {
        std::string known;
        for (const auto& q : c.cfg->platforms) known += (known.empty() ? "" : ", ") + q.name;
        std::cerr << "rostersync release: no platform named \"" << platform << "\" in " << c.cfg->source
                  << (known.empty() ? std::string(" (it configures none)") : " (platforms: " + known + ")") << "\n";
        return exit_usage;
    }
    const std::string target = whole_platform ? "/admin/release?platform=" + http::percent_encode(platform)
                                              : "/admin/release?context=" + http::percent_encode(c.key);
    boost::json::object doc;
    std::string raw;
    if (int rc = admin_call("release", c.target, bhttp::verb::post, target, c.key, doc, raw)) return rc;
    if (c.f.has("json")) {
        std::cout << raw << "\n";
        return exit_ok;
    }
    std::vector<std::string> released;
    if (auto it = doc.find("released"); it != doc.end() && it->value().is_array()) {
        for (const auto& k : it->value().get_array())
            if (k.is_string()) released.emplace_back(k.get_string());
    }
    const auto until = str_of(doc, "until");
    if (released.empty()) {
        std::cout << "nothing released: no context of platform " << platform
                  << " on this instance holds removals (other instances own other partitions)\n";
        return exit_ok;
    }
    std::cout << "released " << released.size() << (released.size() == 1 ? " context" : " contexts") << " until "
              << until << "; the next pass of each lets its held removals through, once:\n";
    for (const auto& k : released) std::cout << "  " << k << "\n";
    return exit_ok;
}

}  // namespace

int run_cli(int argc, char** argv)
{
    std::string cmd = argc > 1 ? argv[1] : "help";
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
        std::cout << usage;
        return argc > 1 ? exit_ok : exit_usage;
    }
    if (cmd == "version" || cmd == "--version") {
        std::cout << "rostersync " << rostersync::version << " (" << rostersync::revision << ")\n";
        return exit_ok;
    }
    if (cmd == "fetch") return fetch(argc, argv);
    if (cmd == "keygen") return keygen(argc, argv);
    if (cmd == "jwks") return jwks(argc, argv);
    if (cmd == "seen") return seen(argc, argv);
    if (cmd == "discover") return discover(argc, argv);
    if (cmd == "tail") return tail(argc, argv);
    if (cmd == "status") return status(argc, argv);
    if (cmd == "resync") return resync(argc, argv);
    if (cmd == "release") return release(argc, argv);
    std::cerr << "rostersync: unknown command \"" << cmd << "\"\n\n" << usage;
    return exit_usage;
}

}  // namespace rostersync::app
