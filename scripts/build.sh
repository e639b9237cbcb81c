#!/usr/bin/env bash
# Installs the build dependencies when missing, configures ./build once and
# builds everything. Usage: scripts/build.sh [extra package list files...]
set -euo pipefail
cd "$(dirname "$0")/.."

package_lists=(scripts/build-packages.txt "$@")
mapfile -t packages < <(grep -hv '^\s*\(#\|$\)' "${package_lists[@]}")
bash scripts/ensure-packages.sh "${packages[@]}"
bash scripts/ensure-service-user.sh

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=debugoptimized >/dev/null
fi
ninja -C build
