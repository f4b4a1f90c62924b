#pragma once
// A plugin instance in its own sandboxed process (keyhold-runner), behind the same C ABI.
//
// The host never loads the plugin's library: the runner applies the sandbox, loads it and
// reports its definition. Calls travel as frames over a socketpair, concurrent calls
// multiplexed by id; every service the plugin asks for comes back as a frame and is
// answered through the host's own kh_host_api with this instance's kh_host, so the host
// identifies a caller by its channel, never by a pointer the caller passes.
//
// A runner that crashes, is killed (OOM, limits) or breaks the protocol ends only
// itself: its calls in flight get an error, and the next call restarts it with backoff
// (immediately, then 1 s, 2 s, ... up to 30 s; after RestartBudget::kMaxRestarts within 10 minutes
// the instance is marked failed). A call that outlives call_timeout, or ignores its cancellation
// for cancel_grace, ends the runner. Destroying the backend ends the runner and everything it
// started (its process group, and its pids cgroup where the host can make one: then a
// child that left the group with setsid() ends too, and the task cap binds even for root).
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "loader/plugin_backend.hpp"
#include "loader/restart_budget.hpp"
#include "loader/runner_channel.hpp"
#include "sandbox/task_group.hpp"

namespace keyhold {

struct RunnerOptions {
  std::filesystem::path runner_path;  // keyhold-runner
  std::filesystem::path plugin_path;
  // The sandbox policy handed to the runner (read, write, network, ports, memory, ...);
  // see runner_main.cpp. "sandbox": false runs the runner unconfined (tests only).
  nlohmann::json policy = nlohmann::json::object();
  std::chrono::milliseconds call_timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds cancel_grace{std::chrono::seconds(5)};
  std::chrono::milliseconds start_timeout{std::chrono::seconds(20)};
  // Tasks (processes and threads) the runner and its children may have at once, enforced
  // by the instance's pids cgroup where the host can make one (sandbox/task_group.hpp);
  // 0: no cap, the group only kills. false: no cgroup at all (tests).
  std::uint64_t max_tasks = 64;
  bool task_group = true;
};

class RunnerBackend final : public PluginBackend {
 public:
  // Host threads one runner may keep busy with service requests at once.
  static constexpr int kMaxServiceThreads = 64;

  // Starts the runner and waits for the plugin's definition. An error with a one-line
  // cause (the runner's own message when the sandbox or the load failed).
  static Result<std::unique_ptr<RunnerBackend>> start(std::string instance, RunnerOptions options);
  ~RunnerBackend() override;

  const kh_plugin& definition() const override { return definition_; }
  std::string_view isolation() const override { return "process"; }
  std::vector<std::string> sandbox_applied() const override;
  std::vector<std::string> sandbox_missing() const override;
  int32_t create(kh_host* host, std::string_view name, std::string_view options_json,
                 std::string* message) override;
  int32_t describe(std::string* body) override;
  int32_t call(CallContext& ctx, std::string_view method, std::string_view params_json,
               std::string* body) override;
  // While the runner is up: the call is sent from this thread and finished by whoever reads
  // its reply (the reader thread mostly), which also keeps its call_timeout and cancellation.
  bool call_async(const std::shared_ptr<CallContext>& ctx, std::string_view method,
                  const nlohmann::json& params, CallDone& done) override;
  void destroy() override;

  // The runner's process id (0 when none runs), for tests and `plugins list`.
  pid_t pid() const;
  // Why the instance is failed for good, or empty.
  std::string failure() const;

 private:
  struct Process;
  struct Pending {
    std::uint64_t generation = 0;
    CallContext* ctx = nullptr;  // null for create/describe/destroy
    bool done = false;
    std::int32_t status = KH_ERROR;
    std::string body;
    int users = 0;  // service handlers using ctx right now
    // Signalled when done or users changes: each caller waits on its own (a reply wakes
    // only its caller, not every call in flight).
    std::condition_variable ready;
    // A call_async() call: nobody waits on `ready`; `finish` gets the reply once done and
    // no service handler uses ctx. It keeps ctx and the runner's Process alive.
    CallDone finish;
    std::shared_ptr<CallContext> owner;
    std::shared_ptr<Process> process;
    std::chrono::steady_clock::time_point started{}, cancel_deadline{};
    bool cancel_sent = false;
  };
  RunnerBackend(std::string instance, RunnerOptions options);
  // Spawns a runner and completes the handshake; the caller holds no lock.
  Status spawn();
  // Restarts a dead runner when the backoff allows; an error otherwise.
  Status ensure_running();
  // Sends a request and waits for its reply (or the runner's end).
  std::int32_t request(runner::Message message, CallContext* ctx, std::string* body);
  // Reads and handles one frame when one arrives within timeout (-1: no limit); at the
  // channel's end the process is ended. With `spin`, it first polls without sleeping for up
  // to that long. The caller holds the turn.
  void read_frame(const std::shared_ptr<Process>& process, std::chrono::milliseconds timeout,
                  std::chrono::microseconds spin = {});
  // read_frame(), then every whole frame that read buffered; lock (mutex_) held on entry
  // and return, released while reading. The caller holds the turn. What the calls it
  // finishes send to the client leaves when it returns, together (base/output_hold.hpp).
  void read_frames(const std::shared_ptr<Process>& process, std::chrono::milliseconds timeout,
                   std::unique_lock<std::mutex>& lock, std::chrono::microseconds spin = {});
  // The reader thread: holds the turn while no call is in flight.
  void read_between_calls(std::shared_ptr<Process> process);
  // Gives up the turn to a waiting caller (not `self`) or the reader thread; mutex_ held.
  void pass_turn(Process& process, std::uint64_t self);
  void handle_service(std::shared_ptr<Process> process, runner::Message message);
  // Why a request (`what`: "a call", "create", ...) must end its runner `now`, or empty: it
  // ignored its cancellation past cancel_grace, or ran past call_timeout.
  std::string overdue(const char* what, std::chrono::steady_clock::time_point started,
                      bool cancel_sent, std::chrono::steady_clock::time_point cancel_deadline,
                      std::chrono::steady_clock::time_point now) const;
  // mutex_ held: moves the async call `id` to *out when it is done and unused.
  void take_finished(std::uint64_t id, std::vector<FinishedCall>* out);
  // The async calls' call_timeout and cancellation, checked by whoever holds the turn.
  void check_async_limits(const std::shared_ptr<Process>& process);
  // A service handler is done with the call `id`'s ctx; finishes it if it is waiting.
  void release_user(std::uint64_t id);
  // How long one frame to the runner may take to leave: call_timeout within [1 s, 30 s].
  std::chrono::milliseconds send_limit() const;
  // Why a runner whose frames could not leave within send_limit() is ended.
  std::string stopped_reading() const;
  // The calls of a burst held for one write (call_async): at most this many wait.
  static constexpr std::size_t kBatchFrames = 8;
  // Sends a frame; one that cannot leave within send_limit() ends the runner. False (errno
  // kept) when the frame was not sent whole. at_once: only if it can start now (else
  // false, errno EAGAIN, nothing sent; Channel::try_send).
  bool send_or_end(const std::shared_ptr<Process>& process, const runner::Message& message,
                   bool at_once = false);
  void end_process(const std::shared_ptr<Process>& process, const std::string& reason);
  void kill_process(const std::shared_ptr<Process>& process, const std::string& reason);

  std::string instance_;
  RunnerOptions options_;

  // The definition the runner reported, with storage for its strings.
  kh_plugin definition_{};
  std::vector<std::string> strings_;
  std::vector<kh_secret_decl> secret_decls_;
  std::vector<std::string> applied_, missing_;
  // The instance's pids cgroup, made at the first start and kept across restarts; null
  // where none could be made (task_group_missing_ says why).
  std::unique_ptr<TaskGroup> task_group_;
  std::string task_group_missing_;

  // What create() was given, to create the plugin again after a restart.
  kh_host* host_ = nullptr;
  std::string created_name_, created_options_;
  bool created_ = false;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::shared_ptr<Process> process_;  // the current runner, or null
  std::uint64_t generation_ = 0;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Pending> pending_;
  RestartBudget restart_budget_;
  std::string failed_;    // set once the instance has failed for good
  std::string last_end_;  // why the previous runner ended
  int service_threads_ = 0;
  // The runner's list_changed notifications not yet passed on (bit KH_LIST_*), and whether
  // a thread is passing them on (one at a time: a storm is merged).
  unsigned lists_changed_ = 0;
  bool lists_rereading_ = false;
  bool destroyed_ = false;
  std::mutex spawn_mutex_;  // one restart at a time
};

// The keyhold-runner executable next to the running keyhold (build tree and installed
// layout), or $KEYHOLD_RUNNER when set.
std::filesystem::path runner_executable();

}  // namespace keyhold
