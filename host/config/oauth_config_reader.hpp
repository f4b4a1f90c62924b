#pragma once
// Reads the `[oauth]` table of keyhold.toml (config.cpp calls this; nothing else should).
#include <toml++/toml.h>

#include <filesystem>

#include "base/status.hpp"
#include "config/oauth_config.hpp"

namespace keyhold {

// Parses `[oauth.NAME]` tables. The error names the file, line and key.
Result<OAuthProviders> read_oauth_providers(const toml::node& section,
                                            const std::filesystem::path& path);

}  // namespace keyhold
