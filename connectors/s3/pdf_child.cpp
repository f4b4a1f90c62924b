#include "pdf_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

namespace keyhold::s3 {
namespace {

// Under AddressSanitizer (KEYHOLD_SANITIZE; GCC, the Debian toolchain, defines this) any
// RLIMIT_AS makes its next shadow-memory mmap fail and abort the child.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif

// Records on the pipe: one tag byte, a 4-byte length, the payload.
//   'O' "<total> <first>"  the document opened
//   'P' text               one page
//   'E' message            PdfError
//   'M' ""                 out of memory (std::bad_alloc)
void write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(4);  // the parent is gone or stopped reading
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void send_record(int fd, char tag, std::string_view payload) {
  const auto size = static_cast<std::uint32_t>(payload.size());
  char header[5] = {tag};
  std::memcpy(header + 1, &size, 4);
  write_all(fd, header, 5);
  write_all(fd, payload.data(), payload.size());
}

// The process's current address space in bytes (/proc/self/statm, first field in pages).
std::uint64_t address_space_in_use() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long pages = 0;
  if (std::fscanf(f, "%llu", &pages) != 1) pages = 0;
  std::fclose(f);
  return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

[[noreturn]] void run_child(int fd, std::string_view bytes, int first_page, int max_pages,
                            const PdfBudget& budget) {
  // Nothing but the pipe: not the runner's channel to the host, not a connection.
  if (fd > 3) ::close_range(3, static_cast<unsigned>(fd) - 1, 0);
  ::close_range(static_cast<unsigned>(fd) + 1, ~0U, 0);
  // SIGXCPU at the soft limit ends the child; the hard limit (one second later) is the
  // kernel's SIGKILL should the first be ignored.
  const rlim_t cpu = static_cast<rlim_t>(budget.cpu_seconds);
  const rlimit cpu_limit{cpu, cpu + 1};
  ::setrlimit(RLIMIT_CPU, &cpu_limit);
  if (!kAddressSanitizer) {
    // RLIMIT_AS counts what the child inherited (the runner's libraries, thread stacks,
    // malloc arenas) too: the budget is on top of that.
    const rlim_t limit = static_cast<rlim_t>(address_space_in_use() + budget.memory_bytes);
    const rlimit memory_limit{limit, limit};
    ::setrlimit(RLIMIT_AS, &memory_limit);
  }
  int code = 0;
  try {
    extract_pdf_text(
        bytes, first_page, max_pages,
        [&](int total, int first) {
          send_record(fd, 'O', std::to_string(total) + " " + std::to_string(first));
        },
        [&](std::string text) { send_record(fd, 'P', text); });
  } catch (const PdfError& e) {
    send_record(fd, 'E', e.what());
  } catch (const std::bad_alloc&) {
    send_record(fd, 'M', "");
  } catch (...) {
    code = 3;
  }
  ::_exit(code);
}

std::string seconds_text(std::chrono::milliseconds ms) {
  const auto count = ms.count();
  return count % 1000 == 0 ? std::to_string(count / 1000) + " s" : std::to_string(count) + " ms";
}

// Kills and reaps the child; safe to call once the child already exited.
void stop_child(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

PdfPages extract_pdf_text_in_child(std::string_view bytes, int first_page, int max_pages,
                                   const PdfBudget& budget,
                                   const std::function<bool()>& cancelled) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw PdfError(std::string("cannot start the PDF extraction: pipe: ") + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw PdfError(std::string("cannot start the PDF extraction: fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::close(fds[0]);
    run_child(fds[1], bytes, first_page, max_pages, budget);
  }
  ::close(fds[1]);
  struct CloseRead {
    int fd;
    ~CloseRead() { ::close(fd); }
  } close_read{fds[0]};

  const auto deadline = std::chrono::steady_clock::now() + budget.wall;
  std::string received;
  char chunk[65536];
  while (true) {
    if (cancelled()) {
      stop_child(pid);
      throw PdfCancelled{};
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      stop_child(pid);
      throw PdfError("text extraction stopped after " + seconds_text(budget.wall) +
                     " (the pdf_timeout_ms limit); the PDF is too costly to read, or ask for "
                     "fewer pages (max_pages)");
    }
    pollfd pfd{fds[0], POLLIN, 0};
    const int ready = ::poll(&pfd, 1, 50);
    if (ready < 0 && errno != EINTR) {
      stop_child(pid);
      throw PdfError(std::string("PDF extraction: poll: ") + std::strerror(errno));
    }
    if (ready <= 0) continue;
    const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // the child closed the pipe: it exited
    received.append(chunk, static_cast<std::size_t>(n));
    if (received.size() > budget.max_text_bytes + 1024) {
      stop_child(pid);
      throw PdfError("the extracted text passed " + std::to_string(budget.max_text_bytes) +
                     " bytes; ask for fewer pages (max_pages)");
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }

  PdfPages out;
  bool opened = false;
  std::size_t at = 0;
  while (received.size() - at >= 5) {
    const char tag = received[at];
    std::uint32_t size = 0;
    std::memcpy(&size, received.data() + at + 1, 4);
    if (received.size() - at - 5 < size) break;
    const std::string payload = received.substr(at + 5, size);
    at += 5 + size;
    if (tag == 'E') throw PdfError(payload);
    if (tag == 'M')
      throw PdfError("text extraction ran out of memory (the pdf_memory_bytes limit, " +
                     std::to_string(budget.memory_bytes) + " bytes)");
    if (tag == 'O') {
      opened = std::sscanf(payload.c_str(), "%d %d", &out.total_pages, &out.first_page) == 2;
    } else if (tag == 'P') {
      out.pages.push_back(payload);
    }
  }
  if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL))
    throw PdfError("text extraction stopped after " + std::to_string(budget.cpu_seconds) +
                   " s of CPU time (the pdf_cpu_seconds limit); the PDF is too costly to read, "
                   "or ask for fewer pages (max_pages)");
  if (WIFSIGNALED(status))
    throw PdfError("text extraction failed (signal " + std::to_string(WTERMSIG(status)) +
                   "); the PDF may be damaged, or it needs more than the pdf_memory_bytes "
                   "limit (" +
                   std::to_string(budget.memory_bytes) + " bytes)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !opened)
    throw PdfError("text extraction failed (exit status " +
                   std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                   "); the PDF may be damaged");
  return out;
}

}  // namespace keyhold::s3
