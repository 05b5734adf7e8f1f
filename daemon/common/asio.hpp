#pragma once
// File: common/asio.hpp
//
// Aliases and completion tokens used by every coroutine in rostersync. Asio 1.26 (Boost 1.81) has
// no default completion token and no cancel_after: always pass one of these tokens, and bound
// every operation with a deadline (beast::tcp_stream::expires_after, or `op || timer`).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace rostersync {

namespace net = boost::asio;

/// `auto [ec, n] = co_await sock.async_read_some(buf, nothrow);` — expected errors as values.
inline constexpr auto nothrow = net::as_tuple(net::use_awaitable);

template <class T = void>
using awaitable = net::awaitable<T>;

}  // namespace rostersync
