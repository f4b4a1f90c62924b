// Backup and restore: the vault (an in-memory snapshot, never a file) encrypted with
// crypto_secretstream under a root-derived key. The header travels in clear (it is needed
// to derive the key) and is bound to the stream as associated data of the first chunk.
//
//   file = "KHVBAK01" || u32 header length || header || secretstream header (24)
//          || { u32 chunk length || chunk }*   (the last chunk carries TAG_FINAL)
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "atomic_file.hpp"
#include "file_permissions.hpp"
#include "keyhold/vault/vault.hpp"
#include "vault_state.hpp"

namespace keyhold::vault {
namespace {

constexpr std::string_view kMagic = "KHVBAK01";
constexpr std::size_t kChunk = 64 * 1024;

crypto::Bytes encode_header(const Header& h) {
  crypto::Encoder e;
  e.i64(h.format)
      .bytes(h.vault_id)
      .str(h.unlock_method)
      .u64(h.opslimit)
      .u64(h.memlimit)
      .bytes(h.salt)
      .bytes(h.wrapped_root)
      .i64(h.created_at);
  return e.out();
}

// Reads fields written by crypto::Encoder; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
  bool u64(std::uint64_t& v) {
    if (in_.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{in_[static_cast<std::size_t>(i)]} << (8 * i);
    in_ = in_.subspan(8);
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (in_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t{in_[static_cast<std::size_t>(i)]} << (8 * i);
    in_ = in_.subspan(4);
    return true;
  }
  bool bytes(crypto::Bytes& v) {
    std::uint32_t n = 0;
    if (!u32(n) || in_.size() < n) return false;
    v.assign(in_.begin(), in_.begin() + n);
    in_ = in_.subspan(n);
    return true;
  }
  bool take(std::size_t n, std::span<const std::uint8_t>& out) {
    if (in_.size() < n) return false;
    out = in_.subspan(0, n);
    in_ = in_.subspan(n);
    return true;
  }
  bool empty() const { return in_.empty(); }

 private:
  std::span<const std::uint8_t> in_;
};

bool decode_header(std::span<const std::uint8_t> in, Header& h) {
  Reader r(in);
  std::uint64_t format = 0, created = 0;
  crypto::Bytes method;
  if (!r.u64(format) || !r.bytes(h.vault_id) || !r.bytes(method) || !r.u64(h.opslimit) ||
      !r.u64(h.memlimit) || !r.bytes(h.salt) || !r.bytes(h.wrapped_root) || !r.u64(created) ||
      !r.empty()) {
    return false;
  }
  h.format = static_cast<std::int64_t>(format);
  h.unlock_method.assign(method.begin(), method.end());
  h.created_at = static_cast<std::int64_t>(created);
  return true;
}

void put_u32(crypto::Bytes& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// SQLite's file header bytes 18-19 (write/read format): 2 in WAL mode, 1 otherwise. An
// in-memory image must say 1 to be opened from memory, and backups hold such images.
void clear_wal_mode(std::span<std::uint8_t> image) {
  if (image.size() >= 100 && image[18] == 2 && image[19] == 2) image[18] = image[19] = 1;
}

// An in-memory SQLite database (the "memdb" VFS) whose pages can be read and zeroed in
// place. Nothing of it ever reaches a file.
std::unique_ptr<SQLite::Database> open_memory_database() {
  auto db =
      std::make_unique<SQLite::Database>(":memory:", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  const int rc =
      sqlite3_deserialize(db->getHandle(), "main", nullptr, 0, 0,
                          SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
  if (rc != SQLITE_OK) throw SQLite::Exception(db->getHandle(), rc);
  db->exec("PRAGMA temp_store = MEMORY");
  db->exec("PRAGMA secure_delete = ON");
  db->exec("PRAGMA foreign_keys = ON");
  return db;
}

// The pages of an in-memory database, borrowed: valid until it is changed or closed.
std::span<std::uint8_t> memory_image(SQLite::Database& db) {
  sqlite3_int64 size = 0;
  unsigned char* data = sqlite3_serialize(db.getHandle(), "main", &size, SQLITE_SERIALIZE_NOCOPY);
  if (data == nullptr) return {};
  return {data, static_cast<std::size_t>(size)};
}

// Copies a consistent snapshot of the vault (one read transaction) into memory, for backup.
// The memory database's pages are zeroed before it closes.
Result<SecretBuffer> snapshot_in_memory(SQLite::Database& vault_db) {
  auto memory = open_memory_database();
  sqlite3_backup* copy =
      sqlite3_backup_init(memory->getHandle(), "main", vault_db.getHandle(), "main");
  if (copy == nullptr) throw SQLite::Exception(memory->getHandle());
  const int step = sqlite3_backup_step(copy, -1);
  const int finished = sqlite3_backup_finish(copy);
  if (step != SQLITE_DONE || finished != SQLITE_OK) {
    throw SQLite::Exception(memory->getHandle(), step != SQLITE_DONE ? step : finished);
  }
  const auto image = memory_image(*memory);
  if (image.empty()) return Status(ErrorCode::kInternal, "the in-memory snapshot is empty");
  SecretBuffer plain = SecretBuffer::copy_of(image);
  sodium_memzero(image.data(), image.size());
  clear_wal_mode(plain.mutable_bytes());
  return plain;
}

const char* kDamaged =
    "the backup is damaged or was modified (authentication failed); nothing was restored";

}  // namespace

Status Vault::backup(const std::filesystem::path& backup_path, const AuditContext& who) {
  std::error_code ec;
  if (std::filesystem::exists(backup_path, ec)) {
    return Status(ErrorCode::kAlreadyExists,
                  "a file already exists at " + backup_path.string() + "; backups never overwrite");
  }
  remove_stale_temporaries(backup_path);
  // The backup is audited once complete; refuse up front if that entry could not be written.
  auto anchor =
      guarded(*state_, "checking the audit log", [&] { return state_->read_audit_anchor(); });
  if (!anchor.is_ok()) return anchor.status();

  auto plain = guarded(*state_, "taking a snapshot for backup",
                       [&]() -> Result<SecretBuffer> { return snapshot_in_memory(*state_->db); });
  if (!plain.is_ok()) return plain.status();

  auto header = guarded(*state_, "reading the header", [&]() { return read_header(*state_->db); });
  if (!header.is_ok()) return header.status();
  const crypto::Bytes header_bytes = encode_header(header.value());

  crypto::Bytes out(kMagic.begin(), kMagic.end());
  put_u32(out, static_cast<std::uint32_t>(header_bytes.size()));
  out.insert(out.end(), header_bytes.begin(), header_bytes.end());
  crypto::Bytes first_ad(kMagic.begin(), kMagic.end());
  first_ad.insert(first_ad.end(), header_bytes.begin(), header_bytes.end());

  const SecretBuffer key = crypto::derive_subkey(state_->root_key, crypto::Subkey::kBackup);
  crypto_secretstream_xchacha20poly1305_state stream;
  std::uint8_t stream_header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  crypto_secretstream_xchacha20poly1305_init_push(&stream, stream_header, key.data());
  out.insert(out.end(), stream_header, stream_header + sizeof stream_header);
  const auto data = plain->bytes();
  std::size_t offset = 0;
  do {
    const std::size_t n = std::min(kChunk, data.size() - offset);
    const bool last = offset + n == data.size();
    crypto::Bytes chunk(n + crypto_secretstream_xchacha20poly1305_ABYTES);
    unsigned long long written = 0;
    crypto_secretstream_xchacha20poly1305_push(
        &stream, chunk.data(), &written, data.data() + offset, n,
        offset == 0 ? first_ad.data() : nullptr, offset == 0 ? first_ad.size() : 0,
        last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
    put_u32(out, static_cast<std::uint32_t>(written));
    out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(written));
    offset += n;
  } while (offset < data.size());
  sodium_memzero(&stream, sizeof stream);
  if (auto s = write_new_file_atomically(backup_path, out); !s.is_ok()) return s;

  AuditEntry entry;
  entry.actor = who.actor;
  entry.request_id = who.request_id;
  entry.action = "backup";
  entry.detail = "to=" + backup_path.filename().string();
  if (auto seq = append_audit(entry); !seq.is_ok()) {
    // No unaudited backup is left behind.
    std::filesystem::remove(backup_path, ec);
    return seq.status();
  }
  return Status::ok();
}

Status Vault::restore(const std::filesystem::path& backup_path, const std::filesystem::path& target,
                      const Credentials& credentials, const AuditContext& who) {
  crypto::ensure_initialised();
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    if (std::filesystem::exists(target.string() + suffix, ec)) {
      return Status(ErrorCode::kAlreadyExists, "a file already exists at " + target.string() +
                                                   suffix + "; restore only into a new path");
    }
  }
  {
    const auto dir = std::filesystem::absolute(target, ec).parent_path().lexically_normal();
    if (auto s = check_vault_directory(dir); !s.is_ok()) return s;
  }
  remove_stale_temporaries(target);
  auto file = read_file_secret(backup_path);
  if (!file.is_ok()) return file.status();
  Reader reader(file->bytes());
  std::span<const std::uint8_t> magic, header_bytes, stream_header;
  std::uint32_t header_size = 0;
  Header header;
  if (!reader.take(kMagic.size(), magic) ||
      std::memcmp(magic.data(), kMagic.data(), kMagic.size()) != 0) {
    return Status(ErrorCode::kUnsupported, backup_path.string() + " is not a keyhold vault backup");
  }
  if (!reader.u32(header_size) || !reader.take(header_size, header_bytes) ||
      !decode_header(header_bytes, header) ||
      !reader.take(crypto_secretstream_xchacha20poly1305_HEADERBYTES, stream_header)) {
    return Status(ErrorCode::kIntegrity, kDamaged);
  }
  auto root = unwrap_root(header, credentials);
  if (!root.is_ok()) return root.status();
  const SecretBuffer key = crypto::derive_subkey(root.value(), crypto::Subkey::kBackup);
  crypto_secretstream_xchacha20poly1305_state stream;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&stream, stream_header.data(), key.data()) !=
      0) {
    return Status(ErrorCode::kIntegrity, kDamaged);
  }
  crypto::Bytes first_ad(kMagic.begin(), kMagic.end());
  first_ad.insert(first_ad.end(), header_bytes.begin(), header_bytes.end());
  SecretBuffer plain(file->size());
  std::size_t used = 0;
  bool first = true, final_seen = false;
  while (!reader.empty()) {
    std::uint32_t n = 0;
    std::span<const std::uint8_t> chunk;
    if (final_seen || !reader.u32(n) || n < crypto_secretstream_xchacha20poly1305_ABYTES ||
        !reader.take(n, chunk) || used + n > plain.size()) {
      return Status(ErrorCode::kIntegrity, kDamaged);
    }
    unsigned long long written = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(
            &stream, plain.data() + used, &written, &tag, chunk.data(), chunk.size(),
            first ? first_ad.data() : nullptr, first ? first_ad.size() : 0) != 0) {
      return Status(ErrorCode::kIntegrity, kDamaged);
    }
    used += static_cast<std::size_t>(written);
    first = false;
    final_seen = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  }
  if (!final_seen) return Status(ErrorCode::kIntegrity, kDamaged);
  plain.truncate(used);
  clear_wal_mode(plain.mutable_bytes());

  // The decrypted vault is opened, checked, migrated and given its "restore" entry in
  // memory; the file appears at target only complete (write_new_file_atomically), so a
  // process killed at any moment leaves nothing behind.
  auto written = guarded("restoring the backup", [&]() -> Status {
    auto memory = open_memory_database();
    {
      auto* image = static_cast<unsigned char*>(sqlite3_malloc64(plain.size()));
      if (image == nullptr) return Status(ErrorCode::kIo, "out of memory restoring the backup");
      std::memcpy(image, plain.data(), plain.size());
      const int rc = sqlite3_deserialize(
          memory->getHandle(), "main", image, static_cast<sqlite3_int64>(plain.size()),
          static_cast<sqlite3_int64>(plain.size()),
          SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
      if (rc != SQLITE_OK) throw SQLite::Exception(memory->getHandle(), rc);
    }
    SQLite::Database* memory_db = memory.get();
    auto state = unlock_database(std::move(memory), target, credentials);
    if (!state.is_ok()) return state.status();
    Vault restored(std::move(state).value());
    auto verified = restored.verify_audit();
    if (!verified.is_ok() || !verified->ok || restored.state_->vault_id != header.vault_id) {
      return Status(ErrorCode::kIntegrity, "the backup's contents do not verify; nothing restored");
    }
    AuditEntry entry;
    entry.actor = who.actor;
    entry.request_id = who.request_id;
    entry.action = "restore";
    entry.detail = "from=" + backup_path.filename().string();
    if (auto seq = restored.append_audit(entry); !seq.is_ok()) return seq.status();
    const auto image = memory_image(*memory_db);
    if (image.empty()) return Status(ErrorCode::kInternal, "the restored image is empty");
    Status status = write_new_file_atomically(target, image);
    sodium_memzero(image.data(), image.size());
    return status;
  });
  if (!written.is_ok()) return written;
  // Back in WAL mode, like every vault (a vault killed before this still opens and works).
  return guarded("switching the restored vault to WAL", [&]() -> Status {
    auto db = open_database(target, false);
    db->exec("PRAGMA journal_mode = WAL");
    return Status::ok();
  });
}

}  // namespace keyhold::vault
