// `keyhold vault set|list|show|reveal|rm|rotate|history|rollback`.
#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/vault_cli_commands.hpp"
#include "cli/vault_cli_rotation.hpp"
#include "cli/vault_cli_support.hpp"

namespace keyhold::cli::vault_cli {
namespace {

using nlohmann::json;

json secret_json(const vault::SecretInfo& s, vault::UnixSeconds now) {
  json out = {{"name", s.name},
              {"description", s.description},
              {"created_at", format_time(s.created_at)},
              {"updated_at", format_time(s.updated_at)},
              {"current_version", s.current_version ? json(*s.current_version) : json(nullptr)},
              {"rotate_every_seconds",
               s.rotate_every_seconds ? json(*s.rotate_every_seconds) : json(nullptr)},
              {"overdue", s.overdue(now)}};
  return out;
}

json versions_json(const std::vector<vault::VersionInfo>& versions) {
  json out = json::array();
  for (const auto& v : versions) {
    out.push_back({{"version", v.version},
                   {"stage", v.stage == vault::Stage::kNone ? json(nullptr)
                                                            : json(vault::stage_name(v.stage))},
                   {"key_term", v.key_term},
                   {"created_at", format_time(v.created_at)}});
  }
  return out;
}

// `list --json` streams its array (same layout as nlohmann's dump(2)): building a json tree
// for 10k secrets cost more than reading them.
void print_secrets_json(const std::vector<vault::SecretInfo>& secrets,
                        const std::map<std::string, const vault::RotationInfo*>& rotations,
                        vault::UnixSeconds now) {
  auto quoted = [](const std::string& text) { return json(text).dump(); };
  auto number_or_null = [](const std::optional<std::int64_t>& v) {
    return v ? std::to_string(*v) : std::string("null");
  };
  std::string out = secrets.empty() ? "[]" : "[";
  for (std::size_t i = 0; i < secrets.size(); ++i) {
    const auto& s = secrets[i];
    out += i == 0 ? "\n  {\n" : ",\n  {\n";
    out += "    \"created_at\": " + quoted(format_time(s.created_at)) + ",\n";
    out += "    \"current_version\": " + number_or_null(s.current_version) + ",\n";
    out += "    \"description\": " + quoted(s.description) + ",\n";
    out += "    \"name\": " + quoted(s.name) + ",\n";
    out += std::string("    \"overdue\": ") + (s.overdue(now) ? "true" : "false") + ",\n";
    out += "    \"rotate_every_seconds\": " + number_or_null(s.rotate_every_seconds) + ",\n";
    const auto rotation = rotations.find(s.name);
    out += "    \"rotation\": " +
           (rotation == rotations.end() ? std::string("null")
                                        : rotation_json(*rotation->second, now).dump()) +
           ",\n";
    out += "    \"updated_at\": " + quoted(format_time(s.updated_at)) + "\n  }";
  }
  out += secrets.empty() ? "\n" : "\n]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void print_versions(const std::vector<vault::VersionInfo>& versions) {
  std::printf("%-8s %-9s %-5s %s\n", "VERSION", "STAGE", "TERM", "CREATED");
  for (const auto& v : versions) {
    std::printf("%-8lld %-9s %-5lld %s\n", static_cast<long long>(v.version),
                vault::stage_name(v.stage), static_cast<long long>(v.key_term),
                format_time(v.created_at).c_str());
  }
}

// Generates length characters from charset with a uniform choice per character.
vault::SecretBuffer generate_value(std::size_t length, const std::string& charset_name) {
  std::string charset;
  if (charset_name == "alnum") {
    charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  } else if (charset_name == "hex") {
    charset = "0123456789abcdef";
  } else if (charset_name == "base64url") {
    charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  } else if (charset_name == "printable") {
    for (char c = 33; c < 127; ++c) charset.push_back(c);
  } else {
    fail(kExitUsage,
         "unknown --charset '" + charset_name + "' (use alnum, hex, base64url or printable)");
  }
  if (length == 0 || length > 4096) fail(kExitUsage, "--generate LENGTH must be 1..4096");
  vault::SecretBuffer value(length);
  for (std::size_t i = 0; i < length; ++i) {
    value.data()[i] = static_cast<std::uint8_t>(
        charset[randombytes_uniform(static_cast<std::uint32_t>(charset.size()))]);
  }
  return value;
}

void write_all_stdout(std::span<const std::uint8_t> bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(kExitError, "cannot write the value to stdout");
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

void add_secret_commands(CLI::App& parent, const std::shared_ptr<CommonOptions>& common) {
  {
    struct Options {
      std::string name, description, rotate_every;
      ValueSource source;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand(
        "set",
        "Store a new version of a secret. The value comes from stdin (binary-safe), "
        "--from-file or --from-env; never from an argument.");
    cmd->add_option("NAME", o->name, "Secret name, path-like (prod/db-password)")->required();
    cmd->add_option("--from-file", o->source.from_file, "Read the value from this file");
    cmd->add_option("--from-env", o->source.from_env, "Read the value from this variable");
    cmd->add_option("--description", o->description, "A description (metadata, not secret)");
    cmd->add_option("--rotate-every", o->rotate_every, "Rotation period, e.g. 90d, 12h, 2w");
    cmd->callback([o, common] {
      vault::PutOptions options;
      if (!o->description.empty()) options.description = o->description;
      if (!o->rotate_every.empty()) {
        options.rotate_every_seconds = vault::parse_duration(o->rotate_every);
        if (!options.rotate_every_seconds) fail(kExitUsage, "--rotate-every: use e.g. 90d, 24h");
      }
      if (auto problem = vault::validate_secret_name(o->name)) {
        fail(kExitUsage, "invalid secret name: " + *problem);
      }
      vault::Vault v = open_vault(*common);
      const vault::SecretBuffer value = read_value(o->source, o->name);
      refuse_unless_token_record(o->name, value.bytes());
      auto version = v.put_secret(o->name, value.bytes(), options, cli_actor());
      if (!version.is_ok()) fail(version.status());
      std::printf("stored %s version %lld\n", o->name.c_str(),
                  static_cast<long long>(version.value()));
    });
  }
  {
    auto json_out = std::make_shared<bool>(false);
    auto* cmd = parent.add_subcommand("list", "List secrets (metadata only, never values)");
    cmd->add_flag("--json", *json_out, "Print JSON");
    cmd->callback([json_out, common] {
      vault::Vault v = open_vault(*common);
      auto secrets = v.list_secrets();
      if (!secrets.is_ok()) fail(secrets.status());
      auto rotations = v.list_rotations();
      if (!rotations.is_ok()) fail(rotations.status());
      std::map<std::string, const vault::RotationInfo*> by_name;
      for (const auto& r : rotations.value()) by_name[r.secret] = &r;
      const auto now = now_unix();
      if (*json_out) {
        print_secrets_json(secrets.value(), by_name, now);
        return;
      }
      std::printf("%-40s %-8s %-21s %s\n", "NAME", "VERSION", "UPDATED", "DESCRIPTION");
      for (const auto& s : secrets.value()) {
        const auto rotation = by_name.find(s.name);
        std::string note;
        if (rotation != by_name.end()) {
          note = " [rotation: " + rotation_summary(*rotation->second, now) + "]";
        } else if (s.overdue(now)) {
          note = " [rotation overdue]";
        }
        std::printf("%-40s %-8lld %-21s %s%s\n", s.name.c_str(),
                    static_cast<long long>(s.current_version.value_or(0)),
                    format_time(s.updated_at).c_str(), s.description.c_str(), note.c_str());
      }
    });
  }
  {
    struct Options {
      std::string name;
      bool json = false;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand("show", "Show one secret's metadata and versions");
    cmd->add_option("NAME", o->name, "Secret name")->required();
    cmd->add_flag("--json", o->json, "Print JSON");
    cmd->callback([o, common] {
      vault::Vault v = open_vault(*common);
      auto info = v.find_secret(o->name);
      if (!info.is_ok()) fail(info.status());
      auto versions = v.list_versions(o->name);
      if (!versions.is_ok()) fail(versions.status());
      if (o->json) {
        json out = secret_json(info.value(), now_unix());
        out["versions"] = versions_json(versions.value());
        std::cout << out.dump(2) << "\n";
        return;
      }
      std::printf("name:        %s\ndescription: %s\ncreated:     %s\nupdated:     %s\n",
                  info->name.c_str(), info->description.c_str(),
                  format_time(info->created_at).c_str(), format_time(info->updated_at).c_str());
      if (info->rotate_every_seconds) {
        std::printf("rotate every: %llds%s\n", static_cast<long long>(*info->rotate_every_seconds),
                    info->overdue(now_unix()) ? " (overdue)" : "");
      }
      print_versions(versions.value());
    });
  }
  {
    struct Options {
      std::string name;
      std::optional<std::int64_t> version;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand("reveal", "Print a secret's value on stdout (audited)");
    cmd->add_option("NAME", o->name, "Secret name")->required();
    cmd->add_option("--version", o->version, "A specific version (default: current)");
    cmd->callback([o, common] {
      vault::Vault v = open_vault(*common);
      const auto who = cli_actor();
      vault::AuditEntry entry;
      entry.actor = who.actor;
      entry.request_id = who.request_id;
      entry.action = "reveal";
      entry.secret = o->name;
      entry.operation = "reveal";
      if (o->version) entry.detail = "version=" + std::to_string(*o->version);
      auto value = v.read_secret(o->name, o->version);
      if (!value.is_ok()) {
        entry.outcome = "error";
        entry.detail += (entry.detail.empty() ? "" : " ") + std::string("error=") +
                        vault::error_code_name(value.status().code());
        (void)v.append_audit(entry);  // the failure is what the user must see
        fail(value.status());
      }
      if (auto seq = v.append_audit(entry); !seq.is_ok()) fail(seq.status());  // no audit, no value
      write_all_stdout(value->bytes());
    });
  }
  {
    struct Options {
      std::string name;
      bool purge = false;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand(
        "rm", "Remove a secret (hidden, values kept); --purge erases every version for good");
    cmd->add_option("NAME", o->name, "Secret name")->required();
    cmd->add_flag("--purge", o->purge, "Erase every version, and grants naming it exactly");
    cmd->callback([o, common] {
      vault::Vault v = open_vault(*common);
      if (auto s = v.remove_secret(o->name, o->purge, cli_actor()); !s.is_ok()) fail(s);
      std::printf("%s %s\n", o->purge ? "purged" : "removed", o->name.c_str());
    });
  }
  {
    struct Options {
      std::string name, charset = "alnum";
      std::size_t generate = 0;
      ValueSource source;
      bool due = false, now = false;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand(
        "rotate",
        "Store a new current version of an existing secret (the old one becomes "
        "previous): from stdin, --from-file, --from-env, or --generate LENGTH; or run the "
        "rotation policies: --due (every secret that is due, once: for cron or a timer), "
        "NAME --now (one secret, due or not)");
    cmd->add_option("NAME", o->name, "Secret name");
    cmd->add_flag("--due", o->due, "Rotate every secret whose rotation policy says it is due");
    cmd->add_flag("--now", o->now, "Rotate NAME with its rotation policy now");
    cmd->add_option("--generate", o->generate, "Generate a random value of LENGTH characters");
    cmd->add_option("--charset", o->charset, "alnum (default), hex, base64url or printable");
    cmd->add_option("--from-file", o->source.from_file, "Read the value from this file");
    cmd->add_option("--from-env", o->source.from_env, "Read the value from this variable");
    cmd->callback([o, common] {
      if (o->due || o->now) {
        if (o->due && (o->now || !o->name.empty())) fail(kExitUsage, "--due takes no NAME");
        if (o->now && o->name.empty()) fail(kExitUsage, "--now needs NAME");
        if (o->generate > 0 || !o->source.from_file.empty() || !o->source.from_env.empty()) {
          fail(kExitUsage, "--due and --now use the rotation policy, not a value");
        }
        run_rotations(*common, o->now ? std::optional<std::string>(o->name) : std::nullopt);
        return;
      }
      if (o->name.empty()) fail(kExitUsage, "rotate needs NAME (or --due)");
      vault::Vault v = open_vault(*common);
      if (auto exists = v.find_secret(o->name); !exists.is_ok()) fail(exists.status());
      const vault::SecretBuffer value = o->generate > 0 ? generate_value(o->generate, o->charset)
                                                        : read_value(o->source, o->name);
      refuse_unless_token_record(o->name, value.bytes());
      vault::PutOptions options;
      options.must_exist = true;
      auto version = v.put_secret(o->name, value.bytes(), options, cli_actor(), "rotate");
      if (!version.is_ok()) fail(version.status());
      std::printf("rotated %s: version %lld is current\n", o->name.c_str(),
                  static_cast<long long>(version.value()));
    });
  }
  {
    struct Options {
      std::string name;
      bool json = false;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand("history", "List a secret's versions and stages");
    cmd->add_option("NAME", o->name, "Secret name")->required();
    cmd->add_flag("--json", o->json, "Print JSON");
    cmd->callback([o, common] {
      vault::Vault v = open_vault(*common);
      auto versions = v.list_versions(o->name);
      if (!versions.is_ok()) fail(versions.status());
      if (o->json) {
        std::cout << versions_json(versions.value()).dump(2) << "\n";
      } else {
        print_versions(versions.value());
      }
    });
  }
  {
    struct Options {
      std::string name;
      std::optional<std::int64_t> to;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand(
        "rollback", "Make an older version current again (moves labels; values untouched)");
    cmd->add_option("NAME", o->name, "Secret name")->required();
    cmd->add_option("--to", o->to, "The version to make current (default: previous)");
    cmd->callback([o, common] {
      vault::Vault v = open_vault(*common);
      if (auto s = v.rollback(o->name, o->to, cli_actor()); !s.is_ok()) fail(s);
      auto info = v.find_secret(o->name);
      if (!info.is_ok()) fail(info.status());
      std::printf("%s: version %lld is current\n", o->name.c_str(),
                  static_cast<long long>(info->current_version.value_or(0)));
    });
  }
}

}  // namespace keyhold::cli::vault_cli
