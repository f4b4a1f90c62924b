#pragma once
// Compiling the seccomp filter of a sandbox policy (libseccomp), in the process that starts
// sandboxed ones: the host compiles each distinct filter once and hands it over in the
// policy, and sandbox::apply() in the runner only loads it (sandbox.hpp). What the filter
// refuses: seccomp_compile.cpp and host/sandbox/README.md.

#include <string>

#include "sandbox/sandbox.hpp"

namespace keyhold::sandbox {

// The filter for policy's network, allow_udp and unix_sockets (nothing else of the policy
// shapes it). Fails when libseccomp is older than 2.5 or refuses a rule; the program is not
// touched then. Does not need a kernel with seccomp: compiling is pure computation.
Status compile_seccomp(const Policy& policy, SeccompProgram* program);

// The libseccomp that compiles, e.g. "libseccomp 2.5.4", or why none can.
std::string seccomp_compiler();

}  // namespace keyhold::sandbox
