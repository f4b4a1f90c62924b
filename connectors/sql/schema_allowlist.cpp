#include "schema_allowlist.hpp"

namespace keyhold::sql {

namespace {
void collect(const json& node, std::vector<PlanRelation>& out) {
  if (!node.is_object()) return;
  const auto text = [&](const char* key) {
    const auto it = node.find(key);
    return it != node.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string name = text("Relation Name");
  if (name.empty()) name = text("Function Name");
  const std::string type = text("Node Type");
  if (!name.empty()) {
    out.push_back({text("Schema"), name, type});
  } else if (type == "Foreign Scan" || type == "Custom Scan") {
    // A join pushed down to a foreign server (or an extension's scan) names no relation:
    // recorded without a schema, so the check fails closed.
    const std::string relations = text("Relations");
    out.push_back({"", relations.empty() ? "a scan without a relation name" : relations, type});
  }
  if (const auto it = node.find("Plans"); it != node.end() && it->is_array())
    for (const auto& child : *it) collect(child, out);
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}
}  // namespace

bool schema_in_allowlist(const std::vector<std::string>& allowlist, const std::string& schema) {
  if (allowlist.empty()) return true;
  for (const auto& s : allowlist)
    if (s == schema) return true;
  return false;
}

std::vector<PlanRelation> plan_relations(const json& plan) {
  std::vector<PlanRelation> out;
  if (!plan.is_array()) return out;
  for (const auto& entry : plan)
    if (entry.is_object())
      if (const auto it = entry.find("Plan"); it != entry.end()) collect(*it, out);
  return out;
}

std::optional<PlanRelation> first_disallowed_relation(const json& plan,
                                                      const std::vector<std::string>& allowlist) {
  for (auto& r : plan_relations(plan)) {
    if (r.schema.empty()) return r;
    if (schema_in_allowlist(allowlist, r.schema)) continue;
    bool system = false;
    for (const auto& s : kPostgresSystemSchemas) system |= s == r.schema;
    if (!system) return r;
  }
  return std::nullopt;
}

std::string allowlist_refusal(const PlanRelation& relation,
                              const std::vector<std::string>& allowlist) {
  if (relation.schema.empty())
    return "refused: the plan reads " + relation.name + " (" + relation.node +
           ") without naming its schema, so the `schemas` allowlist (" + join_names(allowlist) +
           ") cannot be checked";
  return "refused: schema " + relation.schema + " is not in this instance's `schemas` allowlist (" +
         join_names(allowlist) + "); the statement reads " + relation.schema + "." + relation.name +
         " (" + relation.node + ")";
}

}  // namespace keyhold::sql
