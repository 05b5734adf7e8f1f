#pragma once
// File: app/daemon.hpp
//
// rostersyncd's lifecycle: owns the io_context and every service, runs until a signal.
//
//   start:    HTTP server listening -> ready (/readyz 200, READY=1 to systemd)
//   SIGHUP:   reload the file; an invalid file keeps the running config and says why; settings
//             that only a restart applies are named in the log
//   SIGTERM/  not ready (/readyz 503, STOPPING=1), keep serving for daemon.shutdown_delay, then
//   SIGINT    cancel work and give it daemon.shutdown_grace; past that, or on a second signal,
//             the stop is forced (exit 1)
//
// Services live as members and the task group is joined before they are destroyed, so
// coroutines may hold references to them.
//
// Thread safety: run() blocks the calling thread and drives daemon.threads threads in all.

#include "config/config.hpp"
#include "metrics/registry.hpp"

#include <atomic>
#include <memory>
#include <string>

namespace rostersync::app {

class daemon {
public:
    daemon(config::config cfg, std::string config_path);
    ~daemon();
    daemon(const daemon&) = delete;
    daemon& operator=(const daemon&) = delete;

    /// Runs until stopped; returns the process exit code (see options.hpp).
    int run();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rostersync::app
