#pragma once
// SecretBuffer: the only type that holds key material or a revealed value. The bytes live
// in sodium_malloc'd memory (guard pages, mlock'd, not dumped) and are zeroed when the
// buffer is released. Move-only; there is deliberately no operator<< and no conversion to
// std::string, so a value cannot slip into a log line or an exception message by accident.
//
// Small buffers (up to 4 KiB) are recycled through a bounded, process-wide pool of
// sodium_malloc'd slots (zeroed when returned) because sodium_malloc + sodium_free cost
// several system calls each, which dominated the cost of a reveal. Thread-safe.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace keyhold::vault {

class SecretBuffer {
 public:
  // An empty buffer (size 0, no allocation).
  SecretBuffer() noexcept = default;
  // Allocates size bytes, zero-filled. Aborts the process if sodium_malloc fails, because
  // continuing without guarded memory would silently weaken every guarantee.
  explicit SecretBuffer(std::size_t size);
  // Copies bytes into a new guarded buffer. The caller stays responsible for its source.
  static SecretBuffer copy_of(std::span<const std::uint8_t> bytes);
  static SecretBuffer copy_of(std::string_view bytes);

  SecretBuffer(SecretBuffer&& other) noexcept;
  SecretBuffer& operator=(SecretBuffer&& other) noexcept;
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  ~SecretBuffer();

  std::uint8_t* data() noexcept { return data_; }
  const std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::uint8_t> bytes() const noexcept { return {data_, size_}; }
  std::span<std::uint8_t> mutable_bytes() noexcept { return {data_, size_}; }
  // A borrowed view for APIs that take text (e.g. crypto_pwhash). Valid while *this lives.
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }
  // Shrinks the logical size (the tail is zeroed); used after reading into a larger buffer.
  void truncate(std::size_t new_size) noexcept;
  // Constant-time comparison of contents (sizes compared first, not secret).
  bool equals(const SecretBuffer& other) const noexcept;

 private:
  void release() noexcept;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;  // the slot size (a pool class) or the sodium_malloc'd size
};

}  // namespace keyhold::vault
