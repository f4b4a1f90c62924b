#pragma once
// Internal: files that appear whole or not at all.
//
// The data goes to an unnamed temporary in the target's directory (O_TMPFILE) that is linked
// to its name only once complete and synced, so a process killed at any moment leaves either
// nothing or the whole file, and never replaces an existing one. Where the file system has no
// O_TMPFILE, a named temporary ".NAME.keyhold-tmp-XXXXXXXXXXXX" is used instead, locked
// (flock) while it is written; remove_stale_temporaries deletes those whose writer died.
#include <cstdint>
#include <filesystem>
#include <span>

#include "keyhold/vault/status.hpp"

namespace keyhold::vault {

// Creates path (mode 0600) holding data, all at once. kAlreadyExists when path exists.
Status write_new_file_atomically(const std::filesystem::path& path,
                                 std::span<const std::uint8_t> data);

// Removes what killed writers left beside path: named temporaries of
// write_new_file_atomically that no process holds locked, and the "NAME.snapshot-*" and
// "NAME.restore-*" files (plain copies of a vault) that keyhold versions before schema 2
// wrote during backup and restore. Best effort; returns how many files it removed.
int remove_stale_temporaries(const std::filesystem::path& path);

}  // namespace keyhold::vault
