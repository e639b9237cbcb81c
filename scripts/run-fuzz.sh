#!/usr/bin/env bash
# Builds the libFuzzer targets (test/fuzz/, clang with ASan+UBSan) in
# build/fuzz and runs each on its seed corpus for SECONDS (default 300).
# What a run discovers goes to build/fuzz/corpus/<target>/, crashing inputs
# to build/fuzz/artifacts/. Prints each target's executions and
# executions per second, then "N passed, N failed" (one test per target).
#
# Usage: scripts/run-fuzz.sh [SECONDS] [TARGET,...]
#        scripts/run-fuzz.sh --build-only     (scripts/run-tests.sh runs them itself)
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t packages < <(grep -hv '^\s*\(#\|$\)' scripts/build-packages.txt)
bash scripts/ensure-packages.sh "${packages[@]}" clang libclang-rt-14-dev

if [ ! -f build/fuzz/build.ninja ]; then
  CXX=clang++ meson setup build/fuzz --buildtype=debugoptimized -Dfuzz=true -Dtests=false \
    -Dbench=false -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build/fuzz fuzz

[ "${1:-}" = --build-only ] && exit 0
seconds=${1:-300}
targets=()
[ -n "${2:-}" ] && targets=(--fuzz-targets "$2")
exec python3 scripts/run_suites.py --fuzz build/fuzz --fuzz-seconds "$seconds" "${targets[@]}"
