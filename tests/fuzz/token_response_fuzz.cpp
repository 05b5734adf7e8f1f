// Token endpoint answers come from the platform: any status and body must classify, never crash.
#include "oauth/assertion.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1) return 0;
    const int statuses[] = {200, 400, 401, 403, 429, 500, 503};
    int status = statuses[data[0] % 7];
    std::string detail;
    auto r = rostersync::oauth::parse_token_response(status, std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), detail);
    (void)r;
    return 0;
}
