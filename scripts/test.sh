#!/usr/bin/env bash
# The test command: installs dependencies, builds with warnings as errors, checks
# formatting and runs every test (unit tests, then integration tests against a
# throwaway Samba AD DC that the tests provision themselves).
#
#   scripts/test.sh                 everything
#   SYNCD_SANITIZE=1 scripts/test.sh   the same under AddressSanitizer/UBSan (build-asan/)
#   scripts/test.sh -L unit         extra arguments go to ctest
#   SYNCD_LINT=format scripts/test.sh  skip clang-tidy (clang-format still runs)
#   SYNCD_FUZZ_SECONDS=0 scripts/test.sh  skip the fuzzers (default: 10 s per target)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (the test DC binds ports 88/389/636)" >&2; exit 1; }
scripts/install-deps.sh
build_dir=build
[ "${SYNCD_SANITIZE:-0}" = 1 ] && build_dir=build-asan
scripts/build.sh "$build_dir"
# clang-format always; clang-tidy too unless SYNCD_LINT=format (it takes minutes).
if [ "${SYNCD_LINT:-all}" = format ]; then
  scripts/lint.sh --format-only
else
  SYNCD_BUILD_DIR=$build_dir scripts/lint.sh
fi
(cd "$build_dir" && ctest --output-on-failure --timeout 1800 "$@")
# Every fuzz target for a bounded time (scripts/fuzz.sh builds build-fuzz/):
# a crash or sanitizer report fails the suite.
fuzz_seconds=${SYNCD_FUZZ_SECONDS:-10}
if [ "$fuzz_seconds" != 0 ]; then
  scripts/fuzz.sh "$fuzz_seconds"
fi
