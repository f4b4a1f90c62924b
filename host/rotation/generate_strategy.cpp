#include "rotation/generate_strategy.hpp"

#include "rotation/random_value.hpp"

namespace keyhold::rotation {

Result<vault::SecretBuffer> GenerateStrategy::create_value() {
  return random_value(length_, alphabet_);
}

}  // namespace keyhold::rotation
