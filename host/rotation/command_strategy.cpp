#include "rotation/command_strategy.hpp"

#include <nlohmann/json.hpp>

#include "rotation/child_program.hpp"
#include "rotation/random_value.hpp"

namespace keyhold::rotation {
namespace {

Result<std::vector<std::string>> argv_option(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key)) return out;
  if (!j[key].is_array()) return invalid_argument(std::string(key) + " must be a list of strings");
  for (const auto& item : j[key]) {
    if (!item.is_string()) return invalid_argument(std::string(key) + " must be a list of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

Result<CommandOptions> parse_command_options(const std::string& options_json) {
  const auto j = nlohmann::json::parse(options_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("options are not a JSON object");
  CommandOptions o;
  auto argv = argv_option(j, "argv");
  if (!argv.is_ok()) return argv.status();
  o.argv = argv.value();
  if (o.argv.empty()) return invalid_argument("the command strategy needs --argv PROGRAM [ARG...]");
  auto test_argv = argv_option(j, "test_argv");
  if (!test_argv.is_ok()) return test_argv.status();
  o.test_argv = test_argv.value();
  const std::string from = j.value("value_from", std::string("keyhold"));
  if (from != "keyhold" && from != "program") {
    return invalid_argument("value_from must be 'keyhold' or 'program'");
  }
  o.program_makes_value = from == "program";
  if (j.contains("timeout_seconds")) {
    if (!j["timeout_seconds"].is_number_unsigned() || j["timeout_seconds"].get<long long>() < 1) {
      return invalid_argument("timeout_seconds must be a positive number");
    }
    o.timeout = std::chrono::seconds(j["timeout_seconds"].get<long long>());
  }
  if (j.contains("length")) {
    if (!j["length"].is_number_unsigned()) return invalid_argument("length must be a number");
    o.length = j["length"].get<std::size_t>();
  }
  o.alphabet = j.value("alphabet", o.alphabet);
  if (alphabet_characters(o.alphabet).empty()) {
    return invalid_argument("unknown alphabet '" + o.alphabet + "'");
  }
  return o;
}

Result<vault::SecretBuffer> CommandStrategy::create_value() {
  if (!options_.program_makes_value) return random_value(options_.length, options_.alphabet);
  auto run = run_program(options_.argv, {}, options_.timeout);
  if (!run.is_ok()) return run.status();
  vault::SecretBuffer value = std::move(run->stdout_bytes);
  std::size_t size = value.size();
  while (size > 0 && (value.data()[size - 1] == '\n' || value.data()[size - 1] == '\r')) --size;
  value.truncate(size);
  if (value.empty()) return invalid_argument("'" + options_.argv[0] + "' printed no value");
  return value;
}

Status CommandStrategy::apply(std::span<const std::uint8_t> value) {
  if (options_.program_makes_value) return Status::ok();  // it applied what it printed
  auto run = run_program(options_.argv, value, options_.timeout);
  return run.is_ok() ? Status::ok() : run.status();
}

Status CommandStrategy::test(std::span<const std::uint8_t> value) {
  if (options_.test_argv.empty()) return Status::ok();
  auto run = run_program(options_.test_argv, value, options_.timeout);
  return run.is_ok() ? Status::ok() : run.status();
}

}  // namespace keyhold::rotation
