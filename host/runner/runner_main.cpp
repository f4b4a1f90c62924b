// keyhold-runner: runs one plugin instance in its own sandboxed process. Forked by the
// host's fork server (keyhold-runner --fork-server=3, started once by `keyhold serve`; see
// fork_server() below and loader/fork_server.hpp) with the channel on fd 3, never started
// by a person; --channel-fd=3 runs one directly the same way. To the plugin it is the
// host (the same kh_host_api table); to the host it is a plugin: every service a plugin
// asks for becomes a frame on the channel, answered by the host, which identifies the
// caller by the channel and checks every request itself.
//
// Order: join the instance's pids cgroup (--cgroup-fd=4), read the init frame, apply the sandbox
// (before any plugin code runs and before a second thread exists), load the plugin, report its
// definition, then serve frames.
#include <dirent.h>
#include <fcntl.h>
#include <keyhold/plugin.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <keyhold/sdk/json_write.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "base/brief_poll.hpp"
#include "base/inline_watch.hpp"
#include "loader/abi_strings.hpp"
#include "loader/plugin_library.hpp"
#include "loader/runner_channel.hpp"
#include "runner/child_env.hpp"
#include "runner/fork_protocol.hpp"
#include "runner/sandbox_spec.hpp"
#include "sandbox/sandbox.hpp"

namespace keyhold::runner {
namespace {

using nlohmann::json;

using abi::append_to_string;
using abi::view;
using abi::write_sink;

constexpr int kChannelFd = 3;

// Starts a detached thread running f; false when none can start (the task limit of the
// runner's sandbox: std::thread throws std::system_error), which the caller handles
// instead of the runner ending in std::terminate.
template <class F>
bool start_thread(F f) {
  try {
    std::thread(std::move(f)).detach();
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

// One line to the runner's stderr (the host's log).
void log_line(std::string_view text) {
  std::string line(text);
  line += '\n';
  [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
}

// One call in flight inside the runner; the plugin sees it as an opaque kh_call_ctx*.
struct RunnerCall {
  std::uint64_t id = 0;
  std::atomic<bool> cancelled{false};
  // While the call runs inline its one-way frames (log, progress) wait in the outbox and
  // leave with its reply in one write (guarded by Runner::outbox_mutex_).
  bool buffering = false;
};

class Runner;
Runner* g_runner = nullptr;
// The call this thread runs inline while holding the turn, if any.
thread_local RunnerCall* t_inline = nullptr;

class Runner {
 public:
  explicit Runner(int fd) : channel_(fd) {}

  // Serves the host until it is gone. not_started: why the runner cannot start (the
  // answer to the init frame), or empty.
  int run(const std::string& not_started);

  // ---- services the plugin calls (kh_host_api) ----
  Message service(Message request) {
    // The reply must be read by someone: an inline call gives up the turn first.
    if (t_inline != nullptr) leave_inline(t_inline);
    const std::uint64_t id = next_service_.fetch_add(1) + 1;
    request.type = Type::kService;
    request.id = id;
    auto waiter = std::make_shared<Waiter>();
    {
      std::lock_guard lock(mutex_);
      waiters_[id] = waiter;
    }
    Message reply;
    reply.status = KH_ERROR;
    if (!channel_.send(request)) {
      std::lock_guard lock(mutex_);
      waiters_.erase(id);
      return reply;
    }
    std::unique_lock lock(mutex_);
    waiter->ready.wait(lock, [&] { return waiter->done || host_gone_; });
    waiters_.erase(id);
    if (waiter->done) reply = std::move(waiter->reply);
    return reply;
  }
  void one_way(Message message) {
    message.type = Type::kService;
    message.id = 0;
    if (t_inline != nullptr) {
      std::lock_guard lock(outbox_mutex_);
      if (t_inline->buffering && outbox_.size() < kOutboxBytes &&
          Channel::encode(message, &outbox_))
        return;
      flush_outbox_locked();
    }
    channel_.send(message);
  }
  static std::uint64_t call_id(const kh_call_ctx* ctx) {
    return ctx == nullptr ? 0 : reinterpret_cast<const RunnerCall*>(ctx)->id;
  }

 private:
  struct Waiter {
    std::condition_variable ready;
    bool done = false;
    Message reply;
  };

  bool start(const Message& init);
  void serve_call(Message request, std::shared_ptr<RunnerCall> call);
  void serve_lifecycle(Message request);
  void lifecycle_worker();
  // The loop of every serving thread (the main one included): take the turn to read the
  // channel, handle frames until a call arrives, run the call inline.
  void take_turns(bool may_retire);
  // Frees the turn held by an inline call (it is about to wait, or has run too long): a
  // waiting thread, or a new one, reads on. The call's buffered frames are sent.
  void leave_inline(RunnerCall* call);
  // The standby thread: frees the turn of a call that runs inline longer than kInlineFor.
  void standby();
  // Ends the inline run of the call holding the turn and frees the turn (mutex_ held).
  void free_turn_locked() {
    turn_state_ = Turn::kFree;
    inline_call_.reset();
    watch_.ended();
  }
  // Sends the outbox (outbox_mutex_ held).
  void flush_outbox_locked() {
    if (!outbox_.empty()) channel_.send_encoded(&outbox_);
  }
  // Reads frames until one is a call (true, in *call) or the host is gone (false). Every
  // other frame is handled here at once.
  bool read_until_call(Message* call, std::shared_ptr<RunnerCall>* state);
  // Sends a reply after whatever the outbox holds (so a call's buffered log and progress
  // frames leave before it, in one write). A reply over the frame limit becomes an error
  // the host can show.
  void reply(std::uint64_t id, std::int32_t status, std::string body) {
    std::lock_guard out(outbox_mutex_);
    encode_reply_locked(id, status, std::move(body));
    flush_outbox_locked();
  }
  // Appends a reply to the outbox (outbox_mutex_ held).
  void encode_reply_locked(std::uint64_t id, std::int32_t status, std::string body) {
    Message m;
    m.type = Type::kReply;
    m.id = id;
    m.status = status;
    m.parts.push_back(std::move(body));
    if (!Channel::encode(m, &outbox_)) {
      m.status = KH_ERROR;
      m.parts = {"the result is larger than the " + std::to_string(kMaxFrameBytes >> 20) +
                 " MiB a plugin may return"};
      Channel::encode(m, &outbox_);
    }
  }

  Channel channel_;
  std::shared_ptr<PluginLibrary> library_;
  std::atomic<void*> object_{nullptr};
  std::atomic<std::uint64_t> next_service_{0};

  std::mutex mutex_;
  std::map<std::uint64_t, std::shared_ptr<Waiter>> waiters_;
  std::map<std::uint64_t, std::shared_ptr<RunnerCall>> calls_;
  bool host_gone_ = false;
  // Leader/followers: one thread at a time holds the turn to read the channel. The one
  // that receives a call runs it inline, still holding the turn, so a short call wakes no
  // other thread and its log lines leave with its reply. A call that waits for a host
  // service gives the turn up first; one that runs longer than kInlineFor has it taken
  // away by the standby thread; either way a waiting (or new) thread reads on, so calls
  // run concurrently and a cancellation is seen within about kInlineFor. At most
  // kMaxWaiting threads stay parked for the next turn.
  enum class Turn { kFree, kReading, kInline };
  static constexpr std::size_t kMaxWaiting = 4;
  static constexpr auto kInlineFor = std::chrono::milliseconds(1);
  static constexpr auto kStandbyIdle = std::chrono::milliseconds(200);  // see InlineWatch
  static constexpr std::size_t kOutboxBytes = 256 * 1024;
  std::condition_variable turn_;
  Turn turn_state_ = Turn::kFree;
  std::shared_ptr<RunnerCall> inline_call_;  // the call holding the turn (kInline)
  // Calls read since the reader last found the channel empty (read_until_call; only the
  // thread holding the reading turn touches it).
  std::size_t calls_since_wait_ = 0;
  std::size_t waiting_ = 0;
  InlineWatch watch_{kInlineFor, kStandbyIdle};  // under mutex_
  bool standby_started_ = false;
  std::mutex outbox_mutex_;  // after mutex_ when both are taken
  std::string outbox_;
  // create, describe and destroy run one at a time on their own thread, never on the
  // thread that reads the channel: a plugin may call a host service that answers (a secret
  // acquire in create, a database connection in describe) and its reply must be read.
  std::deque<Message> lifecycle_queue_;
  std::condition_variable lifecycle_queued_;
  bool lifecycle_started_ = false;
};

// ---- the kh_host_api of the runner: each function becomes one frame ----

void api_log(kh_host*, const kh_call_ctx* ctx, int32_t level, kh_str message) {
  Message m;
  m.service = Service::kLog;
  m.call = Runner::call_id(ctx);
  m.status = level;
  m.parts.emplace_back(view(message));
  g_runner->one_way(std::move(m));
}
void api_progress(kh_host*, const kh_call_ctx* ctx, double progress, double total, kh_str message) {
  if (ctx == nullptr) return;
  Message m;
  m.service = Service::kProgress;
  m.call = Runner::call_id(ctx);
  m.x = progress;
  m.y = total;
  m.parts.emplace_back(view(message));
  g_runner->one_way(std::move(m));
}
int32_t api_is_cancelled(kh_host*, const kh_call_ctx* ctx) {
  return ctx != nullptr && reinterpret_cast<const RunnerCall*>(ctx)->cancelled.load() ? 1 : 0;
}
void api_notify_list_changed(kh_host*, int32_t what) {
  Message m;
  m.service = Service::kListChanged;
  m.status = what;
  g_runner->one_way(std::move(m));
}
void api_notify_resource_updated(kh_host*, kh_str uri) {
  Message m;
  m.service = Service::kResourceUpdated;
  m.parts.emplace_back(view(uri));
  g_runner->one_way(std::move(m));
}
int32_t api_client_request(kh_host*, const kh_call_ctx* ctx, kh_str method, kh_str params,
                           kh_sink* result) {
  Message m;
  m.service = Service::kClientRequest;
  m.call = Runner::call_id(ctx);
  m.parts = {std::string(view(method)), std::string(view(params))};
  Message r = g_runner->service(std::move(m));
  write_sink(result, r.part(0));
  return r.status;
}
int32_t api_secret_acquire(kh_host*, const kh_call_ctx* ctx, kh_str alias, kh_secret_handle* out) {
  if (out == nullptr) return KH_INVALID_ARGUMENT;
  Message m;
  m.service = Service::kSecretAcquire;
  m.call = Runner::call_id(ctx);
  m.parts.emplace_back(view(alias));
  Message r = g_runner->service(std::move(m));
  *out = kh_secret_handle{r.a, r.b};
  return r.status;
}
int32_t api_secret_release(kh_host*, kh_secret_handle handle) {
  Message m;
  m.service = Service::kSecretRelease;
  m.a = handle.hi;
  m.b = handle.lo;
  return g_runner->service(std::move(m)).status;
}
int32_t api_secret_reveal(kh_host*, const kh_call_ctx* ctx, kh_secret_handle handle,
                          kh_reveal_fn use, void* user) {
  Message m;
  m.service = Service::kSecretReveal;
  m.call = Runner::call_id(ctx);
  m.a = handle.hi;
  m.b = handle.lo;
  Message r = g_runner->service(std::move(m));
  if (r.status == KH_OK && use != nullptr) {
    const std::string& value = r.part(0);
    use(user, reinterpret_cast<const unsigned char*>(value.data()), value.size());
  }
  r.wipe();
  return r.status;
}
int32_t api_secret_sign(kh_host*, const kh_call_ctx* ctx, kh_secret_handle handle, kh_str algorithm,
                        kh_str data, kh_sink* out) {
  Message m;
  m.service = Service::kSecretSign;
  m.call = Runner::call_id(ctx);
  m.a = handle.hi;
  m.b = handle.lo;
  m.parts = {std::string(view(algorithm)), std::string(view(data))};
  Message r = g_runner->service(std::move(m));
  write_sink(out, r.part(0));
  r.wipe();
  return r.status;
}
int32_t api_process_spawn(kh_host*, const kh_call_ctx* ctx, kh_str spec, uint64_t* out,
                          kh_sink* error) {
  Message m;
  m.service = Service::kProcessSpawn;
  m.call = Runner::call_id(ctx);
  m.parts.emplace_back(view(spec));
  Message r = g_runner->service(std::move(m));
  if (out != nullptr) *out = r.a;
  write_sink(error, r.part(0));
  return r.status;
}
int32_t api_process_read(kh_host*, uint64_t process, int32_t stream, int32_t timeout_ms,
                         kh_sink* out) {
  Message m;
  m.service = Service::kProcessRead;
  m.a = process;
  m.b = static_cast<std::uint64_t>(static_cast<std::uint32_t>(stream));
  m.status = timeout_ms;
  Message r = g_runner->service(std::move(m));
  write_sink(out, r.part(0));
  return r.status;
}
int32_t api_process_wait(kh_host*, uint64_t process, int32_t timeout_ms, int32_t* exit_status) {
  Message m;
  m.service = Service::kProcessWait;
  m.a = process;
  m.status = timeout_ms;
  Message r = g_runner->service(std::move(m));
  if (exit_status != nullptr) *exit_status = static_cast<int32_t>(r.a);
  return r.status;
}
int32_t api_process_kill(kh_host*, uint64_t process, int32_t signal_number) {
  Message m;
  m.service = Service::kProcessKill;
  m.a = process;
  m.status = signal_number;
  return g_runner->service(std::move(m)).status;
}

const kh_host_api kRunnerApi = {
    sizeof(kh_host_api),
    KH_ABI_MAJOR,
    KH_ABI_MINOR,
    &api_log,
    &api_progress,
    &api_is_cancelled,
    &api_notify_list_changed,
    &api_notify_resource_updated,
    &api_client_request,
    &api_secret_acquire,
    &api_secret_release,
    &api_secret_reveal,
    &api_secret_sign,
    &api_process_spawn,
    &api_process_read,
    &api_process_wait,
    &api_process_kill,
};

sandbox::Policy policy_from(const json& spec, const std::string& plugin_path) {
  sandbox::Policy policy = policy_from_spec(spec);
  policy.keep_fds = {0, 1, 2, kChannelFd};
  std::vector<std::string> read = sandbox::default_read_paths();
  read.push_back(plugin_path);
  policy.read_paths.insert(policy.read_paths.begin(), read.begin(), read.end());
  std::vector<std::string> write = sandbox::default_write_paths();
  policy.write_paths.insert(policy.write_paths.begin(), write.begin(), write.end());
  return policy;
}

bool Runner::start(const Message& init) {
  json spec = json::parse(init.part(0), nullptr, false);
  if (!spec.is_object() || !spec.contains("plugin") || !spec["plugin"].is_string()) {
    Message m;
    m.type = Type::kFatal;
    m.parts.emplace_back("the init frame is malformed");
    channel_.send(m);
    return false;
  }
  const std::string plugin_path = spec["plugin"].get<std::string>();
  sandbox::Report report;
  if (spec.value("sandbox", true)) {
    const sandbox::Status status =
        sandbox::apply(policy_from(spec.value("policy", json::object()), plugin_path), &report);
    if (!status.ok()) {
      Message m;
      m.type = Type::kFatal;
      m.parts.push_back("sandbox: " + status.message());
      channel_.send(m);
      return false;
    }
  }
  auto library = PluginLibrary::load(plugin_path);
  if (!library.is_ok()) {
    Message m;
    m.type = Type::kFatal;
    m.parts.push_back(library.status().message());
    channel_.send(m);
    return false;
  }
  library_ = std::move(library).value();
  const kh_plugin& d = library_->definition();
  json secrets = json::array();
  for (uint32_t i = 0; i < d.secret_count; ++i)
    secrets.push_back({{"alias", d.secrets[i].alias ? d.secrets[i].alias : ""},
                       {"description", d.secrets[i].description ? d.secrets[i].description : ""},
                       {"operations", d.secrets[i].operations}});
  json definition{{"abi_major", d.abi_major},
                  {"abi_minor", d.abi_minor},
                  {"name", d.name ? d.name : ""},
                  {"version", d.version ? d.version : ""},
                  {"description", d.description ? d.description : ""},
                  {"secrets", std::move(secrets)},
                  {"applied", report.applied},
                  {"missing", report.missing}};
  Message m;
  m.type = Type::kDefinition;
  m.parts.push_back(sdk::json_text(definition));
  return channel_.send(m);
}

void Runner::take_turns(bool may_retire) {
  std::unique_lock lock(mutex_);
  for (;;) {
    ++waiting_;
    turn_.wait(lock, [&] { return turn_state_ == Turn::kFree || host_gone_; });
    --waiting_;
    if (host_gone_) return;
    turn_state_ = Turn::kReading;
    lock.unlock();
    Message call;
    std::shared_ptr<RunnerCall> state;
    const bool got = read_until_call(&call, &state);
    lock.lock();
    if (!got) {
      // The host went away (or broke the protocol): nothing more can be answered.
      host_gone_ = true;
      for (auto& [id, c] : calls_) c->cancelled = true;
      for (auto& [id, waiter] : waiters_) waiter->ready.notify_all();
      turn_.notify_all();
      watch_.wake_all();
      lifecycle_queued_.notify_all();
      ::_exit(0);
    }
    turn_state_ = Turn::kInline;
    inline_call_ = state;
    const bool wake_standby = watch_.started();
    const bool start_standby = !standby_started_;
    standby_started_ = true;
    lock.unlock();
    if (start_standby) {
      if (!start_thread([this] { standby(); })) {
        lock.lock();
        standby_started_ = false;  // tried again with the next call
        lock.unlock();
      }
    } else if (wake_standby) {
      watch_.wake();
    }
    {
      std::lock_guard out(outbox_mutex_);
      state->buffering = true;
    }
    t_inline = state.get();
    serve_call(std::move(call), state);
    t_inline = nullptr;
    lock.lock();
    if (turn_state_ == Turn::kInline && inline_call_ == state) {
      // Still ours: the turn goes on with this thread (the loop takes it, no wake-up).
      free_turn_locked();
      continue;
    }
    if (may_retire && waiting_ >= kMaxWaiting) return;
  }
}

void Runner::leave_inline(RunnerCall* call) {
  bool start_reader = false;
  {
    std::lock_guard lock(mutex_);
    if (turn_state_ == Turn::kInline && inline_call_.get() == call) {
      free_turn_locked();
      start_reader = waiting_ == 0;
      if (!start_reader) turn_.notify_one();
    }
  }
  // Past the runner's task limit (max_processes) no thread starts: the turn stays free, and
  // the next call is read by the thread of whichever call ends first.
  if (start_reader && !start_thread([this] { take_turns(true); }))
    log_line(
        "keyhold-runner: no thread for another call at once (task limit); the next call "
        "waits for one to end");
  std::lock_guard out(outbox_mutex_);
  call->buffering = false;
  flush_outbox_locked();
}

void Runner::standby() {
  std::unique_lock lock(mutex_);
  watch_.run(
      lock, [&] { return host_gone_; }, [&] { return turn_state_ == Turn::kInline; },
      [&](std::unique_lock<std::mutex>& held) {
        const std::shared_ptr<RunnerCall> call = inline_call_;
        held.unlock();
        leave_inline(call.get());
        held.lock();
      });
}

void Runner::serve_call(Message request, std::shared_ptr<RunnerCall> call) {
  std::string body;
  kh_sink sink{&body, &append_to_string};
  const std::string& method = request.part(0);
  const std::string& params = request.part(1);
  const int32_t status = library_->definition().call(
      object_, reinterpret_cast<const kh_call_ctx*>(call.get()),
      kh_str{method.data(), method.size()}, kh_str{params.data(), params.size()}, &sink);
  bool queued = false;  // in the outbox, but over kOutboxBytes: send it now
  {
    std::lock_guard lock(mutex_);
    calls_.erase(request.id);
    std::lock_guard out(outbox_mutex_);
    call->buffering = false;
    // While this thread still holds the turn and more calls wait whole in the channel's
    // buffer, the reply waits in the outbox and leaves with theirs in one write (the host
    // then reads several replies per read(2) and wakes fewer threads). Decided and queued
    // under mutex_: the turn cannot change hands in between, and whoever next frees it
    // (leave_inline) or reads with nothing buffered (read_until_call) sends the outbox.
    // A large reply is not held (nor encoded under mutex_): it fills a write by itself.
    const bool ours = turn_state_ == Turn::kInline && inline_call_ == call;
    if (ours && body.size() < kOutboxBytes && channel_.frame_buffered()) {
      encode_reply_locked(request.id, status, std::move(body));
      if (outbox_.size() < kOutboxBytes) return;
      queued = true;
    }
  }
  if (!queued) return reply(request.id, status, std::move(body));
  std::lock_guard out(outbox_mutex_);
  flush_outbox_locked();
}

void Runner::lifecycle_worker() {
  std::unique_lock lock(mutex_);
  for (;;) {
    lifecycle_queued_.wait(lock, [&] { return !lifecycle_queue_.empty() || host_gone_; });
    if (lifecycle_queue_.empty()) return;
    Message request = std::move(lifecycle_queue_.front());
    lifecycle_queue_.pop_front();
    lock.unlock();
    serve_lifecycle(std::move(request));
    lock.lock();
  }
}

void Runner::serve_lifecycle(Message m) {
  // The plugin's kh_host*: an address it may pass back, never read (the channel identifies us).
  static char host_token;
  switch (m.type) {
    case Type::kCreate: {
      std::string message;
      kh_sink sink{&message, &append_to_string};
      void* object = nullptr;
      const std::string& name = m.part(0);
      const std::string& options = m.part(1);
      int32_t status = library_->definition().create(
          reinterpret_cast<kh_host*>(&host_token), &kRunnerApi, kh_str{name.data(), name.size()},
          kh_str{options.data(), options.size()}, &object, &sink);
      if (status == KH_OK && object == nullptr) status = KH_ERROR;
      if (status == KH_OK) object_ = object;
      reply(m.id, status, std::move(message));
      break;
    }
    case Type::kDescribe: {
      std::string body;
      kh_sink sink{&body, &append_to_string};
      const int32_t status = object_ ? library_->definition().describe(object_, &sink) : KH_ERROR;
      reply(m.id, status, std::move(body));
      break;
    }
    case Type::kDestroy: {
      if (object_ != nullptr) library_->definition().destroy(object_);
      object_ = nullptr;
      reply(m.id, KH_OK, "");
      ::_exit(0);
    }
    default:
      break;
  }
}

bool Runner::read_until_call(Message* call, std::shared_ptr<RunnerCall>* state) {
  Message m;
  for (;;) {
    if (!channel_.frame_buffered()) {
      {
        // About to wait for the host: replies held for a batch (serve_call) leave first.
        std::lock_guard out(outbox_mutex_);
        flush_outbox_locked();
      }
      // Polled after a lone call, or while a call waits for a host service's reply. Not
      // after a batch of calls (a pipelining host, where polling takes CPU the host needs
      // and saves no wake-up), nor between lifecycle frames (ten runners starting at once
      // would poll against each other).
      bool poll = calls_since_wait_ == 1;
      if (!poll) {
        std::lock_guard lock(mutex_);
        poll = !waiters_.empty();
      }
      calls_since_wait_ = 0;
      if (poll && !channel_.buffered()) {
        pollfd host{channel_.fd(), POLLIN, 0};
        poll_briefly(&host, 1);  // see base/brief_poll.hpp
      }
    }
    if (!channel_.receive(&m).is_ok()) break;
    switch (m.type) {
      case Type::kCreate:
      case Type::kDescribe:
      case Type::kDestroy: {
        std::lock_guard lock(mutex_);
        lifecycle_queue_.push_back(std::move(m));
        m = Message();
        if (!lifecycle_started_)  // else tried again with the next lifecycle frame
          lifecycle_started_ = start_thread([this] { lifecycle_worker(); });
        lifecycle_queued_.notify_one();
        break;
      }
      case Type::kCall: {
        if (object_ == nullptr) {
          reply(m.id, KH_ERROR, "the instance was not created");
          break;
        }
        std::lock_guard lock(mutex_);
        auto c = std::make_shared<RunnerCall>();
        c->id = m.id;
        calls_[m.id] = c;
        *state = std::move(c);
        *call = std::move(m);
        ++calls_since_wait_;
        return true;
      }
      case Type::kCancel: {
        std::lock_guard lock(mutex_);
        if (auto it = calls_.find(m.id); it != calls_.end()) it->second->cancelled = true;
        break;
      }
      case Type::kServiceReply: {
        std::lock_guard lock(mutex_);
        if (auto it = waiters_.find(m.id); it != waiters_.end()) {
          it->second->reply = std::move(m);
          it->second->done = true;
          it->second->ready.notify_all();
          m = Message();
        }
        break;
      }
      default:
        return false;  // a frame only a runner sends: the host is confused; stop
    }
  }
  return false;
}

int Runner::run(const std::string& not_started) {
  Message init;
  if (!channel_.receive(&init).is_ok() || init.type != Type::kInit) return 2;
  if (!not_started.empty()) {
    Message m;
    m.type = Type::kFatal;
    m.parts.push_back(not_started);
    channel_.send(m);
    return 3;
  }
  if (!start(init)) return 3;
  take_turns(false);  // returns only when the host is gone, which ends the process
  ::_exit(0);
}

}  // namespace
}  // namespace keyhold::runner

namespace keyhold::runner {
namespace {
// Joins the instance's pids cgroup through `fd` (TaskGroup::open_for_child) and closes it;
// an empty string, or why not. Called first thing in main: the write moves only the
// calling thread (a v1 `tasks` file), so it refuses when a second thread exists.
std::string join_task_group(int fd) {
  std::size_t threads = 0;
  if (DIR* tasks = ::opendir("/proc/self/task")) {
    while (const dirent* entry = ::readdir(tasks)) threads += entry->d_name[0] != '.';
    ::closedir(tasks);
  }
  if (threads != 1) return "the runner has " + std::to_string(threads) + " threads, not 1";
  ssize_t n;
  do {
    n = ::write(fd, "0", 1);
  } while (n < 0 && errno == EINTR);
  const int error = errno;
  ::close(fd);
  return n == 1 ? std::string() : std::strerror(error);
}

// `keyhold-runner --exec-policy=JSON -- PROGRAM ARGS...`: how the host starts a child
// process of an isolated instance (the env service): the child gets the instance's
// sandbox (plus read access to the system's programs) before PROGRAM runs.
// cgroup_fd >= 0: the cgroup.procs of the instance's pids cgroup (sandbox/task_group.hpp),
// joined first, so the program and all it starts are inside it from their first
// instruction; failing to join is fatal (the host made the group to rely on it).
int exec_sandboxed(const std::string& policy_json, int cgroup_fd, char** argv) {
  if (cgroup_fd >= 0) {
    if (const std::string why = join_task_group(cgroup_fd); !why.empty()) {
      const std::string line = "keyhold-runner: cannot join the pids cgroup: " + why + "\n";
      [[maybe_unused]] auto w = ::write(2, line.data(), line.size());
      return 126;
    }
  }
  json spec = json::parse(policy_json, nullptr, false);
  if (!spec.is_object()) return 126;
  sandbox::Policy policy = policy_from(spec, "/usr/bin");
  policy.keep_fds = {0, 1, 2};
  // Runtimes such as Node reserve gigabytes of address space: RLIMIT_AS is not applied to
  // children (see the README's security model).
  policy.memory_bytes = 0;
  for (const char* dir :
       {"/bin", "/usr/local/bin", "/usr/sbin", "/sbin", "/usr/libexec", "/usr/share", "/etc"})
    if (::access(dir, F_OK) == 0) policy.read_paths.push_back(dir);
  sandbox::Report report;
  const sandbox::Status status = sandbox::apply(policy, &report);
  if (!status.ok()) {
    const std::string line = "keyhold-runner: cannot sandbox the child: " + status.message() + "\n";
    [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
    return 126;
  }
  // The program's environment is exactly the variables the host passed under the prefix
  // (runner/child_env.hpp); anything else in this process's environment is dropped. PATH
  // among them is the one execvp searches.
  // A name given twice keeps its first value, as getenv() reads an execve environment: the
  // host's own variables come first (a plugin cannot replace HOME for a child with secrets).
  std::vector<std::string> env;
  std::set<std::string_view> names;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    if (std::string_view entry(*e); entry.starts_with(kChildEnvPrefix)) {
      entry.remove_prefix(kChildEnvPrefix.size());
      if (names.insert(entry.substr(0, entry.find('='))).second) env.emplace_back(entry);
    }
  ::clearenv();
  for (auto& entry : env) ::putenv(entry.data());
  ::execvp(argv[0], argv);
  const std::string line =
      std::string("keyhold-runner: cannot run ") + argv[0] + ": " + std::strerror(errno) + "\n";
  [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
  return 127;
}

// A runner from here on: channel on fd 3, log on 1 and 2, the cgroup join descriptor on 4
// when `joins`. `parent`: the fork server that forked it (0: started by the host itself).
int serve(bool joins, pid_t parent) {
  // Into the instance's pids cgroup before anything else: nothing the plugin starts is
  // ever outside it. A failure is told to the host with the init frame's answer.
  std::string not_joined;
  if (joins) {
    not_joined = join_task_group(4);
    if (!not_joined.empty()) not_joined = "cannot join the instance's pids cgroup: " + not_joined;
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the host (or the fork server)
  // The parent died before the line above.
  if (parent != 0 ? ::getppid() != parent : ::getppid() == 1) return 2;
  std::signal(SIGPIPE, SIG_IGN);
  Runner runner(kChannelFd);
  g_runner = &runner;
  return runner.run(not_joined);
}

// A forked runner would share the fork server's stack-protector canary with every
// sibling: a hostile plugin would know the others'. A new random one, in this thread's TCB
// (x86-64 glibc keeps it at %fs:0x28; threads started later copy it). Safe only where no
// frame set up before it ever returns: become_runner() never returns, nor its callers.
// (The layout of the runner binary and the system libraries stays shared: README,
// "Security model".)
void fresh_stack_canary() {
#if defined(__x86_64__) && defined(__GLIBC__)
  std::uint64_t canary = 0;
  if (::getrandom(&canary, sizeof canary, 0) != static_cast<ssize_t>(sizeof canary)) ::_exit(2);
  canary &= ~std::uint64_t{0xff};  // glibc's form: a zero low byte stops string overreads
  asm volatile("movq %0, %%fs:0x28" : : "r"(canary) : "memory");
#endif
}

// The child side of a kForkSpawn: the received descriptors become 3 (channel), 1 and 2
// (log) and 4 (cgroup join, or nothing), everything else of the fork server is closed
// (its socket, its signalfd), and the child serves as a runner. Never returns.
[[noreturn]] void become_runner(const int* fds, int count, pid_t parent, char* mode) {
  fresh_stack_canary();
  ::setpgid(0, 0);  // its own process group (the fork server sets it too: no race)
  // What ps shows: a runner, as an exec'd one would be (the fork server's own argument is
  // the longer of the two, so this overwrites it in place).
  constexpr std::string_view kRunnerArg = "--channel-fd=3";
  std::memset(mode, 0, std::strlen(mode));
  std::memcpy(mode, kRunnerArg.data(), kRunnerArg.size());
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the fork server blocks SIGCHLD
  // Above every target first, so no dup2 below overwrites a descriptor still to move.
  int moved[kForkMaxFds];
  for (int i = 0; i < count; ++i) moved[i] = ::fcntl(fds[i], F_DUPFD, 10);
  for (int i = 0; i < count; ++i)
    if (moved[i] < 0) ::_exit(2);
  if (::dup2(moved[1], 1) < 0 || ::dup2(moved[1], 2) < 0 || ::dup2(moved[0], kChannelFd) < 0)
    ::_exit(2);
  if (count == 3 ? ::dup2(moved[2], 4) < 0 : (::close(4), false)) ::_exit(2);
  // Beyond 0-4 the fork server holds only what it received: each closed by name (a failed
  // close ends the child), then close_range for anything else (it may be missing).
  for (int i = 0; i < count; ++i)
    for (int fd : {fds[i], moved[i]})
      if (fd > 4 && ::close(fd) != 0 && errno != EINTR) ::_exit(2);
  ::close_range(5, ~0U, 0);
  const int status = serve(count == 3, parent);
  std::fflush(nullptr);  // what the plugin printed before a failed start
  ::_exit(status);
}

// keyhold-runner --fork-server=3: forks a runner for each kForkSpawn the host sends on
// `control` (runner/fork_protocol.hpp), reaps them and reports how each ended. `mode`:
// its own argv[1], which each child rewrites to what an exec'd runner's is. One
// exec of this program then serves every runner the host starts: a fork of this small,
// single-threaded process costs a tenth of an exec and its dynamic loading. It holds no
// secret and runs no plugin code; it ends when the host closes the socket or dies.
int fork_server(int control, char* mode) {
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t child;
  sigemptyset(&child);
  sigaddset(&child, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &child, nullptr);
  const int reaped = ::signalfd(-1, &child, SFD_CLOEXEC | SFD_NONBLOCK);
  if (reaped < 0) return 2;
  const pid_t self = ::getpid();
  auto send = [&](const ForkMessage& m) {
    while (::send(control, &m, sizeof m, MSG_NOSIGNAL) < 0)
      if (errno != EINTR) return false;
    return true;
  };
  std::set<pid_t> running, reported;  // reported: ended, told, not yet reaped
  for (;;) {
    pollfd ready[2] = {{control, POLLIN, 0}, {reaped, POLLIN, 0}};
    if (::poll(ready, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 2;
    }
    if (ready[1].revents != 0) {
      signalfd_siginfo drained;
      while (::read(reaped, &drained, sizeof drained) > 0) {
      }
      // Told, not reaped (WNOWAIT): the zombie keeps its pid from reuse until kForkReap.
      for (auto it = running.begin(); it != running.end();) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(*it), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
            info.si_pid != *it) {
          ++it;
          continue;
        }
        const int status = info.si_code == CLD_EXITED   ? (info.si_status & 0xff) << 8
                           : info.si_code == CLD_DUMPED ? (info.si_status & 0x7f) | 0x80
                                                        : info.si_status & 0x7f;
        if (!send({kForkExited, *it, status, 0})) return 0;
        reported.insert(*it);
        it = running.erase(it);
      }
    }
    if (ready[0].revents == 0) continue;
    ForkMessage request;
    alignas(cmsghdr) char space[CMSG_SPACE(sizeof(int) * kForkMaxFds)];
    iovec part{&request, sizeof request};
    msghdr header{};
    header.msg_iov = &part;
    header.msg_iovlen = 1;
    header.msg_control = space;
    header.msg_controllen = sizeof space;
    const ssize_t got = ::recvmsg(control, &header, MSG_CMSG_CLOEXEC);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return 0;  // the host closed its end, or is gone
    int fds[kForkMaxFds];
    int count = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(&header, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const int n = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int i = 0; i < n; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (count < kForkMaxFds)
          fds[count++] = fd;
        else
          ::close(fd);
      }
    }
    const bool whole =
        got == static_cast<ssize_t>(sizeof request) && (header.msg_flags & MSG_CTRUNC) == 0;
    if (whole && request.kind == kForkReap) {  // no reply
      for (int i = 0; i < count; ++i) ::close(fds[i]);
      if (reported.erase(request.pid) == 1) {
        int status = 0;
        ::waitpid(request.pid, &status, WNOHANG);
      }
      continue;
    }
    if (!whole || request.kind != kForkSpawn) {  // nothing the host sends: no reply
      for (int i = 0; i < count; ++i) ::close(fds[i]);
      continue;
    }
    const bool spawn = count == (request.status == 1 ? 3 : 2);
    pid_t pid = spawn ? ::fork() : -1;
    const int error = spawn ? errno : EINVAL;
    if (pid == 0) become_runner(fds, count, self, mode);
    if (pid > 0) {
      ::setpgid(pid, pid);
      running.insert(pid);
    }
    for (int i = 0; i < count; ++i) ::close(fds[i]);
    if (!send({kForkSpawned, pid > 0 ? pid : -error, 0, request.sequence})) return 0;
  }
}
}  // namespace
}  // namespace keyhold::runner

int main(int argc, char** argv) {
  // keyhold-runner --exec-policy=JSON [--cgroup-fd=N] -- PROGRAM ARGS...
  constexpr std::string_view kExec = "--exec-policy=", kCgroup = "--cgroup-fd=";
  if (argc >= 4 && std::string_view(argv[1]).starts_with(kExec)) {
    int next = 2, cgroup_fd = -1;
    if (std::string_view(argv[2]).starts_with(kCgroup)) {
      cgroup_fd = std::atoi(argv[2] + kCgroup.size());
      if (cgroup_fd < 3) return 2;
      next = 3;
    }
    if (next < argc - 1 && std::string_view(argv[next]) == "--")
      return keyhold::runner::exec_sandboxed(std::string(argv[1] + kExec.size()), cgroup_fd,
                                             argv + next + 1);
  }
  // keyhold-runner --fork-server=3: started once by the host; forks every runner.
  if (argc == 2 && std::string_view(argv[1]) == "--fork-server=3") {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the host
    if (::getppid() == 1) return 2;      // the host died before the line above
    // No ptrace attach, no /proc/<pid>/mem, for anyone but root (its runners inherit it
    // until their sandbox sets it again).
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    return keyhold::runner::fork_server(3, argv[1]);
  }
  // keyhold-runner --channel-fd=3 [--cgroup-fd=4]. Started by the host only: a person
  // running it sees what it is for.
  const bool joins = argc == 3 && std::string_view(argv[2]) == "--cgroup-fd=4";
  if ((argc != 2 && !joins) || std::string_view(argv[1]) != "--channel-fd=3") {
    const char* usage =
        "keyhold-runner runs one keyhold plugin in a sandbox; `keyhold serve` starts it.\n";
    [[maybe_unused]] auto n = ::write(2, usage, std::strlen(usage));
    return 2;
  }
  return keyhold::runner::serve(joins, 0);
}
