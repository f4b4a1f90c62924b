// keyhold/sdk/json_write.hpp: its text must be byte for byte what nlohmann's
// dump(-1, ' ', false, replace) writes, for every value (the host and plugins switch
// between the two freely).
#include <keyhold/sdk/json_write.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>

using nlohmann::json;

namespace {

std::string reference(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A string that exercises every branch: ASCII runs longer and shorter than a word, each
// escape, control characters, DEL, valid 2-4 byte sequences, and (when bad) every kind of
// malformed sequence nlohmann replaces.
std::string random_text(std::mt19937_64& rng, bool bad) {
  static const std::string pieces[] = {
      "plain ascii text that runs longer than eight bytes",
      "ab",
      "\"",
      "\\",
      "/",
      "\b",
      "\f",
      "\n",
      "\r",
      "\t",
      std::string(1, '\0'),
      "\x01",
      "\x1f",
      "\x7f",
      "\xc3\xa9",
      "\xe2\x82\xac",
      "\xf0\x9f\x98\x80",
      "\xef\xbf\xbd",
      "\xed\x9f\xbf",
      "\xf4\x8f\xbf\xbf",
      "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=",
  };
  static const std::string bad_pieces[] = {
      "\x80",
      "\xbf",
      "\xc0\xaf",
      "\xc1\xbf",
      "\xc3",
      "\xe2\x82",
      "\xe0\x80\xaf",
      "\xed\xa0\x80",
      "\xed\xbf\xbf",
      "\xf0\x80\x80\xaf",
      "\xf4\x90\x80\x80",
      "\xf5\x80\x80\x80",
      "\xff",
      "\xfe",
      "\xf0\x9f\x98",
      "\xc3\x28",
  };
  std::string out;
  const int n = static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) {
    if (bad && rng() % 4 == 0)
      out += bad_pieces[rng() % std::size(bad_pieces)];
    else
      out += pieces[rng() % std::size(pieces)];
    if (rng() % 3 == 0) out += std::string(rng() % 20, static_cast<char>('a' + rng() % 26));
  }
  return out;
}

double random_double(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0:
      return 1.0;
    case 1:
      return -0.0;
    case 2:
      return std::numeric_limits<double>::quiet_NaN();
    case 3:
      return -std::numeric_limits<double>::infinity();
    case 4:
      return std::numeric_limits<double>::denorm_min();
    case 5:
      return static_cast<double>(static_cast<std::int64_t>(rng() % 2000000) - 1000000);
    default: {
      std::uniform_real_distribution<double> exponent(-300, 300);
      return std::pow(10.0, exponent(rng)) * (rng() % 2 ? 1 : -1);
    }
  }
}

json random_value(std::mt19937_64& rng, int depth, bool bad) {
  switch (rng() % (depth > 4 ? 7 : 9)) {
    case 0:
      return nullptr;
    case 1:
      return rng() % 2 == 0;
    case 2:
      return static_cast<std::int64_t>(rng());  // negative half the time
    case 3:
      return static_cast<std::uint64_t>(rng());
    case 4:
      return random_double(rng);
    case 5:
    case 6:
      return random_text(rng, bad);
    case 7: {
      json a = json::array();
      const int n = static_cast<int>(rng() % 5);
      for (int i = 0; i < n; ++i) a.push_back(random_value(rng, depth + 1, bad));
      return a;
    }
    default: {
      json o = json::object();
      const int n = static_cast<int>(rng() % 5);
      for (int i = 0; i < n; ++i) o[random_text(rng, bad)] = random_value(rng, depth + 1, bad);
      return o;
    }
  }
}

}  // namespace

TEST_CASE("json_text writes what dump() writes, for generated values", "[json_write]") {
  std::mt19937_64 rng(20261201);
  for (int i = 0; i < 20000; ++i) {
    const bool bad = i % 3 == 0;
    const json value = random_value(rng, 0, bad);
    const std::string expected = reference(value);
    const std::string got = keyhold::sdk::json_text(value);
    if (got != expected) {
      INFO("value #" << i << " expected " << json(expected).dump() << " got " << json(got).dump());
      CHECK(got == expected);
      break;
    }
  }
}

TEST_CASE("json_text escapes and replaces as dump() does at word boundaries", "[json_write]") {
  // Every special byte at every offset of a 16-byte string: the word-at-a-time scan must
  // stop at it wherever it falls.
  const std::string specials[] = {"\"",   "\\",       "\n",   std::string(1, '\0'), "\x1f",
                                  "\x7f", "\xc3\xa9", "\x80", "\xe2\x82",           "\xed\xa0\x80"};
  for (const std::string& special : specials) {
    for (std::size_t at = 0; at <= 16; ++at) {
      std::string text(16, 'x');
      text.insert(at, special);
      const json value = {{"k" + special, text}, {"a", json::array({text, text + special})}};
      CHECK(keyhold::sdk::json_text(value) == reference(value));
    }
  }
}

TEST_CASE("json_text of scalars and containers", "[json_write]") {
  CHECK(keyhold::sdk::json_text(json::parse(R"({"b":[1,-2,3.5,1e300,true,null,"x"],"a":{}})")) ==
        R"({"a":{},"b":[1,-2,3.5,1e+300,true,null,"x"]})");
  CHECK(keyhold::sdk::json_text(json(std::numeric_limits<double>::infinity())) == "null");
  CHECK(keyhold::sdk::json_text(json(2.0)) == "2.0");
  CHECK(keyhold::sdk::json_text(json("tab\there \"q\" \x01")) == R"("tab\there \"q\" \u0001")");
  CHECK(keyhold::sdk::json_text(json("bad \xff byte")) == "\"bad \xef\xbf\xbd byte\"");
  std::string out = "[";
  keyhold::sdk::append_json(out, json::array());
  CHECK(out == "[[]");
}
