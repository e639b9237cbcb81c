#!/usr/bin/env bash
# Creates the system user greylist-milter drops to when started as root
# (the Debian package does the same through sysusers), if it is missing.
set -euo pipefail
if ! id greylist-milter >/dev/null 2>&1; then
  echo "creating system user greylist-milter" >&2
  useradd --system --user-group --no-create-home --home-dir /var/lib/greylist-milter \
    --shell /usr/sbin/nologin greylist-milter
fi
