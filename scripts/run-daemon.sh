#!/usr/bin/env bash
# Builds greylist-milter and greylistctl (only these: not the tests, fuzzers
# or benchmark programs; scripts/run-tests.sh builds everything) and runs the
# daemon in the foreground on its embedded default store (Berkeley DB in
# ./var), logging to stderr, with the shipped whitelists. Started as root,
# the daemon drops to the system user greylist-milter (created if missing),
# which owns ./var. Extra arguments go to the daemon, e.g.
# scripts/run-daemon.sh --delay 60.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh --targets greylist-milter,src/tools/greylistctl
exec build/greylist-milter --dbdir ./var --log stderr \
  --whitelist-clients conf/whitelist_clients --whitelist-recipients conf/whitelist_recipients "$@"
