#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "keyhold/vault/vault.hpp"

namespace keyhold::vault {

Status harden_process() {
  const struct rlimit no_core { 0, 0 };
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0) {
    return Status(ErrorCode::kIo,
                  std::string("cannot disable core dumps: ") + std::strerror(errno));
  }
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Status(ErrorCode::kIo,
                  std::string("cannot disable ptrace attach: ") + std::strerror(errno));
  }
  return Status::ok();
}

}  // namespace keyhold::vault
