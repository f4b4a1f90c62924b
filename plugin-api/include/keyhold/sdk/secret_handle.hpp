// keyhold/sdk/secret_handle.hpp - an acquired secret handle that is released exactly once,
// when the object goes out of scope (also when the code holding it throws).
//
//   keyhold::sdk::SecretHandle password;
//   if (password.acquire(ctx, "password") == KH_OK)
//     ctx.reveal_secret(password.get(), [&](std::string_view value) { ... });
//
// Move-only. It holds a handle, never a value: revealing stays an explicit call on the
// Context. Not thread-safe; use it within the request that acquired it.
#pragma once

#include <keyhold/plugin.hpp>

#include <optional>
#include <string_view>
#include <utility>

namespace keyhold::sdk {

class SecretHandle {
 public:
  SecretHandle() = default;
  SecretHandle(const SecretHandle&) = delete;
  SecretHandle& operator=(const SecretHandle&) = delete;
  SecretHandle(SecretHandle&& other) noexcept
      : host_(std::exchange(other.host_, std::nullopt)), handle_(other.handle_) {}
  SecretHandle& operator=(SecretHandle&& other) noexcept {
    if (this != &other) {
      release();
      host_ = std::exchange(other.host_, std::nullopt);
      handle_ = other.handle_;
    }
    return *this;
  }
  ~SecretHandle() { release(); }

  // Releases any handle held, then asks the host for one for `alias`. Returns the KH_*
  // status (KH_NOT_GRANTED without a grant); the object holds the handle only on KH_OK.
  int32_t acquire(const Context& ctx, std::string_view alias) {
    release();
    kh_secret_handle handle{};
    const int32_t status = ctx.acquire_secret(alias, &handle);
    if (status == KH_OK) {
      host_.emplace(ctx.host());
      handle_ = handle;
    }
    return status;
  }
  // True while a handle is held.
  bool held() const noexcept { return host_.has_value(); }
  // The raw handle for Context::reveal_secret / sign_with_secret; only valid while held().
  kh_secret_handle get() const noexcept { return handle_; }
  // Gives the handle back to the host now (a no-op when none is held).
  void release() noexcept {
    if (host_) {
      try {
        host_->release_secret(handle_);
      } catch (...) {
      }
      host_.reset();
    }
  }

 private:
  std::optional<Host> host_;  // set while a handle is held
  kh_secret_handle handle_{};
};

}  // namespace keyhold::sdk
