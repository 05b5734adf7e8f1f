// The config loader takes operator-written text: any bytes must give a config or problems, never
// a crash or a hang.
#include "config/load.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto cfg = rostersync::config::load_string(text, "fuzz.toml", {});
    if (!cfg) {
        for (const auto& p : cfg.error().list) (void)p.to_string();
    }
    return 0;
}
