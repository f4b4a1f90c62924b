// keyhold/sdk/percent.hpp: RFC 3986 percent-encoding (and what SigV4 needs of it).
#include <keyhold/sdk/percent.hpp>

#include <catch2/catch.hpp>

using Catch::Matchers::Contains;
using keyhold::sdk::percent_decode;
using keyhold::sdk::percent_decode_lenient;
using keyhold::sdk::percent_encode;

TEST_CASE("percent_encode keeps unreserved characters and upper-cases the rest", "[sdk][percent]") {
  CHECK(percent_encode("AZaz09-._~") == "AZaz09-._~");
  CHECK(percent_encode("a b/c?d=e&f+g") == "a%20b%2Fc%3Fd%3De%26f%2Bg");
  CHECK(percent_encode("a b/c", "/") == "a%20b/c");
  CHECK(percent_encode("\xC3\xA9") == "%C3%A9");
  CHECK(percent_encode(std::string("\0\xff", 2)) == "%00%FF");
  CHECK(percent_encode("*") == "%2A");  // SigV4: '*' is encoded
  CHECK(percent_encode("a/b c~") == "a%2Fb%20c~");
  CHECK(percent_encode("a/b c~", "/") == "a/b%20c~");
}

TEST_CASE("percent_decode reverses percent_encode and refuses broken triplets", "[sdk][percent]") {
  const std::string raw = "dir/file name+%.txt \xC3\xA9";
  const auto back = percent_decode(percent_encode(raw));
  REQUIRE(back.is_ok());
  CHECK(*back == raw);
  CHECK(percent_decode("%41%6a%6A").value() == "Ajj");
  CHECK(percent_decode("a+b").value() == "a+b");  // '+' is not a space
  CHECK_THAT(percent_decode("100%").error(), Contains("offset 3"));
  CHECK_FALSE(percent_decode("%4").is_ok());
  CHECK_FALSE(percent_decode("%zz").is_ok());
  CHECK_FALSE(percent_decode("%%41").is_ok());
}

TEST_CASE("percent_decode_lenient decodes what it can and keeps the rest", "[sdk][percent]") {
  CHECK(percent_decode_lenient("p%40ss%zz%4") == "p@ss%zz%4");
  CHECK(percent_decode_lenient("%41") == "A");
  CHECK(percent_decode_lenient("100%") == "100%");
}
