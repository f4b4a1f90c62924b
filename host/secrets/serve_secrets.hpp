#pragma once
// Sets up the secret side of `keyhold serve`: opens and unlocks the vault, builds the
// broker and the redactor, and keeps the redactor's value set current while serving.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "secrets/secret_services.hpp"

namespace keyhold::secrets {

// The vault file serve uses: $KEYHOLD_VAULT, else $XDG_DATA_HOME/keyhold/vault.db.
std::filesystem::path serve_vault_path();
// The keyfile created for the embedded default: next to the default vault, "vault.key".
std::filesystem::path default_keyfile_path();

// Opens what serve needs. The vault is required when an instance maps a vault: source
// (then a missing unlock method or a wrong key is an error naming what to set), and
// opened opportunistically otherwise (for the audit trail) when it exists and an unlock
// method is at hand. Unlock: KEYHOLD_KEYFILE, KEYHOLD_PASSPHRASE_FILE, a systemd
// credential $CREDENTIALS_DIRECTORY/keyhold-vault-key, or the default keyfile.
// create_default: when no vault exists, create one protected by a new default keyfile
// (the embedded default's first run).
std::unique_ptr<SecretServices> open_secret_services(const Config& config, bool create_default,
                                                     std::string* error);

// Re-reads the releasable values into the redactor whenever the vault changes (checked
// every 250 ms), so a rotation is redacted at once. Stops in its destructor.
class RedactionRefresher {
 public:
  explicit RedactionRefresher(SecretServices& services);
  ~RedactionRefresher();
  // Reloads now; false and a message when the redactor refused the new set.
  bool reload(std::string* error);

 private:
  SecretServices& services_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace keyhold::secrets
