#!/usr/bin/env bash
# stdio round trip: keyhold vs a minimal TypeScript-SDK echo server, in one run.
# A report, not a test (not registered with ctest). See bench/README.md.
#
#   bench/stdio/run.sh [N]          N tools/call requests per mode (default 20000)
#
# Environment: N, WINDOW (in flight when pipelined; "all" writes every request at once;
# default 64), STARTS (cold starts, default 7), WARMUP (default 1000),
# KEYHOLD (default build/bin/keyhold), ECHO_PLUGIN (default build/plugins/echo.so),
# NODE (default tests/e2e/node_modules/.bin/node, else node on PATH).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

N="${1:-${N:-20000}}"
WINDOW="${WINDOW:-64}"
STARTS="${STARTS:-7}"
WARMUP="${WARMUP:-1000}"
KEYHOLD="${KEYHOLD:-$root/build/bin/keyhold}"
ECHO_PLUGIN="${ECHO_PLUGIN:-$root/build/plugins/echo.so}"
if [[ -z "${NODE:-}" ]]; then
  NODE="$root/tests/e2e/node_modules/.bin/node"
  [[ -x "$NODE" ]] || NODE="$(command -v node || true)"
fi

for f in "$KEYHOLD" "$ECHO_PLUGIN" "$NODE"; do
  [[ -e "$f" ]] || { echo "run.sh: missing $f (build keyhold; npm ci in tests/e2e)" >&2; exit 1; }
done
[[ -d "$root/tests/e2e/node_modules/@modelcontextprotocol/sdk" ]] ||
  { echo "run.sh: run 'npm ci' in tests/e2e for the TypeScript SDK" >&2; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/keyhold-stdio-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/xdg-config" "$tmp/xdg-data"
# Defaults otherwise (log level, workers): the server as a user would run it.
cat >"$tmp/keyhold.toml" <<TOML
[instances.echo]
plugin = "$ECHO_PLUGIN"
TOML

export XDG_CONFIG_HOME="$tmp/xdg-config" XDG_DATA_HOME="$tmp/xdg-data"
echo "keyhold stdio round-trip bench ($(date -u +%Y-%m-%dT%H:%MZ), $("$KEYHOLD" --version 2>/dev/null | head -1))"
echo "nproc: $(nproc); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
exec "$NODE" "$here/driver.mjs" --keyhold "$KEYHOLD" --config "$tmp/keyhold.toml" \
  --sdk-server "$here/sdk_echo_server.mjs" --floor-server "$here/floor_server.mjs" --n "$N" --window "$WINDOW" \
  --starts "$STARTS" --warmup "$WARMUP"
