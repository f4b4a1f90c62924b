#!/usr/bin/env bash
# sql round trip: keyhold's sql plugin vs @modelcontextprotocol/server-postgres against one
# private PostgreSQL 15, both through the official TypeScript SDK client over stdio.
# A report, not a test (not registered with ctest). See bench/sql/README.md.
#
#   bench/sql/run.sh [N]      N measured calls per server (default 3000)
#
# Environment: KEYHOLD_BUILD_DIR (default <repo>/build: bin/keyhold, plugins/sql.so;
# nothing is built here), WARMUP (default 300), ROUNDS (alternating blocks, default 6),
# PAGE (page size and row_limit for the 100k-row scan, default 1000), SCANS (default 3),
# NODE (default tests/e2e/node_modules/.bin/node).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${KEYHOLD_BUILD_DIR:-$root/build}"
NODE="${NODE:-$root/tests/e2e/node_modules/.bin/node}"

for f in "$build/bin/keyhold" "$build/plugins/sql.so" "$NODE" \
  "$root/tests/e2e/node_modules/@modelcontextprotocol/server-postgres/dist/index.js"; do
  [[ -e "$f" ]] || { echo "run.sh: missing $f (build keyhold and the sql plugin; npm ci in tests/e2e)" >&2; exit 1; }
done

echo "keyhold: $("$build/bin/keyhold" --version 2>/dev/null | head -1) ($build)"
exec "$NODE" "$here/bench.mjs" --keyhold "$build/bin/keyhold" --plugin "$build/plugins/sql.so" \
  --n "${1:-${N:-3000}}" --warmup "${WARMUP:-300}" --rounds "${ROUNDS:-6}" --page "${PAGE:-1000}" --scans "${SCANS:-3}"
