#pragma once
// OAuth 2.0 Protected Resource Metadata (RFC 9728) of a protected resource, such as a remote
// MCP server that follows the MCP authorization spec: which authorization servers issue
// tokens for it, and which scopes it knows. The first step of discovering how to sign in to
// a server keyhold mounts by URL (`keyhold oauth discover URL`).
#include <string>
#include <vector>

#include "base/status.hpp"

namespace keyhold::oauth {

struct ProtectedResource {
  std::string metadata_url;  // where the document was read
  std::string resource;      // the resource identifier it states (equals the URL asked for)
  std::vector<std::string> authorization_servers;  // issuer identifiers, at least one
  std::vector<std::string> scopes_supported;       // may be empty
  // The scope of the resource's Bearer challenge to an unauthenticated request (space-
  // separated; empty when it named none). The MCP authorization spec prefers it to
  // scopes_supported.
  std::string challenged_scope;
};

// RFC 9728 3.1: the well-known segment "/.well-known/oauth-protected-resource" goes between
// the host and the resource's path ("https://h/mcp" -> "https://h/.well-known/oauth-
// protected-resource/mcp"); query and fragment are dropped.
std::string protected_resource_metadata_url(const std::string& resource);

// The root well-known URL ("https://h/mcp" -> "https://h/.well-known/oauth-protected-
// resource"), tried after the path one (the MCP authorization spec's order).
std::string root_protected_resource_metadata_url(const std::string& resource);

// Reads the metadata of resource (an https:// URL, or http:// on a loopback host). With
// metadata_url, from there alone. Without, as the MCP authorization spec (2025-11-25)
// orders it: first an unauthenticated MCP request (a JSON-RPC ping POSTed to resource) whose
// 401 challenge may name `resource_metadata` (RFC 9728 5.1), then the path well-known URL,
// then the root one. Refused (RFC 9728 3.3) when the document's `resource` is not resource;
// an error too when it names no authorization server or one that is not https (or loopback
// http). kNotFound when no place holds metadata.
Result<ProtectedResource> discover_protected_resource(const std::string& resource,
                                                      const std::string& metadata_url = {});

}  // namespace keyhold::oauth
