// The keyring of data-key terms, and rekey.
#include <string>

#include "keyhold/vault/record_codec.hpp"
#include "keyhold/vault/vault.hpp"
#include "vault_state.hpp"

namespace keyhold::vault {
namespace {

crypto::Bytes keyring_associated_data(const crypto::Bytes& vault_id, std::int64_t term) {
  crypto::Encoder ad;
  ad.str("keyhold.vault.keyring").bytes(vault_id).i64(term);
  return ad.out();
}

}  // namespace

void VaultState::insert_term(std::int64_t term, const SecretBuffer& key, UnixSeconds now) {
  const crypto::Bytes wrapped =
      crypto::seal(keyring_key, key.bytes(), keyring_associated_data(vault_id, term));
  SQLite::Statement insert(*db,
                           "INSERT INTO keyring(term, wrapped_key, state, created_at) "
                           "VALUES (?, ?, 'active', ?)");
  insert.bind(1, term);
  bind_bytes(insert, 2, wrapped);
  insert.bind(3, now);
  insert.exec();
}

Result<const SecretBuffer*> VaultState::term_key(std::int64_t term) {
  if (auto it = term_keys.find(term); it != term_keys.end()) return &it->second;
  SQLite::Statement query(*db, "SELECT wrapped_key, state FROM keyring WHERE term = ?");
  query.bind(1, term);
  if (!query.executeStep() || query.getColumn(1).getString() != "active") {
    return Status(ErrorCode::kNotFound,
                  "key term " + std::to_string(term) + " is retired or unknown");
  }
  SecretBuffer key;
  if (!crypto::open(keyring_key, column_bytes(query.getColumn(0)),
                    keyring_associated_data(vault_id, term), key) ||
      key.size() != crypto::kKeySize) {
    return Status(ErrorCode::kIntegrity, "keyring entry for key term " + std::to_string(term) +
                                             " failed its integrity check");
  }
  auto [it, inserted] = term_keys.emplace(term, std::move(key));
  return &it->second;
}

Result<std::int64_t> VaultState::active_term() {
  SQLite::Statement query(*db, "SELECT max(term) FROM keyring WHERE state = 'active'");
  if (!query.executeStep() || query.getColumn(0).isNull()) {
    return Status(ErrorCode::kIntegrity, "the vault keyring has no active key term");
  }
  return query.getColumn(0).getInt64();
}

SecretBuffer Vault::derive_host_key(HostKey purpose) const {
  // Subkey ids 1-4 are the vault's own (crypto.hpp); host keys start at 16.
  return crypto::derive_subkey(state_->root_key, static_cast<crypto::Subkey>(purpose));
}

Result<std::int64_t> Vault::rekey(const AuditContext& who) {
  return guarded(*state_, "rekeying the vault", [&]() -> Result<std::int64_t> {
    VaultState& s = *state_;
    // If anything below fails the transaction rolls back; drop cached keys so a term number
    // that never committed cannot be reused with a stale key.
    struct CacheReset {
      VaultState& state;
      bool committed = false;
      ~CacheReset() {
        if (!committed) state.term_keys.clear();
      }
    } cache_reset{s};
    SQLite::Transaction txn(*s.db, SQLite::TransactionBehavior::IMMEDIATE);
    const std::int64_t new_term = s.db->execAndGet("SELECT max(term) FROM keyring").getInt64() + 1;
    s.insert_term(new_term, crypto::random_key(), now_seconds());
    auto new_key = s.term_key(new_term);
    if (!new_key.is_ok()) return new_key.status();

    SQLite::Statement rows(*s.db,
                           "SELECT v.secret_id, s.name, v.version, v.term, v.blob FROM versions v "
                           "JOIN secrets s ON s.id = v.secret_id WHERE v.term <> ?");
    rows.bind(1, new_term);
    SQLite::Statement update(*s.db,
                             "UPDATE versions SET term = ?, blob = ? "
                             "WHERE secret_id = ? AND version = ?");
    std::int64_t resealed = 0;
    while (rows.executeStep()) {
      const std::string name = rows.getColumn(1).getString();
      RecordLocation old_location{rows.getColumn(0).getInt64(), name, rows.getColumn(2).getInt64(),
                                  rows.getColumn(3).getInt64()};
      const crypto::Bytes blob = column_bytes(rows.getColumn(4));
      auto decoded = decode_record(blob);
      auto old_key = s.term_key(old_location.key_term);
      SecretBuffer plain;
      if (!decoded.is_ok() || !old_key.is_ok() ||
          !crypto::open(*old_key.value(), decoded->sealed, record_associated_data(old_location),
                        plain)) {
        return Status(ErrorCode::kIntegrity,
                      "rekey stopped, nothing changed: secret '" + name + "' version " +
                          std::to_string(old_location.version) +
                          " failed its integrity check; restore or remove it first");
      }
      RecordLocation new_location = old_location;
      new_location.key_term = new_term;
      crypto::Bytes sealed =
          crypto::seal(*new_key.value(), plain.bytes(), record_associated_data(new_location));
      sealed.insert(sealed.begin(), kRecordFormat);
      update.bind(1, new_term);
      bind_bytes(update, 2, sealed);
      update.bind(3, old_location.secret_id);
      update.bind(4, old_location.version);
      update.exec();
      update.reset();
      ++resealed;
    }
    SQLite::Statement retire(*s.db,
                             "UPDATE keyring SET state = 'retired', wrapped_key = NULL "
                             "WHERE term <> ?");
    retire.bind(1, new_term);
    retire.exec();
    for (auto it = s.term_keys.begin(); it != s.term_keys.end();) {
      it = it->first == new_term ? std::next(it) : s.term_keys.erase(it);
    }
    AuditEntry entry;
    entry.actor = who.actor;
    entry.request_id = who.request_id;
    entry.action = "rekey";
    entry.detail = "term=" + std::to_string(new_term) + " resealed=" + std::to_string(resealed);
    s.append_audit_in_transaction(entry);
    txn.commit();
    cache_reset.committed = true;
    return new_term;
  });
}

}  // namespace keyhold::vault
