#pragma once
// Everything secret-related a serving host holds: the open vault (if any), the handle
// broker, the redactor and the children started with secrets in their environment.
#include <memory>

#include "secrets/argument_guard.hpp"
#include "secrets/child_processes.hpp"
#include "secrets/handle_broker.hpp"
#include "secrets/redactor.hpp"

namespace keyhold::secrets {

struct SecretServices {
  std::shared_ptr<SharedVault> vault;  // null when no vault is open
  std::unique_ptr<HandleBroker> broker;
  // The host's OAuth client (an oauth::TokenManager) when [oauth.*] providers and a vault
  // are there; the broker holds it too.
  std::shared_ptr<OAuthTokenSource> oauth;
  std::shared_ptr<Redactor> redactor;
  std::unique_ptr<ChildProcesses> children;
};

}  // namespace keyhold::secrets
