#!/usr/bin/env bash
# Streamable HTTP echo benchmark: keyhold vs an echo server written with the official
# TypeScript SDK, in one run. A report, not a test (not registered with ctest).
#
#   bench/http/run.sh [CALLS]     measured calls per client (default 300)
#
# 64 concurrent clients (CLIENTS), each with its own session and keep-alive connection,
# call the echo tool in a loop; prints requests/s, p50 and p99 per server and the ratios
# against the targets of issue 5 (throughput >= 5x, p99 <= 1/3) as PASS/MISS, and each
# server's CPU time per request (utime+stime from /proc), steadier on a shared machine.
# keyhold runs as a user would run it: auth on, a token from a keyfile vault (rate limit
# raised so the bench is not throttled), the echo fixture plugin.
# Environment: CLIENTS (64), WARMUP (20 per client), KEYHOLD (default build/bin/keyhold),
# PLUGIN_DIR (default build/plugins), NODE (default tests/e2e/node_modules/.bin/node).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
CALLS="${1:-${CALLS:-300}}"
CLIENTS="${CLIENTS:-64}"
WARMUP="${WARMUP:-20}"
KEYHOLD="${KEYHOLD:-$root/build/bin/keyhold}"
PLUGIN_DIR="${PLUGIN_DIR:-$(dirname "$(dirname "$KEYHOLD")")/plugins}"
NODE="${NODE:-$root/tests/e2e/node_modules/.bin/node}"
for f in "$KEYHOLD" "$PLUGIN_DIR/echo.so" "$NODE"; do
  [[ -e "$f" ]] || { echo "run.sh: missing $f (build keyhold and echo; npm ci in tests/e2e)" >&2; exit 1; }
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/keyhold-http-bench.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
export HOME="$tmp" XDG_CONFIG_HOME="$tmp/xdg-config" XDG_DATA_HOME="$tmp/xdg-data"
export KEYHOLD_VAULT="$tmp/vault.db" KEYHOLD_KEYFILE="$tmp/vault.key"
"$KEYHOLD" vault init --keyfile "$KEYHOLD_KEYFILE" >/dev/null
BENCH_TOKEN="$("$KEYHOLD" token create bench 2>/dev/null)"
export BENCH_TOKEN  # to the driver by environment, never on a command line
cat >"$tmp/keyhold.toml" <<TOML
[server]
plugin_dirs = ["$PLUGIN_DIR"]
log_level = "warn"
[http]
max_sessions = 1000
max_sessions_per_token = 1000  # all bench clients share one token
max_connections = 1000
rate_limit = { rate = 1000000, burst = 1000000 }
[instances.echo]
plugin = "echo"
TOML

wait_port() {  # file pattern -> port
  for _ in $(seq 1 200); do
    port=$(grep -o "$2" "$1" 2>/dev/null | head -1 | grep -o '[0-9]*$') || true
    [[ -n "${port:-}" ]] && { echo "$port"; return; }
    sleep 0.05
  done
  echo "server did not start:" >&2; cat "$1" >&2; exit 1
}

env -u BENCH_TOKEN "$KEYHOLD" serve --config "$tmp/keyhold.toml" --http 127.0.0.1:0 2>"$tmp/keyhold.log" &
pids+=($!)
kpid=$!
kport=$(wait_port "$tmp/keyhold.log" 'http://127.0.0.1:[0-9]*')
env -u BENCH_TOKEN "$NODE" "$here/sdk_http_echo_server.mjs" 2>"$tmp/sdk.log" &
pids+=($!)
spid=$!
sport=$(wait_port "$tmp/sdk.log" 'listening on [0-9]*')

echo "keyhold Streamable HTTP bench ($(date -u +%Y-%m-%dT%H:%MZ), $("$KEYHOLD" --version | head -1))"
echo "nproc: $(nproc); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load: $(cut -d' ' -f1-3 /proc/loadavg)"
targets=$(printf '[{"name":"keyhold","url":"http://127.0.0.1:%s/mcp","tokenEnv":"BENCH_TOKEN","tool":"echo_echo","accept":"application/json","pid":%s},{"name":"ts-sdk","url":"http://127.0.0.1:%s/mcp","tool":"echo","accept":"application/json, text/event-stream","pid":%s}]' "$kport" "$kpid" "$sport" "$spid")
"$NODE" "$here/driver.mjs" --targets "$targets" --clients "$CLIENTS" --calls "$CALLS" --warmup "$WARMUP"
