#!/usr/bin/env bash
# scripts/setup --build (what scripts/run installs) lists what building and serving need
# and none of the test tools; scripts/setup (scripts/test, .ci/run) lists both.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(bash "$root/scripts/setup" --build --list)
all=$(bash "$root/scripts/setup" --list)
fail=0
has() { grep -qxF "$2" <<<"$1"; }
for pkg in build-essential cmake libhyperscan-dev libsodium-dev libseccomp-dev libpq-dev; do
  has "$build" "$pkg" || { echo "setup --build must install $pkg (the build needs it)"; fail=1; }
done
for pkg in catch2 clang postgresql-15 enscript ghostscript qpdf; do
  ! has "$build" "$pkg" || { echo "setup --build must not install $pkg (only tests need it)"; fail=1; }
  has "$all" "$pkg" || { echo "setup must install $pkg (the test suite needs it)"; fail=1; }
done
while read -r pkg; do
  has "$all" "$pkg" || { echo "setup must install $pkg, which setup --build installs"; fail=1; }
done <<<"$build"
[ "$fail" = 0 ] && echo "setup scopes: $(wc -l <<<"$build") build packages, $(wc -l <<<"$all") in all"
exit "$fail"
