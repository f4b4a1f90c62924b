#pragma once
// MCP protocol revisions this host speaks, newest first, and the negotiation rule.
//
// Two families share one protocol core: the stateful revisions (2025-11-25 and older),
// negotiated once by initialize, and the stateless 2026-07-28, where every request names
// its revision in params._meta (see protocol/request_meta.hpp) and initialize is gone.
#include <array>
#include <string>
#include <string_view>

namespace keyhold::mcp {

// The revisions an initialize may settle on, newest first.
inline constexpr std::array<std::string_view, 3> kSupportedVersions = {"2025-11-25", "2025-06-18",
                                                                       "2025-03-26"};
inline constexpr std::string_view kLatestVersion = kSupportedVersions.front();
// The stateless revision: no initialize, per-request _meta, server/discover.
inline constexpr std::string_view kStatelessVersion = "2026-07-28";
// Every revision served, newest first (server/discover's supportedVersions).
inline constexpr std::array<std::string_view, 4> kAllVersions = {kStatelessVersion, "2025-11-25",
                                                                 "2025-06-18", "2025-03-26"};
// What a Streamable HTTP request without MCP-Protocol-Version is assumed to speak.
inline constexpr std::string_view kDefaultHttpVersion = "2025-03-26";

// The version to answer an initialize with: the client's when supported, otherwise our
// latest (the client then decides whether to continue), per the lifecycle spec.
std::string negotiate_version(std::string_view requested);

// True for the revisions an initialize may settle on (kSupportedVersions).
bool is_supported_version(std::string_view version);
// True for a stateless revision (requests carry their version in _meta).
bool is_stateless_version(std::string_view version);

}  // namespace keyhold::mcp
