// Times HandleBroker::sign (hmac-sha256 and aws4-signing-key) and reveal against a real
// keyfile vault, as a plugin would call them through the ABI (minus the C call itself).
// Prints microseconds per call; target (issue 4): sign <= 5 us.
#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "secrets/handle_broker.hpp"

using namespace keyhold;

namespace {
template <class F>
double per_call_us(int n, F&& f) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) f();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  return std::chrono::duration<double, std::micro>(elapsed).count() / n;
}

int32_t fail(const char* what) {
  std::fprintf(stderr, "secrets_bench: %s\n", what);
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  if (sodium_init() < 0) return fail("sodium_init");
  const auto dir = std::filesystem::temp_directory_path() /
                   ("keyhold-secrets-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto credentials = vault::Credentials::create_keyfile(dir / "key");
  if (!credentials.is_ok()) return fail("keyfile");
  auto created = vault::Vault::create(dir / "vault.db", credentials.value(),
                                      vault::KdfParams::minimum_for_tests(), {"bench", ""});
  if (!created.is_ok()) return fail(created.status().message().c_str());
  auto shared = std::make_shared<secrets::SharedVault>(std::move(created).value());
  const std::string value = "bench-secret-value-0123456789";
  shared->with([&](vault::Vault& v) {
    (void)v.put_secret("bench/key", {reinterpret_cast<const uint8_t*>(value.data()), value.size()},
                       {}, {"bench", ""});
    (void)v.grant("inst", "bench/key", 1 | 2, std::nullopt, {"bench", ""});
    return 0;
  });
  static const kh_secret_decl decls[] = {{"key", "bench", KH_SECRET_OP_REVEAL | KH_SECRET_OP_SIGN}};
  kh_plugin def{};
  def.name = "bench";
  def.secrets = decls;
  def.secret_count = 1;
  {
    secrets::HandleBroker broker(shared);
    if (auto bound = broker.bind_instance("inst", def, {{"key", {"vault:bench/key", {}}}});
        !bound.is_ok())
      return fail(bound.message().c_str());
    auto acquired = broker.acquire("inst", "key", "1");
    if (!acquired.is_ok()) return fail("acquire");
    const kh_secret_handle handle = acquired.value();
    const double hmac = per_call_us(n, [&] {
      (void)broker.sign("inst", handle, "hmac-sha256", "GET\n/\n\nhost:example.com", "1");
    });
    const double aws = per_call_us(n, [&] {
      (void)broker.sign("inst", handle, "aws4-signing-key",
                        R"({"date":"20261126","region":"us-east-1","service":"s3"})", "1");
    });
    std::size_t seen = 0;
    const double reveal = per_call_us(n, [&] {
      (void)broker.reveal(
          "inst", handle, "1",
          [](void* user, const unsigned char*, size_t size) {
            *static_cast<std::size_t*>(user) += size;
          },
          &seen);
    });
    broker.flush_audit();
    std::printf("calls per operation: %d (every call audited asynchronously)\n", n);
    std::printf("sign hmac-sha256      %8.2f us/call   target <= 5 us: %s\n", hmac,
                hmac <= 5 ? "PASS" : "MISS");
    std::printf("sign aws4-signing-key %8.2f us/call   target <= 5 us: %s\n", aws,
                aws <= 5 ? "PASS" : "MISS");
    std::printf("reveal                %8.2f us/call\n", reveal);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
