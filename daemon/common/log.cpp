#include "common/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace rostersync::log {
namespace {

bool stderr_is_journald();

struct core {
    core() : journald(stderr_is_journald()) {}
    std::mutex mutex;
    options opts;
    sink out;
    std::atomic<int> min_level{static_cast<int>(level::info)};
    bool journald;
};

// JOURNAL_STREAM is "device:inode" of the stream journald gave us; trust it only while stderr is
// still that stream (a child that redirected stderr must not emit priority prefixes).
bool stderr_is_journald()
{
    const char* js = std::getenv("JOURNAL_STREAM");
    if (js == nullptr) return false;
    struct stat st {};
    if (fstat(STDERR_FILENO, &st) != 0) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
    return dev == static_cast<unsigned long long>(st.st_dev) &&
           ino == static_cast<unsigned long long>(st.st_ino);
}

core& the_core()
{
    static core c;
    return c;
}

int syslog_priority(level l)
{
    switch (l) {
        case level::debug: return 7;
        case level::info: return 6;
        case level::warning: return 4;
        case level::error: return 3;
    }
    return 6;
}

bool logfmt_needs_quotes(std::string_view s)
{
    if (s.empty()) return true;
    for (unsigned char c : s) {
        if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c >= 0x7f) return true;
    }
    return false;
}

void append_escaped(std::string& out, std::string_view s)
{
    static constexpr char hex[] = "0123456789abcdef";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xf];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
}

void append_logfmt(std::string& out, std::string_view key, std::string_view v)
{
    if (!out.empty()) out += ' ';
    out += key;
    out += '=';
    if (logfmt_needs_quotes(v)) {
        out += '"';
        append_escaped(out, v);
        out += '"';
    } else {
        out += v;
    }
}

void append_json(std::string& out, std::string_view key, std::string_view v, bool quoted)
{
    out += out.size() > 1 ? ",\"" : "\"";
    append_escaped(out, key);
    out += "\":";
    if (quoted) {
        out += '"';
        append_escaped(out, v);
        out += '"';
    } else {
        out += v;
    }
}

std::string utc_timestamp()
{
    using namespace std::chrono;
    const auto now = system_clock::now();
    const auto secs = time_point_cast<seconds>(now);
    const auto ms = duration_cast<milliseconds>(now - secs).count();
    const std::time_t t = system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(
        buf,
        sizeof buf,
        "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        static_cast<int>(ms)
    );
    return buf;
}

}  // namespace

value::value(double d)
{
    if (!std::isfinite(d)) {
        // "inf"/"nan" are not JSON numbers: render them as strings in both formats.
        text_ = std::isnan(d) ? "NaN" : (d > 0 ? "+Inf" : "-Inf");
        is_string_ = true;
        return;
    }
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
    text_.assign(buf, ec == std::errc{} ? end : buf);
}

void configure(const options& opts)
{
    auto& c = the_core();
    std::lock_guard lock(c.mutex);
    c.opts = opts;
    c.min_level.store(static_cast<int>(opts.min_level), std::memory_order_relaxed);
}

options current_options()
{
    auto& c = the_core();
    std::lock_guard lock(c.mutex);
    return c.opts;
}

sink set_sink(sink s)
{
    auto& c = the_core();
    std::lock_guard lock(c.mutex);
    std::swap(c.out, s);
    return s;
}

bool parse_level(std::string_view text, level& out)
{
    if (text == "debug") out = level::debug;
    else if (text == "info") out = level::info;
    else if (text == "warning") out = level::warning;
    else if (text == "error") out = level::error;
    else return false;
    return true;
}

bool parse_format(std::string_view text, format& out)
{
    if (text == "logfmt") out = format::logfmt;
    else if (text == "json") out = format::json;
    else return false;
    return true;
}

std::string_view to_string(level l)
{
    switch (l) {
        case level::debug: return "debug";
        case level::info: return "info";
        case level::warning: return "warning";
        case level::error: return "error";
    }
    return "info";
}

std::string render(
    format fmt,
    level lvl,
    std::string_view component,
    std::string_view message,
    fields extra,
    std::string_view timestamp
)
{
    std::string out;
    out.reserve(128);
    if (fmt == format::json) {
        out += '{';
        if (!timestamp.empty()) append_json(out, "ts", timestamp, true);
        append_json(out, "level", to_string(lvl), true);
        append_json(out, "component", component, true);
        append_json(out, "msg", message, true);
        for (const auto& [k, v] : extra) append_json(out, k, v.text(), v.is_string());
        out += '}';
    } else {
        if (!timestamp.empty()) append_logfmt(out, "ts", timestamp);
        append_logfmt(out, "level", to_string(lvl));
        append_logfmt(out, "component", component);
        append_logfmt(out, "msg", message);
        for (const auto& [k, v] : extra) append_logfmt(out, k, v.text());
    }
    return out;
}

bool logger::enabled(level lvl) const
{
    return static_cast<int>(lvl) >= the_core().min_level.load(std::memory_order_relaxed);
}

void logger::write(level lvl, std::string_view msg, fields f) const
{
    if (!enabled(lvl)) return;
    auto& c = the_core();
    std::lock_guard lock(c.mutex);
    std::string line = render(
        c.opts.fmt, lvl, component_, msg, f, c.journald ? std::string{} : utc_timestamp()
    );
    if (c.out) {
        c.out(lvl, line);
        return;
    }
    if (c.journald) line.insert(0, "<" + std::to_string(syslog_priority(lvl)) + ">");
    line += '\n';
    // One write(2) per line keeps lines whole even when other processes share the stream.
    std::size_t done = 0;
    while (done < line.size()) {
        ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;  // Asio's signal handlers do not use SA_RESTART
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
}

}  // namespace rostersync::log
