// ci: runs a project's test suites, declared by the administrator in the instance options,
// with secrets injected into the test process by the host (the plugin never holds them),
// and reports pass/fail, failures, authentication errors, progress and cancellation.
//
// Tools: list_suites, run_suite, get_run, get_run_log. See README.md.
#include <keyhold/plugin.hpp>
#include <keyhold/sdk/args.hpp>
#include <keyhold/sdk/paths.hpp>
#include <keyhold/sdk/time.hpp>

#include "ci_options.hpp"
#include "run_gate.hpp"
#include "run_history.hpp"
#include "suite_run.hpp"
#include "test_report.hpp"

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <vector>

namespace keyhold::ci {
namespace {

std::vector<kh_secret_decl> make_secret_declarations() {
  std::vector<kh_secret_decl> out;
  for (const auto& alias : declared_secret_aliases())
    out.push_back({alias.c_str(),
                   "a token handed to suites through secret_env (env operation only)",
                   KH_SECRET_OP_ENV});
  return out;
}

const json kCounts = {{"type", "object"},
                      {"properties",
                       {{"passed", {{"type", "integer"}}},
                        {"failed", {{"type", "integer"}}},
                        {"skipped", {{"type", "integer"}}}}},
                      {"required", {"passed", "failed", "skipped"}}};

json run_schema(bool live) {
  json statuses = {"passed", "failed", "error", "timeout", "cancelled"};
  if (live) {
    statuses.push_back("queued");
    statuses.push_back("running");
  }
  json schema = {
      {"type", "object"},
      {"properties",
       {{"run_id", {{"type", "string"}}},
        {"suite", {{"type", "string"}}},
        {"filter", {{"type", "string"}, {"description", "empty when none"}}},
        {"status", {{"type", "string"}, {"enum", statuses}}},
        {"counts", kCounts},
        {"duration", {{"type", "number"}, {"description", "seconds"}}},
        {"failures",
         {{"type", "array"},
          {"description", "failed tests (at most 100; counts.failed counts all)"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"name", {{"type", "string"}}},
              {"message", {{"type", "string"}}},
              {"location", {{"type", "string"}, {"description", "file:line[:column] or empty"}}}}},
            {"required", {"name", "message", "location"}}}}}},
        {"auth_errors",
         {{"type", "array"},
          {"description",
           "authentication problems, separate from test failures: HTTP 401/403 lines in the "
           "output or report (source output/report), the suite's auth-failure exit code "
           "(exit_code), or a secret the host would not inject (secret)"},
          {"items",
           {{"type", "object"},
            {"properties", {{"source", {{"type", "string"}}}, {"message", {{"type", "string"}}}}},
            {"required", {"source", "message"}}}}}},
        {"output_tail", {{"type", "string"}, {"description", "the end of stdout+stderr"}}},
        {"exit_code", {{"type", {"integer", "null"}}}},
        {"signal", {{"type", {"integer", "null"}}}},
        {"started_at", {{"type", "string"}}},
        {"queue_position",
         {{"type", "integer"}, {"description", "0 = started at once; n = waited behind n-1 runs"}}},
        {"log_bytes", {{"type", "integer"}, {"description", "bytes of output in total"}}},
        {"log_truncated",
         {{"type", "boolean"}, {"description", "the middle of the output was not kept"}}},
        {"error", {{"type", "string"}}},
        {"summary", {{"type", "string"}}}}},
      {"required", {"run_id", "suite", "status", "counts", "failures", "auth_errors"}}};
  if (!live) {
    for (const char* k : {"duration", "output_tail"}) schema["required"].push_back(k);
  }
  return schema;
}

std::string new_run_id() {
  static std::mutex mutex;
  static std::mt19937_64 random{std::random_device{}()};
  std::lock_guard lock(mutex);
  const std::string stamp = sdk::iso8601_basic_utc(std::chrono::system_clock::now());
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08llx",
                static_cast<unsigned long long>(random() & 0xffffffffULL));
  return std::string("run-") + stamp + "-" + suffix;
}

std::string history_path_for(const CiOptions& options, std::string_view instance) {
  if (!options.history_path.empty()) return options.history_path;
  const auto base = sdk::keyhold_data_dir();
  if (!base)
    throw std::invalid_argument(
        "option history_path is needed: neither XDG_DATA_HOME nor HOME is set");
  return *base + "/ci/" + std::string(instance) + ".sqlite";
}

json structured_result(json structured, std::string text, bool is_error = false) {
  json r = text_result(text, is_error);
  r["structuredContent"] = std::move(structured);
  return r;
}

const json kRunAnnotations = {{"readOnlyHint", false},
                              {"destructiveHint", false},
                              {"idempotentHint", false},
                              {"openWorldHint", true}};
const json kReadAnnotations = {{"readOnlyHint", true},
                               {"destructiveHint", false},
                               {"idempotentHint", true},
                               {"openWorldHint", false}};

class CiPlugin : public Plugin {
 public:
  CiPlugin(Host host, std::string_view instance, const json& options)
      : Plugin(host),
        instance_(instance),
        options_(parse_options(options)),
        gate_(options_.max_concurrent_runs, static_cast<std::size_t>(options_.max_queued_runs)),
        history_(history_path_for(options_, instance), options_.history) {}

  static std::span<const kh_secret_decl> secret_declarations() {
    static const std::vector<kh_secret_decl> decls = make_secret_declarations();
    return decls;
  }

  json describe() override {
    json names = json::array();
    for (const auto& [name, _] : options_.suites) names.push_back(name);
    json tools = json::array();
    tools.push_back({{"name", "list_suites"},
                     {"title", "List test suites"},
                     {"description",
                      "Lists the test suites the administrator configured: name, description, "
                      "report format, timeout, whether a filter is accepted."},
                     {"inputSchema", {{"type", "object"}, {"properties", json::object()}}},
                     {"annotations", kReadAnnotations}});
    tools.push_back(
        {{"name", "run_suite"},
         {"title", "Run a test suite"},
         {"description",
          "Runs one configured suite and waits for it; reports status "
          "(passed|failed|error|timeout|cancelled), counts, failures with messages and "
          "locations, authentication errors (separately from test failures) and the end of "
          "the output. Sends progress as tests finish; cancel the request to stop the run. "
          "Tokens are injected by the host: never pass one as an argument."},
         {"inputSchema",
          {{"type", "object"},
           {"properties",
            {{"suite", {{"type", "string"}, {"enum", names}}},
             {"filter",
              {{"type", "string"},
               {"description",
                "Only tests matching this (suites with a filter_arg only); letters, digits, "
                "space and _ . : / @ + , = * # - ; not starting with '-'"},
               {"maxLength", 200}}}}},
           {"required", {"suite"}},
           {"additionalProperties", false}}},
         {"outputSchema", run_schema(false)},
         {"annotations", kRunAnnotations}});
    tools.push_back(
        {{"name", "get_run"},
         {"title", "Get a run"},
         {"description",
          "The result of a run by run_id (also of runs before a host restart, the last " +
              std::to_string(options_.history) +
              " are kept), or its state while queued or running."},
         {"inputSchema",
          {{"type", "object"},
           {"properties", {{"run_id", {{"type", "string"}}}}},
           {"required", {"run_id"}},
           {"additionalProperties", false}}},
         {"outputSchema", run_schema(true)},
         {"annotations", kReadAnnotations}});
    tools.push_back(
        {{"name", "get_run_log"},
         {"title", "Read a run's output"},
         {"description",
          "The redacted stdout+stderr of a run, from offset (bytes), at most limit bytes "
          "(default 65536). The first " +
              std::to_string(options_.log_bytes / 2) + " bytes and at least the last " +
              std::to_string(options_.log_bytes / 2) +
              " are kept; `dropped` says which middle part was not."},
         {"inputSchema",
          {{"type", "object"},
           {"properties",
            {{"run_id", {{"type", "string"}}},
             {"offset", {{"type", "integer"}, {"minimum", 0}}},
             {"limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1048576}}}}},
           {"required", {"run_id"}},
           {"additionalProperties", false}}},
         {"outputSchema",
          {{"type", "object"},
           {"properties",
            {{"run_id", {{"type", "string"}}},
             {"offset", {{"type", "integer"}}},
             {"next_offset", {{"type", "integer"}}},
             {"total_bytes", {{"type", "integer"}}},
             {"complete", {{"type", "boolean"}, {"description", "the run has ended"}}},
             {"dropped",
              {{"type", "object"},
               {"properties", {{"from", {{"type", "integer"}}}, {"to", {{"type", "integer"}}}}}}},
             {"text", {{"type", "string"}}}}},
           {"required", {"run_id", "offset", "next_offset", "total_bytes", "complete", "text"}}}},
         {"annotations", kReadAnnotations}});
    return {{"tools", tools},
            {"resources", json::array()},
            {"resourceTemplates", json::array()},
            {"prompts", json::array()}};
  }

  json call_tool(Context& ctx, std::string_view name, const json& args) override {
    if (name == "list_suites") return list_suites();
    if (name == "run_suite") return run_suite(ctx, args);
    if (name == "get_run") return get_run(args);
    if (name == "get_run_log") return get_run_log(args);
    throw InvalidArgument("unknown tool: " + std::string(name));
  }

 private:
  json list_suites() const {
    json suites = json::array();
    std::string text;
    for (const auto& [name, s] : options_.suites) {
      json secret_vars = json::array();
      for (const auto& [var, _] : s.secret_env) secret_vars.push_back(var);
      suites.push_back({{"name", name},
                        {"description", s.description},
                        {"format", std::string(format_name(s.format))},
                        {"timeout", s.timeout.count() / 1000.0},
                        {"filter", !s.filter_arg.empty()},
                        {"argv", s.argv},
                        {"cwd", s.cwd},
                        {"secret_env", secret_vars}});
      text += name + " (" + std::string(format_name(s.format)) +
              (s.filter_arg.empty() ? "" : ", filter") + ")" +
              (s.description.empty() ? "" : ": " + s.description) + "\n";
    }
    return structured_result({{"suites", suites}}, text);
  }

  json run_suite(Context& ctx, const json& args) {
    const std::string suite_name = sdk::string_arg(args, "suite", true);
    const auto it = options_.suites.find(suite_name);
    if (it == options_.suites.end()) {
      std::string names;
      for (const auto& [n, _] : options_.suites) names += (names.empty() ? "" : ", ") + n;
      return text_result("unknown suite \"" + valid_utf8(suite_name) + "\"; configured: " + names,
                         true);
    }
    const Suite& suite = it->second;
    const std::string filter = sdk::string_arg(args, "filter", false);
    if (!filter.empty()) {
      if (suite.filter_arg.empty())
        return text_result(
            "suite " + suite.name + " takes no filter (the administrator set no filter_arg)", true);
      if (const std::string problem = filter_problem(filter); !problem.empty())
        return text_result("filter refused: " + valid_utf8(problem), true);
    }

    const std::string run_id = new_run_id();
    auto live = std::make_shared<LiveRun>(options_.log_bytes);
    live->state = {{"run_id", run_id},
                   {"suite", suite.name},
                   {"filter", filter},
                   {"status", "queued"},
                   {"counts", {{"passed", 0}, {"failed", 0}, {"skipped", 0}}},
                   {"failures", json::array()},
                   {"auth_errors", json::array()},
                   {"queue_position", 0}};
    {
      std::lock_guard lock(live_mutex_);
      live_runs_[run_id] = live;
    }
    struct Forget {
      CiPlugin* self;
      std::string id;
      ~Forget() {
        std::lock_guard lock(self->live_mutex_);
        self->live_runs_.erase(id);
      }
    } forget{this, run_id};

    double queue_progress = 0;
    std::size_t first_position = 0;
    const Admission admission = gate_.enter(
        [&](std::size_t position) {
          {
            std::lock_guard lock(live->mutex);
            live->state["queue_position"] = position;
          }
          queue_progress += 0.001;
          const std::string message = "run " + run_id + " of suite " + suite.name +
                                      " is queued at position " + std::to_string(position);
          ctx.progress(queue_progress, -1, message);
          ctx.log(KH_LOG_NOTICE, "ci: " + message);
        },
        [&] { return ctx.cancelled(); }, &first_position);
    if (admission == Admission::kQueueFull)
      return text_result("suite " + suite.name +
                             " not started: " + std::to_string(options_.max_concurrent_runs) +
                             " run(s) going and " + std::to_string(options_.max_queued_runs) +
                             " queued (max_queued_runs); try again when one has finished",
                         true);
    json result;
    if (admission == Admission::kStopped) {
      std::lock_guard lock(live->mutex);
      result = live->state;
      result["status"] = "cancelled";
      result["duration"] = 0.0;
      result["output_tail"] = "";
      result["error"] = "cancelled while queued";
    } else {
      struct Leave {
        RunGate& gate;
        ~Leave() { gate.leave(); }
      } leave{gate_};
      json started;
      {
        std::lock_guard lock(live->mutex);
        live->state["queue_position"] = first_position;
        started = live->state;
      }
      started["status"] = "running";
      try {
        history_.save(started, nullptr);  // a host stop mid-run leaves a row to mark as error
      } catch (const std::exception& e) {
        host().log(KH_LOG_ERROR, std::string("ci: cannot save run ") + run_id + ": " + e.what());
      }
      result = run_suite_process(ctx, suite, filter, options_, *live);
    }
    result["queue_position"] = first_position;
    try {
      history_.save(result, &live->log);
    } catch (const std::exception& e) {
      host().log(KH_LOG_ERROR, std::string("ci: cannot save run ") + run_id + ": " + e.what());
    }
    if (ctx.cancelled()) throw Cancelled();
    std::string text = result.value("summary", std::string());
    if (!result.value("output_tail", std::string()).empty())
      text += "\n--- output tail ---\n" + result["output_tail"].get<std::string>();
    return structured_result(std::move(result), std::move(text));
  }

  json find_run(const std::string& run_id, std::shared_ptr<LiveRun>* live_out) {
    {
      std::lock_guard lock(live_mutex_);
      if (auto it = live_runs_.find(run_id); it != live_runs_.end()) {
        *live_out = it->second;
        std::lock_guard run_lock(it->second->mutex);
        return it->second->state;
      }
    }
    if (auto stored = history_.result(run_id)) return *stored;
    return nullptr;
  }

  json get_run(const json& args) {
    const std::string run_id = sdk::string_arg(args, "run_id", true);
    std::shared_ptr<LiveRun> live;
    json run = find_run(run_id, &live);
    if (run.is_null())
      return text_result("no run " + valid_utf8(run_id) + " (the last " +
                             std::to_string(options_.history) + " runs are kept)",
                         true);
    std::string text = run.value("summary", "run " + run_id + ": " + run.value("status", ""));
    return structured_result(std::move(run), std::move(text));
  }

  json get_run_log(const json& args) {
    const std::string run_id = sdk::string_arg(args, "run_id", true);
    const std::uint64_t offset = args.value("offset", std::uint64_t{0});
    const std::size_t limit = args.value("limit", std::size_t{65536});
    std::shared_ptr<LiveRun> live;
    {
      std::lock_guard lock(live_mutex_);
      if (auto it = live_runs_.find(run_id); it != live_runs_.end()) live = it->second;
    }
    LogSlice slice;
    bool complete = true;
    if (live) {
      std::lock_guard lock(live->mutex);
      slice = live->log.read(offset, limit);
      complete = false;
    } else if (auto stored = history_.log(run_id, options_.log_bytes)) {
      slice = stored->read(offset, limit);
    } else {
      return text_result("no run " + valid_utf8(run_id) + " (the last " +
                             std::to_string(options_.history) + " runs are kept)",
                         true);
    }
    json s = {{"run_id", run_id},
              {"offset", slice.offset},
              {"next_offset", slice.next_offset},
              {"total_bytes", slice.total_bytes},
              {"complete", complete},
              {"text", slice.text}};
    std::string text = slice.text;
    if (slice.dropped_to > slice.dropped_from) {
      s["dropped"] = {{"from", slice.dropped_from}, {"to", slice.dropped_to}};
      text = "[bytes " + std::to_string(slice.dropped_from) + " to " +
             std::to_string(slice.dropped_to) + " were not kept]\n" + text;
    }
    return structured_result(std::move(s), std::move(text));
  }

  std::string instance_;
  CiOptions options_;
  RunGate gate_;
  RunHistory history_;
  std::mutex live_mutex_;
  std::map<std::string, std::shared_ptr<LiveRun>> live_runs_;
};

}  // namespace
}  // namespace keyhold::ci

KEYHOLD_PLUGIN(keyhold::ci::CiPlugin, "ci", "1.0.0",
               "Runs configured test suites with injected tokens: pass/fail, failures, "
               "authentication errors, progress, cancellation")
