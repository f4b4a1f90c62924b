#pragma once
// The header lines of a remote mounted server's requests, built per request by the host
// (server.headers with {secret:ALIAS} filled in), and what happens when the server refuses
// them (HTTP 401, or 403 insufficient_scope). The interface lets the HTTP transport stay ignorant
// of the broker.
#include <string>
#include <vector>

#include "base/status.hpp"
#include "config/config.hpp"
#include "config/header_template.hpp"
#include "keyhold/vault/secret_buffer.hpp"
#include "secrets/secret_services.hpp"

namespace keyhold::mount {

// The lines of one request and the secret values in them (kept for a renewal after a
// 401). Guarded memory, zeroed when it goes.
struct HeaderLines {
  std::vector<vault::SecretBuffer> lines;  // "Name: value", NUL-terminated (for libcurl)
  struct SecretUse {
    std::string header;
    std::string alias;
    vault::SecretBuffer value;
  };
  std::vector<SecretUse> secrets;
  // The client's request these lines were built for (its JSON-RPC id as JSON text, for the
  // audit entries of the secrets in them); empty for keyhold's own requests.
  std::string request_id;
};

class RequestHeaders {
 public:
  virtual ~RequestHeaders() = default;
  // The lines of one request, built now (each secret's grant checked and its use audited
  // with request_id: the client's request it serves, or empty). An error names the header
  // and the alias, never a value. Thread-safe; may block (an OAuth refresh), so never
  // called on the transport's own thread.
  virtual Result<HeaderLines> build(const std::string& request_id) = 0;
  // After the server refused a request that carried `refused` (HTTP 401). OK when a renewed
  // credential (a refreshed OAuth token) may succeed: the caller sends once more with a new
  // build(). retried: the request was already sent again once; nothing is renewed then. An
  // error says what to do (names only). Audited.
  virtual Status refused(const HeaderLines& refused, bool retried) = 0;
  // After the server answered HTTP 403 insufficient_scope to a request that carried sent,
  // asking for scope: an error that says what to do (never OK: no renewal gives a larger
  // grant). Audited.
  virtual Status lacks_scope(const HeaderLines& sent, const std::string& scope) = 0;
};

// server.headers of instance, with the values granted through services' broker (operation
// env, see HandleBroker::value_for_header). services must outlive it; null: a header that
// names a secret cannot be built.
class BrokerHeaders final : public RequestHeaders {
 public:
  BrokerHeaders(std::string instance, const MountedServerConfig& server,
                secrets::SecretServices* services);
  Result<HeaderLines> build(const std::string& request_id) override;
  Status refused(const HeaderLines& refused, bool retried) override;
  Status lacks_scope(const HeaderLines& sent, const std::string& scope) override;

 private:
  std::string instance_;
  std::string destination_;  // the origin, for the audit
  // server.headers, parsed once: name, and the value (or why it does not parse; the config
  // check refuses that before a server is mounted).
  std::vector<std::pair<std::string, Result<HeaderTemplate>>> templates_;
  secrets::SecretServices* services_;
};

}  // namespace keyhold::mount
