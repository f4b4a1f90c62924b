#pragma once
// The handle broker: plugins reach secrets only through opaque, unguessable handles
// bound to (instance, alias, source). Every use re-checks the grant (for vault sources, in
// the vault itself, so revoke, expiry and rotation act at once on a running host) and is
// audited. Values cross only inside reveal callbacks, in guarded memory zeroed afterwards;
// sign derives MACs and AWS SigV4 signing keys so the secret never leaves the host.
//
// Every operation returns a Status; a refusal is kPermissionDenied (KH_NOT_GRANTED at the
// plugin ABI, see loader/abi_status.hpp), a secret that cannot be read kIo (KH_ERROR).
//
// Thread-safe.
#include <keyhold/plugin.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/mutex.hpp"
#include "base/status.hpp"
#include "config/config.hpp"
#include "secrets/audit_queue.hpp"
#include "secrets/oauth_tokens.hpp"
#include "secrets/redactor.hpp"
#include "secrets/secret_source.hpp"

namespace keyhold::secrets {

struct AliasBinding {
  std::string alias;
  SecretSource source;
  std::uint32_t declared_ops = 0;  // KH_SECRET_OP_* the plugin asked for
  // argv prefixes a child must match to get the value in its environment (empty: none).
  std::vector<std::vector<std::string>> env_commands;
};

class HandleBroker {
 public:
  // vault may be null (then only env: and file: sources can be bound).
  explicit HandleBroker(std::shared_ptr<SharedVault> vault);

  // Where `oauth:NAME` sources get their access tokens. Set once, before bind_instance and
  // before any use (not guarded); without it an oauth: mapping fails to bind.
  void set_oauth_tokens(std::shared_ptr<OAuthTokenSource> tokens) { oauth_ = std::move(tokens); }

  // Records the aliases an instance maps in its config. Fails, with a message naming the
  // alias, when the plugin did not declare an alias, a source is malformed, or the
  // secret behind it does not exist (or, for env/file, cannot be read).
  Status bind_instance(const std::string& instance, const kh_plugin& definition,
                       const std::map<std::string, SecretMapping>& mapping);

  // A fresh handle when the alias is bound and at least one declared operation is granted
  // now; kPermissionDenied otherwise. Audited.
  Result<kh_secret_handle> acquire(const std::string& instance, std::string_view alias,
                                   const std::string& request_id);
  // kNotFound for an unknown handle or another instance's.
  Status release(const std::string& instance, kh_secret_handle handle);
  // Calls use(user, value, size) with the current value; the buffer is zeroed after.
  // client: who the request serves (the token of a per_user `oauth:` provider is client's;
  // a provider client must authorize first is added to it). Null: no client.
  Status reveal(const std::string& instance, kh_secret_handle handle, const std::string& request_id,
                kh_reveal_fn use, void* user, OAuthUser* client = nullptr);
  // "hmac-sha256" (data = message) or "aws4-signing-key" (data = {"date","region",
  // "service"} JSON). Returns the MAC or key (32 bytes); kInvalidArgument, with a message
  // for the plugin, for an unknown algorithm or a malformed scope.
  // client as for reveal.
  Result<std::string> sign(const std::string& instance, kh_secret_handle handle,
                           std::string_view algorithm, std::string_view data,
                           const std::string& request_id, OAuthUser* client = nullptr);
  // The value of alias for the environment of a child started with argv (operation env):
  // only when env is granted and argv starts with one of the alias's env_commands (the
  // administrator's list in the config; the plugin picks argv, so without it any child
  // could print the value transformed past the redactor). A refusal's message says which
  // check failed (names only). Audited.
  // client as for reveal.
  Result<vault::SecretBuffer> value_for_env(const std::string& instance, std::string_view alias,
                                            const std::vector<std::string>& argv,
                                            const std::string& request_id,
                                            OAuthUser* client = nullptr);

  // The value of alias for a header of the requests the host sends to a remote mounted
  // server at destination (a URL, for the audit). Checked against the env operation: env
  // and header are one grant, "the host hands the value to the instance's mounted server,
  // never to plugin memory", so an instance moves between server.command and server.url
  // without a new grant. A refusal's message says which check failed (names only). Audited
  // as handle.header.
  Result<vault::SecretBuffer> value_for_header(const std::string& instance, std::string_view alias,
                                               const std::string& destination,
                                               const std::string& request_id);

  // After the server at destination refused (HTTP 401) a request whose header held
  // `refused`, the value of alias (from value_for_header): for an `oauth:NAME` alias on the
  // first refusal, renews the token (TokenManager: one refresh for concurrent callers) and
  // returns OK, so the caller may send once more with a new value_for_header. Otherwise (a
  // second refusal, any other source, a failed refresh) an error that says what to do (names
  // only). Audited as handle.header with outcome "refused".
  Status header_refused(const std::string& instance, std::string_view alias,
                        const vault::SecretBuffer& refused, const std::string& destination,
                        bool retried, const std::string& request_id);

  // After the server at destination answered HTTP 403 insufficient_scope (RFC 6750 3.1) to
  // a request whose header held the value of alias, asking for scope (the server's text,
  // printable ASCII): always an error that says what to do. The host cannot step up an OAuth
  // grant by itself (a larger scope needs the user's consent), so for an `oauth:NAME` alias
  // it names the scopes to add to [oauth.NAME] and the login to run. Audited as
  // handle.header with outcome "refused".
  Status header_lacks_scope(const std::string& instance, std::string_view alias,
                            const std::string& destination, const std::string& scope,
                            const std::string& request_id);

  // The current value of every bound alias, labelled by alias, for the redactor.
  std::vector<KnownSecret> releasable_values();
  // Called (on the caller's thread) when check_for_change() sees the vault changed.
  void set_change_listener(std::function<void()> listener);
  // Compares the vault's data_version with the last one seen; when it moved (another
  // process committed: a grant, a revoke, a rotation) empties the cache and calls the
  // listener, and returns true. A refreshed OAuth token (this process's own write, which
  // data_version does not show) calls the listener too. Run by every use before a grant is judged
  // and after a value is read, so the redactor knows a rotated value before any plugin can hold it.
  bool check_for_change();
  // Empties the caches and calls the listener, as if the vault had changed: for writes made
  // through the broker's own connection, which SQLite's data_version does not report
  // (it moves only for other connections' commits).
  void forget_cached();

  // Writes every queued audit entry (entries are written asynchronously).
  void flush_audit() { audit_queue_.flush(); }

  // Audits an event that is not a handle operation (argument guard refusals).
  void audit(const std::string& instance, const std::string& action, const std::string& secret,
             const std::string& request_id, const std::string& outcome, const std::string& detail);

 private:
  struct HandleEntry {
    std::string instance;
    std::string alias;
  };
  using Key = std::pair<std::uint64_t, std::uint64_t>;

  const AliasBinding* find_binding(const std::string& instance, std::string_view alias) const
      KH_REQUIRES(mutex_);
  // Copies the binding of alias for instance; audits `action` as denied when unmapped.
  bool mapped_binding(const std::string& instance, std::string_view alias, const char* action,
                      const std::string& request_id, AliasBinding* out);
  // OK when op is declared for the binding and granted now; kPermissionDenied otherwise.
  Status check(const std::string& instance, const AliasBinding& binding, std::uint32_t op);
  // The steps value_for_env and value_for_header share (both use the env grant): the
  // alias mapped and granted (audited under action when not) ...
  Result<AliasBinding> env_binding(const std::string& instance, std::string_view alias,
                                   const char* action, const std::string& request_id);
  // ... and the value copied out, audited under action ("ok" with ok_detail); client as
  // for reveal.
  Result<vault::SecretBuffer> copy_value(const std::string& instance, const AliasBinding& binding,
                                         const char* action, const std::string& request_id,
                                         const std::string& ok_detail, OAuthUser* client);
  // Calls use with the current value of binding's secret (an operation already checked);
  // kIo with a message (names only) when it cannot be read. use runs under the cache
  // lock: keep it short (a MAC, a copy), never a plugin callback.
  // use(value, current): current is false when the value must not be cached (read from
  // env or a file, or the vault moved while it was read).
  // client: as for reveal (null: no client, so a per_user provider's token is refused).
  using ValueUse = std::function<void(std::span<const std::uint8_t>, bool)>;
  Status with_value(const AliasBinding& binding, const ValueUse& use, OAuthUser* client = nullptr);
  // The current access token of binding's `oauth:` provider (client's for a per_user one).
  Result<vault::SecretBuffer> oauth_value(const AliasBinding& binding, OAuthUser* client);
  // Returns the MAC or key (and wipes mac) and audits a successful sign.
  std::string finish_sign(const std::string& instance, const AliasBinding& binding,
                          std::string_view algorithm, const std::string& request_id,
                          unsigned char (&mac)[32]);
  // Resolves handle for instance; kNotFound, or kPermissionDenied for another instance's.
  Result<AliasBinding> resolve(const std::string& instance, kh_secret_handle handle) const;
  // The binding behind handle when op is declared and granted now; otherwise audits action
  // as denied and returns kPermissionDenied (for an unknown handle too). Shared by reveal
  // and sign.
  Result<AliasBinding> granted_binding(const std::string& instance, kh_secret_handle handle,
                                       std::uint32_t op, const char* action,
                                       const std::string& request_id);
  // The OAuth half of check_for_change(): calls the listener when the token manager's
  // generation moved (a refresh in this process).
  void check_oauth_generation();
  void check_oauth_generation_locked() KH_REQUIRES(change_mutex_);

  std::shared_ptr<SharedVault> vault_;
  std::shared_ptr<OAuthTokenSource> oauth_;  // set before serving, then read-only
  mutable Mutex mutex_;
  std::map<std::string, std::vector<AliasBinding>> bindings_ KH_GUARDED_BY(mutex_);  // by instance
  std::map<Key, HandleEntry> handles_ KH_GUARDED_BY(mutex_);
  // What the vault said since the last data_version change: each instance's grants
  // (expiry is still judged by the clock on every use) and the values of secrets used
  // (guarded memory, as the redactor holds them anyway). Emptied whenever data_version
  // moves, so a revoke or rotation by another process acts on the next use.
  Mutex change_mutex_;  // serializes change checks and listener calls
  std::int64_t last_data_version_ KH_GUARDED_BY(change_mutex_) = -1;
  std::uint64_t last_oauth_generation_ KH_GUARDED_BY(change_mutex_) = 0;
  std::function<void()> change_listener_ KH_GUARDED_BY(change_mutex_);
  Mutex cache_mutex_ KH_ACQUIRED_AFTER(change_mutex_);
  std::map<std::string, std::vector<vault::Grant>, std::less<>> cached_grants_
      KH_GUARDED_BY(cache_mutex_);
  std::map<std::string, vault::SecretBuffer, std::less<>> cached_values_
      KH_GUARDED_BY(cache_mutex_);
  // SigV4 signing keys by "<source>\n<scope JSON>" (a plugin gets these anyway). Guarded
  // by cache_mutex_ too, but not annotated: sign() fills it inside with_value's callback,
  // which runs with the lock held where the analysis cannot see it.
  std::map<std::string, vault::SecretBuffer, std::less<>> cached_signing_keys_;
  AuditQueue audit_queue_;  // last: its thread stops first
};

}  // namespace keyhold::secrets
