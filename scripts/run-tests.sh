#!/usr/bin/env bash
# Builds greylist-milter and runs every test suite (unit, store, policy,
# milter, daemon process, end-to-end through a private Postfix). Installs the
# Debian packages it needs when missing. The last line printed is
# "N passed, N failed" summed over all suites; exit status 1 on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
sed -i 's/\r$//' scripts/*.txt 2>/dev/null || true
bash scripts/build.sh scripts/test-packages.txt
exec python3 scripts/run_suites.py build
