// stdio round-trip driver in C++: spawns one MCP server (the command after `--`), speaks
// raw newline-delimited JSON-RPC over its stdin/stdout and prints one JSON line of figures.
// It replaces the Node driver as the measuring side so that the driver is never the limit:
// run.sh / run_cpp.sh print a floor line (floor_responder.c through this same driver) first.
//
// Measured per run:
//   cold start   spawn -> initialize answered, median of --starts fresh spawns (ms)
//   sequential   --n tools/call one at a time: calls/s and latency p50/p90/p99/max (us),
//                with the driver sleeping in poll(2) until each answer arrives
//   polling      --polled (default --n) more tools/call one at a time, the driver
//                polling for each answer (non-blocking reads, yielding the CPU between
//                tries): latency p50/p90/p99/max without the driver's own wake-up, which
//                on a paravirtualized VM costs about 20-30 us per call for every server
//   pipelined    --n tools/call with --window requests in flight (calls/s)
//   rss          VmHWM of the server and its descendants, read before stdin is closed
//   cpu          utime+stime of the server and its descendants per call, per mode (us)
//   driver busy  the driver's own CPU time / wall time per mode (%)
//
// Responses are parsed minimally: the integer after "id": and a check that the line holds
// "result" and the echoed text. A line without an id is a notification and is counted.
// Exit status: 0 on success, 1 when the server errs, answers wrongly, exits or stalls.
//
// Usage: stdio_driver [--label L] [--n 20000] [--window 64] [--warmup 1000] [--starts 7]
//                     [--polled N]
//                     [--tool echo] [--stall-ms 30000] [--server-stderr FILE] -- CMD ARGS...
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace {

constexpr std::string_view kText = "hello from the keyhold stdio bench";

struct Options {
  std::string label = "server";
  long n = 20000;
  long window = 64;
  long warmup = 1000;
  long starts = 7;
  long polled = -1;  // calls of the polling pass; -1: n
  long stall_ms = 30000;
  std::string tool = "echo";
  std::string server_stderr = "/dev/null";
  std::vector<std::string> command;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "stdio_driver: %s\n", what.c_str());
  std::exit(1);
}

double now_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double self_cpu_us() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The pid and every descendant (through /proc/PID/task/TID/children), so that a server
// that runs its plugin in a separate runner process is charged for all of its work.
std::vector<pid_t> descendants(pid_t root) {
  std::vector<pid_t> out{root};
  for (size_t i = 0; i < out.size(); ++i) {
    std::string task_dir = "/proc/" + std::to_string(out[i]) + "/task";
    DIR* dir = opendir(task_dir.c_str());
    if (dir == nullptr) continue;
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      std::ifstream children(task_dir + "/" + entry->d_name + "/children");
      long child = 0;
      while (children >> child) {
        if (std::find(out.begin(), out.end(), static_cast<pid_t>(child)) == out.end())
          out.push_back(static_cast<pid_t>(child));
      }
    }
    closedir(dir);
  }
  return out;
}

// utime + stime of one process (all its threads), in microseconds; 0 when it is gone.
double process_cpu_us(pid_t pid) {
  std::string stat = read_small_file("/proc/" + std::to_string(pid) + "/stat");
  size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close_paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  // After ")": state is field 3; utime is 14, stime 15.
  for (int index = 3; index <= 15 && (fields >> field); ++index) {
    if (index == 14) utime = std::strtod(field.c_str(), nullptr);
    if (index == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  return (utime + stime) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double tree_cpu_us(pid_t root) {
  double total = 0;
  for (pid_t pid : descendants(root)) total += process_cpu_us(pid);
  return total;
}

// VmHWM (peak RSS) summed over the tree, in KiB.
long tree_hwm_kib(pid_t root) {
  long total = 0;
  for (pid_t pid : descendants(root)) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("VmHWM:", 0) == 0) total += std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return total;
}

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    die(std::string("fcntl: ") + std::strerror(errno));
}

// One spawned server with non-blocking pipes and line framing.
class Server {
 public:
  explicit Server(const Options& options) : options_(options) {
    int in_pipe[2], out_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) die("pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, options.server_stderr.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::vector<char*> argv;
    for (const std::string& arg : options.command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    int rc = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) die("cannot spawn " + options.command[0] + ": " + std::strerror(rc));
    close(in_pipe[0]);
    close(out_pipe[1]);
    to_server_ = in_pipe[1];
    from_server_ = out_pipe[0];
    set_nonblocking(to_server_);
    set_nonblocking(from_server_);
    input_.reserve(1 << 20);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() { finish(); }

  pid_t pid() const { return pid_; }
  long notifications() const { return notifications_; }

  // Queues bytes; they go out on the next pump().
  void queue(std::string_view bytes) { output_.append(bytes); }

  // From now on pump() polls for answers (non-blocking reads, sched_yield between tries)
  // instead of sleeping in poll(2) while it has nothing to write.
  void set_polling(bool polling) { polling_ = polling; }

  // Writes what is queued and reads what is ready, waiting at most until one of the two
  // makes progress. Calls on_response(id) for each answered request.
  template <typename OnResponse>
  void pump(OnResponse&& on_response) {
    // Write first without waiting: the pipe almost always has room, and a poll() before
    // every write would add a system call to each round trip.
    if (output_.size() > out_pos_) flush_some();
    if (polling_ && output_.size() == out_pos_) {
      const double until = now_us() + static_cast<double>(options_.stall_ms) * 1e3;
      while (!read_some(on_response)) {
        if (now_us() > until)
          die(options_.label + ": no output for " + std::to_string(options_.stall_ms) + " ms");
        sched_yield();
      }
      return;
    }
    pollfd fds[2] = {{from_server_, POLLIN, 0},
                     {to_server_, static_cast<short>(output_.size() > out_pos_ ? POLLOUT : 0), 0}};
    int ready = poll(fds, output_.size() > out_pos_ ? 2 : 1, static_cast<int>(options_.stall_ms));
    if (ready < 0) {
      if (errno == EINTR) return;
      die(std::string("poll: ") + std::strerror(errno));
    }
    if (ready == 0)
      die(options_.label + ": no output for " + std::to_string(options_.stall_ms) + " ms");
    if (fds[1].revents & (POLLOUT | POLLERR)) flush_some();
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) read_some(on_response);
  }

  // Closes stdin, waits for the exit (SIGKILL after 5 s) and returns the wait status.
  int finish() {
    if (pid_ <= 0) return 0;
    if (to_server_ >= 0) close(to_server_);
    to_server_ = -1;
    int status = 0;
    double deadline = now_us() + 5e6;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (now_us() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      usleep(1000);
    }
    if (from_server_ >= 0) close(from_server_);
    from_server_ = -1;
    pid_ = -1;
    return status;
  }

 private:
  void flush_some() {
    while (out_pos_ < output_.size()) {
      ssize_t n = write(to_server_, output_.data() + out_pos_, output_.size() - out_pos_);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        die(options_.label + ": write to server failed: " + std::strerror(errno));
      }
      out_pos_ += static_cast<size_t>(n);
    }
    output_.clear();
    out_pos_ = 0;
  }

  // Reads once (the pipe is non-blocking); false when nothing was there.
  template <typename OnResponse>
  bool read_some(OnResponse&& on_response) {
    char chunk[65536];
    ssize_t n = read(from_server_, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return false;
      die(options_.label + ": read from server failed: " + std::strerror(errno));
    }
    if (n == 0) die(options_.label + ": server closed its stdout (exited?)");
    input_.append(chunk, static_cast<size_t>(n));
    size_t start = 0;
    for (;;) {
      const void* nl = std::memchr(input_.data() + start, '\n', input_.size() - start);
      if (nl == nullptr) break;
      size_t end = static_cast<size_t>(static_cast<const char*>(nl) - input_.data());
      handle_line(std::string_view(input_).substr(start, end - start), on_response);
      start = end + 1;
    }
    input_.erase(0, start);
    return true;
  }

  template <typename OnResponse>
  void handle_line(std::string_view line, OnResponse&& on_response) {
    if (line.empty()) return;
    size_t at = line.find("\"id\":");
    if (at == std::string_view::npos) {
      ++notifications_;
      return;
    }
    // A server-to-client request also has an id and a method; the driver answers none.
    if (line.find("\"method\":") != std::string_view::npos &&
        line.find("\"result\"") == std::string_view::npos) {
      ++notifications_;
      return;
    }
    at += 5;
    while (at < line.size() && line[at] == ' ') ++at;
    long id = std::strtol(line.data() + at, nullptr, 10);
    if (line.find("\"result\"") == std::string_view::npos)
      die(options_.label + ": error answer: " + std::string(line.substr(0, 400)));
    on_response(id, line);
  }

  const Options& options_;
  pid_t pid_ = -1;
  int to_server_ = -1;
  int from_server_ = -1;
  std::string output_;
  size_t out_pos_ = 0;
  std::string input_;
  long notifications_ = 0;
  bool polling_ = false;
};

std::string request_call(long id, const std::string& tool) {
  std::string out = "{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(id) +
                    ",\"method\":\"tools/call\",\"params\":{\"name\":\"" + tool +
                    "\",\"arguments\":{\"text\":\"";
  out.append(kText);
  out += "\"}}}\n";
  return out;
}

constexpr std::string_view kInitialize =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
    "\"2025-06-18\","
    "\"capabilities\":{},\"clientInfo\":{\"name\":\"keyhold-stdio-driver\",\"version\":\"1.0.0\"}}}"
    "\n";
constexpr std::string_view kInitialized =
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

// Sends initialize and waits for its answer; returns the time from `spawned` in ms.
double initialize(Server& server, double spawned) {
  server.queue(kInitialize);
  bool answered = false;
  while (!answered)
    server.pump([&](long id, std::string_view) {
      if (id != 0) die("unexpected id before initialize was answered");
      answered = true;
    });
  double ms = (now_us() - spawned) / 1e3;
  server.queue(kInitialized);
  return ms;
}

void check_echo(const Options& options, std::string_view line) {
  if (line.find(kText) == std::string_view::npos)
    die(options.label +
        ": tools/call answer lacks the echoed text: " + std::string(line.substr(0, 400)));
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t index = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

struct ModeFigures {
  double wall_us = 0;
  double server_cpu_us = 0;
  double driver_cpu_us = 0;
};

long parse_long(const char* text, const char* name) {
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 0)
    die(std::string("--") + name + " wants a number, got " + text);
  return value;
}

Options parse_options(int argc, char** argv) {
  Options options;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) die("missing value after " + std::string(arg));
    const char* value = argv[++i];
    if (arg == "--label")
      options.label = value;
    else if (arg == "--n")
      options.n = parse_long(value, "n");
    else if (arg == "--window")
      options.window = std::string_view(value) == "all" ? 0 : parse_long(value, "window");
    else if (arg == "--warmup")
      options.warmup = parse_long(value, "warmup");
    else if (arg == "--polled")
      options.polled = parse_long(value, "polled");
    else if (arg == "--starts")
      options.starts = parse_long(value, "starts");
    else if (arg == "--stall-ms")
      options.stall_ms = parse_long(value, "stall-ms");
    else if (arg == "--tool")
      options.tool = value;
    else if (arg == "--server-stderr")
      options.server_stderr = value;
    else
      die("unknown option " + std::string(arg));
  }
  for (; i < argc; ++i) options.command.emplace_back(argv[i]);
  if (options.command.empty())
    die("usage: stdio_driver [--label L] [--n N] [--window K|all] ... -- CMD ARGS...");
  if (options.n <= 0) die("--n must be positive");
  if (options.window <= 0 || options.window > options.n) options.window = options.n;
  if (options.polled < 0) options.polled = options.n;
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  Options options = parse_options(argc, argv);

  // Cold starts: fresh spawns, each closed right after initialize is answered.
  std::vector<double> cold_ms;
  for (long s = 0; s < options.starts; ++s) {
    double spawned = now_us();
    Server server(options);
    cold_ms.push_back(initialize(server, spawned));
    server.finish();
  }
  std::vector<double> cold_sorted = cold_ms;
  std::sort(cold_sorted.begin(), cold_sorted.end());

  double spawned = now_us();
  Server server(options);
  double first_start_ms = initialize(server, spawned);
  long next_id = 1;

  // Requests are formatted before the clock starts: the driver's cost per call is a write.
  auto one_call = [&](std::vector<double>* latencies) {
    std::string request = request_call(next_id, options.tool);
    long expected = next_id++;
    double sent = now_us();
    server.queue(request);
    bool answered = false;
    while (!answered)
      server.pump([&](long id, std::string_view line) {
        if (id != expected)
          die(options.label + ": answer for id " + std::to_string(id) + ", expected " +
              std::to_string(expected));
        check_echo(options, line);
        answered = true;
      });
    if (latencies != nullptr) latencies->push_back(now_us() - sent);
  };

  for (long i = 0; i < options.warmup; ++i) one_call(nullptr);

  std::vector<double> latencies;
  latencies.reserve(static_cast<size_t>(options.n));
  ModeFigures sequential;
  double cpu0 = tree_cpu_us(server.pid()), self0 = self_cpu_us(), t0 = now_us();
  for (long i = 0; i < options.n; ++i) one_call(&latencies);
  sequential.wall_us = now_us() - t0;
  sequential.server_cpu_us = tree_cpu_us(server.pid()) - cpu0;
  sequential.driver_cpu_us = self_cpu_us() - self0;
  std::sort(latencies.begin(), latencies.end());

  // The same again with the driver polling for each answer.
  std::vector<double> polled;
  polled.reserve(static_cast<size_t>(options.polled));
  server.set_polling(true);
  for (long i = 0; i < options.polled; ++i) one_call(&polled);
  server.set_polling(false);
  std::sort(polled.begin(), polled.end());

  // Pipelined: keep `window` requests in flight; refill in one batch after each read.
  std::vector<std::string> requests;
  requests.reserve(static_cast<size_t>(options.n));
  long first_id = next_id;
  for (long i = 0; i < options.n; ++i) requests.push_back(request_call(next_id++, options.tool));
  ModeFigures pipelined;
  long sent = 0, answered = 0;
  cpu0 = tree_cpu_us(server.pid());
  self0 = self_cpu_us();
  t0 = now_us();
  while (answered < options.n) {
    while (sent < options.n && sent - answered < options.window)
      server.queue(requests[static_cast<size_t>(sent++)]);
    server.pump([&](long id, std::string_view line) {
      if (id < first_id || id >= first_id + options.n)
        die(options.label + ": answer for unknown id " + std::to_string(id));
      check_echo(options, line);
      ++answered;
    });
  }
  pipelined.wall_us = now_us() - t0;
  pipelined.server_cpu_us = tree_cpu_us(server.pid()) - cpu0;
  pipelined.driver_cpu_us = self_cpu_us() - self0;

  long rss_kib = tree_hwm_kib(server.pid());
  size_t tree_size = descendants(server.pid()).size();
  long notifications = server.notifications();
  int status = server.finish();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    std::fprintf(stderr,
                 "stdio_driver: %s: server exit status %d after stdin closed (figures kept)\n",
                 options.label.c_str(), status);

  double n = static_cast<double>(options.n);
  std::printf(
      "{\"label\":\"%s\",\"n\":%ld,\"window\":%ld,\"warmup\":%ld,\"starts\":%ld,\"polled\":%ld,"
      "\"cold_start_ms\":%.2f,\"cold_start_min_ms\":%.2f,\"cold_start_max_ms\":%.2f,\"first_start_"
      "ms\":%.2f,"
      "\"seq_calls_per_s\":%.0f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
      "\"p50_poll_us\":%.1f,\"p90_poll_us\":%.1f,\"p99_poll_us\":%.1f,\"max_poll_us\":%.1f,"
      "\"pipe_calls_per_s\":%.0f,\"rss_mib\":%.2f,\"processes\":%zu,"
      "\"seq_cpu_us_per_call\":%.2f,\"pipe_cpu_us_per_call\":%.2f,"
      "\"seq_driver_busy_pct\":%.0f,\"pipe_driver_busy_pct\":%.0f,\"notifications_per_call\":%.2f}"
      "\n",
      options.label.c_str(), options.n, options.window, options.warmup, options.starts,
      options.polled, percentile(cold_sorted, 0.5), cold_sorted.empty() ? 0 : cold_sorted.front(),
      cold_sorted.empty() ? 0 : cold_sorted.back(), first_start_ms, n / sequential.wall_us * 1e6,
      percentile(latencies, 0.50), percentile(latencies, 0.90), percentile(latencies, 0.99),
      latencies.back(), percentile(polled, 0.50), percentile(polled, 0.90),
      percentile(polled, 0.99), polled.empty() ? 0 : polled.back(), n / pipelined.wall_us * 1e6,
      static_cast<double>(rss_kib) / 1024.0, tree_size, sequential.server_cpu_us / n,
      pipelined.server_cpu_us / n, 100.0 * sequential.driver_cpu_us / sequential.wall_us,
      100.0 * pipelined.driver_cpu_us / pipelined.wall_us,
      static_cast<double>(notifications) /
          (2.0 * n + static_cast<double>(options.polled + options.warmup)));
  return 0;
}
