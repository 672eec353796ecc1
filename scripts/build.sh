#!/usr/bin/env bash
# Configures and builds syncd. Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# Warnings are errors; SYNCD_SANITIZE=1 builds with ASan/UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
shift || true
sanitize=OFF
[ "${SYNCD_SANITIZE:-0}" = 1 ] && sanitize=ON
cmake -S . -B "$build_dir" -G Ninja -DSYNCD_WERROR=ON -DSYNCD_SANITIZE="$sanitize" "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
