#include "oauth/loopback_redirect.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "base/html_text.hpp"
#include "oauth/url_text.hpp"

namespace keyhold::oauth {

namespace {

void answer(int client, int status, const std::string& message) {
  // The message may quote the query (an iss, an error description): escaped.
  const std::string body =
      "<!doctype html><title>keyhold</title><p>" + html_escape(message) + "</p>\n";
  const std::string head = "HTTP/1.1 " + std::to_string(status) +
                           (status == 200   ? " OK"
                            : status == 404 ? " Not Found"
                                            : " Bad Request") +
                           "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " +
                           std::to_string(body.size()) +
                           "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
  const std::string all = head + body;
  std::size_t sent = 0;
  while (sent < all.size()) {
    const ssize_t n = ::send(client, all.data() + sent, all.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
}

// Reads the request head (up to 16 KiB) from client within deadline.
bool read_head(int client, std::chrono::steady_clock::time_point deadline, WipedString* head) {
  char buffer[4096];
  while (head->text().find("\r\n\r\n") == std::string::npos && head->text().size() < 16384) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{client, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 5000))) <= 0) return false;
    const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    head->text().append(buffer, static_cast<std::size_t>(n));
  }
  sodium_memzero(buffer, sizeof buffer);
  return head->text().find("\r\n\r\n") != std::string::npos;
}

}  // namespace

bool same_secret_text(const std::string& a, const std::string& b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<AuthorizationResponse> check_authorization_response(
    const std::map<std::string, std::string>& query, const ExpectedCallback& expected) {
  auto refuse = [](const std::string& why) -> Result<AuthorizationResponse> {
    return Status(ErrorCode::kPermissionDenied, why);
  };
  auto field = [&](const char* key) -> const std::string* {
    auto it = query.find(key);
    return it == query.end() ? nullptr : &it->second;
  };
  const std::string* state = field("state");
  if (state == nullptr || !same_secret_text(*state, expected.state))
    return refuse("its state does not match the one keyhold sent (a forged or stale response)");
  const std::string* iss = field("iss");
  if (iss != nullptr && *iss != expected.issuer)
    return refuse("it comes from issuer '" + *iss + "', not '" + expected.issuer +
                  "' (RFC 9207 mix-up protection)");
  if (iss == nullptr && expected.issuer_required)
    return refuse("it carries no iss parameter although the provider promises one (RFC 9207)");
  if (const std::string* error = field("error")) {
    const std::string* description = field("error_description");
    return refuse("the provider answered " + *error +
                  (description != nullptr ? " (" + description->substr(0, 200) + ")" : ""));
  }
  const std::string* code = field("code");
  if (code == nullptr || code->empty()) return refuse("it carries no code");
  AuthorizationResponse response;
  response.code = WipedString(*code);
  return response;
}

Result<LoopbackRedirect> LoopbackRedirect::open() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return io_error(std::string("cannot open the loopback listener: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 8) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int saved = errno;
    ::close(fd);
    return io_error(std::string("cannot listen on 127.0.0.1: ") + std::strerror(saved));
  }
  return LoopbackRedirect(fd, ntohs(address.sin_port));
}

LoopbackRedirect::LoopbackRedirect(LoopbackRedirect&& other) noexcept
    : fd_(other.fd_), port_(other.port_) {
  other.fd_ = -1;
}

LoopbackRedirect::~LoopbackRedirect() {
  if (fd_ >= 0) ::close(fd_);
}

std::string LoopbackRedirect::redirect_uri() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/callback";
}

Result<AuthorizationResponse> LoopbackRedirect::wait(const ExpectedCallback& expected,
                                                     std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Status(ErrorCode::kCancelled,
                    "no authorization response arrived within " + std::to_string(timeout.count()) +
                        " s; run the login again and open the URL it prints");
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready <= 0) continue;
    const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{client};
    WipedString head;
    if (!read_head(client, deadline, &head)) continue;
    // "GET /callback?query HTTP/1.1"
    const std::string& text = head.text();
    const auto line_end = text.find("\r\n");
    const auto first_space = text.find(' ');
    const auto second_space = text.find(' ', first_space + 1);
    if (!text.starts_with("GET ") || second_space == std::string::npos || second_space > line_end) {
      answer(client, 400, "Bad request.");
      continue;
    }
    const std::string_view target(text.data() + first_space + 1, second_space - first_space - 1);
    const auto question = target.find('?');
    if (target.substr(0, question) != "/callback") {
      answer(client, 404, "Not found.");
      continue;
    }
    auto query = parse_query(question == std::string_view::npos ? std::string_view()
                                                                : target.substr(question + 1));
    auto refuse = [&](const std::string& why) -> Result<AuthorizationResponse> {
      answer(client, 400,
             "keyhold refused this authorization response: " + why + ". Return to the terminal.");
      return Status(ErrorCode::kPermissionDenied, "the authorization response was refused: " + why);
    };
    if (!query) return refuse("its query string is malformed or repeats a parameter");
    struct WipeQuery {
      std::map<std::string, std::string>& q;
      ~WipeQuery() {
        for (auto& [k, v] : q) sodium_memzero(v.data(), v.size());
      }
    } wipe_query{*query};
    auto response = check_authorization_response(*query, expected);
    if (!response.is_ok()) return refuse(response.status().message());
    answer(client, 200, "keyhold received the authorization. You can close this window.");
    return response;
  }
}

}  // namespace keyhold::oauth
