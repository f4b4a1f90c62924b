#include "loader/plugin_library.hpp"

#include <cstddef>
#include <system_error>

namespace keyhold {

PluginLibrary::PluginLibrary(boost::dll::shared_library library, const kh_plugin* definition,
                             std::filesystem::path path)
    : library_(std::move(library)), definition_(definition), path_(std::move(path)) {}

namespace {
// A field of the plugin table is readable only when the plugin's declared struct size
// covers it (tables grow at the end).
#define KH_PLUGIN_HAS(def, field) \
  ((def)->struct_size >= offsetof(kh_plugin, field) + sizeof((def)->field))

std::string check_definition(const kh_plugin* def) {
  if (def == nullptr) return "entry point returned no definition";
  if (def->struct_size < offsetof(kh_plugin, abi_minor) + sizeof(def->abi_minor))
    return "definition table is too small to be a keyhold plugin";
  if (def->abi_major != KH_ABI_MAJOR)
    return "ABI major version " + std::to_string(def->abi_major) + " does not match the host's " +
           std::to_string(KH_ABI_MAJOR) + "; rebuild the plugin against this keyhold";
  if (def->abi_minor > KH_ABI_MINOR)
    return "plugin needs ABI " + std::to_string(def->abi_major) + "." +
           std::to_string(def->abi_minor) + " but this host offers " +
           std::to_string(KH_ABI_MAJOR) + "." + std::to_string(KH_ABI_MINOR) + "; upgrade keyhold";
  if (!KH_PLUGIN_HAS(def, call)) return "definition table is truncated (struct_size too small)";
  if (def->name == nullptr || def->name[0] == '\0') return "plugin has no name";
  if (!def->create || !def->destroy || !def->describe || !def->call)
    return "plugin definition lacks create/destroy/describe/call";
  if (def->secret_count > 0 && def->secrets == nullptr)
    return "plugin declares secrets but gives no table";
  return {};
}
}  // namespace

Result<std::shared_ptr<PluginLibrary>> PluginLibrary::load(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found("file not found");
  boost::dll::shared_library library;
  try {
    library.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    // Boost.DLL puts dlerror()'s text in its message as "(dlerror system message: X)";
    // X is the useful part, the rest is an unrelated errno.
    std::string what = e.what();
    static constexpr std::string_view kMarker = "(dlerror system message: ";
    if (auto start = what.find(kMarker); start != std::string::npos) {
      auto end = what.rfind(')');
      what = what.substr(start + kMarker.size(), end == std::string::npos || end < start
                                                     ? std::string::npos
                                                     : end - start - kMarker.size());
    }
    return invalid_argument("cannot load shared library (dlerror: " + what + ")");
  }
  if (!library.has(KH_ENTRY_SYMBOL))
    return invalid_argument(std::string("not a keyhold plugin: no exported symbol ") +
                            KH_ENTRY_SYMBOL);
  auto entry = library.get<const kh_plugin*()>(KH_ENTRY_SYMBOL);
  const kh_plugin* def = entry();
  if (std::string why = check_definition(def); !why.empty()) return invalid_argument(why);
  return std::shared_ptr<PluginLibrary>(new PluginLibrary(std::move(library), def, path));
}

Result<std::filesystem::path> resolve_plugin_path(
    const std::string& reference, const std::filesystem::path& base_dir,
    const std::vector<std::filesystem::path>& search_dirs) {
  namespace fs = std::filesystem;
  const bool is_path = reference.find('/') != std::string::npos ||
                       (reference.size() > 3 && reference.ends_with(".so"));
  if (is_path) {
    fs::path p(reference);
    return fs::absolute(p.is_absolute() ? p : base_dir / p).lexically_normal();
  }
  std::error_code ec;
  for (const auto& dir : search_dirs) {
    fs::path candidate = dir / (reference + ".so");
    if (fs::exists(candidate, ec)) return candidate;
  }
  std::string searched;
  for (const auto& dir : search_dirs) searched += (searched.empty() ? "" : ", ") + dir.string();
  return not_found("no plugin named \"" + reference + "\" (looked for " + reference + ".so in " +
                   (searched.empty() ? std::string("no directories") : searched) + ")");
}

}  // namespace keyhold
