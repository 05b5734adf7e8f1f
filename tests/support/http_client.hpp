#pragma once
// A small, real HTTP/1.1 client for tests (Beast, blocking, with a deadline on every call).

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace rostersync::test {

struct http_result {
    int status = 0;          ///< 0 when the exchange failed (see error)
    std::string body;
    std::map<std::string, std::string> headers;  ///< lower-case names
    std::string error;
};

/// Where and how to connect: a resolve-map style call (connect to `address:port`, send
/// `Host: host_header`), optionally over TLS verified against `ca_pem` with SNI and host-name
/// checks for the host header's name.
struct call_options {
    std::string address = "127.0.0.1";
    unsigned short port = 0;
    std::string host_header;  ///< empty: address:port
    bool tls = false;
    std::string ca_pem;       ///< the CA to trust (TLS)
    std::string method = "GET";
    std::string target = "/";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::chrono::milliseconds timeout = std::chrono::seconds(10);
};

http_result http_call(const call_options& o);

/// One request on a fresh connection.
http_result http_request(const std::string& host, unsigned short port, const std::string& method,
                         const std::string& target, const std::string& body = {},
                         const std::vector<std::pair<std::string, std::string>>& headers = {},
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

inline http_result http_get(const std::string& host, unsigned short port, const std::string& target)
{
    return http_request(host, port, "GET", target);
}

/// Sends raw bytes and reads whatever comes back until the peer closes (or the deadline).
std::string http_raw(const std::string& host, unsigned short port, const std::string& bytes,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace rostersync::test
