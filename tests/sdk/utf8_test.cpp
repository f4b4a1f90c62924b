// keyhold/sdk/utf8.hpp: strict UTF-8 (RFC 3629) and its repair.
#include <keyhold/sdk/utf8.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <vector>

using namespace keyhold::sdk;

TEST_CASE("strict UTF-8 accepts every well-formed sequence length", "[sdk][utf8]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("\xC3\xA9"));          // U+00E9
  CHECK(is_valid_utf8("\xE2\x82\xAC"));      // U+20AC
  CHECK(is_valid_utf8("\xF0\x9F\x98\x80"));  // U+1F600
  CHECK(is_valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST_CASE("strict UTF-8 refuses overlongs, surrogates and truncations", "[sdk][utf8]") {
  CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xC1\xBF"));          // overlong
  CHECK_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong
  CHECK_FALSE(is_valid_utf8("\xF0\x80\x80\xAF"));  // overlong
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800 surrogate
  CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\x80"));      // lone continuation
  CHECK_FALSE(is_valid_utf8("\xE2\x82"));  // truncated
  CHECK_FALSE(is_valid_utf8("\xC3("));
}

TEST_CASE("decode_code_point gives the value and the length", "[sdk][utf8]") {
  CHECK(decode_code_point("\xE2\x80\xA8x").value == 0x2028);
  CHECK(decode_code_point("\xE2\x80\xA8x").bytes == 3);
  CHECK(decode_code_point("A").value == U'A');
  CHECK(decode_code_point("").bytes == 0);
  CHECK(decode_code_point("\xFF").bytes == 0);
}

TEST_CASE("to_valid_utf8 replaces each bad byte with U+FFFD and keeps the rest", "[sdk][utf8]") {
  CHECK(to_valid_utf8("ok \xC3\xA9") == "ok \xC3\xA9");
  CHECK(to_valid_utf8("a\xFF"
                      "b") ==
        "a\xEF\xBF\xBD"
        "b");
  CHECK(to_valid_utf8("\xE2\x82") == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(to_valid_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(is_valid_utf8(to_valid_utf8("\xC0\xAF\xF4\x90\x80\x80 tail")));
}

TEST_CASE("to_valid_utf8 turns control characters into spaces only when asked", "[sdk][utf8]") {
  const std::string text =
      "a\x01"
      "b\tc\nd\re\x7f";
  CHECK(to_valid_utf8(text) == text);
  CHECK(to_valid_utf8(text, ControlCharacters::kToSpace) == "a b\tc\nd\re ");
}

TEST_CASE("every invalid form is refused and repaired, every valid boundary is kept",
          "[sdk][utf8]") {
  for (const std::string& bad : std::vector<std::string>{
           std::string("\xC0\xAF"),          // overlong '/'
           std::string("\xC1\xBF"),          // overlong
           std::string("\xE0\x80\xAF"),      // overlong
           std::string("\xED\xA0\x80"),      // surrogate U+D800
           std::string("\xED\xBF\xBF"),      // surrogate U+DFFF
           std::string("\xF0\x80\x80\xAF"),  // overlong
           std::string("\xF4\x90\x80\x80"),  // above U+10FFFF
           std::string("\xF5\x80\x80\x80"),  // F5..F7 leads
           std::string("\xF7\xBF\xBF\xBF"), std::string("\xF8\x88\x80\x80\x80"),
           std::string("a\x80"),     // lone continuation
           std::string("\xE2\x82"),  // truncated
       }) {
    INFO(bad.size());
    CHECK_FALSE(is_valid_utf8(bad));
    const std::string fixed = to_valid_utf8(bad);
    CHECK(is_valid_utf8(fixed));
    CHECK(fixed.find("\xEF\xBF\xBD") != std::string::npos);
    CHECK_NOTHROW(nlohmann::json(fixed).dump());
  }
  for (const std::string& good : std::vector<std::string>{
           std::string(""), std::string("plain"), std::string("\xC2\x80"),
           std::string("\xE0\xA0\x80"), std::string("\xED\x9F\xBF"), std::string("\xEE\x80\x80"),
           std::string("\xF0\x90\x80\x80"), std::string("\xF4\x8F\xBF\xBF"),
           std::string("a\xC3\xBC\xE2\x82\xAC")}) {
    CHECK(is_valid_utf8(good));
    CHECK(to_valid_utf8(good) == good);
  }
  CHECK(to_valid_utf8("a\xED\xA0\x80z") == "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz");
}
