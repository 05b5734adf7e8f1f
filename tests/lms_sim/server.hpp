#pragma once
// File: lms_sim/server.hpp
//
// The simulated platform as a real HTTP/1.1 server (Beast), plain or HTTPS, in process or behind
// the standalone `rostersync-lms-sim` binary. It answers for every host name in
// `sim.hosts` (told apart by the Host header; clients reach them through a resolve map such as
// `[http.resolve] "canvas.test:PORT" = "127.0.0.1:PORT"`), and serves the control API under
// `/_sim/` on any host name.
//
//     lms_sim::server sim({.tls = true, .sim = {.hosts = {{.name = "school.test"}}}});
//     sim.start();                                   // binds 127.0.0.1:0, runs its own thread
//     auto url = sim.base_url("school.test");        // https://school.test:PORT
//     sim.call([](sim_core& c) { c.register_client({...}); });
//     ...
//     sim.stop();                                    // graceful; also done by the destructor
//
// With `tls`, a CA is generated at start (or `tls_given` is used) and the server certificate is
// valid for every host, "localhost" and the listen address; ca_pem() is what a client trusts,
// also written to `ca_file_out` when set.
//
// Threads: the server runs one io_context on its own thread, where sim_core lives; call() runs a
// function there and waits for it. All members are safe to call from other threads.

#include "lms_sim/sim_core.hpp"
#include "lms_sim/tls_ca.hpp"

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

namespace rostersync::lms_sim {

struct server_options {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;            ///< 0: any free port
    bool tls = false;
    std::optional<tls_material> tls_given;
    std::string ca_file_out;           ///< with tls: write the CA certificate here
    std::size_t max_body_bytes = 1 << 20;
    sim_options sim;
};

class server {
public:
    explicit server(server_options opts);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Binds and starts serving on its own thread. Throws std::runtime_error naming the address
    /// when it cannot listen.
    void start();
    /// Stops accepting, closes connections, joins the thread. Idempotent.
    void stop();

    std::uint16_t port() const;
    std::string scheme() const;
    /// "https://school.test:PORT"
    std::string base_url(const std::string& host) const;
    /// "school.test:PORT" = "127.0.0.1:PORT", as [http.resolve] wants it.
    std::pair<std::string, std::string> resolve_entry(const std::string& host) const;
    /// The CA certificate clients should trust (empty without TLS).
    std::string ca_pem() const;

    /// Runs `f(core)` on the server thread and returns its result.
    template <class F>
    auto call(F&& f) -> decltype(f(std::declval<sim_core&>()))
    {
        using R = decltype(f(std::declval<sim_core&>()));
        std::packaged_task<R()> task([&] { return f(core()); });
        auto fut = task.get_future();
        post([&task] { task(); });
        return fut.get();
    }

private:
    sim_core& core();
    void post(std::function<void()> fn);

    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rostersync::lms_sim
