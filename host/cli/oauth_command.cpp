#include "cli/oauth_command.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>
#include <thread>

#include "auth/token_text.hpp"
#include "cli/config_loading.hpp"
#include "cli/vault_cli_support.hpp"
#include "oauth/client_registration.hpp"
#include "oauth/loopback_redirect.hpp"
#include "oauth/pkce.hpp"
#include "oauth/provider_metadata.hpp"
#include "oauth/resource_metadata.hpp"
#include "oauth/token_client.hpp"
#include "oauth/url_text.hpp"
#include "secrets/secret_source.hpp"

extern char** environ;

namespace keyhold::cli {

namespace {

using nlohmann::json;
using namespace vault_cli;  // exit codes, vault location and unlock, shared with `vault`

struct OAuthOptions {
  std::string vault_path;
  std::string config_path;
};

// Every message of `keyhold oauth` on stderr starts with "keyhold oauth: ", those of the
// helpers it shares with `keyhold vault` (vault_cli::fail, set up before parsing) and of
// the config loader included.
Config load_config_or_fail(const OAuthOptions& options) {
  auto config = load_cli_config(options.config_path, false, "keyhold oauth: ");
  if (!config) throw CLI::RuntimeError(kExitUsage);
  return std::move(*config);
}

const OAuthProviderConfig& provider_or_fail(const Config& config, const std::string& name) {
  auto it = config.oauth.find(name);
  if (it == config.oauth.end()) {
    std::string known;
    for (const auto& [n, p] : config.oauth) known += (known.empty() ? "" : ", ") + n;
    fail(not_found("no [oauth." + name + "] in " + config.path.string() +
                   " (configured: " + (known.empty() ? std::string("none") : known) + ")"));
  }
  return it->second;
}

std::shared_ptr<secrets::SharedVault> open_shared_vault(const OAuthOptions& options) {
  return std::make_shared<secrets::SharedVault>(open_vault(CommonOptions{options.vault_path}));
}

oauth::TokenClient client_or_fail(const OAuthProviderConfig& provider, secrets::SharedVault& v) {
  auto endpoints = oauth::resolve_endpoints(provider);
  if (!endpoints.is_ok()) fail(endpoints.status());
  auto secret = oauth::read_client_secret(provider, &v);
  if (!secret.is_ok()) fail(secret.status());
  return oauth::TokenClient(provider, std::move(endpoints).value(), std::move(secret).value());
}

// Stores record as provider's record (client's own one of a per_user provider when set).
void store_or_fail(secrets::SharedVault& v, const OAuthProviderConfig& provider,
                   const oauth::TokenRecord& record, std::string_view action,
                   const std::string& client = {}) {
  auto secret = record.to_secret();
  auto stored = v.with([&](vault::Vault& vault) {
    vault::PutOptions options;
    options.description = "OAuth tokens of provider " + provider.name +
                          (client.empty() ? "" : " for client " + client) + " (keyhold oauth)";
    return vault.put_secret(oauth::record_name(provider.name, client), secret.bytes(), options,
                            cli_actor(), action);
  });
  if (!stored.is_ok()) fail(stored.status());
}

std::string expiry_text(std::int64_t expires_at, std::int64_t now) {
  if (expires_at == 0) return "no expiry given";
  if (expires_at <= now) return "expired at " + format_time(expires_at);
  return format_time(expires_at) + " (in " + std::to_string(expires_at - now) + " s)";
}

void report_stored(const OAuthProviderConfig& provider, const oauth::TokenRecord& record,
                   const std::string& client = {}) {
  std::printf("oauth provider '%s': tokens stored in the vault as %s (scopes: %s; expires: %s%s)\n",
              provider.name.c_str(), oauth::record_name(provider.name, client).c_str(),
              record.scope.empty() ? "-" : record.scope.c_str(),
              expiry_text(record.expires_at, now_unix()).c_str(),
              record.refresh_token.empty() ? "; no refresh token" : "; refresh token kept");
}

// Opens url in a browser when a desktop session is there (best effort, never required).
void open_browser(const std::string& url) {
  if (std::getenv("DISPLAY") == nullptr && std::getenv("WAYLAND_DISPLAY") == nullptr) return;
  const char* argv[] = {"xdg-open", url.c_str(), nullptr};
  pid_t pid = 0;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  if (posix_spawnp(&pid, "xdg-open", &actions, nullptr, const_cast<char**>(argv), environ) == 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  posix_spawn_file_actions_destroy(&actions);
}

void login_with_browser(const OAuthProviderConfig& provider, oauth::TokenClient& client,
                        secrets::SharedVault& v, bool browser, const std::string& subject) {
  const auto& endpoints = client.endpoints();
  if (endpoints.authorization_endpoint.empty())
    fail(invalid_argument("oauth provider '" + provider.name +
                          "' has no authorization endpoint; set authorization_endpoint, or "
                          "use --device or `keyhold oauth client-credentials`"));
  auto listener = oauth::LoopbackRedirect::open();
  if (!listener.is_ok()) fail(listener.status());
  const oauth::Pkce pkce = oauth::make_pkce();
  const std::string state = oauth::random_token();
  const std::string redirect_uri = listener.value().redirect_uri();
  const std::string url = client.authorization_url(redirect_uri, state, pkce.challenge);
  std::cerr << "keyhold oauth: open this URL in a browser to authorize keyhold for '"
            << provider.name << "' (waiting up to " << provider.login_timeout_seconds << " s):\n";
  std::printf("%s\n", url.c_str());
  std::fflush(stdout);
  if (browser) open_browser(url);
  oauth::ExpectedCallback expected{state, endpoints.issuer,
                                   endpoints.iss_parameter_supported && !endpoints.issuer.empty()};
  auto response =
      listener.value().wait(expected, std::chrono::seconds(provider.login_timeout_seconds));
  if (!response.is_ok()) fail(response.status());
  auto record =
      client.exchange_code(response.value().code.text(), redirect_uri, pkce.verifier, now_unix());
  if (!record.is_ok()) fail(record.status());
  store_or_fail(v, provider, record.value(), "oauth.login", subject);
  report_stored(provider, record.value(), subject);
}

void login_with_device(const OAuthProviderConfig& provider, oauth::TokenClient& client,
                       secrets::SharedVault& v, const std::string& subject) {
  auto device = client.start_device();
  if (!device.is_ok()) fail(device.status());
  const auto& d = device.value();
  std::cerr << "keyhold oauth: on any device, open the URL below and enter the code " << d.user_code
            << " (expires in " << d.expires_in << " s)\n";
  std::printf("%s\n", (d.verification_uri_complete.empty() ? d.verification_uri
                                                           : d.verification_uri_complete)
                          .c_str());
  std::printf("code: %s\n", d.user_code.c_str());
  std::fflush(stdout);
  auto record = client.poll_device(
      d, [](std::chrono::seconds s) { std::this_thread::sleep_for(s); }, [] { return now_unix(); });
  if (!record.is_ok()) fail(record.status());
  store_or_fail(v, provider, record.value(), "oauth.login", subject);
  report_stored(provider, record.value(), subject);
}

// The client a login is for: required for a per_user provider (a keyhold HTTP client
// token's name), refused for a shared one.
void check_login_client(const OAuthProviderConfig& provider, const std::string& client) {
  if (provider.per_user && client.empty())
    fail(invalid_argument("oauth provider '" + provider.name +
                          "' is per_user: name the client whose tokens these are with --client "
                          "CLIENT (a `keyhold token` name)"));
  if (!provider.per_user && !client.empty())
    fail(invalid_argument("oauth provider '" + provider.name +
                          "' is not per_user: its tokens are shared, so --client does not apply"));
  if (auto why = auth::validate_token_name(client); !client.empty() && why)
    fail(invalid_argument("--client '" + client + "': " + *why));
}

// Refresh failures recorded by serving hosts since the last success (from the audit log).
std::int64_t refresh_failures(vault::Vault& v, const std::string& record) {
  vault::AuditFilter filter;
  filter.secret = record;
  auto entries = v.read_audit(filter);
  if (!entries.is_ok()) return 0;
  std::int64_t failures = 0;
  for (const auto& e : entries.value()) {
    if (e.action != "oauth.refresh" && e.action != "oauth.login") continue;
    failures = e.outcome == "error" ? failures + 1 : 0;
  }
  return failures;
}

// The clients of per_user provider that have a record ("oauth-token/NAME/CLIENT").
std::vector<std::string> per_user_clients(vault::Vault& v, const std::string& provider) {
  std::vector<std::string> clients;
  auto secrets = v.list_secrets();
  if (!secrets.is_ok()) return clients;
  const std::string prefix = oauth::record_name(provider) + "/";
  for (const auto& secret : secrets.value())
    if (secret.name.starts_with(prefix)) clients.push_back(secret.name.substr(prefix.size()));
  return clients;
}

// `oauth status` of provider's record (client's own of a per_user provider): state,
// issuer, subject, scopes, expiry, refresh, failures; never a token.
json status_entry(vault::Vault& v, const std::string& provider, const std::string& client,
                  std::int64_t now) {
  const std::string secret = oauth::record_name(provider, client);
  json entry = {{"provider", provider}, {"secret", secret}};
  if (!client.empty()) entry["client"] = client;
  auto bytes = v.read_secret(secret);
  if (!bytes.is_ok()) {
    entry["state"] = bytes.status().code() == ErrorCode::kNotFound ? "not logged in" : "error";
    if (bytes.status().code() != ErrorCode::kNotFound) entry["error"] = bytes.status().message();
    return entry;
  }
  auto record = oauth::TokenRecord::from_secret(bytes.value().bytes(), provider);
  if (!record.is_ok()) {
    entry["state"] = "error";
    entry["error"] = record.status().message();
    return entry;
  }
  const auto& r = record.value();
  entry["state"] = r.expires_at != 0 && r.expires_at <= now ? "expired" : "valid";
  entry["issuer"] = r.issuer;
  entry["subject"] = r.subject;
  entry["grant"] = r.grant;
  entry["scopes"] = r.scope;
  entry["expires_at"] = r.expires_at ? json(format_time(r.expires_at)) : json();
  entry["expires_in"] = r.expires_at ? json(r.expires_at - now) : json();
  entry["refresh_token"] = !r.refresh_token.empty();
  entry["obtained_at"] = format_time(r.obtained_at);
  entry["last_refresh"] = r.last_refresh ? json(format_time(r.last_refresh)) : json();
  entry["refresh_failures"] = refresh_failures(v, secret);
  return entry;
}

}  // namespace

void add_oauth_command(CLI::App& app) {
  auto common = std::make_shared<OAuthOptions>();
  auto* oauth_cmd = app.add_subcommand(
      "oauth",
      "Sign keyhold in to upstream OAuth 2.1 services ([oauth.NAME] in the config).\n"
      "Tokens are kept in the vault as oauth-token/NAME and never printed; instances map\n"
      "them with `alias = \"oauth:NAME\"` (grant reveal or env on oauth-token/NAME).\n"
      "Exit codes: 0 ok, 2 usage or config, 3 locked, 4 no such provider or tokens,\n"
      "7 I/O or provider unreachable, 8 refused by the provider or a check.");
  oauth_cmd->add_option("--vault", common->vault_path, "Path of the vault file");
  oauth_cmd->add_option("--config", common->config_path, "Config file (default: the user's)");
  oauth_cmd->preparse_callback([](std::size_t) { set_error_prefix("keyhold oauth: "); });
  oauth_cmd->require_subcommand(1);
  oauth_cmd->fallthrough();

  {
    struct Options {
      std::string url;
      std::string name = "NAME";
      bool register_client = false;
      std::string client_metadata_url;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = oauth_cmd->add_subcommand(
        "discover",
        "Find how to sign in to a protected resource (a remote MCP server's URL): the resource "
        "metadata its 401 challenge names, else the well-known one (RFC 9728), then its "
        "authorization server's metadata; prints the [oauth.NAME] table to add. --register "
        "has the authorization server issue keyhold a client id (RFC 7591)");
    cmd->add_option("URL", o->url, "The resource, e.g. https://mcp.example.com/mcp")->required();
    cmd->add_option("--name", o->name, "NAME for the printed [oauth.NAME] table");
    cmd->add_flag("--register", o->register_client,
                  "Register keyhold with the authorization server (dynamic client registration, "
                  "RFC 7591) and print the client id it issued; a client secret, if it issues "
                  "one, is stored in the vault as oauth-client/NAME");
    cmd->add_option("--client-metadata-url", o->client_metadata_url,
                    "Use this https URL, where the document of `keyhold oauth client-metadata URL` "
                    "is published, as the client id (a Client ID Metadata Document, for "
                    "authorization servers that announce client_id_metadata_document_supported)");
    cmd->callback([o, common] {
      if (o->register_client && !o->client_metadata_url.empty())
        fail(invalid_argument(
            "--register and --client-metadata-url are two ways to get a client id; choose one"));
      if (!o->client_metadata_url.empty()) {
        if (Status checked = oauth::check_client_metadata_url(o->client_metadata_url);
            !checked.is_ok())
          fail(checked);
      }
      if (o->register_client && o->name == "NAME")
        fail(
            invalid_argument("--register needs --name NAME (the client secret, if one is "
                             "issued, is stored as oauth-client/NAME)"));
      auto found = oauth::discover_protected_resource(o->url);
      if (!found.is_ok()) fail(found.status());
      const oauth::ProtectedResource& resource = found.value();
      OAuthProviderConfig provider;
      provider.name = o->name;
      provider.issuer = resource.authorization_servers.front();
      auto endpoints = oauth::resolve_endpoints(provider);  // the issuer's metadata, checked
      if (!endpoints.is_ok()) fail(endpoints.status());
      // The MCP authorization spec: the challenge's scope first, else scopes_supported.
      std::vector<std::string> scopes = resource.scopes_supported;
      if (!resource.challenged_scope.empty()) {
        scopes.clear();
        std::string_view rest = resource.challenged_scope;
        while (!rest.empty()) {
          const auto space = rest.find(' ');
          if (space != 0) scopes.emplace_back(rest.substr(0, space));
          rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
        }
      }
      std::string client_id = "\"...\"";
      std::string client_secret_line;
      if (!o->client_metadata_url.empty()) {
        if (!endpoints.value().client_id_metadata_document_supported)
          fail(not_found(
              "the authorization server " + provider.issuer +
              " does not announce Client ID Metadata Documents (its metadata has no "
              "client_id_metadata_document_supported: true); use --register or a client id it "
              "issued"));
        client_id = json(o->client_metadata_url).dump();
      }
      if (o->register_client) {
        if (endpoints.value().registration_endpoint.empty())
          fail(not_found("the authorization server " + provider.issuer +
                         " offers no dynamic client registration (its metadata names no "
                         "registration_endpoint); ask its administrator for a client id"));
        auto registered = oauth::register_client(endpoints.value().registration_endpoint, scopes);
        if (!registered.is_ok()) fail(registered.status());
        client_id = json(registered.value().client_id).dump();
        if (!registered.value().client_secret.text().empty()) {
          const std::string secret_name = "oauth-client/" + o->name;
          auto v = open_shared_vault(*common);
          auto stored = v->with([&](vault::Vault& vault) {
            vault::PutOptions options;
            options.description = "client secret issued to keyhold by " + provider.issuer +
                                  " (keyhold oauth discover --register)";
            const std::string& text = registered.value().client_secret.text();
            return vault.put_secret(
                secret_name,
                std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), options,
                cli_actor(), "oauth.register");
          });
          if (!stored.is_ok()) fail(stored.status());
          client_secret_line = "client_secret = " + json("vault:" + secret_name).dump() + "\n";
        }
      }
      std::printf("protected resource metadata: %s\n", resource.metadata_url.c_str());
      std::printf("authorization server:        %s\n", provider.issuer.c_str());
      std::printf("  authorization endpoint:    %s\n",
                  endpoints.value().authorization_endpoint.c_str());
      std::printf("  token endpoint:            %s\n", endpoints.value().token_endpoint.c_str());
      if (!endpoints.value().registration_endpoint.empty())
        std::printf("  registration endpoint:     %s%s\n",
                    endpoints.value().registration_endpoint.c_str(),
                    o->register_client ? " (keyhold registered)" : " (--register uses it)");
      if (endpoints.value().client_id_metadata_document_supported)
        std::printf("  client id metadata documents: accepted%s\n",
                    o->client_metadata_url.empty()
                        ? " (publish `keyhold oauth client-metadata https://.../keyhold.json` at "
                          "that URL, then --client-metadata-url URL)"
                        : " (keyhold's client id is the document's URL)");
      if (resource.authorization_servers.size() > 1)
        std::printf("(it names %zu authorization servers; the first is shown)\n",
                    resource.authorization_servers.size());
      std::string scope_list;
      for (const auto& scope : scopes)
        scope_list += (scope_list.empty() ? "" : ", ") + json(scope).dump();
      std::printf(
          "\nAdd to the config%s, then run `keyhold oauth login %s` and map `oauth:%s` in the "
          "instance's server.headers:\n\n[oauth.%s]\nissuer = %s\nclient_id = %s\n%sscopes = "
          "[%s]\nresource = %s\n",
          o->register_client || !o->client_metadata_url.empty()
              ? ""
              : ", with the client id this authorization server issued to keyhold",
          o->name.c_str(), o->name.c_str(), o->name.c_str(), json(provider.issuer).dump().c_str(),
          client_id.c_str(), client_secret_line.c_str(), scope_list.c_str(),
          json(resource.resource).dump().c_str());
    });
  }

  {
    auto url = std::make_shared<std::string>();
    auto* cmd = oauth_cmd->add_subcommand(
        "client-metadata",
        "Print keyhold's Client ID Metadata Document for URL: publish it at that https URL, "
        "and authorization servers that accept such documents take URL as keyhold's client id "
        "(see discover --client-metadata-url)");
    cmd->add_option("URL", *url,
                    "Where the document will be published, e.g. "
                    "https://example.com/keyhold/client.json")
        ->required();
    cmd->callback([url] {
      auto document = oauth::client_metadata_document(*url);
      if (!document.is_ok()) fail(document.status());
      std::printf("%s\n", document.value().c_str());
    });
  }

  {
    struct Options {
      std::string name;
      bool device = false;
      bool no_browser = false;
      std::string client;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = oauth_cmd->add_subcommand(
        "login",
        "Authorize keyhold: authorization code + PKCE (S256) with a redirect to 127.0.0.1; "
        "prints the URL and waits");
    cmd->add_option("NAME", o->name, "Provider ([oauth.NAME])")->required();
    cmd->add_flag("--device", o->device, "Use the device authorization grant (RFC 8628)");
    cmd->add_flag("--no-browser", o->no_browser, "Only print the URL, never start a browser");
    cmd->add_option("--client", o->client,
                    "For a per_user provider: the keyhold client (token name) whose tokens these "
                    "are");
    cmd->callback([o, common] {
      const Config config = load_config_or_fail(*common);
      const auto& provider = provider_or_fail(config, o->name);
      check_login_client(provider, o->client);
      auto v = open_shared_vault(*common);
      auto client = client_or_fail(provider, *v);
      if (o->device)
        login_with_device(provider, client, *v, o->client);
      else
        login_with_browser(provider, client, *v, !o->no_browser, o->client);
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = oauth_cmd->add_subcommand(
        "client-credentials", "Get a token with the client credentials grant and store it");
    cmd->add_option("NAME", *name, "Provider ([oauth.NAME])")->required();
    cmd->callback([name, common] {
      const Config config = load_config_or_fail(*common);
      const auto& provider = provider_or_fail(config, *name);
      auto v = open_shared_vault(*common);
      auto client = client_or_fail(provider, *v);
      auto record = client.client_credentials(now_unix());
      if (!record.is_ok()) fail(record.status());
      store_or_fail(*v, provider, record.value(), "oauth.login");
      report_stored(provider, record.value());
    });
  }
  {
    auto json_out = std::make_shared<bool>(false);
    auto* cmd = oauth_cmd->add_subcommand(
        "status", "Per provider: subject, scopes, expiry, last refresh, failures (never a token)");
    cmd->add_flag("--json", *json_out, "Print JSON");
    cmd->callback([json_out, common] {
      const Config config = load_config_or_fail(*common);
      vault::Vault v = open_vault(CommonOptions{common->vault_path});
      const auto now = now_unix();
      json out = json::array();
      for (const auto& [name, provider] : config.oauth) {
        if (!provider.per_user) {
          out.push_back(status_entry(v, name, {}, now));
          continue;
        }
        const auto clients = per_user_clients(v, name);
        if (clients.empty())
          out.push_back({{"provider", name},
                         {"secret", oauth::record_name(name) + "/*"},
                         {"state", "no client logged in"}});
        for (const auto& client : clients) out.push_back(status_entry(v, name, client, now));
      }
      if (*json_out) {
        std::cout << out.dump(2) << "\n";
        return;
      }
      if (out.empty()) {
        std::printf("no providers; add an [oauth.NAME] table to %s\n",
                    config.path.string().c_str());
        return;
      }
      for (const auto& e : out) {
        std::printf("%s%s: %s\n", e["provider"].get<std::string>().c_str(),
                    e.contains("client")
                        ? (" (client " + e["client"].get<std::string>() + ")").c_str()
                        : "",
                    e["state"].get<std::string>().c_str());
        if (e.contains("error"))
          std::printf("  error: %s\n", e["error"].get<std::string>().c_str());
        if (!e.contains("issuer")) continue;
        auto show = [&](const char* label, const json& value) {
          std::printf("  %-17s %s\n", label,
                      value.is_null()     ? "-"
                      : value.is_string() ? value.get<std::string>().c_str()
                                          : value.dump().c_str());
        };
        show("issuer:", e["issuer"]);
        show("subject:", e["subject"]);
        show("grant:", e["grant"]);
        show("scopes:", e["scopes"]);
        show("expires:", e["expires_at"]);
        show("expires in (s):", e["expires_in"]);
        show("refresh token:", e["refresh_token"].get<bool>() ? json("yes") : json("no"));
        show("last refresh:", e["last_refresh"]);
        show("refresh failures:", e["refresh_failures"]);
      }
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = oauth_cmd->add_subcommand(
        "logout",
        "Revoke the tokens at the provider (RFC 7009, when offered), then erase them (grants on "
        "the record are kept for the next login)");
    cmd->add_option("NAME", *name, "Provider ([oauth.NAME])")->required();
    auto client_name = std::make_shared<std::string>();
    cmd->add_option("--client", *client_name,
                    "For a per_user provider: the keyhold client (token name) to sign out");
    cmd->callback([name, client_name, common] {
      const Config config = load_config_or_fail(*common);
      const auto& provider = provider_or_fail(config, *name);
      check_login_client(provider, *client_name);
      auto v = open_shared_vault(*common);
      const std::string secret = oauth::record_name(provider.name, *client_name);
      auto bytes = v->with([&](vault::Vault& vault) { return vault.read_secret(secret); });
      if (!bytes.is_ok()) fail(bytes.status());
      auto record = oauth::TokenRecord::from_secret(bytes.value().bytes(), provider.name);
      bool revoked = false;
      if (!record.is_ok())
        std::cerr << "keyhold oauth: " << record.status().message()
                  << "; nothing to revoke at the provider, erasing it\n";
      if (record.is_ok()) {
        auto client = client_or_fail(provider, *v);
        if (client.endpoints().revocation_endpoint.empty()) {
          std::cerr << "keyhold oauth: provider '" << provider.name
                    << "' offers no revocation endpoint; the tokens stay valid there until "
                       "they expire\n";
        } else {
          // Revoking the refresh token ends the grant (RFC 7009 2.1); the access token too.
          Status status;
          if (!record.value().refresh_token.empty())
            status = client.revoke(record.value().refresh_token, "refresh_token");
          if (status.is_ok()) status = client.revoke(record.value().access_token, "access_token");
          if (!status.is_ok())
            std::cerr << "keyhold oauth: " << status.message()
                      << "; erasing the local copy anyway\n";
          revoked = status.is_ok();
        }
      }
      // Erasing purges the record and the grants naming it exactly; the grants are written
      // again, so the instances that used the provider work after the next login.
      auto removed = v->with([&](vault::Vault& vault) -> Status {
        auto grants = vault.list_grants();
        if (!grants.is_ok()) return grants.status();
        if (auto purged = vault.remove_secret(secret, /*purge=*/true, cli_actor()); !purged.is_ok())
          return purged;
        for (const auto& g : grants.value()) {
          if (g.pattern != secret || !g.authentic) continue;
          if (auto again =
                  vault.grant(g.instance, g.pattern, g.operations, g.expires_at, cli_actor());
              !again.is_ok())
            return again;
        }
        return Status();
      });
      if (!removed.is_ok()) fail(removed);
      std::printf("oauth provider '%s': %s; %s erased from the vault\n", provider.name.c_str(),
                  revoked ? "tokens revoked at the provider" : "tokens not revoked",
                  secret.c_str());
    });
  }
}

}  // namespace keyhold::cli
