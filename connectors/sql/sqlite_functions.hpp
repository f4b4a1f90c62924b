// sqlite_functions.hpp - which SQLite SQL functions a statement may call, decided once per
// function of Debian's SQLite build (`PRAGMA function_list`). Pure: no database is touched;
// tests/sql/sqlite_functions_test.cpp checks that every function of the linked libsqlite3
// has a decision here.
//
// The SQLite authorizer (sqlite_backend.cpp) asks this for every function a statement
// names, including those reached through a view. A name that is not in the reviewed list is
// refused: a newer SQLite that adds a function gets a decision before a client can call it.
#pragma once

#include <string>
#include <string_view>

namespace keyhold::sql {

struct SqliteFunctionVerdict {
  bool allowed = false;
  // Why the function is refused (empty when allowed); shown to the client.
  std::string_view reason;
};

// The decision for one function name (case-insensitive). Unknown names are refused with a
// reason that says the function has not been reviewed.
SqliteFunctionVerdict sqlite_function_verdict(std::string_view name);

// True when `name` (case-insensitive) has an explicit decision, allowed or refused.
bool sqlite_function_reviewed(std::string_view name);

}  // namespace keyhold::sql
