#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang-14 in build-fuzz/ and runs
# each for a bounded time, starting from its seeds in fuzz/corpus/NAME/.
#
#   scripts/fuzz.sh                   every target, 60 s each
#   scripts/fuzz.sh 600               a longer run: 10 minutes each
#   scripts/fuzz.sh 30 config srv     some targets (names: fuzz/fuzz_NAME.cc)
#
# The seeds are copied to build-fuzz/runs/NAME/corpus first, so the run adds
# its finds there and the repository's seeds stay as they are. Prints each
# target's executions and coverage (libFuzzer's cov/ft) and exits 1 if any
# target crashed, leaked, timed out, ran out of memory or made a sanitizer
# report; the input that did it is kept in build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS_PER_TARGET must be a positive number, not '$seconds'" >&2; exit 2; }
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for source in fuzz/fuzz_*.cc; do
    name=${source#fuzz/fuzz_}
    targets+=("${name%.cc}")
  done
fi
for name in "${targets[@]}"; do
  [ -f "fuzz/fuzz_$name.cc" ] || { echo "fuzz.sh: no fuzz target '$name' (fuzz/fuzz_$name.cc)" >&2; exit 2; }
done

build_dir=build-fuzz
start=$SECONDS
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DSYNCD_FUZZ=ON \
  -DSYNCD_WERROR=ON >/dev/null
cmake --build "$build_dir" --target syncd_fuzzers -j "$(nproc)"
echo "fuzz: built the targets in $((SECONDS - start)) s"

symbolizer=$(command -v llvm-symbolizer-14 || true)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:${symbolizer:+external_symbolizer_path=$symbolizer}}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build_dir/artifacts"
failed=()
summary=()
for name in "${targets[@]}"; do
  run="$build_dir/runs/$name"
  rm -rf "$run"
  mkdir -p "$run/corpus"
  cp fuzz/corpus/"$name"/* "$run/corpus/"
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
           -artifact_prefix="$build_dir/artifacts/$name-")
  [ -f "fuzz/$name.dict" ] && options+=(-dict="fuzz/$name.dict")
  echo "fuzz: $name for $seconds s (log: $run/log)"
  status=0
  "$build_dir/fuzz/fuzz_$name" "${options[@]}" "$run/corpus" >"$run/log" 2>&1 || status=$?
  # libFuzzer's last status line: "#N DONE cov: C ft: F corp: U/S ...".
  last=$(grep -E '^#[0-9]+' "$run/log" | tail -n 1 || true)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  if [ "$status" -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$run/log"; then
    failed+=("$name")
    line="FAILED (exit $status)"
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$run/log" | tail -n 1)
    echo "fuzz: $name failed; the end of its log:" >&2
    grep -vE '^#[0-9]+' "$run/log" | tail -n 30 >&2
    [ -n "$artifact" ] && echo "fuzz: reproduce with $build_dir/fuzz/fuzz_$name $artifact" >&2
  else
    line=ok
  fi
  summary+=("$(printf '%-16s %10s runs  cov %5s  ft %6s  corpus %5s  %s' "$name" "${runs:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$line")")
done
echo "fuzz: $seconds s per target"
printf 'fuzz: %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${failed[*]} failed; inputs kept in $build_dir/artifacts/" >&2
  exit 1
fi
