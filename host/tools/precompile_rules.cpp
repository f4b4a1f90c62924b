// Build step: compiles the shipped credential rules (host/secrets/credential_rules.toml)
// into their two Hyperscan databases and writes them serialized, one file each, for the
// redactor to embed (secrets/precompiled_rules.*: the assembler's .incbin). Compiling them
// takes most of a cold start (tens of milliseconds); loading a serialized database takes
// about a millisecond.
//   keyhold-precompile-rules DETECT.hsdb POSITIONS.hsdb STAMP.hpp
// The databases are built for this machine's CPU by the libhs this build links. Where the
// binary later runs on another CPU or with another libhs, the redactor's load fails and it
// compiles the rules itself, as before.
#include <hs/hs.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "secrets/credential_rules.hpp"
#include "secrets/rule_expressions.hpp"

namespace {

// Compiles and serializes one database; exits on failure (a broken rule fails the build).
std::string serialized(const std::vector<keyhold::secrets::CredentialRule>& rules, bool som) {
  const auto set = keyhold::secrets::rule_expressions(rules, som);
  hs_database_t* db = nullptr;
  hs_compile_error_t* error = nullptr;
  if (hs_compile_multi(set.expressions.data(), set.flags.data(), set.ids.data(),
                       static_cast<unsigned>(set.expressions.size()), HS_MODE_BLOCK, nullptr, &db,
                       &error) != HS_SUCCESS) {
    std::fprintf(stderr, "precompile_rules: %s\n", error != nullptr ? error->message : "error");
    std::exit(1);
  }
  char* bytes = nullptr;
  size_t length = 0;
  if (hs_serialize_database(db, &bytes, &length) != HS_SUCCESS) {
    std::fprintf(stderr, "precompile_rules: cannot serialize the database\n");
    std::exit(1);
  }
  std::string out(bytes, length);
  std::free(bytes);
  hs_free_database(db);
  return out;
}

// Writes bytes to path through a temporary file; false (errno set) on failure.
bool write_file(const std::string& path, const std::string& bytes) {
  const std::string temporary = path + ".tmp";
  std::FILE* out = std::fopen(temporary.c_str(), "wb");
  if (out == nullptr) return false;
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), out) == bytes.size();
  return std::fclose(out) == 0 && written && std::rename(temporary.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: keyhold-precompile-rules DETECT.hsdb POSITIONS.hsdb STAMP.hpp\n");
    return 2;
  }
  const auto& rules = keyhold::secrets::builtin_credential_rules();
  // FNV-1a of both databases: the stamp header makes a compiler cache (ccache), which
  // cannot see what .incbin reads, rebuild the embedding object when they change.
  std::uint64_t stamp = 14695981039346656037ull;
  for (int som = 0; som < 2; ++som) {
    const char* path = argv[1 + som];
    const std::string bytes = serialized(rules, som == 1);
    for (unsigned char c : bytes) stamp = (stamp ^ c) * 1099511628211ull;
    if (!write_file(path, bytes)) {
      std::perror(path);
      return 1;
    }
  }
  const std::string header =
      "#pragma once\n#define KEYHOLD_RULES_DB_STAMP \"" + std::to_string(stamp) + "\"\n";
  if (!write_file(argv[3], header)) {
    std::perror(argv[3]);
    return 1;
  }
  return 0;
}
