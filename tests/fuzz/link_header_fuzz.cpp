// Link headers come from the platform: any bytes must parse or fail, never crash or hang.
#include "http/link_header.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto links = rostersync::http::parse_link_header({text});
    if (links) {
        if (auto next = rostersync::http::find_rel(*links, "next")) {
            (void)rostersync::http::resolve_reference("https://school.instructure.com/api/lti/courses/1/names_and_roles?page=1", *next);
        }
    }
    return 0;
}
