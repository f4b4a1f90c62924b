#pragma once
// Typed reading of the params of every MCP request and notification the host reads
// itself. Each parse_* function checks every field it returns (presence, JSON type,
// allowed values) and never throws: a malformed field is a Status whose message names
// the field, e.g. "\"ref.name\" must be a string", which the session sends as -32602.
// Fields the host does not read (and passes to a plugin unchanged) are not checked here;
// the plugin validates its own. Nothing a client sends may reach an accessor that can
// throw (nlohmann's .at(), .value(), get<T>()).
#include <keyhold/vault/status.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace keyhold::mcp {

using vault::Result;
using vault::Status;

struct InitializeParams {
  std::string protocol_version;
  nlohmann::json capabilities = nlohmann::json::object();  // always an object
};

struct ListParams {
  std::optional<std::string> cursor;  // absent or null: the first page
};

struct CallToolParams {
  std::string name;
  nlohmann::json arguments = nlohmann::json::object();  // always an object
};

struct GetPromptParams {
  std::string name;
  nlohmann::json arguments = nlohmann::json::object();  // an object of strings
};

struct ResourceParams {
  std::string uri;
};

struct CompleteParams {
  enum class RefKind { kPrompt, kResource };
  RefKind ref_kind = RefKind::kPrompt;
  std::string ref_target;  // the prompt's name or the resource's URI (template)
};

struct SetLevelParams {
  int level = 0;  // KH_LOG_*
};

struct CancelledParams {
  nlohmann::json request_id;  // a string or an integer
};

// The request-wide fields under params._meta that the host reads.
struct RequestMeta {
  nlohmann::json progress_token;  // a string or a number, or null when absent
};

// The per-request fields of a stateless (2026-07-28) request, from params._meta.
struct StatelessMeta {
  std::string protocol_version;
  nlohmann::json client_capabilities = nlohmann::json::object();  // always an object
  int log_level = -1;  // KH_LOG_*; -1: send no notifications/message for this request
};

// The multi round-trip fields a stateless client sends when it retries a request that
// got an InputRequiredResult.
struct InputParams {
  nlohmann::json input_responses = nlohmann::json::object();  // key -> the client's result
  std::optional<std::string> request_state;  // opaque to the client; sealed by the host
};

// The revision params._meta names (io.modelcontextprotocol/protocolVersion) when it is a
// string, else nothing: a request without it belongs to an initialized session.
std::optional<std::string> requested_version(const nlohmann::json& params);

Result<InitializeParams> parse_initialize(const nlohmann::json& params);
Result<ListParams> parse_list(const nlohmann::json& params);
Result<CallToolParams> parse_call_tool(const nlohmann::json& params);
Result<GetPromptParams> parse_get_prompt(const nlohmann::json& params);
// resources/read, resources/subscribe and resources/unsubscribe.
Result<ResourceParams> parse_resource(const nlohmann::json& params);
Result<CompleteParams> parse_complete(const nlohmann::json& params);
Result<SetLevelParams> parse_set_level(const nlohmann::json& params);
Result<CancelledParams> parse_cancelled(const nlohmann::json& params);
Result<RequestMeta> parse_meta(const nlohmann::json& params);
// Requires _meta with io.modelcontextprotocol/protocolVersion and .../clientCapabilities;
// clientInfo is optional (checked when present), logLevel optional.
Result<StatelessMeta> parse_stateless_meta(const nlohmann::json& params);
Result<InputParams> parse_input_params(const nlohmann::json& params);

// MCP logging level names, indexed by KH_LOG_* ("info" for a value out of range).
std::string_view log_level_name(int level);
// The KH_LOG_* value of an MCP logging level name, or -1.
int log_level_from_name(std::string_view name);

}  // namespace keyhold::mcp
