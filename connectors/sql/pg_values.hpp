// pg_values.hpp - pure helpers of the PostgreSQL backend: values in text format to JSON,
// parameters to text, and scrubbing a credential out of a libpq message. No libpq here;
// tests/sql/value_format_test.cpp covers them.
#pragma once

#include "sql_backend.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace keyhold::sql {

// A value as PostgreSQL sent it in text format, to JSON by the type's OID: integers and
// floats as numbers, bool as true/false, json/jsonb parsed, bytea as {"base64": ...},
// arrays of these as JSON arrays; numeric, timestamps and everything else as strings
// (numeric stays a string so no digit is lost).
json pg_text_to_json(unsigned type_oid, std::string_view text);

// The type name for well-known OIDs; empty when unknown (the backend asks the server).
std::string pg_builtin_type_name(unsigned type_oid);

// A JSON parameter as the text PostgreSQL parses for it; nullopt for SQL NULL.
// Blobs ({"base64": ...}) become bytea hex input. Throws SqlError on invalid base64.
std::optional<std::string> pg_param_text(const json& value, std::size_t index);

// Removes `secret` from a message, and when the secret is a connection URL also its
// password part (raw and percent-decoded), so no error can carry the credential.
std::string scrub_secret(std::string message, std::string_view secret);

}  // namespace keyhold::sql
