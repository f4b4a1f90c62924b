// The aws-sm: wire format (issue 19) against AWS's published GetSecretValue example (the
// Secrets Manager API reference and `aws secretsmanager get-secret-value` documentation:
// request {"SecretId": "MyTestDatabaseSecret", "VersionStage": "AWSPREVIOUS"}, headers
// X-Amz-Target / Content-Type application/x-amz-json-1.1 / SignedHeaders
// content-type;host;x-amz-date;x-amz-target, and the example answer below), signed with
// the SigV4 test suite's example key. The expected signatures were computed once by the
// official signer @smithy/signature-v4 (the end-to-end test checks every live request with
// it as well).
#include <catch2/catch.hpp>

#include "secrets/source_aws_sm_wire.hpp"

using namespace keyhold::secrets::aws_sm;

namespace {

Credentials example_credentials(std::string session_token = {}) {
  return {"AKIDEXAMPLE",
          keyhold::vault::SecretBuffer::copy_of(
              std::string_view("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
          std::move(session_token)};
}

std::string header(const std::vector<std::pair<std::string, std::string>>& headers,
                   const std::string& name) {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return "<absent>";
}

// The example answer of the API reference (VersionStages AWSPREVIOUS).
constexpr std::string_view kExampleAnswer = R"({
  "ARN": "arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTestDatabaseSecret-a1b2c3",
  "CreatedDate": 1523477145.713,
  "Name": "MyTestDatabaseSecret",
  "SecretString": "{\n  \"username\":\"david\",\n  \"password\":\"EXAMPLE-PASSWORD\"\n}\n",
  "VersionId": "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1",
  "VersionStages": ["AWSPREVIOUS"]
})";

std::string value_text(std::string_view body, const std::string& field) {
  auto value = value_from_response(body, "MyTestDatabaseSecret", field);
  return value.is_ok() ? std::string(value.value().view())
                       : "<error: " + value.status().message() + ">";
}

}  // namespace

TEST_CASE("aws-sm wire: the published GetSecretValue request, signed as the official signer does",
          "[sources]") {
  const std::string body = request_body("MyTestDatabaseSecret", "AWSPREVIOUS", "");
  CHECK(body == R"({"SecretId":"MyTestDatabaseSecret","VersionStage":"AWSPREVIOUS"})");
  CHECK(request_body("MyTestDatabaseSecret", "AWSCURRENT", "EXAMPLE1-90ab") ==
        R"({"SecretId":"MyTestDatabaseSecret","VersionId":"EXAMPLE1-90ab"})");

  const auto headers = signed_headers("secretsmanager.us-west-2.amazonaws.com", body,
                                      example_credentials(), "20180411T183000Z", "us-west-2");
  CHECK(header(headers, "content-type") == "application/x-amz-json-1.1");
  CHECK(header(headers, "x-amz-target") == "secretsmanager.GetSecretValue");
  CHECK(header(headers, "x-amz-date") == "20180411T183000Z");
  CHECK(header(headers, "host") == "secretsmanager.us-west-2.amazonaws.com");
  CHECK(header(headers, "x-amz-security-token") == "<absent>");
  CHECK(header(headers, "authorization") ==
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20180411/us-west-2/secretsmanager/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
        "Signature=ffdd4c8725050b763f74c8ed351c3befba550e46703b6aa336b358451cd5e8c4");

  const std::string token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW";
  const auto with_token =
      signed_headers("secretsmanager.us-west-2.amazonaws.com", body, example_credentials(token),
                     "20180411T183000Z", "us-west-2");
  CHECK(header(with_token, "x-amz-security-token") == token);
  CHECK(header(with_token, "authorization") ==
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20180411/us-west-2/secretsmanager/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, "
        "Signature=50d8b93ab2e21bf5428c27a7e7217ab269ddde4f7693cfa66842eb0aeb8ca6c9");
}

TEST_CASE("aws-sm wire: the published answer, whole and by #field", "[sources]") {
  CHECK(value_text(kExampleAnswer, "") ==
        "{\n  \"username\":\"david\",\n  \"password\":\"EXAMPLE-PASSWORD\"\n}\n");
  CHECK(value_text(kExampleAnswer, "password") == "EXAMPLE-PASSWORD");
  CHECK(value_text(kExampleAnswer, "username") == "david");
  CHECK_THAT(value_text(kExampleAnswer, "host"),
             Catch::Contains("secret MyTestDatabaseSecret has no string member \"host\""));
  CHECK_THAT(value_text(R"({"SecretString": "plain text"})", "password"),
             Catch::Contains("is not a JSON object, so #password selects nothing"));
  // SecretBinary is base64 on the wire; the value is the decoded bytes.
  CHECK(value_text(R"({"SecretBinary": "YmluYXJ5IHZhbHVl"})", "") == "binary value");
  CHECK_THAT(value_text(R"({"SecretBinary": "YmluYXJ5IHZhbHVl"})", "key"),
             Catch::Contains("is binary, so #key selects nothing"));
  CHECK_THAT(value_text("not json", ""), Catch::Contains("not a JSON object"));
}

TEST_CASE("aws-sm: credentials from the shared credentials file, by profile") {
  const std::string file =
      "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = "
      "canary-default-secret\n\n[ci]\n; another comment\naws_access_key_id=AKIDCI\r\n"
      "aws_secret_access_key=canary-ci-secret\r\naws_session_token = TOKEN\n[empty]\n";
  auto fallback = keyhold::secrets::aws_sm::credentials_from_shared_file(file, "default");
  REQUIRE(fallback.is_ok());
  CHECK(fallback.value().access_key_id == "AKIDDEFAULT");
  CHECK(fallback.value().secret_access_key.view() == "canary-default-secret");
  CHECK(fallback.value().session_token.empty());
  auto ci = keyhold::secrets::aws_sm::credentials_from_shared_file(file, "ci");
  REQUIRE(ci.is_ok());
  CHECK(ci.value().access_key_id == "AKIDCI");
  CHECK(ci.value().secret_access_key.view() == "canary-ci-secret");
  CHECK(ci.value().session_token == "TOKEN");
  auto missing = keyhold::secrets::aws_sm::credentials_from_shared_file(file, "prod");
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().message().find("[prod]") != std::string::npos);
  auto empty = keyhold::secrets::aws_sm::credentials_from_shared_file(file, "empty");
  REQUIRE_FALSE(empty.is_ok());
  CHECK(empty.status().message().find("canary") == std::string::npos);
}
