#include <algorithm>
#include <cctype>

#include "config/oauth_config_reader.hpp"
#include "keyhold/vault/vault.hpp"

namespace keyhold {

namespace {

std::string where(const std::filesystem::path& path, const toml::node& node) {
  return path.string() + ":" + std::to_string(node.source().begin.line);
}

// A provider name becomes part of a vault secret name ("oauth-token/NAME") and of `oauth:NAME`.
bool valid_provider_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

Status read_string(const toml::table& table, const char* key, const std::string& section,
                   const std::filesystem::path& path, std::string* out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return Status();
  auto text = node->value<std::string>();
  if (!text || text->empty())
    return invalid_argument(where(path, *node) + ": " + section + "." + key +
                            " must be a non-empty string");
  *out = *text;
  return Status();
}

Status read_duration(const toml::table& table, const char* key, const std::string& section,
                     const std::filesystem::path& path, std::int64_t* out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return Status();
  auto text = node->value<std::string>();
  auto seconds = text ? vault::parse_duration(*text) : std::nullopt;
  if (!seconds)
    return invalid_argument(where(path, *node) + ": " + section + "." + key +
                            " must be a duration like \"60s\" or \"5m\"");
  *out = *seconds;
  return Status();
}

Result<OAuthProviderConfig> read_provider(std::string_view name, const toml::node& node,
                                          const std::filesystem::path& path) {
  const std::string section = "oauth." + std::string(name);
  if (!valid_provider_name(name))
    return invalid_argument(where(path, node) + ": [" + section +
                            "]: a provider name is 1-64 letters, digits, '-', '_' or '.'");
  const toml::table* table = node.as_table();
  if (table == nullptr)
    return invalid_argument(where(path, node) + ": [" + section + "] must be a table");
  static constexpr const char* kKeys[] = {"issuer",
                                          "authorization_endpoint",
                                          "token_endpoint",
                                          "revocation_endpoint",
                                          "device_authorization_endpoint",
                                          "client_id",
                                          "client_secret",
                                          "scopes",
                                          "resource",
                                          "refresh_margin",
                                          "login_timeout",
                                          "per_user"};
  for (const auto& [key, value] : *table) {
    if (std::find(std::begin(kKeys), std::end(kKeys), key.str()) == std::end(kKeys))
      return invalid_argument(
          where(path, value) + ": " + section + ": unknown key '" + std::string(key.str()) +
          "' (expected issuer, authorization_endpoint, token_endpoint, "
          "revocation_endpoint, device_authorization_endpoint, client_id, "
          "client_secret, scopes, resource, refresh_margin, login_timeout, per_user)");
  }
  OAuthProviderConfig provider;
  provider.name = std::string(name);
  for (auto [key, out] :
       {std::pair{"issuer", &provider.issuer},
        {"authorization_endpoint", &provider.authorization_endpoint},
        {"token_endpoint", &provider.token_endpoint},
        {"revocation_endpoint", &provider.revocation_endpoint},
        {"device_authorization_endpoint", &provider.device_authorization_endpoint},
        {"client_id", &provider.client_id},
        {"client_secret", &provider.client_secret},
        {"resource", &provider.resource}}) {
    if (auto read = read_string(*table, key, section, path, out); !read.is_ok()) return read;
  }
  if (auto read =
          read_duration(*table, "refresh_margin", section, path, &provider.refresh_margin_seconds);
      !read.is_ok())
    return read;
  if (auto read =
          read_duration(*table, "login_timeout", section, path, &provider.login_timeout_seconds);
      !read.is_ok())
    return read;
  if (const toml::node* per_user = table->get("per_user")) {
    if (!per_user->is_boolean())
      return invalid_argument(where(path, *per_user) + ": " + section +
                              ".per_user must be true or false");
    provider.per_user = per_user->value<bool>().value_or(false);
  }
  if (provider.client_id.empty())
    return invalid_argument(where(path, node) + ": " + section + ".client_id is required");
  if (provider.issuer.empty() && provider.token_endpoint.empty())
    return invalid_argument(where(path, node) + ": " + section +
                            " needs an issuer (for metadata discovery) or a token_endpoint");
  if (!provider.client_secret.empty() && !provider.client_secret.starts_with("vault:") &&
      !provider.client_secret.starts_with("env:") && !provider.client_secret.starts_with("file:"))
    return invalid_argument(where(path, *table->get("client_secret")) + ": " + section +
                            ".client_secret must be a reference (\"vault:NAME\", \"env:VAR\" or "
                            "\"file:PATH\"), never the secret itself");
  // RFC 8707 2: an absolute URI without a fragment (it is sent, never contacted).
  if (!provider.resource.empty() &&
      (!(provider.resource.starts_with("https://") || provider.resource.starts_with("http://")) ||
       provider.resource.size() > 2048 ||
       std::any_of(provider.resource.begin(), provider.resource.end(),
                   [](char c) { return c == '#' || static_cast<unsigned char>(c) <= 0x20; })))
    return invalid_argument(where(path, *table->get("resource")) + ": " + section +
                            ".resource must be an http(s) URI without a fragment or spaces "
                            "(the server the tokens are for, RFC 8707)");
  if (const toml::node* scopes = table->get("scopes")) {
    const toml::array* list = scopes->as_array();
    auto bad = [&] {
      return invalid_argument(where(path, *scopes) + ": " + section +
                              ".scopes must be an array of scope strings without spaces");
    };
    if (list == nullptr) return bad();
    for (const toml::node& scope : *list) {
      auto text = scope.value<std::string>();
      if (!text || text->empty() || text->find(' ') != std::string::npos) return bad();
      provider.scopes.push_back(*text);
    }
  }
  return provider;
}

}  // namespace

Result<OAuthProviders> read_oauth_providers(const toml::node& section,
                                            const std::filesystem::path& path) {
  const toml::table* table = section.as_table();
  if (table == nullptr)
    return invalid_argument(where(path, section) + ": [oauth] must be a table of [oauth.NAME]");
  OAuthProviders providers;
  for (const auto& [name, node] : *table) {
    auto provider = read_provider(name.str(), node, path);
    if (!provider.is_ok()) return provider.status();
    providers.emplace(std::string(name.str()), std::move(provider).value());
  }
  return providers;
}

}  // namespace keyhold
