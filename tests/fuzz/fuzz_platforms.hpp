#pragma once
// The platforms the CourseSeen fuzzers validate against: a Canvas cloud platform with a wildcard,
// a name and an IP literal; a plain-http simulated platform on loopback (IPv4 and IPv6); a
// launch-only platform (nrps = false).
#include "config/config.hpp"

#include <string>
#include <utility>
#include <vector>

namespace rostersync::fuzz {

inline config::platform make_platform(
    std::string name,
    std::string issuer,
    std::string client_id,
    std::vector<std::string> hosts,
    bool allow_http,
    bool nrps
)
{
    config::platform p;
    p.name = std::move(name);
    p.issuer = std::move(issuer);
    p.client_id = std::move(client_id);
    p.token_url = "https://sso.example.test/login/oauth2/token";
    p.allowed_hosts = std::move(hosts);
    p.allow_http = allow_http;
    p.nrps = nrps;
    return p;
}

inline const config::config& fuzz_config()
{
    static const config::config cfg = [] {
        config::config c;
        c.platforms.push_back(make_platform(
            "canvas-cloud",
            "https://canvas.instructure.com",
            "10000000000001",
            {"*.instructure.com", "canvas.myschool.edu", "10.1.2.3"},
            false,
            true
        ));
        c.platforms.push_back(make_platform(
            "local-sim", "http://127.0.0.1:8080", "sim", {"127.0.0.1", "::1"}, true, true
        ));
        c.platforms.push_back(make_platform(
            "launch-only",
            "https://moodle.example.edu",
            "moodle-tool",
            {"moodle.example.edu"},
            false,
            false
        ));
        return c;
    }();
    return cfg;
}

}  // namespace rostersync::fuzz
