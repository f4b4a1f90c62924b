#!/usr/bin/env bash
# Runs the official MCP conformance suite (npm @modelcontextprotocol/conformance, pinned
# in tests/e2e/package-lock.json) against `keyhold serve --http` serving the conformance
# fixture plugin, and requires a clean run: "Total: 40 passed, 0 failed" and exit 0.
# With NEXT (the 0.2.0 suite, npm alias conformance-next) the rest of the arguments go to
# the suite (e.g. --requirements 2026-07-28); the run must exit 0 (every scored check
# passed) and pass at least NEXT's MIN_PASSED checks, so a run that checks nothing fails.
# With "mounted" (issue 17, acceptance 6) the outer keyhold serves no plugin: it mounts, as
# an external stdio MCP server, an inner `keyhold serve` of the fixture; the proxy must add
# no failure.
# Usage: run_conformance.sh KEYHOLD_BIN PLUGIN_DIR E2E_DIR [plugin|mounted]
#        run_conformance.sh KEYHOLD_BIN PLUGIN_DIR E2E_DIR plugin next MIN_PASSED SUITE_ARGS...
set -euo pipefail
keyhold=$1 plugin_dir=$2 e2e=$3 mode=${4:-plugin} suite=${5:-} min_passed=${6:-0}
suite_args=("${@:7}")
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ "$mode" = mounted ]; then
  mkdir -p "$work/inner"
  cat > "$work/inner/keyhold.toml" <<TOML
[server]
plugin_dirs = ["$plugin_dir"]
[instances.conformance]
plugin = "conformance"
prefix = ""
# The mount's sandbox confines the whole inner keyhold; a runner inside it could not apply
# a second sandbox (its seccomp filter refuses what the runner's setup needs).
isolation = "in-process"
TOML
  cat > "$work/keyhold.toml" <<TOML
[http]
auth = "off"  # the suite cannot send a token; allowed only because we bind loopback
[instances.mounted]
server.command = ["$keyhold", "serve", "--config", "$work/inner/keyhold.toml"]
server.env = { XDG_CONFIG_HOME = "$work/inner", XDG_DATA_HOME = "$work/inner", HOME = "$work/inner" }
prefix = ""
[instances.mounted.sandbox]
read = ["$plugin_dir"]
TOML
else
  cat > "$work/keyhold.toml" <<TOML
[server]
plugin_dirs = ["$plugin_dir"]
[http]
auth = "off"  # the suite cannot send a token; allowed only because we bind loopback
[instances.conformance]
plugin = "conformance"
prefix = ""
TOML
fi
HOME=$work XDG_CONFIG_HOME=$work XDG_DATA_HOME=$work \
  "$keyhold" serve --config "$work/keyhold.toml" --http 127.0.0.1:0 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 200); do
  port=$(grep -o 'http://127.0.0.1:[0-9]*/mcp' "$work/serve.log" 2>/dev/null | head -1 | sed 's/.*:\([0-9]*\)\/mcp/\1/') || true
  [ -n "${port:-}" ] && break
  sleep 0.1
done
if [ -z "${port:-}" ]; then echo "keyhold did not start:"; cat "$work/serve.log"; exit 1; fi
if grep -q "skipped" "$work/serve.log"; then echo "an instance did not load:"; cat "$work/serve.log"; exit 1; fi
package=@modelcontextprotocol/conformance
[ "$suite" = next ] && package=conformance-next
set +e
"$e2e/node_modules/.bin/node" "$e2e/node_modules/$package/dist/index.js" \
  server --url "http://127.0.0.1:$port/mcp" "${suite_args[@]}" >"$work/suite.log" 2>&1
status=$?
set -e
sed -n '/=== SUMMARY ===/,$p' "$work/suite.log"
if [ "$suite" = next ]; then
  passed=$(sed -n 's/^Total: \([0-9]*\) passed.*/\1/p' "$work/suite.log")
  clean=$([ $status -eq 0 ] && [ "${passed:-0}" -ge "$min_passed" ] && echo yes || true)
else
  clean=$([ $status -eq 0 ] && grep -q '^Total: 40 passed, 0 failed' "$work/suite.log" && echo yes || true)
fi
if [ "$clean" != yes ]; then
  echo "conformance suite failed ($mode, exit $status); full log:"; cat "$work/suite.log"
  echo "server log:"; cat "$work/serve.log"
  exit 1
fi
kill -TERM "$server_pid"
wait "$server_pid"
server_status=$?
server_pid=
if [ $server_status -ne 0 ]; then echo "keyhold exited $server_status after SIGTERM"; cat "$work/serve.log"; exit 1; fi
echo "conformance ($mode): clean run, keyhold exited 0 on SIGTERM"
