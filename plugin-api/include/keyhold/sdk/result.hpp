// keyhold/sdk/result.hpp - the value-or-error type the SDK helpers return.
//
// Result<T> holds either a value or a message written for a person (what was wrong and
// what is accepted). It mirrors the vault's Result (is_ok(), value()) so host and plugin
// code read alike; C++20 has no std::expected. Messages never contain a secret value:
// helpers that may see one (base64, percent decoding) say only what was malformed.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace keyhold::sdk {

template <typename T>
class [[nodiscard]] Result {
 public:
  // A successful result holding value.
  static Result success(T value) {
    Result r;
    r.value_.emplace(std::move(value));
    return r;
  }
  // A failed result; error says what was wrong and what is accepted.
  static Result failure(std::string error) {
    Result r;
    r.error_ = std::move(error);
    return r;
  }

  bool is_ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return is_ok(); }
  // The value; calling it on a failed result is a programming error (asserted).
  const T& value() const& {
    assert(is_ok());
    return *value_;
  }
  T value() && {
    assert(is_ok());
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  // Why it failed; empty when is_ok().
  const std::string& error() const noexcept { return error_; }

 private:
  Result() = default;
  std::optional<T> value_;
  std::string error_;
};

}  // namespace keyhold::sdk
