#pragma once
// `keyhold oauth ...`: the host as an OAuth 2.1 client of upstream services (host/oauth/):
// login (authorization code + PKCE with a loopback redirect, or --device), client-credentials,
// status and logout. Tokens go to the vault record "oauth-token/NAME" and are never printed.
#include <CLI/CLI.hpp>

namespace keyhold::cli {

// Registers `oauth` and its children on app.
void add_oauth_command(CLI::App& app);

}  // namespace keyhold::cli
