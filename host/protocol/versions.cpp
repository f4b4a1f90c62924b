#include "protocol/versions.hpp"

#include <algorithm>

namespace keyhold::mcp {

bool is_supported_version(std::string_view version) {
  return std::find(kSupportedVersions.begin(), kSupportedVersions.end(), version) !=
         kSupportedVersions.end();
}

bool is_stateless_version(std::string_view version) { return version == kStatelessVersion; }

std::string negotiate_version(std::string_view requested) {
  return std::string(is_supported_version(requested) ? requested : kLatestVersion);
}

}  // namespace keyhold::mcp
