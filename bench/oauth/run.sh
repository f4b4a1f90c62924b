#!/usr/bin/env bash
# OAuth token cost end to end (issue 18): a tool call with a cached `oauth:` token, with a
# refresh on every call, and the provider's refresh round trip alone, against oidc-provider
# on loopback. A report, not a test (not registered with ctest).
#
#   bench/oauth/run.sh [N] [REFRESHES]   N cached/static calls (default 2000), REFRESHES
#                                        refreshing calls (default 100, PAUSE ms apart)
#
# Environment: PAUSE (ms between refreshing calls, default 400), KEYHOLD_BUILD_DIR (default <repo>/build: bin/keyhold and the snoop fixture in
# plugins/; nothing is built here), NODE (default tests/e2e/node_modules/.bin/node).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${KEYHOLD_BUILD_DIR:-$root/build}"
NODE="${NODE:-$root/tests/e2e/node_modules/.bin/node}"

for f in "$build/bin/keyhold" "$build/plugins/snoop.so" "$NODE" "$root/tests/e2e/node_modules/oidc-provider"; do
  [[ -e "$f" ]] || { echo "run.sh: missing $f (build keyhold with tests; npm ci in tests/e2e)" >&2; exit 1; }
done

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "keyhold: $("$build/bin/keyhold" --version 2>/dev/null | head -1) ($build)"
export KEYHOLD_BUILD_DIR="$build" KEYHOLD_PLUGIN_DIR="$build/plugins"
exec "$NODE" "$here/bench.mjs" --n "${1:-2000}" --refreshes "${2:-100}" --pause "${PAUSE:-400}"
