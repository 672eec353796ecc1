#!/usr/bin/env bash
# Style checks: clang-format on every C++ file; clang-tidy (.clang-tidy) on
# every .cc unless --format-only. Needs a configured build dir for clang-tidy
# (build/, or SYNCD_BUILD_DIR). fuzz/ is only in the fuzz build's compile
# commands: `clang-tidy -p build-fuzz fuzz/*.cc` after scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.h' '*.cc')
[ ${#files[@]} -gt 0 ] || mapfile -t files < <(find core ldap scope source state store syncd tests fuzz -name '*.h' -o -name '*.cc')
clang-format --dry-run --Werror "${files[@]}"
echo "lint: clang-format clean (${#files[@]} files)"
[ "${1:-}" = --format-only ] && exit 0
mapfile -t sources < <(printf '%s\n' "${files[@]}" | grep '\.cc$' | grep -v -e '^ldap/asio_impl.cc$' -e '^fuzz/')
build_dir=${SYNCD_BUILD_DIR:-build}
# In these files (the AWS credential_process waiters) clang-analyzer's
# NullDereference reports a false positive inside Asio's own coroutine frame
# code (boost/asio/impl/awaitable.hpp); every other check runs on them. (Test
# code runs without the analyzer: tests/.clang-tidy.)
analyzer_fp=(aws/credentials.cc)
printf '%s\n' "${sources[@]}" | grep -vx -F "${analyzer_fp[@]/#/-e}" |
  xargs -P "$(nproc)" -n 4 clang-tidy -p "$build_dir" --quiet 2>/dev/null
clang-tidy -p "$build_dir" --quiet --checks=-clang-analyzer-core.NullDereference "${analyzer_fp[@]}" 2>/dev/null
echo "lint: clang-tidy clean (${#sources[@]} files)"
