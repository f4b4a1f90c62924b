#pragma once
// Internal: OpenSSH/systemd-creds style checks that the files holding key material or vault
// data are private to the user running keyhold, and that nobody else can put files beside
// the vault (a -wal or -shm SQLite would then write into).
//
// KEYHOLD_INSECURE_PERMISSIONS=1 in the environment turns every refusal into a warning on
// stderr, for odd setups (a shared group directory, ACL-managed files).
#include <sys/stat.h>

#include <filesystem>
#include <string_view>

#include "keyhold/vault/status.hpp"

namespace keyhold::vault {

// st describes path (from fstat or lstat). A regular file owned by the effective user (or
// root) without any group/other permission bit is fine; anything else is
// kInsecurePermissions naming what (e.g. "keyfile"), the path, its mode and the fix.
Status check_private_file(const std::filesystem::path& path, const struct stat& st,
                          std::string_view what);

// The directory that holds the vault: refused when group or others may write to it, unless
// it has the sticky bit and belongs to the effective user, or when it belongs to another
// user than the effective one or root.
Status check_vault_directory(const std::filesystem::path& dir);

// The vault file (when it exists), its -wal and -shm (when they exist; never followed if
// they are symlinks) and its directory, resolved the way SQLite resolves them.
Status check_vault_files(const std::filesystem::path& vault_path);

}  // namespace keyhold::vault
