#pragma once
// How keyhold reaches a mounted MCP server: the only thing that differs between a stdio
// server (a sandboxed child, stdio_transport.hpp) and a remote one (Streamable HTTP,
// http_transport.hpp). McpServerBackend speaks the protocol over either.
//
// A transport carries whole JSON-RPC messages as text. One thread at a time reads
// (receive, receive_for), another may read diagnostics (diagnostic), any thread may send;
// close() and abort() may race with them, and the reader then sees the end.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.hpp"

namespace keyhold::mount {

class ServerTransport {
 public:
  virtual ~ServerTransport() = default;

  // Sends one message. request_id is the message's id when it is a request (an HTTP
  // transport answers a request it could not deliver with a JSON-RPC error for that id).
  // client_request: the client's request the message serves (its JSON-RPC id as JSON
  // text), for the audit of secrets sent with it; empty for keyhold's own messages.
  // False when the server is gone or did not take the message within timeout; the
  // transport then ends itself and the reader sees the end.
  virtual bool send(std::string_view message, std::optional<std::int64_t> request_id,
                    std::chrono::milliseconds timeout, const std::string& client_request) = 0;
  // For a thread that must never wait for the server (one that reads the client's
  // requests): queue() keeps a message behind those queued before, flush() writes what
  // the server takes now; neither waits, and send() writes the queue first. kLater from
  // queue(): nothing queued (this transport cannot now, or never can: the default), so
  // the caller sends it with send(). kGone: the server is gone (the transport then ends
  // itself, as send() does). *flush_due: this message needs a flush() (none is pending).
  // Refused (kLater) past the transport's bound on queued bytes.
  enum class AtOnce { kSent, kLater, kGone };
  virtual AtOnce queue(std::string_view message, bool* flush_due) {
    (void)message;
    (void)flush_due;
    return AtOnce::kLater;
  }
  virtual AtOnce flush() { return AtOnce::kSent; }
  // For the thread that reads the server's messages, which must never wait for the server
  // to read (a server blocked writing its answers would then never be read): the message
  // goes behind everything queued or being written; what the server does not take now,
  // flush_stalled() writes. kLater: this transport cannot (the default), so the caller
  // sends it with send(). kGone: the server is gone, or leaves so much unread that the
  // transport ended it.
  virtual AtOnce send_behind(std::string_view message) {
    (void)message;
    return AtOnce::kLater;
  }
  // flush(), but only for what an earlier flush could not write (a full pipe): never the
  // lines a burst still holds back.
  virtual AtOnce flush_stalled() { return AtOnce::kSent; }
  // Blocks for the next message from the server into *message; false at the end.
  // *related: the id of keyhold's request whose answer carried the message (Streamable
  // HTTP sends the server's requests, progress and logs for a request on that request's
  // own stream), so a request of the server is linked to its call; empty when the
  // transport does not say (stdio) or the server sent it outside any request.
  virtual bool receive(std::string* message, std::optional<std::int64_t>* related) = 0;
  // Transports whose messages a caller waiting for its response may read itself, one
  // reader at a time (McpServerBackend passes the turn), instead of a reader thread
  // handing each response over (stdio). For those, receive_for() waits at most timeout.
  enum class Received { kMessage, kTimeout, kEnd };
  virtual bool readable_by_callers() const { return false; }
  virtual Received receive_for(std::string* message, std::chrono::milliseconds timeout) {
    (void)timeout;
    std::optional<std::int64_t> related;
    return receive(message, &related) ? Received::kMessage : Received::kEnd;
  }
  // The next message when it has been read from the server already (kMessage); kTimeout
  // when none has. Never reads nor waits, so a loop over it ends with what one read
  // brought: the reader handles that before it passes the turn on.
  virtual Received receive_buffered(std::string* message) {
    (void)message;
    return Received::kTimeout;
  }
  // Blocks for the next diagnostic line (a child's stderr) into *line; false at the end
  // (at once for a transport that has none).
  virtual bool diagnostic(std::string* line) {
    (void)line;
    return false;
  }
  // Called once the server has answered initialize, with the version both sides speak
  // (HTTP sends it in every later request and opens the server's own stream then).
  virtual void initialized(const std::string& protocol_version) { (void)protocol_version; }
  // Ends the transport in order (stdio: stdin closed, SIGTERM, SIGKILL after grace; HTTP:
  // the session deleted) and returns how it ended, for messages ("exited with status 0",
  // "connection refused by https://..."). Idempotent.
  virtual std::string close(std::chrono::milliseconds grace) = 0;
  // Ends it at once (the server broke the protocol); the reader then sees the end.
  virtual void abort() = 0;
  // True once the transport ended because the server no longer knows the session (HTTP
  // 404): the requests it refused were never processed, so a new session may send them.
  virtual bool session_lost() const { return false; }
  // After the response to request id came back as an HTTP 401 (the server refused keyhold's
  // credentials) or a 403 insufficient_scope (an error then, never OK): kNotFound when it
  // did not (nothing to do); OK when the credentials were
  // renewed (a refreshed OAuth token) and the request may be sent once more; otherwise an
  // error whose message replaces the response's (what was refused, what to do). retried:
  // the refused request was already the second attempt; nothing is renewed then. Audited.
  virtual Status credentials_refused(std::int64_t id, bool retried) {
    (void)id;
    (void)retried;
    return not_found("not refused");
  }
  // The server's process id, 0 when it is not a child of keyhold.
  virtual int pid() const { return 0; }
  // Appended to a start failure: where to look for more ("; its stderr is in the log").
  virtual std::string_view failure_hint() const { return {}; }
};

}  // namespace keyhold::mount
