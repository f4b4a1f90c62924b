#pragma once
// JSON-RPC 2.0 framing for MCP: error codes, message construction, classification and
// the guarded parse of one incoming message (size, nesting depth, UTF-8, JSON syntax).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace keyhold::rpc {

using json = nlohmann::json;

enum ErrorCode : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kResourceNotFound = -32002,  // before 2026-07-28; since then kInvalidParams
  // MCP 2025-11-25: the request needs URL-mode elicitations (data.elicitations) first.
  kUrlElicitationRequired = -32042,
  // Reserved for the MCP specification since 2026-07-28 (-32020 to -32099).
  kHeaderMismatch = -32020,                   // HTTP headers disagree with the body
  kMissingRequiredClientCapability = -32021,  // data.requiredCapabilities names it
  kUnsupportedProtocolVersion = -32022,       // data.supported, data.requested
};

struct Limits {
  std::size_t max_message_bytes = 4u << 20;  // 4 MiB
  std::size_t max_depth = 64;                // arrays + objects
};

json make_result(const json& id, json result);
json make_error(const json& id, int code, std::string_view message, json data = nullptr);
json make_notification(std::string_view method, json params);
json make_request(const json& id, std::string_view method, json params);
// serialize(make_request(id, method, params)), written without building the message (nor
// copying params): a request to a mounted server, per forwarded call.
std::string request_text(std::int64_t id, std::string_view method, const json& params);

// Serializes a message for the wire: compact, one line, invalid UTF-8 replaced by U+FFFD
// (a plugin's bad bytes must not abort the host).
std::string serialize(const json& message);

enum class Kind { kRequest, kNotification, kResponse, kInvalid };

// Classifies a parsed message. For kInvalid, *why says what is wrong and *id is the id
// to answer with (null when it could not be recovered).
Kind classify(const json& message, std::string* why, json* id);

// The deepest nesting of arrays/objects in text, skipping string contents. Stops
// counting once `stop_at` is exceeded (returns a value > stop_at).
std::size_t nesting_depth(std::string_view text, std::size_t stop_at);

// Parses one message. On success returns the JSON value; otherwise returns nothing and
// stores in *error the complete JSON-RPC error response to send.
std::optional<json> parse_message(std::string_view text, const Limits& limits, json* error);

// A stable map key for a JSON-RPC id (string and number ids never collide).
std::string id_key(const json& id);

}  // namespace keyhold::rpc
