#pragma once
// Credential-format rules for the redactor and the argument guard, loaded from a TOML
// data file (host/secrets/credential_rules.toml, compiled into the binary). Each rule has
// an id, a Hyperscan-compatible regex, optional keywords (at least one must appear in the
// scanned text, case-insensitively, for the rule to apply), an optional Shannon-entropy
// floor for the matched text, and one sample that must match and one that must not.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"

namespace keyhold::secrets {

struct CredentialRule {
  std::string id;     // e.g. "aws-access-key"; the marker says [REDACTED:rule:<id>]
  std::string regex;  // Hyperscan (PCRE subset) syntax; no lookaround, no backreferences
  bool caseless = false;
  std::vector<std::string> keywords;  // lowercase
  double min_entropy = 0;             // bits per byte over the matched text; 0 = no floor
  std::string description;
  std::string example;         // must be redacted
  std::string counterexample;  // must not be

  bool operator==(const CredentialRule&) const = default;
};

// Parses the rules file. kInvalidArgument "<name>: rule N: cause" when a rule lacks a
// field or repeats an id.
Result<std::vector<CredentialRule>> parse_credential_rules(std::string_view toml_text,
                                                           std::string_view name);

// The rules shipped with keyhold (the embedded credential_rules.toml). Parsed once.
const std::vector<CredentialRule>& builtin_credential_rules();

// Shannon entropy of text in bits per byte.
double shannon_entropy(std::string_view text);

}  // namespace keyhold::secrets
