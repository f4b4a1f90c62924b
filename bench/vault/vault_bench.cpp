// Vault benchmark: prints figures, asserts nothing. Usage:
//   vault_bench [--secrets N]... [--keyhold PATH]
// For each N (default 1000 10000 100000) it builds a fresh vault of N secrets and reports
// unlock (keyfile), set, reveal (in-process, unlocked), list, and `keyhold vault list --json`
// end to end when --keyhold is given. Unlock with a passphrase at Argon2id MODERATE is
// reported once, separately (it is meant to be slow).
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "keyhold/vault/vault.hpp"

namespace kv = keyhold::vault;
using Clock = std::chrono::steady_clock;

namespace {

double micros_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

template <typename T>
T must(kv::Result<T> r, const char* what) {
  if (!r.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", what, r.status().message().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

double run_cli_list(const std::string& keyhold, const std::filesystem::path& vault,
                    const std::filesystem::path& keyfile) {
  std::fflush(stdout);  // or the child would flush our buffered table a second time
  const auto start = Clock::now();
  const pid_t child = ::fork();
  if (child == 0) {
    ::setenv("KEYHOLD_KEYFILE", keyfile.c_str(), 1);
    ::setenv("KEYHOLD_VAULT", vault.c_str(), 1);
    if (std::freopen("/dev/null", "w", stdout) == nullptr) ::_exit(120);
    ::execl(keyhold.c_str(), keyhold.c_str(), "vault", "list", "--json", nullptr);
    ::_exit(121);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "keyhold vault list --json failed\n");
    std::exit(1);
  }
  return micros_since(start) / 1000.0;
}

void bench_size(int n, const std::string& keyhold, const std::filesystem::path& dir) {
  const auto path = dir / ("bench-" + std::to_string(n) + ".db");
  const auto keyfile = dir / ("bench-" + std::to_string(n) + ".key");
  const kv::AuditContext who{"bench", ""};
  const auto credentials = must(kv::Credentials::create_keyfile(keyfile), "keyfile");
  {
    auto vault = must(kv::Vault::create(path, credentials, {}, who), "create");
    for (int i = 0; i < n; ++i) {
      must(vault.put_secret("svc" + std::to_string(i % 100) + "/secret-" + std::to_string(i),
                            bytes("value-" + std::to_string(i) + "-padding-to-32-bytes"), {}, who),
           "populate");
    }
  }
  auto start = Clock::now();
  auto vault = must(kv::Vault::open(path, credentials), "open");
  const double unlock_us = micros_since(start);

  std::mt19937 rng(1);
  constexpr int kSets = 500;
  start = Clock::now();
  for (int i = 0; i < kSets; ++i) {
    const int k = static_cast<int>(rng() % static_cast<unsigned>(n));
    must(vault.put_secret("svc" + std::to_string(k % 100) + "/secret-" + std::to_string(k),
                          bytes("rotated-value"), {}, who),
         "set");
  }
  const double set_us = micros_since(start) / kSets;

  constexpr int kReveals = 20000;
  std::vector<std::string> names;
  for (int i = 0; i < kReveals; ++i) {
    const int k = static_cast<int>(rng() % static_cast<unsigned>(n));
    names.push_back("svc" + std::to_string(k % 100) + "/secret-" + std::to_string(k));
  }
  start = Clock::now();
  std::size_t total = 0;
  for (const auto& name : names) total += must(vault.read_secret(name), "reveal").size();
  const double reveal_us = micros_since(start) / kReveals;

  start = Clock::now();
  const auto listed = must(vault.list_secrets(), "list");
  const double list_ms = micros_since(start) / 1000.0;

  double cli_ms = -1;
  if (!keyhold.empty()) cli_ms = run_cli_list(keyhold, path, keyfile);
  std::printf("%8d  %10.0f  %8.1f  %10.2f  %9.1f  %12s  (%zu listed, %zu bytes read)\n", n,
              unlock_us, set_us, reveal_us, list_ms,
              cli_ms < 0 ? "-" : (std::to_string(cli_ms).substr(0, 6)).c_str(), listed.size(),
              total);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  std::string keyhold;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--secrets" && i + 1 < argc) {
      sizes.push_back(std::atoi(argv[++i]));
    } else if (arg == "--keyhold" && i + 1 < argc) {
      keyhold = argv[++i];
    } else {
      std::fprintf(stderr, "usage: vault_bench [--secrets N]... [--keyhold PATH]\n");
      return 2;
    }
  }
  if (sizes.empty()) sizes = {1000, 10000, 100000};
  const auto dir = std::filesystem::temp_directory_path() /
                   ("keyhold-vault-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);

  {
    const kv::AuditContext who{"bench", ""};
    const auto pass = kv::Credentials::passphrase(kv::SecretBuffer::copy_of(std::string_view("p")));
    must(kv::Vault::create(dir / "moderate.db", pass, kv::KdfParams::moderate(), who), "create");
    const auto start = Clock::now();
    must(kv::Vault::open(dir / "moderate.db", pass), "open");
    std::printf("unlock with a passphrase (Argon2id MODERATE): %.0f ms\n\n",
                micros_since(start) / 1000.0);
  }
  std::printf("%8s  %10s  %8s  %10s  %9s  %12s\n", "secrets", "unlock(us)", "set(us)", "reveal(us)",
              "list(ms)", "cli-list(ms)");
  for (int n : sizes) bench_size(n, keyhold, dir);
  std::filesystem::remove_all(dir);
  return 0;
}
