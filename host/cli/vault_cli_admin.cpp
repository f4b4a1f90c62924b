// `keyhold vault init|status|passwd|rekey|import|backup|restore`.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/vault_cli_commands.hpp"
#include "cli/vault_cli_rotation.hpp"
#include "cli/vault_cli_support.hpp"
#include "keyhold/vault/env_file.hpp"

namespace keyhold::cli::vault_cli {
namespace {

using nlohmann::json;

// A keyfile at path: loaded when it exists, created (32 random bytes, 0600) otherwise.
vault::Credentials keyfile_at(const std::string& path, bool& created) {
  std::error_code ec;
  created = !std::filesystem::exists(path, ec);
  auto credentials =
      created ? vault::Credentials::create_keyfile(path) : vault::Credentials::from_keyfile(path);
  if (!credentials.is_ok()) fail(credentials.status());
  return std::move(credentials).value();
}

// New credentials for init/passwd: a keyfile path if given, else KEYHOLD_PASSPHRASE_FILE
// (passphrase_file_env), else a passphrase asked twice on the terminal.
vault::Credentials new_credentials(const std::string& keyfile, const std::string& passphrase_file,
                                   bool& keyfile_created) {
  keyfile_created = false;
  if (!keyfile.empty()) return keyfile_at(keyfile, keyfile_created);
  if (!passphrase_file.empty()) {
    auto credentials = vault::Credentials::from_passphrase_file(passphrase_file);
    if (!credentials.is_ok()) fail(credentials.status());
    return std::move(credentials).value();
  }
  return vault::Credentials::passphrase(prompt_new_passphrase("new vault passphrase"));
}

const char* env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

void add_admin_commands(CLI::App& parent, const std::shared_ptr<CommonOptions>& common) {
  {
    auto keyfile = std::make_shared<std::string>();
    auto* cmd = parent.add_subcommand(
        "init",
        "Create a new vault, protected by a passphrase (asked twice, or "
        "KEYHOLD_PASSPHRASE_FILE) or by a keyfile (--keyfile or KEYHOLD_KEYFILE)");
    cmd->add_option("--keyfile", *keyfile,
                    "Protect the vault with this keyfile; created (32 random bytes, mode 0600) "
                    "when it does not exist");
    cmd->callback([keyfile, common] {
      if (auto hardened = vault::harden_process(); !hardened.is_ok()) fail(hardened);
      const auto path = vault_path(common->vault_path);
      std::error_code ec;
      if (std::filesystem::exists(path, ec)) {
        fail(kExitExists, "a vault already exists at " + path.string());
      }
      const std::string key_path = keyfile->empty() ? env_or_empty("KEYHOLD_KEYFILE") : *keyfile;
      bool created = false;
      const auto credentials =
          new_credentials(key_path, env_or_empty("KEYHOLD_PASSPHRASE_FILE"), created);
      auto v = vault::Vault::create(path, credentials, kdf_for_new_passphrase(), cli_actor());
      if (!v.is_ok()) fail(v.status());
      std::printf("created vault %s\n", path.string().c_str());
      if (created) {
        std::printf("created keyfile %s (mode 0600): keep it safe; set KEYHOLD_KEYFILE to it\n",
                    key_path.c_str());
      }
    });
  }
  {
    auto json_out = std::make_shared<bool>(false);
    auto* cmd = parent.add_subcommand(
        "status", "Show whether the vault can be unlocked, its counts, and overdue secrets");
    cmd->add_flag("--json", *json_out, "Print JSON");
    cmd->callback([json_out, common] {
      if (auto hardened = vault::harden_process(); !hardened.is_ok()) fail(hardened);
      const auto path = vault_path(common->vault_path);
      std::error_code ec;
      if (!std::filesystem::exists(path, ec)) {
        fail(kExitNotFound,
             "no vault at " + path.string() + "; create one with `keyhold vault init`");
      }
      auto credentials = unlock_credentials(false);
      if (!credentials) {
        if (*json_out) {
          std::cout << json{{"vault", path.string()}, {"state", "locked"}}.dump(2) << "\n";
        } else {
          std::printf(
              "vault: %s\nstate: locked (set KEYHOLD_KEYFILE or KEYHOLD_PASSPHRASE_FILE "
              "to unlock)\n",
              path.string().c_str());
        }
        throw CLI::RuntimeError(kExitLocked);
      }
      auto v = vault::Vault::open(path, *credentials);
      if (!v.is_ok()) fail(v.status());
      auto s = v->summary(now_unix());
      if (!s.is_ok()) fail(s.status());
      const auto& m = s.value();
      auto rotations = v->list_rotations();
      if (!rotations.is_ok()) fail(rotations.status());
      const auto now = now_unix();
      json rotation_list = json::array();
      for (const auto& r : rotations.value()) {
        json entry = rotation_json(r, now);
        entry["secret"] = r.secret;
        rotation_list.push_back(std::move(entry));
      }
      if (*json_out) {
        std::cout << json{{"vault", path.string()},
                          {"state", "unlocked"},
                          {"unlock_method", m.unlock_method},
                          {"secrets", m.secrets},
                          {"removed_secrets", m.removed_secrets},
                          {"versions", m.versions},
                          {"grants", m.grants},
                          {"audit_entries", m.audit_entries},
                          {"audit_head", m.audit_head},
                          {"key_term", m.active_key_term},
                          {"schema_version", m.schema_version},
                          {"overdue", m.overdue_secrets},
                          {"rotation", rotation_list}}
                         .dump(2)
                  << "\n";
        return;
      }
      std::printf(
          "vault: %s\nstate: unlocked (%s)\nsecrets: %lld (%lld removed), versions: %lld\n"
          "grants: %lld\naudit entries: %lld\nkey term: %lld\nschema: %lld\n",
          path.string().c_str(), m.unlock_method.c_str(), static_cast<long long>(m.secrets),
          static_cast<long long>(m.removed_secrets), static_cast<long long>(m.versions),
          static_cast<long long>(m.grants), static_cast<long long>(m.audit_entries),
          static_cast<long long>(m.active_key_term), static_cast<long long>(m.schema_version));
      // A figure to write down elsewhere: `audit --verify --expect-head` later proves the
      // file still continues this history (an older copy of the file would not).
      std::printf("audit head: %lld:%s\n", static_cast<long long>(m.audit_entries),
                  m.audit_head.c_str());
      std::printf("overdue for rotation: %zu\n", m.overdue_secrets.size());
      for (const auto& name : m.overdue_secrets) std::printf("  %s\n", name.c_str());
      std::printf("rotation policies: %zu\n", rotations->size());
      for (const auto& r : rotations.value()) {
        std::printf("  %s: %s\n", r.secret.c_str(), rotation_summary(r, now).c_str());
      }
    });
  }
  {
    struct Options {
      std::string new_keyfile, new_passphrase_file;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand(
        "passwd",
        "Change the passphrase or keyfile (rewraps the root key only; records are "
        "not touched)");
    cmd->add_option("--new-keyfile", o->new_keyfile,
                    "Switch to this keyfile (created 0600 when it does not exist)");
    cmd->add_option("--new-passphrase-file", o->new_passphrase_file,
                    "Read the new passphrase from this file instead of asking twice");
    cmd->callback([o, common] {
      vault::Vault v = open_vault(*common);
      bool created = false;
      const auto credentials = new_credentials(o->new_keyfile, o->new_passphrase_file, created);
      if (auto s = v.change_credentials(credentials, kdf_for_new_passphrase(), cli_actor());
          !s.is_ok()) {
        fail(s);
      }
      std::printf("vault credentials changed%s\n",
                  created ? (" (created keyfile " + o->new_keyfile + ")").c_str() : "");
    });
  }
  {
    auto* cmd = parent.add_subcommand(
        "rekey", "Start a new key term, reseal every record under it, retire the old terms");
    cmd->callback([common] {
      vault::Vault v = open_vault(*common);
      auto term = v.rekey(cli_actor());
      if (!term.is_ok()) fail(term.status());
      std::printf("rekeyed: every record is under key term %lld\n",
                  static_cast<long long>(term.value()));
    });
  }
  {
    struct Options {
      std::string env_file, docker_dir, prefix;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand(
        "import", "Import secrets from an .env file or a Docker secrets folder (/run/secrets)");
    auto* env_opt = cmd->add_option("--env-file", o->env_file, "KEY=VALUE file");
    auto* docker_opt =
        cmd->add_option("--docker-secrets", o->docker_dir, "Folder with one file per secret");
    env_opt->excludes(docker_opt);
    cmd->add_option("--prefix", o->prefix, "Prepend this to every name (e.g. app/)");
    cmd->callback([o, common] {
      if (o->env_file.empty() == o->docker_dir.empty()) {
        fail(kExitUsage, "give exactly one of --env-file FILE or --docker-secrets DIR");
      }
      std::vector<vault::EnvEntry> entries;
      if (!o->env_file.empty()) {
        auto text = vault::read_file_secret(o->env_file);
        if (!text.is_ok()) fail(text.status());
        auto parsed = vault::parse_env_file(text->bytes());
        if (!parsed.is_ok()) fail(parsed.status());
        entries = std::move(parsed).value();
      } else {
        std::error_code ec;
        std::vector<std::filesystem::path> files;
        for (const auto& item : std::filesystem::directory_iterator(o->docker_dir, ec)) {
          const std::string name = item.path().filename().string();
          if (name.empty() || name[0] == '.' || !item.is_regular_file(ec)) continue;
          files.push_back(item.path());
        }
        if (ec) fail(kExitNotFound, "cannot read folder " + o->docker_dir + ": " + ec.message());
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
          auto value = vault::read_file_secret(file);
          if (!value.is_ok()) fail(value.status());
          entries.push_back({file.filename().string(), std::move(value).value()});
        }
      }
      for (auto& entry : entries) {
        entry.name = o->prefix + entry.name;
        if (auto problem = vault::validate_secret_name(entry.name)) {
          fail(kExitUsage, "cannot import '" + entry.name + "': " + *problem);
        }
        refuse_unless_token_record(entry.name, entry.value.bytes());
      }
      vault::Vault v = open_vault(*common);
      const auto who = cli_actor();
      for (const auto& entry : entries) {
        auto version = v.put_secret(entry.name, entry.value.bytes(), {}, who, "import");
        if (!version.is_ok()) fail(version.status());
        std::printf("imported %s (version %lld)\n", entry.name.c_str(),
                    static_cast<long long>(version.value()));
      }
      std::printf("imported %zu secrets\n", entries.size());
    });
  }
  {
    auto file = std::make_shared<std::string>();
    auto* cmd = parent.add_subcommand(
        "backup", "Write an encrypted, integrity-checked copy of the vault to FILE");
    cmd->add_option("FILE", *file, "Backup file to create (never overwritten)")->required();
    cmd->callback([file, common] {
      vault::Vault v = open_vault(*common);
      if (auto s = v.backup(*file, cli_actor()); !s.is_ok()) fail(s);
      std::printf("backup written to %s\n", file->c_str());
    });
  }
  {
    auto file = std::make_shared<std::string>();
    auto* cmd = parent.add_subcommand(
        "restore",
        "Restore a backup into a new vault file (--vault / KEYHOLD_VAULT), checking "
        "every byte first; unlock with the backup's passphrase or keyfile");
    cmd->add_option("FILE", *file, "Backup file")->required();
    cmd->callback([file, common] {
      if (auto hardened = vault::harden_process(); !hardened.is_ok()) fail(hardened);
      const auto target = vault_path(common->vault_path);
      auto credentials = unlock_credentials(true);
      if (auto s = vault::Vault::restore(*file, target, *credentials, cli_actor()); !s.is_ok()) {
        fail(s);
      }
      std::printf("restored %s into %s\n", file->c_str(), target.string().c_str());
    });
  }
}

}  // namespace keyhold::cli::vault_cli
