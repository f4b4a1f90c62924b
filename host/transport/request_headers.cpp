#include "transport/request_headers.hpp"

#include <sodium.h>

#include <cstdlib>

namespace keyhold {

using nlohmann::json;

namespace {

constexpr std::string_view kSentinelOpen = "=?base64?";
constexpr std::string_view kSentinelClose = "?=";

Status mismatch(std::string message) {
  return Status(vault::ErrorCode::kInvalidArgument, "Header mismatch: " + std::move(message));
}

// The text a header carries for a JSON argument value, or nothing for a value no header
// can carry (objects, arrays, null).
std::optional<std::string> header_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number()) return value.dump();
  return std::nullopt;
}

bool same_value(const std::string& header, const json& body) {
  if (body.is_number()) {
    // Compared as numbers: "42.0" and 42 agree.
    char* end = nullptr;
    const double parsed = std::strtod(header.c_str(), &end);
    return end != header.c_str() && *end == '\0' && parsed == body.get<double>();
  }
  auto text = header_text(body);
  return text && *text == header;
}

}  // namespace

std::optional<std::string> decode_header_value(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  for (char c : value)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
      return std::nullopt;
  if (!value.starts_with(kSentinelOpen) || !value.ends_with(kSentinelClose) ||
      value.size() < kSentinelOpen.size() + kSentinelClose.size())
    return std::string(value);
  const std::string_view encoded = value.substr(
      kSentinelOpen.size(), value.size() - kSentinelOpen.size() - kSentinelClose.size());
  std::string decoded(encoded.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                        encoded.data(), encoded.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0)
    return std::nullopt;
  decoded.resize(length);
  return decoded;
}

Status check_standard_headers(const HeaderLookup& header, const json& request) {
  const std::string& method = request["method"].get_ref<const std::string&>();
  const json params = request.value("params", json::object());
  auto version_header = header("mcp-protocol-version");
  if (!version_header) return mismatch("the MCP-Protocol-Version header is required");
  if (params.is_object() && params.contains("_meta") && params["_meta"].is_object()) {
    const json& meta = params["_meta"];
    auto version = meta.find("io.modelcontextprotocol/protocolVersion");
    if (version != meta.end() && version->is_string() && *version != *version_header)
      return mismatch(
          "MCP-Protocol-Version does not match _meta io.modelcontextprotocol/protocolVersion");
  }
  auto method_header = header("mcp-method");
  if (!method_header) return mismatch("the Mcp-Method header is required");
  if (*method_header != method) return mismatch("Mcp-Method does not match the body's method");
  const char* name_field = method == "tools/call" || method == "prompts/get" ? "name"
                           : method == "resources/read"                      ? "uri"
                                                                             : nullptr;
  if (name_field == nullptr) return Status::ok();
  auto name_header = header("mcp-name");
  if (!name_header) return mismatch("the Mcp-Name header is required for " + method);
  auto name = decode_header_value(*name_header);
  if (!name) return mismatch("Mcp-Name holds characters a header value may not");
  auto body_name = params.is_object() ? params.find(name_field) : params.end();
  if (body_name == params.end() || !body_name->is_string() || *body_name != *name)
    return mismatch(std::string("Mcp-Name does not match params.") + name_field);
  return Status::ok();
}

Status check_param_headers(const HeaderLookup& header, const json& input_schema,
                           const json& arguments) {
  auto properties = input_schema.find("properties");
  if (properties == input_schema.end() || !properties->is_object()) return Status::ok();
  for (const auto& [property, schema] : properties->items()) {
    if (!schema.is_object()) continue;
    auto mark = schema.find("x-mcp-header");
    if (mark == schema.end() || !mark->is_string()) continue;
    const std::string header_name = "Mcp-Param-" + mark->get<std::string>();
    auto raw = header(header_name);
    auto argument = arguments.is_object() ? arguments.find(property) : arguments.end();
    const bool present = argument != arguments.end() && !argument->is_null();
    if (!present) {
      if (raw) return mismatch(header_name + " was sent for an argument the body does not carry");
      continue;
    }
    if (!raw)
      return mismatch("the " + header_name + " header is required for argument '" + property + "'");
    auto value = decode_header_value(*raw);
    if (!value) return mismatch(header_name + " holds characters a header value may not");
    if (!same_value(*value, *argument))
      return mismatch(header_name + " does not match argument '" + property + "'");
  }
  return Status::ok();
}

}  // namespace keyhold
