#pragma once
// One environment entry, "PREFIXNAME=VALUE\0", in guarded memory zeroed when it goes: how
// the env service and mounted stdio servers build a child's environment (the prefix of
// runner/child_env.hpp when the child starts through the sandbox wrapper, else empty).
#include <keyhold/vault/secret_buffer.hpp>

#include <cstring>
#include <string_view>

namespace keyhold::secrets {

inline vault::SecretBuffer env_entry(std::string_view prefix, std::string_view name,
                                     std::string_view value) {
  vault::SecretBuffer entry(prefix.size() + name.size() + 1 + value.size() + 1);
  char* at = reinterpret_cast<char*>(entry.data());
  // (memcpy only of what exists: a default string_view has a null data pointer)
  if (!prefix.empty()) std::memcpy(at, prefix.data(), prefix.size());
  if (!name.empty()) std::memcpy(at + prefix.size(), name.data(), name.size());
  at[prefix.size() + name.size()] = '=';
  if (!value.empty()) std::memcpy(at + prefix.size() + name.size() + 1, value.data(), value.size());
  return entry;
}

}  // namespace keyhold::secrets
