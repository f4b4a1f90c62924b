#include <catch2/catch.hpp>

#include "protocol/pagination.hpp"

using keyhold::mcp::paginate;
using nlohmann::json;

TEST_CASE("paginate walks a list in pages and ends without a cursor") {
  json all = json::array();
  for (int i = 0; i < 7; ++i) all.push_back(i);
  auto first = paginate(all, "tools", std::nullopt, 3);
  REQUIRE(first);
  CHECK(first->items == json({0, 1, 2}));
  REQUIRE(first->next_cursor);
  auto second = paginate(all, "tools", *first->next_cursor, 3);
  REQUIRE(second);
  CHECK(second->items == json({3, 4, 5}));
  auto third = paginate(all, "tools", *second->next_cursor, 3);
  REQUIRE(third);
  CHECK(third->items == json({6}));
  CHECK_FALSE(third->next_cursor);
}

TEST_CASE("paginate refuses malformed, foreign and out-of-range cursors") {
  json all = json::array({1, 2, 3});
  CHECK_FALSE(paginate(all, "tools", "garbage", 2));
  CHECK_FALSE(paginate(all, "tools", "prompts:1", 2));
  CHECK_FALSE(paginate(all, "tools", "tools:99", 2));
  CHECK_FALSE(paginate(all, "tools", "tools:1x", 2));
  CHECK_FALSE(paginate(all, "tools", "tools:", 2));
}

TEST_CASE("paginate of an empty list is one empty page") {
  auto page = paginate(json::array(), "prompts", std::nullopt, 10);
  REQUIRE(page);
  CHECK(page->items.empty());
  CHECK_FALSE(page->next_cursor);
}
