#include "config/load.hpp"

#include <arpa/inet.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace rostersync::config {
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// small pure helpers

namespace {

std::string upper_env_name(std::string_view s)
{
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c)) out += static_cast<char>(std::toupper(c));
        else out += '_';
    }
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b)
{
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string in_quotes(std::string_view s)
{
    std::string out = "\"";
    out += s;
    out += '"';
    return out;
}

std::string describe(const toml::node& n)
{
    switch (n.type()) {
        case toml::node_type::string: return "the string " + in_quotes(n.as_string()->get());
        case toml::node_type::integer: return "the integer " + std::to_string(n.as_integer()->get());
        case toml::node_type::floating_point: {
            std::ostringstream os;
            os << n.as_floating_point()->get();
            return "the number " + os.str();
        }
        case toml::node_type::boolean: return n.as_boolean()->get() ? "true" : "false";
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        default: return "a date or time";
    }
}

template <class Int>
bool parse_int(std::string_view s, Int& out)
{
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size() && !s.empty();
}

bool parse_double(std::string_view s, double& out)
{
    std::string tmp(s);
    char* end = nullptr;
    errno = 0;
    out = std::strtod(tmp.c_str(), &end);
    return !tmp.empty() && errno == 0 && end == tmp.c_str() + tmp.size();
}

std::vector<std::string> split_list(std::string_view s)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto comma = s.find(',', start);
        if (comma == std::string_view::npos) comma = s.size();
        auto item = s.substr(start, comma - start);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty()) out.emplace_back(item);
        start = comma + 1;
    }
    return out;
}

bool is_ip_literal(std::string_view host)
{
    std::string h(host);
    unsigned char buf[16];
    return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool is_hostname(std::string_view h)
{
    if (h.empty() || h.size() > 253) return false;
    std::size_t label = 0;
    for (std::size_t i = 0; i < h.size(); ++i) {
        unsigned char c = h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-') return false;
            label = 0;
            continue;
        }
        bool ok = std::isalnum(c) || (c == '-' && label > 0);
        if (!ok || ++label > 63) return false;
    }
    return label > 0;
}

/// "host:port" or "[v6]:port". Returns an error message, empty when fine.
std::string parse_host_port(std::string_view s, std::string& host, std::uint16_t& port)
{
    std::string_view h, p;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
            return "an IPv6 address is written \"[::1]:9464\"";
        }
        h = s.substr(1, close - 1);
        p = s.substr(close + 2);
        std::string tmp(h);
        unsigned char buf[16];
        if (inet_pton(AF_INET6, tmp.c_str(), buf) != 1) return in_quotes(h) + " is not an IPv6 address";
    } else {
        auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return "expected \"host:port\"";
        h = s.substr(0, colon);
        p = s.substr(colon + 1);
        if (h.find(':') != std::string_view::npos) return "write IPv6 addresses in brackets";
    }
    unsigned value = 0;
    if (!parse_int(p, value) || value > 65535) return in_quotes(p) + " is not a port number (0-65535)";
    if (h.empty()) return "the host is missing";
    host = std::string(h);
    port = static_cast<std::uint16_t>(value);
    return {};
}

bool valid_topic_name(std::string_view t)
{
    if (t.empty() || t.size() > 249 || t == "." || t == "..") return false;
    return std::all_of(t.begin(), t.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '-';
    });
}

/// Scheme and host of an absolute URL (lower-cased); false when it is not one.
bool split_url(std::string_view url, std::string& scheme, std::string& host)
{
    auto sep = url.find("://");
    if (sep == std::string_view::npos || sep == 0) return false;
    scheme.assign(url.substr(0, sep));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
    auto rest = url.substr(sep + 3);
    auto end = rest.find_first_of("/?#");
    auto authority = rest.substr(0, end);
    if (authority.find('@') != std::string_view::npos) return false;  // no userinfo
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return false;
        host.assign(authority.substr(1, close - 1));
    } else {
        host.assign(authority.substr(0, authority.find(':')));
    }
    std::transform(host.begin(), host.end(), host.begin(), ::tolower);
    return !host.empty() && (scheme == "https" || scheme == "http");
}

// ---------------------------------------------------------------------------------------------
// the reader: walks one table, takes overrides from the environment, records problems

struct context {
    std::string source;  // file name used in messages
    fs::path base_dir;
    const environment& env;
    problems& out;
    std::set<std::string, std::less<>> used_env;
    std::vector<std::string> platform_where;  // file:line of each [[platforms]] table, in order
    std::vector<std::string> budget_where;

    void add(std::string where, std::string key, std::string message)
    {
        out.list.push_back({std::move(where), std::move(key), std::move(message)});
    }

    std::string at(const toml::source_region& r) const
    {
        if (r.begin.line == 0) return source;
        return source + ":" + std::to_string(r.begin.line);
    }

    /// $CREDENTIALS_DIRECTORY first (when the file is there), then the config file's folder.
    std::string resolve_path(const std::string& p) const
    {
        if (p.empty() || fs::path(p).is_absolute()) return p;
        if (auto it = env.find("CREDENTIALS_DIRECTORY"); it != env.end() && !it->second.empty()) {
            fs::path candidate = fs::path(it->second) / p;
            std::error_code ec;
            if (fs::exists(candidate, ec)) return candidate.string();
        }
        return (base_dir / p).lexically_normal().string();
    }
};

/// Where one value came from: a TOML node or an environment variable.
struct source_value {
    const toml::node* node = nullptr;
    std::string env_text;
    std::string where;
};

class section {
public:
    section(context& c, const toml::table* tbl, std::string path, std::string env_prefix,
            toml::source_region region = {})
        : c_(c), tbl_(tbl), path_(std::move(path)), env_prefix_(std::move(env_prefix)),
          region_(region)
    {
        if (tbl_ != nullptr) region_ = tbl_->source();
    }

    const std::string& path() const { return path_; }
    std::string key_name(std::string_view key) const
    {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }
    std::string where() const { return c_.at(region_); }

    void problem(const source_value& v, std::string_view key, std::string message)
    {
        c_.add(v.where, key_name(key), std::move(message));
    }
    void problem_here(std::string_view key, std::string message)
    {
        c_.add(where(), key_name(key), std::move(message));
    }

    /// Marks a key as read elsewhere, so finish() does not report it.
    void mark_known(std::string_view key) { known_.emplace_back(key); }

    /// Looks a key up; marks it known. Environment wins over the file.
    std::optional<source_value> lookup(std::string_view key)
    {
        known_.emplace_back(key);
        if (!env_prefix_.empty()) {
            std::string var = env_prefix_ + upper_env_name(key);
            if (auto it = c_.env.find(var); it != c_.env.end()) {
                c_.used_env.insert(var);
                return source_value{nullptr, it->second, "environment " + var};
            }
        }
        if (tbl_ == nullptr) return std::nullopt;
        const toml::node* n = tbl_->get(key);
        if (n == nullptr) return std::nullopt;
        return source_value{n, {}, c_.at(n->source())};
    }

    std::string got(const source_value& v) const
    {
        return v.node != nullptr ? describe(*v.node) : in_quotes(v.env_text);
    }

    using check = std::function<std::string(const std::string&)>;

    bool str(std::string_view key, std::string& out, const check& chk = {}, bool required = false)
    {
        auto v = lookup(key);
        if (!v) {
            if (required) problem_here(key, "is required (a string)");
            return false;
        }
        std::string value;
        if (v->node != nullptr) {
            if (!v->node->is_string()) {
                problem(*v, key, "expected a string, got " + got(*v));
                return false;
            }
            value = v->node->as_string()->get();
        } else {
            value = v->env_text;
        }
        if (required && value.empty()) {
            problem(*v, key, "must not be empty");
            return false;
        }
        if (chk) {
            if (auto msg = chk(value); !msg.empty()) {
                problem(*v, key, msg + ", got " + in_quotes(value));
                return false;
            }
        }
        out = std::move(value);
        return true;
    }

    void integer(std::string_view key, int& out, long long lo, long long hi)
    {
        auto v = lookup(key);
        if (!v) return;
        long long value = 0;
        bool ok = v->node != nullptr
                      ? (v->node->is_integer() && ((value = v->node->as_integer()->get()), true))
                      : parse_int(v->env_text, value);
        std::string expected = "expected an integer from " + std::to_string(lo) + " to " +
                               std::to_string(hi);
        if (!ok || value < lo || value > hi) {
            problem(*v, key, expected + ", got " + got(*v));
            return;
        }
        out = static_cast<int>(value);
    }

    void number(std::string_view key, double& out, double lo, double hi, bool lo_open = false)
    {
        auto v = lookup(key);
        if (!v) return;
        double value = 0;
        bool ok = false;
        if (v->node != nullptr) {
            if (v->node->is_floating_point()) value = v->node->as_floating_point()->get(), ok = true;
            else if (v->node->is_integer())
                value = static_cast<double>(v->node->as_integer()->get()), ok = true;
        } else {
            ok = parse_double(v->env_text, value);
        }
        std::ostringstream expected;
        expected << "expected a number " << (lo_open ? "above " : "from ") << lo << " to " << hi;
        if (!ok || value < lo || value > hi || (lo_open && value == lo) || value != value) {
            problem(*v, key, expected.str() + ", got " + got(*v));
            return;
        }
        out = value;
    }

    void boolean(std::string_view key, bool& out)
    {
        auto v = lookup(key);
        if (!v) return;
        if (v->node != nullptr) {
            if (!v->node->is_boolean()) {
                problem(*v, key, "expected true or false, got " + got(*v));
                return;
            }
            out = v->node->as_boolean()->get();
            return;
        }
        const auto& t = v->env_text;
        if (t == "true" || t == "1" || t == "yes") out = true;
        else if (t == "false" || t == "0" || t == "no") out = false;
        else problem(*v, key, "expected true or false, got " + got(*v));
    }

    void dur(std::string_view key, duration& out, duration min = duration{1},
             duration max = std::chrono::hours(24 * 3650))
    {
        auto v = lookup(key);
        if (!v) return;
        const std::string hint =
            "expected a duration with a unit, such as \"90s\", \"10m\", \"24h\", \"180d\" or "
            "\"1h30m\" (units ms, s, m, h, d)";
        std::string text;
        if (v->node != nullptr) {
            if (!v->node->is_string()) {
                problem(*v, key, hint + ", got " + got(*v));
                return;
            }
            text = v->node->as_string()->get();
        } else {
            text = v->env_text;
        }
        auto d = parse_duration(text);
        if (!d) {
            problem(*v, key, hint + ", got " + in_quotes(text));
            return;
        }
        if (*d < min || *d > max) {
            problem(*v, key, "must be from " + format_duration(min) + " to " + format_duration(max) +
                                 ", got " + in_quotes(text));
            return;
        }
        out = *d;
    }

    bool strings(std::string_view key, std::vector<std::string>& out, bool required = false)
    {
        auto v = lookup(key);
        if (!v) {
            if (required) problem_here(key, "is required (an array of strings)");
            return false;
        }
        std::vector<std::string> values;
        if (v->node != nullptr) {
            const auto* arr = v->node->as_array();
            bool ok = arr != nullptr;
            if (ok) {
                for (const auto& item : *arr) {
                    if (!item.is_string()) ok = false;
                    else values.push_back(item.as_string()->get());
                }
            }
            if (!ok) {
                problem(*v, key, "expected an array of strings, got " + got(*v));
                return false;
            }
        } else {
            values = split_list(v->env_text);
        }
        if (required && values.empty()) {
            problem(*v, key, "must list at least one entry");
            return false;
        }
        out = std::move(values);
        return true;
    }

    /// A sub-table (marked known). A non-table value is reported.
    const toml::table* table(std::string_view key)
    {
        known_.emplace_back(key);
        if (tbl_ == nullptr) return nullptr;
        const toml::node* n = tbl_->get(key);
        if (n == nullptr) return nullptr;
        if (!n->is_table()) {
            c_.add(c_.at(n->source()), key_name(key), "expected a table, got " + describe(*n));
            return nullptr;
        }
        return n->as_table();
    }

    /// Reports every key of the table that nobody looked up.
    void finish()
    {
        if (tbl_ == nullptr) return;
        for (auto&& [k, v] : *tbl_) {
            std::string_view name = k.str();
            if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
            std::string msg = "unknown key";
            std::string best;
            std::size_t best_d = 3;
            for (const auto& cand : known_) {
                auto d = edit_distance(name, cand);
                if (d < best_d) best_d = d, best = cand;
            }
            if (!best.empty()) msg += "; did you mean \"" + best + "\"?";
            else {
                msg += "; known keys here: ";
                for (std::size_t i = 0; i < known_.size(); ++i) msg += (i ? ", " : "") + known_[i];
            }
            c_.add(c_.at(k.source().begin.line ? k.source() : v.source()), key_name(name), msg);
        }
    }

private:
    context& c_;
    const toml::table* tbl_;
    std::string path_;
    std::string env_prefix_;
    toml::source_region region_;
    std::vector<std::string> known_;
};

// ---------------------------------------------------------------------------------------------
// per-section readers

std::string check_name(const std::string& s)
{
    bool ok = !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
                  return std::isalnum(c) || c == '-' || c == '_' || c == '.';
              });
    return ok ? "" : "expected a name of letters, digits, '-', '_' or '.' (at most 64)";
}

void read_daemon(context& c, section& root, config& cfg)
{
    section s(c, root.table("daemon"), "daemon", "ROSTERSYNC_DAEMON_");
    s.integer("threads", cfg.daemon.threads, 0, 256);
    s.dur("shutdown_grace", cfg.daemon.shutdown_grace, duration{1}, std::chrono::hours(1));
    s.dur("shutdown_delay", cfg.daemon.shutdown_delay, duration{0}, std::chrono::hours(1));
    s.finish();
}

void read_log(context& c, section& root, config& cfg)
{
    section s(c, root.table("log"), "log", "ROSTERSYNC_LOG_");
    std::string level, format;
    if (s.str("level", level, [](const std::string& v) {
            log::level l{};
            return log::parse_level(v, l) ? "" : "expected \"debug\", \"info\", \"warning\" or \"error\"";
        })) {
        log::parse_level(level, cfg.log.level);
    }
    if (s.str("format", format, [](const std::string& v) {
            log::format f{};
            return log::parse_format(v, f) ? "" : "expected \"logfmt\" or \"json\"";
        })) {
        log::parse_format(format, cfg.log.format);
    }
    s.finish();
}

void read_kafka(context& c, section& root, config& cfg)
{
    auto& k = cfg.kafka;
    section s(c, root.table("kafka"), "kafka", "ROSTERSYNC_KAFKA_");
    s.str("brokers", k.brokers, [](const std::string& v) -> std::string {
        if (v == "embedded") return "";
        if (split_list(v).empty()) return "expected \"embedded\" or a list \"host:port,host:port\"";
        for (const auto& b : split_list(v)) {
            std::string h;
            std::uint16_t p = 0;
            if (!parse_host_port(b, h, p).empty() || p == 0)
                return "expected \"embedded\" or a list \"host:port,host:port\"";
        }
        return v.empty() ? "expected \"embedded\" or a list \"host:port,host:port\"" : "";
    });
    s.str("group_id", k.group_id, [](const std::string& v) {
        return v.empty() ? "must not be empty" : "";
    });
    s.integer("partitions", k.partitions, 1, 10000);
    s.integer("replication_factor", k.replication_factor, 1, 32);
    s.boolean("exactly_once", k.exactly_once);
    s.str("transactional_id", k.transactional_id, [](const std::string& v) {
        return v.size() <= 200 ? "" : "expected at most 200 characters";
    });

    section t(c, s.table("topics"), "kafka.topics", "ROSTERSYNC_KAFKA_TOPICS_");
    auto topic_check = [](const std::string& v) {
        return valid_topic_name(v) ? ""
                                   : "expected a Kafka topic name (letters, digits, '.', '_', '-'; "
                                     "at most 249)";
    };
    std::vector<std::pair<const char*, std::string*>> topics{
        {"course_seen", &k.topics.course_seen},
        {"course_seen_dlq", &k.topics.course_seen_dlq},
        {"membership_changes", &k.topics.membership_changes},
        {"memberships", &k.topics.memberships},
        {"contexts", &k.topics.contexts},
        {"checkpoints", &k.topics.checkpoints},
        {"sync_requests", &k.topics.sync_requests},
    };
    for (auto& [key, target] : topics) t.str(key, *target, topic_check);
    for (std::size_t i = 0; i < topics.size(); ++i) {
        for (std::size_t j = i + 1; j < topics.size(); ++j) {
            if (*topics[i].second == *topics[j].second) {
                t.problem_here(topics[j].first, std::string("names the same topic as kafka.topics.") +
                                                    topics[i].first + " (\"" +
                                                    *topics[j].second + "\"); each must differ");
            }
        }
    }
    t.finish();

    // [kafka.properties]: free-form; `<name>_file` reads a secret from a file.
    auto add_property = [&](std::string name, std::string value, const std::string& where) {
        constexpr std::string_view suffix = "_file";
        if (name.size() > suffix.size() && name.ends_with(suffix)) {
            std::string path = c.resolve_path(value);
            std::ifstream in(path, std::ios::binary);
            if (!in) {
                c.add(where, "kafka.properties." + name,
                      "cannot read \"" + path + "\": " + std::strerror(errno));
                return;
            }
            std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            while (!content.empty() && (content.back() == '\n' || content.back() == '\r'))
                content.pop_back();
            name.resize(name.size() - suffix.size());
            value = std::move(content);
        }
        auto it = std::find_if(k.properties.begin(), k.properties.end(),
                               [&](const auto& p) { return p.first == name; });
        if (it != k.properties.end()) it->second = std::move(value);
        else k.properties.emplace_back(std::move(name), std::move(value));
    };
    if (const toml::table* props = s.table("properties")) {
        for (auto&& [key, node] : *props) {
            std::string value;
            if (node.is_string()) value = node.as_string()->get();
            else if (node.is_integer()) value = std::to_string(node.as_integer()->get());
            else if (node.is_boolean()) value = node.as_boolean()->get() ? "true" : "false";
            else {
                c.add(c.at(node.source()), "kafka.properties." + std::string(key.str()),
                      "expected a string, integer or boolean, got " + describe(node));
                continue;
            }
            add_property(std::string(key.str()), std::move(value), c.at(node.source()));
        }
    }
    constexpr std::string_view prop_prefix = "ROSTERSYNC_KAFKA_PROPERTIES_";
    for (const auto& [var, value] : c.env) {
        if (!var.starts_with(prop_prefix)) continue;
        c.used_env.insert(var);
        std::string name;
        std::string_view rest = std::string_view(var).substr(prop_prefix.size());
        for (std::size_t i = 0; i < rest.size(); ++i) {
            if (rest[i] == '_' && i + 1 < rest.size() && rest[i + 1] == '_') name += '_', ++i;
            else if (rest[i] == '_') name += '.';
            else name += static_cast<char>(std::tolower(static_cast<unsigned char>(rest[i])));
        }
        add_property(name, value, "environment " + var);
    }
    s.finish();
}

void read_sync(context& c, section& root, config& cfg)
{
    auto& y = cfg.sync;
    section s(c, root.table("sync"), "sync", "ROSTERSYNC_SYNC_");
    s.dur("min_interval", y.min_interval);
    s.dur("resync_interval", y.resync_interval);
    s.number("resync_share", y.resync_share, 0.0, 0.9);
    s.dur("retire_after", y.retire_after);
    s.integer("page_size", y.page_size, 1, 1000);
    s.integer("max_concurrent_syncs", y.max_concurrent_syncs, 1, 100000);
    s.number("max_removal_ratio", y.max_removal_ratio, 0.0, 1.0, true);
    s.integer("guard_min_members", y.guard_min_members, 0, 10'000'000);
    s.dur("snapshot_interval", y.snapshot_interval);
    if (y.min_interval > y.resync_interval) {
        s.problem_here("min_interval", "must not be longer than sync.resync_interval (" +
                                           format_duration(y.resync_interval) + "), got " +
                                           format_duration(y.min_interval));
    }
    if (y.retire_after < y.resync_interval) {
        s.problem_here("retire_after", "must not be shorter than sync.resync_interval (" +
                                           format_duration(y.resync_interval) + "), got " +
                                           format_duration(y.retire_after));
    }
    s.finish();
}

void read_http(context& c, section& root, config& cfg)
{
    auto& h = cfg.http;
    section s(c, root.table("http"), "http", "ROSTERSYNC_HTTP_");
    std::string listen;
    if (s.str("listen", listen, [](const std::string& v) {
            std::string host;
            std::uint16_t port = 0;
            if (auto e = parse_host_port(v, host, port); !e.empty())
                return "expected \"address:port\" such as \"127.0.0.1:9464\" (" + e + ")";
            if (!is_ip_literal(host) && host != "localhost")
                return std::string("expected an IP address or localhost as the host");
            return std::string{};
        })) {
        parse_host_port(listen, h.listen.host, h.listen.port);
        if (h.listen.host == "localhost") h.listen.host = "127.0.0.1";
    }
    if (s.str("admin_token_file", h.admin_token_file)) {
        h.admin_token_file = c.resolve_path(h.admin_token_file);
    }

    auto add_resolve = [&](const std::string& from, const std::string& to, const std::string& where) {
        resolve_entry e;
        auto e1 = parse_host_port(from, e.host, e.port);
        auto e2 = parse_host_port(to, e.address, e.address_port);
        if (!e1.empty() || !e2.empty() || !is_ip_literal(e.address) || e.port == 0 ||
            e.address_port == 0) {
            c.add(where, "http.resolve." + from,
                  "expected \"host:port\" = \"address:port\" with an IP address, such as "
                  "\"school.instructure.com:443\" = \"127.0.0.1:8443\", got \"" + from + "\" = \"" +
                      to + "\"");
            return;
        }
        std::transform(e.host.begin(), e.host.end(), e.host.begin(), ::tolower);
        h.resolve.push_back(std::move(e));
    };
    if (auto it = c.env.find("ROSTERSYNC_HTTP_RESOLVE"); it != c.env.end()) {
        s.lookup("resolve");  // marks it known and used
        for (const auto& item : split_list(it->second)) {
            auto eq = item.find('=');
            add_resolve(item.substr(0, eq), eq == std::string::npos ? "" : item.substr(eq + 1),
                        "environment ROSTERSYNC_HTTP_RESOLVE");
        }
    } else if (const toml::table* r = s.table("resolve")) {
        for (auto&& [key, node] : *r) {
            if (!node.is_string()) {
                c.add(c.at(node.source()), "http.resolve." + std::string(key.str()),
                      "expected a string \"address:port\", got " + describe(node));
                continue;
            }
            add_resolve(std::string(key.str()), std::string(node.as_string()->get()),
                        c.at(node.source()));
        }
    }
    s.finish();
}

std::string check_https_url(const std::string& v, bool allow_http)
{
    std::string scheme, host;
    if (!split_url(v, scheme, host)) return "expected an absolute https URL";
    if (scheme != "https" && !allow_http)
        return "expected an https URL (plain http needs allow_http = true)";
    return "";
}

std::string check_host_pattern(const std::string& p)
{
    std::string_view h = p;
    const bool wildcard = h.starts_with("*.");
    if (wildcard) h.remove_prefix(2);
    if (!is_ip_literal(h) && !is_hostname(h))
        return "expected a host name, \"*.\" followed by a domain, or an IP address";
    if (wildcard && is_ip_literal(h)) return "a wildcard cannot precede an IP address";
    if (wildcard && h.find('.') == std::string_view::npos)
        return "a wildcard must name a domain of at least two labels (\"*.example.edu\", not \"*.edu\")";
    return "";
}

/// `host` (lower-case) against allowed_hosts patterns, as http::host_matches does: exact names,
/// "*.domain" for names below the domain, IP literals and localhost only when listed literally.
bool host_allowed(const std::string& host, const std::vector<std::string>& patterns)
{
    for (const auto& pat : patterns) {
        if (pat == host) return true;
        if (pat.starts_with("*.") && !is_ip_literal(host) && host != "localhost" &&
            host.size() > pat.size() - 1 && host.ends_with(pat.substr(1)))
            return true;
    }
    return false;
}

/// rest_url and rest_token_file (account discovery): both or neither; the REST token goes only to
/// a host in allowed_hosts, so rest_url must name one.
void read_rest_keys(context& c, section& s, platform& p)
{
    const bool allow_http = p.allow_http;
    s.str("rest_url", p.rest_url, [allow_http](const std::string& v) {
        if (auto msg = check_https_url(v, allow_http); !msg.empty()) return msg;
        auto rest = std::string_view(v).substr(v.find("://") + 3);
        auto slash = rest.find_first_of("/?#");
        if (slash != std::string_view::npos && rest.substr(slash) != "/")
            return std::string("expected the site's base URL without a path, such as \"https://school.instructure.com\"");
        return std::string{};
    });
    if (s.str("rest_token_file", p.rest_token_file)) p.rest_token_file = c.resolve_path(p.rest_token_file);
    while (p.rest_url.ends_with('/')) p.rest_url.pop_back();
    if (!p.rest_url.empty() && p.rest_token_file.empty())
        s.problem_here("rest_token_file", "is required with rest_url: the file holding a Canvas REST API access "
                                          "token (a separate credential from the LTI key)");
    if (p.rest_url.empty() && !p.rest_token_file.empty())
        s.problem_here("rest_url", "is required with rest_token_file: the Canvas REST API base URL, such as "
                                   "\"https://school.instructure.com\"");
    std::string scheme, host;
    if (!p.rest_url.empty() && split_url(p.rest_url, scheme, host) && !host_allowed(host, p.allowed_hosts))
        s.problem_here("rest_url", "host \"" + host + "\" is not in allowed_hosts; the REST token is sent only to "
                                   "allowed hosts, so add it there");
}

void read_platforms(context& c, const toml::table& root, config& cfg)
{
    const toml::node* node = root.get("platforms");
    if (node == nullptr) return;
    const toml::array* arr = node->as_array();
    if (arr == nullptr || !arr->is_array_of_tables()) {
        c.add(c.at(node->source()), "platforms",
              "expected [[platforms]] tables, got " + describe(*node));
        return;
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::table* tbl = arr->get(i)->as_table();
        platform p;
        // The name comes first: it addresses the platform in messages and environment variables.
        std::string label = "platforms[" + std::to_string(i) + "]";
        if (const toml::node* n = tbl->get("name"); n && n->is_string()) {
            label = "platforms[" + std::string(n->as_string()->get()) + "]";
        }
        section probe(c, tbl, label, "");
        probe.str("name", p.name, check_name, true);
        std::string prefix = p.name.empty() ? "" : "ROSTERSYNC_PLATFORMS_" + upper_env_name(p.name) + "_";
        section s(c, tbl, label, prefix);
        s.mark_known("name");
        s.boolean("allow_http", p.allow_http);
        s.boolean("nrps", p.nrps);
        const bool allow_http = p.allow_http;
        s.str("issuer", p.issuer,
              [allow_http](const std::string& v) { return check_https_url(v, allow_http); }, true);
        s.str("client_id", p.client_id, {}, true);
        s.str("token_url", p.token_url,
              [allow_http](const std::string& v) { return check_https_url(v, allow_http); },
              p.nrps);
        if (s.str("private_key_file", p.private_key_file, {}, p.nrps))
            p.private_key_file = c.resolve_path(p.private_key_file);
        s.str("key_id", p.key_id);
        if (s.strings("previous_key_files", p.previous_key_files)) {
            // "PATH" or "KID=PATH" (the key id the old key was registered with).
            for (auto& f : p.previous_key_files) {
                auto eq = f.find('=');
                if (eq != std::string::npos && f.find('/') > eq) f = f.substr(0, eq + 1) + c.resolve_path(f.substr(eq + 1));
                else f = c.resolve_path(f);
            }
        }
        if (s.strings("allowed_hosts", p.allowed_hosts, p.nrps)) {
            for (auto& h : p.allowed_hosts) {
                std::transform(h.begin(), h.end(), h.begin(), ::tolower);
                if (auto msg = check_host_pattern(h); !msg.empty())
                    s.problem_here("allowed_hosts", msg + ", got \"" + h + "\"");
            }
        }
        s.str("budget", p.budget, check_name);
        if (s.str("ca_file", p.ca_file)) p.ca_file = c.resolve_path(p.ca_file);
        read_rest_keys(c, s, p);
        s.finish();
        c.platform_where.push_back(s.where());
        cfg.platforms.push_back(std::move(p));
    }
}

void read_budgets(context& c, const toml::table& root, config& cfg)
{
    const toml::node* node = root.get("budgets");
    if (node == nullptr) return;
    const toml::array* arr = node->as_array();
    if (arr == nullptr || !arr->is_array_of_tables()) {
        c.add(c.at(node->source()), "budgets", "expected [[budgets]] tables, got " + describe(*node));
        return;
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::table* tbl = arr->get(i)->as_table();
        budget b;
        std::string label = "budgets[" + std::to_string(i) + "]";
        if (const toml::node* n = tbl->get("name"); n && n->is_string())
            label = "budgets[" + std::string(n->as_string()->get()) + "]";
        section probe(c, tbl, label, "");
        probe.str("name", b.name, check_name, true);
        section s(c, tbl, label, b.name.empty() ? "" : "ROSTERSYNC_BUDGETS_" + upper_env_name(b.name) + "_");
        s.mark_known("name");
        s.integer("max_in_flight", b.max_in_flight, 1, 1024);
        s.integer("reserve", b.reserve, 0, 1'000'000);
        s.number("requests_per_second", b.requests_per_second, 0.0, 100000.0, true);
        s.dur("max_wait", b.max_wait);
        s.finish();
        c.budget_where.push_back(s.where());
        cfg.budgets.push_back(std::move(b));
    }
}

/// An identifier given as a TOML integer or string (Canvas ids: `account = 1` or "sis_account_id:X").
bool read_id(section& s, std::string_view key, std::string& out, bool required)
{
    auto v = s.lookup(key);
    if (!v) {
        if (required) s.problem_here(key, "is required (a Canvas id such as 1, or \"sis_account_id:…\")");
        return false;
    }
    std::string value;
    if (v->node != nullptr && v->node->is_integer()) {
        value = std::to_string(v->node->as_integer()->get());
    } else if (v->node != nullptr && v->node->is_string()) {
        value = v->node->as_string()->get();
    } else if (v->node == nullptr) {
        value = v->env_text;
    } else {
        s.problem(*v, key, "expected a Canvas id (an integer, or a string such as \"sis_account_id:X\"), got " +
                               s.got(*v));
        return false;
    }
    const bool ok = !value.empty() && value.size() <= 255 &&
                    std::none_of(value.begin(), value.end(), [](unsigned char ch) { return ch <= ' ' || ch == 0x7f; });
    if (!ok || (value.front() == '-')) {
        s.problem(*v, key, "expected a Canvas id (digits, or \"sis_…_id:VALUE\" without blanks), got " + s.got(*v));
        return false;
    }
    out = std::move(value);
    return true;
}

void read_discovery(context& c, const toml::table& root, config& cfg)
{
    const toml::node* node = root.get("discovery");
    if (node == nullptr) return;
    const toml::array* arr = node->as_array();
    if (arr == nullptr || !arr->is_array_of_tables()) {
        c.add(c.at(node->source()), "discovery", "expected [[discovery]] tables, got " + describe(*node));
        return;
    }
    static const std::vector<std::string> known_states{"created", "claimed", "available", "completed", "deleted"};
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::table* tbl = arr->get(i)->as_table();
        discovery_entry d;
        section s(c, tbl, "discovery[" + std::to_string(i) + "]", "");
        s.str("platform", d.platform, check_name, true);
        read_id(s, "account", d.account, true);
        read_id(s, "term", d.term, false);
        std::vector<std::string> states;
        if (s.strings("states", states)) {
            bool ok = !states.empty();
            if (!ok) s.problem_here("states", "must list at least one Canvas course state (default [\"available\"])");
            for (const auto& st : states) {
                if (std::find(known_states.begin(), known_states.end(), st) == known_states.end()) {
                    s.problem_here("states", "expected Canvas course states (created, claimed, available, completed, "
                                             "deleted), got \"" + st + "\"");
                    ok = false;
                }
            }
            std::sort(states.begin(), states.end());
            states.erase(std::unique(states.begin(), states.end()), states.end());
            if (ok) d.states = std::move(states);
        }
        s.boolean("subaccounts", d.subaccounts);
        s.boolean("from_report", d.from_report);
        s.dur("interval", d.interval, std::chrono::minutes(1));
        s.dur("recheck_after", d.recheck_after, std::chrono::minutes(1));
        s.finish();
        const std::string where = s.where();
        const std::string label = "discovery[" + std::to_string(i) + "]";
        if (!d.platform.empty()) {
            const platform* p = cfg.find_platform(d.platform);
            if (p == nullptr) {
                c.add(where, label + ".platform", "names the platform \"" + d.platform + "\", but no [[platforms]] has that name");
            } else if (p->rest_url.empty() || p->rest_token_file.empty()) {
                c.add(where, label + ".platform",
                      "platform " + p->name + " has no rest_url and rest_token_file; discovery needs a Canvas REST API "
                      "token of its own (the LTI key does not work for the REST API)");
            } else if (!p->nrps) {
                c.add(where, label + ".platform",
                      "platform " + p->name + " has nrps = false; discovered courses are synced through NRPS");
            }
        }
        for (const auto& other : cfg.discovery) {
            if (other.platform == d.platform && other.account == d.account && other.term == d.term && !d.account.empty())
                c.add(where, label + ".account", "account " + d.account + " of platform " + d.platform +
                                                     " is listed twice (with the same term)");
        }
        cfg.discovery.push_back(std::move(d));
    }
}

void cross_check(context& c, config& cfg)
{
    std::set<std::string, std::less<>> budget_names;
    for (std::size_t i = 0; i < cfg.budgets.size(); ++i) {
        const auto& b = cfg.budgets[i];
        if (!b.name.empty() && !budget_names.insert(b.name).second)
            c.add(c.budget_where.at(i), "budgets[" + b.name + "].name",
                  "is used by two [[budgets]]; names must differ");
    }
    std::set<std::string, std::less<>> names;
    std::set<std::pair<std::string, std::string>> identities;
    for (std::size_t i = 0; i < cfg.platforms.size(); ++i) {
        const auto& p = cfg.platforms[i];
        const std::string& where = c.platform_where.at(i);
        std::string label = "platforms[" + p.name + "]";
        if (!p.name.empty() && !names.insert(p.name).second)
            c.add(where, label + ".name", "is used by two [[platforms]]; names must differ");
        if (!p.issuer.empty() && !p.client_id.empty() &&
            !identities.insert({p.issuer, p.client_id}).second)
            c.add(where, label + ".client_id",
                  "issuer \"" + p.issuer + "\" with client_id \"" + p.client_id +
                      "\" is registered twice; each (issuer, client_id) pair names one platform");
        if (!p.budget.empty() && !budget_names.contains(p.budget))
            c.add(where, label + ".budget",
                  "names the budget \"" + p.budget + "\", but no [[budgets]] has that name");
    }
    for (const auto& [var, value] : c.env) {
        if (!var.starts_with("ROSTERSYNC_") || c.used_env.contains(var)) continue;
        c.add("environment " + var, var,
              "is not a configuration setting: expected ROSTERSYNC_<SECTION>_<KEY> naming a key "
              "of the file (platforms and budgets by name, e.g. ROSTERSYNC_PLATFORMS_CANVAS_CLOUD_"
              "CLIENT_ID)");
    }
}

result<config, problems> load_table(context& c, const toml::table& root)
{
    config cfg;
    cfg.source = c.source;
    section top(c, &root, "", "");
    read_daemon(c, top, cfg);
    read_log(c, top, cfg);
    read_kafka(c, top, cfg);
    read_sync(c, top, cfg);
    read_http(c, top, cfg);
    top.mark_known("platforms");
    top.mark_known("budgets");
    read_budgets(c, root, cfg);
    read_platforms(c, root, cfg);
    top.mark_known("discovery");
    read_discovery(c, root, cfg);
    cross_check(c, cfg);
    top.finish();
    if (!c.out.list.empty()) return c.out;
    return cfg;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// public API

std::string problem::to_string() const
{
    std::string s = where;
    if (!key.empty()) s += (s.empty() ? "" : ": ") + key;
    s += ": " + message;
    return s;
}

void throw_exception_from_error(const problems& p, const boost::source_location&)
{
    std::string all;
    for (const auto& x : p.list) all += x.to_string() + "\n";
    throw std::invalid_argument(all);
}

environment process_environment()
{
    environment env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view kv(*e);
        auto eq = kv.find('=');
        if (eq == std::string_view::npos) continue;
        auto name = kv.substr(0, eq);
        if (name.starts_with("ROSTERSYNC_") || name == "CREDENTIALS_DIRECTORY")
            env.emplace(std::string(name), std::string(kv.substr(eq + 1)));
    }
    return env;
}

result<config, problems> load_string(
    std::string_view toml_text,
    std::string_view source_name,
    const environment& env,
    const fs::path& base_dir
)
{
    problems out;
    context c{std::string(source_name), base_dir, env, out, {}};
    toml::table root;
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
        const auto& b = e.source().begin;
        out.list.push_back({std::string(source_name) + ":" + std::to_string(b.line) + ":" +
                                std::to_string(b.column),
                            "", "TOML syntax error: " + std::string(e.description())});
        return out;
    }
    return load_table(c, root);
}

result<config, problems> load_file(const fs::path& file, const environment& env)
{
    auto fail = [&](std::string why) {
        problems p;
        p.list.push_back({file.string(), "", "cannot read the file: " + std::move(why)});
        return p;
    };
    std::error_code fec;
    auto status = fs::status(file, fec);
    if (fec) return fail(fec == std::errc::no_such_file_or_directory ? "No such file or directory" : fec.message());
    if (!fs::is_regular_file(status)) return fail("not a regular file");
    std::ifstream in(file, std::ios::binary);
    if (!in) return fail(std::strerror(errno));
    std::string text;
    try {
        text.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    if (in.bad()) return fail("read error");
    auto base = fs::absolute(file).parent_path();
    return load_string(text, file.string(), env, base);
}

std::vector<std::string> restart_only_changes(const config& a, const config& b)
{
    std::vector<std::string> out;
    if (a.daemon.threads != b.daemon.threads) out.emplace_back("daemon.threads");
    if (a.http.listen.to_string() != b.http.listen.to_string()) out.emplace_back("http.listen");
    const auto& x = a.kafka;
    const auto& y = b.kafka;
    if (x.brokers != y.brokers) out.emplace_back("kafka.brokers");
    if (x.group_id != y.group_id) out.emplace_back("kafka.group_id");
    if (x.partitions != y.partitions) out.emplace_back("kafka.partitions");
    if (x.replication_factor != y.replication_factor) out.emplace_back("kafka.replication_factor");
    if (x.exactly_once != y.exactly_once) out.emplace_back("kafka.exactly_once");
    if (x.transactional_id != y.transactional_id) out.emplace_back("kafka.transactional_id");
    const auto& t = x.topics;
    const auto& u = y.topics;
    if (std::tie(t.course_seen, t.course_seen_dlq, t.membership_changes, t.memberships, t.contexts,
                 t.checkpoints, t.sync_requests) !=
        std::tie(u.course_seen, u.course_seen_dlq, u.membership_changes, u.memberships, u.contexts,
                 u.checkpoints, u.sync_requests))
        out.emplace_back("kafka.topics");
    if (x.properties != y.properties) out.emplace_back("kafka.properties");
    // Account discovery runs on the configuration the daemon started with.
    if (a.discovery != b.discovery) out.emplace_back("discovery");
    for (const auto& p : b.platforms) {
        const platform* before = a.find_platform(p.name);
        if (before != nullptr && (before->rest_url != p.rest_url || before->rest_token_file != p.rest_token_file))
            out.emplace_back("platforms[" + p.name + "].rest_url/rest_token_file");
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// config.hpp members

std::string endpoint::to_string() const
{
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

bool endpoint::is_loopback() const
{
    return host == "::1" || host.starts_with("127.");
}

const platform* config::find_platform(std::string_view name) const
{
    for (const auto& p : platforms)
        if (p.name == name) return &p;
    return nullptr;
}

const budget* config::find_budget(std::string_view name) const
{
    for (const auto& b : budgets)
        if (b.name == name) return &b;
    return nullptr;
}

}  // namespace rostersync::config
