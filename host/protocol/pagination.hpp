#pragma once
// Cursor pagination for the MCP list methods. Cursors are opaque to clients; ours name
// the list and an offset, and one that is malformed or names another list is refused.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace keyhold::mcp {

struct Page {
  nlohmann::json items = nlohmann::json::array();
  std::optional<std::string> next_cursor;
};

// Returns the page of `all` (a JSON array) that starts at `cursor` (empty = first page).
// Returns nothing when the cursor is malformed or does not belong to this list.
std::optional<Page> paginate(const nlohmann::json& all, std::string_view list_name,
                             std::optional<std::string_view> cursor, std::size_t page_size);

}  // namespace keyhold::mcp
