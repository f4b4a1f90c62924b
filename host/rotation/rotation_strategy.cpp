#include "rotation/rotation_strategy.hpp"

#include <nlohmann/json.hpp>

#include "rotation/command_strategy.hpp"
#include "rotation/generate_strategy.hpp"
#include "rotation/postgres_strategy.hpp"
#include "rotation/random_value.hpp"

namespace keyhold::rotation {
namespace {

struct GenerateOptions {
  std::size_t length = 32;
  std::string alphabet = "alnum";
};

Result<GenerateOptions> parse_generate_options(const std::string& options_json) {
  const auto j = nlohmann::json::parse(options_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("options are not a JSON object");
  GenerateOptions o;
  if (j.contains("length")) {
    if (!j["length"].is_number_unsigned()) return invalid_argument("length must be a number");
    o.length = j["length"].get<std::size_t>();
  }
  if (j.contains("alphabet") && !j["alphabet"].is_string()) {
    return invalid_argument("alphabet must be a string");
  }
  o.alphabet = j.value("alphabet", o.alphabet);
  if (alphabet_characters(o.alphabet).empty()) {
    return invalid_argument("unknown alphabet '" + o.alphabet +
                            "' (use alnum, hex, base64url or printable)");
  }
  if (o.length < 8 || o.length > 4096) return invalid_argument("length must be 8..4096");
  return o;
}

}  // namespace

Status validate_policy(const vault::RotationPolicy& policy) {
  if (policy.strategy == "generate") {
    auto o = parse_generate_options(policy.options);
    return o.is_ok() ? Status::ok() : o.status();
  }
  if (policy.strategy == "postgres") {
    if (policy.admin_secret.empty()) {
      return invalid_argument(
          "the postgres strategy needs --with ADMIN_SECRET (the vault secret "
          "with the admin login's password)");
    }
    auto o = parse_postgres_options(policy.options);
    return o.is_ok() ? Status::ok() : o.status();
  }
  if (policy.strategy == "command") {
    auto o = parse_command_options(policy.options);
    return o.is_ok() ? Status::ok() : o.status();
  }
  return invalid_argument("unknown rotation strategy '" + policy.strategy +
                          "' (use generate, postgres or command)");
}

Result<std::unique_ptr<RotationStrategy>> make_strategy(const vault::RotationPolicy& policy,
                                                        vault::Vault& vault) {
  if (auto valid = validate_policy(policy); !valid.is_ok()) return valid;
  std::unique_ptr<RotationStrategy> out;
  if (policy.strategy == "generate") {
    auto o = parse_generate_options(policy.options).value();
    out = std::make_unique<GenerateStrategy>(o.length, o.alphabet);
  } else if (policy.strategy == "postgres") {
    out = std::make_unique<PostgresStrategy>(parse_postgres_options(policy.options).value(),
                                             policy.admin_secret, vault);
  } else {
    out = std::make_unique<CommandStrategy>(parse_command_options(policy.options).value());
  }
  return out;
}

}  // namespace keyhold::rotation
