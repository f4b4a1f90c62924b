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
