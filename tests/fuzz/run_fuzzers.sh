#!/usr/bin/env bash
# Runs the host fuzz targets of a KEYHOLD_FUZZ build, each for a bounded time, on a
# writable copy of its seed corpus, and fails on the first crash, leak, timeout or
# sanitizer report (the input that caused it is left in BUILD/fuzz-artifacts/TARGET/).
#   tests/fuzz/run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]   (default: session_fuzzer http_fuzzer)
# Extra libFuzzer flags go in KEYHOLD_FUZZ_FLAGS (e.g. "-jobs=2 -workers=2").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]}" && pwd)
seconds=${2:?usage: run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(session_fuzzer http_fuzzer json_fuzzer); fi

export ASAN_OPTIONS=${ASAN_OPTIONS_FUZZ:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The fixture plugins come from this build, whatever the environment says.
export KEYHOLD_PLUGIN_PATH=$build/plugins

status=0
for target in "${targets[@]}"; do
  name=${target%_fuzzer}  # session, http: the corpus and dictionary names
  binary=$build/bin/$target
  if [ ! -x "$binary" ]; then
    echo "run_fuzzers: $binary is missing: cmake --build $build --target $target" >&2
    exit 2
  fi
  corpus=$build/fuzz-corpus/$name
  artifacts=$build/fuzz-artifacts/$name
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  cp "$here/corpus/$name/"* "$corpus/"
  # Every kept reproducer first, 20 times each: a finding that needs repetition (a leaked
  # HTTP session slot fills the cap only after several) shows up without luck.
  repros=("$here/corpus/$name/"repro-*)
  if [ -e "${repros[0]}" ]; then
    echo "== fuzz: $target replays ${#repros[@]} kept reproducers"
    if ! "$binary" -runs=20 -timeout=10 -artifact_prefix="$artifacts/" "${repros[@]}"; then
      echo "== fuzz: $target FAILED on a kept reproducer (the last one it ran, above)" >&2
      status=1
      continue
    fi
  fi
  echo "== fuzz: $target for ${seconds}s (corpus copy $corpus, artifacts $artifacts)"
  # shellcheck disable=SC2086
  if ! "$binary" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 \
        -dict="$here/$name.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 \
        ${KEYHOLD_FUZZ_FLAGS:-} "$corpus"; then
    echo "== fuzz: $target FAILED; reproducer(s):" >&2
    ls -1 "$artifacts"/* 2>/dev/null >&2 || true
    echo "   replay one:  $binary $artifacts/<file>" >&2
    echo "   then keep it: cp $artifacts/<file> $here/corpus/$name/repro-<what-it-breaks>" >&2
    status=1
  fi
done
exit $status
