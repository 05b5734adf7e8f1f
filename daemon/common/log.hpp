#pragma once
// File: common/log.hpp
//
// The logging facade: one structured line per event on stderr, as logfmt (default) or JSON.
//
//     log::logger lg{"app"};
//     lg.info("http server listening", {{"address", "127.0.0.1:9464"}});
//     // logfmt:  ts=2026-11-27T10:00:00.123Z level=info component=app msg="http server listening"
//     //          address=127.0.0.1:9464
//
// When stderr is connected to journald (JOURNAL_STREAM names it), each line starts with a
// `<N>` priority prefix instead of a timestamp, since journald stamps lines itself.
//
// Policy: no secrets (tokens, keys, passwords) and no personal data (names, emails, user ids)
// at info level or above. Course and user ids may appear at debug level only.
//
// Thread safety: loggers are cheap values; all of them write through one process-wide core whose
// configuration and sink are guarded by a mutex, so lines from different threads never interleave.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace rostersync::log {

enum class level { debug = 0, info = 1, warning = 2, error = 3 };
enum class format { logfmt, json };

/// A field's value, rendered at construction (strings quoted as needed by the format).
class value {
public:
    value(std::string_view s) : text_(s), is_string_(true) {}
    value(const std::string& s) : text_(s), is_string_(true) {}
    value(const char* s) : text_(s), is_string_(true) {}
    value(bool b) : text_(b ? "true" : "false") {}
    template <std::integral T>
        requires(!std::same_as<T, bool> && !std::same_as<T, char>)
    value(T n) : text_(std::to_string(n))
    {
    }
    value(double d);
    template <class Rep, class Period>
    value(std::chrono::duration<Rep, Period> d)
        : value(std::chrono::duration<double>(d).count())
    {
    }

    const std::string& text() const { return text_; }
    bool is_string() const { return is_string_; }

private:
    std::string text_;
    bool is_string_ = false;
};

using field = std::pair<std::string_view, value>;
using fields = std::initializer_list<field>;

/// Where finished lines go. The default writes to stderr; tests install a capturing sink.
using sink = std::function<void(level, std::string_view line)>;

struct options {
    level min_level = level::info;
    format fmt = format::logfmt;
};

/// Sets the level and format for every logger. Safe to call at any time (SIGHUP reload).
void configure(const options& opts);
options current_options();

/// Replaces the sink; returns the previous one. An empty sink restores stderr.
sink set_sink(sink s);

/// Parses "debug", "info", "warning", "error"; false if unknown.
bool parse_level(std::string_view text, level& out);
bool parse_format(std::string_view text, format& out);
std::string_view to_string(level l);

/// Renders one line without writing it (exposed for tests and the benchmark).
/// `timestamp` empty means none (journald mode).
std::string render(
    format fmt,
    level lvl,
    std::string_view component,
    std::string_view message,
    fields extra,
    std::string_view timestamp
);

/// A named logger for one component.
class logger {
public:
    explicit constexpr logger(std::string_view component) : component_(component) {}

    void debug(std::string_view msg, fields f = {}) const { write(level::debug, msg, f); }
    void info(std::string_view msg, fields f = {}) const { write(level::info, msg, f); }
    void warning(std::string_view msg, fields f = {}) const { write(level::warning, msg, f); }
    void error(std::string_view msg, fields f = {}) const { write(level::error, msg, f); }

    void write(level lvl, std::string_view msg, fields f) const;
    bool enabled(level lvl) const;

private:
    std::string_view component_;
};

}  // namespace rostersync::log
