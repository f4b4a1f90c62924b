#pragma once
// The wire format of Secrets Manager's GetSecretValue as the aws-sm: source speaks it (the
// JSON 1.1 protocol): the request body, its SigV4-signed headers, and the value taken out
// of a 200 answer. Pure (no clock, no network), so each step is checked on its own against
// AWS's published example (tests/sources/source_aws_sm_wire_test.cpp).
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "base/status.hpp"
#include "keyhold/vault/secret_buffer.hpp"

namespace keyhold::secrets::aws_sm {

// A std::string zeroed before it is freed: response bodies and parsed copies of values.
struct WipedText {
  std::string text;
  WipedText() = default;
  explicit WipedText(std::string t) : text(std::move(t)) {}
  WipedText(const WipedText&) = delete;
  WipedText& operator=(const WipedText&) = delete;
  ~WipedText();
};

struct Credentials {
  std::string access_key_id;
  vault::SecretBuffer secret_access_key;
  std::string session_token;  // empty: none
};

// {"SecretId": id, "VersionStage": stage} or, when version_id is set, {"SecretId": id,
// "VersionId": version_id}.
std::string request_body(const std::string& secret_id, const std::string& stage,
                         const std::string& version_id);

// The headers of one signed POST / to host ("name", "value"; lower-case names, authorization
// last): content-type, host, x-amz-date, x-amz-security-token (with a session token),
// x-amz-target, all signed. amz_date is "YYYYMMDDTHHMMSSZ".
std::vector<std::pair<std::string, std::string>> signed_headers(const std::string& host,
                                                                const std::string& body,
                                                                const Credentials& credentials,
                                                                const std::string& amz_date,
                                                                const std::string& region);

// The value in a 200 answer: SecretString, the decoded SecretBinary, or with field the string
// member field of the JSON object in SecretString. Errors name secret_id and field only.
Result<vault::SecretBuffer> value_from_response(std::string_view body, const std::string& secret_id,
                                                const std::string& field);

// The profile's keys in an AWS shared credentials file (~/.aws/credentials: INI sections
// `[profile]`, lines `aws_access_key_id = ...`, `aws_secret_access_key = ...`, optional
// `aws_session_token = ...`; `#` and `;` start comments). An error names the profile and the
// missing key, never a value.
Result<Credentials> credentials_from_shared_file(std::string_view text, const std::string& profile);

// The string member name of object, wiping the parsed copy; empty when absent.
std::string take_string(nlohmann::json& object, const char* name);

}  // namespace keyhold::secrets::aws_sm
