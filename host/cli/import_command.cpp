#include "cli/import_command.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <span>
#include <sstream>

#include "cli/import_plan.hpp"
#include "cli/vault_cli_support.hpp"
#include "config/config.hpp"
#include "secrets/credential_rules.hpp"
#include "secrets/redactor.hpp"

namespace keyhold::cli {
namespace {

using namespace vault_cli;  // exit codes, vault location and unlock, shared with `vault`

struct ImportOptions {
  std::string file;
  std::string config;
  std::string vault;
  bool apply = false;
  bool rewrite_client = false;
};

[[noreturn]] void import_fail(int code, const std::string& message) {
  std::cerr << "keyhold import: " << message << "\n";
  throw CLI::RuntimeError(code);
}

Result<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int code = errno;
    return Status(code == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                  "cannot read " + path.string() + ": " + std::strerror(code));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return io_error("cannot read " + path.string());
  return buffer.str();
}

// Writes bytes to path through a temporary file in the same folder (mode `mode`, fsync,
// rename), so readers see the old file or the new one, never a part. When no_clobber, an
// existing path is kAlreadyExists instead of being replaced.
Status write_atomically(const std::filesystem::path& path, std::string_view bytes, mode_t mode,
                        bool no_clobber) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string temp = (dir / ("." + path.filename().string() + ".keyhold-XXXXXX")).string();
  const auto failed = [&](int code, bool remove_temp) {
    if (remove_temp) ::unlink(temp.c_str());
    return Status(code == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIo,
                  "cannot write " + path.string() + ": " + std::strerror(code));
  };
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) return failed(errno, false);
  int code = 0;
  if (::fchmod(fd, mode) != 0) code = errno;
  std::size_t done = 0;
  while (code == 0 && done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) code = n < 0 ? errno : EIO;
    if (n > 0) done += static_cast<std::size_t>(n);
  }
  if (code == 0 && ::fsync(fd) != 0) code = errno;
  if (::close(fd) != 0 && code == 0) code = errno;
  if (code != 0) return failed(code, true);
  if (no_clobber) {
    if (::link(temp.c_str(), path.c_str()) != 0) return failed(errno, true);
    ::unlink(temp.c_str());
  } else if (::rename(temp.c_str(), path.c_str()) != 0) {
    return failed(errno, true);
  }
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok();
}

std::string this_executable() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("keyhold") : path.string();
}

std::string utc_stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

void run_import(const ImportOptions& o) {
  const std::filesystem::path file(o.file);
  auto text = read_text(file);
  if (!text.is_ok())
    import_fail(text.status().code() == ErrorCode::kNotFound ? kExitNotFound : kExitError,
                text.status().message());
  auto client = import::parse_client_config(*text);
  if (!client.is_ok()) import_fail(kExitUsage, file.string() + ": " + client.status().message());

  auto created = secrets::Redactor::create(secrets::builtin_credential_rules());
  if (!created.is_ok())
    import_fail(kExitError, "cannot load the credential rules: " + created.status().message());
  const std::shared_ptr<secrets::Redactor> redactor = std::move(created).value();
  const auto matcher = [&redactor](std::string_view name,
                                   std::string_view value) -> std::optional<std::string> {
    const std::string line = std::string(name) + "=" + std::string(value);
    for (const auto& finding : redactor->scan(line)) {
      if (finding.is_rule && finding.end > name.size() + 1) return finding.label;
    }
    return std::nullopt;
  };
  const auto argument_matcher = [&redactor](std::string_view arg) -> std::optional<std::string> {
    for (const auto& finding : redactor->scan(arg)) {
      if (finding.is_rule) return finding.label;
    }
    return std::nullopt;
  };
  const auto plan = import::plan_import(*client, matcher, argument_matcher);

  const std::filesystem::path config_path = std::filesystem::absolute(
      o.config.empty() ? default_config_path() : std::filesystem::path(o.config));
  std::error_code ec;
  const bool config_exists = std::filesystem::exists(config_path, ec);
  std::string config_text;
  std::vector<std::string> taken;
  if (config_exists) {
    auto existing = read_text(config_path);
    if (!existing.is_ok()) import_fail(kExitError, existing.status().message());
    config_text = std::move(existing).value();
    auto parsed = parse_config(config_text, config_path);
    if (!parsed.is_ok()) {
      import_fail(kExitUsage,
                  "the keyhold config is not valid, fix it first: " + parsed.status().message());
    }
    for (const auto& instance : plan.instances) {
      for (const auto& existing_instance : parsed->instances) {
        if (existing_instance.name == instance.instance) taken.push_back(instance.instance);
      }
    }
  }

  std::size_t secret_count = 0;
  for (const auto& instance : plan.instances) {
    for (const auto& v : instance.variables) secret_count += v.kind == import::VariableKind::kVault;
  }
  const auto vault_file = vault_path(o.vault);

  std::printf("keyhold import: %s: %s, %zu server(s)\n", file.string().c_str(),
              import::format_label(plan.format), client->servers.size());
  const std::string plan_text = import::render_plan_text(
      plan, [&redactor](std::string_view arg) { return redactor->redacted(arg); });
  std::fwrite(plan_text.data(), 1, plan_text.size(), stdout);
  std::printf("keyhold config: %s (%s)\n", config_path.string().c_str(),
              config_exists ? "instances appended" : "created");
  if (secret_count > 0) {
    const bool have_vault = std::filesystem::exists(vault_file, ec);
    std::printf("vault: %s (%zu secret(s), each granted to its instance for env)%s\n",
                vault_file.string().c_str(), secret_count,
                have_vault ? "" : "; there is no vault yet: create one with `keyhold vault init`");
  }
  std::fflush(stdout);

  if (plan.instances.empty()) {
    import_fail(kExitUsage, "no server to import: every server of " + file.string() +
                                " was skipped (see above); nothing was written");
  }
  if (!taken.empty()) {
    import_fail(kExitExists, "instance(s) " + join(taken) + " already exist in " +
                                 config_path.string() +
                                 ": remove or rename them there (or the servers in the client "
                                 "config) first; nothing was written");
  }

  std::string new_config = config_text;
  if (!config_exists) {
    new_config =
        "# keyhold configuration (see README.md). Written by `keyhold import`.\n"
        "# Without [instances.echo] or [instances.demo] the built-in connectors are not "
        "served.\n";
  } else if (!new_config.empty() && new_config.back() != '\n') {
    new_config += "\n";
  }
  new_config += import::render_instances_toml(plan, std::filesystem::absolute(file).string());
  if (auto reparsed = parse_config(new_config, config_path); !reparsed.is_ok()) {
    import_fail(kExitError, "internal error: the imported instances do not form a valid config (" +
                                reparsed.status().message() + "); nothing was written");
  }

  std::vector<std::string> keyhold_argv = {this_executable(), "serve"};
  if (!o.config.empty()) {
    keyhold_argv.push_back("--config");
    keyhold_argv.push_back(config_path.string());
  }
  std::set<std::string> keep;
  for (const auto& s : plan.skipped) keep.insert(s.source_name);

  if (!o.apply) {
    if (o.rewrite_client) {
      std::printf(
          "would rewrite %s to run keyhold (%zu skipped server(s) kept), with a backup beside "
          "it\n",
          file.string().c_str(), keep.size());
    }
    std::printf("nothing was written: run again with --apply to do it\n");
    return;
  }

  // Rewriting the client is prepared before anything is written, so a failure here leaves
  // everything as it was.
  std::string rewritten;
  if (o.rewrite_client) {
    auto out = import::rewrite_client_config(*text, keyhold_argv, keep);
    if (!out.is_ok())
      import_fail(kExitError, "cannot rewrite " + file.string() + ": " + out.status().message());
    rewritten = std::move(out).value();
  }

  // 1. The vault: secrets and grants.
  std::vector<std::string> stored;
  if (secret_count > 0) {
    if (auto hardened = vault::harden_process(); !hardened.is_ok()) {
      import_fail(exit_code_for(hardened.code()), hardened.message());
    }
    if (!std::filesystem::exists(vault_file, ec)) {
      import_fail(kExitNotFound,
                  "no vault at " + vault_file.string() +
                      ": create one with `keyhold vault init` (a passphrase) or `keyhold vault "
                      "init --keyfile PATH`, or pass --vault PATH; nothing was written");
    }
    auto credentials = unlock_credentials(true);
    auto opened = vault::Vault::open(vault_file, *credentials);
    if (!opened.is_ok()) {
      import_fail(exit_code_for(opened.status().code()),
                  opened.status().message() + "; nothing was written");
    }
    vault::Vault v = std::move(opened).value();
    const auto who = cli_actor();
    const auto stop = [&](const vault::Status& status, const std::string& what) {
      import_fail(exit_code_for(status.code()),
                  what + ": " + status.message() + "; the config was not changed" +
                      (stored.empty() ? std::string()
                                      : "; already stored and granted: " + join(stored) +
                                            " (running the import again stores new versions)"));
    };
    for (const auto& instance : plan.instances) {
      for (const auto& var : instance.variables) {
        if (var.kind != import::VariableKind::kVault) continue;
        vault::PutOptions options;
        options.description = "imported from " + file.filename().string() + ", server " +
                              instance.source_name + ", variable " + var.name;
        const auto bytes = std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(var.value.data()), var.value.size());
        auto version = v.put_secret(var.secret_name, bytes, options, who, "import");
        if (!version.is_ok()) stop(version.status(), "cannot store " + var.secret_name);
        auto granted =
            v.grant(instance.instance, var.secret_name,
                    static_cast<std::uint32_t>(vault::Operation::kEnv), std::nullopt, who);
        if (!granted.is_ok()) stop(granted, "cannot grant " + var.secret_name);
        stored.push_back(var.secret_name);
        std::printf("stored %s version %lld, granted env to %s\n", var.secret_name.c_str(),
                    static_cast<long long>(version.value()), instance.instance.c_str());
      }
    }
  }

  // 2. The config, last: atomically, 0600.
  if (!config_exists) {
    std::filesystem::create_directories(config_path.parent_path(), ec);
    if (ec) {
      import_fail(kExitError,
                  "cannot create " + config_path.parent_path().string() + ": " + ec.message() +
                      "; the config was not written" +
                      (stored.empty() ? std::string()
                                      : "; the vault already holds (granted): " + join(stored)));
    }
  }
  if (Status written =
          write_atomically(config_path, new_config, 0600, /*no_clobber=*/!config_exists);
      !written.is_ok()) {
    import_fail(kExitError,
                written.message() + "; the config was not changed" +
                    (stored.empty() ? std::string()
                                    : "; the vault already holds (granted): " + join(stored) +
                                          " (running the import again stores new "
                                          "versions)"));
  }
  std::printf("wrote %zu instance(s) to %s\n", plan.instances.size(), config_path.string().c_str());

  // 3. The client's config: a backup of the original (0600: it holds the values), then
  // the rewritten file with the original's permissions.
  if (o.rewrite_client) {
    std::filesystem::path target = std::filesystem::canonical(file, ec);
    if (ec) target = std::filesystem::absolute(file);
    struct stat st {};
    const mode_t mode = ::stat(target.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0600;
    const std::string base = target.string() + ".keyhold-backup-" + utc_stamp();
    std::string backup = base;
    Status backed_up = write_atomically(backup, *text, 0600, /*no_clobber=*/true);
    for (int n = 2; n < 100 && backed_up.code() == ErrorCode::kAlreadyExists; ++n) {
      backup = base + "-" + std::to_string(n);
      backed_up = write_atomically(backup, *text, 0600, /*no_clobber=*/true);
    }
    if (!backed_up.is_ok()) {
      import_fail(kExitError, "cannot back up " + target.string() + ": " + backed_up.message() +
                                  "; the client config was not changed (the vault and the keyhold "
                                  "config were)");
    }
    if (Status written = write_atomically(target, rewritten, mode, /*no_clobber=*/false);
        !written.is_ok()) {
      import_fail(kExitError, written.message() +
                                  "; the client config was not changed (backup: " + backup + ")");
    }
    std::printf(
        "rewrote %s: its servers now run through keyhold%s\nbackup of the original: %s (mode "
        "0600; it holds the imported values: delete it once keyhold works for you)\n",
        target.string().c_str(), keep.empty() ? "" : " (the skipped servers stay as they were)",
        backup.c_str());
  }
}

}  // namespace

void add_import_command(CLI::App& app) {
  auto o = std::make_shared<ImportOptions>();
  auto* cmd = app.add_subcommand(
      "import",
      "Import the MCP servers of a client config (Claude Desktop claude_desktop_config.json,\n"
      "Claude Code .mcp.json or ~/.claude.json, Cursor .cursor/mcp.json, VS Code mcp.json):\n"
      "each stdio server becomes [instances.NAME] with server.command; environment values\n"
      "that look like credentials move into the vault as import/NAME/VAR, granted to NAME\n"
      "for env. Prints the plan (variable names only, never values); writes only with\n"
      "--apply. Exit codes: 0 ok, 2 unusable file, 3 locked, 4 no such file or vault,\n"
      "6 instance already configured, 7 I/O error.");
  cmd->add_option("FILE", o->file, "The client's config file (JSON)")->required();
  cmd->add_flag("--apply", o->apply, "Store the secrets, add the grants, write the config");
  cmd->add_flag("--rewrite-client", o->rewrite_client,
                "With --apply: replace the client's servers with one entry running keyhold "
                "(the original is kept as FILE.keyhold-backup-<time>, mode 0600)");
  cmd->add_option("-c,--config", o->config,
                  "keyhold config to append to (created if missing); default: the one "
                  "`keyhold serve` uses");
  cmd->add_option("--vault", o->vault, "Path of the vault file");
  cmd->callback([o] { run_import(*o); });
}

}  // namespace keyhold::cli
