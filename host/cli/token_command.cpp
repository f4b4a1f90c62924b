#include "cli/token_command.hpp"

#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "auth/token_store.hpp"
#include "cli/vault_cli_support.hpp"

namespace keyhold::cli {

namespace {

using nlohmann::json;
using namespace vault_cli;  // exit codes, vault location and unlock, shared with `vault`

[[noreturn]] void token_fail(const vault::Status& status) {
  std::cerr << "keyhold token: " << status.message() << "\n";
  throw CLI::RuntimeError(exit_code_for(status.code()));
}

std::string tools_text(const std::vector<std::string>& tools) {
  if (tools.empty()) return "*";
  std::string out;
  for (const auto& glob : tools) out += (out.empty() ? "" : ",") + glob;
  return out;
}

json token_json(const auth::TokenRecord& r, vault::UnixSeconds now) {
  return {{"name", r.name},
          {"tools", r.tools},
          {"created_at", format_time(r.created_at)},
          {"expires_at", r.expires_at ? json(format_time(*r.expires_at)) : json()},
          {"revoked_at", r.revoked_at ? json(format_time(*r.revoked_at)) : json()},
          {"state", r.state(now)}};
}

}  // namespace

void add_token_command(CLI::App& app) {
  auto common = std::make_shared<CommonOptions>();
  auto* token = app.add_subcommand(
      "token",
      "Manage bearer tokens of HTTP clients (keyhold serve --http).\n"
      "Tokens live in the vault as keyed hashes; the token itself is shown once, at creation.\n"
      "Vault: --vault PATH, else KEYHOLD_VAULT, else $XDG_DATA_HOME/keyhold/vault.db.\n"
      "Unlock: KEYHOLD_KEYFILE, KEYHOLD_PASSPHRASE_FILE, or a prompt on the terminal.\n"
      "Exit codes: 0 ok, 2 usage, 3 locked/wrong key, 4 no such vault or token,\n"
      "5 integrity failure, 6 an active token of that name exists, 7 I/O or internal error.");
  token->add_option("--vault", common->vault_path, "Path of the vault file");
  token->require_subcommand(1);
  token->fallthrough();

  {
    struct Options {
      std::string name;
      std::vector<std::string> tools;
      std::string expires;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = token->add_subcommand(
        "create", "Create a token and print it once on stdout; only a keyed hash of it is stored");
    cmd->add_option("NAME", o->name, "Token name ([A-Za-z0-9._-], up to 64)")->required();
    cmd->add_option("--tools", o->tools,
                    "Tools the token may list and call, as globs (echo_*,sql_query); "
                    "default: every tool")
        ->delimiter(',');
    cmd->add_option("--expires", o->expires,
                    "Lifetime: 45s, 30m, 24h, 30d, 2w (default: never expires)");
    cmd->callback([o, common] {
      auth::NewToken request{o->name, o->tools, std::nullopt};
      if (!o->expires.empty()) {
        request.lifetime_seconds = vault::parse_duration(o->expires);
        if (!request.lifetime_seconds)
          fail(kExitUsage, "--expires takes a duration like 30d, 24h, 30m or 45s");
      }
      vault::Vault v = open_vault(*common);
      const auto now = now_unix();
      auto created = auth::create_token(v, request, now, cli_actor());
      if (!created.is_ok()) token_fail(created.status());
      // The one place the token is ever shown: stdout alone, so it can be captured.
      std::fwrite(created->data(), 1, created->size(), stdout);
      std::fputc('\n', stdout);
      std::fflush(stdout);
      std::cerr << "keyhold token: created '" << o->name
                << "' (tools: " << (o->tools.empty() ? std::string("all") : tools_text(o->tools))
                << "; expires: "
                << (request.lifetime_seconds ? format_time(now + *request.lifetime_seconds)
                                             : std::string("never"))
                << "). It is shown only this once: store it now. Clients send it as "
                   "\"Authorization: Bearer <token>\".\n";
    });
  }
  {
    auto json_out = std::make_shared<bool>(false);
    auto* cmd = token->add_subcommand(
        "list", "List tokens: name, tools, state, creation and expiry (never the token)");
    cmd->add_flag("--json", *json_out, "Print JSON");
    cmd->callback([json_out, common] {
      vault::Vault v = open_vault(*common);
      auto tokens = auth::list_tokens(v);
      if (!tokens.is_ok()) token_fail(tokens.status());
      const auto now = now_unix();
      if (*json_out) {
        json out = json::array();
        for (const auto& r : tokens.value()) out.push_back(token_json(r, now));
        std::cout << out.dump(2) << "\n";
        return;
      }
      if (tokens->empty()) {
        std::printf("no tokens; create one with `keyhold token create NAME`\n");
        return;
      }
      std::printf("%-24s %-8s %-21s %-21s %s\n", "NAME", "STATE", "CREATED", "EXPIRES", "TOOLS");
      for (const auto& r : tokens.value()) {
        std::printf("%-24s %-8s %-21s %-21s %s\n", r.name.c_str(), r.state(now),
                    format_time(r.created_at).c_str(),
                    r.expires_at ? format_time(*r.expires_at).c_str() : "never",
                    tools_text(r.tools).c_str());
      }
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = token->add_subcommand(
        "revoke",
        "Revoke a token; a running `keyhold serve --http` refuses it from the next request");
    cmd->add_option("NAME", *name, "Token name")->required();
    cmd->callback([name, common] {
      vault::Vault v = open_vault(*common);
      if (auto s = auth::revoke_token(v, *name, now_unix(), cli_actor()); !s.is_ok()) token_fail(s);
      std::printf("revoked token '%s'\n", name->c_str());
    });
  }
}

}  // namespace keyhold::cli
