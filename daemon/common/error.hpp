#pragma once
// File: common/error.hpp
//
// Errors as values. Every component that can fail defines its own `errc` enum and a category
// derived from `rostersync::error_category`, so `is_retryable()` can classify any error without
// knowing the component. Expected failures (network, bad input, bad config) travel as
// `result<T>`; only programming errors throw or abort.
//
//     result<int> parse_port(std::string_view s);
//     auto r = parse_port("80");
//     if (!r) log.warning("bad port", {{"error", r.error().message()}});
//
// Thread safety: categories are immutable singletons; everything here is safe from any thread.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <string>

namespace rostersync {

using error_code = boost::system::error_code;

/// The project's result type (`std::expected` needs C++23).
template <class T, class E = error_code>
using result = boost::system::result<T, E>;

/// Base of every rostersync error category: adds the retry classification.
class error_category : public boost::system::error_category {
public:
    /// True when trying the same operation again later may succeed.
    virtual bool retryable(int value) const noexcept = 0;
};

/// Classifies any error code: rostersync categories answer for themselves; well-known
/// transient system and Asio errors (timeouts, resets, refused connections) are retryable;
/// everything else is not.
bool is_retryable(const error_code& ec) noexcept;

namespace common {

/// Generic errors shared by components that need no category of their own.
enum class errc {
    io_error = 1,        ///< reading or writing a file or socket failed
    timeout,             ///< a deadline passed
    cancelled,           ///< the operation was cancelled (shutdown)
    invalid_argument,    ///< input failed validation
    limit_exceeded,      ///< a size or count limit was hit
};

const error_category& category() noexcept;

inline error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), category()};
}

}  // namespace common
}  // namespace rostersync

template <>
struct boost::system::is_error_code_enum<rostersync::common::errc> : std::true_type {};
