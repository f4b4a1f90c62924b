// result_budget.hpp - the `max_result_bytes` cap on one call's rows, shared by both
// backends. Pure: tests/sql/result_budget_test.cpp covers it.
//
// A backend asks may_fit() with a row's raw size before converting it (so a 100 MB value
// is never parsed into JSON), then take() with the converted row, which counts the row's
// exact size as JSON. Rows past the budget are not read: the result says it was cut.
#pragma once

#include "sql_backend.hpp"

#include <cstddef>

namespace keyhold::sql {

class ResultBudget {
 public:
  explicit ResultBudget(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // False when a row whose values take `raw_bytes` in the database's own representation
  // cannot fit in what is left (JSON adds at least quotes and separators).
  bool may_fit(std::size_t raw_bytes) const { return raw_bytes <= max_bytes_ - used_; }

  // Counts `row` (its size as JSON text) and returns true when it fits; returns false and
  // counts nothing when it does not (the caller then drops the row and stops).
  bool take(const json& row);

  std::size_t used() const { return used_; }
  std::size_t max_bytes() const { return max_bytes_; }

 private:
  std::size_t max_bytes_;
  std::size_t used_ = 0;
};

// The size of value.dump() (compact, UTF-8 kept, invalid UTF-8 replaced) without building
// the text.
std::size_t json_text_size(const json& value);

// Marks `result` cut by `why` (row_limit or max_result_bytes).
inline void mark_truncated(QueryResult& result, Truncation why) {
  result.truncated = true;
  result.truncated_by = why;
}

}  // namespace keyhold::sql
