#include "keyhold/vault/secret_buffer.hpp"

#include <sodium.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace keyhold::vault {
namespace {

constexpr std::array<std::size_t, 4> kSlotSizes = {64, 256, 1024, 4096};
constexpr std::size_t kSlotsKeptPerSize = 32;

// Free, zeroed slots by size class. Leaked on purpose: buffers may be released during
// static destruction, after a pool object would have been destroyed.
struct SlotPool {
  std::mutex mutex;
  std::array<std::vector<std::uint8_t*>, kSlotSizes.size()> free;
};
SlotPool& slot_pool() {
  static SlotPool* pool = [] {
    auto* p = new SlotPool;
    for (auto& list : p->free) list.reserve(kSlotsKeptPerSize);  // release() must not allocate
    return p;
  }();
  return *pool;
}

// The pool class for size, or kSlotSizes.size() when size is too big to pool.
std::size_t slot_class(std::size_t size) {
  std::size_t i = 0;
  while (i < kSlotSizes.size() && kSlotSizes[i] < size) ++i;
  return i;
}

}  // namespace

SecretBuffer::SecretBuffer(std::size_t size) {
  if (sodium_init() < 0) std::abort();
  if (size == 0) return;
  const std::size_t cls = slot_class(size);
  capacity_ = cls < kSlotSizes.size() ? kSlotSizes[cls] : size;
  if (cls < kSlotSizes.size()) {
    SlotPool& pool = slot_pool();
    std::lock_guard lock(pool.mutex);
    if (!pool.free[cls].empty()) {
      data_ = pool.free[cls].back();
      pool.free[cls].pop_back();
    }
  }
  if (data_ == nullptr) data_ = static_cast<std::uint8_t*>(sodium_malloc(capacity_));
  if (data_ == nullptr) std::abort();
  std::memset(data_, 0, capacity_);
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

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : data_(other.data_), size_(other.size_), capacity_(other.capacity_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.capacity_ = 0;
}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    size_ = other.size_;
    capacity_ = other.capacity_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.capacity_ = 0;
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
  if (data_ == nullptr) return;
  sodium_memzero(data_, capacity_);
  const std::size_t cls = slot_class(capacity_);
  bool pooled = false;
  if (cls < kSlotSizes.size() && kSlotSizes[cls] == capacity_) {
    SlotPool& pool = slot_pool();
    std::lock_guard lock(pool.mutex);
    if (pool.free[cls].size() < kSlotsKeptPerSize) {
      pool.free[cls].push_back(data_);
      pooled = true;
    }
  }
  if (!pooled) sodium_free(data_);  // zeroes again, unlocks and unmaps
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
}

}  // namespace keyhold::vault
