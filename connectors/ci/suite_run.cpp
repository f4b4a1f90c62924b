#include "suite_run.hpp"

#include "test_report.hpp"

#include <keyhold/sdk/process_drain.hpp>
#include <keyhold/sdk/time.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <thread>

namespace keyhold::ci {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kPollMs = 25;                       // longest wait inside one read
constexpr std::size_t kMaxLineBytes = 64 * 1024;  // longer lines are cut for parsing
constexpr std::size_t kMaxAuthErrors = 20;
constexpr std::size_t kMaxReportBytes = 64 * 1024 * 1024;  // a JUnit report larger is refused
constexpr auto kProgressInterval = std::chrono::milliseconds(100);
constexpr auto kStragglerWait = std::chrono::seconds(5);  // after SIGKILL, for pipes to close
constexpr auto kReportReadMin = std::chrono::seconds(5);  // to read the JUnit report

enum class Ending { kNone, kCancelled, kTimeout };

// Follows the output of the run: log, lines, test readers, auth lines, progress.
class OutputFollower {
 public:
  OutputFollower(Context& ctx, const Suite& suite, LiveRun& live, std::string run_id)
      : ctx_(ctx), live_(live), prefix_(std::move(run_id) + ": ") {
    if (suite.format == ReportFormat::kTap) reader_ = std::make_unique<TapReader>();
    if (suite.format == ReportFormat::kCtest) reader_ = std::make_unique<CtestReader>();
  }

  void consume(int stream, std::string_view chunk) {
    {
      std::lock_guard lock(live_.mutex);
      live_.log.append(chunk);
    }
    std::string& partial = partial_[stream];
    std::size_t start = 0;
    for (;;) {
      const std::size_t nl = chunk.find('\n', start);
      if (nl == std::string_view::npos) break;
      if (partial.empty()) {
        line(stream, chunk.substr(start, nl - start));
      } else {
        partial.append(chunk.substr(start, nl - start));
        line(stream, partial);
        partial.clear();
      }
      start = nl + 1;
    }
    partial.append(chunk.substr(start));
    if (partial.size() > kMaxLineBytes) {
      line(stream, partial);
      partial.clear();
    }
    report_progress(false);
  }

  void finish() {
    for (int stream : {1, 2})
      if (!partial_[stream].empty()) {
        line(stream, partial_[stream]);
        partial_[stream].clear();
      }
    if (reader_) reader_->finish();
  }

  void report_progress(bool force) {
    const auto now = Clock::now();
    if (!force && now - last_progress_ < kProgressInterval) return;
    if (reader_) {
      const TestOutcome& o = reader_->outcome();
      const long done = o.passed + o.failed + o.skipped;
      if (done == reported_) return;
      reported_ = done;
      last_progress_ = now;
      ctx_.progress(static_cast<double>(done), static_cast<double>(reader_->total()),
                    prefix_ + std::to_string(o.passed) + " passed, " + std::to_string(o.failed) +
                        " failed, " + std::to_string(o.skipped) +
                        " skipped; last: " + valid_utf8(reader_->last_test().substr(0, 200)));
      std::lock_guard lock(live_.mutex);
      live_.state["counts"] = {{"passed", o.passed}, {"failed", o.failed}, {"skipped", o.skipped}};
    } else {
      if (lines_ == reported_) return;
      reported_ = lines_;
      last_progress_ = now;
      ctx_.progress(static_cast<double>(lines_), -1,
                    prefix_ + std::to_string(lines_) + " lines of output");
    }
  }

  void add_auth_error(json entry) {
    if (auth_errors_.size() >= kMaxAuthErrors) return;
    const std::string key = entry.value("message", "");
    if (!auth_seen_.insert(key).second) return;
    auth_errors_.push_back(std::move(entry));
  }

  LineReader* reader() { return reader_.get(); }
  json& auth_errors() { return auth_errors_; }

 private:
  void line(int stream, std::string_view text) {
    ++lines_;
    if (stream == 1 && reader_) reader_->feed(text);
    if (auto auth = auth_failure_line(text))
      add_auth_error({{"source", "output"},
                      {"stream", stream == 1 ? "stdout" : "stderr"},
                      {"message", valid_utf8(*auth)}});
  }

  Context& ctx_;
  LiveRun& live_;
  std::unique_ptr<LineReader> reader_;
  std::string partial_[3];
  long lines_ = 0;
  long reported_ = 0;
  std::string prefix_;
  Clock::time_point last_progress_{};
  json auth_errors_ = json::array();
  std::set<std::string> auth_seen_;
};

// Reads a file through the host (`cat` as a child process), so its bytes pass the
// redactor before the plugin sees them. The read ends (and the child is killed) when the
// client cancels or at deadline (a FIFO or a stalled file system at the path would block
// `cat` for ever): nullopt and *ending says which.
std::optional<std::string> read_through_host(Context& ctx, const std::string& path,
                                             const std::string& cwd, Clock::time_point deadline,
                                             std::string* error, Ending* ending) {
  *ending = Ending::kNone;
  std::uint64_t process = 0;
  std::string spawn_error;
  const json spec = {{"argv", {"cat", "--", path}}, {"cwd", cwd}};
  if (ctx.spawn_process(spec, &process, &spawn_error) != KH_OK) {
    *error = "cannot read the report " + path + ": " + spawn_error;
    return std::nullopt;
  }
  auto stop_reason = [&]() -> Ending {
    if (ctx.cancelled()) return Ending::kCancelled;
    if (Clock::now() >= deadline) return Ending::kTimeout;
    return Ending::kNone;
  };
  std::string text;
  std::string err_text;
  bool too_large = false;
  const sdk::DrainOutcome outcome = sdk::drain_process(
      ctx.host(), process,
      [&](int stream, std::string_view chunk) {
        (stream == 1 ? text : err_text).append(chunk);
        too_large = too_large || text.size() > kMaxReportBytes;
        return !too_large;
      },
      [&]() -> std::optional<std::chrono::milliseconds> {
        if ((*ending = stop_reason()) == Ending::kNone) return std::nullopt;
        return std::chrono::milliseconds(0);  // a cat has nothing to finish: SIGKILL
      },
      {kPollMs, kStragglerWait});
  if (too_large) {
    *error = "the report " + path + " is larger than 64 MiB";
    return std::nullopt;
  }
  if (outcome.stopped) {
    *error = "reading the JUnit report " + path +
             (*ending == Ending::kCancelled ? " was cancelled" : " did not finish in time");
    return std::nullopt;
  }
  const int32_t status = outcome.status;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!err_text.empty() && (err_text.back() == '\n')) err_text.pop_back();
    *error = "cannot read the report " + path + ": " + valid_utf8(err_text);
    return std::nullopt;
  }
  return text;
}

// "2 s", "1.5 s", "0.123 s".
std::string seconds_text(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", seconds);
  std::string s = buffer;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s + " s";
}

std::string summary_text(const json& r) {
  const json& c = r["counts"];
  std::string text =
      "suite " + r["suite"].get<std::string>() + ": " + r["status"].get<std::string>() + " (" +
      std::to_string(c["passed"].get<long>()) + " passed, " +
      std::to_string(c["failed"].get<long>()) + " failed, " +
      std::to_string(c["skipped"].get<long>()) + " skipped) in " +
      seconds_text(r["duration"].get<double>()) + ", run " + r["run_id"].get<std::string>();
  if (r.contains("error")) text += "\nerror: " + r["error"].get<std::string>();
  for (const auto& a : r["auth_errors"])
    text += "\nAUTHENTICATION ERROR (" + a["source"].get<std::string>() +
            "): " + a["message"].get<std::string>();
  for (const auto& f : r["failures"]) {
    text += "\nFAILED " + f["name"].get<std::string>();
    if (!f["location"].get<std::string>().empty())
      text += " (" + f["location"].get<std::string>() + ")";
    text += ": " + f["message"].get<std::string>();
  }
  return text;
}

}  // namespace

json run_suite_process(Context& ctx, const Suite& suite, const std::string& filter,
                       const CiOptions& options, LiveRun& live) {
  const auto started = Clock::now();
  json result;
  {
    std::lock_guard lock(live.mutex);
    live.state["status"] = "running";
    live.state["started_at"] = sdk::iso8601_utc(std::chrono::system_clock::now());
    result = live.state;
  }
  result["counts"] = {{"passed", 0}, {"failed", 0}, {"skipped", 0}};
  result["failures"] = json::array();
  result["exit_code"] = nullptr;
  result["signal"] = nullptr;
  OutputFollower follower(ctx, suite, live, result["run_id"].get<std::string>());

  auto finish = [&](const std::string& status) {
    result["status"] = status;
    result["duration"] = std::chrono::duration<double>(Clock::now() - started).count();
    result["auth_errors"] = follower.auth_errors();
    {
      std::lock_guard lock(live.mutex);
      result["output_tail"] = live.log.tail_text(options.tail_bytes);
      result["log_bytes"] = live.log.total_bytes();
      result["log_truncated"] = live.log.truncated();
    }
    result["summary"] = summary_text(result);
    return result;
  };

  std::vector<std::string> argv = suite.argv;
  if (!filter.empty()) {
    argv.push_back(suite.filter_arg);
    argv.push_back(filter);
  }
  std::filesystem::path report;
  std::optional<std::filesystem::file_time_type> report_before;
  if (suite.format == ReportFormat::kJunit) {
    report = std::filesystem::path(suite.cwd) / suite.report_path;
    std::error_code ec;
    const auto t = std::filesystem::last_write_time(report, ec);
    if (!ec) report_before = t;
  }

  json spec = {{"argv", argv}, {"cwd", suite.cwd}, {"env", suite.env}};
  if (!suite.secret_env.empty()) spec["secret_env"] = suite.secret_env;
  std::uint64_t process = 0;
  std::string spawn_error;
  const int32_t spawned = ctx.spawn_process(spec, &process, &spawn_error);
  if (spawned != KH_OK) {
    result["error"] = "the suite did not start: " + valid_utf8(spawn_error);
    if (spawned == KH_NOT_GRANTED)
      follower.add_auth_error(
          {{"source", "secret"},
           {"message", valid_utf8(spawn_error) +
                           " (the administrator grants it with `keyhold vault grant <instance> "
                           "<secret> --ops env` and lists the suite's command in the alias's "
                           "env_commands)"}});
    return finish("error");
  }

  const auto deadline = started + suite.timeout;
  Ending ending = Ending::kNone;
  const sdk::DrainOutcome drained = sdk::drain_process(
      ctx.host(), process,
      [&](int stream, std::string_view chunk) {
        follower.consume(stream, chunk);
        return true;
      },
      [&]() -> std::optional<std::chrono::milliseconds> {
        if (ctx.cancelled())
          ending = Ending::kCancelled;
        else if (Clock::now() >= deadline)
          ending = Ending::kTimeout;
        else
          return std::nullopt;
        ctx.log(KH_LOG_NOTICE, std::string("ci: ") +
                                   (ending == Ending::kCancelled ? "cancelled" : "timed out") +
                                   ", stopping the process group of suite " + suite.name +
                                   " (SIGTERM, SIGKILL after kill_grace)");
        return options.kill_grace;
      },
      {kPollMs, kStragglerWait});
  const int32_t status = drained.status;
  follower.finish();
  follower.report_progress(true);
  if (WIFEXITED(status)) result["exit_code"] = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result["signal"] = WTERMSIG(status);

  auto set_counts = [&](const TestOutcome& o) {
    result["counts"] = {{"passed", o.passed}, {"failed", o.failed}, {"skipped", o.skipped}};
    json failures = json::array();
    const std::string cwd_prefix = suite.cwd.ends_with('/') ? suite.cwd : suite.cwd + "/";
    for (const auto& f : o.failures) {
      std::string location = f.location;
      if (location.starts_with("file://")) location.erase(0, 7);
      if (location.starts_with(cwd_prefix)) location.erase(0, cwd_prefix.size());
      failures.push_back({{"name", valid_utf8(f.name)},
                          {"message", valid_utf8(f.message)},
                          {"location", valid_utf8(location)}});
    }
    result["failures"] = std::move(failures);
  };
  if (follower.reader()) set_counts(follower.reader()->outcome());

  if (ending == Ending::kCancelled) return finish("cancelled");
  if (ending == Ending::kTimeout) {
    result["error"] = "the suite ran longer than its timeout of " +
                      seconds_text(static_cast<double>(suite.timeout.count()) / 1000.0);
    return finish("timeout");
  }
  const bool exited = WIFEXITED(status);
  const int exit_code = exited ? WEXITSTATUS(status) : -1;
  const std::string how = exited ? "exited with status " + std::to_string(exit_code)
                                 : "was killed by signal " + std::to_string(WTERMSIG(status));
  if (suite.auth_failure_exit_code && exited && exit_code == *suite.auth_failure_exit_code) {
    follower.add_auth_error({{"source", "exit_code"},
                             {"message", "the suite exited with " + std::to_string(exit_code) +
                                             ", its configured authentication-failure exit code"}});
    result["error"] = "authentication failed (exit code " + std::to_string(exit_code) + ")";
    return finish("error");
  }

  TestOutcome outcome;
  if (suite.format == ReportFormat::kJunit) {
    std::error_code ec;
    const auto t = std::filesystem::last_write_time(report, ec);
    if (ec) {
      result["error"] = "the suite " + how + " and wrote no JUnit report at " + report.string();
      return finish("error");
    }
    if (report_before && t == *report_before) {
      result["error"] = "the suite " + how + " and did not rewrite the JUnit report " +
                        report.string() + " (it is from an earlier run)";
      return finish("error");
    }
    std::string error;
    Ending read_ending = Ending::kNone;
    // The suite's own deadline, but at least kReportReadMin to read a report it wrote
    // just before its time ran out.
    const auto read_deadline = std::max(deadline, Clock::now() + kReportReadMin);
    const auto xml =
        read_through_host(ctx, report.string(), suite.cwd, read_deadline, &error, &read_ending);
    if (read_ending == Ending::kCancelled) return finish("cancelled");
    if (read_ending == Ending::kTimeout) {
      result["error"] = "the suite " + how + ", but " + valid_utf8(error) +
                        " (the suite's timeout is " +
                        seconds_text(static_cast<double>(suite.timeout.count()) / 1000.0) + ")";
      return finish("timeout");
    }
    std::optional<TestOutcome> parsed;
    if (xml) parsed = parse_junit(*xml, suite.cwd, &error);
    if (!parsed) {
      result["error"] = valid_utf8(error);
      return finish("error");
    }
    outcome = std::move(*parsed);
    set_counts(outcome);
    for (const auto& f : outcome.failures)
      if (auto auth = auth_failure_line(f.message))
        follower.add_auth_error(
            {{"source", "report"}, {"test", valid_utf8(f.name)}, {"message", valid_utf8(*auth)}});
  } else if (follower.reader()) {
    outcome = follower.reader()->outcome();
  } else {
    // exit-code: the whole suite is one test.
    if (exited && exit_code == 0) {
      outcome.passed = 1;
    } else {
      outcome.failed = 1;
      outcome.failures.push_back({suite.name, "the suite " + how, ""});
    }
    set_counts(outcome);
  }
  const long tests = outcome.passed + outcome.failed + outcome.skipped;
  if (outcome.failed > 0) return finish("failed");
  if (!exited || exit_code != 0) {
    result["error"] = tests == 0 ? "the suite " + how + " before reporting any test"
                                 : "every reported test passed, but the suite " + how;
    return finish("error");
  }
  return finish("passed");
}

}  // namespace keyhold::ci
