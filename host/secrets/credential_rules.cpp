#include "secrets/credential_rules.hpp"

#include <toml++/toml.h>
#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <stdexcept>

#include "secrets/credential_rules_data.hpp"  // generated: kCredentialRulesToml

namespace keyhold::secrets {

Result<std::vector<CredentialRule>> parse_credential_rules(std::string_view toml_text,
                                                           std::string_view name) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string(name));
  } catch (const toml::parse_error& e) {
    return invalid_argument(std::string(name) + ":" + std::to_string(e.source().begin.line) + ": " +
                            std::string(e.description()));
  }
  const toml::array* list = root["rule"].as_array();
  if (list == nullptr) return invalid_argument(std::string(name) + ": no [[rule]] entries");
  std::vector<CredentialRule> rules;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const toml::table* t = (*list)[i].as_table();
    auto fail = [&](const std::string& why) {
      return invalid_argument(std::string(name) + ": rule " + std::to_string(i + 1) + ": " + why);
    };
    if (t == nullptr) return fail("must be a table");
    CredentialRule rule;
    rule.id = (*t)["id"].value_or(std::string());
    rule.regex = (*t)["regex"].value_or(std::string());
    rule.description = (*t)["description"].value_or(std::string());
    rule.example = (*t)["example"].value_or(std::string());
    rule.counterexample = (*t)["counterexample"].value_or(std::string());
    rule.caseless = (*t)["caseless"].value_or(false);
    rule.min_entropy = (*t)["min_entropy"].value_or(0.0);
    if (rule.id.empty() || rule.regex.empty()) return fail("needs id and regex");
    if (rule.example.empty() || rule.counterexample.empty())
      return fail("'" + rule.id + "' needs an example and a counterexample");
    if (!ids.insert(rule.id).second) return fail("duplicate id '" + rule.id + "'");
    if (const toml::array* keywords = (*t)["keywords"].as_array()) {
      for (const auto& k : *keywords) {
        std::string word = k.value_or(std::string());
        std::transform(word.begin(), word.end(), word.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (!word.empty()) rule.keywords.push_back(std::move(word));
      }
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

const std::vector<CredentialRule>& builtin_credential_rules() {
  static const std::vector<CredentialRule> rules = [] {
    auto parsed = parse_credential_rules(kCredentialRulesToml, "credential_rules.toml");
    // The file is part of the build and its own unit test parses it; a broken one is a bug.
    if (!parsed.is_ok())
      throw std::logic_error("embedded credential rules: " + parsed.status().message());
    return std::move(parsed).value();
  }();
  return rules;
}

double shannon_entropy(std::string_view text) {
  if (text.empty()) return 0;
  std::array<std::size_t, 256> counts{};
  for (unsigned char c : text) ++counts[c];
  double entropy = 0;
  for (std::size_t n : counts) {
    if (n == 0) continue;
    const double p = static_cast<double>(n) / static_cast<double>(text.size());
    entropy -= p * std::log2(p);
  }
  return entropy;
}

}  // namespace keyhold::secrets
