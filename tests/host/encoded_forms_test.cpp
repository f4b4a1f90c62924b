#include <catch2/catch.hpp>

#include <sodium.h>

#include <algorithm>

#include "secrets/encoded_forms.hpp"

using namespace keyhold::secrets;

namespace {

bool has(const std::vector<std::string>& forms, std::string_view form) {
  return std::find(forms.begin(), forms.end(), form) != forms.end();
}

}  // namespace

TEST_CASE("the encoded forms include the standard ones") {
  auto forms = encoded_forms("a b/c?d~");
  CHECK(has(forms, "YSBiL2M_ZH4"));       // base64url
  CHECK(has(forms, "YSBiL2M/ZH4="));      // base64
  CHECK(has(forms, "6120622f633f647e"));  // hex
  CHECK(has(forms, "6120622F633F647E"));  // HEX
  CHECK(has(forms, "a%20b%2Fc%3Fd~"));    // url
  CHECK(has(forms, "a%20b%2fc%3fd~"));    // url, lower
  CHECK(has(forms, "a%20b/c%3Fd~"));      // '/' kept
}

TEST_CASE("the encoded forms are sorted, unique and never the value itself") {
  const std::string value = "canary-0b7e plain";
  auto forms = encoded_forms(value);
  CHECK(std::is_sorted(forms.begin(), forms.end()));
  CHECK(std::adjacent_find(forms.begin(), forms.end()) == forms.end());
  CHECK(!has(forms, value));
}

TEST_CASE("a base64 form holds at least 10 characters of the value alone") {
  // 8 bytes (64 bits) leave exactly 10 value-only characters at each alignment: the
  // characters that also hold bits of the 1 or 2 bytes before it, and the last one that
  // holds bits of the byte after it, are not part of the form.
  const std::string eight = "8canary!";
  auto forms = encoded_forms(eight);
  CHECK(has(forms, base64_encode(eight, sodium_base64_VARIANT_ORIGINAL_NO_PADDING).substr(0, 10)));
  CHECK(has(forms,
            base64_encode("x" + eight, sodium_base64_VARIANT_ORIGINAL_NO_PADDING).substr(2, 10)));
  CHECK(has(forms,
            base64_encode("xy" + eight, sodium_base64_VARIANT_ORIGINAL_NO_PADDING).substr(3, 10)));
  // 7 bytes leave 9 or fewer at every alignment: no base64 pattern at all.
  const std::string seven = "7canary";
  for (const std::string prefix : {"", "x", "xy"}) {
    const std::string encoded = base64_encode(prefix + seven + "z", sodium_base64_VARIANT_ORIGINAL);
    for (const auto& form : encoded_forms(seven)) {
      INFO(prefix.size() << ": " << form);
      CHECK(encoded.find(form) == std::string::npos);
    }
  }
}

TEST_CASE("percent-encodings as common encoders write them are forms") {
  const std::string value = "canary one!two/three~four*(x)";
  auto forms = encoded_forms(value);
  CHECK(has(forms, "canary%20one%21two%2Fthree~four%2A%28x%29"));  // curl_easy_escape
  CHECK(has(forms, "canary%20one%21two%2fthree~four%2a%28x%29"));  // the same, lower case
  CHECK(has(forms, "canary%20one%21two/three~four%2A%28x%29"));    // Python quote
  CHECK(has(forms, "canary%20one!two%2Fthree~four*(x)"));          // encodeURIComponent
  CHECK(has(forms, "canary%20one!two/three~four*(x)"));            // encodeURI
  CHECK(has(forms, "canary+one%21two%2Fthree~four%2A%28x%29"));    // Python quote_plus
  CHECK(has(forms, "canary+one%21two%2Fthree%7Efour*%28x%29"));    // Java URLEncoder
}
