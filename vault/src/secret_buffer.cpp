#include "keyhold/vault/secret_buffer.hpp"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace keyhold::vault {

SecretBuffer::SecretBuffer(std::size_t size) {
  if (sodium_init() < 0) std::abort();
  if (size == 0) return;
  data_ = static_cast<std::uint8_t*>(sodium_malloc(size));
  if (data_ == nullptr) std::abort();
  std::memset(data_, 0, size);
  size_ = size;
}

SecretBuffer SecretBuffer::copy_of(std::span<const std::uint8_t> bytes) {
  SecretBuffer buffer(bytes.size());
  if (!bytes.empty()) std::memcpy(buffer.data_, bytes.data(), bytes.size());
  return buffer;
}

SecretBuffer SecretBuffer::copy_of(std::string_view bytes) {
  return copy_of(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                               bytes.size()));
}

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

SecretBuffer::~SecretBuffer() { release(); }

void SecretBuffer::truncate(std::size_t new_size) noexcept {
  if (new_size >= size_) return;
  sodium_memzero(data_ + new_size, size_ - new_size);
  size_ = new_size;
}

bool SecretBuffer::equals(const SecretBuffer& other) const noexcept {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(data_, other.data_, size_) == 0;
}

void SecretBuffer::release() noexcept {
  if (data_ != nullptr) sodium_free(data_);  // sodium_free zeroes before unmapping
  data_ = nullptr;
  size_ = 0;
}

}  // namespace keyhold::vault
