#pragma once
// Precompiled header for app/ (Asio + Beast + coroutines are the expensive part).
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
