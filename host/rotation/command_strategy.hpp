#pragma once
// `command`: an administrator's program, argv exactly as given (no shell). Options (JSON):
//   argv       the program that sets the value; with "value_from": "keyhold" (default) it
//              gets the new value on stdin, with "program" it makes the value itself and
//              prints it on stdout (and must have applied it when it exits 0)
//   test_argv  optional: a program that gets the value on stdin and exits 0 when the
//              service accepts it
//   timeout_seconds (30), length (32), alphabet (alnum) for values keyhold makes.
// apply must be idempotent: a rotation resumed after a crash runs it again with the same value.
#include <chrono>
#include <string>
#include <vector>

#include "rotation/rotation_strategy.hpp"

namespace keyhold::rotation {

struct CommandOptions {
  std::vector<std::string> argv;
  std::vector<std::string> test_argv;
  bool program_makes_value = false;
  std::chrono::seconds timeout{30};
  std::size_t length = 32;
  std::string alphabet = "alnum";
};

Result<CommandOptions> parse_command_options(const std::string& options_json);

class CommandStrategy : public RotationStrategy {
 public:
  explicit CommandStrategy(CommandOptions options) : options_(std::move(options)) {}
  Result<vault::SecretBuffer> create_value() override;
  Status apply(std::span<const std::uint8_t> value) override;
  Status test(std::span<const std::uint8_t> value) override;

 private:
  CommandOptions options_;
};

}  // namespace keyhold::rotation
