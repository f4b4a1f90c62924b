// The `schemas` allowlist as a check on PostgreSQL plans (EXPLAIN (VERBOSE, FORMAT JSON)).
#include "schema_allowlist.hpp"

#include <catch2/catch.hpp>

using keyhold::json;
using namespace keyhold::sql;

namespace {
// Shaped like PostgreSQL 15's output for
//   SELECT * FROM public.t WHERE id IN (SELECT id FROM secret.s) AND EXISTS (
//     SELECT 1 FROM generate_series(1, 3))
const json kPlan = json::parse(R"([{"Plan": {
  "Node Type": "Hash Join", "Plans": [
    {"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "t",
     "Schema": "public", "Alias": "t"},
    {"Node Type": "Hash", "Plans": [
      {"Node Type": "Seq Scan", "Relation Name": "s", "Schema": "secret", "Alias": "s"}]},
    {"Node Type": "Function Scan", "Parent Relationship": "InitPlan",
     "Function Name": "generate_series", "Schema": "pg_catalog", "Alias": "generate_series"}]}}])");
}  // namespace

TEST_CASE("plan_relations lists every scanned relation and function, subplans included", "[sql]") {
  const auto r = plan_relations(kPlan);
  REQUIRE(r.size() == 3);
  CHECK(r[0].schema == "public");
  CHECK(r[0].name == "t");
  CHECK(r[1].schema == "secret");
  CHECK(r[1].node == "Seq Scan");
  CHECK(r[2].name == "generate_series");
  CHECK(plan_relations(json::object()).empty());
}

TEST_CASE("first_disallowed_relation names the first schema outside the allowlist", "[sql]") {
  const auto outside = first_disallowed_relation(kPlan, {"public"});
  REQUIRE(outside);
  CHECK(outside->schema == "secret");
  CHECK(allowlist_refusal(*outside, {"public"}) ==
        "refused: schema secret is not in this instance's `schemas` allowlist (public); the "
        "statement reads secret.s (Seq Scan)");
  // pg_catalog and information_schema are always readable.
  CHECK_FALSE(first_disallowed_relation(kPlan, {"public", "secret"}));
  CHECK_FALSE(first_disallowed_relation(kPlan, {}));
}

TEST_CASE("a relation without a schema fails closed", "[sql]") {
  const json plan = json::parse(R"([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "t"}}])");
  const auto outside = first_disallowed_relation(plan, {"public"});
  REQUIRE(outside);
  CHECK(outside->schema.empty());
  CHECK_THAT(allowlist_refusal(*outside, {"public"}),
             Catch::Matchers::Contains("without naming its schema"));
}

TEST_CASE("a foreign join pushed down names no relation and fails closed", "[sql]") {
  const json plan = json::parse(R"json([{"Plan": {"Node Type": "Foreign Scan",
      "Relations": "(secret.a) INNER JOIN (secret.b)"}}])json");
  const auto outside = first_disallowed_relation(plan, {"public"});
  REQUIRE(outside);
  CHECK(outside->schema.empty());
  CHECK(outside->name == "(secret.a) INNER JOIN (secret.b)");
}
