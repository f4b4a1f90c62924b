// Landlock's filesystem rules, as root (whose file permissions override nothing here: only
// Landlock stands between it and the files) and as nobody.

#include <fcntl.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <optional>

#include "sandboxed_child.hpp"

using namespace keyhold::sandbox;
using namespace keyhold::sandbox::testing;

namespace {

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_name(errno);
  char buffer[64];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  ::close(fd);
  return n < 0 ? errno_name(errno) : std::string(buffer, n);
}

std::string open_outcome(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return errno_name(errno);
  ::close(fd);
  return "ok";
}

struct Tree {
  TempDir root;
  std::string readable = root.make_dir("readable", 0755);
  std::string writable = root.make_dir("writable", 0777);
  std::string secret_dir = root.make_dir("secret", 0755);
  std::string readable_file = root.make_file("readable/r.txt", "public");
  std::string secret_file = root.make_file("secret/s.txt", "secret");
};

Policy tree_policy(const Tree& tree, std::optional<Identity> run_as) {
  Policy policy = base_policy();
  policy.read_paths.push_back(tree.readable);
  policy.write_paths.push_back(tree.writable);
  policy.run_as = run_as;
  return policy;
}

}  // namespace

TEST_CASE("a sandboxed process reads only its read paths", "[sandbox][filesystem]") {
  auto run_as = GENERATE(std::optional<Identity>{}, std::optional<Identity>{kNobody});
  CAPTURE(run_as.has_value());
  Tree tree;
  pid_t parent = ::getpid();
  ChildOutcome child = run_sandboxed(tree_policy(tree, run_as), [&] {
    return "readable: " + read_file(tree.readable_file) +
           "; secret: " + read_file(tree.secret_file) +
           "; secret dir: " + open_outcome(tree.secret_dir, O_RDONLY | O_DIRECTORY) +
           "; parent of both: " + open_outcome(tree.root.path(), O_RDONLY | O_DIRECTORY) +
           "; /etc/shadow: " + read_file("/etc/shadow") + "; own status: " +
           (read_file("/proc/self/status").rfind("Name:", 0) == 0 ? "ok" : "no") +
           "; host environ: " + read_file("/proc/" + std::to_string(parent) + "/environ");
  });
  CHECK(child.exit_code == 0);
  CHECK(child.output ==
        "readable: public; secret: EACCES; secret dir: EACCES; parent of both: EACCES; "
        "/etc/shadow: EACCES; own status: ok; host environ: EACCES");
}

TEST_CASE("a sandboxed process writes only beneath its write paths", "[sandbox][filesystem]") {
  auto run_as = GENERATE(std::optional<Identity>{}, std::optional<Identity>{kNobody});
  CAPTURE(run_as.has_value());
  Tree tree;
  std::string created = tree.writable + "/new.txt";
  std::string link = tree.writable + "/link";
  ChildOutcome child = run_sandboxed(tree_policy(tree, run_as), [&] {
    Transcript t;
    t.add("create in write path", open_outcome(created, O_WRONLY | O_CREAT));
    t.add("write a read path file", open_outcome(tree.readable_file, O_WRONLY));
    t.add("create in read path", open_outcome(tree.readable + "/new.txt", O_WRONLY | O_CREAT));
    t.add("create outside", open_outcome(tree.root.path() + "/new.txt", O_WRONLY | O_CREAT));
    t.add("truncate outside", outcome(::truncate(tree.secret_file.c_str(), 0)));
    t.add("unlink outside", outcome(::unlink(tree.secret_file.c_str())));
    t.add("move out", outcome(::rename(created.c_str(), (tree.readable + "/moved").c_str())));
    t.add("hard link in", outcome(::link(tree.secret_file.c_str(), link.c_str())));
    t.add("symlink in", outcome(::symlink(tree.secret_file.c_str(), link.c_str())));
    t.add("read through symlink", read_file(link));
    t.add("/dev/null", open_outcome("/dev/null", O_WRONLY));
    return t.text();
  });
  CHECK(child.exit_code == 0);
  // Linking a file one does not own is refused first by fs.protected_hardlinks (EPERM); for
  // its owner, Landlock refuses to link across hierarchies (EXDEV).
  std::string hard_link = run_as ? "EPERM" : "EXDEV";
  CHECK(child.output ==
        "create in write path: ok; write a read path file: EACCES; create in read path: EACCES; "
        "create outside: EACCES; truncate outside: EACCES; unlink outside: EACCES; "
        "move out: EACCES; hard link in: " +
            hard_link +
            "; symlink in: ok; "
            "read through symlink: EACCES; /dev/null: ok");
  CHECK(read_file(tree.secret_file) == "secret");
}

TEST_CASE("a path that does not exist fails the policy and names the path",
          "[sandbox][filesystem]") {
  Policy policy = base_policy();
  policy.read_paths.push_back("/nonexistent/keyhold-sandbox");
  ChildOutcome child = run_sandboxed(policy, [] { return std::string("applied"); });
  CHECK(child.output ==
        "apply: sandbox: cannot open read path /nonexistent/keyhold-sandbox: No such file or "
        "directory (every listed path must exist)");
}
