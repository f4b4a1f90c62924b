#pragma once
// Internal: what an unlocked Vault holds, shared by the vault_*.cpp files.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <array>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "crypto.hpp"
#include "keyhold/vault/credentials.hpp"
#include "keyhold/vault/secret_buffer.hpp"
#include "keyhold/vault/status.hpp"
#include "keyhold/vault/types.hpp"

namespace keyhold::vault {

inline constexpr int kBusyTimeoutMs = 60000;
inline constexpr std::int64_t kHeaderFormat = 1;

// The vault header row, as stored.
struct Header {
  std::int64_t format = kHeaderFormat;
  crypto::Bytes vault_id;
  std::string unlock_method;  // "passphrase" | "keyfile"
  std::uint64_t opslimit = 0;
  std::uint64_t memlimit = 0;
  crypto::Bytes salt;
  crypto::Bytes wrapped_root;
  UnixSeconds created_at = 0;
};

// Associated data for the wrapped root key: every header field except the wrap itself, so
// editing any of them (KDF limits, salt, method, id) makes unlocking fail.
crypto::Bytes header_associated_data(const Header& header);

// Reads the header row; kUnsupported for an unknown header format.
Result<Header> read_header(SQLite::Database& db);
// Derives the KEK from credentials and the header, and unwraps the root key.
// kUnlockFailed when the credentials are wrong or the header was edited.
Result<SecretBuffer> unwrap_root(const Header& header, const Credentials& credentials);

// Thrown inside a write transaction when a row the write depends on (the audit anchor, the
// grant anchor) fails its integrity check; guarded() turns it into kIntegrity with what() as
// the message, and the transaction rolls back.
class IntegrityError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The audit anchor row: the number of entries, the head MAC, and the generation of the grant
// set (see GrantSet), all under one MAC.
struct AuditAnchor {
  std::int64_t count = 0;
  crypto::Bytes head;
  std::int64_t grant_generation = 0;
};

// The grant rows that may count: a row is authentic when its MAC verifies and its serial is
// in live. trusted is false when the grant anchor is missing, fails its MAC or is older than
// the generation the audit anchor recorded (a grant table copied back from an older file):
// then no row is authentic.
struct GrantSet {
  bool trusted = false;
  std::int64_t generation = 0;     // the last generation issued (max of every trusted source)
  std::vector<std::int64_t> live;  // sorted serials
  std::string problem;             // why not trusted, for a person
  bool is_live(std::int64_t serial) const;
};

// Which file a path names (device and inode), or none when nothing is there.
struct FileIdentity {
  bool exists = false;
  std::uint64_t device = 0, inode = 0;
  bool operator==(const FileIdentity&) const = default;
  static FileIdentity of(const std::filesystem::path& path);
};

// Whether anything was created, deleted or renamed in some directories since the last
// look (an inotify watch on each, non-blocking). A watch that ends (its directory renamed,
// deleted or unmounted) or an overflowed queue ends them all: until watch() is called
// again it never says quiet, nor without watches at all (inotify unavailable, or its
// per-user limit reached), so callers fall back to checking.
class DirectoryWatch {
 public:
  DirectoryWatch() = default;
  ~DirectoryWatch();
  DirectoryWatch(const DirectoryWatch&) = delete;
  DirectoryWatch& operator=(const DirectoryWatch&) = delete;
  // Starts watching dirs afresh (any earlier watch ends); none when one cannot be had.
  void watch(const std::vector<std::filesystem::path>& dirs);
  // True when no event came since the last call, which drains what came. One read(2).
  bool quiet();
  // Watches the same directory paths again once the watch ended (what they name now); a
  // no-op while it lasts, or when it never could be had (that waits for the next watch()).
  void rewatch_if_ended();

 private:
  void stop();
  int fd_ = -1;
  bool ended_ = false;  // a watch existed and ended (quiet() saw why)
  std::vector<std::filesystem::path> dirs_;
};

// The wal-index header of db's main database: both copies (96 bytes), read from SQLite's
// own mapping of vault.db-shm, so no system call. Every commit of any connection rewrites
// it (its frame count, checksums and salts) before the commit returns. nullopt when SQLite
// has no such mapping (not in WAL mode, nothing read yet).
using WalIndexHeader = std::array<unsigned char, 96>;
std::optional<WalIndexHeader> wal_index_header(sqlite3* db);

struct VaultState {
  std::filesystem::path path;
  // Events in the vault's directories (see ensure_current). Declared before db.
  DirectoryWatch directory;
  // The connection is in WAL mode (PRAGMA journal_mode at open): only then is there a
  // wal-index to read (wal_index_header would otherwise make SQLite create one).
  bool wal_mode = false;
  std::unique_ptr<SQLite::Database> db;
  // The database file and its WAL index as this connection opened them. Any close() of
  // any descriptor of vault.db in this process (a library, an in-process plugin) drops
  // SQLite's POSIX locks on it; another process's next write then believes it is the
  // file's only user, checkpoints and deletes vault.db-wal and -shm, and this connection
  // would go on reading and writing the deleted files: later commits unseen (a revoked
  // grant honoured), its own writes lost. A restore renames a new file into place, with
  // the same effect. Every operation first compares these with the files on disk.
  FileIdentity db_file, shm_file;
  std::filesystem::path shm_path;  // beside the real file when path is a symlink
  std::int64_t reopens = 0;
  // The last PRAGMA data_version (reopens folded in) and the wal-index header read just
  // before it: while the header is the same, no connection has committed since, and the
  // version stands without the PRAGMA (whose WAL read locks are system calls).
  std::optional<std::int64_t> known_version;
  WalIndexHeader known_version_header{};
  // Prepared statements of hot paths, keyed by SQL text. Declared after db so they are
  // finalized first. Use through ScopedStatement, which resets them after use (a statement
  // left mid-step would pin an old WAL snapshot).
  std::map<std::string, std::unique_ptr<SQLite::Statement>> statements;
  crypto::Bytes vault_id;
  SecretBuffer root_key;
  SecretBuffer audit_key;
  SecretBuffer keyring_key;
  SecretBuffer grant_key;
  std::map<std::int64_t, SecretBuffer> term_keys;  // data keys by term, loaded on demand

  // Records the files the connection uses now (after it has read: the WAL index exists),
  // after it starts watching their directories (watch_files), and its journal mode.
  void remember_files();
  // Watches the directory of path and, when path is a symlink, that of the file it names
  // (SQLite keeps -wal and -shm beside the real file, at shm_path).
  void watch_files();
  // Reopens the connection when vault.db or vault.db-shm on disk is not the file the
  // connection uses (see db_file). Throws IntegrityError when the file now at the path is
  // another vault, SQLite::Exception when it cannot be opened. The two stat(2) calls are
  // made only after an event in the watched directories: a file can only be replaced or
  // deleted there through a create, delete or rename, whose event is queued before the call
  // that made it returns; a watched directory renamed or deleted ends the watch, and the
  // stats run on every use until the next one is set up. Not seen: a directory above those
  // renamed, or a symlink among them retargeted (not supported for the vault's path).
  void ensure_current();

  // The cached prepared statement for sql (prepared on first use).
  SQLite::Statement& statement(const std::string& sql);
  // Derives the subkeys from root_key.
  void derive_subkeys();
  // The data key of term, loading and unwrapping it on a cache miss. kIntegrity if the
  // keyring row does not authenticate, kNotFound if the term is retired or unknown.
  Result<const SecretBuffer*> term_key(std::int64_t term);
  // The newest active term.
  Result<std::int64_t> active_term();
  // Seals a new data key for term into the keyring (inside the caller's transaction).
  void insert_term(std::int64_t term, const SecretBuffer& key, UnixSeconds now);
  // Appends an audit entry inside the caller's write transaction; returns its seq. When
  // new_grant_generation is set (grant changes), the anchor records it. Throws
  // IntegrityError when the anchor is missing, edited or does not match the last entry, so
  // nothing is written over a broken chain.
  std::int64_t append_audit_in_transaction(
      AuditEntry entry, std::optional<std::int64_t> new_grant_generation = std::nullopt);
  // The audit anchor after checking its MAC and that count is the seq of the last entry;
  // kIntegrity with a message that says how to recover otherwise.
  Result<AuditAnchor> read_audit_anchor();
  // Writes the audit anchor row inside the caller's transaction.
  void write_audit_anchor(const AuditAnchor& anchor);

  // The grant set as of the caller's snapshot (vault_grants.cpp). Throws IntegrityError
  // when the audit anchor it is checked against is broken.
  GrantSet read_grant_set();
  // The grant anchor row (generation, live serials) when present and its MAC verifies.
  struct GrantAnchor {
    std::int64_t generation = 0;
    std::vector<std::int64_t> live;
  };
  std::optional<GrantAnchor> read_grant_anchor();
  // Writes the grant anchor (generation, live serials) inside the caller's transaction.
  void write_grant_anchor(std::int64_t generation, const std::vector<std::int64_t>& live);
  // Deletes every grant on pattern (rm --purge) and records the change in the grant anchor;
  // returns the new generation and sets detail for the audit entry, or nullopt when there
  // was no such grant.
  std::optional<std::int64_t> remove_grants_on(const std::string& pattern, std::string* detail);

  // Schema 1 -> 2 (inside the migration's transaction). Gives every grant row whose v1 MAC
  // verifies a serial and a v2 MAC, writes the grant anchor; returns its generation.
  std::int64_t migrate_grants_to_v2();
  // Re-MACs a v1 audit anchor that verifies, binding grant_generation; false (anchor left
  // as it was, reported by verify_audit) when it does not verify.
  bool migrate_audit_anchor_to_v2(std::int64_t grant_generation);
};

// Resets a cached statement (and its bindings) when the scope ends.
class ScopedStatement {
 public:
  ScopedStatement(VaultState& state, const std::string& sql) : statement_(state.statement(sql)) {}
  ~ScopedStatement() {
    try {
      statement_.reset();
      statement_.clearBindings();
    } catch (...) {  // reset reports the last step's error again; it was already handled
    }
  }
  ScopedStatement(const ScopedStatement&) = delete;
  ScopedStatement& operator=(const ScopedStatement&) = delete;
  SQLite::Statement& operator*() { return statement_; }
  SQLite::Statement* operator->() { return &statement_; }

 private:
  SQLite::Statement& statement_;
};

// Unlocks the vault in db (a file, or an in-memory image during restore): checks the schema
// version, unwraps the root key from the header, derives the subkeys, migrates an older
// schema. path names the vault in messages.
Result<std::unique_ptr<VaultState>> unlock_database(std::unique_ptr<SQLite::Database> db,
                                                    const std::filesystem::path& path,
                                                    const Credentials& credentials);

// Opens the SQLite connection with the vault's pragmas (busy timeout, secure_delete,
// synchronous=NORMAL in WAL, foreign keys).
std::unique_ptr<SQLite::Database> open_database(const std::filesystem::path& path, bool create);

UnixSeconds now_seconds();
crypto::Bytes column_bytes(const SQLite::Column& column);
void bind_bytes(SQLite::Statement& statement, int index, const crypto::Bytes& bytes);

// Runs fn, turning SQLite and standard exceptions into a Status for `what` (which names the
// operation, never a value).
template <typename Fn>
auto guarded(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const IntegrityError& e) {
    return Status(ErrorCode::kIntegrity, std::string(what) + " refused: " + e.what());
  } catch (const SQLite::Exception& e) {
    const int code = e.getErrorCode();
    const bool corrupt = code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
    return Status(corrupt ? ErrorCode::kIntegrity : ErrorCode::kIo,
                  std::string(what) + " failed: SQLite: " + e.what());
  } catch (const std::exception& e) {
    return Status(ErrorCode::kInternal, std::string(what) + " failed: " + e.what());
  }
}

// guarded() for an operation on an open vault: the connection is made current first
// (VaultState::ensure_current).
template <typename Fn>
auto guarded(VaultState& state, const char* what, Fn&& fn) -> decltype(fn()) {
  return guarded(what, [&]() -> decltype(fn()) {
    state.ensure_current();
    return fn();
  });
}

}  // namespace keyhold::vault
