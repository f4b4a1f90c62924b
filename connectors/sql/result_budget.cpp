#include "result_budget.hpp"

namespace keyhold::sql {

namespace {
std::size_t dumped_size(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace).size();
}

std::size_t string_size(const std::string& s) {
  std::size_t bytes = 2;  // the quotes
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) return dumped_size(json(s));  // UTF-8 to check (invalid is replaced)
    switch (c) {
      case '"':
      case '\\':
      case '\b':
      case '\f':
      case '\n':
      case '\r':
      case '\t':
        bytes += 2;
        break;
      default:
        bytes += c < 0x20 ? 6 : 1;  // \u00XX
    }
  }
  return bytes;
}

std::size_t integer_size(std::uint64_t magnitude) {
  std::size_t digits = 1;
  while (magnitude >= 10) {
    magnitude /= 10;
    ++digits;
  }
  return digits;
}
}  // namespace

std::size_t json_text_size(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return 4;
    case json::value_t::boolean:
      return value.get<bool>() ? 4 : 5;
    case json::value_t::number_unsigned:
      return integer_size(value.get<std::uint64_t>());
    case json::value_t::number_integer: {
      const std::int64_t v = value.get<std::int64_t>();
      return v < 0 ? 1 + integer_size(0 - static_cast<std::uint64_t>(v))
                   : integer_size(static_cast<std::uint64_t>(v));
    }
    case json::value_t::string:
      return string_size(value.get_ref<const std::string&>());
    case json::value_t::array: {
      std::size_t bytes = 2 + (value.empty() ? 0 : value.size() - 1);
      for (const json& element : value) bytes += json_text_size(element);
      return bytes;
    }
    case json::value_t::object: {
      std::size_t bytes = 2 + (value.empty() ? 0 : value.size() - 1);
      for (const auto& [key, element] : value.items())
        bytes += string_size(key) + 1 + json_text_size(element);
      return bytes;
    }
    default:  // floats (their shortest form), binary, discarded
      return dumped_size(value);
  }
}

bool ResultBudget::take(const json& row) {
  // The row as it appears inside the result's rows array, plus the separating comma.
  const std::size_t bytes = json_text_size(row) + 1;
  if (bytes > max_bytes_ - used_) return false;
  used_ += bytes;
  return true;
}

}  // namespace keyhold::sql
