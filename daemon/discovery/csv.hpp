#pragma once
// File: discovery/csv.hpp
//
// An incremental RFC 4180 CSV parser: bytes in (in chunks of any size, as they arrive), records
// out, with bounded memory and no exceptions, so it can be fed a report of any size and fuzzed.
//
//     csv_parser p;
//     auto on_row = [&](const std::vector<std::string>& fields, std::size_t line) { …; return true; };
//     for (auto chunk : body_chunks) if (auto e = p.feed(chunk, on_row); !e) …;   // e.error().line
//     if (auto e = p.finish(on_row); !e) …;
//
// Rules: fields are separated by ',' and records by CRLF, LF or a lone CR; a field that starts
// with '"' is quoted — it may hold ',', '"' (written "") and line breaks, and ends at the
// matching quote; a quote inside an unquoted field, or text after a closing quote, is kept as
// written (lenient, as Canvas and spreadsheet exports need). A UTF-8 byte order mark at the
// start is dropped; blank lines are skipped; fields are not trimmed. An unterminated quoted field
// at the end of input, a field above `max_field_bytes` or a record above `max_fields` is an
// error naming the physical line where the record starts. `on_row` returning false stops the
// parse (feed() and finish() then return success and ignore further input).
//
// Pure; not thread-safe (one parser per stream).

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace rostersync::discovery {

struct csv_limits {
    std::size_t max_field_bytes = 64 * 1024;
    std::size_t max_fields = 1024;
};

struct csv_error {
    std::size_t line = 0;  ///< physical line (1-based) where the failing record starts
    std::string message;
};

[[noreturn]] void throw_exception_from_error(const csv_error& e, const boost::source_location& loc);

class csv_parser {
public:
    /// Called for every record with its fields and the physical line where it starts; false stops.
    using row_fn = std::function<bool(const std::vector<std::string>& fields, std::size_t line)>;

    explicit csv_parser(csv_limits limits = {}) : limits_(limits) {}

    result<void, csv_error> feed(std::string_view chunk, const row_fn& on_row);
    /// End of input: emits a last record without a line break; an open quote is an error.
    result<void, csv_error> finish(const row_fn& on_row);

    /// Physical lines seen so far.
    std::size_t lines() const { return line_; }

private:
    enum class state { record_start, field_start, unquoted, quoted, quote_in_quoted, after_cr };
    bool end_field();
    bool end_record(const row_fn& on_row);
    bool push(char c);

    csv_limits limits_;
    state st_ = state::record_start;
    std::vector<std::string> fields_;
    std::string field_;
    std::size_t line_ = 1;          // current physical line
    std::size_t record_line_ = 1;   // where the record being read started
    std::size_t bom_seen_ = 0;      // bytes of a leading BOM matched so far
    bool at_start_ = true;          // nothing but (part of) a BOM seen yet
    bool stopped_ = false;
    bool failed_ = false;
    csv_error error_;
};

/// Parses a whole text (convenience for small inputs and tests): every record, in order.
result<std::vector<std::vector<std::string>>, csv_error> parse_csv(std::string_view text, csv_limits limits = {});

}  // namespace rostersync::discovery
