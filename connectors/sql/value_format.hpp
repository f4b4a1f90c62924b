// value_format.hpp - pure helpers shared by the sql backends: how database values become
// JSON and how results become a compact text table. Base64 and durations come from the
// SDK (keyhold/sdk/base64.hpp, keyhold/sdk/options.hpp).
// Nothing here touches a database; tests/sql/value_format_test.cpp covers it.
#pragma once

#include "sql_backend.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace keyhold::sql {

// A blob as it appears in results and may appear in params: {"base64": "..."}.
json blob_to_json(std::string_view bytes);
// True for {"base64": "..."} (a blob parameter).
bool is_blob_param(const json& value);

// PostgreSQL's bytea hex output ("\x48656c6c6f") to raw bytes; nullopt if malformed.
std::optional<std::string> decode_bytea_hex(std::string_view text);

// A PostgreSQL array literal ("{1,2,NULL}", "{{a,\"b c\"},{d,e}}") to nested JSON arrays
// of strings and nulls; `element` converts each non-null element. nullopt if malformed.
std::optional<json> parse_pg_array(std::string_view text,
                                   json (*element)(std::string_view) = nullptr);

// A compact, aligned text table: header, rule, rows; values longer than max_cell are
// cut with "…". Appends "(N rows)" and a line saying whether row_limit or
// max_result_bytes cut the result.
std::string render_text_table(const QueryResult& result, std::size_t row_limit,
                              std::size_t max_result_bytes, std::size_t max_cell = 60);

// The JSON value as one table cell (strings bare, null as NULL, blobs as <blob N bytes>).
std::string cell_text(const json& value);

}  // namespace keyhold::sql
