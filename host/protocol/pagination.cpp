#include "protocol/pagination.hpp"

#include <charconv>

namespace keyhold::mcp {

namespace {
// Cursor text: "<list_name>:<offset>". Clients must treat it as opaque; we validate every
// part on the way back in.
std::string encode(std::string_view list_name, std::size_t offset) {
  return std::string(list_name) + ":" + std::to_string(offset);
}

std::optional<std::size_t> decode(std::string_view cursor, std::string_view list_name) {
  if (cursor.size() <= list_name.size() + 1 || cursor.substr(0, list_name.size()) != list_name ||
      cursor[list_name.size()] != ':')
    return std::nullopt;
  std::string_view digits = cursor.substr(list_name.size() + 1);
  std::size_t offset = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), offset);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return offset;
}
}  // namespace

std::optional<Page> paginate(const nlohmann::json& all, std::string_view list_name,
                             std::optional<std::string_view> cursor, std::size_t page_size) {
  std::size_t offset = 0;
  if (cursor) {
    auto decoded = decode(*cursor, list_name);
    if (!decoded || *decoded > all.size()) return std::nullopt;
    offset = *decoded;
  }
  if (page_size == 0) page_size = 1;
  Page page;
  const std::size_t end = std::min(all.size(), offset + page_size);
  for (std::size_t i = offset; i < end; ++i) page.items.push_back(all[i]);
  if (end < all.size()) page.next_cursor = encode(list_name, end);
  return page;
}

}  // namespace keyhold::mcp
