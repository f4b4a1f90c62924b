#pragma once
// The host side of kh_call_ctx: one client request in flight at a plugin.
#include <keyhold/plugin.h>

#include <atomic>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>

#include "secrets/oauth_tokens.hpp"

namespace keyhold {
class HostServices;
class PluginInstance;
}  // namespace keyhold

// Defined at global scope because plugin.h declares it there (as an opaque type).
struct kh_call_ctx {
  nlohmann::json request_id;                          // the JSON-RPC id of the client's request
  nlohmann::json progress_token;                      // params._meta.progressToken, or null
  keyhold::HostServices* services = nullptr;          // the session that owns the request
  const keyhold::PluginInstance* instance = nullptr;  // the instance serving it, when known
  std::atomic<bool> cancelled{false};
  // The authenticated client the request serves (its subject set at dispatch), and the
  // per_user OAuth providers it must authorize first, as the broker found them.
  keyhold::secrets::OAuthUser oauth_user;

  // Progress must not go backwards; guarded because a plugin may report from threads.
  std::mutex progress_mutex;
  double last_progress = -std::numeric_limits<double>::infinity();
};

namespace keyhold {
using CallContext = kh_call_ctx;
}
