// `keyhold vault set-rotation`, the runs behind `vault rotate --due|NAME --now`, and how a
// rotation policy and its state read in `list` and `status`.
#include "cli/vault_cli_rotation.hpp"

#include <cstdio>
#include <vector>

#include "cli/vault_cli_commands.hpp"
#include "rotation/rotation_runner.hpp"
#include "rotation/rotation_strategy.hpp"

namespace keyhold::cli::vault_cli {

using nlohmann::json;

std::string rotation_summary(const vault::RotationInfo& info, vault::UnixSeconds now) {
  if (!info.authentic) return info.policy.strategy + ", POLICY TAMPERED (not run)";
  std::string out = info.policy.strategy + ", ";
  if (info.pending_version) {
    out +=
        "pending version " + std::to_string(*info.pending_version) + " (resumes on the next run), ";
  }
  out += (info.overdue(now) ? "OVERDUE since " : "next ") + format_time(info.next_at());
  if (info.last_result == "ok") out += ", last ok";
  if (info.last_result == "failed") out += ", last failed: " + info.last_error;
  return out;
}

json rotation_json(const vault::RotationInfo& info, vault::UnixSeconds now) {
  return {{"strategy", info.policy.strategy},
          {"every_seconds", info.policy.every_seconds},
          {"admin_secret",
           info.policy.admin_secret.empty() ? json(nullptr) : json(info.policy.admin_secret)},
          {"grace_seconds", info.policy.grace_seconds},
          {"drop_previous", info.policy.drop_previous},
          {"authentic", info.authentic},
          {"next_rotation", format_time(info.next_at())},
          {"overdue", info.overdue(now)},
          {"due", info.due(now)},
          {"pending_version", info.pending_version ? json(*info.pending_version) : json(nullptr)},
          {"last_attempt",
           info.last_attempt_at != 0 ? json(format_time(info.last_attempt_at)) : json(nullptr)},
          {"last_result", info.last_result.empty() ? json(nullptr) : json(info.last_result)},
          {"last_error", info.last_error.empty() ? json(nullptr) : json(info.last_error)}};
}

void run_rotations(const CommonOptions& common, const std::optional<std::string>& name) {
  vault::Vault v = open_vault(common);
  rotation::RunnerOptions options;
  options.who = cli_actor();
  std::vector<rotation::RotationReport> reports;
  if (name) {
    reports.push_back(rotation::rotate_secret(v, *name, options));
  } else {
    reports = rotation::rotate_due(v, options);
  }
  bool any_failed = false;
  std::size_t printed = 0;
  for (const auto& r : reports) {
    if (r.result != rotation::RotationReport::Result::kNotDue) ++printed;
    using Kind = rotation::RotationReport::Result;
    switch (r.result) {
      case Kind::kRotated:
        std::printf("rotated %s: version %lld is current%s\n", r.secret.c_str(),
                    static_cast<long long>(r.version), r.resumed ? " (resumed)" : "");
        break;
      case Kind::kSkippedLocked:
        std::printf("skipped %s: %s\n", r.secret.c_str(), r.message.c_str());
        break;
      case Kind::kFailed:
        any_failed = true;
        std::fprintf(stderr, "keyhold vault: rotation of %s failed: %s\n", r.secret.c_str(),
                     r.message.c_str());
        break;
      case Kind::kNotDue:
        break;
    }
  }
  if (printed == 0) std::printf("nothing is due for rotation\n");
  std::fflush(stdout);
  if (any_failed) throw CLI::RuntimeError(kExitError);
}

void add_rotation_commands(CLI::App& parent, const std::shared_ptr<CommonOptions>& common) {
  struct Options {
    std::string name, every, strategy, admin_secret, grace, alphabet, host, port, dbname, role,
        admin_user, sslmode, value_from, timeout;
    std::size_t length = 0;
    bool drop_previous = false, off = false;
    std::vector<std::string> argv, test_argv;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = parent.add_subcommand(
      "set-rotation",
      "Rotate a secret automatically: --every 30d --strategy generate|postgres|command "
      "(runs: `keyhold vault rotate --due` from cron or a timer, or `keyhold serve`)");
  cmd->add_option("NAME", o->name, "Secret name")->required();
  cmd->add_option("--every", o->every, "Rotation period, e.g. 30d, 12h, 2w");
  cmd->add_option("--strategy", o->strategy, "generate, postgres or command");
  cmd->add_option("--with", o->admin_secret,
                  "postgres: the vault secret with the admin login's password (grant it to "
                  "the instance `rotation` with --ops reveal)");
  cmd->add_option("--grace", o->grace,
                  "How long the previous version stays labelled previous (default 0)");
  cmd->add_flag("--drop-previous", o->drop_previous,
                "Erase the previous version once the grace period has passed");
  cmd->add_option("--length", o->length, "Length of generated values (default 32)");
  cmd->add_option("--alphabet", o->alphabet, "alnum (default), hex, base64url or printable");
  cmd->add_option("--host", o->host, "postgres: server host");
  cmd->add_option("--port", o->port, "postgres: server port");
  cmd->add_option("--dbname", o->dbname, "postgres: database to log in to (postgres)");
  cmd->add_option("--role", o->role, "postgres: the role whose password rotates");
  cmd->add_option("--admin-user", o->admin_user, "postgres: the admin login (postgres)");
  cmd->add_option("--sslmode", o->sslmode, "postgres: libpq sslmode (prefer)");
  cmd->add_option("--argv", o->argv, "command: PROGRAM [ARG...] that applies the value")
      ->expected(1, -1);
  cmd->add_option("--test-argv", o->test_argv,
                  "command: PROGRAM [ARG...] that gets the value on stdin and exits 0 when the "
                  "service accepts it")
      ->expected(1, -1);
  cmd->add_option("--value-from", o->value_from,
                  "command: 'keyhold' (a value on the program's stdin, default) or 'program' "
                  "(the program prints the value it set)");
  cmd->add_option("--timeout", o->timeout, "command: time limit per program run (30s)");
  cmd->add_flag("--off", o->off, "Remove the rotation policy");
  cmd->callback([o, common] {
    vault::Vault v = open_vault(*common);
    if (o->off) {
      if (auto s = v.clear_rotation(o->name, cli_actor()); !s.is_ok()) fail(s);
      std::printf("rotation of %s is off\n", o->name.c_str());
      return;
    }
    if (o->every.empty() || o->strategy.empty()) {
      fail(kExitUsage, "set-rotation needs --every and --strategy (or --off)");
    }
    vault::RotationPolicy policy;
    policy.strategy = o->strategy;
    const auto every = vault::parse_duration(o->every);
    if (!every) fail(kExitUsage, "--every: use e.g. 30d, 12h, 2w");
    policy.every_seconds = *every;
    if (!o->grace.empty()) {
      const auto grace = vault::parse_duration(o->grace);
      if (!grace) fail(kExitUsage, "--grace: use e.g. 1h, 15m");
      policy.grace_seconds = *grace;
    }
    policy.drop_previous = o->drop_previous;
    policy.admin_secret = o->admin_secret;
    json options = json::object();
    if (o->length != 0) options["length"] = o->length;
    if (!o->alphabet.empty()) options["alphabet"] = o->alphabet;
    const std::vector<std::pair<const char*, const std::string*>> texts = {
        {"host", &o->host},
        {"port", &o->port},
        {"dbname", &o->dbname},
        {"role", &o->role},
        {"admin_user", &o->admin_user},
        {"sslmode", &o->sslmode},
        {"value_from", &o->value_from}};
    for (const auto& [key, value] : texts) {
      if (!value->empty()) options[key] = *value;
    }
    if (!o->argv.empty()) options["argv"] = o->argv;
    if (!o->test_argv.empty()) options["test_argv"] = o->test_argv;
    if (!o->timeout.empty()) {
      const auto timeout = vault::parse_duration(o->timeout);
      if (!timeout) fail(kExitUsage, "--timeout: use e.g. 30s, 2m");
      options["timeout_seconds"] = *timeout;
    }
    policy.options = options.dump();
    if (auto valid = rotation::validate_policy(policy); !valid.is_ok()) {
      fail(kExitUsage, "set-rotation: " + valid.message());
    }
    if (!policy.admin_secret.empty()) {
      if (auto admin = v.find_secret(policy.admin_secret); !admin.is_ok()) fail(admin.status());
    }
    if (auto s = v.set_rotation(o->name, policy, cli_actor()); !s.is_ok()) fail(s);
    auto info = v.find_rotation(o->name);
    if (!info.is_ok()) fail(info.status());
    std::printf("rotation of %s: %s\n", o->name.c_str(),
                rotation_summary(info.value(), now_unix()).c_str());
  });
}

}  // namespace keyhold::cli::vault_cli
