// json_fuzzer: the host's two JSON fast paths against nlohmann, on arbitrary bytes.
// - rpc::parse_json (simdjson, copied into nlohmann) must give nlohmann::json::parse's
//   verdict and value for every text (within the depth limit; "-0" may come back as an
//   unsigned 0, which compares equal).
// - sdk::json_text must write what dump(-1, ' ', false, replace) writes, for the parsed
//   value and for the raw bytes as one string (invalid UTF-8 included).
// Any difference aborts (libFuzzer keeps the input as a reproducer).
#include <keyhold/sdk/json_write.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "../support/same_json.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/json_rpc.hpp"

namespace {

using nlohmann::json;

constexpr std::size_t kDepth = 32;

std::string dumped(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "json_fuzzer: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const json expected = keyhold::rpc::nesting_depth(text, kDepth) > kDepth
                            ? json(json::value_t::discarded)
                            : json::parse(text, nullptr, false);
  const json got = keyhold::rpc::parse_json(text, kDepth);
  if (!keyhold::test::same_json(expected, got))
    fail("parse_json differs from nlohmann::json::parse");
  if (!got.is_discarded() && keyhold::sdk::json_text(got) != dumped(got))
    fail("json_text differs from dump() on a parsed value");
  const json raw = std::string(text);
  if (keyhold::sdk::json_text(raw) != dumped(raw))
    fail("json_text differs from dump() on raw bytes");
  return 0;
}
