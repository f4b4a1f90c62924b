#include "secrets/argument_guard.hpp"

namespace keyhold::secrets {

namespace {

// Where a value sits in the arguments: its keys and indexes from the top. The text is built
// only for a finding (a path copied per element would make a long key times a long array
// quadratic). A key that itself carries a credential is never spelled out.
struct PathStep {
  std::string_view key;  // empty with is_index
  std::size_t index = 0;
  bool is_index = false;
  bool key_carries = false;
};

std::string path_text(const std::vector<PathStep>& path) {
  std::string text;
  for (const PathStep& step : path) {
    if (step.is_index) {
      text += "[" + std::to_string(step.index) + "]";
      continue;
    }
    if (!text.empty()) text += '.';
    if (step.key_carries)
      text += "<a key that carries a credential>";
    else
      text.append(step.key);
  }
  return text;
}

std::string what(const Finding& f) {
  return f.is_rule ? "a credential (rule " + f.label + ")" : "the secret '" + f.label + "'";
}

// Collects a finding for every credential in the strings of value, keys included.
void find_credentials(const Redactor& redactor, const nlohmann::json& value,
                      std::vector<PathStep>& path, std::vector<std::string>* found) {
  if (value.is_string()) {
    for (const auto& f : redactor.scan(value.get_ref<const std::string&>()))
      found->push_back("argument '" + path_text(path) + "' carries " + what(f));
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      path.push_back({{}, i, true, false});
      find_credentials(redactor, value[i], path, found);
      path.pop_back();
    }
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      const auto in_key = redactor.scan(key);
      for (const auto& f : in_key)
        found->push_back((path.empty() ? std::string("a key of the arguments")
                                       : "a key in argument '" + path_text(path) + "'") +
                         " carries " + what(f));
      path.push_back({key, 0, false, !in_key.empty()});
      find_credentials(redactor, item, path, found);
      path.pop_back();
    }
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
  std::vector<PathStep> path;
  find_credentials(redactor, arguments, path, &verdict.findings);
  if (verdict.findings.empty()) return verdict;
  if (mode == GuardMode::kBlock) {
    verdict.refused = true;
  } else {
    redactor.redact_json(arguments);
  }
  return verdict;
}

}  // namespace keyhold::secrets
