#pragma once
// A tool's inputSchema or outputSchema, compiled once at load: every call's arguments are
// checked against the first before the plugin sees them, every structured result against
// the second before the client sees it (JSON Schema draft 7 via valijson).
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/status.hpp"

namespace valijson {
class Schema;
}

namespace keyhold {

class ToolSchema {
 public:
  enum class Kind { kInput, kOutput };
  // Compiles `schema`. kInvalidArgument naming the reason when it is not a valid JSON
  // Schema or not an object schema (MCP requires "type": "object"). Never throws.
  static Result<std::shared_ptr<const ToolSchema>> compile(const nlohmann::json& schema,
                                                           Kind kind = Kind::kInput);
  ~ToolSchema();

  // Returns nothing when `arguments` conforms; otherwise a message naming the offending
  // field(s), e.g. "argument 'count': value type not permitted by 'type' constraint"
  // ("field 'sum': ..." for an outputSchema).
  // Thread-safe.
  std::optional<std::string> validate(const nlohmann::json& arguments) const;

 private:
  ToolSchema();
  std::unique_ptr<valijson::Schema> schema_;
  Kind kind_ = Kind::kInput;
};

}  // namespace keyhold
