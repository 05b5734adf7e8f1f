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
