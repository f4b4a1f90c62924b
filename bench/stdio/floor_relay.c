/* The floor of any stdio proxy: starts the command after its own name with pipes and
 * copies bytes both ways (stdin -> the child's stdin, the child's stdout -> stdout) in one
 * thread with poll(), no parsing, no framing. What it adds to a round trip is the two
 * extra pipe hops and wake-ups that every proxy in front of a stdio server pays; the mount
 * bench (bench/mount/run_cpp.sh) puts keyhold's mount overhead beside it. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[1 << 16];

/* Copies what is readable on from to to; 0 at the end of from or on an error. */
static int pump(int from, int to) {
  ssize_t n;
  do n = read(from, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  for (ssize_t done = 0; done < n;) {
    ssize_t w = write(to, buf + done, (size_t)(n - done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 0;
    done += w;
  }
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: floor_relay COMMAND [ARGS...]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) return 1;
  const pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
    execvp(argv[1], argv + 1);
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = from_child[0], .events = POLLIN}};
  int input_open = 1;
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!pump(from_child[0], 1)) break; /* the child ended: so does the relay */
    }
    if (input_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (!pump(0, to_child[1])) { /* end of input: pass it on, keep relaying answers */
        input_open = 0;
        fds[0].fd = -1;
        close(to_child[1]);
      }
    }
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
