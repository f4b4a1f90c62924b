#include <catch2/catch.hpp>

#include <set>

#include "loader/abi_status.hpp"

using namespace keyhold;

TEST_CASE("abi status: each KH_ code a plugin can see comes from one ErrorCode and back") {
  // The host's outcome -> the code plugins have always received for it.
  const std::pair<ErrorCode, kh_status> kept[] = {
      {ErrorCode::kOk, KH_OK},
      {ErrorCode::kInternal, KH_ERROR},
      {ErrorCode::kInvalidArgument, KH_INVALID_ARGUMENT},
      {ErrorCode::kNotFound, KH_NOT_FOUND},
      {ErrorCode::kPermissionDenied, KH_NOT_GRANTED},
      {ErrorCode::kCancelled, KH_CANCELLED},
      {ErrorCode::kUnsupported, KH_UNSUPPORTED},
      {ErrorCode::kUnavailable, KH_UNAVAILABLE},
  };
  std::set<kh_status> seen;
  for (const auto& [code, expected] : kept) {
    INFO(error_code_name(code));
    CHECK(to_kh_status(Status(code, "a message")) == expected);
    seen.insert(expected);
  }
  // Every KH_ status of plugin.h (KH_OK = 0 .. KH_UNAVAILABLE = 7) is reachable.
  CHECK(seen.size() == 8);
  CHECK(*seen.begin() == KH_OK);
  CHECK(*seen.rbegin() == KH_UNAVAILABLE);
}

TEST_CASE("abi status: host-only failures reach a plugin as a plain KH_ERROR") {
  for (ErrorCode code : {ErrorCode::kAlreadyExists, ErrorCode::kUnlockFailed, ErrorCode::kIntegrity,
                         ErrorCode::kIo, ErrorCode::kInsecurePermissions}) {
    INFO(error_code_name(code));
    CHECK(to_kh_status(Status(code, "x")) == KH_ERROR);
  }
  CHECK(to_kh_status(Status::ok()) == KH_OK);
}
