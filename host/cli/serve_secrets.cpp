#include "cli/serve_secrets.hpp"

#include <spdlog/spdlog.h>

#include "cli/vault_location.hpp"
#include "oauth/token_manager.hpp"
#include "secrets/child_processes.hpp"
#include "secrets/credential_rules.hpp"

namespace keyhold::cli {

using secrets::SecretServices;

namespace {

bool needs_vault(const Config& config) {
  for (const auto& instance : config.instances)
    for (const auto& [alias, source] : instance.secrets)
      if (source.source.starts_with("vault:") || source.source.starts_with("oauth:")) return true;
  return false;
}

}  // namespace

Result<std::unique_ptr<SecretServices>> open_secret_services(const Config& config,
                                                             bool create_default) {
  auto services = std::make_unique<SecretServices>();
  const auto path = vault_path();
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  const vault::AuditContext who{"host:serve", ""};
  if (!exists && create_default && !vault_path_from_environment()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    auto keyfile = vault::Credentials::create_keyfile(default_keyfile_path());
    if (keyfile.is_ok()) {
      auto created = vault::Vault::create(path, keyfile.value(), vault::KdfParams::moderate(), who);
      if (created.is_ok()) {
        spdlog::info("created a keyfile-protected vault at {} (key: {})", path.string(),
                     default_keyfile_path().string());
        services->vault = std::make_shared<secrets::SharedVault>(std::move(created).value());
      } else {
        spdlog::warn("cannot create the default vault: {}", created.status().message());
      }
    }
  } else if (exists) {
    std::string why =
        "no unlock method: set KEYHOLD_KEYFILE or KEYHOLD_PASSPHRASE_FILE (keyhold serve cannot "
        "prompt, because stdin carries the protocol)";
    auto credentials = unattended_credentials(UnlockFallbacks::kServe);
    if (credentials && !credentials->is_ok()) why = credentials->status().message();
    if (credentials && credentials->is_ok()) {
      auto opened = vault::Vault::open(path, credentials->value());
      if (opened.is_ok()) {
        services->vault = std::make_shared<secrets::SharedVault>(std::move(opened).value());
      } else {
        why = opened.status().message();
      }
    }
    if (!services->vault) {
      if (needs_vault(config)) {
        return unavailable("the vault at " + path.string() + " is needed and locked: " + why);
      }
      spdlog::info("vault at {} not opened ({}); serving without it", path.string(), why);
    }
  } else if (needs_vault(config)) {
    return not_found("instances map vault: secrets but there is no vault at " + path.string() +
                     " (create one with `keyhold vault init`, or set KEYHOLD_VAULT)");
  }
  if (services->vault) {
    if (auto hardened = vault::harden_process(); !hardened.is_ok())
      spdlog::warn("cannot harden the process: {}", hardened.message());
  }
  services->broker = std::make_unique<secrets::HandleBroker>(services->vault);
  if (services->vault && !config.oauth.empty()) {
    services->oauth = std::make_shared<oauth::TokenManager>(config.oauth, services->vault);
    services->broker->set_oauth_tokens(services->oauth);
  }
  auto redactor = secrets::Redactor::create(secrets::builtin_credential_rules());
  if (!redactor.is_ok()) return redactor.status();
  services->redactor = std::move(redactor).value();
  services->children =
      std::make_unique<secrets::ChildProcesses>(*services->broker, services->redactor);
  return services;
}

}  // namespace keyhold::cli
