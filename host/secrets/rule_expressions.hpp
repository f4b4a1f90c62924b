#pragma once
// How credential rules become one Hyperscan pattern set: the expressions, flags and ids.
// Shared by the redactor (compiling at run time) and the build-time precompiler
// (host/tools/precompile_rules.cpp), so a precompiled database always means the same
// patterns as a compiled one. Header-only: the precompiler links no host library.
#include <hs/hs.h>

#include <vector>

#include "secrets/credential_rules.hpp"

namespace keyhold::secrets {

struct RuleExpressions {
  std::vector<const char*> expressions;  // point into the rules: keep them alive
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;  // the rule's index
};

// som: report where each match starts (the slower database, used only to locate matches
// once the detecting one, without it, has found where they end). Both report every end
// offset of every match.
inline RuleExpressions rule_expressions(const std::vector<CredentialRule>& rules, bool som) {
  RuleExpressions out;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    out.expressions.push_back(rules[i].regex.c_str());
    out.flags.push_back((som ? HS_FLAG_SOM_LEFTMOST : 0) | HS_FLAG_DOTALL |
                        (rules[i].caseless ? HS_FLAG_CASELESS : 0));
    out.ids.push_back(static_cast<unsigned>(i));
  }
  return out;
}

}  // namespace keyhold::secrets
