#include "app/notify.hpp"

#include <systemd/sd-daemon.h>

#include <string>

namespace rostersync::app::notify {
namespace {

void send(const std::string& state)
{
    // Errors are ignored on purpose: a missing or broken notify socket must not stop the daemon.
    (void)sd_notify(0, state.c_str());
}

}  // namespace

void ready(std::string_view s) { send("READY=1\nSTATUS=" + std::string(s)); }
void status(std::string_view s) { send("STATUS=" + std::string(s)); }
void stopping(std::string_view s) { send("STOPPING=1\nSTATUS=" + std::string(s)); }
void reloading() { send("RELOADING=1"); }
void watchdog() { send("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> watchdog_interval()
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
    return std::nullopt;
}

}  // namespace rostersync::app::notify
