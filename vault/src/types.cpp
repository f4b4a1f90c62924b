#include "keyhold/vault/types.hpp"

#include <array>

namespace keyhold::vault {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

constexpr std::array<Operation, 3> kAllOperations = {Operation::kReveal, Operation::kSign,
                                                     Operation::kEnv};

}  // namespace

const char* operation_name(Operation op) noexcept {
  switch (op) {
    case Operation::kReveal:
      return "reveal";
    case Operation::kSign:
      return "sign";
    case Operation::kEnv:
      return "env";
  }
  return "?";
}

std::uint32_t parse_operations(std::string_view list) noexcept {
  std::uint32_t ops = 0;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    bool known = false;
    for (Operation op : kAllOperations) {
      if (item == operation_name(op)) {
        ops |= static_cast<std::uint32_t>(op);
        known = true;
      }
    }
    if (!known) return 0;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
    if (list.empty()) return 0;  // trailing comma
  }
  return ops;
}

std::string format_operations(std::uint32_t ops) {
  std::string out;
  for (Operation op : kAllOperations) {
    if ((ops & static_cast<std::uint32_t>(op)) == 0) continue;
    if (!out.empty()) out += ',';
    out += operation_name(op);
  }
  return out;
}

const char* stage_name(Stage stage) noexcept {
  switch (stage) {
    case Stage::kCurrent:
      return "current";
    case Stage::kPrevious:
      return "previous";
    case Stage::kPending:
      return "pending";
    case Stage::kNone:
      break;
  }
  return "";
}

std::optional<std::string> validate_secret_name(std::string_view name) {
  if (name.empty()) return "a secret name cannot be empty";
  if (name.size() > 256) return "a secret name is at most 256 bytes";
  std::size_t start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '/') {
      if (!is_name_char(name[i])) {
        return "a secret name uses only letters, digits, '.', '_', '-' and '/' between segments";
      }
      continue;
    }
    const std::string_view segment = name.substr(start, i - start);
    if (segment.empty()) return "a secret name has no empty segment and no leading/trailing '/'";
    if (segment == "." || segment == "..") return "a secret name has no '.' or '..' segments";
    start = i + 1;
  }
  return std::nullopt;
}

std::optional<std::string> validate_instance_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return "an instance name is 1 to 64 bytes";
  for (char c : name) {
    if (!is_name_char(c) || c == '.') {
      return "an instance name uses only letters, digits, '_' and '-'";
    }
  }
  return std::nullopt;
}

std::optional<std::string> validate_grant_pattern(std::string_view pattern) {
  if (pattern.size() > 2 && pattern.substr(pattern.size() - 2) == "/*") {
    return validate_secret_name(pattern.substr(0, pattern.size() - 2));
  }
  return validate_secret_name(pattern);
}

GrantDecision decide_grant(std::span<const Grant> grants, std::string_view secret_name,
                           Operation op, UnixSeconds now) noexcept {
  bool expired = false;
  for (const Grant& g : grants) {
    if (!g.authentic || !grant_pattern_matches(g.pattern, secret_name)) continue;
    if ((g.operations & static_cast<std::uint32_t>(op)) == 0) continue;
    if (g.expires_at && now >= *g.expires_at) {
      expired = true;
      continue;
    }
    return GrantDecision::kAllowed;
  }
  return expired ? GrantDecision::kExpired : GrantDecision::kDenied;
}

bool grant_pattern_matches(std::string_view pattern, std::string_view secret_name) noexcept {
  if (pattern.size() > 2 && pattern.substr(pattern.size() - 2) == "/*") {
    const std::string_view prefix = pattern.substr(0, pattern.size() - 1);  // keeps the '/'
    return secret_name.size() > prefix.size() && secret_name.substr(0, prefix.size()) == prefix;
  }
  return pattern == secret_name;
}

}  // namespace keyhold::vault
