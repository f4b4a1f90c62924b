#pragma once
// The argument guard: a tool call whose arguments carry a credential (a known secret
// value, or text matching a credential rule) is refused, or has the credential redacted,
// before it reaches a plugin. Credentials come from the vault, never from tool input.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "secrets/redactor.hpp"

namespace keyhold::secrets {

// What the guard does with a tool argument that carries a credential.
enum class GuardMode { kBlock, kRedact, kOff };

// "block" | "redact" | "off"; nullopt for anything else.
std::optional<GuardMode> parse_guard_mode(std::string_view text);

struct GuardVerdict {
  // One line per finding: "argument 'a.b[2]' carries the secret 'db'" or "... carries a
  // credential (rule github-pat)". Names and rule ids only, never the value.
  std::vector<std::string> findings;
  bool refused = false;  // kBlock and at least one finding
  // The text of the isError result a refused call gets.
  std::string refusal() const;
};

// Scans every string in arguments at any depth, object keys included (a finding names the
// key's path, never a key that carries a credential). kOff: no scan, no findings.
// kRedact: findings are replaced in place by redaction markers, in keys too. kBlock:
// arguments untouched, refused when anything was found.
GuardVerdict guard_arguments(const Redactor& redactor, GuardMode mode, nlohmann::json& arguments);

}  // namespace keyhold::secrets
