#pragma once
// A temporary folder removed with everything in it when the object dies.

#include <filesystem>
#include <string>
#include <string_view>

namespace rostersync::test {

class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    /// Writes `content` to `name` inside the folder and returns the full path.
    std::filesystem::path write(std::string_view name, std::string_view content, unsigned mode = 0600) const;

private:
    std::filesystem::path path_;
};

}  // namespace rostersync::test
