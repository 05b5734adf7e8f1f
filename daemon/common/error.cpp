#include "common/error.hpp"

#include <boost/system/errc.hpp>

namespace rostersync {
namespace {

class common_category final : public error_category {
public:
    const char* name() const noexcept override { return "rostersync.common"; }

    std::string message(int value) const override
    {
        switch (static_cast<common::errc>(value)) {
            case common::errc::io_error: return "input/output error";
            case common::errc::timeout: return "deadline exceeded";
            case common::errc::cancelled: return "operation cancelled";
            case common::errc::invalid_argument: return "invalid argument";
            case common::errc::limit_exceeded: return "size or count limit exceeded";
        }
        return "unknown rostersync.common error " + std::to_string(value);
    }

    bool retryable(int value) const noexcept override
    {
        auto e = static_cast<common::errc>(value);
        return e == common::errc::io_error || e == common::errc::timeout;
    }
};

}  // namespace

const error_category& common::category() noexcept
{
    static const common_category instance;
    return instance;
}

bool is_retryable(const error_code& ec) noexcept
{
    if (!ec) return false;
    if (const auto* own = dynamic_cast<const error_category*>(&ec.category())) {
        return own->retryable(ec.value());
    }
    namespace se = boost::system::errc;
    if (ec.category() == boost::system::generic_category() ||
        ec.category() == boost::system::system_category()) {
        switch (ec.value()) {
            case se::timed_out:
            case se::connection_reset:
            case se::connection_refused:
            case se::connection_aborted:
            case se::broken_pipe:
            case se::host_unreachable:
            case se::network_unreachable:
            case se::network_down:
            case se::resource_unavailable_try_again:
            case se::interrupted: return true;
            default: return false;
        }
    }
    return false;
}

}  // namespace rostersync
