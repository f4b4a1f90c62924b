# Shared by bench/stdio/run_cpp.sh and bench/mount/run_cpp.sh (sourced, not run): the run
# header and one driver run per server through the C++ stdio driver. Expects DRIVER, N,
# WINDOW, WARMUP, STARTS and tmp (a scratch folder) to be set; POLLED (the calls of the
# driver's polling pass, default N; 0 skips it) may be.

# The lines every report starts with: what ran, where, with which settings.
print_run_header() { # title
  echo "$1 ($(date -u +%Y-%m-%dT%H:%MZ), $("$KEYHOLD" --version 2>/dev/null | head -1))"
  echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "N=$N calls per mode, pipelined window=$WINDOW, warmup=$WARMUP sequential calls, cold start = median of $STARTS spawns"
}

# Runs the driver against the command after tool; its JSON line goes to $tmp/LABEL.json
# and stdout. On failure: the tail of the server's stderr, and exit 1.
drive() { # label tool command...
  local label="$1" tool="$2"
  shift 2
  if ! "$DRIVER" --label "$label" --tool "$tool" --n "$N" --window "$WINDOW" --warmup "$WARMUP" \
    --polled "${POLLED:-$N}" --starts "$STARTS" --server-stderr "$tmp/$label.stderr" -- "$@" >"$tmp/$label.json"; then
    echo "$(basename "$0"): $label failed; the tail of its stderr:" >&2
    tail -n 20 "$tmp/$label.stderr" >&2 || true
    exit 1
  fi
  cat "$tmp/$label.json"
}

# One number from a driver JSON line (a flat object of numbers).
field() { grep -o "\"$2\":[^,}]*" "$tmp/$1.json" | cut -d: -f2; }
