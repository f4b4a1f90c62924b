#include "sqlite_functions.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace keyhold::sql {
namespace {

// Functions that compute a value from their arguments or from the row the statement
// already reads, with no effect outside the statement: core scalar, aggregate and window
// functions, date/time, math, JSON, and the FTS3/FTS5 auxiliary functions (they read the
// full-text table the statement names). Long results (randomblob, zeroblob, printf,
// replace, group_concat) are bounded by SQLITE_LIMIT_LENGTH, not by refusing them.
// Sorted, lower case.
constexpr std::array<std::string_view, 126> kAllowed = {
    "->",
    "->>",
    "abs",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "avg",
    "bm25",
    "ceil",
    "ceiling",
    "changes",
    "char",
    "coalesce",
    "cos",
    "cosh",
    "count",
    "cume_dist",
    "current_date",
    "current_time",
    "current_timestamp",
    "date",
    "datetime",
    "degrees",
    "dense_rank",
    "exp",
    "first_value",
    "floor",
    "format",
    "fts5_source_id",
    "glob",
    "group_concat",
    "hex",
    "highlight",
    "ifnull",
    "iif",
    "instr",
    "json",
    "json_array",
    "json_array_length",
    "json_extract",
    "json_group_array",
    "json_group_object",
    "json_insert",
    "json_object",
    "json_patch",
    "json_quote",
    "json_remove",
    "json_replace",
    "json_set",
    "json_type",
    "json_valid",
    "julianday",
    "lag",
    "last_insert_rowid",
    "last_value",
    "lead",
    "length",
    "like",
    "likelihood",
    "likely",
    "ln",
    "log",
    "log10",
    "log2",
    "lower",
    "ltrim",
    "match",
    "matchinfo",
    "max",
    "min",
    "mod",
    "nth_value",
    "ntile",
    "nullif",
    "offsets",
    "percent_rank",
    "pi",
    "pow",
    "power",
    "printf",
    "quote",
    "radians",
    "random",
    "randomblob",
    "rank",
    "replace",
    "round",
    "row_number",
    "rtrim",
    "sign",
    "sin",
    "sinh",
    "snippet",
    "soundex",
    "sqlite_compileoption_get",
    "sqlite_compileoption_used",
    // SQLite's own ALTER TABLE rewrites the schema with these internal functions (a
    // client's statement cannot name them); execute on writable instances needs them.
    "sqlite_drop_column",
    "sqlite_rename_column",
    "sqlite_rename_quotefix",
    "sqlite_rename_table",
    "sqlite_rename_test",
    "sqlite_source_id",
    "sqlite_version",
    "sqrt",
    "strftime",
    "substr",
    "substring",
    "subtype",
    "sum",
    "tan",
    "tanh",
    "time",
    "total",
    "total_changes",
    "trim",
    "trunc",
    "typeof",
    "unicode",
    "unixepoch",
    "unlikely",
    "upper",
    "zeroblob",
};

static_assert(std::is_sorted(kAllowed.begin(), kAllowed.end()),
              "kAllowed must stay sorted: it is searched with std::binary_search");

struct Refusal {
  std::string_view name;
  std::string_view reason;
};

// Functions of Debian's build that reach past the statement's own values.
constexpr std::array<Refusal, 8> kRefused = {{
    {"fts3_tokenizer",
     "it returns the address of a tokenizer in memory and, with two arguments, makes SQLite "
     "call code at an address given in SQL"},
    {"fts5", "it hands the FTS5 programming interface to native extensions"},
    {"load_extension", "it loads native code into the connector"},
    {"optimize", "it rewrites a full-text index (a write inside a SELECT)"},
    {"rtreecheck", "it runs its own queries on tables named by its arguments"},
    {"rtreedepth", "it parses a blob given in SQL as an r-tree node (a debugging aid)"},
    {"rtreenode", "it parses a blob given in SQL as an r-tree node (a debugging aid)"},
    {"sqlite_log", "it writes to SQLite's error log"},
}};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

SqliteFunctionVerdict sqlite_function_verdict(std::string_view name) {
  const std::string key = lower(name);
  if (std::binary_search(kAllowed.begin(), kAllowed.end(), std::string_view(key)))
    return {true, {}};
  for (const auto& r : kRefused)
    if (r.name == key) return {false, r.reason};
  return {false, "it is not in keyhold's reviewed list of SQLite functions"};
}

bool sqlite_function_reviewed(std::string_view name) {
  const std::string key = lower(name);
  if (std::binary_search(kAllowed.begin(), kAllowed.end(), std::string_view(key))) return true;
  return std::any_of(kRefused.begin(), kRefused.end(),
                     [&](const Refusal& r) { return r.name == key; });
}

}  // namespace keyhold::sql
