#include "secrets/secret_source.hpp"

#include <cstdlib>
#include <cstring>

#include "keyhold/vault/credentials.hpp"
#include "secrets/source_cache.hpp"

namespace keyhold::secrets {

Result<SecretSource> SecretSource::parse(std::string_view text) {
  const auto colon = text.find(':');
  const std::string_view scheme = text.substr(0, colon);
  const std::string_view ref =
      colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  SecretSource source;
  if (scheme == "vault") {
    source.kind = Kind::kVault;
    if (auto problem = vault::validate_secret_name(ref)) {
      return invalid_argument("\"" + std::string(text) + "\": " + *problem);
    }
    if (ref.starts_with(kOAuthRecordPrefix)) {
      return invalid_argument("\"" + std::string(text) + "\": names under " +
                              std::string(kOAuthRecordPrefix) +
                              " hold OAuth token records; map \"oauth:" +
                              std::string(ref.substr(kOAuthRecordPrefix.size())) + "\" instead");
    }
  } else if (scheme == "oauth") {
    source.kind = Kind::kOAuth;
    if (auto problem =
            vault::validate_secret_name(std::string(kOAuthRecordPrefix) + std::string(ref));
        problem && !ref.empty()) {
      return invalid_argument("\"" + std::string(text) + "\": " + *problem);
    }
  } else if (scheme == "env") {
    source.kind = Kind::kEnv;
  } else if (scheme == "file") {
    source.kind = Kind::kFile;
  } else if (is_external_scheme(scheme)) {
    auto external = ExternalSource::parse(text);
    if (!external.is_ok()) return external.status();
    source.kind = Kind::kExternal;
    source.external = std::move(external).value();
    source.ref = source.external->describe();
    return source;
  } else {
    return invalid_argument(
        "\"" + std::string(text) +
        "\" must be vault:NAME, oauth:NAME, env:VAR, file:PATH, command:[ARGV...], "
        "pass:NAME, systemd-creds:NAME or aws-sm:ID");
  }
  if (ref.empty()) {
    return invalid_argument("\"" + std::string(text) + "\" names nothing after the ':'");
  }
  source.ref = std::string(ref);
  return source;
}

std::string SecretSource::describe() const {
  switch (kind) {
    case Kind::kVault:
      return "vault:" + ref;
    case Kind::kEnv:
      return "env:" + ref;
    case Kind::kFile:
      return "file:" + ref;
    case Kind::kOAuth:
      return "oauth:" + ref;
    case Kind::kExternal:
      return ref;
  }
  return ref;
}

std::string SecretSource::granted_secret() const {
  if (kind == Kind::kVault) return ref;
  if (kind == Kind::kOAuth) return std::string(kOAuthRecordPrefix) + ref;
  return {};
}

vault::Result<vault::SecretBuffer> read_source(const SecretSource& source, SharedVault* shared) {
  using vault::ErrorCode;
  switch (source.kind) {
    case SecretSource::Kind::kVault:
      if (shared == nullptr)
        return vault::Status(ErrorCode::kNotFound, "no vault is open for " + source.describe());
      return shared->with([&](vault::Vault& v) { return v.read_secret(source.ref); });
    case SecretSource::Kind::kEnv: {
      const char* value = std::getenv(source.ref.c_str());
      if (value == nullptr)
        return vault::Status(ErrorCode::kNotFound,
                             "environment variable " + source.ref + " is not set");
      return vault::SecretBuffer::copy_of(std::string_view(value, std::strlen(value)));
    }
    case SecretSource::Kind::kFile:
      return vault::read_file_secret(source.ref);
    case SecretSource::Kind::kOAuth:
      return vault::Status(ErrorCode::kInternal,
                           source.describe() + " is resolved by the host's OAuth client");
    case SecretSource::Kind::kExternal:
      return source.external->value(shared);
  }
  return vault::Status(ErrorCode::kInternal, "unknown secret source");
}

}  // namespace keyhold::secrets
