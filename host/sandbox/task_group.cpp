#include "sandbox/task_group.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace keyhold {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

// 0 or the errno of the failed open or write.
int write_file(const std::string& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  const int error = n < 0 ? errno : 0;
  ::close(fd);
  return error;
}

bool has_word(std::string_view list, std::string_view word, char separator) {
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(separator, start);
    if (end == std::string_view::npos) end = list.size();
    if (list.substr(start, end - start) == word) return true;
    start = end + 1;
  }
  return false;
}

// Where new groups go: the host's own cgroup in one hierarchy.
struct Hierarchy {
  std::string version;  // "v2" or "v1"
  std::string base;     // directory of the host's own cgroup
};

// The host's own cgroup directory in the v2 hierarchy and in the v1 pids hierarchy (empty
// when that hierarchy is not mounted here), from /proc/self/cgroup and
// /proc/self/mountinfo.
std::vector<Hierarchy> find_hierarchies() {
  std::string own_v2, own_v1;
  bool has_v2 = false, has_v1 = false;
  if (auto text = read_file("/proc/self/cgroup")) {
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
      const auto first = line.find(':');
      const auto second = first == std::string::npos ? first : line.find(':', first + 1);
      if (second == std::string::npos) continue;
      const std::string_view id(line.data(), first);
      const std::string_view controllers(line.data() + first + 1, second - first - 1);
      const std::string path = line.substr(second + 1);
      if (id == "0" && controllers.empty()) {
        own_v2 = path;
        has_v2 = true;
      } else if (has_word(controllers, "pids", ',')) {
        own_v1 = path;
        has_v1 = true;
      }
    }
  }
  std::vector<Hierarchy> found;
  auto text = read_file("/proc/self/mountinfo");
  if (!text) return found;
  std::istringstream lines(*text);
  std::optional<Hierarchy> v2, v1;
  for (std::string line; std::getline(lines, line);) {
    // id parent major:minor root mount-point options [optional...] - type source super-options
    std::istringstream fields(line);
    std::string id, parent, device, root, mount_point, options, word;
    fields >> id >> parent >> device >> root >> mount_point >> options;
    while (fields >> word && word != "-") {
    }
    std::string type, source, super_options;
    fields >> type >> source >> super_options;
    const bool is_v2 = type == "cgroup2" && has_v2 && !v2;
    const bool is_v1 = type == "cgroup" && has_v1 && !v1 && has_word(super_options, "pids", ',');
    if (!is_v2 && !is_v1) continue;
    const std::string& own = is_v2 ? own_v2 : own_v1;
    // The mount shows the hierarchy from `root` down; the own path is absolute.
    std::string relative;
    if (root == "/")
      relative = own;
    else if (own == root || own.starts_with(root + "/"))
      relative = own.substr(root.size());
    else
      continue;
    Hierarchy h{is_v2 ? "v2" : "v1", mount_point + (relative == "/" ? "" : relative)};
    (is_v2 ? v2 : v1) = std::move(h);
  }
  if (v2) found.push_back(*v2);
  if (v1) found.push_back(*v1);
  return found;
}

// find_hierarchies() once per process: every runner start, mounted server and env child
// asks, and where the host's cgroup is does not change while it serves.
const std::vector<Hierarchy>& hierarchies() {
  static const std::vector<Hierarchy> found = find_hierarchies();
  return found;
}

// Letters, digits, '-' and '_' of an instance name; the rest become '_'.
std::string directory_safe(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 64))
    out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_');
  return out;
}

std::atomic<std::uint64_t> g_counter{0};

// Prepares `h` for child groups with the pids controller; an error says why it cannot.
Status usable(const Hierarchy& h) {
  if (::access(h.base.c_str(), W_OK) != 0)
    return unavailable(h.base + " is not writable (" + std::strerror(errno) + ")");
  if (h.version == "v1") return Status::ok();
  auto subtree = read_file(h.base + "/cgroup.subtree_control");
  if (!subtree) return unavailable(h.base + "/cgroup.subtree_control is unreadable");
  while (!subtree->empty() && std::isspace(static_cast<unsigned char>(subtree->back())))
    subtree->pop_back();
  if (has_word(*subtree, "pids", ' ')) return Status::ok();
  // Enabling it fails while the host's own cgroup holds processes (cgroup v2's "no internal
  // processes" rule) unless it is the root: a delegated subtree enables it beforehand.
  if (int e = write_file(h.base + "/cgroup.subtree_control", "+pids"); e != 0)
    return unavailable("the pids controller is not enabled for children of " + h.base + " (" +
                       std::strerror(e) + ")");
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<TaskGroup>> TaskGroup::create(std::string_view instance,
                                                     std::uint64_t max_tasks) {
  std::string reasons;
  for (const Hierarchy& h : hierarchies()) {
    Status why = usable(h);
    std::string path;
    if (why.is_ok()) {
      path = h.base + "/keyhold-" + std::to_string(::getpid()) + "-" + directory_safe(instance) +
             "-" + std::to_string(++g_counter);
      if (::mkdir(path.c_str(), 0700) != 0)
        why = unavailable("cannot create " + path + " (" + std::strerror(errno) + ")");
    }
    if (why.is_ok()) {
      std::unique_ptr<TaskGroup> group(new TaskGroup(path, h.version, max_tasks));
      const std::string limit = max_tasks == 0 ? "max" : std::to_string(max_tasks);
      const int e = write_file(path + "/pids.max", limit);
      if (e == 0) return group;
      why = unavailable("cannot set " + path + "/pids.max (" + std::strerror(e) + ")");
    }
    if (!reasons.empty()) reasons += "; ";
    reasons += "cgroup " + h.version + ": " + why.message();
  }
  if (reasons.empty()) reasons = "no cgroup v2 or v1 pids hierarchy is mounted";
  return unavailable(reasons);
}

TaskGroup::~TaskGroup() {
  kill_all();
  // The runner (our child) may still be a zombie for a moment; rmdir succeeds once empty.
  for (int i = 0; i < 200 && ::rmdir(path_.c_str()) != 0 && errno == EBUSY; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

Result<int> TaskGroup::open_for_child() const {
  // v1: `tasks`, through which a single-threaded process that writes "0" moves itself
  // without the global lock that cgroup.procs takes (that lock waits for an RCU grace
  // period, 5-20 ms, whenever no migration ran in the last few ms, and every fork on the
  // machine waits behind it). v2 has only cgroup.procs for a whole process.
  const std::string file = path_ + (hierarchy_ == "v1" ? "/tasks" : "/cgroup.procs");
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return unavailable("cannot open " + file + " (" + std::strerror(errno) + ")");
  return fd;
}

TaskGroup::ChildJoin& TaskGroup::ChildJoin::operator=(ChildJoin&& other) noexcept {
  if (this != &other) {
    if (fd >= 0) ::close(fd);
    group = std::move(other.group);
    fd = std::exchange(other.fd, -1);
  }
  return *this;
}

TaskGroup::ChildJoin::~ChildJoin() {
  if (fd >= 0) ::close(fd);
}

TaskGroup::ChildJoin TaskGroup::prepare_child(std::string_view instance, std::uint64_t max_tasks,
                                              std::vector<std::string>& argv) {
  ChildJoin join;
  if (argv.size() < 4 || !argv[1].starts_with("--exec-policy=") || argv[2] != "--") return join;
  auto group = create(instance, max_tasks);
  if (!group.is_ok()) return join;
  auto fd = group.value()->open_for_child();
  if (!fd.is_ok()) return join;
  join.group = std::move(group).value();
  join.fd = fd.value();
  argv.insert(argv.begin() + 2, join_argument(kChildFd));
  return join;
}

std::size_t TaskGroup::size() const {
  auto text = read_file(path_ + "/cgroup.procs");
  if (!text) return 0;
  std::size_t n = 0;
  for (char c : *text) n += c == '\n';
  return n;
}

void TaskGroup::kill_all() const {
  // cgroup v2 (Linux 5.14) kills the whole group in one write; v1 needs a loop, which
  // terminates because pids.max bounds how fast the members can fork.
  if (hierarchy_ == "v2") write_file(path_ + "/cgroup.kill", "1");
  for (int round = 0; round < 400 && signal_all() > 0; ++round)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

std::size_t TaskGroup::signal_all() const {
  auto text = read_file(path_ + "/cgroup.procs");
  if (!text) return 0;
  std::istringstream pids(*text);
  std::size_t signalled = 0;
  for (long pid; pids >> pid;)
    if (pid > 0) {
      ::kill(static_cast<pid_t>(pid), SIGKILL);
      ++signalled;
    }
  return signalled;
}

std::string TaskGroup::describe() const {
  return "pids cgroup " + hierarchy_ + " (" + path_ + "): " +
         (max_tasks_ == 0 ? std::string("no task cap") : std::to_string(max_tasks_) + " tasks") +
         " for the runner and every child, killed as one";
}

void TaskGroup::remove_stale() {
  for (const Hierarchy& h : hierarchies()) {
    DIR* dir = ::opendir(h.base.c_str());
    if (dir == nullptr) continue;
    std::vector<std::string> stale;
    while (dirent* entry = ::readdir(dir)) {
      const std::string_view name = entry->d_name;
      if (!name.starts_with("keyhold-")) continue;
      const long pid = std::strtol(entry->d_name + 8, nullptr, 10);
      if (pid <= 0 || pid == ::getpid()) continue;
      if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // host alive
      stale.push_back(h.base + "/" + std::string(name));
    }
    ::closedir(dir);
    // The destructor kills what is left and removes the directory.
    for (auto& path : stale) {
      TaskGroup group(path, h.version, 0);
    }
  }
}

}  // namespace keyhold
