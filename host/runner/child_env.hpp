#pragma once
// How the host hands a sandboxed child (the env service) its environment through the
// sandbox wrapper (`keyhold-runner --exec-policy`). The wrapper is a dynamically linked
// program: the loader and libc read LD_PRELOAD, LD_LIBRARY_PATH, GLIBC_TUNABLES, GCONV_PATH
// and the like from its environment before the sandbox exists. So the child's variables,
// which a plugin chooses, never reach the wrapper under their own names: each is passed as
// kChildEnvPrefix + NAME=VALUE, and the wrapper, once its sandbox is applied, makes those
// the whole environment of the program it runs. Nothing a plugin sets takes effect outside
// the sandbox.
#include <string_view>

namespace keyhold::runner {

inline constexpr std::string_view kChildEnvPrefix = "KEYHOLD_CHILD_ENV_";

}  // namespace keyhold::runner
