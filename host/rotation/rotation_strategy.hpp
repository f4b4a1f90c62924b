#pragma once
// One way of making a new value of a secret and getting the service that checks it to
// accept it. The rotation runner (rotation_runner.hpp) drives a strategy through the
// stages pending -> tested -> current; a strategy never touches version labels itself.
//
// Contract for every strategy: apply and test are idempotent (a rotation resumed after a
// crash calls them again with the same value), and no message ever holds a value.
#include <cstdint>
#include <memory>
#include <span>

#include "base/status.hpp"
#include "keyhold/vault/vault.hpp"

namespace keyhold::rotation {

class RotationStrategy {
 public:
  virtual ~RotationStrategy() = default;
  // A new value for the pending version.
  virtual Result<vault::SecretBuffer> create_value() = 0;
  // Makes the service accept value (postgres: ALTER ROLE ... PASSWORD). OK when there is no
  // service to tell (generate).
  virtual Status apply(std::span<const std::uint8_t> value) = 0;
  // Proves that the service accepts value (postgres: a login with it). OK when the strategy
  // has nothing to test with.
  virtual Status test(std::span<const std::uint8_t> value) = 0;
};

// The strategy policy names, reading what it needs (an admin secret) from vault, which
// must outlive it. kInvalidArgument when the policy's options do not fit the strategy.
Result<std::unique_ptr<RotationStrategy>> make_strategy(const vault::RotationPolicy& policy,
                                                        vault::Vault& vault);

// Checks a policy before it is stored (`vault set-rotation`): known strategy, options of
// the right shape. Reads nothing.
Status validate_policy(const vault::RotationPolicy& policy);

}  // namespace keyhold::rotation
