#include "result_budget.hpp"

namespace keyhold::sql {

bool ResultBudget::take(const json& row) {
  // The row as it appears inside the result's rows array, plus the separating comma.
  const std::size_t bytes = row.dump(-1, ' ', false, json::error_handler_t::replace).size() + 1;
  if (bytes > max_bytes_ - used_) return false;
  used_ += bytes;
  return true;
}

}  // namespace keyhold::sql
