#include "loader/runner_backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "base/brief_poll.hpp"
#include "base/client_wait.hpp"
#include "base/log_budget.hpp"
#include "base/output_hold.hpp"
#include "base/reading_turn.hpp"
#include "base/send_batch.hpp"
#include "loader/abi_strings.hpp"
#include "loader/fork_server.hpp"
#include "loader/plugin_instance.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/json_rpc.hpp"

namespace keyhold {

using runner::Message;
using runner::Service;
using runner::Type;
using Clock = std::chrono::steady_clock;

// How long a caller waiting for its own reply polls before it sleeps in poll(2), on a
// machine with more than one CPU (on one, the spin would only delay the runner). An echo
// round trip to a runner takes about 20-40 us here, and waking a sleeping thread costs
// about as much again on a VM: the spin saves that wake-up for short calls, and a long
// call pays this much CPU once. bench/stdio's C++ driver, sequential echo: p50 96-112 us
// without, 85-88 us with it.
std::chrono::microseconds reply_spin() {
  return std::chrono::microseconds(several_cpus() ? 50 : 0);
}

struct RunnerBackend::Process {
  pid_t pid = -1;
  std::uint64_t serial = 0;  // its start by the fork server (loader/fork_server.hpp)
  std::uint64_t generation = 0;
  std::unique_ptr<runner::Channel> channel;
  int fd = -1;      // closed with the last reference, never earlier: no send can reach a
  int log_fd = -1;  // reused descriptor number
  std::thread reader;
  std::thread log_reader;
  std::string kill_reason;  // set when the host ended it on purpose
  bool ended = false;
  // Its plugin object exists (create() answered): only then may calls skip
  // ensure_running(), which holds a restarted runner's calls until it is created again.
  bool created = false;

  // Who reads the channel (guarded by the backend's mutex_): a caller waiting for its
  // reply, or the reader thread between calls (base/reading_turn.hpp).
  ReadingTurn turn;

  // The last reference may be dropped by the reader thread itself (it holds one while it
  // runs): that thread is detached, any other is joined.
  ~Process() {
    for (std::thread* t : {&reader, &log_reader}) {
      if (!t->joinable()) continue;
      if (t->get_id() == std::this_thread::get_id())
        t->detach();
      else
        t->join();
    }
    if (fd >= 0) ::close(fd);
    if (log_fd >= 0) ::close(log_fd);
  }
};

namespace {

bool wait_readable(int fd, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

std::string cannot_run(const std::string& runner, const std::string& why) {
  return "cannot run " + runner + why +
         ": install keyhold-runner beside keyhold or set KEYHOLD_RUNNER to its path";
}

}  // namespace

std::filesystem::path runner_executable() {
  if (const char* env = std::getenv("KEYHOLD_RUNNER"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const std::filesystem::path exe = boost::dll::program_location(ec);
  if (ec) return "keyhold-runner";
  return exe.parent_path() / "keyhold-runner";
}

RunnerBackend::RunnerBackend(std::string instance, RunnerOptions options)
    : instance_(std::move(instance)), options_(std::move(options)) {}

Result<std::unique_ptr<RunnerBackend>> RunnerBackend::start(std::string instance,
                                                            RunnerOptions options) {
  std::unique_ptr<RunnerBackend> backend(
      new RunnerBackend(std::move(instance), std::move(options)));
  if (Status spawned = backend->spawn(); !spawned.is_ok()) return spawned;
  return backend;
}

RunnerBackend::~RunnerBackend() { destroy(); }

std::vector<std::string> RunnerBackend::sandbox_applied() const {
  std::lock_guard lock(mutex_);
  return applied_;
}
std::vector<std::string> RunnerBackend::sandbox_missing() const {
  std::lock_guard lock(mutex_);
  return missing_;
}

pid_t RunnerBackend::pid() const {
  std::lock_guard lock(mutex_);
  return process_ && !process_->ended ? process_->pid : 0;
}

std::string RunnerBackend::failure() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

Status RunnerBackend::spawn() {
  int channel[2], log[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) != 0)
    return io_error(std::string("socketpair: ") + std::strerror(errno));
  if (::pipe2(log, O_CLOEXEC) != 0) {
    ::close(channel[0]);
    ::close(channel[1]);
    return io_error(std::string("pipe: ") + std::strerror(errno));
  }
  const std::string runner = options_.runner_path.string();
  // The pids cgroup is made once, at the first start (spawn runs one at a time); the runner
  // joins it itself as its first act, through descriptor 4 (TaskGroup::open_for_child).
  if (options_.task_group && !task_group_ && task_group_missing_.empty()) {
    auto group = TaskGroup::create(instance_, options_.max_tasks);
    if (group.is_ok())
      task_group_ = std::move(group).value();
    else
      task_group_missing_ = group.status().message();
  }
  int join_fd = -1;
  if (task_group_) {
    auto fd = task_group_->open_for_child();
    if (!fd.is_ok()) {
      for (int f : {channel[0], channel[1], log[0], log[1]}) ::close(f);
      return fd.status();
    }
    join_fd = fd.value();
  }
  // Forked by the fork server (loader/fork_server.hpp): its own process group, /dev/null
  // as stdin, the log pipe as stdout and stderr (never the protocol stream), the channel
  // as fd 3, the cgroup join descriptor as fd 4, and nothing else.
  int error = 0;
  std::uint64_t serial = 0;
  const pid_t pid =
      fork_server::spawn(options_.runner_path, channel[1], log[1], join_fd, &error, &serial);
  if (join_fd >= 0) ::close(join_fd);
  if (pid < 0) {
    for (int fd : {channel[0], channel[1], log[0], log[1]}) ::close(fd);
    return unavailable(error == ENOENT || error == EACCES || error == ENOEXEC
                           ? cannot_run(runner, std::string(" (") + std::strerror(error) + ")")
                       : error == ECHILD
                           ? "cannot start a runner: its fork server (" + runner +
                                 " --fork-server) ended at once; is it the keyhold-runner of "
                                 "this keyhold?"
                           : std::string("cannot start a runner: ") + std::strerror(error));
  }
  ::close(channel[1]);
  ::close(log[1]);

  auto process = std::make_shared<Process>();
  process->pid = pid;
  process->serial = serial;
  process->fd = channel[0];
  process->log_fd = log[0];
  process->channel = std::make_unique<runner::Channel>(channel[0]);
  // A runner that stops reading (it stopped itself, say) must not hold a host thread in
  // send(): a frame that cannot leave within the limit ends the runner (send_or_end).
  process->channel->set_send_limit(send_limit());

  auto fail = [&](const std::string& why) {
    fork_server::kill_group(pid, serial);
    int status = 0;
    fork_server::wait(pid, serial, &status, true);
    fork_server::release(pid, serial);
    if (task_group_) task_group_->kill_all();
    return unavailable(why);
  };

  // The runner is in the group before it reads this frame (or answers it with why not).
  nlohmann::json policy = options_.policy;
  // The group's cap binds for every uid; RLIMIT_NPROC never binds for root (the runner's
  // strict sandbox would refuse it), so for root the group replaces it.
  if (task_group_ && ::geteuid() == 0) policy["max_processes"] = 0;
  Message init;
  init.type = Type::kInit;
  nlohmann::json spec{{"plugin", options_.plugin_path.string()},
                      {"policy", policy},
                      {"sandbox", options_.policy.value("sandbox", true)}};
  init.parts.push_back(spec.dump());
  if (!process->channel->send(init)) return fail("the runner did not start (" + runner + ")");
  Message reply;
  const auto deadline = Clock::now() + options_.start_timeout;
  // Whole frames only: the plugin's code has run by now (its library is loaded), and a
  // runner that stops inside a frame must meet start_timeout too.
  int got = 1;
  while (got > 0 && !process->channel->frame_buffered()) {
    if (!wait_readable(process->fd, deadline)) return fail("the runner did not answer in time");
    got = process->channel->read_some();
  }
  if (got <= 0 || !process->channel->receive(&reply).is_ok()) {
    // A runner may close or garble its channel and live on: one still running after a
    // moment (one that is exiting gets it, so the error names its exit status) is killed
    // before it is waited for.
    int status = 0;
    auto ended = fork_server::Ended::kNo;
    for (int i = 0; i < 50; ++i) {
      ended = fork_server::wait(pid, serial, &status, false);
      if (ended != fork_server::Ended::kNo) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(4));
    }
    if (ended == fork_server::Ended::kNo)
      return fail("the runner broke its start handshake (its channel closed or garbled)");
    fork_server::release(pid, serial);
    if (ended == fork_server::Ended::kLost)
      return unavailable("the runner ended while starting (its status is lost)");
    if (task_group_) task_group_->kill_all();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return unavailable(cannot_run(runner, ""));
    return unavailable("the runner ended while starting (" + describe_exit_status(status) + ")");
  }
  if (reply.type == Type::kFatal) return fail(reply.part(0));
  if (reply.type != Type::kDefinition) return fail("the runner sent no definition");
  auto definition = rpc::parse_json(reply.part(0), rpc::kMaxPluginJsonDepth);
  if (!definition.is_object() || !definition["name"].is_string() ||
      !definition["abi_major"].is_number_unsigned() ||
      definition["abi_major"].get<std::uint64_t>() != KH_ABI_MAJOR ||
      !definition["secrets"].is_array())
    return fail("the runner sent a malformed definition");

  {
    std::lock_guard lock(mutex_);
    // destroy() ran while this runner started (a restart racing the instance's end): it
    // never becomes the instance's runner, so nothing of it outlives the backend.
    if (destroyed_) return fail("instance '" + instance_ + "' is shut down");
    if (generation_ == 0) {
      // The first start fixes the definition; a restart must load the same plugin.
      strings_.clear();
      strings_.reserve(3 + 2 * definition["secrets"].size());
      auto keep = [&](const nlohmann::json& v) -> const char* {
        strings_.push_back(v.is_string() ? v.get<std::string>() : std::string());
        return strings_.back().c_str();
      };
      definition_ = kh_plugin{};
      definition_.struct_size = sizeof(kh_plugin);
      definition_.abi_major = KH_ABI_MAJOR;
      definition_.abi_minor = static_cast<std::uint16_t>(definition.value("abi_minor", 0));
      definition_.name = keep(definition["name"]);
      definition_.version = keep(definition.value("version", nlohmann::json("")));
      definition_.description = keep(definition.value("description", nlohmann::json("")));
      for (const auto& s : definition["secrets"]) {
        if (!s.is_object()) continue;
        kh_secret_decl decl{};
        decl.alias = keep(s.value("alias", nlohmann::json("")));
        decl.description = keep(s.value("description", nlohmann::json("")));
        decl.operations = s.value("operations", 0u);
        secret_decls_.push_back(decl);
      }
      definition_.secrets = secret_decls_.data();
      definition_.secret_count = static_cast<std::uint32_t>(secret_decls_.size());
    } else if (definition["name"] != std::string(definition_.name)) {
      return fail("the restarted runner loaded another plugin");
    }
    applied_.clear();
    missing_.clear();
    for (const auto& line : definition.value("applied", nlohmann::json::array()))
      if (line.is_string()) applied_.push_back(line.get<std::string>());
    for (const auto& line : definition.value("missing", nlohmann::json::array()))
      if (line.is_string()) missing_.push_back(line.get<std::string>());
    if (task_group_)
      applied_.push_back(task_group_->describe());
    else if (options_.task_group)
      missing_.push_back("pids cgroup (task cap for the whole tree, kill of setsid() children): " +
                         task_group_missing_);
    process->generation = ++generation_;
    process_ = process;
  }
  process->log_reader = std::thread([fd = process->log_fd, name = instance_] {
    // The plugin writes here at will (fd 1 and 2): lines past the budget are dropped.
    // A line over kMaxLine is not shown at all: cut before the log's redaction, it could
    // end inside a secret value the redactor then does not see whole.
    constexpr std::size_t kMaxLine = 8 * 1024;
    LogBudget budget;
    std::size_t dropping = 0;  // bytes of an over-long line dropped so far (until its end)
    auto line = [&](std::string_view text) {
      if (!budget.admit_line(name, "lines of runner output")) return;
      if (dropping + text.size() > kMaxLine)
        spdlog::warn("[{}] (runner output) (a line of {} bytes, over {} KiB, not shown)", name,
                     dropping + text.size(), kMaxLine / 1024);
      else
        spdlog::warn("[{}] (runner output) {}", name, text);
    };
    std::string pending;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buffer, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', start)) {
        line(std::string_view(pending).substr(start, nl - start));
        dropping = 0;
        start = nl + 1;
      }
      pending.erase(0, start);
      if (pending.size() > kMaxLine) {  // no end in sight: dropped, counted, told at its end
        dropping += pending.size();
        pending.clear();
      }
    }
    if (!pending.empty() || dropping > 0) line(pending);
  });
  process->reader = std::thread([this, process] { read_between_calls(process); });
  return Status::ok();
}

Status RunnerBackend::ensure_running() {
  std::lock_guard spawn_lock(spawn_mutex_);
  {
    std::lock_guard lock(mutex_);
    if (destroyed_) return unavailable("instance '" + instance_ + "' is shut down");
    if (!failed_.empty()) return unavailable(failed_);
    if (process_ && !process_->ended) return Status::ok();
  }
  // Back off before a restart (at most 30 s): the caller waits rather than fails.
  for (;;) {
    std::unique_lock lock(mutex_);
    if (destroyed_) return unavailable("instance '" + instance_ + "' is shut down");
    if (Clock::now() >= restart_budget_.next_allowed()) break;
    changed_.wait_until(lock, restart_budget_.next_allowed());
  }
  {
    std::lock_guard lock(mutex_);
    if (!restart_budget_.take(Clock::now())) {
      failed_ = "instance '" + instance_ + "' failed: its runner ended " +
                std::to_string(RestartBudget::kMaxRestarts + 1) +
                " times within 10 minutes (last: " + last_end_ + ")";
      spdlog::error("{}", failed_);
      return unavailable(failed_);
    }
  }
  spdlog::warn("instance '{}': starting a new runner (the last one {})", instance_, last_end_);
  if (Status spawned = spawn(); !spawned.is_ok())
    return unavailable("instance '" + instance_ + "' could not restart: " + spawned.message());
  if (created_) {
    Message create;
    create.type = Type::kCreate;
    create.parts = {created_name_, created_options_};
    std::string message;
    if (request(std::move(create), nullptr, &message) != KH_OK)
      return unavailable("instance '" + instance_ + "' could not be created again: " + message);
    std::lock_guard lock(mutex_);
    if (process_) process_->created = true;
  }
  return Status::ok();
}

std::int32_t RunnerBackend::request(Message message, CallContext* ctx, std::string* body) {
  std::shared_ptr<Process> process;
  std::uint64_t id;
  {
    std::lock_guard lock(mutex_);
    process = process_;
    if (!process || process->ended) {
      *body = "instance '" + instance_ + "' is not running";
      return KH_ERROR;
    }
    id = next_id_++;
    Pending& p = pending_.try_emplace(id).first->second;
    p.generation = process->generation;
    p.ctx = ctx;
    process->turn.request_started();
  }
  message.id = id;
  const bool is_call = message.type == Type::kCall;
  const char* what = is_call                           ? "a call"
                     : message.type == Type::kCreate   ? "create"
                     : message.type == Type::kDescribe ? "describe"
                                                       : "a request";
  const auto started = Clock::now();  // before the send, which may itself wait (send_limit)
  if (!send_or_end(process, message) && errno == EMSGSIZE) {
    std::lock_guard lock(mutex_);
    Pending& p = pending_.at(id);
    p.done = true;
    p.status = KH_ERROR;
    p.body = "the request is larger than the " + std::to_string(runner::kMaxFrameBytes >> 20) +
             " MiB a runner takes";
  }
  bool cancel_sent = false;
  Clock::time_point cancel_deadline{};
  std::unique_lock lock(mutex_);
  Pending& p = pending_.at(id);  // map nodes are stable; only this function erases it
  for (;;) {
    if (p.done) break;
    if (!process->ended && process->turn.try_take()) {
      // The turn was free: read the channel ourselves (most often our own reply is next).
      read_frames(process, std::chrono::milliseconds(20), lock, reply_spin());
      pass_turn(*process, id);
      if (process->turn.async_calls > 0) {  // async calls wait on whoever reads
        lock.unlock();
        check_async_limits(process);
        lock.lock();
      }
    } else {
      // Someone else reads: the wait ends at our reply or when the turn is passed to us;
      // the 20 ms tick notices a cancellation and the limits.
      p.ready.wait_for(lock, std::chrono::milliseconds(20));
    }
    if (p.done) break;
    const auto now = Clock::now();
    if (is_call && ctx != nullptr && ctx->cancelled && !cancel_sent) {
      cancel_sent = true;
      cancel_deadline = now + options_.cancel_grace;
      Message cancel;
      cancel.type = Type::kCancel;
      cancel.id = id;
      lock.unlock();
      send_or_end(process, cancel);
      lock.lock();
      continue;
    }
    // create and describe meet call_timeout too: plugin code runs in both, and nothing else
    // would end a runner stuck in one (at startup, at a restart, at a list_changed re-read).
    if (const std::string reason = overdue(what, started, cancel_sent, cancel_deadline, now);
        !reason.empty()) {
      lock.unlock();
      kill_process(process, reason);
      lock.lock();
    }
  }
  // Service handlers may still use ctx: wait for them before the caller's ctx goes away.
  p.ready.wait(lock, [&] { return p.users == 0; });
  const std::int32_t status = p.status;
  *body = std::move(p.body);
  pending_.erase(id);
  process->turn.request_finished();
  return status;
}

void RunnerBackend::pass_turn(Process& process, std::uint64_t self) {
  process.turn.reading = false;
  // A caller still waiting takes the turn (any one: they all read for everyone). With
  // none, the reader thread takes it when it next looks: it is not woken for that, since
  // in a stream of calls the next caller comes sooner and would find the turn taken. The
  // waiting callers are counted (in_flight, self among them), so a stream of async calls is
  // not walked for one.
  if (process.turn.in_flight > (self != 0 ? 1 : 0))
    for (auto& [id, p] : pending_)
      if (id != self && !p.done && p.generation == process.generation && !p.finish) {
        p.ready.notify_one();
        return;
      }
  // Answers nobody waits for come next: the reader thread takes the turn at once.
  if (process.turn.async_calls > 0) process.turn.reader_wake.notify_one();
}

int32_t RunnerBackend::create(kh_host* host, std::string_view name, std::string_view options_json,
                              std::string* message) {
  host_ = host;
  created_name_ = std::string(name);
  created_options_ = std::string(options_json);
  Message m;
  m.type = Type::kCreate;
  m.parts = {created_name_, created_options_};
  const int32_t status = request(std::move(m), nullptr, message);
  if (status == KH_OK) {
    created_ = true;
    std::lock_guard lock(mutex_);
    if (process_) process_->created = true;
  }
  return status;
}

int32_t RunnerBackend::describe(std::string* body) {
  if (Status running = ensure_running(); !running.is_ok()) {
    *body = running.message();
    return KH_ERROR;
  }
  Message m;
  m.type = Type::kDescribe;
  return request(std::move(m), nullptr, body);
}

int32_t RunnerBackend::call(CallContext& ctx, std::string_view method, std::string_view params_json,
                            std::string* body) {
  if (Status running = ensure_running(); !running.is_ok()) {
    *body = running.message();
    return KH_ERROR;
  }
  Message m;
  m.type = Type::kCall;
  m.parts = {std::string(method), std::string(params_json)};
  return request(std::move(m), &ctx, body);
}

bool RunnerBackend::call_async(const std::shared_ptr<CallContext>& ctx, std::string_view method,
                               const nlohmann::json& params, CallDone& done) {
  // Everything that may throw, before the call is registered.
  Message m;
  m.type = Type::kCall;
  m.parts = {std::string(method), rpc::serialize(params)};
  const std::string& params_json = m.parts[1];
  // A large frame (or one over the limit, which call() refuses with the reason) goes with a
  // worker: once its first bytes are out it must be finished, and the rest may have to wait
  // for the runner to read. A small one leaves whole or not at all: a unix stream socket
  // queues a send of up to about half its buffer (~100 KiB here) as one piece.
  if (method.size() + params_json.size() > 64 * 1024) return false;
  std::shared_ptr<Process> process;
  std::uint64_t id;
  SendBatch* const batch = SendBatch::current();
  std::size_t held = 0;  // frames held for the burst, this one included; 0: not held
  {
    std::lock_guard lock(mutex_);
    process = process_;
    // A runner to restart or (re)create, a failed or ended instance: call() waits for it,
    // restarts it or says why.
    if (destroyed_ || !process || process->ended || !process->created) return false;
    id = next_id_++;
    Pending& p = pending_.try_emplace(id).first->second;
    p.generation = process->generation;
    p.ctx = ctx.get();
    p.owner = ctx;
    p.process = process;
    p.finish = std::move(done);
    p.started = Clock::now();  // before the send, which may itself wait (send_limit)
    ++process->turn.async_calls;
    if (!process->turn.reading) process->turn.reader_wake.notify_one();
    // In a burst of client requests the frame is held and leaves with the burst's others in
    // one write, waking the runner once (base/send_batch.hpp). Held under mutex_: a
    // cancellation of this call, sent later, cannot overtake it (every send writes the
    // held frames first).
    m.id = id;
    if (batch != nullptr && !process->channel->hold(m, &held)) held = 0;
  }
  if (held > 0) {
    // Every kBatchFrames a write goes at once: the runner works on those while the rest
    // of the burst is read. Whatever cannot leave now (the runner's buffer is full, or
    // another thread is sending) leaves when there is room: read_frame() retries it, and
    // check_async_limits() ends a runner that keeps it held past the send limit.
    if (held >= kBatchFrames)
      process->channel->flush_held();
    else if (held == 1)
      batch->defer([process] { process->channel->flush_held(); });  // at the burst's end
    return true;
  }
  // Only a send that can start at once: the thread dispatching here reads the client's
  // next requests, and must not wait for a runner that stopped reading (a worker does).
  // Any other failure ends the runner, and its end (end_process) finishes the call.
  if (send_or_end(process, m, /*at_once=*/true) || errno != EAGAIN) return true;
  std::lock_guard lock(mutex_);
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second.done) return true;  // the runner's end has it
  done = std::move(it->second.finish);                       // nothing left: back to the caller
  --process->turn.async_calls;
  pending_.erase(it);
  return false;
}

std::string RunnerBackend::overdue(const char* what, Clock::time_point started, bool cancel_sent,
                                   Clock::time_point cancel_deadline, Clock::time_point now) const {
  if (cancel_sent && now > cancel_deadline)
    return std::string(what) + " ignored its cancellation for " +
           std::to_string(options_.cancel_grace.count()) + " ms";
  if (now - started > options_.call_timeout)
    return std::string(what) + " exceeded call_timeout (" +
           std::to_string(options_.call_timeout.count() / 1000) + " s)";
  return {};
}

void RunnerBackend::take_finished(std::uint64_t id, std::vector<FinishedCall>* out) {
  auto it = pending_.find(id);
  if (it == pending_.end() || !it->second.finish || !it->second.done || it->second.users > 0)
    return;
  Pending& p = it->second;
  --p.process->turn.async_calls;
  out->push_back({std::move(p.finish), PluginReply{p.status, std::move(p.body), {}},
                  std::move(p.owner), std::move(p.process)});
  pending_.erase(it);
}

void RunnerBackend::release_user(std::uint64_t id) {
  std::vector<FinishedCall> finished;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    --it->second.users;
    it->second.ready.notify_all();
    take_finished(id, &finished);
  }
  run_finished(finished);
}

void RunnerBackend::check_async_limits(const std::shared_ptr<Process>& process) {
  std::vector<std::uint64_t> cancels;
  std::string reason;
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    for (auto& [id, p] : pending_) {
      if (!p.finish || p.done || p.generation != process->generation) continue;
      if (p.ctx->cancelled && !p.cancel_sent) {
        p.cancel_sent = true;
        p.cancel_deadline = now + options_.cancel_grace;
        cancels.push_back(id);
      } else if (std::string why =
                     overdue("a call", p.started, p.cancel_sent, p.cancel_deadline, now);
                 !why.empty()) {
        reason = std::move(why);
      }
    }
  }
  // Frames held for a burst that could not leave within the send limit: as for a send().
  if (process->channel->holding() && Clock::now() - process->channel->held_since() > send_limit())
    reason = stopped_reading();
  for (std::uint64_t id : cancels) {
    Message cancel;
    cancel.type = Type::kCancel;
    cancel.id = id;
    if (!send_or_end(process, cancel)) return;
  }
  // Its calls end with the runner (end_process), each with this reason.
  if (!reason.empty()) kill_process(process, reason);
}

void RunnerBackend::destroy() {
  std::shared_ptr<Process> process;
  {
    std::lock_guard lock(mutex_);
    if (destroyed_) return;
    destroyed_ = true;
    process = process_;
  }
  changed_.notify_all();  // a restart waiting out its backoff gives up
  if (process && !process->ended && created_) {
    // Let the plugin clean up (it may hold connections); a runner that does not finish
    // within a second is killed with its whole group.
    Message m;
    m.type = Type::kDestroy;
    m.id = 0;
    process->channel->send(m);
    const auto deadline = Clock::now() + std::chrono::seconds(1);
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, deadline, [&] { return process->ended; });
  }
  if (process) {
    kill_process(process, "the host is shutting the instance down");
    if (process->reader.joinable()) process->reader.join();
    if (process->log_reader.joinable()) process->log_reader.join();
  }
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return service_threads_ == 0; });
}

void RunnerBackend::kill_process(const std::shared_ptr<Process>& process,
                                 const std::string& reason) {
  std::lock_guard lock(mutex_);
  if (process->ended) return;
  if (process->kill_reason.empty()) process->kill_reason = reason;
  fork_server::kill_group(process->pid, process->serial);
  if (task_group_) task_group_->signal_all();  // end_process waits for the group to empty
  // The reader sees the channel close and ends the process's calls.
  ::shutdown(process->fd, SHUT_RDWR);
}

void RunnerBackend::end_process(const std::shared_ptr<Process>& process, const std::string& why) {
  fork_server::kill_group(process->pid, process->serial);  // also whatever it started
  int status = 0;
  const bool known =
      fork_server::wait(process->pid, process->serial, &status, true) == fork_server::Ended::kYes;
  // Children that left the process group (setsid) end with the runner, before a restart.
  if (task_group_) task_group_->kill_all();
  std::string reason;
  std::vector<FinishedCall> finished;
  {
    std::lock_guard lock(mutex_);
    const std::string how =
        known ? describe_exit_status(status) : "it ended with its fork server; how is not known";
    reason = !process->kill_reason.empty() ? process->kill_reason
             : !why.empty()                ? why + " (" + how + ")"
                                           : how;
    process->ended = true;
    process->turn.reader_wake.notify_all();
    if (!destroyed_) last_end_ = reason;
    std::vector<std::uint64_t> ended_calls;
    for (auto& [id, p] : pending_) {
      if (p.generation != process->generation || p.done) continue;
      p.done = true;
      p.status = KH_ERROR;
      p.body =
          "instance '" + instance_ + "' stopped: " + reason + "; it is restarted on the next call";
      p.ready.notify_all();
      ended_calls.push_back(id);
    }
    for (std::uint64_t id : ended_calls) take_finished(id, &finished);
    changed_.notify_all();
  }
  // ended: kill_process signals it no more, so its pid may now be reused.
  fork_server::release(process->pid, process->serial);
  run_finished(finished);
  if (!destroyed_) spdlog::error("instance '{}': its runner stopped: {}", instance_, reason);
  // Any send still under way fails from here on; the descriptor closes with the Process.
  ::shutdown(process->fd, SHUT_RDWR);
}

std::chrono::milliseconds RunnerBackend::send_limit() const {
  return std::clamp<std::chrono::milliseconds>(options_.call_timeout, std::chrono::seconds(1),
                                               std::chrono::seconds(30));
}

std::string RunnerBackend::stopped_reading() const {
  return "the runner stopped reading its channel (a frame could not leave in " +
         std::to_string(send_limit().count() / 1000) + " s)";
}

bool RunnerBackend::send_or_end(const std::shared_ptr<Process>& process, const Message& m,
                                bool at_once) {
  if (at_once ? process->channel->try_send(m) : process->channel->send(m)) return true;
  const int error = errno;
  if (error == ETIMEDOUT)  // part of the frame may be on the stream: the channel is broken
    kill_process(process, stopped_reading());
  errno = error;
  return false;
}

void RunnerBackend::read_frame(const std::shared_ptr<Process>& process,
                               std::chrono::milliseconds timeout, std::chrono::microseconds spin) {
  runner::Channel& channel = *process->channel;
  if (!channel.frame_buffered()) {
    // Frames a burst held back (call_async) that could not leave then are retried here,
    // every millisecond while some stay held.
    if (channel.holding() && !channel.flush_held() &&
        (timeout.count() < 0 || timeout > std::chrono::milliseconds(1)))
      timeout = std::chrono::milliseconds(1);
    pollfd pfd{channel.fd(), POLLIN, 0};
    int ready = poll_briefly(&pfd, 1, spin) ? 1 : 0;
    if (ready == 0) ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    if (ready == 0 || (ready < 0 && errno == EINTR)) return;
    // One read of what arrived, never a wait for the rest of a frame: a runner that stops
    // inside one must not hold this thread, which also watches the calls' limits.
    const int got = channel.read_some();
    if (got <= 0) {
      end_process(process,
                  got == 0 && !channel.buffered() ? "" : "the channel broke inside a frame");
      return;
    }
    if (!channel.frame_buffered()) return;
  }
  Message m;
  if (Status got = channel.receive(&m); !got.is_ok()) {
    // A clean end of stream has no cause of its own: end_process names the exit status.
    end_process(process, got.code() == ErrorCode::kUnavailable ? "" : got.message());
    return;
  }
  if (m.type == Type::kReply) {
    std::vector<FinishedCall> finished;
    {
      std::lock_guard lock(mutex_);
      auto it = pending_.find(m.id);
      if (it != pending_.end() && it->second.generation == process->generation &&
          !it->second.done) {
        it->second.done = true;
        it->second.status = m.status;
        it->second.body = m.parts.empty() ? std::string() : std::move(m.parts[0]);
        it->second.ready.notify_all();
        take_finished(m.id, &finished);
      }
    }
    run_finished(finished);  // an async call's reply is finished right here
    return;
  }
  if (m.type != Type::kService) {
    kill_process(process, "the runner sent a frame only the host may send");
    end_process(process, "");
    return;
  }
  handle_service(process, std::move(m));
}

void RunnerBackend::read_frames(const std::shared_ptr<Process>& process,
                                std::chrono::milliseconds timeout,
                                std::unique_lock<std::mutex>& lock,
                                std::chrono::microseconds spin) {
  lock.unlock();
  {
    // One read(2) often brings the replies of several calls: every whole frame it buffered
    // is handed out before the turn passes on, rather than a thread woken per frame, and
    // their answers to the client leave in one write (base/output_hold.hpp).
    OutputHold hold;
    read_frame(process, timeout, spin);
    for (;;) {
      lock.lock();
      const bool more = !process->ended && process->channel->frame_buffered();
      lock.unlock();
      if (!more) break;
      read_frame(process, std::chrono::milliseconds(0));
    }
  }  // the hold ends with no lock held
  lock.lock();
}

void RunnerBackend::read_between_calls(std::shared_ptr<Process> process) {
  // Progress, logs and replies it passes on go through the transport's writer: a client
  // slow to read must not stop this thread, which every call of the runner needs.
  NoClientWait no_wait;
  std::unique_lock lock(mutex_);
  while (process->turn.reader_take(lock, [&] { return process->ended; })) {
    // With async calls in flight it also keeps their limits, so it looks every 20 ms;
    // otherwise every 250 ms (an async call may start while it waits).
    read_frames(process, std::chrono::milliseconds(process->turn.async_calls > 0 ? 20 : 250), lock);
    pass_turn(*process, 0);
    if (process->turn.async_calls > 0) {
      lock.unlock();
      check_async_limits(process);
      lock.lock();
    }
  }
}

void RunnerBackend::handle_service(std::shared_ptr<Process> process, Message m) {
  const kh_host_api& api = PluginInstance::host_api();
  // The call context is looked up by id among this runner's calls; an unknown id (ended,
  // forged, or another instance's) gets none.
  CallContext* ctx = nullptr;
  std::uint64_t pending_id = 0;
  bool busy = false;  // past the service thread cap
  {
    std::lock_guard lock(mutex_);
    if (host_ == nullptr) return;
    if (auto it = pending_.find(m.call); m.call != 0 && it != pending_.end() &&
                                         it->second.generation == process->generation &&
                                         it->second.ctx != nullptr && !it->second.done) {
      ctx = it->second.ctx;
      pending_id = m.call;
      ++it->second.users;
    }
    // A runner may not make the host start threads without bound: past the cap a request
    // is refused at once (the plugin sees KH_UNAVAILABLE).
    if (m.id != 0 && service_threads_ >= kMaxServiceThreads) {
      changed_.notify_all();
      busy = true;
    } else if (m.id != 0) {
      ++service_threads_;
    }
  }
  if (busy) {  // sent without mutex_ held: a send may wait for the runner to read
    if (pending_id != 0) release_user(pending_id);
    Message refusal;
    refusal.type = Type::kServiceReply;
    refusal.id = m.id;
    refusal.status = KH_UNAVAILABLE;
    refusal.parts.emplace_back("too many host services in flight for this instance");
    send_or_end(process, refusal);
    return;
  }
  auto release = [this, pending_id] {
    if (pending_id != 0) release_user(pending_id);
  };
  auto str = [](const std::string& s) { return kh_str{s.data(), s.size()}; };

  if (m.id == 0) {  // one-way: answered by nothing, handled on the reader thread
    switch (m.service) {
      case Service::kLog:
        api.log(host_, ctx, m.status, str(m.part(0)));
        break;
      case Service::kProgress:
        if (ctx != nullptr) api.progress(host_, ctx, m.x, m.y, str(m.part(0)));
        break;
      case Service::kListChanged: {
        // Re-reading the catalog needs this reader free: done on a thread of its own, one
        // at a time per instance. Notifications that come meanwhile are merged into one
        // more pass (a storm costs two re-reads of the catalog, not one each).
        if (m.status < KH_LIST_TOOLS || m.status > KH_LIST_PROMPTS) break;  // nothing to re-read
        bool start = false;
        {
          std::lock_guard lock(mutex_);
          lists_changed_ |= 1u << m.status;
          if (!lists_rereading_ && service_threads_ < kMaxServiceThreads) {
            lists_rereading_ = true;
            ++service_threads_;
            start = true;
          }
        }
        if (!start) break;
        std::thread([this, &api] {
          std::unique_lock lock(mutex_);
          while (lists_changed_ != 0) {
            const unsigned changed = std::exchange(lists_changed_, 0u);
            lock.unlock();
            for (int32_t what : {KH_LIST_TOOLS, KH_LIST_RESOURCES, KH_LIST_PROMPTS})
              if (changed & (1u << what)) api.notify_list_changed(host_, what);
            lock.lock();
          }
          lists_rereading_ = false;
          --service_threads_;
          changed_.notify_all();
        }).detach();
        break;
      }
      case Service::kResourceUpdated:
        api.notify_resource_updated(host_, str(m.part(0)));
        break;
      default:
        break;
    }
    release();
    return;
  }

  // Requests may wait (on the client, on a child process): each runs on its own thread
  // so the reader keeps delivering replies.
  std::thread([this, process, m = std::move(m), ctx, release, &api, str]() mutable {
    Message reply;
    reply.type = Type::kServiceReply;
    reply.id = m.id;
    reply.status = KH_ERROR;
    bool sensitive = false;
    std::string out;
    kh_sink sink{&out, &abi::append_to_string};
    const kh_secret_handle handle{m.a, m.b};
    switch (m.service) {
      case Service::kClientRequest:
        reply.status = ctx == nullptr
                           ? KH_UNAVAILABLE
                           : api.client_request(host_, ctx, str(m.part(0)), str(m.part(1)), &sink);
        break;
      case Service::kSecretAcquire: {
        kh_secret_handle h{0, 0};
        reply.status = api.secret_acquire(host_, ctx, str(m.part(0)), &h);
        reply.a = h.hi;
        reply.b = h.lo;
        break;
      }
      case Service::kSecretRelease:
        reply.status = api.secret_release(host_, handle);
        break;
      case Service::kSecretReveal:
        sensitive = true;
        reply.status = api.secret_reveal(
            host_, ctx, handle,
            [](void* user, const unsigned char* value, size_t size) {
              static_cast<std::string*>(user)->assign(reinterpret_cast<const char*>(value), size);
            },
            &out);
        break;
      case Service::kSecretSign:
        sensitive = true;
        reply.status = api.secret_sign(host_, ctx, handle, str(m.part(0)), str(m.part(1)), &sink);
        break;
      case Service::kProcessSpawn: {
        std::uint64_t id = 0;
        reply.status = api.process_spawn(host_, ctx, str(m.part(0)), &id, &sink);
        reply.a = id;
        break;
      }
      case Service::kProcessRead:
        reply.status = api.process_read(host_, m.a, static_cast<int32_t>(m.b), m.status, &sink);
        break;
      case Service::kProcessWait: {
        int32_t exit_status = 0;
        reply.status = api.process_wait(host_, m.a, m.status, &exit_status);
        reply.a = static_cast<std::uint32_t>(exit_status);
        break;
      }
      case Service::kProcessKill:
        reply.status = api.process_kill(host_, m.a, m.status);
        break;
      default:
        reply.status = KH_UNSUPPORTED;
        break;
    }
    m.wipe();
    reply.parts.push_back(std::move(out));
    send_or_end(process, reply);
    if (sensitive) reply.wipe();
    release();
    std::lock_guard lock(mutex_);
    --service_threads_;
    changed_.notify_all();
  }).detach();
}

}  // namespace keyhold
