// run_history.hpp - the last N runs of one ci instance in a small SQLite file (SQLiteCpp),
// so get_run and get_run_log still answer after the host restarts. A run is written when
// it starts (status running) and again when it ends; runs still "running" when the file
// is opened were cut short by a host stop and are marked error. Thread-safe.
#pragma once

#include "run_log.hpp"

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace SQLite {
class Database;
}

namespace keyhold::ci {

class RunHistory {
 public:
  // Opens (creating folders and the file, mode 0600) path. Throws std::runtime_error with
  // the path and SQLite's reason when it cannot.
  RunHistory(const std::string& path, std::size_t keep);
  ~RunHistory();

  // Inserts or replaces the run (result: the run_suite structuredContent) and its log,
  // then drops all but the newest `keep` runs.
  void save(const nlohmann::json& result, const RunLog* log);
  // The stored result, or nullopt.
  std::optional<nlohmann::json> result(const std::string& run_id);
  // The stored log, or nullopt.
  std::optional<RunLog> log(const std::string& run_id, std::size_t budget_bytes);

 private:
  std::mutex mutex_;
  std::unique_ptr<SQLite::Database> db_;
  std::size_t keep_;
};

}  // namespace keyhold::ci
