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
# The targets are judged on the median over ROUNDS (default 5) alternating pairs of runs,
# direct then keyhold (the first pair is the table's), since one pair on a shared VM moves
# by tens of percent; every pair's figures are printed.
#
# Environment: N, ROUNDS, WINDOW (default 64), STARTS (default 5), WARMUP (default 1000), BUILD
# (default build/, configured with -DKEYHOLD_BUILD_BENCH=ON, holding bin/keyhold,
# bin/keyhold-runner, bin/stdio_driver, bin/floor_relay), NODE (default
# tests/e2e/node_modules/.bin/node), POLLED (calls of the driver's polling pass, default N;
# 0 skips it). The floor responder sleeps for input here (FLOOR_POLL_US=0), as it did
# before it learned to poll, so that "keyhold alone" stays comparable across days.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

N="${1:-${N:-20000}}"
WINDOW="${WINDOW:-64}"
STARTS="${STARTS:-5}"
WARMUP="${WARMUP:-1000}"
ROUNDS="${ROUNDS:-5}"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || {
  echo "run_cpp.sh: ROUNDS must be a whole number of 1 or more (got '$ROUNDS')" >&2
  exit 1
}
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
server.env = { FLOOR_POLL_US = "0" }
TOML
export FLOOR_POLL_US=0  # the direct floor run

# shellcheck source=bench/stdio/cpp_driver.sh
source "$root/bench/stdio/cpp_driver.sh"
print_run_header "keyhold mount overhead bench, C++ driver"
drive direct echo "$NODE" "$SERVER"
drive floor-relay echo "$RELAY" "$NODE" "$SERVER"
drive keyhold mounted_echo "$KEYHOLD" serve --config "$tmp/keyhold.toml"
drive floor echo "$FLOOR"
drive keyhold-floor mounted_echo "$KEYHOLD" serve --config "$tmp/floor.toml"
# The further pairs (no cold starts: only the targets' rows are read from them).
for ((r = 2; r <= ROUNDS; r++)); do
  STARTS=0 drive "direct-$r" echo "$NODE" "$SERVER"
  STARTS=0 drive "keyhold-$r" mounted_echo "$KEYHOLD" serve --config "$tmp/keyhold.toml"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
printf '%-26s %12s %12s %12s %12s %14s\n' "" direct floor-relay keyhold floor keyhold-floor
for row in pipe_calls_per_s seq_calls_per_s p50_us p90_us p99_us cold_start_ms rss_mib \
  seq_cpu_us_per_call pipe_cpu_us_per_call; do
  printf '%-26s %12s %12s %12s %12s %14s\n' "$row" "$(field direct "$row")" "$(field floor-relay "$row")" \
    "$(field keyhold "$row")" "$(field floor "$row")" "$(field keyhold-floor "$row")"
done
echo "(CPU per call counts each server with its descendants: the relay's and keyhold's include the node server's)"

# Per pair: p50 added (us) and the pipelined ratio; the targets on their medians.
pairs=""
for ((r = 1; r <= ROUNDS; r++)); do
  d="direct" k="keyhold"
  ((r > 1)) && d="direct-$r" k="keyhold-$r"
  pairs+="$(field "$d" p50_us) $(field "$k" p50_us) $(field "$d" pipe_calls_per_s) $(field "$k" pipe_calls_per_s)"$'\n'
done
echo
printf '%s' "$pairs" | awk -v r50="$(field floor-relay p50_us)" -v rp="$(field floor-relay pipe_calls_per_s)" \
  -v d50="$(field direct p50_us)" -v dp="$(field direct pipe_calls_per_s)" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  NF == 4 { n++; added[n] = $2 - $1; ratio[n] = $4 / $3
            printf "pair %d: direct %d calls/s, p50 %.1f us; keyhold %d calls/s, p50 %.1f us; ratio %.3f, p50 added %+.1f us\n", n, $3, $1, $4, $2, ratio[n], added[n] }
  END {
    if (n == 0) { print "run_cpp.sh: no pair of runs was read" > "/dev/stderr"; exit 1 }
    a = median(added, n); q = median(ratio, n)
    printf "%-44s %+9.1f us   (floor relay, pair 1: %+.1f us)  target <= +50 us  %s\n", "p50 added by keyhold, median of " n " pairs", a, r50 - d50, (a <= 50) ? "PASS" : "MISS"
    printf "%-44s %9.3f      (floor relay, pair 1: %.3f)     target >= 0.8     %s\n", "pipelined keyhold / direct, median of " n, q, rp / dp, (q >= 0.8) ? "PASS" : "MISS"
  }'
awk -v f50="$(field floor p50_us)" -v k50="$(field keyhold-floor p50_us)" \
  -v kp="$(field keyhold-floor pipe_calls_per_s)" -v kc="$(field keyhold-floor pipe_cpu_us_per_call)" 'BEGIN {
    printf "keyhold alone (mounting the floor responder): p50 %+.1f us over the floor, %d calls/s pipelined, %.1f us CPU per pipelined call\n", k50 - f50, kp, kc
  }'
