#!/usr/bin/env bash
# Isolation cost: echo in-process vs in its own sandboxed runner (see driver.mjs).
#   bench/isolation/run.sh [N]      N pipelined calls per mode (default 20000)
# Environment: SEQ (sequential calls, default 5000), KEYHOLD, ECHO_PLUGIN, NODE.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
KEYHOLD="${KEYHOLD:-$root/build/bin/keyhold}"
ECHO_PLUGIN="${ECHO_PLUGIN:-$root/build/plugins/echo.so}"
NODE="${NODE:-$root/tests/e2e/node_modules/.bin/node}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/keyhold-isolation-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/xdg-config" "$tmp/xdg-data"
export XDG_CONFIG_HOME="$tmp/xdg-config" XDG_DATA_HOME="$tmp/xdg-data" HOME="$tmp"
echo "keyhold isolation bench ($(date -u +%Y-%m-%dT%H:%MZ)); nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
# The floor: a bare round trip between two processes (pingpong.cpp), for scale.
c++ -O2 -std=c++20 -o "$tmp/pingpong" "$here/pingpong.cpp"
read -r pp50 pp99 < <(timeout 60 "$tmp/pingpong")
echo "floor: a bare 64-byte socketpair round trip between two processes: p50 ${pp50} us, p99 ${pp99} us"
exec "$NODE" "$here/driver.mjs" --keyhold "$KEYHOLD" --plugin "$ECHO_PLUGIN" --dir "$tmp" \
  --n "${1:-20000}" --seq "${SEQ:-5000}"
