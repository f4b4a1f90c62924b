#!/usr/bin/env bash
# Mount overhead through the C++ driver (bench/stdio/driver.cpp), one run, three ways to the
# same server (bench/stdio's TypeScript-SDK echo server):
#   direct        driver -> sdk_echo_server.mjs
#   floor-relay   driver -> floor_relay (copies bytes both ways) -> sdk_echo_server.mjs:
#                 the two pipe hops every stdio proxy adds, with nothing else
#   keyhold       driver -> keyhold serve -> (stdio, sandboxed) sdk_echo_server.mjs
# Prints the driver's JSON lines, a table, and issue 17's targets (keyhold adds at most
# 50 us to the p50 and keeps at least 80% of the direct pipelined rate) with PASS/MISS,
# beside what the floor relay adds. A report, not a test (not in ctest).
#
#   bench/mount/run_cpp.sh [N]      N tools/call per mode (default 20000)
#
# Environment: N, WINDOW (default 64), STARTS (default 5), WARMUP (default 1000), BUILD
# (default build/, configured with -DKEYHOLD_BUILD_BENCH=ON, holding bin/keyhold,
# bin/keyhold-runner, bin/stdio_driver, bin/floor_relay), NODE (default
# tests/e2e/node_modules/.bin/node).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

N="${1:-${N:-20000}}"
WINDOW="${WINDOW:-64}"
STARTS="${STARTS:-5}"
WARMUP="${WARMUP:-1000}"
BUILD="$(cd "${BUILD:-$root/build}" && pwd)"
KEYHOLD="$BUILD/bin/keyhold"
DRIVER="$BUILD/bin/stdio_driver"
RELAY="$BUILD/bin/floor_relay"
NODE="$(readlink -f "${NODE:-$root/tests/e2e/node_modules/.bin/node}")"
SERVER="$root/bench/stdio/sdk_echo_server.mjs"

for f in "$KEYHOLD" "$BUILD/bin/keyhold-runner" "$DRIVER" "$RELAY" "$NODE" "$SERVER"; do
  [[ -e "$f" ]] || {
    echo "run_cpp.sh: missing $f (cmake -DKEYHOLD_BUILD_BENCH=ON; build keyhold keyhold-runner" \
      "stdio_driver floor_relay; npm ci in tests/e2e)" >&2
    exit 1
  }
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/keyhold-mount-cpp-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/xdg-config" "$tmp/xdg-data"
export XDG_CONFIG_HOME="$tmp/xdg-config" XDG_DATA_HOME="$tmp/xdg-data"
# As bench/mount/run.sh: the server reads the SDK from tests/e2e/node_modules.
cat >"$tmp/keyhold.toml" <<TOML
[instances.mounted]
server.command = ["$NODE", "$SERVER"]
[instances.mounted.sandbox]
read = ["$root/tests/e2e/node_modules", "$root/bench/stdio"]
TOML

echo "keyhold mount overhead bench, C++ driver ($(date -u +%Y-%m-%dT%H:%MZ), $("$KEYHOLD" --version 2>/dev/null | head -1))"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "N=$N calls per mode, pipelined window=$WINDOW, warmup=$WARMUP sequential calls, cold start = median of $STARTS spawns"

drive() { # label tool command...
  local label="$1" tool="$2"
  shift 2
  if ! "$DRIVER" --label "$label" --tool "$tool" --n "$N" --window "$WINDOW" --warmup "$WARMUP" \
    --starts "$STARTS" --server-stderr "$tmp/$label.stderr" -- "$@" >"$tmp/$label.json"; then
    echo "run_cpp.sh: $label failed; the tail of its stderr:" >&2
    tail -n 20 "$tmp/$label.stderr" >&2 || true
    exit 1
  fi
  cat "$tmp/$label.json"
}
drive direct echo "$NODE" "$SERVER"
drive floor-relay echo "$RELAY" "$NODE" "$SERVER"
drive keyhold mounted_echo "$KEYHOLD" serve --config "$tmp/keyhold.toml"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

field() { grep -o "\"$2\":[^,}]*" "$tmp/$1.json" | cut -d: -f2; }

echo
printf '%-26s %12s %12s %12s\n' "" direct floor-relay keyhold
for row in pipe_calls_per_s seq_calls_per_s p50_us p90_us p99_us cold_start_ms rss_mib \
  seq_cpu_us_per_call pipe_cpu_us_per_call; do
  printf '%-26s %12s %12s %12s\n' "$row" "$(field direct "$row")" "$(field floor-relay "$row")" "$(field keyhold "$row")"
done
echo "(CPU per call counts each server with its descendants: the relay's and keyhold's include the node server's)"

echo
awk -v d50="$(field direct p50_us)" -v r50="$(field floor-relay p50_us)" -v k50="$(field keyhold p50_us)" \
  -v dp="$(field direct pipe_calls_per_s)" -v rp="$(field floor-relay pipe_calls_per_s)" \
  -v kp="$(field keyhold pipe_calls_per_s)" 'BEGIN {
    printf "%-44s %+9.1f us   (floor relay %+.1f us)  target <= +50 us  %s\n", "p50 added by keyhold", k50 - d50, r50 - d50, (k50 - d50 <= 50) ? "PASS" : "MISS"
    printf "%-44s %9.3f      (floor relay %.3f)     target >= 0.8     %s\n", "pipelined calls/s, keyhold / direct", kp / dp, rp / dp, (kp / dp >= 0.8) ? "PASS" : "MISS"
  }'
