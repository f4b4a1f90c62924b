#!/usr/bin/env bash
# s3 throughput: keyhold's s3 plugin vs @aws-sdk/client-s3 against one s3rver on loopback
# (listing 10,000 keys, fetching 100 objects of 1 MiB), and PDF text pages/s on a 200-page
# PDF. A report, not a test (not registered with ctest). See bench/s3/README.md.
#
#   bench/s3/run.sh
#
# Environment: KEYHOLD_BUILD_DIR (default <repo>/build: bin/keyhold, plugins/s3.so;
# nothing is built here), KEYS (10000), OBJECTS (100), ROUNDS (3), PDF_RUNS (5),
# NODE (default tests/e2e/node_modules/.bin/node). Needs enscript and ps2pdf.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${KEYHOLD_BUILD_DIR:-$root/build}"
NODE="${NODE:-$root/tests/e2e/node_modules/.bin/node}"

for f in "$build/bin/keyhold" "$build/plugins/s3.so" "$NODE" "$root/tests/e2e/node_modules/s3rver" \
  "$root/tests/e2e/node_modules/@aws-sdk/client-s3"; do
  [[ -e "$f" ]] || { echo "run.sh: missing $f (build keyhold and the s3 plugin; npm ci in tests/e2e)" >&2; exit 1; }
done

echo "keyhold: $("$build/bin/keyhold" --version 2>/dev/null | head -1) ($build)"
export KEYHOLD_BIN="$build/bin/keyhold" KEYHOLD_PLUGIN_DIR="$build/plugins" KEYHOLD_BUILD_DIR="$build"
exec "$NODE" "$here/bench.mjs" --keys "${KEYS:-10000}" --objects "${OBJECTS:-100}" \
  --rounds "${ROUNDS:-3}" --pdfruns "${PDF_RUNS:-5}"
