// keyhold/sdk/options.hpp - reading a connector's options (the JSON form of its
// [instances.<name>.options] table) with the messages every connector uses.
//
// These run in a plugin's constructor, where a throw becomes the instance's load error,
// so they throw std::invalid_argument naming the option and what is accepted ("option
// row_limit must be an integer from 1 to 100000"). `where` prefixes the key in messages
// for nested tables ("suites.api."). An absent key gives the fallback.
#pragma once

#include <keyhold/sdk/duration.hpp>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace keyhold::sdk {

// The std::invalid_argument these helpers throw: "option <name> <expected>".
inline std::invalid_argument bad_option(std::string_view name, std::string_view expected) {
  return std::invalid_argument("option " + std::string(name) + " " + std::string(expected));
}

// The string option `key`, or fallback when absent.
inline std::string string_option(const nlohmann::json& table, std::string_view key,
                                 std::string fallback = {}, std::string_view where = {}) {
  const auto it = table.find(key);
  if (it == table.end()) return fallback;
  if (!it->is_string()) throw bad_option(std::string(where) + std::string(key), "must be a string");
  return it->get<std::string>();
}

// The boolean option `key`, or fallback when absent.
inline bool bool_option(const nlohmann::json& table, std::string_view key, bool fallback,
                        std::string_view where = {}) {
  const auto it = table.find(key);
  if (it == table.end()) return fallback;
  if (!it->is_boolean())
    throw bad_option(std::string(where) + std::string(key), "must be true or false");
  return it->get<bool>();
}

// The integer option `key` in [min, max], or fallback when absent.
inline long long integer_option(const nlohmann::json& table, std::string_view key,
                                long long fallback, long long min, long long max,
                                std::string_view where = {}) {
  const auto it = table.find(key);
  if (it == table.end()) return fallback;
  if (!it->is_number_integer() || it->get<long long>() < min || it->get<long long>() > max)
    throw bad_option(
        std::string(where) + std::string(key),
        "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  return it->get<long long>();
}

// A duration option: a string in the grammar of keyhold/sdk/duration.hpp ("90s", "10m",
// "1h30m"), greater than zero and at most `max`. For compatibility with the options that
// took seconds before the grammar existed, a JSON number and a string that is only a
// number ("1.5") are read as seconds. `name` is the option's full name for messages.
inline std::chrono::milliseconds duration_option(const nlohmann::json& value, std::string_view name,
                                                 std::chrono::milliseconds max) {
  const auto fail = [&](std::string_view detail) {
    std::string expected =
        "must be a duration like \"90s\", \"500ms\", \"10m\" or \"1h30m\" (units: " +
        std::string(kDurationUnits) + ") or a number of seconds, greater than zero and at most " +
        std::to_string(max.count() / 1000) + " seconds";
    if (!detail.empty()) expected += "; " + std::string(detail);
    return bad_option(name, expected);
  };
  const auto from_seconds = [&](double seconds) {
    if (!std::isfinite(seconds) || seconds <= 0 ||
        seconds * 1000.0 > static_cast<double>(max.count()))
      throw fail({});
    return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000.0)));
  };
  if (value.is_number()) return from_seconds(value.get<double>());
  if (!value.is_string()) throw fail({});
  const std::string text = value.get<std::string>();
  // A bare number of seconds: digits with at most one '.', nothing else.
  if (!text.empty() && text.find_first_not_of("0123456789.") == std::string::npos &&
      text.find_first_of("0123456789") != std::string::npos && text.find('.') == text.rfind('.'))
    return from_seconds(std::stod(text));
  const auto parsed = parse_duration(text);
  if (!parsed) throw fail(parsed.error());
  if (parsed->count() <= 0 || *parsed > max) throw fail({});
  return *parsed;
}

}  // namespace keyhold::sdk
