#pragma once
// Parsing .env files for `keyhold vault import --env-file`.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "keyhold/vault/secret_buffer.hpp"
#include "keyhold/vault/status.hpp"

namespace keyhold::vault {

struct EnvEntry {
  std::string name;
  SecretBuffer value;
};

// Parses KEY=VALUE lines: blank lines and `#` comments are skipped, an `export ` prefix is
// allowed, values may be unquoted (trimmed, ` #` starts a comment), 'single-quoted'
// (literal, may span lines) or "double-quoted" (\n \r \t \" \\ \$ escapes, may span
// lines). Errors name the line number, never the content.
Result<std::vector<EnvEntry>> parse_env_file(std::span<const std::uint8_t> text);

}  // namespace keyhold::vault
