// keyhold/sdk/base64.hpp: RFC 4648 section 10 test vectors, and strict decoding.
#include <keyhold/sdk/base64.hpp>

#include <catch2/catch.hpp>

#include <random>

using Catch::Matchers::Contains;
using keyhold::sdk::base64_decode;
using keyhold::sdk::base64_encode;

TEST_CASE("base64 matches the RFC 4648 test vectors both ways", "[sdk][base64]") {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    CHECK(base64_encode(plain) == encoded);
    const auto decoded = base64_decode(encoded);
    REQUIRE(decoded.is_ok());
    CHECK(*decoded == plain);
  }
}

TEST_CASE("base64 round-trips every byte value", "[sdk][base64]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n < 8; ++n) {
    const std::string bytes = all.substr(n);
    const auto back = base64_decode(base64_encode(bytes));
    REQUIRE(back.is_ok());
    CHECK(*back == bytes);
  }
  CHECK(base64_encode(std::string("\xff\xfe", 2)) == "//4=");
  CHECK(base64_encode(std::string("\x01\x02\xff", 3)) == "AQL/");
  CHECK(base64_encode(std::string("\xfb\xef", 2)) == "++8=");
}

TEST_CASE("base64 decoding refuses what is not canonical padded base64", "[sdk][base64]") {
  CHECK_THAT(base64_decode("Zm9").error(), Contains("multiple of 4"));
  CHECK_THAT(base64_decode("Zm9v!A==").error(), Contains("not in the base64 alphabet"));
  CHECK_THAT(base64_decode("Z===").error(), Contains("too early"));
  CHECK_THAT(base64_decode("Zg==Zg==").error(), Contains("after the '=' padding"));
  CHECK_THAT(base64_decode("Zm=v").error(), Contains("after the '=' padding"));
  CHECK_THAT(base64_decode("Zh==").error(), Contains("not canonical"));
  CHECK_THAT(base64_decode("Zm9=").error(), Contains("not canonical"));
  CHECK_FALSE(base64_decode("Zm9v YmFy").is_ok());  // spaces only when asked to skip them
  CHECK_FALSE(base64_decode("Zm9v-_").is_ok());     // base64url is a different alphabet
}

TEST_CASE("base64 decoding skips the characters it is told to ignore", "[sdk][base64]") {
  const auto r = base64_decode("Zm9v\r\nYmFy\n", " \r\n");
  REQUIRE(r.is_ok());
  CHECK(*r == "foobar");
  CHECK(base64_decode("Zm 8=", " ").value() == "fo");
}

TEST_CASE("base64 errors do not quote the input", "[sdk][base64]") {
  const auto r = base64_decode("c2VjcmV0!");
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.error().find("c2VjcmV0") == std::string::npos);
}

TEST_CASE("base64 decoding's four-at-a-time path agrees with the general loop", "[sdk][base64]") {
  // base64_decode("!" + text, "!") cannot take the fast path (the '!' is no base64
  // character), so it is the general loop's verdict on text.
  std::mt19937 rng(7);
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n#";
  int fast_accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    std::string text = base64_encode(bytes);
    const int mutations = static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations && !text.empty(); ++m) {
      const std::size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          text.erase(at, 1);
          break;
        default:
          text.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
      }
    }
    const auto got = base64_decode(text);
    const auto general = base64_decode("!" + text, "!");
    REQUIRE(got.is_ok() == general.is_ok());
    if (got.is_ok()) {
      CHECK(*got == *general);
      if (mutations == 0) CHECK(*got == bytes);
      ++fast_accepted;
    }
  }
  CHECK(fast_accepted > 5000);
}
