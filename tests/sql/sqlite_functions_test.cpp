// Every SQL function of the linked libsqlite3 has a decision in sqlite_functions.cpp, and
// the ones that reach past the statement are refused.
#include "sqlite_functions.hpp"

#include <sqlite3.h>
#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace keyhold::sql;

namespace {
// Names from `PRAGMA function_list` of a fresh in-memory database of the linked SQLite.
std::set<std::string> linked_sqlite_functions() {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(":memory:", &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT name FROM pragma_function_list", -1, &stmt, nullptr) ==
          SQLITE_OK);
  std::set<std::string> names;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    names.insert(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return names;
}
}  // namespace

TEST_CASE("every function of the linked SQLite has been reviewed") {
  const auto names = linked_sqlite_functions();
  REQUIRE(names.size() > 100);  // the list was really read
  for (const auto& name : names) {
    INFO("SQLite function " << name << " has no decision in connectors/sql/sqlite_functions.cpp");
    CHECK(sqlite_function_reviewed(name));
  }
}

TEST_CASE("functions that reach past the statement are refused with a reason") {
  for (const char* name : {"fts3_tokenizer", "FTS3_TOKENIZER", "load_extension", "rtreenode",
                           "rtreedepth", "rtreecheck", "sqlite_log", "optimize", "fts5"}) {
    INFO(name);
    const auto verdict = sqlite_function_verdict(name);
    CHECK_FALSE(verdict.allowed);
    CHECK_FALSE(verdict.reason.empty());
  }
  CHECK(sqlite_function_verdict("fts3_tokenizer").reason.find("address") != std::string::npos);
}

TEST_CASE("unreviewed function names are refused, ordinary ones are allowed") {
  const auto unknown = sqlite_function_verdict("jsonb_extract");
  CHECK_FALSE(unknown.allowed);
  CHECK(unknown.reason == "it is not in keyhold's reviewed list of SQLite functions");
  CHECK_FALSE(sqlite_function_reviewed("readfile"));  // the sqlite3 shell's, not the library's
  for (const char* name : {"count", "COUNT", "json_extract", "->>", "strftime", "group_concat",
                           "row_number", "snippet"})
    CHECK(sqlite_function_verdict(name).allowed);
}
