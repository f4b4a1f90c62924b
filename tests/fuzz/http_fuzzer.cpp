// http_fuzzer: raw bytes into the real Streamable HTTP server (HttpServer on 127.0.0.1, a
// free port, auth off as on loopback, 1 s read timeout), with the echo and conformance
// plugins loaded. Each input is written whole on a new TCP connection, the client's
// write side is shut, and the response is read until the server closes or 1.5 s pass.
// KEYHOLD_FUZZ_VERBOSE=1 keeps the server's log on stderr.
//
// Structure: every "@SID@" in the input is replaced by the id of a session created for
// this input (a well-formed initialize first), so GET streams, DELETE and requests on a
// live session are reachable; every "@LEN@" becomes the length of the body after its
// header block (to the end of the input), so a mutated JSON body keeps a matching
// Content-Length. Sessions the input itself created (Mcp-Session-Id in the response) and
// the @SID@ session are deleted afterwards, as a polite client would.
//
// Oracles besides ASan/UBSan and crashes: an input that starts with a complete, valid
// HTTP request gets some response before the server closes (never a bare close); every
// kHealthEvery inputs a well-formed initialize must still be answered 200 with a session
// id. Sessions are capped at kMaxSessions, so requests that leak session slots (sessions
// the client was never told about, e.g. a failed initialize) are found once that many
// have leaked.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fuzz_plugins.hpp"
#include "transport/http_server.hpp"

namespace {

constexpr std::size_t kMaxSessions = 8;
constexpr unsigned kHealthEvery = 25;
// How long the harness waits for the server to answer and close: an input's own request
// (an SSE stream may never end), and the harness's requests (initialize, DELETE), which
// must be answered even on a loaded machine.
constexpr auto kInputDeadline = std::chrono::milliseconds(1500);
constexpr auto kHarnessDeadline = std::chrono::seconds(10);
constexpr std::string_view kSessionPlaceholder = "@SID@";
constexpr std::string_view kLengthPlaceholder = "@LEN@";

std::uint16_t g_port = 0;

[[noreturn]] void fail(const char* what, const std::string& text) {
  std::fprintf(stderr, "http_fuzzer: %s:\n%.4000s\n", what, text.c_str());
  __builtin_trap();
}

// Sends request on a new connection and returns everything the server wrote back before
// it closed the connection or `patience` passed.
// *closed_by_server (optional) tells whether the server ended the connection (EOF or
// reset) rather than the patience running out.
std::string round_trip(std::string_view request, std::chrono::milliseconds patience,
                       bool* closed_by_server = nullptr) {
  if (closed_by_server != nullptr) *closed_by_server = false;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket() failed", std::to_string(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(g_port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int connected;
  do {
    connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  } while (connected != 0 && errno == EINTR);
  // A retried connect that the interrupted one already completed reports EISCONN.
  if (connected != 0 && errno != EISCONN)
    fail("cannot connect to the server", std::to_string(errno));
  const auto deadline = std::chrono::steady_clock::now() + patience;
  auto remaining_ms = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
  };
  std::string response;
  char buffer[16 * 1024];
  // Write and read together: a server that answers early (413, 400) may stop reading.
  std::size_t written = 0;
  bool write_shut = false;
  for (;;) {
    if (written == request.size() && !write_shut) {
      ::shutdown(fd, SHUT_WR);
      write_shut = true;
    }
    pollfd pfd{fd, static_cast<short>(POLLIN | (write_shut ? 0 : POLLOUT)), 0};
    const int wait = remaining_ms();
    if (wait == 0) break;
    // libFuzzer's -timeout alarm (SIGALRM) interrupts blocking calls: EINTR is not an answer.
    const int ready = ::poll(&pfd, 1, wait);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    if (pfd.revents & POLLIN) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (closed_by_server != nullptr) *closed_by_server = true;
        break;
      }
      response.append(buffer, static_cast<std::size_t>(n));
    } else if (pfd.revents & POLLOUT) {
      const ssize_t n = ::send(fd, request.data() + written, request.size() - written,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        ::shutdown(fd, SHUT_WR);  // the server stopped reading; still read its answer
        write_shut = true;
        continue;
      }
      written += static_cast<std::size_t>(n);
    } else {
      if (closed_by_server != nullptr) *closed_by_server = true;
      break;  // POLLERR / POLLHUP without data
    }
  }
  ::close(fd);
  return response;
}

// Replaces each "@LEN@" by the number of bytes from the end of the header block that
// holds it to the end of the input, so mutations of a JSON body keep a Content-Length
// that matches and reach the JSON-RPC layer.
void fill_in_lengths(std::string& request) {
  for (auto at = request.find(kLengthPlaceholder); at != std::string::npos;
       at = request.find(kLengthPlaceholder, at + 1)) {
    const auto header_end = request.find("\r\n\r\n", at);
    const std::size_t body =
        header_end == std::string::npos ? 0 : request.size() - (header_end + 4);
    // The replacement changes the size before the body, not the body itself.
    request.replace(at, kLengthPlaceholder.size(), std::to_string(body));
  }
}

// True when text starts with one whole HTTP request that Beast parses without error, as
// the server does: the server owes such a request a response, if only an error status.
bool starts_with_complete_request(std::string_view text) {
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  boost::beast::error_code ec;
  while (!text.empty() && !parser.is_done()) {
    const std::size_t used = parser.put(boost::asio::buffer(text.data(), text.size()), ec);
    if (ec || used == 0) return false;  // need_more, or not a valid request
    text.remove_prefix(used);
  }
  return parser.is_done();
}

// The values of every Mcp-Session-Id header in response (header names are case-insensitive).
std::vector<std::string> session_ids(const std::string& response) {
  std::string lower(response);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::vector<std::string> ids;
  constexpr std::string_view kName = "\nmcp-session-id:";
  for (auto at = lower.find(kName); at != std::string::npos; at = lower.find(kName, at + 1)) {
    auto begin = response.find_first_not_of(" \t", at + kName.size());
    auto end = response.find_first_of("\r\n", begin);
    if (begin == std::string::npos || end == std::string::npos) continue;
    std::string id = response.substr(begin, end - begin);
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
  }
  return ids;
}

std::string initialize_request() {
  const std::string body =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
      R"("capabilities":{},"clientInfo":{"name":"http_fuzzer","version":"1"}}})";
  return "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
         "Accept: application/json, text/event-stream\r\nConnection: close\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

void delete_session(const std::string& id) {
  round_trip("DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Session-Id: " + id +
                 "\r\nConnection: close\r\n\r\n",
             kHarnessDeadline);
}

// A new session, or "" when the server did not create one.
std::string open_session(std::string* response) {
  *response = round_trip(initialize_request(), kHarnessDeadline);
  const auto ids = session_ids(*response);
  return response->starts_with("HTTP/1.1 200") && ids.size() == 1 ? ids.front() : "";
}

void check_server_healthy(const char* when) {
  std::string response;
  const std::string id = open_session(&response);
  if (id.empty())
    fail((std::string("the server no longer accepts a well-formed initialize ") + when).c_str(),
         response.empty() ? "(no response)" : response);
  delete_session(id);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::signal(SIGPIPE, SIG_IGN);
  if (const char* verbose = std::getenv("KEYHOLD_FUZZ_VERBOSE");
      verbose == nullptr || std::string_view(verbose) != "1")
    keyhold::fuzz::silence_host_logging();  // =1 shows the server's warnings (replaying)
  auto& fixture = keyhold::fuzz::fuzz_fixture();
  keyhold::HttpOptions options;
  options.auth = false;
  options.read_timeout = std::chrono::seconds(1);
  options.max_sessions = kMaxSessions;
  // Never destroyed, like the fixture: the server thread runs until the process exits.
  auto* server = new keyhold::HttpServer(fixture.registry, fixture.hub, fixture.pool, options);
  if (auto listening = server->listen(); !listening.is_ok())
    fail("cannot listen", listening.message());
  g_port = server->port();
  std::thread([server] { server->serve(-1); }).detach();
  check_server_healthy("at start");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static unsigned inputs = 0;
  std::string request(reinterpret_cast<const char*>(data), size);
  std::string fixture_session;
  if (request.find(kSessionPlaceholder) != std::string::npos) {
    std::string response;
    fixture_session = open_session(&response);
    if (fixture_session.empty())
      fail("the server did not create the @SID@ session",
           response.empty() ? "(no response)" : response);
    for (auto at = request.find(kSessionPlaceholder); at != std::string::npos;
         at = request.find(kSessionPlaceholder, at + fixture_session.size()))
      request.replace(at, kSessionPlaceholder.size(), fixture_session);
  }
  fill_in_lengths(request);
  bool closed_by_server = false;
  const std::string response = round_trip(request, kInputDeadline, &closed_by_server);
  if (response.empty() && closed_by_server && starts_with_complete_request(request))
    fail("a complete HTTP request was answered by closing the connection, without a response",
         request);
  for (const auto& id : session_ids(response))
    if (id != fixture_session) delete_session(id);
  if (!fixture_session.empty()) delete_session(fixture_session);
  if (++inputs % kHealthEvery == 0) check_server_healthy("after a batch of inputs");
  return 0;
}
