/* The floor of the C++ stdio driver: a trivial JSON-RPC responder with no MCP library and
 * no JSON parser. It reads newline-delimited requests, copies each id, and answers
 * initialize and tools/call with a fixed result (the echo text the driver sends), tools/list
 * with one tool (echo, so that keyhold can mount it), other
 * requests with an empty result, notifications with nothing. Answers to every complete
 * line in one read() go out in one write(), as a well-batched server would do.
 * What it costs per call is the driver, the pipes and the kernel, which no server removes.
 * Like keyhold's readers it polls a moment (150 us, yielding the CPU between tries) before
 * it sleeps for input: a server need not pay a wake-up per sequential call. The environment
 * variable FLOOR_POLL_US sets that span (0: never poll, sleep at once); a stdin that is not
 * a pipe is never polled (it is left blocking). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char in_buf[1 << 20];
static char out_buf[1 << 21];

static const char kEcho[] = "hello from the keyhold stdio bench";

static size_t append(size_t at, const char* text, size_t len) {
  if (at + len > sizeof out_buf) return at; /* the driver never has this much in flight */
  memcpy(out_buf + at, text, len);
  return at + len;
}

/* Appends the answer to one request line at out_buf + at; returns the new end. */
static size_t answer(const char* line, size_t len, size_t at) {
  const char* id = memmem(line, len, "\"id\":", 5);
  if (id == NULL) return at; /* a notification */
  const char* id_start = id + 5;
  const char* id_end = id_start;
  while (id_end < line + len && *id_end != ',' && *id_end != '}') ++id_end;
  static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
  at = append(at, head, sizeof head - 1);
  at = append(at, id_start, (size_t)(id_end - id_start));
  if (memmem(line, len, "\"initialize\"", 12) != NULL) {
    static const char init[] =
        ",\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"tools\":{}},"
        "\"serverInfo\":{\"name\":\"floor\",\"version\":\"1.0.0\"}}}\n";
    return append(at, init, sizeof init - 1);
  }
  if (memmem(line, len, "\"tools/call\"", 12) != NULL) {
    static const char call[] = ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"";
    static const char tail[] = "\"}]}}\n";
    at = append(at, call, sizeof call - 1);
    at = append(at, kEcho, sizeof kEcho - 1);
    return append(at, tail, sizeof tail - 1);
  }
  if (memmem(line, len, "\"tools/list\"", 12) != NULL) {
    /* So that keyhold can mount it (bench/mount/run_cpp.sh): one tool, any arguments. */
    static const char list[] =
        ",\"result\":{\"tools\":[{\"name\":\"echo\",\"inputSchema\":{\"type\":\"object\"}}]}}\n";
    return append(at, list, sizeof list - 1);
  }
  static const char empty[] = ",\"result\":{}}\n";
  return append(at, empty, sizeof empty - 1);
}

static int write_all(const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(1, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

static double poll_us = 150; /* FLOOR_POLL_US */

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* read(2) on stdin (non-blocking when polled): tries for poll_us, then sleeps in poll(2). */
static ssize_t read_input(char* into, size_t room) {
  const double until = now_us() + poll_us;
  for (;;) {
    ssize_t n = read(0, into, room);
    if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
    if (errno == EINTR) continue;
    if (now_us() < until) {
      sched_yield();
      continue;
    }
    struct pollfd fd = {0, POLLIN, 0};
    if (poll(&fd, 1, -1) < 0 && errno != EINTR) return -1;
  }
}

int main(void) {
  const char* span = getenv("FLOOR_POLL_US");
  if (span != NULL) poll_us = atof(span);
  struct stat in;
  if (fstat(0, &in) != 0 || !S_ISFIFO(in.st_mode)) poll_us = 0;
  if (poll_us > 0) {
    const int flags = fcntl(0, F_GETFL);
    if (flags < 0 || fcntl(0, F_SETFL, flags | O_NONBLOCK) < 0) return 1;
  }
  size_t filled = 0;
  for (;;) {
    ssize_t n = read_input(in_buf + filled, sizeof in_buf - filled);
    if (n <= 0) return 0;
    filled += (size_t)n;
    size_t start = 0, out = 0;
    for (;;) {
      char* nl = memchr(in_buf + start, '\n', filled - start);
      if (nl == NULL) break;
      size_t end = (size_t)(nl - in_buf);
      if (end > start) out = answer(in_buf + start, end - start, out);
      start = end + 1;
    }
    if (out > 0 && write_all(out_buf, out) != 0) return 1;
    memmove(in_buf, in_buf + start, filled - start);
    filled -= start;
    if (filled == sizeof in_buf) {
      fputs("floor_responder: request line longer than 1 MiB\n", stderr);
      return 1;
    }
  }
}
