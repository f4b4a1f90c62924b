#pragma once
// Where a session writes its messages. Implementations are thread-safe and write each
// message whole (never interleaved with another).
#include <nlohmann/json.hpp>
#include <string>

#include "loader/call_context.hpp"

namespace keyhold {

class Outbound {
 public:
  virtual ~Outbound() = default;
  // Sends one message. `related` is the request it belongs to (a response, or a
  // notification/request sent while serving it), or null for session-wide messages;
  // stream transports use it to pick the stream.
  virtual void send(const nlohmann::json& message, const CallContext* related) = 0;
  // Sends the response to `request` already written: one JSON-RPC response object as
  // serialised JSON text with no line break, redacted by the caller. The default reads it
  // and calls send(); the transports write it as it is.
  virtual void send_response_text(std::string text, const CallContext& request) {
    send(nlohmann::json::parse(text), &request);
  }
  // Called when a request ends without a response (the client cancelled it), so a
  // stream transport can close the stream that was waiting for it.
  virtual void abandoned(const CallContext& request) { (void)request; }
  // True while the client is behind in reading what was sent: a caller that could start
  // more work whose answers would pile up takes the slower path that waits instead.
  virtual bool congested() const { return false; }
};

}  // namespace keyhold
