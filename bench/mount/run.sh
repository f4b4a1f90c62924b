#!/usr/bin/env bash
# Mount overhead: the same echo server (the minimal TypeScript-SDK stdio server of
# bench/stdio) talked to directly, and through keyhold, which mounts it with
# server.command. One driver (bench/stdio/driver.mjs --compare mount), one run.
# A report, not a test (not registered with ctest). See bench/README.md.
#
#   bench/mount/run.sh [N]          N tools/call requests per mode (default 20000)
#
# Environment: N, WINDOW (in flight when pipelined, default 64), STARTS (cold starts,
# default 5), WARMUP (default 1000), KEYHOLD (default build/bin/keyhold), NODE (default
# tests/e2e/node_modules/.bin/node).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

N="${1:-${N:-20000}}"
WINDOW="${WINDOW:-64}"
STARTS="${STARTS:-5}"
WARMUP="${WARMUP:-1000}"
KEYHOLD="${KEYHOLD:-$root/build/bin/keyhold}"
RUNNER="$(dirname "$KEYHOLD")/keyhold-runner"
NODE="${NODE:-$root/tests/e2e/node_modules/.bin/node}"
SERVER="$root/bench/stdio/sdk_echo_server.mjs"

for f in "$KEYHOLD" "$RUNNER" "$NODE" "$SERVER"; do
  [[ -e "$f" ]] || { echo "run.sh: missing $f (build keyhold and keyhold-runner; npm ci in tests/e2e)" >&2; exit 1; }
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/keyhold-mount-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/xdg-config" "$tmp/xdg-data"
# The mounted server reads the SDK from tests/e2e/node_modules (outside the default read
# list of its sandbox: the script's own folder is bench/stdio).
cat >"$tmp/keyhold.toml" <<TOML
[instances.mounted]
server.command = ["$(readlink -f "$NODE")", "$SERVER"]
[instances.mounted.sandbox]
read = ["$root/tests/e2e/node_modules", "$root/bench/stdio"]
TOML

export XDG_CONFIG_HOME="$tmp/xdg-config" XDG_DATA_HOME="$tmp/xdg-data"
echo "keyhold mount overhead bench ($(date -u +%Y-%m-%dT%H:%MZ), $("$KEYHOLD" --version 2>/dev/null | head -1))"
echo "through keyhold: driver -> keyhold serve -> (stdio, sandboxed) sdk_echo_server.mjs; direct: driver -> sdk_echo_server.mjs"
exec "$NODE" "$root/bench/stdio/driver.mjs" --compare mount --keyhold "$KEYHOLD" --config "$tmp/keyhold.toml" \
  --tool mounted_echo --sdk-server "$SERVER" --n "$N" --window "$WINDOW" --starts "$STARTS" --warmup "$WARMUP"
