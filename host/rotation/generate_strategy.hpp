#pragma once
// `generate`: a new random value (options: length, alphabet) for a secret the host itself
// owns; there is no service to apply or test it with.
#include <cstddef>
#include <string>

#include "rotation/rotation_strategy.hpp"

namespace keyhold::rotation {

class GenerateStrategy : public RotationStrategy {
 public:
  GenerateStrategy(std::size_t length, std::string alphabet)
      : length_(length), alphabet_(std::move(alphabet)) {}
  Result<vault::SecretBuffer> create_value() override;
  Status apply(std::span<const std::uint8_t>) override { return Status::ok(); }
  Status test(std::span<const std::uint8_t>) override { return Status::ok(); }

 private:
  std::size_t length_;
  std::string alphabet_;
};

}  // namespace keyhold::rotation
