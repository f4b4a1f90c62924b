#include "secrets/serve_secrets.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace keyhold::secrets {

namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// The unlock method serve can use without a terminal, or nothing and a reason.
std::optional<vault::Credentials> serve_credentials(std::string* error) {
  if (auto keyfile = env_or_empty("KEYHOLD_KEYFILE"); !keyfile.empty()) {
    auto c = vault::Credentials::from_keyfile(keyfile);
    if (!c.is_ok()) {
      *error = c.status().message();
      return std::nullopt;
    }
    return std::move(c).value();
  }
  if (auto file = env_or_empty("KEYHOLD_PASSPHRASE_FILE"); !file.empty()) {
    auto c = vault::Credentials::from_passphrase_file(file);
    if (!c.is_ok()) {
      *error = c.status().message();
      return std::nullopt;
    }
    return std::move(c).value();
  }
  if (auto dir = env_or_empty("CREDENTIALS_DIRECTORY"); !dir.empty()) {
    const std::filesystem::path credential = std::filesystem::path(dir) / "keyhold-vault-key";
    std::error_code ec;
    if (std::filesystem::exists(credential, ec)) {
      auto c = vault::Credentials::from_keyfile(credential);
      if (c.is_ok()) return std::move(c).value();
    }
  }
  std::error_code ec;
  if (std::filesystem::exists(default_keyfile_path(), ec)) {
    auto c = vault::Credentials::from_keyfile(default_keyfile_path());
    if (!c.is_ok()) {
      *error = c.status().message();
      return std::nullopt;
    }
    return std::move(c).value();
  }
  *error =
      "no unlock method: set KEYHOLD_KEYFILE or KEYHOLD_PASSPHRASE_FILE (keyhold serve cannot "
      "prompt, because stdin carries the protocol)";
  return std::nullopt;
}

bool needs_vault(const Config& config) {
  for (const auto& instance : config.instances)
    for (const auto& [alias, source] : instance.secrets)
      if (source.source.starts_with("vault:")) return true;
  return false;
}

}  // namespace

std::filesystem::path serve_vault_path() {
  if (auto path = env_or_empty("KEYHOLD_VAULT"); !path.empty()) return path;
  return default_data_dir() / "vault.db";
}

std::filesystem::path default_keyfile_path() { return default_data_dir() / "vault.key"; }

std::unique_ptr<SecretServices> open_secret_services(const Config& config, bool create_default,
                                                     std::string* error) {
  auto services = std::make_unique<SecretServices>();
  const auto path = serve_vault_path();
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  const vault::AuditContext who{"host:serve", ""};
  if (!exists && create_default && env_or_empty("KEYHOLD_VAULT").empty()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    auto keyfile = vault::Credentials::create_keyfile(default_keyfile_path());
    if (keyfile.is_ok()) {
      auto created = vault::Vault::create(path, keyfile.value(), vault::KdfParams::moderate(), who);
      if (created.is_ok()) {
        spdlog::info("created a keyfile-protected vault at {} (key: {})", path.string(),
                     default_keyfile_path().string());
        services->vault = std::make_shared<SharedVault>(std::move(created).value());
      } else {
        spdlog::warn("cannot create the default vault: {}", created.status().message());
      }
    }
  } else if (exists) {
    std::string why;
    auto credentials = serve_credentials(&why);
    if (credentials) {
      auto opened = vault::Vault::open(path, *credentials);
      if (opened.is_ok()) {
        services->vault = std::make_shared<SharedVault>(std::move(opened).value());
      } else {
        why = opened.status().message();
      }
    }
    if (!services->vault) {
      if (needs_vault(config)) {
        *error = "the vault at " + path.string() + " is needed and locked: " + why;
        return nullptr;
      }
      spdlog::info("vault at {} not opened ({}); serving without it", path.string(), why);
    }
  } else if (needs_vault(config)) {
    *error = "instances map vault: secrets but there is no vault at " + path.string() +
             " (create one with `keyhold vault init`, or set KEYHOLD_VAULT)";
    return nullptr;
  }
  if (services->vault) {
    if (auto hardened = vault::harden_process(); !hardened.is_ok())
      spdlog::warn("cannot harden the process: {}", hardened.message());
  }
  services->broker = std::make_unique<HandleBroker>(services->vault);
  services->redactor = Redactor::create(builtin_credential_rules(), error);
  if (!services->redactor) return nullptr;
  services->children = std::make_unique<ChildProcesses>(*services->broker, services->redactor);
  return services;
}

RedactionRefresher::RedactionRefresher(SecretServices& services) : services_(services) {
  services_.broker->set_change_listener([this] {
    std::string error;
    if (!reload(&error)) spdlog::error("redactor reload failed: {}", error);
  });
  services_.broker->check_for_change();  // records the starting data_version
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) {
      lock.unlock();
      services_.broker->check_for_change();
      lock.lock();
    }
  });
}

RedactionRefresher::~RedactionRefresher() {
  services_.broker->set_change_listener(nullptr);
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool RedactionRefresher::reload(std::string* error) {
  auto values = services_.broker->releasable_values();
  return services_.redactor->set_secrets(values, error);
}

}  // namespace keyhold::secrets
