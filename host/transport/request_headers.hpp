#pragma once
// The request metadata headers of MCP 2026-07-28 over Streamable HTTP (SEP-2243):
// Mcp-Method and Mcp-Name mirror the body so intermediaries can route without parsing it,
// and Mcp-Param-{Name} mirrors a tool argument whose inputSchema property carries
// "x-mcp-header": Name. A server must refuse a request whose headers disagree with its
// body (-32020 HeaderMismatch, HTTP 400): a proxy routing on a header and the host acting
// on the body must never see two different requests.
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.hpp"

namespace keyhold {

// The value of one request header by (case-insensitive) name, or nothing when absent.
using HeaderLookup = std::function<std::optional<std::string>(std::string_view name)>;

// A header value as sent: plain visible ASCII (surrounding blanks trimmed), or the Base64
// sentinel form "=?base64?...?=" decoded. Nothing when it holds characters a header value
// may not, or the Base64 is malformed.
std::optional<std::string> decode_header_value(std::string_view value);

// Checks MCP-Protocol-Version, Mcp-Method and Mcp-Name of a 2026-07-28 request against
// its body. The error message says which header and why; it quotes neither value (a
// header may mirror a credential).
Status check_standard_headers(const HeaderLookup& header, const nlohmann::json& request);

// Checks the Mcp-Param-* headers of a tools/call against the tool's inputSchema: each
// argument a top-level property marks with x-mcp-header must come as that header with the
// same value, and a header for an absent or null argument must not come.
Status check_param_headers(const HeaderLookup& header, const nlohmann::json& input_schema,
                           const nlohmann::json& arguments);

}  // namespace keyhold
