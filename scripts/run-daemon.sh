#!/usr/bin/env bash
# Builds greylist-milter and runs it in the foreground on its embedded
# default store (Berkeley DB in ./var), logging to stderr. Extra arguments
# go to the daemon, e.g. scripts/run-daemon.sh --delay 60.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
mkdir -p var
exec build/greylist-milter --dbdir ./var --log stderr \
  --whitelist-clients conf/whitelist_clients --whitelist-recipients conf/whitelist_recipients "$@"
