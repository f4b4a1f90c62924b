#!/usr/bin/env bash
# Builds and runs the handle-broker benchmark (sign and reveal against a real vault).
#   bench/secrets/run.sh [CALLS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKEYHOLD_BUILD_BENCH=ON -DKEYHOLD_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target secrets_bench >/dev/null
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$build/bin/secrets_bench" "${1:-20000}"
