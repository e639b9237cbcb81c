#!/usr/bin/env bash
# Builds the sanitizer build directories and runs their suites:
#   build/asan  -Db_sanitize=address,undefined: the in-process suites (unit,
#               milter, milter_hostile), every UB report a hard error;
#   build/tsan  -Db_sanitize=thread: the concurrent test cases of the unit
#               suite (store contract, greylister, bdb store, policy server,
#               expiry thread, DNS resolvers, SPF checker and policy SPF step).
# What the sanitizers cannot see (uninstrumented Berkeley DB and libmilter)
# and any suppression: RELIABILITY.md, "Hostile input".
#
# Usage: scripts/run-sanitizers.sh           build both, run both; the last
#                                            line is "N passed, N failed"
#        scripts/run-sanitizers.sh --build asan|tsan
#                                            only build that one (exit 1 if
#                                            it fails); scripts/run-tests.sh
#                                            builds them so and runs them itself
set -euo pipefail
cd "$(dirname "$0")/.."

build() {
  local dir
  case "$1" in
    asan)
      dir=build/asan
      [ -f $dir/build.ninja ] || meson setup $dir --buildtype=debugoptimized -Dbench=false \
        -Db_sanitize=address,undefined -Dcpp_args=-fno-sanitize-recover=all
      ninja -C $dir test/unit_tests test/milter_tests test/milter_hostile_tests
      ;;
    tsan)
      dir=build/tsan
      [ -f $dir/build.ninja ] || meson setup $dir --buildtype=debugoptimized -Dbench=false \
        -Db_sanitize=thread
      ninja -C $dir test/unit_tests
      ;;
    *)
      echo "usage: $0 [--build asan|tsan]" >&2
      exit 2
      ;;
  esac
}

if [ "${1:-}" = --build ]; then
  build "${2:-}"
  exit
fi

mapfile -t packages < <(grep -hv '^\s*\(#\|$\)' scripts/build-packages.txt)
bash scripts/ensure-packages.sh "${packages[@]}"
failed=()
build asan || failed+=(--build-failed asan)
build tsan || failed+=(--build-failed tsan)
exec python3 scripts/run_suites.py --asan build/asan --tsan build/tsan "${failed[@]}"
