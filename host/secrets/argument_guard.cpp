#include "secrets/argument_guard.hpp"

namespace keyhold::secrets {

namespace {

// Collects a finding for every credential in the strings of value; path names the value.
void find_credentials(const Redactor& redactor, const nlohmann::json& value,
                      const std::string& path, std::vector<std::string>* found) {
  if (value.is_string()) {
    for (const auto& f : redactor.scan(value.get_ref<const std::string&>()))
      found->push_back(
          "argument '" + path + "' carries " +
          (f.is_rule ? "a credential (rule " + f.label + ")" : "the secret '" + f.label + "'"));
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i)
      find_credentials(redactor, value[i], path + "[" + std::to_string(i) + "]", found);
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items())
      find_credentials(redactor, item, path.empty() ? key : path + "." + key, found);
  }
}

}  // namespace

std::optional<GuardMode> parse_guard_mode(std::string_view text) {
  if (text == "block") return GuardMode::kBlock;
  if (text == "redact") return GuardMode::kRedact;
  if (text == "off") return GuardMode::kOff;
  return std::nullopt;
}

std::string GuardVerdict::refusal() const {
  if (findings.empty()) return {};
  std::string text = "refused: " + findings.front();
  if (findings.size() > 1) text += " (and " + std::to_string(findings.size() - 1) + " more)";
  return text + ". Credentials come from the keyhold vault, never from tool input.";
}

GuardVerdict guard_arguments(const Redactor& redactor, GuardMode mode, nlohmann::json& arguments) {
  GuardVerdict verdict;
  if (mode == GuardMode::kOff) return verdict;
  find_credentials(redactor, arguments, "", &verdict.findings);
  if (verdict.findings.empty()) return verdict;
  if (mode == GuardMode::kBlock) {
    verdict.refused = true;
  } else {
    redactor.redact_json(arguments);
  }
  return verdict;
}

}  // namespace keyhold::secrets
