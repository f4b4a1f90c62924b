#include <hs/hs.h>
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "secrets/credential_rules.hpp"
#include "secrets/rule_expressions.hpp"
#include "secrets/rule_tail.hpp"

using namespace keyhold::secrets;

namespace {
constexpr unsigned kFlags = HS_FLAG_SOM_LEFTMOST | HS_FLAG_DOTALL;

// The printable bytes of a tail, in order.
std::string printable(const RuleTail& tail) {
  std::string out;
  for (int c = 0x20; c < 0x7f; ++c)
    if (tail.bytes.test(static_cast<std::size_t>(c))) out += static_cast<char>(c);
  return out;
}
}  // namespace

TEST_CASE("an open-ended rule splits into the shortest tail whose head is bounded") {
  const auto github = rule_tail(R"(\bgh[pousr]_[A-Za-z0-9]{36,}\b)", kFlags, 4096);
  REQUIRE(github);
  CHECK(github->head_width == 4);  // gh, one of [pousr], _
  CHECK(printable(*github) == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
  CHECK(github->bytes.count() == 62);

  // The last item is open-ended but so is the one before: both are tail.
  const auto assignment = rule_tail(R"(key=(?:[a-c]{2,}[0-9]|x)[d-e]*)", kFlags, 4096);
  REQUIRE(assignment);
  CHECK(assignment->head_width == 4);
  CHECK(printable(*assignment) == "0123456789abcdex");

  // A head longer than allowed moves into the tail.
  const auto long_head = rule_tail(R"(a{10}b+)", kFlags, 5);
  REQUIRE(long_head);
  CHECK(long_head->head_width == 0);
  CHECK(printable(*long_head) == "ab");
}

TEST_CASE("a rule's tail bytes are what Hyperscan matches with the rule's flags") {
  const auto caseless = rule_tail("tok=[a-c]+", kFlags | HS_FLAG_CASELESS, 4096);
  REQUIRE(caseless);
  CHECK(printable(*caseless) == "ABCabc");
  const auto dot = rule_tail("m.+n", kFlags, 4096);  // DOTALL: every byte, newline too
  REQUIRE(dot);
  CHECK(dot->bytes.count() == 256);
  const auto negated = rule_tail(R"(//[^\s/@]*@)", kFlags, 4096);
  REQUIRE(negated);
  CHECK(negated->head_width == 2);
  CHECK_FALSE(negated->bytes.test('/'));
  CHECK_FALSE(negated->bytes.test(' '));
  CHECK_FALSE(negated->bytes.test('\n'));
  CHECK(negated->bytes.test('@'));
  CHECK(negated->bytes.test(0x80));
  // A top-level alternation is one item: all of it is tail.
  const auto either = rule_tail("ab+|cd+", kFlags, 4096);
  REQUIRE(either);
  CHECK(either->head_width == 0);
  CHECK(printable(*either) == "abcd");
  // Lazy and possessive repeats, capturing groups, escaped metacharacters.
  const auto mixed = rule_tail(R"(x(y|\.)+?z*\++)", kFlags, 4096);
  REQUIRE(mixed);
  CHECK(mixed->head_width == 1);
  CHECK(printable(*mixed) == "+.yz");
}

TEST_CASE("syntax the tail reader does not follow gives no tail") {
  for (const char* regex :
       {"^ab+", "ab+$", "(?i)ab+", R"(\x41+)", "[[:alpha:]]+", "a{,3}b+", "(?=a)b+", "a+{",
        R"(\Qa+\E)", R"(\p{L}+)", R"((a)\1+)", "(ab+", "ab+)", "[ab+", "*a", R"(ab\)"}) {
    INFO(regex);
    CHECK_FALSE(rule_tail(regex, kFlags, 4096));
  }
}

TEST_CASE("every shipped open-ended rule has a tail, so its matches are located in windows") {
  const auto rules = builtin_credential_rules();
  const RuleExpressions set = rule_expressions(rules, true);
  int open_ended = 0;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* error = nullptr;
    REQUIRE(hs_expression_info(set.expressions[i], set.flags[i], &info, &error) == HS_SUCCESS);
    const bool unbounded = info->max_width == UINT_MAX;
    std::free(info);
    if (!unbounded) continue;
    ++open_ended;
    INFO(rules[i].id);
    const auto tail = rule_tail(rules[i].regex, set.flags[i], 4096);
    REQUIRE(tail);
    // Whitespace ends the run of every rule but those whose tail may hold anything (a
    // private key's header lines), so windows stay small in prose.
    if (rules[i].id != "private-key" && rules[i].id != "gcp-service-account-key")
      CHECK_FALSE(tail->bytes.test(' '));
  }
  CHECK(open_ended >= 15);
}

TEST_CASE("the tail reader takes any text as a rule without harm") {
  std::mt19937 rng(1129);
  const std::string bytes = "ab[]()^$|*+?{},0123\\.-:sdwbBxpQEc=";
  std::uniform_int_distribution<std::size_t> pick(0, bytes.size() - 1), length(0, 24);
  int read = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string regex;
    for (std::size_t n = length(rng); regex.size() < n;) regex += bytes[pick(rng)];
    read += rule_tail(regex, kFlags, 4096) ? 1 : 0;
  }
  CHECK(read > 100);  // some of them are rules it reads
}
