#include "server/request_state.hpp"

#include <sodium.h>

#include <chrono>
#include <cstring>
#include <new>
#include <vector>

namespace keyhold {

using nlohmann::json;

namespace {

// Sealed layout: version byte || nonce || secretbox(JSON {"x": expiry, "s": state}).
constexpr unsigned char kFormat = 1;
constexpr std::size_t kHeaderBytes = 1 + crypto_secretbox_NONCEBYTES;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

unsigned char* allocate_key() {
  if (sodium_init() < 0) throw std::bad_alloc();
  auto* key = static_cast<unsigned char*>(sodium_malloc(RequestStateSealer::kKeyBytes));
  if (key == nullptr) throw std::bad_alloc();
  return key;
}

Status unreadable(std::string why) {
  return Status(vault::ErrorCode::kIntegrity, "requestState " + why +
                                                  ": retry the request without inputResponses and "
                                                  "requestState to start over");
}

}  // namespace

RequestStateSealer::RequestStateSealer() : key_(allocate_key()) { crypto_secretbox_keygen(key_); }

RequestStateSealer::RequestStateSealer(std::span<const unsigned char, kKeyBytes> key)
    : key_(allocate_key()) {
  std::memcpy(key_, key.data(), kKeyBytes);
}

RequestStateSealer::~RequestStateSealer() { sodium_free(key_); }

std::string RequestStateSealer::seal(const json& state, std::int64_t lifetime_seconds) const {
  const std::string plain = json{{"x", unix_now() + lifetime_seconds}, {"s", state}}.dump();
  std::vector<unsigned char> box(kHeaderBytes + crypto_secretbox_MACBYTES + plain.size());
  box[0] = kFormat;
  unsigned char* nonce = box.data() + 1;
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(box.data() + kHeaderBytes,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), nonce,
                        key_);
  std::string text(sodium_base64_ENCODED_LEN(box.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                   '\0');
  sodium_bin2base64(text.data(), text.size(), box.data(), box.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  text.resize(std::strlen(text.c_str()));
  return text;
}

Result<json> RequestStateSealer::open(std::string_view sealed) const {
  // Empty text is malformed too (and would hand libsodium a null buffer: UBSan caught it).
  if (sealed.empty()) return unreadable("is malformed");
  std::vector<unsigned char> box(sealed.size());
  std::size_t length = 0;
  if (sodium_base642bin(box.data(), box.size(), sealed.data(), sealed.size(), nullptr, &length,
                        nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      length < kHeaderBytes + crypto_secretbox_MACBYTES || box[0] != kFormat)
    return unreadable("is malformed");
  std::string plain(length - kHeaderBytes - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                 box.data() + kHeaderBytes, length - kHeaderBytes, box.data() + 1,
                                 key_) != 0)
    return unreadable("failed its integrity check (changed, or sealed by another host)");
  json envelope = json::parse(plain, nullptr, false);
  sodium_memzero(plain.data(), plain.size());
  if (!envelope.is_object() || !envelope.contains("x") || !envelope["x"].is_number_integer() ||
      !envelope.contains("s"))
    return unreadable("is malformed");
  if (envelope["x"].get<std::int64_t>() < unix_now()) return unreadable("has expired");
  return std::move(envelope["s"]);
}

}  // namespace keyhold
