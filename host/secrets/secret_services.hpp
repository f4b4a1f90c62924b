#pragma once
// Everything secret-related a serving host holds: the open vault (if any), the handle
// broker, the redactor and the children started with secrets in their environment.
#include <memory>

#include "secrets/child_processes.hpp"
#include "secrets/handle_broker.hpp"
#include "secrets/redactor.hpp"

namespace keyhold::secrets {

// What the argument guard does with a tool argument that carries a credential.
enum class GuardMode { kBlock, kRedact, kOff };

struct SecretServices {
  std::shared_ptr<SharedVault> vault;  // null when no vault is open
  std::unique_ptr<HandleBroker> broker;
  std::shared_ptr<Redactor> redactor;
  std::unique_ptr<ChildProcesses> children;
};

}  // namespace keyhold::secrets
