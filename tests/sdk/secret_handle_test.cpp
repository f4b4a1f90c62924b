// keyhold/sdk/secret_handle.hpp: a handle is released exactly once, on every path.
#include <keyhold/sdk/secret_handle.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <vector>

namespace {
// A host table that hands out handles for "granted" and counts releases.
struct FakeHost {
  std::vector<std::uint64_t> released;
  std::uint64_t next = 1;
};
kh_status acquire(kh_host* host, const kh_call_ctx*, kh_str alias, kh_secret_handle* out) {
  if (std::string_view(alias.data, alias.size) != "granted") return KH_NOT_GRANTED;
  *out = kh_secret_handle{0, reinterpret_cast<FakeHost*>(host)->next++};
  return KH_OK;
}
kh_status release(kh_host* host, kh_secret_handle handle) {
  reinterpret_cast<FakeHost*>(host)->released.push_back(handle.lo);
  return KH_OK;
}
kh_host_api make_api() {
  kh_host_api api{};
  api.struct_size = sizeof api;
  api.abi_major = KH_ABI_MAJOR;
  api.abi_minor = KH_ABI_MINOR;
  api.secret_acquire = &acquire;
  api.secret_release = &release;
  return api;
}
}  // namespace

TEST_CASE("SecretHandle releases what it acquired when it goes out of scope", "[sdk][secrets]") {
  FakeHost fake;
  const kh_host_api api = make_api();
  const keyhold::Context ctx(keyhold::Host(reinterpret_cast<kh_host*>(&fake), &api), nullptr);
  {
    keyhold::sdk::SecretHandle handle;
    CHECK(handle.acquire(ctx, "granted") == KH_OK);
    CHECK(handle.held());
    CHECK(handle.get().lo == 1);
  }
  CHECK(fake.released == std::vector<std::uint64_t>{1});
}

TEST_CASE("SecretHandle holds nothing after a refusal and releases nothing", "[sdk][secrets]") {
  FakeHost fake;
  const kh_host_api api = make_api();
  const keyhold::Context ctx(keyhold::Host(reinterpret_cast<kh_host*>(&fake), &api), nullptr);
  {
    keyhold::sdk::SecretHandle handle;
    CHECK(handle.acquire(ctx, "denied") == KH_NOT_GRANTED);
    CHECK_FALSE(handle.held());
  }
  CHECK(fake.released.empty());
}

TEST_CASE("SecretHandle releases once across moves, re-acquire and a throw", "[sdk][secrets]") {
  FakeHost fake;
  const kh_host_api api = make_api();
  const keyhold::Context ctx(keyhold::Host(reinterpret_cast<kh_host*>(&fake), &api), nullptr);
  try {
    keyhold::sdk::SecretHandle first;
    REQUIRE(first.acquire(ctx, "granted") == KH_OK);      // handle 1
    keyhold::sdk::SecretHandle second(std::move(first));  // moved, not released
    CHECK(fake.released.empty());
    REQUIRE(second.acquire(ctx, "granted") == KH_OK);  // releases 1, holds 2
    keyhold::sdk::SecretHandle third;
    REQUIRE(third.acquire(ctx, "granted") == KH_OK);  // holds 3
    third = std::move(second);                        // releases 3, holds 2
    throw std::runtime_error("the tool failed");
  } catch (const std::runtime_error&) {
  }
  CHECK(fake.released == std::vector<std::uint64_t>{1, 3, 2});
}
