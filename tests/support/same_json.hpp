#pragma once
// Test support: whether two nlohmann values are the same all the way down, number types
// included (operator== calls 1 and 1.0 equal; parse_json must give nlohmann's types).
// The one allowed difference: "-0", which nlohmann reads as a signed and
// rpc::parse_json as an unsigned integer 0. Shared by tests/host/json_parse_test.cpp and
// tests/fuzz/json_fuzzer.cpp.
#include <cmath>
#include <cstddef>
#include <nlohmann/json.hpp>

namespace keyhold::test {

inline bool same_json(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_discarded() || b.is_discarded()) return a.is_discarded() && b.is_discarded();
  if (a.type() != b.type())
    return a.is_number_integer() && b.is_number_integer() && a == 0 && b == 0;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same_json(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(), jt = b.begin(); it != a.end(); ++it, ++jt)
      if (it.key() != jt.key() || !same_json(it.value(), jt.value())) return false;
    return true;
  }
  if (a.is_number_float())  // bit for bit, the sign of zero included (JSON has no NaN)
    return a.get<double>() == b.get<double>() &&
           std::signbit(a.get<double>()) == std::signbit(b.get<double>());
  return a == b;
}

}  // namespace keyhold::test
