#include <catch2/catch.hpp>

#include <sodium.h>

#include <cstring>

#include "secrets/redactor.hpp"

using namespace keyhold::secrets;
using keyhold::vault::SecretBuffer;

namespace {
constexpr std::string_view kCanary = "canary-3f9a1c7e-value";

std::shared_ptr<Redactor> with_canary() {
  std::string error;
  auto redactor = Redactor::create(builtin_credential_rules(), &error);
  INFO(error);
  REQUIRE(redactor);
  std::vector<KnownSecret> secrets;
  secrets.push_back({"db-password", SecretBuffer::copy_of(kCanary)});
  REQUIRE(redactor->set_secrets(secrets, &error));
  return redactor;
}
}  // namespace

TEST_CASE("an exact secret value is replaced by a marker naming its label") {
  auto r = with_canary();
  CHECK(r->redacted("pw=" + std::string(kCanary) + "!") == "pw=[REDACTED:db-password]!");
}

TEST_CASE("every encoded form of a secret is replaced") {
  auto r = with_canary();
  for (const auto& form : encoded_forms(kCanary)) {
    INFO(form);
    CHECK(r->redacted("x " + form + " y") == "x [REDACTED:db-password] y");
  }
  // base64 (21 bytes: no padding; base64url is the same), hex, HEX; the URL forms equal the
  // raw value and drop.
  CHECK(encoded_forms(kCanary).size() == 3);
}

TEST_CASE("the encoded forms are the standard ones") {
  auto forms = encoded_forms("a b/c?");
  CHECK(std::find(forms.begin(), forms.end(), "YSBiL2M_") != forms.end());      // base64url
  CHECK(std::find(forms.begin(), forms.end(), "YSBiL2M/") != forms.end());      // base64
  CHECK(std::find(forms.begin(), forms.end(), "6120622f633f") != forms.end());  // hex
  CHECK(std::find(forms.begin(), forms.end(), "6120622F633F") != forms.end());  // HEX
  CHECK(std::find(forms.begin(), forms.end(), "a%20b%2Fc%3F") != forms.end());  // url
  CHECK(std::find(forms.begin(), forms.end(), "a%20b%2fc%3f") != forms.end());  // url, lower
  CHECK(std::find(forms.begin(), forms.end(), "a%20b/c%3F") != forms.end());    // '/' kept
}

TEST_CASE("values shorter than 8 bytes are not matched") {
  std::string error;
  auto r = Redactor::create({}, &error);
  std::vector<KnownSecret> secrets;
  secrets.push_back({"short", SecretBuffer::copy_of(std::string_view("abc1234"))});
  REQUIRE(r->set_secrets(secrets, &error));
  CHECK(r->redacted("abc1234") == "abc1234");
}

TEST_CASE("credential rules redact by format and name the rule") {
  auto r = with_canary();
  CHECK(r->redacted("id AKIAQX7TESTFAKE4KEYZ end") == "id [REDACTED:rule:aws-access-key] end");
}

TEST_CASE("overlapping findings merge into one marker") {
  auto r = with_canary();
  std::string text = std::string(kCanary) + std::string(kCanary);
  CHECK(r->redacted(text) == "[REDACTED:db-password][REDACTED:db-password]");
}

TEST_CASE("redact_json reaches strings at any depth and object keys") {
  auto r = with_canary();
  nlohmann::json value = {{"content", {{{"type", "text"}, {"text", "v=" + std::string(kCanary)}}}},
                          {std::string(kCanary), 1}};
  CHECK(r->redact_json(value));
  const std::string dumped = value.dump();
  CHECK(dumped.find(kCanary) == std::string::npos);
  CHECK(dumped.find("[REDACTED:db-password]") != std::string::npos);
}

TEST_CASE("set_secrets replaces the previous set") {
  auto r = with_canary();
  std::string error;
  std::vector<KnownSecret> secrets;
  secrets.push_back({"new", SecretBuffer::copy_of(std::string_view("rotated-canary-77"))});
  REQUIRE(r->set_secrets(secrets, &error));
  CHECK(r->redacted(std::string(kCanary)) == std::string(kCanary));
  CHECK(r->redacted("rotated-canary-77") == "[REDACTED:new]");
}

TEST_CASE("binary values with NUL bytes are matched") {
  std::string error;
  auto r = Redactor::create({}, &error);
  const std::string value("\x00\x01secret\xff\x00zz", 12);
  std::vector<KnownSecret> secrets;
  secrets.push_back({"bin", SecretBuffer::copy_of(value)});
  REQUIRE(r->set_secrets(secrets, &error));
  CHECK(r->redacted("a" + value + "b") == "a[REDACTED:bin]b");
}

TEST_CASE("a secret inside a base64 blob is redacted in the bytes and the blob stays base64") {
  auto r = with_canary();
  const std::string bytes = "prefix " + std::string(kCanary) + " suffix";
  std::string b64(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  b64.resize(std::strlen(b64.c_str()));
  nlohmann::json value = {{"resource", {{"uri", "x://y"}, {"blob", b64}}}};
  REQUIRE(r->redact_json(value));
  const std::string blob = value["resource"]["blob"].get<std::string>();
  std::string decoded(blob.size(), '\0');
  std::size_t size = 0;
  REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                            blob.data(), blob.size(), nullptr, &size, nullptr,
                            sodium_base64_VARIANT_ORIGINAL) == 0);
  decoded.resize(size);
  CHECK(decoded == "prefix [REDACTED:db-password] suffix");
}

TEST_CASE("thousands of secrets compile into one database") {
  std::string error;
  auto r = Redactor::create({}, &error);
  std::vector<KnownSecret> secrets;
  for (int i = 0; i < 5000; ++i)
    secrets.push_back({"s" + std::to_string(i),
                       SecretBuffer::copy_of("secret-value-" + std::to_string(i) + "-xyz")});
  REQUIRE(r->set_secrets(secrets, &error));
  CHECK(r->redacted("a secret-value-4999-xyz b") == "a [REDACTED:s4999] b");
  CHECK(r->longest_secret_pattern() > 0);
}

TEST_CASE("a text that cannot be scanned never leaves: the redactor fails closed") {
  auto r = with_canary();
  const std::string text = "pw=" + std::string(kCanary);
  keyhold::secrets::fail_scans_for_testing(1);
  CHECK(r->redacted(text) == "[REDACTED:rule:unscanned]");
  keyhold::secrets::fail_scans_for_testing(1);
  nlohmann::json message{{"result", {{"text", text}, {"plain", "nothing secret here"}}}};
  r->redact_json(message);
  CHECK(message.dump().find(std::string(kCanary)) == std::string::npos);
  keyhold::secrets::fail_scans_for_testing(0);
  CHECK(r->redacted(text) == "pw=[REDACTED:db-password]");
}
