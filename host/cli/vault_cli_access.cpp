// `keyhold vault grant|revoke|grants|audit`.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/vault_cli_commands.hpp"
#include "cli/vault_cli_support.hpp"

namespace keyhold::cli::vault_cli {
namespace {

using nlohmann::json;

json audit_json(const vault::AuditEntry& e) {
  return {{"seq", e.seq},
          {"at", format_time(e.at)},
          {"actor", e.actor},
          {"action", e.action},
          {"secret", e.secret},
          {"instance", e.instance},
          {"operation", e.operation},
          {"request_id", e.request_id},
          {"outcome", e.outcome},
          {"detail", e.detail}};
}

}  // namespace

void add_access_commands(CLI::App& parent, const std::shared_ptr<CommonOptions>& common) {
  {
    struct Options {
      std::string instance, pattern, ops, expires;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand(
        "grant", "Allow a plugin instance to use a secret (or every secret under PREFIX/*)");
    cmd->add_option("INSTANCE", o->instance, "Plugin instance name")->required();
    cmd->add_option("SECRET", o->pattern, "Secret name, or PREFIX/*")->required();
    cmd->add_option("--ops", o->ops, "Comma-separated operations: reveal,sign,env")->required();
    cmd->add_option("--expires", o->expires, "Expire after this long, e.g. 24h, 7d");
    cmd->callback([o, common] {
      const std::uint32_t ops = vault::parse_operations(o->ops);
      if (ops == 0) fail(kExitUsage, "--ops takes a comma-separated list of reveal, sign, env");
      std::optional<vault::UnixSeconds> expires;
      if (!o->expires.empty()) {
        const auto ttl = vault::parse_duration(o->expires);
        if (!ttl) fail(kExitUsage, "--expires: use a duration like 24h or 7d");
        expires = now_unix() + *ttl;
      }
      vault::Vault v = open_vault(*common);
      if (auto s = v.grant(o->instance, o->pattern, ops, expires, cli_actor()); !s.is_ok()) fail(s);
      std::printf("granted %s on %s to %s%s\n", vault::format_operations(ops).c_str(),
                  o->pattern.c_str(), o->instance.c_str(),
                  expires ? (" until " + format_time(*expires)).c_str() : "");
    });
  }
  {
    struct Options {
      std::string instance, pattern;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand("revoke", "Remove a grant");
    cmd->add_option("INSTANCE", o->instance, "Plugin instance name")->required();
    cmd->add_option("SECRET", o->pattern, "Secret name or PREFIX/*, as granted")->required();
    cmd->callback([o, common] {
      vault::Vault v = open_vault(*common);
      if (auto s = v.revoke(o->instance, o->pattern, cli_actor()); !s.is_ok()) fail(s);
      std::printf("revoked %s on %s\n", o->instance.c_str(), o->pattern.c_str());
    });
  }
  {
    struct Options {
      std::string instance;
      bool json = false;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand("grants", "List grants, of every instance or of one");
    cmd->add_option("INSTANCE", o->instance, "Only this plugin instance");
    cmd->add_flag("--json", o->json, "Print JSON");
    cmd->callback([o, common] {
      vault::Vault v = open_vault(*common);
      auto grants = o->instance.empty() ? v.list_grants() : v.list_grants(o->instance);
      if (!grants.is_ok()) fail(grants.status());
      const auto now = now_unix();
      if (o->json) {
        json out = json::array();
        for (const auto& g : grants.value()) {
          out.push_back({{"instance", g.instance},
                         {"secret", g.pattern},
                         {"ops", vault::format_operations(g.operations)},
                         {"expires_at", g.expires_at ? json(format_time(*g.expires_at)) : json()},
                         {"expired", g.expires_at && now >= *g.expires_at},
                         {"authentic", g.authentic}});
        }
        std::cout << out.dump(2) << "\n";
        return;
      }
      std::printf("%-20s %-40s %-16s %s\n", "INSTANCE", "SECRET", "OPS", "EXPIRES");
      for (const auto& g : grants.value()) {
        std::string expires = g.expires_at ? format_time(*g.expires_at) : "never";
        if (g.expires_at && now >= *g.expires_at) expires += " (expired)";
        if (!g.authentic) expires += " [TAMPERED: ignored]";
        std::printf("%-20s %-40s %-16s %s\n", g.instance.c_str(), g.pattern.c_str(),
                    vault::format_operations(g.operations).c_str(), expires.c_str());
      }
    });
  }
  {
    struct Options {
      std::string since, instance, secret, expect_head;
      bool json = false, verify = false, repair_anchor = false;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = parent.add_subcommand(
        "audit", "Show the audit log, or check its chain with --verify (exit 1 when broken)");
    cmd->add_option("--since", o->since, "Entries newer than a duration (24h) or a Unix time");
    cmd->add_option("--instance", o->instance, "Only entries about this plugin instance");
    cmd->add_option("--secret", o->secret, "Only entries about this secret");
    cmd->add_flag("--json", o->json, "Print JSON");
    auto* verify = cmd->add_flag("--verify", o->verify, "Verify the MAC chain and its anchor");
    cmd->add_option("--expect-head", o->expect_head,
                    "With --verify: also check that the log continues a head recorded earlier "
                    "from `vault status` (COUNT:MAC); an older copy of the vault fails")
        ->needs(verify);
    cmd->add_flag("--repair-anchor", o->repair_anchor,
                  "Rebuild a missing or edited audit anchor after verifying every entry "
                  "(audited; exit 5 when the chain itself is broken)")
        ->excludes(verify);
    cmd->callback([o, common] {
      vault::Vault v = open_vault(*common);
      if (o->repair_anchor) {
        auto repaired = v.repair_audit_anchor(cli_actor());
        if (!repaired.is_ok()) fail(repaired.status());
        const auto& r = repaired.value();
        if (!r.repaired) {
          std::printf("audit anchor intact (%lld entries verified); nothing changed\n",
                      static_cast<long long>(r.entries));
          return;
        }
        std::printf("audit anchor rebuilt over %lld verified entries (was: %s)\n",
                    static_cast<long long>(r.entries), r.previous_problem.c_str());
        if (!r.grants_kept) {
          std::printf(
              "grants do not match the generation the audit log recorded: every grant is "
              "ignored until granted again (see `keyhold vault grants`)\n");
        }
        return;
      }
      if (o->verify) {
        std::optional<std::pair<std::int64_t, std::string>> expected;
        if (!o->expect_head.empty()) {
          const auto colon = o->expect_head.find(':');
          long long count = 0;
          const char* first = o->expect_head.data();
          const char* digits_end = first + (colon == std::string::npos ? 0 : colon);
          auto [ptr, ec] = std::from_chars(first, digits_end, count);
          if (colon == std::string::npos || ec != std::errc() || ptr != digits_end || count < 0) {
            fail(kExitUsage, "--expect-head takes COUNT:MAC as printed by `keyhold vault status`");
          }
          expected.emplace(count, o->expect_head.substr(colon + 1));
        }
        auto result = v.verify_audit();
        if (!result.is_ok()) fail(result.status());
        auto r = result.value();
        if (r.ok && expected && expected->first > 0) {
          auto mac = v.audit_mac_at(expected->first);
          if (!mac.is_ok()) fail(mac.status());
          if (!mac.value() || *mac.value() != expected->second) {
            r.ok = false;
            r.first_bad_seq = expected->first;
            r.problem = !mac.value()
                            ? "the log has no entry " + std::to_string(expected->first) +
                                  ": this is an older copy of the vault, or entries were removed"
                            : "entry " + std::to_string(expected->first) +
                                  " is not the one recorded: the log was rewritten or this is "
                                  "another vault";
          }
        }
        if (o->json) {
          std::cout << json{{"ok", r.ok},
                            {"entries_checked", r.entries_checked},
                            {"anchored_count", r.anchored_count},
                            {"first_bad_seq", r.first_bad_seq ? json(*r.first_bad_seq) : json()},
                            {"anchor_only", r.anchor_only},
                            {"problem", r.problem}}
                           .dump(2)
                    << "\n";
        } else if (r.ok) {
          std::printf("audit chain ok: %lld entries verified%s\n",
                      static_cast<long long>(r.entries_checked),
                      expected ? ", continues the expected head" : "");
        } else {
          std::printf("audit chain BROKEN at entry %lld: %s\n",
                      static_cast<long long>(r.first_bad_seq.value_or(0)), r.problem.c_str());
        }
        if (!r.ok) throw CLI::RuntimeError(kExitVerifyFailed);
        return;
      }
      vault::AuditFilter filter;
      if (!o->since.empty()) {
        filter.since = parse_since(o->since, now_unix());
        if (!filter.since) fail(kExitUsage, "--since takes a duration (24h) or a Unix time");
      }
      if (!o->instance.empty()) filter.instance = o->instance;
      if (!o->secret.empty()) filter.secret = o->secret;
      auto entries = v.read_audit(filter);
      if (!entries.is_ok()) fail(entries.status());
      if (o->json) {
        json out = json::array();
        for (const auto& e : entries.value()) out.push_back(audit_json(e));
        std::cout << out.dump(2) << "\n";
        return;
      }
      for (const auto& e : entries.value()) {
        std::printf("%6lld %s %-10s %-24s %-12s %-8s %s %s %s\n", static_cast<long long>(e.seq),
                    format_time(e.at).c_str(), e.action.c_str(), e.secret.c_str(),
                    e.instance.c_str(), e.outcome.c_str(), e.actor.c_str(), e.request_id.c_str(),
                    e.detail.c_str());
      }
    });
  }
}

}  // namespace keyhold::cli::vault_cli
