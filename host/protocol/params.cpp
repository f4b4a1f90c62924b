#include "protocol/params.hpp"

#include <array>

namespace keyhold::mcp {

using nlohmann::json;

namespace {

constexpr std::array<std::string_view, 8> kLevelNames = {
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"};

Status invalid(std::string message) {
  return Status(vault::ErrorCode::kInvalidArgument, std::move(message));
}

std::string field_name(std::string_view path) { return "\"" + std::string(path) + "\""; }

// Reads the fields of one JSON object. Every accessor checks the type before touching
// the value and records the first problem; later accessors then do nothing. The caller
// returns status() once it has read what it needs.
class FieldReader {
 public:
  // `prefix` names the object in messages ("ref." gives "\"ref.name\" must be ...").
  FieldReader(const json& object, std::string prefix) : prefix_(std::move(prefix)) {
    if (object.is_object()) object_ = &object;
  }

  // The field, or null when absent (or after an earlier problem).
  const json* find(const char* key) {
    if (object_ == nullptr || !status_.is_ok()) return nullptr;
    auto it = object_->find(key);
    return it == object_->end() ? nullptr : &*it;
  }

  std::optional<std::string> string(const char* key, bool required) {
    const json* value = find(key);
    if (value == nullptr) {
      if (required) fail(key, "is required and must be a string");
      return std::nullopt;
    }
    if (!value->is_string()) {
      fail(key, "must be a string");
      return std::nullopt;
    }
    return value->get_ref<const std::string&>();
  }

  // An optional object: the default (an empty object) when absent.
  json object(const char* key) {
    const json* value = find(key);
    if (value == nullptr) return json::object();
    if (!value->is_object()) {
      fail(key, "must be an object");
      return json::object();
    }
    return *value;
  }

  // A required object, or null after recording the problem.
  const json* required_object(const char* key) {
    const json* value = find(key);
    if (value == nullptr || !value->is_object()) {
      fail(key, value == nullptr ? "is required and must be an object" : "must be an object");
      return nullptr;
    }
    return value;
  }

  void fail(std::string_view key, std::string_view why) {
    if (status_.is_ok())
      status_ = invalid(field_name(prefix_ + std::string(key)) + " " + std::string(why));
  }

  const Status& status() const { return status_; }
  bool ok() const { return status_.is_ok(); }

 private:
  const json* object_ = nullptr;
  std::string prefix_;
  Status status_;
};

bool is_id(const json& value) { return value.is_string() || value.is_number_integer(); }

}  // namespace

std::string_view log_level_name(int level) {
  if (level < 0 || level >= static_cast<int>(kLevelNames.size())) return "info";
  return kLevelNames[static_cast<std::size_t>(level)];
}

int log_level_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kLevelNames.size(); ++i)
    if (kLevelNames[i] == name) return static_cast<int>(i);
  return -1;
}

Result<InitializeParams> parse_initialize(const json& params) {
  FieldReader in(params, "");
  InitializeParams out;
  auto version = in.string("protocolVersion", true);
  out.capabilities = in.object("capabilities");
  (void)in.object("clientInfo");
  if (!in.ok()) return in.status();
  out.protocol_version = std::move(*version);
  return out;
}

Result<ListParams> parse_list(const json& params) {
  FieldReader in(params, "");
  ListParams out;
  if (const json* cursor = in.find("cursor"); cursor != nullptr && !cursor->is_null()) {
    if (!cursor->is_string()) return invalid("\"cursor\" must be a string");
    out.cursor = cursor->get_ref<const std::string&>();
  }
  return out;
}

Result<CallToolParams> parse_call_tool(const json& params) {
  FieldReader in(params, "");
  CallToolParams out;
  auto name = in.string("name", true);
  out.arguments = in.object("arguments");
  if (!in.ok()) return in.status();
  out.name = std::move(*name);
  return out;
}

Result<GetPromptParams> parse_get_prompt(const json& params) {
  FieldReader in(params, "");
  GetPromptParams out;
  auto name = in.string("name", true);
  out.arguments = in.object("arguments");
  if (!in.ok()) return in.status();
  for (const auto& [key, value] : out.arguments.items())
    if (!value.is_string()) return invalid(field_name("arguments." + key) + " must be a string");
  out.name = std::move(*name);
  return out;
}

Result<ResourceParams> parse_resource(const json& params) {
  FieldReader in(params, "");
  auto uri = in.string("uri", true);
  if (!in.ok()) return in.status();
  return ResourceParams{std::move(*uri)};
}

Result<CompleteParams> parse_complete(const json& params) {
  FieldReader in(params, "");
  const json* ref = in.required_object("ref");
  const json* argument = in.required_object("argument");
  if (!in.ok()) return in.status();
  FieldReader arg(*argument, "argument.");
  (void)arg.string("name", true);
  (void)arg.string("value", true);
  if (!arg.ok()) return arg.status();
  (void)in.object("context");
  if (!in.ok()) return in.status();

  FieldReader r(*ref, "ref.");
  auto type = r.string("type", true);
  if (!r.ok()) return r.status();
  CompleteParams out;
  if (*type == "ref/prompt") {
    out.ref_kind = CompleteParams::RefKind::kPrompt;
    auto name = r.string("name", true);
    if (!r.ok()) return r.status();
    out.ref_target = std::move(*name);
  } else if (*type == "ref/resource") {
    out.ref_kind = CompleteParams::RefKind::kResource;
    auto uri = r.string("uri", true);
    if (!r.ok()) return r.status();
    out.ref_target = std::move(*uri);
  } else {
    return invalid("\"ref.type\" must be \"ref/prompt\" or \"ref/resource\"");
  }
  return out;
}

Result<SetLevelParams> parse_set_level(const json& params) {
  FieldReader in(params, "");
  auto name = in.string("level", true);
  const int level = name ? log_level_from_name(*name) : -1;
  if (!in.ok() || level < 0)
    return invalid(
        "\"level\" must be one of debug, info, notice, warning, error, critical, alert, "
        "emergency");
  return SetLevelParams{level};
}

Result<CancelledParams> parse_cancelled(const json& params) {
  FieldReader in(params, "");
  const json* id = in.find("requestId");
  if (id == nullptr || !is_id(*id)) return invalid("\"requestId\" must be a string or an integer");
  (void)in.string("reason", false);
  if (!in.ok()) return in.status();
  return CancelledParams{*id};
}

Result<RequestMeta> parse_meta(const json& params) {
  FieldReader in(params, "");
  const json meta = in.object("_meta");
  if (!in.ok()) return in.status();
  RequestMeta out;
  if (auto token = meta.find("progressToken"); token != meta.end()) {
    if (!token->is_string() && !token->is_number())
      return invalid("\"_meta.progressToken\" must be a string or a number");
    out.progress_token = *token;
  }
  return out;
}

namespace {
constexpr const char* kVersionKey = "io.modelcontextprotocol/protocolVersion";
}  // namespace

std::optional<std::string> requested_version(const json& params) {
  if (!params.is_object()) return std::nullopt;
  auto meta = params.find("_meta");
  if (meta == params.end() || !meta->is_object()) return std::nullopt;
  auto version = meta->find(kVersionKey);
  if (version == meta->end() || !version->is_string()) return std::nullopt;
  return version->get<std::string>();
}

Result<StatelessMeta> parse_stateless_meta(const json& params) {
  FieldReader in(params, "");
  const json* meta = in.required_object("_meta");
  if (!in.ok()) return in.status();
  FieldReader m(*meta, "_meta.");
  StatelessMeta out;
  auto version = m.string(kVersionKey, true);
  const json* capabilities = m.required_object("io.modelcontextprotocol/clientCapabilities");
  if (const json* info = m.find("io.modelcontextprotocol/clientInfo"); info != nullptr) {
    FieldReader i(*info, "_meta.io.modelcontextprotocol/clientInfo.");
    if (!info->is_object())
      return invalid("\"_meta.io.modelcontextprotocol/clientInfo\" must be an object");
    (void)i.string("name", true);
    (void)i.string("version", true);
    if (!i.ok()) return i.status();
  }
  auto level = m.string("io.modelcontextprotocol/logLevel", false);
  if (!m.ok()) return m.status();
  out.protocol_version = std::move(*version);
  out.client_capabilities = *capabilities;
  if (level) {
    out.log_level = log_level_from_name(*level);
    if (out.log_level < 0)
      return invalid("\"_meta.io.modelcontextprotocol/logLevel\" must be an MCP logging level");
  }
  return out;
}

Result<InputParams> parse_input_params(const json& params) {
  FieldReader in(params, "");
  InputParams out;
  out.input_responses = in.object("inputResponses");
  auto state = in.string("requestState", false);
  if (!in.ok()) return in.status();
  out.request_state = std::move(state);
  return out;
}

}  // namespace keyhold::mcp
