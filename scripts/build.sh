#!/usr/bin/env bash
# Configures and builds syncd. Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# Warnings are errors; SYNCD_SANITIZE=1 builds with ASan/UBSan, in build-asan/
# unless BUILD_DIR says otherwise (as scripts/test.sh does): never over the
# plain build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=OFF
[ "${SYNCD_SANITIZE:-0}" = 1 ] && sanitize=ON
default_dir=build
[ "$sanitize" = ON ] && default_dir=build-asan
build_dir=${1:-$default_dir}
shift || true
cmake -S . -B "$build_dir" -G Ninja -DSYNCD_WERROR=ON -DSYNCD_SANITIZE="$sanitize" "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
