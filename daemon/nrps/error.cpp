#include "nrps/error.hpp"

namespace rostersync::nrps {
namespace {

class nrps_category final : public error_category {
public:
    const char* name() const noexcept override { return "rostersync.nrps"; }

    std::string message(int v) const override
    {
        switch (static_cast<errc>(v)) {
            case errc::malformed_page: return "a page is not a valid NRPS membership container";
            case errc::server_error: return "the platform kept failing (5xx, resets or timeouts) after retries";
            case errc::throttled: return "the budget's max_wait passed before the pass could continue";
            case errc::token_rejected: return "the platform rejected a fresh access token";
            case errc::configuration:
                return "the platform refuses this tool here (scope, tool not installed, key disabled or unbound)";
            case errc::not_found: return "the course or group does not exist (404)";
            case errc::next_loop: return "a rel=\"next\" link repeats a page already fetched";
            case errc::too_many_pages: return "the roster has more pages than the limit";
            case errc::too_many_members: return "the roster has more members than the limit";
            case errc::unexpected_status: return "the platform answered with an unexpected status";
            case errc::cancelled: return "cancelled";
        }
        return "unknown rostersync.nrps error " + std::to_string(v);
    }

    bool retryable(int v) const noexcept override
    {
        switch (static_cast<errc>(v)) {
            case errc::malformed_page:
            case errc::server_error:
            case errc::throttled:
            case errc::token_rejected:
            case errc::next_loop:
            case errc::unexpected_status: return true;
            default: return false;
        }
    }
};

}  // namespace

const error_category& category() noexcept
{
    static const nrps_category instance;
    return instance;
}

}  // namespace rostersync::nrps
