#!/usr/bin/env bash
# Builds and runs the vault benchmark; prints a table. Sizes default to 1k, 10k, 100k.
#   bench/vault/run.sh [N ...]        e.g. bench/vault/run.sh 1000 10000
# If build/bin/keyhold exists, `keyhold vault list --json` is timed end to end too.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-bench-vault"
cmake -S "$root/bench/vault" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target vault_bench >/dev/null
args=()
for n in "$@"; do args+=(--secrets "$n"); done
if [ -x "$root/build/bin/keyhold" ]; then args+=(--keyhold "$root/build/bin/keyhold"); fi
echo "targets (issue 3, 10k secrets): list --json <= 100 ms, reveal <= 20 us, set <= 2 ms"
"$build/vault_bench" "${args[@]}"
