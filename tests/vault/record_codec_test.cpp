// The sealed-record decoder on hostile input (issue 3 acceptance 5, decoder half).
#include <random>

#include "keyhold/vault/record_codec.hpp"
#include "vault_test_support.hpp"

namespace keyhold::vault::testing {
namespace {

TEST_CASE("decode_record rejects empty, short and unknown-format blobs", "[vault][codec]") {
  CHECK(decode_record({}).status().code() == ErrorCode::kIntegrity);
  std::vector<std::uint8_t> blob(40, 0);
  blob[0] = kRecordFormat;
  CHECK(decode_record(blob).status().code() ==
        ErrorCode::kIntegrity);  // one byte short of 1 + 24 + 16
  blob.push_back(0);
  auto ok = decode_record(blob);
  REQUIRE(ok.is_ok());
  CHECK(ok->sealed.size() == 40);
  blob[0] = 2;
  CHECK(decode_record(blob).status().code() == ErrorCode::kUnsupported);
}

TEST_CASE("decode_record never fails badly on random input", "[vault][codec]") {
  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> blob(rng() % 96);
    for (auto& b : blob) b = static_cast<std::uint8_t>(rng());
    if (!blob.empty() && rng() % 2) blob[0] = kRecordFormat;
    auto decoded = decode_record(blob);
    if (decoded.is_ok()) {
      CHECK(decoded->sealed.data() == blob.data() + 1);
      CHECK(decoded->sealed.size() == blob.size() - 1);
    }
  }
}

TEST_CASE("associated data differs in every bound field", "[vault][codec]") {
  const RecordLocation base{1, "a", 1, 1};
  const auto ad = record_associated_data(base);
  CHECK(record_associated_data({2, "a", 1, 1}) != ad);
  CHECK(record_associated_data({1, "b", 1, 1}) != ad);
  CHECK(record_associated_data({1, "a", 2, 1}) != ad);
  CHECK(record_associated_data({1, "a", 1, 2}) != ad);
}

}  // namespace
}  // namespace keyhold::vault::testing
