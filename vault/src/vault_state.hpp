#pragma once
// Internal: what an unlocked Vault holds, shared by the vault_*.cpp files.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <exception>
#include <filesystem>
#include <map>
#include <memory>
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

struct VaultState {
  std::filesystem::path path;
  std::unique_ptr<SQLite::Database> db;
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
  // Appends an audit entry inside the caller's write transaction; returns its seq.
  std::int64_t append_audit_in_transaction(AuditEntry entry);
  // Writes the audit anchor row (count, head) inside the caller's transaction.
  void write_audit_anchor(std::int64_t count, const crypto::Bytes& head);
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
  } catch (const SQLite::Exception& e) {
    const int code = e.getErrorCode();
    const bool corrupt = code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
    return Status(corrupt ? ErrorCode::kIntegrity : ErrorCode::kIo,
                  std::string(what) + " failed: SQLite: " + e.what());
  } catch (const std::exception& e) {
    return Status(ErrorCode::kInternal, std::string(what) + " failed: " + e.what());
  }
}

}  // namespace keyhold::vault
