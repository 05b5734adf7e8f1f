#include "discovery/error.hpp"

namespace rostersync::discovery {
namespace {

class discovery_category final : public error_category {
public:
    const char* name() const noexcept override { return "rostersync.discovery"; }

    std::string message(int v) const override
    {
        switch (static_cast<errc>(v)) {
            case errc::token_file: return "the REST token file cannot be used";
            case errc::token_rejected: return "Canvas does not accept the REST API token";
            case errc::not_authorized: return "the REST API token lacks a permission this call needs";
            case errc::not_found: return "the account, report or file does not exist (404)";
            case errc::url_refused: return "a URL outside the platform's allowed hosts was refused";
            case errc::throttled: return "the REST budget's max_wait passed, or the platform kept rejecting requests";
            case errc::server_error: return "the platform kept failing (5xx, resets or timeouts) after retries";
            case errc::malformed: return "the platform's answer is not what the REST API documents";
            case errc::unexpected_status: return "the platform answered with an unexpected status";
            case errc::too_many_pages: return "the course list has more pages than the limit, or its pages loop";
            case errc::report_failed: return "the provisioning report failed on the platform";
            case errc::report_timeout: return "the provisioning report did not complete in time";
            case errc::bad_csv: return "the courses CSV cannot be read";
            case errc::platform: return "the platform refuses every NRPS call for this tool";
            case errc::kafka: return "CourseSeen events could not be published";
            case errc::cancelled: return "cancelled";
        }
        return "unknown rostersync.discovery error " + std::to_string(v);
    }

    bool retryable(int v) const noexcept override
    {
        switch (static_cast<errc>(v)) {
            case errc::throttled:
            case errc::server_error:
            case errc::malformed:
            case errc::report_timeout:
            case errc::kafka: return true;
            default: return false;
        }
    }
};

}  // namespace

const error_category& category() noexcept
{
    static const discovery_category instance;
    return instance;
}

bool is_configuration(const error_code& ec) noexcept
{
    if (ec.category() != category()) return false;
    switch (static_cast<errc>(ec.value())) {
        case errc::token_file:
        case errc::token_rejected:
        case errc::not_authorized:
        case errc::not_found:
        case errc::url_refused:
        case errc::platform: return true;
        default: return false;
    }
}

}  // namespace rostersync::discovery
