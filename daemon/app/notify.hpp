#pragma once
// File: app/notify.hpp
//
// systemd's notification protocol (sd_notify) through libsystemd: READY=1, STATUS=…,
// STOPPING=1, RELOADING=1 and the watchdog. Every call is a no-op when NOTIFY_SOCKET is unset,
// so the daemon runs the same outside systemd. Thread-safe (each call is one datagram).

#include <chrono>
#include <optional>
#include <string_view>

namespace rostersync::app::notify {

void ready(std::string_view status);
void status(std::string_view status);
void stopping(std::string_view status);
void reloading();
void watchdog();

/// The watchdog interval systemd asked for (WATCHDOG_USEC for this pid), if any.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace rostersync::app::notify
