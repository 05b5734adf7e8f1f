// NRPS pages come from the platform: any bytes must parse or fail with a message, never crash.
#include "nrps/page.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto page = rostersync::nrps::parse_page(std::string_view(reinterpret_cast<const char*>(data), size), 1000);
    if (page) {
        // Every view of every member must point into memory the page owns (ASan checks the copy),
        // and its owning copy must read the same.
        for (const auto& m : page->members)
            if (!(m == m.to_member())) __builtin_trap();
    }
    return 0;
}
