#include "cli/serve_command.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "auth/http_authenticator.hpp"
#include "cli/config_loading.hpp"
#include "cli/serve_secrets.hpp"
#include "cli/vault_location.hpp"
#include "loader/instance_loader.hpp"
#include "oauth/user_authorizations.hpp"
#include "rotation/rotation_scheduler.hpp"
#include "secrets/redaction_refresher.hpp"
#include "server/event_hub.hpp"
#include "server/request_state.hpp"
#include "transport/http_server.hpp"
#include "transport/stdio_transport.hpp"

namespace keyhold::cli {

namespace {

struct ServeFlags {
  std::string config;
  std::string http;  // "HOST:PORT": serve Streamable HTTP instead of stdio
  bool strict = false;
  std::size_t page_size = 0;
  std::size_t workers = 0;
  std::string rotation_interval = "5m";  // how often due rotations run; "off": never
};

// Keeps the protocol stream private: the real stdout moves to a new descriptor and fd 1
// becomes a copy of stderr, so a stray printf in a plugin can never corrupt MCP framing.
int claim_stdout() {
  int protocol_fd = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (protocol_fd < 0) return -1;
  ::dup2(STDERR_FILENO, STDOUT_FILENO);
  return protocol_fd;
}

// SIGTERM/SIGINT/SIGHUP are blocked in every thread and read from a signalfd by the
// stdio loop, so a signal means "stop reading, drain, exit 0".
int block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return ::signalfd(-1, &set, SFD_CLOEXEC);
}

// The per-user authorizations of per_user OAuth providers (host/oauth/README.md), wired into
// the HTTP server's options: a tool call that needs a client's missing tokens gets a URL
// elicitation, and GET /oauth/callback completes it. Null (nothing wired) without a
// per_user provider, without client authentication, or without the OAuth client.
std::shared_ptr<oauth::UserAuthorizations> wire_user_authorizations(
    const Config& config, secrets::SecretServices& secrets, HttpOptions& options) {
  const bool per_user = std::any_of(config.oauth.begin(), config.oauth.end(),
                                    [](const auto& entry) { return entry.second.per_user; });
  auto tokens = std::dynamic_pointer_cast<oauth::TokenManager>(secrets.oauth);
  if (!per_user || !options.auth || !tokens) return nullptr;
  auto authorizations =
      std::make_shared<oauth::UserAuthorizations>(config.oauth, tokens, secrets.vault);
  options.session.begin_authorization =
      [authorizations](const std::string& provider, const std::string& client_id,
                       const std::string& client_name) -> Result<UrlElicitation> {
    auto started = authorizations->begin(provider, client_id, client_name);
    if (!started.is_ok()) return started.status();
    return UrlElicitation{started.value().elicitation_id, started.value().url,
                          "Sign in to '" + provider +
                              "' so that keyhold can use your account "
                              "for client '" +
                              client_name + "', then retry."};
  };
  options.oauth_callback = [authorizations](std::string_view query) {
    auto completed = authorizations->complete(query);
    OAuthCallbackAnswer answer;
    if (!completed.is_ok()) {
      spdlog::warn("GET /oauth/callback refused: {}", completed.status().message());
      answer.text = "keyhold refused this authorization response: " + completed.status().message();
      return answer;
    }
    answer.accepted = true;
    answer.text = "keyhold stored your authorization for '" + completed.value().provider +
                  "'. You can close this window and return to your MCP client.";
    answer.client_id = completed.value().client_id;
    answer.elicitation_id = completed.value().elicitation_id;
    return answer;
  };
  return authorizations;
}

// http://HOST:PORT/oauth/callback on the listener (an unspecified bind address is reached
// at the loopback address).
std::string callback_uri(const std::string& bind_address, std::uint16_t port) {
  std::string host = bind_address == "0.0.0.0"                     ? "127.0.0.1"
                     : bind_address == "::"                        ? "[::1]"
                     : bind_address.find(':') != std::string::npos ? "[" + bind_address + "]"
                                                                   : bind_address;
  return "http://" + host + ":" + std::to_string(port) + "/oauth/callback";
}

int serve_http(const std::string& address, const Config& config, Registry& registry, EventHub& hub,
               boost::asio::thread_pool& pool, const SessionOptions& session_options,
               secrets::SecretServices& secret_services, int stop_fd) {
  HttpOptions options;
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "keyhold: --http needs HOST:PORT, e.g. 127.0.0.1:8765\n";
    return 1;
  }
  options.bind_address = address.substr(0, colon);
  if (options.bind_address.size() > 2 && options.bind_address.front() == '[')
    options.bind_address = options.bind_address.substr(1, options.bind_address.size() - 2);
  try {
    const int port = std::stoi(address.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    options.port = static_cast<std::uint16_t>(port);
  } catch (const std::exception&) {
    std::cerr << "keyhold: --http: '" << address.substr(colon + 1) << "' is not a port number\n";
    return 1;
  }
  options.auth = config.http.auth;
  options.allowed_origins = config.http.allowed_origins;
  options.max_sessions = config.http.max_sessions;
  options.max_body_bytes = config.http.max_body_bytes;
  options.max_connections = config.http.max_connections;
  options.read_timeout = std::chrono::seconds(config.http.read_timeout_seconds);
  options.session_idle_timeout = std::chrono::seconds(config.http.session_idle_timeout_seconds);
  options.max_sessions_per_token = config.http.max_sessions_per_token;
  options.abandoned_session_timeout =
      std::chrono::seconds(config.http.abandoned_session_timeout_seconds);
  options.session = session_options;

  // With auth on, tokens are checked against the vault on every request, so the vault must
  // open now: a server that cannot check tokens would admit no one.
  std::unique_ptr<auth::HttpAuthenticator> authenticator;
  if (options.auth) {
    constexpr int kExitVaultUnavailable = 3;
    const char* how =
        "serving HTTP with authentication needs the vault that holds the tokens: set "
        "KEYHOLD_KEYFILE=PATH (keyfile vaults) or KEYHOLD_PASSPHRASE_FILE=PATH, and "
        "KEYHOLD_VAULT if the vault is not in the default place; create tokens with "
        "`keyhold token create NAME`";
    if (auto hardened = vault::harden_process(); !hardened.is_ok())
      spdlog::warn("cannot harden the process: {}", hardened.message());
    auto credentials = unattended_credentials(UnlockFallbacks::kServe);
    if (!credentials) {
      std::cerr << "keyhold: the vault is locked; " << how << "\n";
      return kExitVaultUnavailable;
    }
    if (!credentials->is_ok()) {
      std::cerr << "keyhold: cannot unlock the vault: " << credentials->status().message() << "\n"
                << "keyhold: " << how << "\n";
      return kExitVaultUnavailable;
    }
    auto opened = vault::Vault::open(vault_path(), credentials->value());
    if (!opened.is_ok()) {
      std::cerr << "keyhold: cannot open the vault: " << opened.status().message() << "\n"
                << "keyhold: " << how << "\n";
      return kExitVaultUnavailable;
    }
    authenticator = std::make_unique<auth::HttpAuthenticator>(
        std::move(opened).value(),
        auth::RateLimit{config.http.rate_limit_rate, config.http.rate_limit_burst});
    if (auto loaded = authenticator->load(); !loaded.is_ok()) {
      std::cerr << "keyhold: cannot read the HTTP tokens from the vault: " << loaded.message()
                << "\n";
      return kExitVaultUnavailable;
    }
  }

  auto authorizations = wire_user_authorizations(config, secret_services, options);
  HttpServer server(registry, hub, pool, options);
  if (authenticator) server.set_token_check(authenticator->token_check());
  if (Status listening = server.listen(); !listening.is_ok()) {
    std::cerr << "keyhold: " << listening.message() << "\n";
    return 1;
  }
  if (authorizations)
    authorizations->set_redirect_uri(callback_uri(options.bind_address, server.port()));
  if (!options.auth)
    spdlog::warn("HTTP client authentication is OFF ([http] auth = \"off\"); loopback only");
  std::cerr << "keyhold: serving MCP over HTTP at http://" << address.substr(0, colon) << ":"
            << server.port() << "/mcp\n";
  server.serve(stop_fd);
  return 0;
}

// Rotates due secrets in the background (rotation/rotation_scheduler.hpp) on a vault
// connection of its own. Before a pending value is used, and after each rotation, the
// broker re-checks the vault, so the redactor knows the new value before any plugin can
// get it. Null when there is no vault or --rotation-interval off.
std::unique_ptr<rotation::RotationScheduler> start_background_rotation(
    const ServeFlags& flags, secrets::SecretServices& services) {
  if (!services.vault || flags.rotation_interval == "off") return nullptr;
  const auto interval = vault::parse_duration(flags.rotation_interval);
  if (!interval) {
    spdlog::warn(
        "--rotation-interval '{}' is not a duration (e.g. 5m, 1h); background "
        "rotation is off",
        flags.rotation_interval);
    return nullptr;
  }
  secrets::HandleBroker* broker = services.broker.get();
  rotation::SchedulerOptions options;
  options.interval = std::chrono::seconds(*interval);
  options.max_jitter = std::min(std::chrono::seconds(*interval / 4), std::chrono::seconds(60));
  options.open_vault = []() -> vault::Result<vault::Vault> {
    auto credentials = unattended_credentials(UnlockFallbacks::kServe);
    if (!credentials) return vault::Status(vault::ErrorCode::kUnlockFailed, "no unlock method");
    if (!credentials->is_ok()) return credentials->status();
    return vault::Vault::open(vault_path(), credentials->value());
  };
  options.runner.who = {"host:serve", ""};
  options.runner.on_new_value = [broker](const std::string&, const vault::SecretBuffer&) {
    broker->check_for_change();  // another connection committed the pending version
  };
  options.on_report = [broker](const rotation::RotationReport& report) {
    broker->check_for_change();
    using Kind = rotation::RotationReport::Result;
    if (report.result == Kind::kRotated) {
      spdlog::info("rotation: {} is at version {}{}", report.secret, report.version,
                   report.resumed ? " (resumed)" : "");
    } else if (report.result == Kind::kFailed) {
      spdlog::warn("rotation of {} failed: {}", report.secret, report.message);
    }
  };
  auto scheduler = std::make_unique<rotation::RotationScheduler>(std::move(options));
  scheduler->start();
  return scheduler;
}

int serve(const ServeFlags& flags) {
  auto config = load_cli_config(flags.config, /*write_default=*/flags.config.empty());
  if (!config) return 1;
  setup_stderr_logging(config->log_level);
  if (flags.page_size > 0) config->page_size = flags.page_size;
  if (flags.workers > 0) config->workers = flags.workers;

  ::signal(SIGPIPE, SIG_IGN);
  const int stop_fd = block_termination_signals();
  const int protocol_fd = claim_stdout();
  if (protocol_fd < 0) {
    std::cerr << "keyhold: cannot claim stdout for the protocol\n";
    return 1;
  }

  auto opened = open_secret_services(*config, flags.config.empty());
  if (!opened.is_ok()) {
    std::cerr << "keyhold: " << opened.status().message() << "\n";
    return 1;
  }
  const std::unique_ptr<secrets::SecretServices> secret_services = std::move(opened).value();
  redact_stderr_logging(secret_services->redactor);
  secrets::RedactionRefresher refresher(*secret_services);

  Registry registry;
  EventHub hub(registry);
  const auto results = load_instances(*config, registry, &hub, secret_services.get());
  if (Status reloaded = refresher.reload(); !reloaded.is_ok()) {
    std::cerr << "keyhold: " << reloaded.message() << "\n";
    return 1;
  }
  auto rotator = start_background_rotation(flags, *secret_services);
  bool failed = false;
  for (const auto& result : results) {
    if (result.loaded) {
      if (result.isolation == "process" && !result.sandbox_missing.empty())
        spdlog::warn(
            "instance '{}' loaded from {}, isolated in its own sandboxed process: {}; sandbox "
            "features MISSING: {}",
            result.instance, result.plugin_path, fmt::join(result.sandbox_applied, "; "),
            fmt::join(result.sandbox_missing, "; "));
      else if (result.isolation == "remote")
        spdlog::info("instance '{}' mounted from {}: {}", result.instance, result.plugin_path,
                     fmt::join(result.sandbox_applied, "; "));
      else if (result.isolation == "process")
        spdlog::info("instance '{}' loaded from {}, isolated in its own sandboxed process: {}",
                     result.instance, result.plugin_path, fmt::join(result.sandbox_applied, "; "));
      else
        spdlog::info(
            "instance '{}' loaded from {} INTO THE HOST PROCESS (isolation = "
            "\"in-process\")",
            result.instance, result.plugin_path);
    } else {
      // A plugin's own error text could quote a secret: it goes out redacted.
      std::cerr << "keyhold: instance '" << result.instance << "' (" << result.plugin_path
                << ") skipped: " << secret_services->redactor->redacted(result.error) << "\n";
      failed = true;
    }
  }
  if (failed && flags.strict) {
    std::cerr << "keyhold: --strict: refusing to serve with a failed instance\n";
    return 2;
  }

  boost::asio::thread_pool pool(config->workers);
  SessionOptions session_options;
  session_options.page_size = config->page_size;
  session_options.limits.max_message_bytes = config->max_message_bytes;
  session_options.redactor = secret_services->redactor;
  // MCP 2026-07-28 request state is sealed under a key derived from the vault's root key
  // when a vault is open, so serve processes on one vault (behind a load balancer) open each
  // other's; without a vault, under a random key of this process.
  if (secret_services->vault) {
    const vault::SecretBuffer key = secret_services->vault->with(
        [](vault::Vault& v) { return v.derive_host_key(vault::Vault::HostKey::kRequestState); });
    session_options.request_state = std::make_shared<RequestStateSealer>(
        std::span<const unsigned char, RequestStateSealer::kKeyBytes>(
            key.data(), RequestStateSealer::kKeyBytes));
  }
  session_options.on_guard = [broker = secret_services->broker.get()](
                                 const PluginInstance& instance, const std::string& request_id,
                                 const std::string& detail, bool blocked) {
    broker->audit(instance.name(), blocked ? "guard.block" : "guard.redact", "", request_id,
                  blocked ? "denied" : "redacted", detail);
  };
  if (!flags.http.empty()) {
    int code = serve_http(flags.http, *config, registry, hub, pool, session_options,
                          *secret_services, stop_fd);
    pool.join();
    registry.clear();
    return code;
  }
  LineWriter writer(protocol_fd);
  {
    Session session(registry, writer, pool, session_options);
    hub.attach(&session);
    StdioServer server(session, writer, STDIN_FILENO, stop_fd, config->max_message_bytes);
    server.run();
    spdlog::debug("input closed; cancelling in-flight calls");
    hub.detach(&session);
    session.close();
  }  // the server's threads are joined before the session goes
  pool.join();
  writer.drain();    // a line another thread queued last leaves before the plugins go
  registry.clear();  // plugins destroyed in reverse load order
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand(
      "serve", "Serve the configured connectors over MCP (stdio, or HTTP with --http)");
  cmd->add_option("-c,--config", flags->config,
                  "Config file (default: $XDG_CONFIG_HOME/keyhold/keyhold.toml, written on first "
                  "run)");
  cmd->add_flag("--strict", flags->strict,
                "Exit with code 2 when any instance fails to load, instead of serving the others");
  cmd->add_option("--http", flags->http,
                  "Serve Streamable HTTP at HOST:PORT (endpoint /mcp) instead of stdio; port 0 "
                  "picks a free one");
  cmd->add_option("--page-size", flags->page_size, "Items per page of the list methods");
  cmd->add_option("--workers", flags->workers, "Threads that run tool calls");
  cmd->add_option("--rotation-interval", flags->rotation_interval,
                  "How often to rotate the vault's due secrets in the background (default 5m, "
                  "plus up to a quarter of it, at most 60s, of random jitter); off: never");
  cmd->footer(
      "Exit codes: 0 after stdin closed or SIGTERM; 1 bad config, or a vault the config needs is "
      "missing or locked; 2 --strict and an instance failed; 3 --http with auth on and the vault "
      "(which holds the tokens) missing, locked or unreadable.");
  cmd->callback([flags] {
    int code = serve(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace keyhold::cli
