#!/usr/bin/env bash
# The test command: installs dependencies, builds with warnings as errors, checks
# formatting and runs every test (unit tests, then integration tests against a
# throwaway Samba AD DC that the tests provision themselves).
#
#   scripts/test.sh                 everything
#   SYNCD_SANITIZE=1 scripts/test.sh   the same under AddressSanitizer/UBSan (build-asan/)
#   scripts/test.sh -L unit         extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (the test DC binds ports 88/389/636)" >&2; exit 1; }
scripts/install-deps.sh
build_dir=build
[ "${SYNCD_SANITIZE:-0}" = 1 ] && build_dir=build-asan
scripts/build.sh "$build_dir"
scripts/lint.sh --format-only
cd "$build_dir"
ctest --output-on-failure --timeout 1800 "$@"
