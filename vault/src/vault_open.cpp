// Creating, opening and unlocking a vault file; status and housekeeping.
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "file_permissions.hpp"
#include "keyhold/vault/vault.hpp"
#include "schema.hpp"
#include "vault_state.hpp"

namespace keyhold::vault {
namespace {

const char* method_name(Credentials::Kind kind) {
  return kind == Credentials::Kind::kKeyfile ? "keyfile" : "passphrase";
}

}  // namespace

Result<Header> read_header(SQLite::Database& db) {
  SQLite::Statement query(db,
                          "SELECT format, vault_id, unlock_method, opslimit, memlimit, salt, "
                          "wrapped_root, created_at FROM header WHERE id = 1");
  if (!query.executeStep()) return Status(ErrorCode::kIntegrity, "the vault header is missing");
  Header header;
  header.format = query.getColumn(0).getInt64();
  header.vault_id = column_bytes(query.getColumn(1));
  header.unlock_method = query.getColumn(2).getString();
  header.opslimit = static_cast<std::uint64_t>(query.getColumn(3).getInt64());
  header.memlimit = static_cast<std::uint64_t>(query.getColumn(4).getInt64());
  header.salt = column_bytes(query.getColumn(5));
  header.wrapped_root = column_bytes(query.getColumn(6));
  header.created_at = query.getColumn(7).getInt64();
  if (header.format != kHeaderFormat) {
    return Status(ErrorCode::kUnsupported, "the vault header has format " +
                                               std::to_string(header.format) +
                                               ", which this keyhold does not read");
  }
  return header;
}

namespace {
const char* kWrongKey =
    "cannot unlock the vault: wrong passphrase or keyfile, or the vault header was modified "
    "(nothing was changed)";

Status header_modified(const std::string& how) {
  return Status(ErrorCode::kUnlockFailed,
                "cannot unlock the vault: the vault header was modified (" + how +
                    "); nothing was changed. Restore the vault file from a backup");
}

// The header's unlock method and Argon2id limits, checked against what keyhold writes: a
// keyfile vault stores zero limits, a passphrase vault limits within KdfParams bounds. Runs
// before any key derivation.
Status check_header_kdf(const Header& header) {
  const KdfParams limits{header.opslimit, header.memlimit};
  if (header.unlock_method == "keyfile") {
    if (limits.opslimit == 0 && limits.memlimit == 0) return Status::ok();
    return header_modified(
        "it names a keyfile as the unlock method but carries Argon2id limits, which keyhold "
        "writes only for passphrase vaults");
  }
  if (header.unlock_method != "passphrase") {
    return header_modified("unknown unlock method '" + header.unlock_method + "'");
  }
  if (limits.opslimit == 0 && limits.memlimit == 0) {
    return header_modified(
        "it names a passphrase as the unlock method but carries no Argon2id limits, which "
        "keyhold writes for every passphrase vault");
  }
  if (!limits.within_bounds()) {
    const KdfParams high = KdfParams::moderate();
    return header_modified(
        "it asks for Argon2id opslimit " + std::to_string(limits.opslimit) + " and memlimit " +
        std::to_string(limits.memlimit) + " bytes, beyond the most keyhold ever writes: opslimit " +
        std::to_string(high.opslimit) + ", memlimit " + std::to_string(high.memlimit));
  }
  return Status::ok();
}

// Whether keyfile credentials unwrap a header whose unlock method says passphrase once the
// header is put back the way keyhold writes keyfile vaults: then the method was edited.
// Cheap (keyed BLAKE2b, no Argon2id).
bool keyfile_unlocks_as_keyfile_vault(const Header& header, const Credentials& credentials) {
  Header original = header;
  original.unlock_method = "keyfile";
  original.opslimit = 0;
  original.memlimit = 0;
  auto kek = crypto::derive_kek(credentials, original.salt, {0, 0});
  SecretBuffer root;
  return kek.is_ok() &&
         crypto::open(kek.value(), original.wrapped_root, header_associated_data(original), root);
}

}  // namespace

Result<SecretBuffer> unwrap_root(const Header& header, const Credentials& credentials) {
  if (auto s = check_header_kdf(header); !s.is_ok()) return s;
  if (header.unlock_method != method_name(credentials.kind())) {
    if (credentials.kind() == Credentials::Kind::kKeyfile &&
        keyfile_unlocks_as_keyfile_vault(header, credentials)) {
      return header_modified(
          "its unlock method was changed from keyfile to passphrase; the keyfile given unlocks "
          "the original header");
    }
    return Status(ErrorCode::kUnlockFailed,
                  std::string("cannot unlock the vault: it is protected by a ") +
                      header.unlock_method + ", but a " + method_name(credentials.kind()) +
                      " was given (set KEYHOLD_" +
                      (header.unlock_method == "keyfile" ? "KEYFILE" : "PASSPHRASE_FILE") + ")");
  }
  auto kek = crypto::derive_kek(credentials, header.salt, {header.opslimit, header.memlimit});
  if (!kek.is_ok()) return kek.status();
  SecretBuffer root;
  if (!crypto::open(kek.value(), header.wrapped_root, header_associated_data(header), root) ||
      root.size() != crypto::kKeySize) {
    return Status(ErrorCode::kUnlockFailed, kWrongKey);
  }
  return root;
}

namespace {

// A fresh header for credentials wrapping root.
Result<Header> make_header(const crypto::Bytes& vault_id, const Credentials& credentials,
                           const KdfParams& kdf, const SecretBuffer& root, UnixSeconds created) {
  Header header;
  header.vault_id = vault_id;
  header.unlock_method = method_name(credentials.kind());
  if (credentials.kind() == Credentials::Kind::kPassphrase) {
    if (!kdf.within_bounds()) {
      return Status(ErrorCode::kInvalidArgument,
                    "Argon2id limits out of range: keyhold writes opslimit/memlimit between "
                    "OPSLIMIT_MIN/MEMLIMIT_MIN and OPSLIMIT_MODERATE/MEMLIMIT_MODERATE");
    }
    header.opslimit = kdf.opslimit;
    header.memlimit = kdf.memlimit;
  }
  header.salt = crypto::random_bytes(crypto::kSaltSize);
  header.created_at = created;
  auto kek = crypto::derive_kek(credentials, header.salt, {header.opslimit, header.memlimit});
  if (!kek.is_ok()) return kek.status();
  header.wrapped_root = crypto::seal(kek.value(), root.bytes(), header_associated_data(header));
  return header;
}

void write_header(SQLite::Database& db, const Header& header) {
  SQLite::Statement insert(db,
                           "INSERT OR REPLACE INTO header(id, format, vault_id, unlock_method, "
                           "opslimit, memlimit, salt, wrapped_root, created_at) "
                           "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, header.format);
  bind_bytes(insert, 2, header.vault_id);
  insert.bind(3, header.unlock_method);
  insert.bind(4, static_cast<std::int64_t>(header.opslimit));
  insert.bind(5, static_cast<std::int64_t>(header.memlimit));
  bind_bytes(insert, 6, header.salt);
  bind_bytes(insert, 7, header.wrapped_root);
  insert.bind(8, header.created_at);
  insert.exec();
}

}  // namespace

crypto::Bytes header_associated_data(const Header& header) {
  crypto::Encoder ad;
  ad.str("keyhold.vault.header")
      .i64(header.format)
      .bytes(header.vault_id)
      .str(header.unlock_method)
      .u64(header.opslimit)
      .u64(header.memlimit)
      .bytes(header.salt)
      .i64(header.created_at);
  return ad.out();
}

UnixSeconds now_seconds() { return clock_now(); }

UnixSeconds clock_now() {
#ifdef KEYHOLD_TEST_HOOKS
  if (const char* fake = std::getenv("KEYHOLD_TEST_NOW"); fake != nullptr && *fake != '\0') {
    static const bool warned = [] {
      std::fputs(
          "keyhold: WARNING: KEYHOLD_TEST_NOW is set: using a fake clock (test builds "
          "only)\n",
          stderr);
      return true;
    }();
    (void)warned;
    char* end = nullptr;
    const long long value = std::strtoll(fake, &end, 10);
    if (end != fake && *end == '\0' && value > 0) return static_cast<UnixSeconds>(value);
  }
#endif
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

crypto::Bytes column_bytes(const SQLite::Column& column) {
  const auto* data = static_cast<const std::uint8_t*>(column.getBlob());
  const int size = column.getBytes();
  if (data == nullptr || size <= 0) return {};
  return crypto::Bytes(data, data + size);
}

void bind_bytes(SQLite::Statement& statement, int index, const crypto::Bytes& bytes) {
  // SQLite treats a null pointer as NULL; an empty blob must stay a blob.
  static const std::uint8_t kEmpty = 0;
  statement.bind(index, bytes.empty() ? &kEmpty : bytes.data(), static_cast<int>(bytes.size()));
}

std::unique_ptr<SQLite::Database> open_database(const std::filesystem::path& path, bool create) {
  const int flags = SQLite::OPEN_READWRITE | (create ? SQLite::OPEN_CREATE : 0);
  auto db = std::make_unique<SQLite::Database>(path.string(), flags, kBusyTimeoutMs);
  db->exec("PRAGMA secure_delete = ON");
  db->exec("PRAGMA foreign_keys = ON");
  if (create) db->exec("PRAGMA journal_mode = WAL");
  db->exec("PRAGMA synchronous = NORMAL");  // durable at checkpoints, always consistent in WAL
  // 32 MiB page cache (the default is 2 MiB): with 100k secrets the working set of the
  // name and stage indexes no longer fits in 2 MiB and reads fall through to pread.
  db->exec("PRAGMA cache_size = -32768");
  // Sorts and temporary tables stay in memory: no SQLite temporary file ever holds vault rows.
  db->exec("PRAGMA temp_store = MEMORY");
  return db;
}

FileIdentity FileIdentity::of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {true, static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

DirectoryWatch::~DirectoryWatch() { stop(); }

void DirectoryWatch::stop() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void DirectoryWatch::rewatch_if_ended() {
  if (ended_) watch(std::vector<std::filesystem::path>(dirs_));
}

void DirectoryWatch::watch(const std::vector<std::filesystem::path>& dirs) {
  stop();
  ended_ = false;
  dirs_ = dirs;
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return;
  constexpr std::uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
  for (const auto& dir : dirs) {
    if (::inotify_add_watch(fd, dir.empty() ? "." : dir.c_str(), kMask) < 0) {
      ::close(fd);
      return;
    }
  }
  fd_ = fd;
}

bool DirectoryWatch::quiet() {
  if (fd_ < 0) return false;
  alignas(inotify_event) char buffer[4096];
  bool any = false;
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return !any;  // drained
    if (n <= 0) {  // cannot tell: no watch from here on
      stop();
      ended_ = true;
      return false;
    }
    any = true;
    // A watch that ended (its directory moved, deleted, unmounted) or events lost to an
    // overflow: what is watched is no longer known, so nothing is.
    for (ssize_t at = 0; at + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
      inotify_event event;
      std::memcpy(&event, buffer + at, sizeof event);
      if ((event.mask &
           (IN_IGNORED | IN_MOVE_SELF | IN_DELETE_SELF | IN_UNMOUNT | IN_Q_OVERFLOW)) != 0) {
        stop();
        ended_ = true;
        return false;
      }
      at += static_cast<ssize_t>(sizeof(inotify_event) + event.len);
    }
  }
}

std::optional<WalIndexHeader> wal_index_header(sqlite3* db) {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK ||
      file == nullptr || file->pMethods == nullptr || file->pMethods->iVersion < 2 ||
      file->pMethods->xShmMap == nullptr)
    return std::nullopt;
  // Region 0 at the WAL's region size (32 KiB), never extended: SQLite returns the region
  // it has mapped already, or null when the file holds none.
  volatile void* region = nullptr;
  if (file->pMethods->xShmMap(file, 0, 32 * 1024, 0, &region) != SQLITE_OK || region == nullptr)
    return std::nullopt;
  WalIndexHeader header;
  // Another process writes these bytes; a read torn by a commit under way differs from
  // the header read before, which only costs the PRAGMA.
  std::atomic_thread_fence(std::memory_order_acquire);
  const volatile unsigned char* bytes = static_cast<const volatile unsigned char*>(region);
  for (std::size_t i = 0; i < header.size(); ++i) header[i] = bytes[i];
  return header;
}

void VaultState::watch_files() {
  std::error_code ec;
  std::filesystem::path real = std::filesystem::canonical(path, ec);
  if (ec) real = path;
  shm_path = real.string() + "-shm";
  std::vector<std::filesystem::path> dirs{path.parent_path()};
  if (!std::filesystem::equivalent(real.parent_path(), dirs[0].empty() ? "." : dirs[0], ec))
    dirs.push_back(real.parent_path());
  directory.watch(dirs);
}

void VaultState::remember_files() {
  watch_files();  // first: a change after the stats is an event
  db_file = FileIdentity::of(path);
  shm_file = FileIdentity::of(shm_path);
  std::string mode;
  try {
    mode = db->execAndGet("PRAGMA journal_mode").getString();
  } catch (const SQLite::Exception&) {
  }
  wal_mode = mode == "wal";
}

void VaultState::ensure_current() {
  if (db && !db_file.exists) return;  // being created or opened: nothing to compare yet
  // The queue is drained before the stats, so a change after them is an event next time.
  if (db && directory.quiet()) return;
  if (db) directory.rewatch_if_ended();  // before the stats, as in remember_files
  if (db && FileIdentity::of(path) == db_file && FileIdentity::of(shm_path) == shm_file) return;
  known_version.reset();
  if (db) {
    // The old connection is dropped without a checkpoint: its WAL index may be a deleted
    // file whose view of the database is stale, and nothing of it may reach vault.db.
    sqlite3_db_config(db->getHandle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    statements.clear();
    db.reset();
  }
  // Until a reopen succeeds every operation tries again (and fails with the reason).
  if (auto s = check_vault_files(path); !s.is_ok()) throw std::runtime_error(s.message());
  auto fresh = open_database(path, false);
  auto header = read_header(*fresh);
  if (!header.is_ok()) throw IntegrityError(header.status().message());
  if (header.value().vault_id != vault_id)
    throw IntegrityError("the file at " + path.string() +
                         " is now another vault; restart keyhold to use it");
  db = std::move(fresh);
  remember_files();
  ++reopens;
}

SQLite::Statement& VaultState::statement(const std::string& sql) {
  auto& slot = statements[sql];
  if (!slot) slot = std::make_unique<SQLite::Statement>(*db, sql);
  return *slot;
}

void VaultState::derive_subkeys() {
  audit_key = crypto::derive_subkey(root_key, crypto::Subkey::kAuditMac);
  keyring_key = crypto::derive_subkey(root_key, crypto::Subkey::kKeyringWrap);
  grant_key = crypto::derive_subkey(root_key, crypto::Subkey::kGrantMac);
}

Vault::Vault(std::unique_ptr<VaultState> state) : state_(std::move(state)) {}
Vault::Vault(Vault&&) noexcept = default;
Vault& Vault::operator=(Vault&&) noexcept = default;
Vault::~Vault() = default;

const std::filesystem::path& Vault::path() const noexcept { return state_->path; }

Result<Vault> Vault::create(const std::filesystem::path& path, const Credentials& credentials,
                            const KdfParams& kdf, const AuditContext& who) {
  crypto::ensure_initialised();
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    return Status(ErrorCode::kAlreadyExists, "a file already exists at " + path.string() +
                                                 "; choose another path or remove it first");
  }
  if (path.has_parent_path() && !std::filesystem::exists(path.parent_path(), ec)) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return Status(ErrorCode::kIo,
                    "cannot create directory " + path.parent_path().string() + ": " + ec.message());
    }
    ::chmod(path.parent_path().c_str(), 0700);
  }
  if (auto s = check_vault_directory(
          std::filesystem::absolute(path, ec).parent_path().lexically_normal());
      !s.is_ok()) {
    return s;
  }
  // SQLite would adopt (and replay) a -wal or -shm that is already there.
  for (const char* suffix : {"-wal", "-shm"}) {
    struct stat st {};
    if (::lstat((path.string() + suffix).c_str(), &st) == 0) {
      return Status(ErrorCode::kAlreadyExists,
                    "a file already exists at " + path.string() + suffix +
                        " (left by another vault or put there by someone else); remove it "
                        "before creating a vault at " +
                        path.string());
    }
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(errno == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIo,
                  "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  ::close(fd);
  auto result = guarded("creating the vault", [&]() -> Result<Vault> {
    auto state = std::make_unique<VaultState>();
    state->path = path;
    state->db = open_database(path, true);
    state->vault_id = crypto::random_bytes(16);
    state->root_key = crypto::random_key();
    state->derive_subkeys();
    const UnixSeconds now = now_seconds();
    auto header = make_header(state->vault_id, credentials, kdf, state->root_key, now);
    if (!header.is_ok()) return header.status();
    SQLite::Transaction txn(*state->db, SQLite::TransactionBehavior::IMMEDIATE);
    create_schema(*state->db);
    write_header(*state->db, header.value());
    state->insert_term(1, crypto::random_key(), now);
    state->write_audit_anchor({});
    state->write_grant_anchor(0, {});
    AuditEntry entry;
    entry.actor = who.actor;
    entry.request_id = who.request_id;
    entry.action = "init";
    entry.detail = std::string("unlock=") + method_name(credentials.kind());
    state->append_audit_in_transaction(entry);
    txn.commit();
    state->remember_files();
    return Vault(std::move(state));
  });
  if (!result.is_ok()) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path.string() + suffix, ec);
    }
  }
  return result;
}

Result<Vault> Vault::open(const std::filesystem::path& path, const Credentials& credentials) {
  crypto::ensure_initialised();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status(ErrorCode::kNotFound, "no vault at " + path.string() +
                                            "; create one with `keyhold vault init` or pass "
                                            "--vault / KEYHOLD_VAULT");
  }
  // Before SQLite opens anything: a -wal/-shm that another user made would be written to.
  if (auto s = check_vault_files(path); !s.is_ok()) return s;
  return guarded("opening the vault", [&]() -> Result<Vault> {
    auto state = unlock_database(open_database(path, false), path, credentials);
    if (!state.is_ok()) return state.status();
    // Again now that SQLite has opened -wal/-shm (it creates them on first read): one slipped
    // in between the check and the open is caught before anything is written.
    if (auto s = check_vault_files(path); !s.is_ok()) return s;
    state.value()->remember_files();
    return Vault(std::move(state).value());
  });
}

Result<std::unique_ptr<VaultState>> unlock_database(std::unique_ptr<SQLite::Database> db,
                                                    const std::filesystem::path& path,
                                                    const Credentials& credentials) {
  auto state = std::make_unique<VaultState>();
  state->path = path;
  state->db = std::move(db);
  if (auto s = check_schema_supported(*state->db); !s.is_ok()) return s;
  auto header = read_header(*state->db);
  if (!header.is_ok()) return header.status();
  auto root = unwrap_root(header.value(), credentials);
  if (!root.is_ok()) return root.status();
  state->vault_id = header->vault_id;
  state->root_key = std::move(root).value();
  state->derive_subkeys();
  if (auto s = migrate_schema(*state); !s.is_ok()) return s;
  return state;
}

Status Vault::change_credentials(const Credentials& new_credentials, const KdfParams& kdf,
                                 const AuditContext& who) {
  return guarded(*state_, "changing the vault credentials", [&]() -> Status {
    auto old_header = read_header(*state_->db);
    if (!old_header.is_ok()) return old_header.status();
    // Argon2id runs before the write lock is taken: it can take a second.
    auto header = make_header(state_->vault_id, new_credentials, kdf, state_->root_key,
                              old_header->created_at);
    if (!header.is_ok()) return header.status();
    SQLite::Transaction txn(*state_->db, SQLite::TransactionBehavior::IMMEDIATE);
    write_header(*state_->db, header.value());
    AuditEntry entry;
    entry.actor = who.actor;
    entry.request_id = who.request_id;
    entry.action = "passwd";
    entry.detail = std::string("unlock=") + method_name(new_credentials.kind());
    state_->append_audit_in_transaction(entry);
    txn.commit();
    return Status::ok();
  });
}

Result<VaultSummary> Vault::summary(UnixSeconds now) {
  return guarded(*state_, "reading the vault status", [&]() -> Result<VaultSummary> {
    VaultSummary out;
    SQLite::Database& db = *state_->db;
    auto count = [&](const char* sql) { return db.execAndGet(sql).getInt64(); };
    out.secrets = count("SELECT count(*) FROM secrets WHERE removed_at IS NULL");
    out.removed_secrets = count("SELECT count(*) FROM secrets WHERE removed_at IS NOT NULL");
    out.versions = count("SELECT count(*) FROM versions");
    out.grants = count("SELECT count(*) FROM grants");
    out.audit_entries = count("SELECT count(*) FROM audit");
    SQLite::Statement head(db, "SELECT mac FROM audit ORDER BY seq DESC LIMIT 1");
    if (head.executeStep()) out.audit_head = crypto::to_hex(column_bytes(head.getColumn(0)));
    out.schema_version = count("SELECT version FROM schema_version");
    auto header = read_header(db);
    if (!header.is_ok()) return header.status();
    out.unlock_method = header->unlock_method;
    out.kdf_opslimit = static_cast<std::int64_t>(header->opslimit);
    out.kdf_memlimit = static_cast<std::int64_t>(header->memlimit);
    auto term = state_->active_term();
    if (!term.is_ok()) return term.status();
    out.active_key_term = term.value();
    auto secrets = list_secrets();
    if (!secrets.is_ok()) return secrets.status();
    for (const SecretInfo& info : secrets.value()) {
      if (info.overdue(now)) out.overdue_secrets.push_back(info.name);
    }
    return out;
  });
}

Result<std::int64_t> Vault::data_version() {
  return guarded(*state_, "reading the data version", [&]() -> Result<std::int64_t> {
    VaultState& state = *state_;
    // Read before the PRAGMA: a commit between the two is then a different header next
    // time (one PRAGMA too many), never a version that misses it.
    const std::optional<WalIndexHeader> header =
        state.wal_mode ? wal_index_header(state.db->getHandle()) : std::nullopt;
    if (header && state.known_version && *header == state.known_version_header)
      return *state.known_version;
    ScopedStatement query(state, "PRAGMA data_version");
    if (!(*query).executeStep())
      return Status(ErrorCode::kInternal, "PRAGMA data_version returned no row");
    // PRAGMA data_version counts per connection: after a reopen (ensure_current) it starts
    // again, so the number of reopens is folded in and the value still moves.
    const std::int64_t version = (state.reopens << 40) + (*query).getColumn(0).getInt64();
    state.known_version.reset();
    if (header) {
      state.known_version = version;
      state.known_version_header = *header;
    }
    return version;
  });
}

Status Vault::checkpoint() {
  return guarded(*state_, "checkpointing the vault", [&]() -> Status {
    state_->db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return Status::ok();
  });
}

}  // namespace keyhold::vault
