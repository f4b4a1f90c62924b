#pragma once
// Shared helpers for the vault tests: scratch directories, fast vaults, raw SQLite access.
#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "keyhold/vault/vault.hpp"

namespace keyhold::vault::testing {

// A fresh directory under the system temp dir, removed (with its contents) on scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("keyhold-vault-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

inline std::string as_string(const SecretBuffer& buffer) { return std::string(buffer.view()); }

inline AuditContext test_actor() { return AuditContext{"test", ""}; }

inline Credentials passphrase(std::string_view text) {
  return Credentials::passphrase(SecretBuffer::copy_of(text));
}

// Creates a vault protected by a fresh keyfile (keyfile at dir/"key").
inline Vault make_keyfile_vault(const ScratchDir& dir, const std::string& name = "vault.db") {
  auto credentials = Credentials::create_keyfile(dir / (name + ".key"));
  REQUIRE(credentials.is_ok());
  auto vault =
      Vault::create(dir / name, credentials.value(), KdfParams::minimum_for_tests(), test_actor());
  INFO(vault.status().message());
  REQUIRE(vault.is_ok());
  return std::move(vault).value();
}

inline Credentials keyfile_for(const ScratchDir& dir, const std::string& name = "vault.db") {
  auto credentials = Credentials::from_keyfile(dir / (name + ".key"));
  REQUIRE(credentials.is_ok());
  return std::move(credentials).value();
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes data to path, mode 0600 (keyhold refuses key and passphrase files others can read).
inline void write_file(const std::filesystem::path& path, std::string_view data) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

inline std::vector<std::uint8_t> blob_of(SQLite::Database& db, const std::string& name,
                                         std::int64_t version) {
  SQLite::Statement q(db,
                      "SELECT v.blob FROM versions v JOIN secrets s ON s.id = v.secret_id "
                      "WHERE s.name = ? AND v.version = ?");
  q.bind(1, name);
  q.bind(2, version);
  REQUIRE(q.executeStep());
  const auto* p = static_cast<const std::uint8_t*>(q.getColumn(0).getBlob());
  return std::vector<std::uint8_t>(p, p + q.getColumn(0).getBytes());
}

inline void set_blob(SQLite::Database& db, const std::string& name, std::int64_t version,
                     const std::vector<std::uint8_t>& blob) {
  SQLite::Statement u(db,
                      "UPDATE versions SET blob = ? WHERE version = ? AND secret_id = "
                      "(SELECT id FROM secrets WHERE name = ?)");
  static const std::uint8_t kEmpty = 0;  // a null pointer would bind NULL, not an empty blob
  u.bind(1, blob.empty() ? &kEmpty : blob.data(), static_cast<int>(blob.size()));
  u.bind(2, version);
  u.bind(3, name);
  REQUIRE(u.exec() == 1);
}

// Opens the vault file directly, as an attacker with write access to the file would.
inline SQLite::Database raw_db(const std::filesystem::path& path) {
  SQLite::Database db(path.string(), SQLite::OPEN_READWRITE, 10000);
  return db;
}

}  // namespace keyhold::vault::testing
