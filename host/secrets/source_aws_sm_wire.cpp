#include "secrets/source_aws_sm_wire.hpp"

#include <sodium.h>

#include "secrets/signing.hpp"

namespace keyhold::secrets::aws_sm {
namespace {

std::string hex(std::span<const unsigned char> bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

std::string sha256_hex(std::string_view text) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  return hex(digest);
}

}  // namespace

WipedText::~WipedText() { sodium_memzero(text.data(), text.size()); }

std::string take_string(nlohmann::json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return {};
  std::string& held = it->get_ref<std::string&>();
  std::string out = held;
  sodium_memzero(held.data(), held.size());
  return out;
}

std::string request_body(const std::string& secret_id, const std::string& stage,
                         const std::string& version_id) {
  nlohmann::json request = {{"SecretId", secret_id}};
  if (!version_id.empty())
    request["VersionId"] = version_id;
  else
    request["VersionStage"] = stage;
  return request.dump();
}

std::vector<std::pair<std::string, std::string>> signed_headers(const std::string& host,
                                                                const std::string& body,
                                                                const Credentials& credentials,
                                                                const std::string& amz_date,
                                                                const std::string& region) {
  const Aws4Scope scope{amz_date.substr(0, 8), region, "secretsmanager"};
  // Sorted by name, as the canonical request lists them (AWS SigV4, "Create a canonical
  // request"); the path is "/" and there is no query.
  std::vector<std::pair<std::string, std::string>> headers = {
      {"content-type", "application/x-amz-json-1.1"}, {"host", host}, {"x-amz-date", amz_date}};
  if (!credentials.session_token.empty())
    headers.emplace_back("x-amz-security-token", credentials.session_token);
  headers.emplace_back("x-amz-target", "secretsmanager.GetSecretValue");
  std::string canonical = "POST\n/\n\n", names;
  for (const auto& [name, value] : headers) {
    canonical += name + ":" + value + "\n";
    names += (names.empty() ? "" : ";") + name;
  }
  canonical += "\n" + names + "\n" + sha256_hex(body);
  const std::string credential_scope =
      scope.date + "/" + scope.region + "/" + scope.service + "/aws4_request";
  const std::string to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + credential_scope + "\n" + sha256_hex(canonical);
  unsigned char key[kMacBytes], signature[kMacBytes];
  aws4_signing_key(credentials.secret_access_key.bytes(), scope, key);
  hmac_sha256(key, to_sign, signature);
  sodium_memzero(key, sizeof key);
  headers.emplace_back("authorization", "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id +
                                            "/" + credential_scope + ", SignedHeaders=" + names +
                                            ", Signature=" + hex(signature));
  return headers;
}

Result<vault::SecretBuffer> value_from_response(std::string_view body, const std::string& secret_id,
                                                const std::string& field) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_object()) return unavailable("Secrets Manager's answer is not a JSON object");
  if (parsed.contains("SecretBinary")) {
    if (!field.empty())
      return invalid_argument("secret " + secret_id + " is binary, so #" + field +
                              " selects nothing");
    WipedText encoded(take_string(parsed, "SecretBinary"));
    vault::SecretBuffer decoded(encoded.text.size());
    std::size_t size = 0;
    if (sodium_base642bin(decoded.data(), decoded.size(), encoded.text.data(), encoded.text.size(),
                          nullptr, &size, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
      return unavailable("the SecretBinary of secret " + secret_id + " is not base64");
    decoded.truncate(size);
    return decoded;
  }
  WipedText text(take_string(parsed, "SecretString"));
  if (text.text.empty()) return unavailable("secret " + secret_id + " has no SecretString");
  if (field.empty()) return vault::SecretBuffer::copy_of(text.text);
  auto object = nlohmann::json::parse(text.text, nullptr, false);
  if (!object.is_object())
    return invalid_argument("secret " + secret_id + " is not a JSON object, so #" + field +
                            " selects nothing");
  WipedText selected(take_string(object, field.c_str()));
  for (auto& member : object)  // wipe the other members' copies too
    if (member.is_string()) {
      auto& held = member.get_ref<std::string&>();
      sodium_memzero(held.data(), held.size());
    }
  if (selected.text.empty())
    return not_found("secret " + secret_id + " has no string member \"" + field + "\"");
  return vault::SecretBuffer::copy_of(selected.text);
}

namespace {

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace

Result<Credentials> credentials_from_shared_file(std::string_view text,
                                                 const std::string& profile) {
  Credentials out;
  bool in_profile = false, found = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = trimmed(text.substr(start, end - start));
    start = end + 1;
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      in_profile = line.back() == ']' && trimmed(line.substr(1, line.size() - 2)) == profile;
      found = found || in_profile;
      continue;
    }
    const auto equals = line.find('=');
    if (!in_profile || equals == std::string_view::npos) continue;
    const std::string_view key = trimmed(line.substr(0, equals));
    const std::string_view value = trimmed(line.substr(equals + 1));
    if (key == "aws_access_key_id")
      out.access_key_id = std::string(value);
    else if (key == "aws_secret_access_key")
      out.secret_access_key = vault::SecretBuffer::copy_of(value);
    else if (key == "aws_session_token")
      out.session_token = std::string(value);
  }
  if (!found) return not_found("the AWS credentials file has no profile [" + profile + "]");
  if (out.access_key_id.empty() || out.secret_access_key.size() == 0)
    return invalid_argument("the AWS credentials file's profile [" + profile +
                            "] needs aws_access_key_id and aws_secret_access_key");
  return out;
}

}  // namespace keyhold::secrets::aws_sm
