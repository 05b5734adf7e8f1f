#include "discovery/csv.hpp"

#include <stdexcept>

namespace rostersync::discovery {

namespace {
constexpr std::string_view bom = "\xEF\xBB\xBF";
}

void throw_exception_from_error(const csv_error& e, const boost::source_location&)
{
    throw std::runtime_error("line " + std::to_string(e.line) + ": " + e.message);
}

bool csv_parser::push(char c)
{
    if (field_.size() >= limits_.max_field_bytes) {
        failed_ = true;
        error_ = {record_line_, "a field is longer than " + std::to_string(limits_.max_field_bytes) + " bytes"};
        return false;
    }
    field_ += c;
    return true;
}

bool csv_parser::end_field()
{
    if (fields_.size() >= limits_.max_fields) {
        failed_ = true;
        error_ = {record_line_, "a record has more than " + std::to_string(limits_.max_fields) + " fields"};
        return false;
    }
    fields_.push_back(std::move(field_));
    field_.clear();
    return true;
}

bool csv_parser::end_record(const row_fn& on_row)
{
    if (!end_field()) return false;
    // A blank line is one empty field: skipped.
    const bool blank = fields_.size() == 1 && fields_.front().empty();
    if (!blank && on_row && !on_row(fields_, record_line_)) stopped_ = true;
    fields_.clear();
    return true;
}

result<void, csv_error> csv_parser::feed(std::string_view chunk, const row_fn& on_row)
{
    if (failed_) return error_;
    for (std::size_t i = 0; i < chunk.size() && !stopped_; ++i) {
        const char c = chunk[i];
        if (at_start_) {
            // A byte order mark may arrive split over chunks; anything else ends the check.
            if (bom_seen_ < bom.size() && c == bom[bom_seen_]) {
                if (++bom_seen_ == bom.size()) at_start_ = false;
                continue;
            }
            at_start_ = false;
            if (bom_seen_ > 0) {  // a partial BOM was data after all
                for (std::size_t k = 0; k < bom_seen_; ++k) {
                    if (st_ == state::record_start) {
                        record_line_ = line_;
                        st_ = state::unquoted;
                    }
                    if (!push(bom[k])) return error_;
                }
            }
        }
        switch (st_) {
            case state::after_cr:
                st_ = state::record_start;
                if (c == '\n') continue;  // CRLF: the record already ended at the CR
                [[fallthrough]];
            case state::record_start:
                record_line_ = line_;
                [[fallthrough]];
            case state::field_start:
                if (c == '"') {
                    st_ = state::quoted;
                } else if (c == ',') {
                    if (!end_field()) return error_;
                    st_ = state::field_start;
                } else if (c == '\n' || c == '\r') {
                    if (!end_record(on_row)) return error_;
                    ++line_;
                    st_ = c == '\r' ? state::after_cr : state::record_start;
                } else {
                    if (!push(c)) return error_;
                    st_ = state::unquoted;
                }
                break;
            case state::unquoted:
                if (c == ',') {
                    if (!end_field()) return error_;
                    st_ = state::field_start;
                } else if (c == '\n' || c == '\r') {
                    if (!end_record(on_row)) return error_;
                    ++line_;
                    st_ = c == '\r' ? state::after_cr : state::record_start;
                } else if (!push(c)) {
                    return error_;
                }
                break;
            case state::quoted:
                if (c == '"') {
                    st_ = state::quote_in_quoted;
                } else {
                    if (c == '\n') ++line_;
                    if (!push(c)) return error_;
                }
                break;
            case state::quote_in_quoted:
                if (c == '"') {  // "" inside quotes: one quote
                    if (!push('"')) return error_;
                    st_ = state::quoted;
                } else if (c == ',') {
                    if (!end_field()) return error_;
                    st_ = state::field_start;
                } else if (c == '\n' || c == '\r') {
                    if (!end_record(on_row)) return error_;
                    ++line_;
                    st_ = c == '\r' ? state::after_cr : state::record_start;
                } else {  // text after the closing quote: kept as written
                    if (!push(c)) return error_;
                    st_ = state::unquoted;
                }
                break;
        }
    }
    return {};
}

result<void, csv_error> csv_parser::finish(const row_fn& on_row)
{
    if (failed_) return error_;
    if (stopped_) return {};
    if (at_start_ && bom_seen_ > 0) {  // input was only part of a BOM
        at_start_ = false;
        record_line_ = line_;
        for (std::size_t k = 0; k < bom_seen_; ++k)
            if (!push(bom[k])) return error_;
        st_ = state::unquoted;
    }
    switch (st_) {
        case state::quoted:
            failed_ = true;
            error_ = {record_line_, "a quoted field is not closed at the end of the input"};
            return error_;
        case state::record_start:
        case state::after_cr: return {};
        case state::field_start:
        case state::unquoted:
        case state::quote_in_quoted:
            if (!end_record(on_row)) return error_;
            st_ = state::record_start;
            return {};
    }
    return {};
}

result<std::vector<std::vector<std::string>>, csv_error> parse_csv(std::string_view text, csv_limits limits)
{
    std::vector<std::vector<std::string>> rows;
    csv_parser p(limits);
    auto on_row = [&rows](const std::vector<std::string>& f, std::size_t) {
        rows.push_back(f);
        return true;
    };
    if (auto r = p.feed(text, on_row); !r) return r.error();
    if (auto r = p.finish(on_row); !r) return r.error();
    return rows;
}

}  // namespace rostersync::discovery
