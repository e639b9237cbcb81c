#!/usr/bin/env bash
# Builds greylist-milter and runs every test suite (unit, store, policy,
# milter, daemon process, end-to-end through a private Postfix), then the
# sanitizer stages (in-process suites under ASan+UBSan, concurrent tests
# under TSan: scripts/run-sanitizers.sh) and each fuzz target for
# FUZZ_SECONDS (default 20; scripts/run-fuzz.sh). Installs the Debian
# packages it needs when missing. The last line printed is
# "N passed, N failed" summed over all of them; exit status 1 on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
sed -i 's/\r$//' scripts/*.txt 2>/dev/null || true
bash scripts/build.sh scripts/test-packages.txt

# A stage that does not build counts as one failure; the others still run.
failed=()
bash scripts/run-sanitizers.sh --build asan || failed+=(--build-failed asan)
bash scripts/run-sanitizers.sh --build tsan || failed+=(--build-failed tsan)
bash scripts/run-fuzz.sh --build-only || failed+=(--build-failed fuzz)
exec python3 scripts/run_suites.py build --asan build/asan --tsan build/tsan \
  --fuzz build/fuzz --fuzz-seconds "${FUZZ_SECONDS:-20}" "${failed[@]}"
