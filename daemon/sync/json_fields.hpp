#pragma once
// File: sync/json_fields.hpp
//
// Small helpers shared by the decoders of the daemon's Kafka records (records.cpp, state.cpp).
// Internal to sync/.

#include "common/error.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace rostersync::sync::detail {

/// A decoding error. nrps::member and change_event are aggregates that a std::string could
/// initialise, so errors are constructed explicitly.
template <class T>
result<T, std::string> fail(std::string message)
{
    return result<T, std::string>(boost::system::in_place_error, std::move(message));
}

/// A string field, or nullopt when absent or not a string.
inline std::optional<std::string> str(const boost::json::object& o, std::string_view k)
{
    auto it = o.find(k);
    if (it == o.end() || !it->value().is_string()) return std::nullopt;
    return std::string(it->value().as_string());
}

}  // namespace rostersync::sync::detail
