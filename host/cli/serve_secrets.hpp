#pragma once
// Sets up the secret side of `keyhold serve` at startup: opens and unlocks the vault
// (cli/vault_location.hpp says where it is and how it unlocks), builds the broker and the
// redactor.
#include <memory>
#include <string>

#include "base/status.hpp"
#include "config/config.hpp"
#include "secrets/secret_services.hpp"

namespace keyhold::cli {

// Opens what serve needs. The vault is required when an instance maps a vault: source
// (then a missing unlock method or a wrong key is an error naming what to set), and
// opened opportunistically otherwise (for the audit trail) when it exists and an unlock
// method is at hand (unattended_credentials with the serve fallbacks).
// create_default: when no vault exists, create one protected by a new default keyfile
// (the embedded default's first run). Fails with a message saying what to set or create.
Result<std::unique_ptr<secrets::SecretServices>> open_secret_services(const Config& config,
                                                                      bool create_default);

}  // namespace keyhold::cli
