#include "loader/tool_schema.hpp"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace keyhold {

ToolSchema::ToolSchema() : schema_(std::make_unique<valijson::Schema>()) {}
ToolSchema::~ToolSchema() = default;

Result<std::shared_ptr<const ToolSchema>> ToolSchema::compile(const nlohmann::json& schema,
                                                              Kind kind) {
  const std::string name = kind == Kind::kInput ? "inputSchema" : "outputSchema";
  if (!schema.is_object()) {
    return invalid_argument(name + " must be a JSON object");
  }
  auto type = schema.find("type");
  if (type == schema.end() || *type != "object") {
    return invalid_argument(name + " must have \"type\": \"object\"");
  }
  std::shared_ptr<ToolSchema> compiled(new ToolSchema());
  compiled->kind_ = kind;
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(schema);
    parser.populateSchema(adapter, *compiled->schema_);
  } catch (const std::exception& e) {
    return invalid_argument("invalid " + name + ": " + e.what());
  }
  return std::shared_ptr<const ToolSchema>(std::move(compiled));
}

namespace {
// valijson's context is like ["<root>", "[count]", "[0]"]; render "count[0]".
std::string field_path(const std::vector<std::string>& context) {
  std::string path;
  for (const auto& part : context) {
    if (part == "<root>") continue;
    std::string name = part;
    if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
      name = name.substr(1, name.size() - 2);
      const bool index = !name.empty() && name.find_first_not_of("0123456789") == std::string::npos;
      if (index) {
        path += "[" + name + "]";
        continue;
      }
      if (name.size() >= 2 && name.front() == '"' && name.back() == '"')
        name = name.substr(1, name.size() - 2);
    }
    path += (path.empty() ? "" : ".") + name;
  }
  return path;
}
}  // namespace

std::optional<std::string> ToolSchema::validate(const nlohmann::json& arguments) const {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(arguments);
  if (validator.validate(*schema_, target, &results)) return std::nullopt;
  std::string message;
  valijson::ValidationResults::Error error;
  int shown = 0;
  while (results.popError(error) && shown < 4) {
    const std::string path = field_path(error.context);
    // Skip the generic wrapper errors when a more specific one names a field.
    if (path.empty() && results.numErrors() > 0) continue;
    message += (message.empty() ? "" : "; ");
    const bool input = kind_ == Kind::kInput;
    message += path.empty() ? std::string(input ? "arguments" : "result")
                            : (input ? "argument '" : "field '") + path + "'";
    message += ": " + error.description;
    ++shown;
  }
  if (message.empty())
    message = kind_ == Kind::kInput ? "arguments do not match the tool's inputSchema"
                                    : "the result does not match the tool's outputSchema";
  return message;
}

}  // namespace keyhold
