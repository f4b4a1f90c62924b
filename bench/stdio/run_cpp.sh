#!/usr/bin/env bash
# stdio round trip through the C++ driver (driver.cpp): the floor (floor_responder.c),
# keyhold serving the echo plugin in-process and in its default sandboxed runner, and the
# TypeScript SDK echo server, in one run. Prints one JSON line per server, a table and the
# ratios with PASS/MISS against issue 21 target 1. A report, not a test (not in ctest).
#
# Latency is measured twice: with the driver sleeping until each answer arrives (the p50_us
# rows, judged against the targets: what a client that sleeps, as MCP clients do, sees), and
# with the driver polling for it (the p50_poll_us rows, printed for information: the
# server's own reaction without the driver's wake-up).
#
#   bench/stdio/run_cpp.sh [N]      N tools/call per mode (default 20000)
#
# Environment: N, WINDOW (in flight when pipelined, "all" = every request at once; default
# 64), STARTS (cold starts, default 7), WARMUP (default 1000), BUILD (default build/, must
# hold bin/keyhold, bin/stdio_driver, bin/floor_responder, plugins/echo.so: configure with
# -DKEYHOLD_BUILD_BENCH=ON and build keyhold keyhold-runner echo stdio_driver
# floor_responder), NODE (default tests/e2e/node_modules/.bin/node), POLLED (calls of the
# driver's polling pass, default N; 0 skips it and its rows print n/a).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

N="${1:-${N:-20000}}"
WINDOW="${WINDOW:-64}"
STARTS="${STARTS:-7}"
WARMUP="${WARMUP:-1000}"
BUILD="$(cd "${BUILD:-$root/build}" && pwd)" # absolute: the config names the plugin by path
KEYHOLD="${KEYHOLD:-$BUILD/bin/keyhold}"
ECHO_PLUGIN="${ECHO_PLUGIN:-$BUILD/plugins/echo.so}"
DRIVER="$BUILD/bin/stdio_driver"
FLOOR="$BUILD/bin/floor_responder"
NODE="${NODE:-$root/tests/e2e/node_modules/.bin/node}"

for f in "$KEYHOLD" "$ECHO_PLUGIN" "$DRIVER" "$FLOOR" "$NODE"; do
  [[ -e "$f" ]] || {
    echo "run_cpp.sh: missing $f (cmake -DKEYHOLD_BUILD_BENCH=ON; build keyhold keyhold-runner echo" \
      "stdio_driver floor_responder; npm ci in tests/e2e)" >&2
    exit 1
  }
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/keyhold-stdio-cpp-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/xdg-config" "$tmp/xdg-data"
export XDG_CONFIG_HOME="$tmp/xdg-config" XDG_DATA_HOME="$tmp/xdg-data"
# The configuration bench/stdio/run.sh uses (defaults otherwise), and the same instance
# in-process: issue 21's main targets are for an in-process instance.
printf '[instances.echo]\nplugin = "%s"\n' "$ECHO_PLUGIN" >"$tmp/process.toml"
printf '[instances.echo]\nplugin = "%s"\nisolation = "in-process"\n' "$ECHO_PLUGIN" >"$tmp/in-process.toml"

# shellcheck source=bench/stdio/cpp_driver.sh
source "$root/bench/stdio/cpp_driver.sh"
print_run_header "keyhold stdio round-trip bench, C++ driver"
drive floor echo "$FLOOR"
drive keyhold-inproc echo_echo "$KEYHOLD" serve --config "$tmp/in-process.toml"
drive keyhold-process echo_echo "$KEYHOLD" serve --config "$tmp/process.toml"
drive ts-sdk echo "$NODE" "$here/sdk_echo_server.mjs"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
printf '%-26s %12s %15s %16s %10s\n' "" floor keyhold-inproc keyhold-process ts-sdk
for row in pipe_calls_per_s seq_calls_per_s p50_us p90_us p99_us max_us p50_poll_us p99_poll_us \
  cold_start_ms rss_mib \
  seq_cpu_us_per_call pipe_cpu_us_per_call notifications_per_call pipe_driver_busy_pct; do
  printf '%-26s %12s %15s %16s %10s\n' "$row" "$(field floor "$row")" "$(field keyhold-inproc "$row")" \
    "$(field keyhold-process "$row")" "$(field ts-sdk "$row")"
done

# ratio LABEL KEYHOLD_LABEL FIELD OP TARGET [REFERENCE_LABEL [REFERENCE_FIELD [FACTOR]]]
# prints keyhold/reference and PASS/MISS against OP TARGET (">=" or "<="); "n/a" when a
# figure is missing or 0 (say, the polled rows with POLLED=0).
ratio() {
  local name="$1" mine="$2" key="$3" op="$4" target="$5" ref="${6:-ts-sdk}" ref_key="${7:-$3}"
  awk -v name="$name" -v a="$(field "$mine" "$key")" -v b="$(field "$ref" "$ref_key")" -v op="$op" \
    -v t="$target" 'BEGIN {
      if (a <= 0 || b <= 0) { printf "%-52s %8s  %s %-6s %s\n", name, "n/a", op, t, "n/a"; exit }
      r = a / b
      ok = (op == ">=") ? (r >= t) : (r <= t)
      printf "%-52s %8.3f  %s %-6s %s\n", name, r, op, t, ok ? "PASS" : "MISS"
    }'
}
echo
echo "in-process (issue 21 target 1), keyhold-inproc / ts-sdk:"
ratio "pipelined calls/s" keyhold-inproc pipe_calls_per_s ">=" 5
ratio "p50 latency" keyhold-inproc p50_us "<=" 0.333
ratio "p99 latency" keyhold-inproc p99_us "<=" 0.333
ratio "p99 / own p50 (keyhold-inproc)" keyhold-inproc p99_us "<=" 3 keyhold-inproc p50_us
ratio "cold start" keyhold-inproc cold_start_ms "<=" 0.1
ratio "peak RSS" keyhold-inproc rss_mib "<=" 0.25
echo "default sandboxed runner, keyhold-process / ts-sdk:"
ratio "pipelined calls/s" keyhold-process pipe_calls_per_s ">=" 2
ratio "p50 latency" keyhold-process p50_us "<=" 1
echo "floor check (the driver must not be the limit): floor / ts-sdk"
ratio "pipelined calls/s (floor)" floor pipe_calls_per_s ">=" 5
ratio "p50 latency (floor)" floor p50_us "<=" 0.333
echo "for information, the driver polling for each answer (not a target): / ts-sdk"
ratio "p50 latency, driver polls (keyhold-inproc)" keyhold-inproc p50_poll_us "<=" 0.333
ratio "p99 latency, driver polls (keyhold-inproc)" keyhold-inproc p99_poll_us "<=" 0.333
ratio "p50 latency, driver polls (keyhold-process)" keyhold-process p50_poll_us "<=" 1
ratio "p50 latency, driver polls (floor)" floor p50_poll_us "<=" 0.333
