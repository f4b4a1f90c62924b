#include "secrets/source_pass.hpp"

#include <algorithm>

#include "secrets/source_command.hpp"

namespace keyhold::secrets {
namespace {

class PassProvider : public SourceProvider {
 public:
  PassProvider(std::string name, bool first_line, std::chrono::seconds timeout)
      : name_(std::move(name)), first_line_(first_line), timeout_(timeout) {}
  Result<vault::SecretBuffer> fetch(SharedVault*) override {
    auto value = run_source_command("pass:" + name_, {"pass", "show", name_}, timeout_);
    if (!value.is_ok() || !first_line_) return value;
    const auto bytes = value.value().bytes();
    const auto newline = std::find(bytes.begin(), bytes.end(), '\n');
    value.value().truncate(static_cast<std::size_t>(newline - bytes.begin()));
    if (value.value().size() == 0)
      return unavailable("the first line of pass entry '" + name_ +
                         "' is empty (use line=all for the whole entry)");
    return value;
  }

 private:
  std::string name_;
  bool first_line_;
  std::chrono::seconds timeout_;
};

}  // namespace

Result<std::unique_ptr<SourceProvider>> make_pass_provider(const std::string& ref,
                                                           SourceOptions& options) {
  if (ref.starts_with('-')) return invalid_argument("a pass entry name cannot start with '-'");
  const std::string line = take_option(options, "line", "first");
  if (line != "first" && line != "all") return invalid_argument("option line must be first or all");
  return std::unique_ptr<SourceProvider>(
      std::make_unique<PassProvider>(ref, line == "first", options.timeout));
}

}  // namespace keyhold::secrets
