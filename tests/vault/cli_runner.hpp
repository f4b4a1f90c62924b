#pragma once
// Runs the real keyhold binary as a child process with a private environment, no
// controlling terminal (setsid), the given stdin, and stdout/stderr captured to files.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "vault_test_support.hpp"

#ifndef KEYHOLD_BINARY
#error "KEYHOLD_BINARY must name the keyhold executable"
#endif

namespace keyhold::vault::testing {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class CliRunner {
 public:
  explicit CliRunner(const ScratchDir& dir) : dir_(dir) {
    env_["KEYHOLD_VAULT"] = (dir / "vault.db").string();
    env_["KEYHOLD_VAULT_INSECURE_FAST_KDF"] = "1";
    env_["HOME"] = dir.path().string();
  }
  std::map<std::string, std::string>& env() { return env_; }

  // Runs `keyhold args...`; every result is also kept for transcript().
  CliResult run(const std::vector<std::string>& args, std::string_view input = {}) {
    const auto in_path = dir_ / "stdin", out_path = dir_ / "stdout", err_path = dir_ / "stderr";
    write_file(in_path, input);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::setsid();  // no controlling terminal: the CLI must never wait for a prompt
      const int in = ::open(in_path.c_str(), O_RDONLY);
      const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (in < 0 || out < 0 || err < 0) ::_exit(120);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      std::vector<std::string> storage;
      for (const auto& [k, v] : env_) storage.push_back(k + "=" + v);
      if (const char* asan = std::getenv("ASAN_OPTIONS"))
        storage.push_back(std::string("ASAN_OPTIONS=") + asan);
      if (const char* ubsan = std::getenv("UBSAN_OPTIONS"))
        storage.push_back(std::string("UBSAN_OPTIONS=") + ubsan);
      std::vector<char*> envp, argv;
      for (auto& s : storage) envp.push_back(s.data());
      envp.push_back(nullptr);
      std::string binary = KEYHOLD_BINARY;
      argv.push_back(binary.data());
      std::vector<std::string> args_copy = args;
      for (auto& a : args_copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execve(binary.c_str(), argv.data(), envp.data());
      ::_exit(121);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CliResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = read_file(out_path);
    result.err = read_file(err_path);
    std::string line = "$ keyhold";
    for (const auto& a : args) line += " " + a;
    transcript_.push_back({line, result, !args.empty() && args.size() > 1 && args[1] == "reveal"});
    return result;
  }

  // Every output of every command run so far, except the stdout of `reveal`.
  std::string outputs_except_reveal() const {
    std::string all;
    for (const auto& t : transcript_) {
      all += t.command + "\n" + t.result.err + "\n";
      if (!t.is_reveal) all += t.result.out + "\n";
    }
    return all;
  }
  std::size_t commands_run() const { return transcript_.size(); }
  // True when text appears in no output so far except the stdout of `reveal`.
  bool out_contains_no(std::string_view text) const {
    return outputs_except_reveal().find(text) == std::string::npos;
  }

 private:
  struct Entry {
    std::string command;
    CliResult result;
    bool is_reveal;
  };
  const ScratchDir& dir_;
  std::map<std::string, std::string> env_;
  std::vector<Entry> transcript_;
};

}  // namespace keyhold::vault::testing
