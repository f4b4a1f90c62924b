// value_format.hpp - pure helpers shared by the sql backends: how database values become
// JSON, how results become a compact text table, and how option strings are read.
// Nothing here touches a database; tests/sql/value_format_test.cpp covers it.
#pragma once

#include "sql_backend.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace keyhold::sql {

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view bytes);
// Decodes standard base64; std::nullopt when the text is not valid base64.
std::optional<std::string> base64_decode(std::string_view text);

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

// "15s", "500ms", "2min", "1.5" (seconds) or a JSON number of seconds.
// Throws std::invalid_argument naming the option when the value cannot be read.
std::chrono::milliseconds parse_duration(const json& value, std::string_view option_name);

// A compact, aligned text table: header, rule, rows; values longer than max_cell are
// cut with "…". Appends "(N rows)" and a line saying whether row_limit or
// max_result_bytes cut the result.
std::string render_text_table(const QueryResult& result, std::size_t row_limit,
                              std::size_t max_result_bytes, std::size_t max_cell = 60);

// The JSON value as one table cell (strings bare, null as NULL, blobs as <blob N bytes>).
std::string cell_text(const json& value);

}  // namespace keyhold::sql
