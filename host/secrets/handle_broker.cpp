#include "secrets/handle_broker.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "secrets/signing.hpp"

namespace keyhold::secrets {

namespace {

// An alias a plugin asked for, as messages and the audit log show it: quoted when short
// and printable, else only its length (a plugin chooses it, and may make it megabytes).
std::string shown_alias(std::string_view alias) {
  const bool printable = std::all_of(alias.begin(), alias.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (alias.size() <= 128 && printable) return "'" + std::string(alias) + "'";
  return "(an alias of " + std::to_string(alias.size()) + " bytes)";
}

vault::Operation to_vault_op(std::uint32_t op) {
  return op == KH_SECRET_OP_SIGN  ? vault::Operation::kSign
         : op == KH_SECRET_OP_ENV ? vault::Operation::kEnv
                                  : vault::Operation::kReveal;
}

const char* operation_name(std::uint32_t op) {
  return op == KH_SECRET_OP_SIGN ? "sign" : op == KH_SECRET_OP_ENV ? "env" : "reveal";
}

// A refusal: KH_NOT_GRANTED at the plugin ABI. The message names the alias, never a value.
Status not_granted(std::string message) {
  return Status(ErrorCode::kPermissionDenied, std::move(message));
}

}  // namespace

HandleBroker::HandleBroker(std::shared_ptr<SharedVault> vault)
    : vault_(vault), audit_queue_(std::move(vault)) {}

Status HandleBroker::bind_instance(const std::string& instance, const kh_plugin& definition,
                                   const std::map<std::string, SecretMapping>& mapping) {
  std::vector<AliasBinding> bindings;
  for (const auto& [alias, entry] : mapping) {
    const std::string& text = entry.source;
    const kh_secret_decl* declared = nullptr;
    std::string names;
    for (uint32_t i = 0; i < definition.secret_count; ++i) {
      const kh_secret_decl& d = definition.secrets[i];
      if (d.alias == nullptr) continue;
      names += (names.empty() ? "" : ", ") + std::string(d.alias);
      if (alias == d.alias) declared = &d;
    }
    if (declared == nullptr) {
      return invalid_argument(
          "secret alias '" + alias + "' is not declared by plugin '" + definition.name +
          "' (it declares: " + (names.empty() ? std::string("none") : names) + ")");
    }
    auto source = SecretSource::parse(text);
    if (!source.is_ok())
      return invalid_argument("secret alias '" + alias + "': " + source.status().message());
    if (source->kind == SecretSource::Kind::kOAuth) {
      if (!vault_ || !oauth_ || !oauth_->knows(source->ref)) {
        return invalid_argument("secret alias '" + alias + "' maps to " + source->describe() +
                                (vault_
                                     ? " but there is no [oauth." + source->ref + "] in the config"
                                     : " but no vault is open (OAuth tokens live in the vault)"));
      }
    } else if (source->kind == SecretSource::Kind::kVault) {
      if (!vault_) {
        return unavailable("secret alias '" + alias + "' maps to " + source->describe() +
                           " but no vault is open");
      }
      auto found = vault_->with([&](vault::Vault& v) { return v.find_secret(source->ref); });
      if (!found.is_ok())
        return Status(found.status().code(),
                      "secret alias '" + alias + "': " + found.status().message());
    } else {
      auto value = read_source(*source, vault_.get());
      if (!value.is_ok())
        return Status(value.status().code(),
                      "secret alias '" + alias + "': " + value.status().message());
    }
    if (!entry.env_commands.empty() && (declared->operations & KH_SECRET_OP_ENV) == 0) {
      return invalid_argument("secret alias '" + alias + "' lists env_commands but plugin '" +
                              definition.name + "' does not declare the env operation for it");
    }
    bindings.push_back({alias, *source, declared->operations, entry.env_commands});
  }
  MutexLock lock(mutex_);
  bindings_[instance] = std::move(bindings);
  return Status::ok();
}

const AliasBinding* HandleBroker::find_binding(const std::string& instance,
                                               std::string_view alias) const {
  auto it = bindings_.find(instance);
  if (it == bindings_.end()) return nullptr;
  for (const auto& b : it->second)
    if (b.alias == alias) return &b;
  return nullptr;
}

Status HandleBroker::check(const std::string& instance, const AliasBinding& binding,
                           std::uint32_t op) {
  const auto refused = [&] {
    return not_granted("secret alias '" + binding.alias + "' is not granted for " +
                       operation_name(op));
  };
  if ((binding.declared_ops & op) == 0) return refused();
  const std::string granted = binding.source.granted_secret();
  if (granted.empty()) return Status::ok();  // env: and file: sources: the config is the grant
  check_for_change();  // the cache then holds nothing older than the vault's last commit
  MutexLock lock(cache_mutex_);
  auto grants = cached_grants_.find(instance);
  if (grants == cached_grants_.end()) {
    auto read = vault_->with([&](vault::Vault& v) { return v.list_grants(instance); });
    if (!read.is_ok()) return refused();
    grants = cached_grants_.emplace(instance, std::move(read).value()).first;
  }
  const auto decision =
      vault::decide_grant(grants->second, granted, to_vault_op(op), std::time(nullptr));
  return decision == vault::GrantDecision::kAllowed ? Status::ok() : refused();
}

Result<vault::SecretBuffer> HandleBroker::oauth_value(const AliasBinding& binding,
                                                      OAuthUser* client) {
  // check() read the vault's data_version for this use: the token manager need not read
  // it again (one check per use, as for a vault: alias).
  std::int64_t seen = -1;
  {
    MutexLock lock(change_mutex_);
    seen = last_data_version_;
  }
  const std::string& provider = binding.source.ref;
  const std::string subject = client != nullptr ? client->subject : std::string();
  auto token = oauth_->access_token(provider, seen, subject);
  // No client, or its tokens missing or expired and not refreshable: the session answers
  // the call with what to do (authorize, or use an authenticated client).
  const auto code = token.status().code();
  if (!token.is_ok() && client != nullptr && oauth_->per_user(provider) &&
      (subject.empty() || code == ErrorCode::kNotFound || code == ErrorCode::kUnavailable))
    client->needs_authorization(provider);
  return token;
}

Status HandleBroker::with_value(const AliasBinding& binding, const ValueUse& use,
                                OAuthUser* client) {
  if (binding.source.kind == SecretSource::Kind::kOAuth) {
    auto token = oauth_value(binding, client);
    if (!token.is_ok()) return io_error(token.status().message());
    // A refresh in this process moves the manager's generation, not data_version: the
    // redactor learns the new token before it leaves.
    check_oauth_generation();
    use(token.value().bytes(), false);
    return Status::ok();
  }
  if (binding.source.kind != SecretSource::Kind::kVault) {
    auto value = read_source(binding.source, vault_.get());
    if (!value.is_ok()) return io_error(value.status().message());
    use(value.value().bytes(), false);
    return Status::ok();
  }
  {
    MutexLock lock(cache_mutex_);
    if (auto hit = cached_values_.find(binding.source.ref); hit != cached_values_.end()) {
      use(hit->second.bytes(), true);
      return Status::ok();
    }
  }
  auto value = read_source(binding.source, vault_.get());
  if (!value.is_ok()) return io_error(value.status().message());
  // A rotation committed since the last check must reach the redactor before this value
  // leaves; then the value may be older than the vault, so it is not cached.
  const bool moved = check_for_change();
  MutexLock lock(cache_mutex_);
  if (!moved) {
    auto cached = cached_values_.emplace(binding.source.ref, std::move(value).value()).first;
    use(cached->second.bytes(), true);
  } else {
    use(value.value().bytes(), false);
  }
  return Status::ok();
}

void HandleBroker::audit(const std::string& instance, const std::string& action,
                         const std::string& secret, const std::string& request_id,
                         const std::string& outcome, const std::string& detail) {
  vault::AuditEntry entry;
  entry.actor = "host:serve";
  entry.action = action;
  entry.secret = secret;
  entry.instance = instance;
  entry.request_id = request_id;
  entry.outcome = outcome;
  // Each entry is kept for good (MAC-chained): a detail built from what a plugin sent is
  // bounded, so a plugin cannot grow the vault by megabytes per call.
  constexpr std::size_t kMaxDetail = 1024;
  entry.detail = detail.size() <= kMaxDetail ? detail
                                             : detail.substr(0, kMaxDetail) + "... (" +
                                                   std::to_string(detail.size()) + " bytes)";
  if (auto pos = action.find('.'); pos != std::string::npos)
    entry.operation = action.substr(pos + 1);
  audit_queue_.push(std::move(entry));
}

bool HandleBroker::mapped_binding(const std::string& instance, std::string_view alias,
                                  const char* action, const std::string& request_id,
                                  AliasBinding* out) {
  {
    MutexLock lock(mutex_);
    if (const AliasBinding* found = find_binding(instance, alias)) {
      *out = *found;
      return true;
    }
  }
  audit(instance, action, "", request_id, "denied", "alias=" + shown_alias(alias) + " not mapped");
  return false;
}

Result<kh_secret_handle> HandleBroker::acquire(const std::string& instance, std::string_view alias,
                                               const std::string& request_id) {
  AliasBinding binding;
  if (!mapped_binding(instance, alias, "handle.acquire", request_id, &binding))
    return not_granted("secret alias " + shown_alias(alias) + " is not mapped for this instance");
  bool any = false;
  for (std::uint32_t op : {KH_SECRET_OP_REVEAL, KH_SECRET_OP_SIGN, KH_SECRET_OP_ENV})
    if ((binding.declared_ops & op) && check(instance, binding, op).is_ok()) any = true;
  if (!any) {
    audit(instance, "handle.acquire", binding.source.describe(), request_id, "denied",
          "alias=" + binding.alias + " no operation granted");
    return not_granted("secret alias '" + binding.alias + "' has no operation granted");
  }
  kh_secret_handle handle;
  do {
    randombytes_buf(&handle, sizeof handle);
  } while (handle.hi == 0 && handle.lo == 0);
  {
    MutexLock lock(mutex_);
    handles_[{handle.hi, handle.lo}] = HandleEntry{instance, binding.alias};
  }
  audit(instance, "handle.acquire", binding.source.describe(), request_id, "ok",
        "alias=" + binding.alias);
  return handle;
}

Status HandleBroker::release(const std::string& instance, kh_secret_handle handle) {
  MutexLock lock(mutex_);
  auto it = handles_.find({handle.hi, handle.lo});
  if (it == handles_.end() || it->second.instance != instance)
    return not_found("unknown or released secret handle");
  handles_.erase(it);
  return Status::ok();
}

Result<AliasBinding> HandleBroker::resolve(const std::string& instance,
                                           kh_secret_handle handle) const {
  MutexLock lock(mutex_);
  auto it = handles_.find({handle.hi, handle.lo});
  if (it == handles_.end()) return not_found("unknown or released secret handle");
  if (it->second.instance != instance)  // another instance's handle
    return not_granted("the secret handle belongs to another instance");
  const AliasBinding* binding = find_binding(instance, it->second.alias);
  if (binding == nullptr) return not_found("unknown or released secret handle");
  return *binding;
}

Result<AliasBinding> HandleBroker::granted_binding(const std::string& instance,
                                                   kh_secret_handle handle, std::uint32_t op,
                                                   const char* action,
                                                   const std::string& request_id) {
  auto binding = resolve(instance, handle);
  const Status status = binding.is_ok() ? check(instance, *binding, op) : binding.status();
  if (status.is_ok()) return binding;
  const AliasBinding known = binding.is_ok() ? *binding : AliasBinding{};
  audit(instance, action, known.source.describe(), request_id, "denied",
        status.code() == ErrorCode::kNotFound ? "unknown or released handle"
                                              : "alias=" + known.alias);
  return not_granted(status.message());  // an unknown handle too: the plugin learns no more
}

Status HandleBroker::reveal(const std::string& instance, kh_secret_handle handle,
                            const std::string& request_id, kh_reveal_fn use, void* user,
                            OAuthUser* client) {
  auto binding =
      granted_binding(instance, handle, KH_SECRET_OP_REVEAL, "handle.reveal", request_id);
  if (!binding.is_ok()) return binding.status();
  const std::string what = binding->source.describe();
  vault::SecretBuffer value;
  if (Status read = with_value(
          *binding,
          [&](std::span<const std::uint8_t> v, bool) { value = vault::SecretBuffer::copy_of(v); },
          client);
      !read.is_ok()) {
    audit(instance, "handle.reveal", what, request_id, "error", read.message());
    return read;
  }
  audit(instance, "handle.reveal", what, request_id, "ok", "alias=" + binding->alias);
  if (use != nullptr) use(user, value.data(), value.size());
  return Status::ok();  // value's buffer is zeroed as it goes out of scope
}

Result<std::string> HandleBroker::sign(const std::string& instance, kh_secret_handle handle,
                                       std::string_view algorithm, std::string_view data,
                                       const std::string& request_id, OAuthUser* client) {
  auto granted = granted_binding(instance, handle, KH_SECRET_OP_SIGN, "handle.sign", request_id);
  if (!granted.is_ok()) return granted.status();
  const AliasBinding& binding = *granted;
  if (algorithm != "hmac-sha256" && algorithm != "aws4-signing-key")
    return invalid_argument("unknown signing algorithm (use hmac-sha256 or aws4-signing-key)");
  unsigned char mac[kMacBytes];
  // A SigV4 signing key is derived once per secret and scope while the vault is unchanged.
  std::string derived_key_id;
  if (algorithm == "aws4-signing-key") {
    derived_key_id = binding.source.describe() + '\n' + std::string(data);
    MutexLock lock(cache_mutex_);
    if (auto hit = cached_signing_keys_.find(derived_key_id); hit != cached_signing_keys_.end()) {
      std::memcpy(mac, hit->second.data(), sizeof mac);
      return finish_sign(instance, binding, algorithm, request_id, mac);
    }
  }
  Aws4Scope scope;
  if (algorithm == "aws4-signing-key") {
    auto parsed = parse_aws4_scope(data);
    if (!parsed) {
      return invalid_argument(
          "aws4-signing-key needs {\"date\":\"YYYYMMDD\",\"region\":\"...\",\"service\":\"...\"}");
    }
    scope = std::move(*parsed);
  }
  const Status computed = with_value(
      binding,
      [&](std::span<const std::uint8_t> secret, bool current) {
        if (algorithm == "hmac-sha256") {
          hmac_sha256(secret, data, mac);
          return;
        }
        aws4_signing_key(secret, scope, mac);
        if (current)  // with_value holds the cache lock while use runs
          cached_signing_keys_.insert_or_assign(
              derived_key_id, vault::SecretBuffer::copy_of(std::span<const std::uint8_t>(mac)));
      },
      client);
  if (!computed.is_ok()) {
    audit(instance, "handle.sign", binding.source.describe(), request_id, "error",
          computed.message());
    return computed;
  }
  return finish_sign(instance, binding, algorithm, request_id, mac);
}

std::string HandleBroker::finish_sign(const std::string& instance, const AliasBinding& binding,
                                      std::string_view algorithm, const std::string& request_id,
                                      unsigned char (&mac)[32]) {
  std::string out(reinterpret_cast<const char*>(mac), sizeof mac);
  sodium_memzero(mac, sizeof mac);
  audit(instance, "handle.sign", binding.source.describe(), request_id, "ok",
        "alias=" + binding.alias + " algorithm=" + std::string(algorithm));
  return out;
}

namespace {

bool starts_with_argv(const std::vector<std::string>& argv,
                      const std::vector<std::string>& prefix) {
  return !prefix.empty() && prefix.size() <= argv.size() &&
         std::equal(prefix.begin(), prefix.end(), argv.begin());
}

}  // namespace

Result<AliasBinding> HandleBroker::env_binding(const std::string& instance, std::string_view alias,
                                               const char* action, const std::string& request_id) {
  AliasBinding binding;
  if (!mapped_binding(instance, alias, action, request_id, &binding))
    return not_granted("secret alias '" + std::string(alias) + "' is not mapped for this instance");
  if (!check(instance, binding, KH_SECRET_OP_ENV).is_ok()) {
    audit(instance, action, binding.source.describe(), request_id, "denied",
          "alias=" + binding.alias);
    return not_granted("secret alias '" + binding.alias + "' is not granted for env");
  }
  return binding;
}

Result<vault::SecretBuffer> HandleBroker::copy_value(
    const std::string& instance, const AliasBinding& binding, const char* action,
    const std::string& request_id, const std::string& ok_detail, OAuthUser* client) {
  const std::string what = binding.source.describe();
  vault::SecretBuffer out;
  if (Status read = with_value(
          binding,
          [&](std::span<const std::uint8_t> v, bool) { out = vault::SecretBuffer::copy_of(v); },
          client);
      !read.is_ok()) {
    audit(instance, action, what, request_id, "error", read.message());
    return io_error("secret alias '" + binding.alias + "' could not be read: " + read.message());
  }
  audit(instance, action, what, request_id, "ok", ok_detail);
  return out;
}

Result<vault::SecretBuffer> HandleBroker::value_for_env(const std::string& instance,
                                                        std::string_view alias,
                                                        const std::vector<std::string>& argv,
                                                        const std::string& request_id,
                                                        OAuthUser* client) {
  auto binding = env_binding(instance, alias, "handle.env", request_id);
  if (!binding.is_ok()) return binding.status();
  const bool allowed = std::any_of(
      binding->env_commands.begin(), binding->env_commands.end(),
      [&](const std::vector<std::string>& prefix) { return starts_with_argv(argv, prefix); });
  if (!allowed) {
    const std::string command = argv.empty() ? std::string() : argv.front();
    audit(instance, "handle.env", binding->source.describe(), request_id, "denied",
          "alias=" + binding->alias + " command=" + command + " (not in env_commands)");
    return not_granted(binding->env_commands.empty()
                           ? "secret alias '" + binding->alias +
                                 "' has no env_commands in the config, so no child may receive it"
                           : "secret alias '" + binding->alias + "' may not be given to '" +
                                 command + "' (not in the alias's env_commands)");
  }
  return copy_value(instance, *binding, "handle.env", request_id,
                    "alias=" + binding->alias + " command=" + argv.front(), client);
}

Result<vault::SecretBuffer> HandleBroker::value_for_header(const std::string& instance,
                                                           std::string_view alias,
                                                           const std::string& destination,
                                                           const std::string& request_id) {
  auto binding = env_binding(instance, alias, "handle.header", request_id);
  if (!binding.is_ok()) return binding.status();
  return copy_value(instance, *binding, "handle.header", request_id,
                    "alias=" + binding->alias + " to=" + destination,
                    nullptr);  // mounted servers: never per client (the config refuses per_user)
}

Status HandleBroker::header_refused(const std::string& instance, std::string_view alias,
                                    const vault::SecretBuffer& refused,
                                    const std::string& destination, bool retried,
                                    const std::string& request_id) {
  AliasBinding binding;
  if (!mapped_binding(instance, alias, "handle.header", request_id, &binding))
    return not_granted("secret alias '" + std::string(alias) + "' is not mapped for this instance");
  const std::string what = binding.source.describe();
  const std::string detail = "alias=" + binding.alias + " HTTP 401 from " + destination;
  if (binding.source.kind != SecretSource::Kind::kOAuth) {
    audit(instance, "handle.header", what, request_id, "refused", detail);
    const std::string fix = binding.source.kind == SecretSource::Kind::kVault
                                ? "replace it with `keyhold vault set " + binding.source.ref + "`"
                                : "replace the value behind " + what;
    return not_granted("the server refused the value of secret alias '" + binding.alias + "' (" +
                       what + "): " + fix + " if it is wrong or expired");
  }
  const std::string relogin = "run `keyhold oauth login " + binding.source.ref + "`";
  if (retried) {
    audit(instance, "handle.header", what, request_id, "refused",
          detail + " again after a refresh");
    return not_granted("the server refused the access token of oauth provider '" +
                       binding.source.ref + "' again after it was refreshed: " + relogin);
  }
  if (Status renewed = oauth_->renew_refused(binding.source.ref, refused); !renewed.is_ok()) {
    audit(instance, "handle.header", what, request_id, "refused",
          detail + "; " + renewed.message());
    return not_granted("the server refused the access token of oauth provider '" +
                       binding.source.ref + "': " + renewed.message());
  }
  check_for_change();  // the redactor learns a refreshed token before it is sent
  audit(instance, "handle.header", what, request_id, "refused", detail + "; token renewed");
  return Status::ok();
}

Status HandleBroker::header_lacks_scope(const std::string& instance, std::string_view alias,
                                        const std::string& destination, const std::string& scope,
                                        const std::string& request_id) {
  AliasBinding binding;
  if (!mapped_binding(instance, alias, "handle.header", request_id, &binding))
    return not_granted("secret alias '" + std::string(alias) + "' is not mapped for this instance");
  const std::string what = binding.source.describe();
  const std::string asked =
      scope.empty() ? std::string("a scope it did not name") : "the scope \"" + scope + "\"";
  audit(instance, "handle.header", what, request_id, "refused",
        "alias=" + binding.alias + " HTTP 403 insufficient_scope from " + destination +
            (scope.empty() ? std::string() : "; scope=" + scope));
  if (binding.source.kind != SecretSource::Kind::kOAuth)
    return not_granted("the server says the credential of secret alias '" + binding.alias + "' (" +
                       what + ") lacks " + asked + "; replace it with one that has it");
  const std::string& provider = binding.source.ref;
  return not_granted("the access token of oauth provider '" + provider + "' lacks " + asked +
                     " the server asks for: add what is missing to scopes in [oauth." + provider +
                     "] and run `keyhold oauth login " + provider +
                     "` (a larger grant needs the user's consent; keyhold does not step up by "
                     "itself)");
}

std::vector<KnownSecret> HandleBroker::releasable_values() {
  std::vector<AliasBinding> all;
  {
    MutexLock lock(mutex_);
    for (const auto& [instance, bindings] : bindings_)
      all.insert(all.end(), bindings.begin(), bindings.end());
  }
  std::vector<KnownSecret> out;
  for (const auto& b : all) {
    if (b.source.kind == SecretSource::Kind::kOAuth) {
      if (oauth_)
        for (auto& token : oauth_->known_tokens(b.source.ref))
          out.push_back({b.alias, std::move(token)});
      continue;
    }
    auto value = read_source(b.source, vault_.get());
    if (value.is_ok()) out.push_back({b.alias, std::move(value).value()});
    if (b.source.kind != SecretSource::Kind::kVault) continue;
    // After a rotation the previous value may still be in a plugin's memory or output; a
    // pending one (a rotation in flight) may already be what the service answers with.
    for (const vault::Stage stage : {vault::Stage::kPrevious, vault::Stage::kPending}) {
      auto other = vault_->with([&](vault::Vault& v) -> vault::Result<vault::SecretBuffer> {
        auto versions = v.list_versions(b.source.ref);
        if (!versions.is_ok()) return versions.status();
        for (const auto& version : versions.value())
          if (version.stage == stage) return v.read_secret(b.source.ref, version.version);
        return vault::Status(vault::ErrorCode::kNotFound, "no such version");
      });
      if (other.is_ok()) out.push_back({b.alias, std::move(other).value()});
    }
  }
  return out;
}

void HandleBroker::set_change_listener(std::function<void()> listener) {
  MutexLock lock(change_mutex_);
  change_listener_ = std::move(listener);
}

void HandleBroker::check_oauth_generation() {
  MutexLock lock(change_mutex_);
  check_oauth_generation_locked();
}

void HandleBroker::check_oauth_generation_locked() {
  if (!oauth_) return;
  const std::uint64_t generation = oauth_->generation();
  const bool moved = generation != last_oauth_generation_;
  last_oauth_generation_ = generation;
  if (moved && change_listener_) change_listener_();
}

bool HandleBroker::check_for_change() {
  if (!vault_) return false;
  MutexLock lock(change_mutex_);
  check_oauth_generation_locked();
  auto version = vault_->with([](vault::Vault& v) { return v.data_version(); });
  if (!version.is_ok()) {  // cannot tell: trust nothing cached
    MutexLock cache(cache_mutex_);
    cached_grants_.clear();
    cached_values_.clear();
    cached_signing_keys_.clear();
    return false;
  }
  if (version.value() == last_data_version_) return false;
  const bool changed = last_data_version_ != -1;
  last_data_version_ = version.value();
  {
    MutexLock cache(cache_mutex_);
    cached_grants_.clear();
    cached_values_.clear();
    cached_signing_keys_.clear();
  }
  if (changed && change_listener_) change_listener_();
  return changed;
}

void HandleBroker::forget_cached() {
  MutexLock lock(change_mutex_);
  {
    MutexLock cache(cache_mutex_);
    cached_grants_.clear();
    cached_values_.clear();
    cached_signing_keys_.clear();
  }
  if (change_listener_) change_listener_();
}

}  // namespace keyhold::secrets
