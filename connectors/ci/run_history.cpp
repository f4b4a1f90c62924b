#include "run_history.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/stat.h>

#include <filesystem>
#include <stdexcept>

namespace keyhold::ci {

RunHistory::RunHistory(const std::string& path, std::size_t keep) : keep_(keep) {
  try {
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    const mode_t old_mask = ::umask(077);
    try {
      db_ = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    } catch (...) {
      ::umask(old_mask);
      throw;
    }
    ::umask(old_mask);
    db_->setBusyTimeout(5000);
    // Two writes per run: WAL with synchronous=NORMAL skips the fsync of each commit (a
    // host crash loses nothing; a power cut may lose the last runs, which is acceptable
    // for a run history and keeps fsync latency out of every run).
    db_->exec("PRAGMA journal_mode = WAL");
    db_->exec("PRAGMA synchronous = NORMAL");
    db_->exec(
        "CREATE TABLE IF NOT EXISTS runs ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " run_id TEXT NOT NULL UNIQUE,"
        " status TEXT NOT NULL,"
        " result TEXT NOT NULL,"
        " log_head BLOB NOT NULL DEFAULT x'',"
        " log_tail BLOB NOT NULL DEFAULT x'',"
        " log_total INTEGER NOT NULL DEFAULT 0)");
    // Runs the previous host left running never finished.
    SQLite::Statement open_runs(
        *db_, "SELECT run_id, result FROM runs WHERE status IN ('running', 'queued')");
    std::vector<std::pair<std::string, std::string>> interrupted;
    while (open_runs.executeStep())
      interrupted.emplace_back(open_runs.getColumn(0).getString(),
                               open_runs.getColumn(1).getString());
    for (const auto& [run_id, text] : interrupted) {
      auto result = nlohmann::json::parse(text, nullptr, false);
      if (!result.is_object()) result = nlohmann::json::object();
      result["status"] = "error";
      result["error"] = "the host stopped before the run finished";
      SQLite::Statement update(*db_,
                               "UPDATE runs SET status = 'error', result = ? WHERE run_id = ?");
      update.bind(1, result.dump());
      update.bind(2, run_id);
      update.exec();
    }
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("ci: cannot open the run history " + path + ": " + e.what() +
                             " (set the option history_path to a writable file)");
  } catch (const std::filesystem::filesystem_error& e) {
    throw std::runtime_error("ci: cannot create the folder of the run history " + path + ": " +
                             e.what());
  }
}

RunHistory::~RunHistory() = default;

void RunHistory::save(const nlohmann::json& result, const RunLog* log) {
  std::lock_guard lock(mutex_);
  SQLite::Transaction transaction(*db_);
  SQLite::Statement insert(
      *db_,
      "INSERT INTO runs (run_id, status, result, log_head, log_tail, log_total)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(run_id) DO UPDATE SET"
      " status = ?2, result = ?3, log_head = ?4, log_tail = ?5, log_total = ?6");
  insert.bind(1, result.at("run_id").get<std::string>());
  insert.bind(2, result.at("status").get<std::string>());
  insert.bind(3, result.dump());
  const std::string tail = log ? log->tail() : std::string();
  if (log) {
    insert.bind(4, log->head().data(), static_cast<int>(log->head().size()));
    insert.bind(5, tail.data(), static_cast<int>(tail.size()));
    insert.bind(6, static_cast<int64_t>(log->total_bytes()));
  } else {
    insert.bind(4, "", 0);
    insert.bind(5, "", 0);
    insert.bind(6, static_cast<int64_t>(0));
  }
  insert.exec();
  SQLite::Statement prune(*db_,
                          "DELETE FROM runs WHERE seq NOT IN"
                          " (SELECT seq FROM runs ORDER BY seq DESC LIMIT ?)");
  prune.bind(1, static_cast<int64_t>(keep_));
  prune.exec();
  transaction.commit();
}

std::optional<nlohmann::json> RunHistory::result(const std::string& run_id) {
  std::lock_guard lock(mutex_);
  SQLite::Statement q(*db_, "SELECT result FROM runs WHERE run_id = ?");
  q.bind(1, run_id);
  if (!q.executeStep()) return std::nullopt;
  auto parsed = nlohmann::json::parse(q.getColumn(0).getString(), nullptr, false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

std::optional<RunLog> RunHistory::log(const std::string& run_id, std::size_t budget_bytes) {
  std::lock_guard lock(mutex_);
  SQLite::Statement q(*db_, "SELECT log_head, log_tail, log_total FROM runs WHERE run_id = ?");
  q.bind(1, run_id);
  if (!q.executeStep()) return std::nullopt;
  const SQLite::Column head = q.getColumn(0);
  const SQLite::Column tail = q.getColumn(1);
  return RunLog(budget_bytes,
                std::string(static_cast<const char*>(head.getBlob()),
                            static_cast<std::size_t>(head.getBytes())),
                std::string(static_cast<const char*>(tail.getBlob()),
                            static_cast<std::size_t>(tail.getBytes())),
                static_cast<std::uint64_t>(q.getColumn(2).getInt64()));
}

}  // namespace keyhold::ci
