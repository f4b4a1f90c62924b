#pragma once
// One loaded plugin shared library and its checked definition table.
#include <keyhold/plugin.h>

#include <boost/dll/shared_library.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/status.hpp"

namespace keyhold {

class PluginLibrary {
 public:
  // Loads the library at `path` (RTLD_NOW | RTLD_LOCAL), finds KH_ENTRY_SYMBOL and checks
  // the definition: ABI major equal, plugin minor <= host minor, table large enough,
  // name and entry points present. An error with a one-line cause on failure (dlerror
  // text included). Instances keep the returned pointer so the library outlives every
  // object it produced.
  static Result<std::shared_ptr<PluginLibrary>> load(const std::filesystem::path& path);

  const kh_plugin& definition() const noexcept { return *definition_; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  PluginLibrary(boost::dll::shared_library library, const kh_plugin* definition,
                std::filesystem::path path);

  boost::dll::shared_library library_;
  const kh_plugin* definition_;
  std::filesystem::path path_;
};

// Finds the file for a plugin reference: a path (contains '/' or ends in ".so",
// relative to base_dir) or a bare name looked up as "<name>.so" in search_dirs, in order.
// kNotFound naming the folders searched when nothing matches.
Result<std::filesystem::path> resolve_plugin_path(
    const std::string& reference, const std::filesystem::path& base_dir,
    const std::vector<std::filesystem::path>& search_dirs);

}  // namespace keyhold
