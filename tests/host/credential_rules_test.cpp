// Every shipped credential rule: its example is redacted, its counterexample is not.
#include <catch2/catch.hpp>

#include "secrets/redactor.hpp"

using namespace keyhold::secrets;

TEST_CASE("the embedded credential rules parse and compile") {
  std::string error;
  REQUIRE_FALSE(builtin_credential_rules().empty());
  auto r = Redactor::create(builtin_credential_rules(), &error);
  INFO(error);
  REQUIRE(r);
}

TEST_CASE("each rule redacts its example and leaves its counterexample") {
  std::string error;
  auto r = Redactor::create(builtin_credential_rules(), &error);
  REQUIRE(r);
  for (const auto& rule : builtin_credential_rules()) {
    INFO("rule " << rule.id);
    auto found = r->scan(rule.example);
    bool named = std::any_of(found.begin(), found.end(),
                             [&](const Finding& f) { return f.is_rule && f.label == rule.id; });
    CHECK(named);
    CHECK(r->scan(rule.counterexample).empty());
  }
}

TEST_CASE("rule files with missing fields or duplicate ids are refused") {
  std::string error;
  CHECK_FALSE(parse_credential_rules("[[rule]]\nid = \"x\"\n", "t.toml", &error));
  CHECK(error == "t.toml: rule 1: needs id and regex");
  CHECK_FALSE(parse_credential_rules(
      "[[rule]]\nid='a'\nregex='a'\nexample='a'\ncounterexample='b'\n"
      "[[rule]]\nid='a'\nregex='b'\nexample='b'\ncounterexample='c'\n",
      "t.toml", &error));
  CHECK(error == "t.toml: rule 2: duplicate id 'a'");
}

TEST_CASE("shannon entropy") {
  CHECK(shannon_entropy("aaaa") == 0);
  CHECK(shannon_entropy("abcd") == Approx(2.0));
}
