#include "file_permissions.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <set>
#include <string>

namespace keyhold::vault {
namespace {

constexpr const char* kOverride = "KEYHOLD_INSECURE_PERMISSIONS";

bool override_set() {
  const char* value = std::getenv(kOverride);
  return value != nullptr && std::strcmp(value, "1") == 0;
}

std::string octal_mode(mode_t mode) {
  char out[8];
  std::snprintf(out, sizeof out, "%04o", static_cast<unsigned>(mode & 07777));
  return out;
}

bool owned_by_us_or_root(uid_t owner) { return owner == ::geteuid() || owner == 0; }

// The refusal, or (with the override) a loud warning, once per problem and process, and OK.
Status refuse(const std::string& message) {
  if (override_set()) {
    static std::mutex mutex;
    static std::set<std::string> warned;
    std::lock_guard lock(mutex);
    if (warned.insert(message).second) {
      std::cerr << "keyhold: WARNING: " << kOverride << "=1: going on although " << message << "\n";
    }
    return Status::ok();
  }
  return Status(ErrorCode::kInsecurePermissions, "refusing insecure permissions: " + message +
                                                     " (to accept this anyway, set " + kOverride +
                                                     "=1; not recommended)");
}

}  // namespace

Status check_private_file(const std::filesystem::path& path, const struct stat& st,
                          std::string_view what) {
  const std::string name = std::string(what) + " " + path.string();
  if (!S_ISREG(st.st_mode)) {
    return refuse(name + " is not a regular file (mode " + octal_mode(st.st_mode) +
                  "); remove it or point keyhold at the real file");
  }
  if (!owned_by_us_or_root(st.st_uid)) {
    return refuse(name + " is owned by uid " + std::to_string(st.st_uid) + ", not by uid " +
                  std::to_string(::geteuid()) + " who runs keyhold (mode " +
                  octal_mode(st.st_mode) + "), so another user may have written it; if it is " +
                  "yours, run `chown " + std::to_string(::geteuid()) + " " + path.string() +
                  " && chmod 600 " + path.string() + "`, otherwise remove it");
  }
  if ((st.st_mode & 077) != 0) {
    return refuse(name + " has mode " + octal_mode(st.st_mode) +
                  ", which lets group or others access it; run `chmod 600 " + path.string() + "`");
  }
  return Status::ok();
}

Status check_vault_directory(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return Status(ErrorCode::kIo,
                  "cannot inspect directory " + dir.string() + ": " + std::strerror(errno));
  }
  const std::string name = "the vault's directory " + dir.string();
  if (!owned_by_us_or_root(st.st_uid)) {
    return refuse(name + " is owned by uid " + std::to_string(st.st_uid) + ", not by uid " +
                  std::to_string(::geteuid()) + " who runs keyhold (mode " +
                  octal_mode(st.st_mode) +
                  "), so that user can replace the vault's files; move the vault into a "
                  "directory of your own (e.g. ~/.local/share/keyhold)");
  }
  const bool writable_by_others = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  const bool sticky_and_ours = (st.st_mode & S_ISVTX) != 0 && st.st_uid == ::geteuid();
  if (writable_by_others && !sticky_and_ours) {
    return refuse(name + " has mode " + octal_mode(st.st_mode) +
                  ", which lets group or others create or replace files in it (the vault's "
                  "-wal and -shm, for one); run `chmod 700 " +
                  dir.string() + "` or move the vault into a private directory");
  }
  return Status::ok();
}

Status check_vault_files(const std::filesystem::path& vault_path) {
  std::error_code ec;
  // SQLite follows a symlinked vault path and keeps -wal/-shm beside the real file.
  std::filesystem::path real = std::filesystem::canonical(vault_path, ec);
  if (ec) real = std::filesystem::absolute(vault_path, ec);
  if (auto s = check_vault_directory(real.parent_path()); !s.is_ok()) return s;
  struct stat st {};
  if (::stat(real.c_str(), &st) == 0) {
    if (auto s = check_private_file(real, st, "vault file"); !s.is_ok()) return s;
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::filesystem::path side = real.string() + suffix;
    if (::lstat(side.c_str(), &st) != 0) continue;
    if (auto s = check_private_file(side, st, "vault side file"); !s.is_ok()) return s;
  }
  return Status::ok();
}

}  // namespace keyhold::vault
