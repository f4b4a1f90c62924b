// The JSON form of a sandbox policy (runner/sandbox_spec.hpp): what the host compiles its
// seccomp filter from is what the runner applies, and the filter survives the trip intact.
#include "runner/sandbox_spec.hpp"

#include <catch2/catch.hpp>
#include <cstring>

#include "loader/runner_policy.hpp"
#include "sandbox/seccomp_compile.hpp"

using keyhold::runner::policy_from_spec;
using keyhold::runner::seccomp_to_spec;
namespace sandbox = keyhold::sandbox;

namespace {
bool same_code(const std::vector<sock_filter>& a, const std::vector<sock_filter>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(sock_filter)) == 0;
}
}  // namespace

TEST_CASE("a compiled seccomp filter crosses the policy JSON unchanged", "[sandbox_spec]") {
  for (const char* network : {"none", "any", "allowlist"}) {
    CAPTURE(network);
    nlohmann::json spec{{"network", network}, {"udp", true}, {"read", {"/srv/data"}}};
    sandbox::Policy policy = policy_from_spec(spec);
    sandbox::SeccompProgram program;
    REQUIRE(sandbox::compile_seccomp(policy, &program).ok());
    REQUIRE(!program.code.empty());
    spec["seccomp"] = seccomp_to_spec(program);
    sandbox::Policy read = policy_from_spec(nlohmann::json::parse(spec.dump()));
    CHECK(same_code(read.seccomp.code, program.code));
    CHECK(read.seccomp.summary == program.summary);
    CHECK(read.seccomp.unavailable_reason.empty());
    CHECK(read.read_paths.back() == "/srv/data");
  }
}

TEST_CASE("different network policies compile different filters", "[sandbox_spec]") {
  sandbox::SeccompProgram none, any;
  REQUIRE(sandbox::compile_seccomp(policy_from_spec({{"network", "none"}}), &none).ok());
  REQUIRE(sandbox::compile_seccomp(policy_from_spec({{"network", "any"}}), &any).ok());
  CHECK(!same_code(none.code, any.code));
}

TEST_CASE("a malformed or missing filter in the policy JSON leaves none, with a reason",
          "[sandbox_spec]") {
  CHECK(policy_from_spec(nlohmann::json::object()).seccomp.code.empty());
  CHECK(policy_from_spec(nlohmann::json::object()).seccomp.unavailable_reason ==
        "no seccomp filter was compiled for this policy");
  for (const char* bpf : {"", "0", "zz00000000000000", "0600000000000000ff"}) {
    CAPTURE(bpf);
    sandbox::Policy policy = policy_from_spec({{"seccomp", {{"bpf", bpf}, {"summary", "x"}}}});
    CHECK(policy.seccomp.code.empty());
    CHECK(policy.seccomp.unavailable_reason ==
          "the compiled seccomp filter in the policy is malformed");
  }
  sandbox::Policy told = policy_from_spec({{"seccomp", {{"unavailable", "libseccomp too old"}}}});
  CHECK(told.seccomp.code.empty());
  CHECK(told.seccomp.unavailable_reason == "libseccomp too old");
}

TEST_CASE("runner_policy carries the compiled filter, whatever the config says of it",
          "[sandbox_spec]") {
  keyhold::InstanceConfig instance;
  instance.sandbox = {{"network", "none"}, {"seccomp", {{"bpf", "0600000000000000"}}}};
  nlohmann::json policy = keyhold::runner_policy(instance);
  sandbox::SeccompProgram expected;
  REQUIRE(sandbox::compile_seccomp(policy_from_spec(policy), &expected).ok());
  CHECK(same_code(policy_from_spec(policy).seccomp.code, expected.code));
}
