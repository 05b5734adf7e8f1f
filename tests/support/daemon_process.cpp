#include "support/daemon_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

extern char** environ;

namespace rostersync::test {

daemon_process::daemon_process(const std::string& binary, const std::vector<std::string>& args,
                               const std::map<std::string, std::string>& env)
{
    auto sock_path = (dir_.path() / "notify.sock").string();
    notify_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (notify_fd_ < 0) throw std::runtime_error("socket() failed");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (sock_path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long");
    std::strcpy(addr.sun_path, sock_path.c_str());
    if (::bind(notify_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("bind notify socket failed");

    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> envs;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string kv(*e);
        if (kv.starts_with("ROSTERSYNC_") || kv.starts_with("NOTIFY_SOCKET=") ||
            kv.starts_with("JOURNAL_STREAM=") || kv.starts_with("WATCHDOG_"))
            continue;
        envs.push_back(kv);
    }
    envs.push_back("NOTIFY_SOCKET=" + sock_path);
    for (const auto& [k, v] : env) {
        if (k == "JOURNAL_STREAM" && v == "stderr") {
            // Pretend stderr is a journald stream: both ends of a pipe share one inode.
            struct stat st {};
            ::fstat(pipefd[1], &st);
            envs.push_back("JOURNAL_STREAM=" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino));
            continue;
        }
        envs.push_back(k + "=" + v);
    }

    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);

    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::dup2(pipefd[1], STDERR_FILENO);
        ::dup2(pipefd[1], STDOUT_FILENO);  // one stream: what a person would see in a terminal
        ::execve(binary.c_str(), argv.data(), envp.data());
        _exit(127);
    }
    ::close(pipefd[1]);
    err_fd_ = pipefd[0];
}

daemon_process::~daemon_process()
{
    if (!exit_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    if (err_fd_ >= 0) ::close(err_fd_);
    if (notify_fd_ >= 0) ::close(notify_fd_);
}

bool daemon_process::pump(std::chrono::milliseconds timeout)
{
    pollfd fds[2] = {{err_fd_, POLLIN, 0}, {notify_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(timeout.count()));
    if (n <= 0) return false;
    if (err_fd_ >= 0 && (fds[0].revents & (POLLIN | POLLHUP))) {
        char buf[4096];
        ssize_t got = ::read(err_fd_, buf, sizeof buf);
        if (got <= 0) {
            ::close(err_fd_);
            err_fd_ = -1;
        } else {
            partial_.append(buf, static_cast<std::size_t>(got));
            for (auto nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n')) {
                lines_.push_back(partial_.substr(0, nl));
                partial_.erase(0, nl + 1);
            }
        }
    }
    if (fds[1].revents & POLLIN) {
        char buf[4096];
        ssize_t got = ::recv(notify_fd_, buf, sizeof buf, 0);
        if (got > 0) notes_.emplace_back(buf, static_cast<std::size_t>(got));
    }
    return true;
}

bool daemon_process::wait_for_notify(const std::string& needle, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        for (; notes_seen_ < notes_.size(); ++notes_seen_) {
            if (notes_[notes_seen_].find(needle) != std::string::npos) {
                ++notes_seen_;
                return true;
            }
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !pump(left)) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
        }
    }
}

std::optional<std::string> daemon_process::wait_for_log(const std::string& needle,
                                                        std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        for (; lines_seen_ < lines_.size(); ++lines_seen_) {
            if (lines_[lines_seen_].find(needle) != std::string::npos) return lines_[lines_seen_++];
        }
        if (err_fd_ < 0) return std::nullopt;  // the process closed stderr: nothing more comes
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        pump(left);
    }
}

std::string daemon_process::log_text() const
{
    std::string all;
    for (const auto& l : lines_) all += l + "\n";
    return all + partial_;
}

void daemon_process::signal(int sig)
{
    if (pid_ > 0 && !exit_) ::kill(pid_, sig);
}

std::optional<int> daemon_process::wait_exit(std::chrono::milliseconds timeout)
{
    if (exit_) return exit_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    // Drain stderr until EOF (the process has exited or closed it), then reap.
    while (err_fd_ >= 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        pump(left);
    }
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            return exit_;
        }
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        // stderr is closed; the exit follows within moments. Wait on the notify socket as a
        // bounded tick rather than spinning.
        pollfd p{notify_fd_, POLLIN, 0};
        ::poll(&p, 1, 10);
        if (p.revents & POLLIN) pump(std::chrono::milliseconds(0));
    }
}

std::string logfmt_field(const std::string& line, const std::string& key)
{
    std::string pat = " " + key + "=";
    auto pos = line.find(pat);
    if (pos == std::string::npos) {
        if (line.starts_with(key + "=")) pos = 0, pat = key + "=";
        else return {};
    }
    pos += pat.size();
    if (pos < line.size() && line[pos] == '"') {
        std::string out;
        for (++pos; pos < line.size() && line[pos] != '"'; ++pos) {
            if (line[pos] == '\\' && pos + 1 < line.size()) ++pos;
            out += line[pos];
        }
        return out;
    }
    auto end = line.find(' ', pos);
    return line.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

}  // namespace rostersync::test
