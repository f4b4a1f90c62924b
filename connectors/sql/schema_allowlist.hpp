// schema_allowlist.hpp - the `schemas` option as a check on statements. Pure: no database
// is touched; tests/sql/schema_allowlist_test.cpp covers it.
//
// SQLite enforces the allowlist in its authorizer (sqlite_backend.cpp). For PostgreSQL the
// backend plans each query/explain statement with EXPLAIN (VERBOSE, FORMAT JSON) in the
// same read-only transaction and hands the plan to first_disallowed_relation(); this is
// defence in depth, the role's privileges are the boundary (see README.md).
#pragma once

#include "sql_backend.hpp"

#include <optional>
#include <string>
#include <vector>

namespace keyhold::sql {

// Schemas every PostgreSQL statement may read besides the allowlist: the system catalog
// (built-in functions such as generate_series or unnest appear as scans of it) and the
// SQL-standard views over it. Neither holds user data.
inline const std::vector<std::string> kPostgresSystemSchemas = {"pg_catalog", "information_schema"};

// A relation or function that a plan node reads, as EXPLAIN VERBOSE names it.
struct PlanRelation {
  std::string schema;  // empty when the node names an object but no schema
  std::string name;    // "Relation Name" or "Function Name"
  std::string node;    // "Node Type", e.g. "Seq Scan"
};

// True when `schema` is in `allowlist`; an empty allowlist allows every schema.
bool schema_in_allowlist(const std::vector<std::string>& allowlist, const std::string& schema);

// Every node of an EXPLAIN (FORMAT JSON) result that names a relation or function (scans,
// modify nodes, function scans), including init plans and subplans, in plan order; a
// Foreign Scan or Custom Scan without a relation name (a pushed-down join) is listed with
// an empty schema.
// `plan` is the whole EXPLAIN result: an array of {"Plan": {...}} objects.
std::vector<PlanRelation> plan_relations(const json& plan);

// The first relation of `plan` whose schema is neither in `allowlist` nor one of
// kPostgresSystemSchemas; a node that names an object without a schema counts as
// outside (fail closed). nullopt when every relation is allowed.
std::optional<PlanRelation> first_disallowed_relation(const json& plan,
                                                      const std::vector<std::string>& allowlist);

// The isError text for a statement refused because it reads `relation`.
std::string allowlist_refusal(const PlanRelation& relation,
                              const std::vector<std::string>& allowlist);

}  // namespace keyhold::sql
