#!/usr/bin/env bash
# Mount overhead through the C++ driver (bench/stdio/driver.cpp), one run, three ways to the
# same server (bench/stdio's TypeScript-SDK echo server):
#   direct        driver -> sdk_echo_server.mjs
#   floor-relay   driver -> floor_relay (copies bytes both ways) -> sdk_echo_server.mjs:
#                 the two pipe hops every stdio proxy adds, with nothing else
#   keyhold       driver -> keyhold serve -> (stdio, sandboxed) sdk_echo_server.mjs
# and, to show keyhold's own share, the floor responder direct and mounted by keyhold.
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
FLOOR="$BUILD/bin/floor_responder"
NODE="$(readlink -f "${NODE:-$root/tests/e2e/node_modules/.bin/node}")"
SERVER="$root/bench/stdio/sdk_echo_server.mjs"

for f in "$KEYHOLD" "$BUILD/bin/keyhold-runner" "$DRIVER" "$RELAY" "$FLOOR" "$NODE" "$SERVER"; do
  [[ -e "$f" ]] || {
    echo "run_cpp.sh: missing $f (cmake -DKEYHOLD_BUILD_BENCH=ON; build keyhold keyhold-runner" \
      "stdio_driver floor_relay floor_responder; npm ci in tests/e2e)" >&2
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
# keyhold's own share: the same mount of bench/stdio's floor responder (no MCP library, no
# JSON parser), which costs next to nothing itself.
cat >"$tmp/floor.toml" <<TOML
[instances.mounted]
server.command = ["$FLOOR"]
TOML

# shellcheck source=bench/stdio/cpp_driver.sh
source "$root/bench/stdio/cpp_driver.sh"
print_run_header "keyhold mount overhead bench, C++ driver"
drive direct echo "$NODE" "$SERVER"
drive floor-relay echo "$RELAY" "$NODE" "$SERVER"
drive keyhold mounted_echo "$KEYHOLD" serve --config "$tmp/keyhold.toml"
drive floor echo "$FLOOR"
drive keyhold-floor mounted_echo "$KEYHOLD" serve --config "$tmp/floor.toml"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
printf '%-26s %12s %12s %12s %12s %14s\n' "" direct floor-relay keyhold floor keyhold-floor
for row in pipe_calls_per_s seq_calls_per_s p50_us p90_us p99_us cold_start_ms rss_mib \
  seq_cpu_us_per_call pipe_cpu_us_per_call; do
  printf '%-26s %12s %12s %12s %12s %14s\n' "$row" "$(field direct "$row")" "$(field floor-relay "$row")" \
    "$(field keyhold "$row")" "$(field floor "$row")" "$(field keyhold-floor "$row")"
done
echo "(CPU per call counts each server with its descendants: the relay's and keyhold's include the node server's)"

echo
awk -v d50="$(field direct p50_us)" -v r50="$(field floor-relay p50_us)" -v k50="$(field keyhold p50_us)" \
  -v dp="$(field direct pipe_calls_per_s)" -v rp="$(field floor-relay pipe_calls_per_s)" \
  -v kp="$(field keyhold pipe_calls_per_s)" 'BEGIN {
    printf "%-44s %+9.1f us   (floor relay %+.1f us)  target <= +50 us  %s\n", "p50 added by keyhold", k50 - d50, r50 - d50, (k50 - d50 <= 50) ? "PASS" : "MISS"
    printf "%-44s %9.3f      (floor relay %.3f)     target >= 0.8     %s\n", "pipelined calls/s, keyhold / direct", kp / dp, rp / dp, (kp / dp >= 0.8) ? "PASS" : "MISS"
  }'
awk -v f50="$(field floor p50_us)" -v k50="$(field keyhold-floor p50_us)" \
  -v kp="$(field keyhold-floor pipe_calls_per_s)" -v kc="$(field keyhold-floor pipe_cpu_us_per_call)" 'BEGIN {
    printf "keyhold alone (mounting the floor responder): p50 %+.1f us over the floor, %d calls/s pipelined, %.1f us CPU per pipelined call\n", k50 - f50, kp, kc
  }'
