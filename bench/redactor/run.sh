#!/usr/bin/env bash
# Builds and runs the redactor benchmark (Release, in build-bench-redactor/) and prints
# throughput with 10, 1,000 and 10,000 live secrets, set_secrets time, and PASS/MISS
# against the issue 4 target (>= 500 MB/s at 1,000 secrets). Each size runs in its own
# process, so a crash at one size is reported and the others still print.
#   bench/redactor/run.sh [N ...]      e.g. bench/redactor/run.sh 1000 100000
# Environment: MIB (tool result size, default 1), JOBS (build parallelism, default 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-bench-redactor"
cmake -S "$root" -B "$build" -DKEYHOLD_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"${JOBS:-2}" --target redactor_bench >/dev/null
bench="$build/bin/redactor_bench"
sizes=("$@")
if [ ${#sizes[@]} -eq 0 ]; then sizes=(10 1000 10000); fi
echo "keyhold redactor bench ($(date -u +%Y-%m-%dT%H:%MZ))"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
first=1
for n in "${sizes[@]}"; do
  args=(--mib "${MIB:-1}" --secrets "$n")
  if [ $first -eq 0 ]; then args+=(--no-header); fi
  first=0
  "$bench" "${args[@]}" || {
    rc=$?
    echo "  N=$n: redactor_bench failed (exit status $rc)"
    status=1
  }
done
exit $status
