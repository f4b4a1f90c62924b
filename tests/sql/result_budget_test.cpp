// max_result_bytes: rows are counted by their size as JSON, and the row that does not fit
// is refused whole.
#include "result_budget.hpp"

#include <catch2/catch.hpp>

using keyhold::json;
using namespace keyhold::sql;

TEST_CASE("the result budget counts rows as JSON and refuses the row that does not fit") {
  ResultBudget budget(20);
  const json row = json::parse(R"([1,"ab"])");  // 8 bytes of JSON + 1 separator
  CHECK(budget.may_fit(3));
  CHECK(budget.take(row));
  CHECK(budget.used() == 9);
  CHECK(budget.take(row));
  CHECK(budget.used() == 18);
  CHECK_FALSE(budget.take(row));  // 27 > 20: refused, nothing counted
  CHECK(budget.used() == 18);
  CHECK(budget.may_fit(2));
  CHECK_FALSE(budget.may_fit(3));
}

TEST_CASE("a value larger than the whole budget is refused before conversion") {
  ResultBudget budget(1024);
  CHECK_FALSE(budget.may_fit(100 * 1024 * 1024));
  CHECK(budget.take(json::array({std::string(1000, 'x')})));
  CHECK_FALSE(budget.take(json::array({std::string(100, 'x')})));
}

TEST_CASE("invalid UTF-8 in a value is counted, not thrown") {
  ResultBudget budget(64);
  CHECK(budget.take(json::array({std::string("\xff\xfe")})));
}

TEST_CASE("json_text_size is the size of the compact dump, without building it") {
  const auto dumped = [](const json& v) {
    return v.dump(-1, ' ', false, json::error_handler_t::replace).size();
  };
  const json values =
      json::array({nullptr,
                   true,
                   false,
                   0,
                   7,
                   -7,
                   10,
                   -10,
                   1234567890123LL,
                   -9223372036854775807LL - 1,
                   18446744073709551615ULL,
                   0.5,
                   -1e300,
                   3.0,
                   "",
                   "plain",
                   "quote \" back \\ slash",
                   std::string("ctl \b\f\n\r\t \x01 \x1f \x7f"),
                   "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                   std::string("bad \xff\xfe utf-8 \xc3"),
                   json::array(),
                   json::object(),
                   json::array({1, "a", nullptr, json::array({2.25, json::object()})}),
                   json{{"k\"ey", json::array({1, 2})}, {"", nullptr}, {"\xc3\xa9", "v"}},
                   json::binary({1, 2, 3})});
  for (const json& v : values) {
    INFO(v.dump(-1, ' ', false, json::error_handler_t::replace));
    CHECK(json_text_size(v) == dumped(v));
  }
  CHECK(json_text_size(values) == dumped(values));
}
