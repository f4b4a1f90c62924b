// keyhold/sdk/args.hpp - reading a tool's arguments (the "arguments" object of
// tools/call) with the messages every connector uses.
//
// These run inside Plugin::call_tool, so they report a bad argument the SDK's way: they
// throw keyhold::InvalidArgument, which the SDK turns into an isError tool result whose
// text is the message ("argument sql is required", "argument limit must be an integer
// from 1 to 1000"). A missing key and a JSON null both count as absent.
#pragma once

#include <keyhold/plugin.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace keyhold::sdk {

namespace detail {
inline bool absent(const json& args, std::string_view key) {
  if (!args.is_object()) return true;
  const auto it = args.find(key);
  return it == args.end() || it->is_null();
}
}  // namespace detail

// The string argument `key`; "" when absent and not required. Throws InvalidArgument when
// it is required and absent, or present and not a string.
inline std::string string_arg(const json& args, std::string_view key, bool required) {
  if (detail::absent(args, key)) {
    if (required) throw InvalidArgument("argument " + std::string(key) + " is required");
    return {};
  }
  const json& value = *args.find(key);
  if (!value.is_string())
    throw InvalidArgument("argument " + std::string(key) + " must be a string");
  return value.get<std::string>();
}

// The integer argument `key` in [min, max]; nullopt when absent. Throws InvalidArgument
// when it is present and not an integer in range.
inline std::optional<long long> integer_arg(const json& args, std::string_view key, long long min,
                                            long long max) {
  if (detail::absent(args, key)) return std::nullopt;
  const json& value = *args.find(key);
  if (!value.is_number_integer() || value.get<long long>() < min || value.get<long long>() > max)
    throw InvalidArgument("argument " + std::string(key) + " must be an integer from " +
                          std::to_string(min) + " to " + std::to_string(max));
  return value.get<long long>();
}

}  // namespace keyhold::sdk
