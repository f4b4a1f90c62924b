#pragma once
// A tool's inputSchema, compiled once at load and checked against every call's
// arguments before the plugin sees them (JSON Schema draft 7 via valijson).
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace valijson {
class Schema;
}

namespace keyhold {

class ToolSchema {
 public:
  // Compiles `schema`. Returns nullptr and the reason in *error when it is not a valid
  // JSON Schema or not an object schema (MCP requires "type": "object").
  static std::shared_ptr<const ToolSchema> compile(const nlohmann::json& schema,
                                                   std::string* error);
  ~ToolSchema();

  // Returns nothing when `arguments` conforms; otherwise a message naming the offending
  // field(s), e.g. "argument 'count': value type not permitted by 'type' constraint".
  // Thread-safe.
  std::optional<std::string> validate(const nlohmann::json& arguments) const;

 private:
  ToolSchema();
  std::unique_ptr<valijson::Schema> schema_;
};

}  // namespace keyhold
