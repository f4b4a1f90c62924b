// Network policies: Landlock's TCP rules and seccomp's socket rules, against real listeners
// the test process opens on loopback.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "sandboxed_child.hpp"

using namespace keyhold::sandbox;
using namespace keyhold::sandbox::testing;

namespace {

// A TCP listener on 127.0.0.1 at a port the kernel picks.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      port_ = 0;
    } else {
      port_ = ntohs(address.sin_port);
    }
  }
  ~Listener() { ::close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_;
  std::uint16_t port_;
};

std::string connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "socket " + errno_name(errno);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  std::string result =
      outcome(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address));
  ::close(fd);
  return result;
}

std::string bind_any_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(0);
  std::string result = outcome(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address));
  ::close(fd);
  return result;
}

std::string listen_without_bind() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  std::string result = outcome(::listen(fd, 4));
  ::close(fd);
  return result;
}

std::string socket_outcome(long family, int type, int protocol) {
  long fd = ::syscall(SYS_socket, family, type, protocol);
  if (fd >= 0) ::close(static_cast<int>(fd));
  return outcome(fd);
}

}  // namespace

TEST_CASE("an allowlist connects to listed TCP ports only", "[sandbox][network]") {
  Listener listed;
  Listener unlisted;
  REQUIRE(listed.port() != 0);
  REQUIRE(unlisted.port() != 0);
  Policy policy = base_policy();
  policy.network = Network::kAllowlist;
  policy.connect_ports = {listed.port()};
  ChildOutcome child = run_sandboxed(policy, [&] {
    return "listed: " + connect_to(listed.port()) + "; unlisted: " + connect_to(unlisted.port()) +
           "; bind: " + bind_any_port() + "; listen without bind: " + listen_without_bind() +
           "; udp: " + socket_outcome(AF_INET, SOCK_DGRAM, 0) +
           "; udp6: " + socket_outcome(AF_INET6, SOCK_DGRAM, 0) +
           "; sctp: " + socket_outcome(AF_INET, SOCK_STREAM, IPPROTO_SCTP) +
           "; mptcp: " + socket_outcome(AF_INET, SOCK_STREAM, 262) +
           "; ping: " + socket_outcome(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) +
           "; raw: " + socket_outcome(AF_INET, SOCK_RAW, IPPROTO_TCP) +
           "; packet: " + socket_outcome(AF_PACKET, SOCK_DGRAM, 0) +
           "; tcp6: " + socket_outcome(AF_INET6, SOCK_STREAM, 0) +
           "; unix: " + socket_outcome(AF_UNIX, SOCK_STREAM, 0);
  });
  CHECK(child.output ==
        "listed: ok; unlisted: EACCES; bind: EACCES; listen without bind: EPERM; udp: EPERM; udp6: "
        "EPERM; sctp: EPERM; "
        "mptcp: EPERM; ping: EPERM; raw: EPERM; packet: EPERM; tcp6: ok; unix: EPERM");
}

TEST_CASE("an allowlist with allow_udp opens UDP sockets and still no other",
          "[sandbox][network]") {
  Policy policy = base_policy();
  policy.network = Network::kAllowlist;
  policy.allow_udp = true;
  ChildOutcome child = run_sandboxed(policy, [&] {
    return "udp: " + socket_outcome(AF_INET, SOCK_DGRAM, 0) +
           "; udp explicit: " + socket_outcome(AF_INET6, SOCK_DGRAM, IPPROTO_UDP) +
           "; ping: " + socket_outcome(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) +
           "; udplite: " + socket_outcome(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
  });
  CHECK(child.output == "udp: ok; udp explicit: ok; ping: EPERM; udplite: EPERM");
}

TEST_CASE("network none refuses every socket", "[sandbox][network]") {
  Listener listener;
  Policy policy = base_policy();
  policy.network = Network::kNone;
  ChildOutcome child = run_sandboxed(policy, [&] {
    return "connect: " + connect_to(listener.port()) +
           "; inet: " + socket_outcome(AF_INET, SOCK_STREAM, 0) +
           "; inet6: " + socket_outcome(AF_INET6, SOCK_STREAM, 0) +
           "; udp: " + socket_outcome(AF_INET, SOCK_DGRAM, 0) +
           "; netlink: " + socket_outcome(AF_NETLINK, SOCK_RAW, 0) +
           "; inet hidden in the upper half: " +
           socket_outcome((1l << 32) | AF_INET, SOCK_STREAM, 0) +
           "; unix: " + socket_outcome(AF_UNIX, SOCK_STREAM, 0);
  });
  CHECK(child.output ==
        "connect: socket EPERM; inet: EPERM; inet6: EPERM; udp: EPERM; netlink: EPERM; "
        "inet hidden in the upper half: EPERM; unix: EPERM");
}

TEST_CASE("network any leaves TCP alone", "[sandbox][network]") {
  Listener listener;
  Policy policy = base_policy();
  policy.network = Network::kAny;
  ChildOutcome child = run_sandboxed(policy, [&] {
    return "connect: " + connect_to(listener.port()) + "; bind: " + bind_any_port() +
           "; listen without bind: " + listen_without_bind();
  });
  CHECK(child.output == "connect: ok; bind: ok; listen without bind: ok");
}

TEST_CASE("unix sockets: only stream pairs, unless the policy allows named sockets",
          "[sandbox][network]") {
  TempDir dir;
  std::string path = dir.path() + "/listener.sock";
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(listener, 4) == 0);
  auto attempts = [&] {
    int pair[2];
    Transcript t;
    t.add("stream pair", outcome(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair)));
    t.add("datagram pair", outcome(::socketpair(AF_UNIX, SOCK_DGRAM, 0, pair)));
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    t.add("socket", outcome(fd));
    if (fd >= 0) {
      t.add("connect to a named socket outside every path",
            outcome(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address)));
    }
    return t.text();
  };
  Policy policy = base_policy();
  CHECK(run_sandboxed(policy, attempts).output ==
        "stream pair: ok; datagram pair: EPERM; socket: EPERM");
  // The gap unix_sockets opens: Landlock (up to ABI 7) does not check a connect() to a
  // socket file, so only file permissions stand between the plugin and any named socket.
  policy.unix_sockets = true;
  CHECK(run_sandboxed(policy, attempts).output ==
        "stream pair: ok; datagram pair: ok; socket: ok; "
        "connect to a named socket outside every path: ok");
  ::close(listener);
}
