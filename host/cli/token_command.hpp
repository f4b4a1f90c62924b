#pragma once
// `keyhold token create|list|revoke`: bearer tokens for HTTP clients of `keyhold serve
// --http`, kept in the vault as keyed hashes (see auth/token_store.hpp).
#include <CLI/CLI.hpp>

namespace keyhold::cli {

void add_token_command(CLI::App& app);

}  // namespace keyhold::cli
