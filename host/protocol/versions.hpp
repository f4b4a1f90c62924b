#pragma once
// MCP protocol revisions this host speaks, newest first, and the negotiation rule.
#include <array>
#include <string>
#include <string_view>

namespace keyhold::mcp {

inline constexpr std::array<std::string_view, 3> kSupportedVersions = {"2025-11-25", "2025-06-18",
                                                                       "2025-03-26"};
inline constexpr std::string_view kLatestVersion = kSupportedVersions.front();
// What a Streamable HTTP request without MCP-Protocol-Version is assumed to speak.
inline constexpr std::string_view kDefaultHttpVersion = "2025-03-26";

// The version to answer an initialize with: the client's when supported, otherwise our
// latest (the client then decides whether to continue), per the lifecycle spec.
std::string negotiate_version(std::string_view requested);

bool is_supported_version(std::string_view version);

}  // namespace keyhold::mcp
