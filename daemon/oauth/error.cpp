#include "oauth/error.hpp"

namespace rostersync::oauth {
namespace {

class oauth_category final : public error_category {
public:
    const char* name() const noexcept override { return "rostersync.oauth"; }

    std::string message(int v) const override
    {
        switch (static_cast<errc>(v)) {
            case errc::key_unreadable: return "the private key file cannot be read";
            case errc::key_permissions: return "the private key file is readable by group or others";
            case errc::key_invalid: return "not a PEM private key";
            case errc::key_unsupported: return "unsupported key (use RSA of at least 2048 bits or EC P-256)";
            case errc::signing_failed: return "signing the client assertion failed";
            case errc::client_rejected:
                return "the token endpoint rejected the client assertion (check client_id, key, key_id and token_url)";
            case errc::scope_rejected: return "the token endpoint did not grant the NRPS scope (developer key scopes)";
            case errc::grant_rejected: return "the token endpoint rejected the request";
            case errc::token_throttled: return "the token endpoint is rate limiting";
            case errc::token_server_error: return "the token endpoint failed (5xx)";
            case errc::bad_token_response: return "the token endpoint's answer has no usable access token";
        }
        return "unknown rostersync.oauth error " + std::to_string(v);
    }

    bool retryable(int v) const noexcept override
    {
        auto e = static_cast<errc>(v);
        return e == errc::token_throttled || e == errc::token_server_error || e == errc::bad_token_response;
    }
};

}  // namespace

const error_category& category() noexcept
{
    static const oauth_category instance;
    return instance;
}

bool is_configuration_error(const error_code& ec) noexcept
{
    if (ec.category() != category()) return false;
    switch (static_cast<errc>(ec.value())) {
        case errc::key_unreadable:
        case errc::key_permissions:
        case errc::key_invalid:
        case errc::key_unsupported:
        case errc::client_rejected:
        case errc::scope_rejected:
        case errc::grant_rejected: return true;
        default: return false;
    }
}

}  // namespace rostersync::oauth
