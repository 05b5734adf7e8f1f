#pragma once
// Runs a real binary (rostersyncd) as a child process, the way systemd would: its stderr (and
// stdout, on the same pipe) is captured line by line, and NOTIFY_SOCKET points at a datagram socket this object reads, so a
// test can wait for READY=1 / STOPPING=1 instead of sleeping. Every wait has a deadline.

#include "support/temp_dir.hpp"

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rostersync::test {

class daemon_process {
public:
    /// Starts `binary args…` with the parent's environment minus ROSTERSYNC_* and NOTIFY_SOCKET,
    /// plus `env` and NOTIFY_SOCKET. `{"JOURNAL_STREAM", "stderr"}` makes the child's stderr look
    /// like a journald stream.
    daemon_process(const std::string& binary, const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& env = {});
    ~daemon_process();  // SIGKILLs a child that is still running
    daemon_process(const daemon_process&) = delete;
    daemon_process& operator=(const daemon_process&) = delete;

    pid_t pid() const { return pid_; }

    /// Waits for a notification datagram containing `needle` (e.g. "READY=1"); false on timeout.
    bool wait_for_notify(const std::string& needle, std::chrono::milliseconds timeout);
    /// Every datagram received so far.
    const std::vector<std::string>& notifications() const { return notes_; }

    /// Waits for a stderr line containing `needle`; returns the line.
    std::optional<std::string> wait_for_log(const std::string& needle, std::chrono::milliseconds timeout);
    /// Every stderr line read so far.
    const std::vector<std::string>& log_lines() const { return lines_; }
    std::string log_text() const;

    void signal(int sig);
    /// Waits for the process to exit; returns its exit code, or -signal, or nullopt on timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);

private:
    bool pump(std::chrono::milliseconds timeout);  // reads whatever is ready; false on timeout

    temp_dir dir_;
    pid_t pid_ = -1;
    int err_fd_ = -1;
    int notify_fd_ = -1;
    std::string partial_;
    std::vector<std::string> lines_;
    std::vector<std::string> notes_;
    std::size_t notes_seen_ = 0;
    std::size_t lines_seen_ = 0;
    std::optional<int> exit_;
};

/// The value of `key=` in a logfmt line ("" when absent).
std::string logfmt_field(const std::string& line, const std::string& key);

}  // namespace rostersync::test
