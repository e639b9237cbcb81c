#!/usr/bin/env bash
# Installs the build dependencies when missing, configures ./build once and
# builds everything, or only the ninja targets given with --targets (a
# comma-separated list, e.g. --targets greylist-milter,src/tools/greylistctl).
# Usage: scripts/build.sh [--targets T1,T2,...] [extra package list files...]
set -euo pipefail
cd "$(dirname "$0")/.."

targets=()
if [ "${1:-}" = --targets ]; then
  IFS=, read -r -a targets <<< "${2:?--targets needs a comma-separated list}"
  shift 2
fi
package_lists=(scripts/build-packages.txt "$@")
mapfile -t packages < <(grep -hv '^\s*\(#\|$\)' "${package_lists[@]}")
bash scripts/ensure-packages.sh "${packages[@]}"
bash scripts/ensure-service-user.sh

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=debugoptimized >/dev/null
fi
ninja -C build "${targets[@]}"
