#include "app/cli.hpp"

#include "app/options.hpp"
#include "common/duration.hpp"
#include "common/log.hpp"
#include "common/version.hpp"
#include "config/load.hpp"
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

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
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

constexpr const char* usage_tail = R"(  version, --version     Print the version.
  help, --help           This text.

Exit codes: 0 success, 1 the operation failed, 64 bad command line, 78 invalid configuration.
)";

const std::string usage = std::string(usage_head) + seen_usage + tail_usage + kafka_usage + usage_tail;

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

std::string short_role(const std::string& uri)
{
    auto hash = uri.rfind('#');
    return hash == std::string::npos ? uri : uri.substr(hash + 1);
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
            auto encoded = boost::json::parse(roster::encode_member(m));
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
            std::printf("%-38s %-8s %-40s %s\n", m.user_id.c_str(), m.status.c_str(), roles.c_str(),
                        m.name.value_or("").c_str());
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
    std::cerr << "rostersync tail: tailing " << topic << " (" << *partitions << " partitions) "
              << (from_beginning ? "from the beginning" : "from the end: new events only") << std::endl;

    struct sigaction sa {};
    sa.sa_handler = on_tail_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

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
    if (cmd == "tail") return tail(argc, argv);
    std::cerr << "rostersync: unknown command \"" << cmd << "\"\n\n" << usage;
    return exit_usage;
}

}  // namespace rostersync::app
