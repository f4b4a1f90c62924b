#!/bin/sh
# bench/ci: wall-time overhead of running a 1,000-test suite through keyhold's ci connector
# versus directly. Usage: bench/ci/run.sh [build-dir]  (default: build). REPS=7 by default.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
case "$build" in /*) ;; *) build=$root/$build ;; esac
[ -x "$build/bin/keyhold" ] || { echo "no $build/bin/keyhold: build the keyhold and ci targets first" >&2; exit 2; }
[ -f "$build/plugins/ci.so" ] || { echo "no $build/plugins/ci.so: build the ci target first" >&2; exit 2; }
export KEYHOLD_BIN="$build/bin/keyhold" KEYHOLD_PLUGIN_DIR="$build/plugins" KEYHOLD_SOURCE_DIR="$root"
exec "$root/tests/e2e/node_modules/.bin/node" "$here/bench.mjs"
