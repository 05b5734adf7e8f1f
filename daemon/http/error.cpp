#include "http/error.hpp"

namespace rostersync::http {
namespace {

class http_category final : public error_category {
public:
    const char* name() const noexcept override { return "rostersync.http"; }

    std::string message(int v) const override
    {
        switch (static_cast<errc>(v)) {
            case errc::bad_url: return "not an absolute http(s) URL";
            case errc::scheme_not_allowed: return "plain http is not allowed for this platform (allow_http = false)";
            case errc::host_not_allowed: return "host is not in the platform's allowed_hosts";
            case errc::private_address:
                return "host resolves to a loopback, private or link-local address and is not listed literally in allowed_hosts";
            case errc::next_host_changed: return "a rel=\"next\" link points at another host";
            case errc::malformed_link_header: return "malformed Link header";
            case errc::resolve_failed: return "host name could not be resolved";
            case errc::connect_failed: return "connection failed";
            case errc::tls_failed: return "TLS handshake or certificate verification failed";
            case errc::timeout: return "deadline exceeded";
            case errc::connection_lost: return "connection lost mid-request";
            case errc::bad_response: return "malformed HTTP response";
            case errc::response_too_large: return "response body larger than the limit";
            case errc::redirect_not_followed: return "the server answered with a redirect, which API calls never follow";
            case errc::bad_encoding: return "response body encoding could not be decoded";
        }
        return "unknown rostersync.http error " + std::to_string(v);
    }

    bool retryable(int v) const noexcept override
    {
        switch (static_cast<errc>(v)) {
            case errc::resolve_failed:
            case errc::connect_failed:
            case errc::timeout:
            case errc::connection_lost:
            case errc::bad_response: return true;
            default: return false;
        }
    }
};

}  // namespace

const error_category& category() noexcept
{
    static const http_category instance;
    return instance;
}

}  // namespace rostersync::http
