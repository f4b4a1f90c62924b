#pragma once
// Shared plumbing of the `keyhold vault ...` commands: where the vault is, how it unlocks,
// where values come from, how failures become exit codes. Values only ever travel in
// SecretBuffer and are written to stdout by `reveal` alone.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "cli/vault_location.hpp"
#include "keyhold/vault/vault.hpp"

namespace keyhold::cli::vault_cli {

// Exit codes of every `keyhold vault` command (also in vault/README.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitVerifyFailed = 1,  // audit --verify found a broken chain
  kExitUsage = 2,         // a malformed name, option value or input file
  kExitLocked = 3,        // no credentials, or wrong passphrase/keyfile
  kExitNotFound = 4,      // no such vault, secret, version or grant
  kExitIntegrity = 5,     // a record, header or backup failed authentication
  kExitExists = 6,        // the vault, keyfile, secret or backup already exists
  kExitError = 7,         // I/O, unsupported format, or an internal error
  kExitDenied = 8,        // a grant check said no
  kExitInsecure = 9,      // a key, passphrase or vault file (or its directory) is not private
};

// Options every vault command shares.
struct CommonOptions {
  std::string vault_path;  // --vault
};

// The words every error line of these helpers starts with: "keyhold vault: ", unless the
// running command set its own (one command runs per process; `keyhold oauth` sets
// "keyhold oauth: " before it parses).
void set_error_prefix(std::string prefix);
const std::string& error_prefix();

// Prints "<error_prefix()><message>" on stderr and throws CLI::RuntimeError with the exit
// code for status. Never returns.
[[noreturn]] void fail(const vault::Status& status);
[[noreturn]] void fail(int exit_code, const std::string& message);
int exit_code_for(vault::ErrorCode code);

// Every way an administrator writes a value under a name of their choice (vault set,
// rotate, import; `keyhold import` writes only under import/) calls this first: under the reserved
// prefix "oauth-token/" only a value that is an OAuth token record (what `keyhold oauth login`
// stores) may be written, else it fails with kExitUsage, naming the secret, never quoting the
// value. Other names pass.
void refuse_unless_token_record(const std::string& name, std::span<const std::uint8_t> value);

// Unlock credentials: KEYHOLD_KEYFILE, else KEYHOLD_PASSPHRASE_FILE, else a no-echo prompt
// on the controlling terminal. Fails with kExitLocked and instructions when none applies.
// interactive=false skips the prompt (for `status`).
std::optional<vault::Credentials> unlock_credentials(bool interactive);

// Opens and unlocks the vault, after hardening the process (no core dumps, no ptrace).
vault::Vault open_vault(const CommonOptions& options);

// Argon2id limits for new passphrases: MODERATE, or MIN when the test-only environment
// variable KEYHOLD_VAULT_INSECURE_FAST_KDF=1 is set (a warning is printed).
vault::KdfParams kdf_for_new_passphrase();

// Reads a passphrase twice from the terminal (no echo); fails when they differ or there is
// no terminal. what names it in the prompt ("new passphrase").
vault::SecretBuffer prompt_new_passphrase(const char* what);

// A value for set/rotate: --from-file PATH, --from-env VAR, or stdin (binary-safe; a
// no-echo prompt when stdin is a terminal). At most one source may be given.
struct ValueSource {
  std::string from_file;
  std::string from_env;
};
vault::SecretBuffer read_value(const ValueSource& source, const std::string& secret_name);

// Who is acting, for the audit log: "cli:<user>(uid=N)" and a fresh request id.
vault::AuditContext cli_actor();

// "2026-11-26T08:00:00Z".
std::string format_time(vault::UnixSeconds t);

// Parses "--since": a duration ago ("24h") or an absolute Unix time.
std::optional<vault::UnixSeconds> parse_since(const std::string& text, vault::UnixSeconds now);

vault::UnixSeconds now_unix();

}  // namespace keyhold::cli::vault_cli
