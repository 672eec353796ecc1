# shellcheck shell=bash disable=SC2154,SC2034  # repo and halt_dc belong to the caller
# Shared by the bench scripts (sourced, not run). Needs from the caller:
# `repo` (the checkout), `die MESSAGE`, and `halt_dc` (a variable the caller's
# EXIT trap halts when set).

testdc() { "$repo/scripts/testdc.sh" "$@"; }
# dc_backend DIR: the store sam.ldb uses (tdb or mdb); empty if unknown.
dc_backend() {
  ldbsearch -H "$1/private/sam.ldb" -b @PARTITION -s base backendStore 2>/dev/null |
    sed -n 's/^backendStore: //p'
}

# The sub-OUs of OU=People the benches' sample data holds.
bench_sub_ous=(East West)

# bench_dc DC WORK N: makes DC a running test DC holding N users and N/10
# groups in the benches' sample data, on LMDB (BENCH_BACKEND). A DC whose
# DC/bench-data names the same data (or BENCH_DC_DIR, taken as it is) is
# reused, resumed if halted; BENCH_FRESH=1 reloads it anyway. Otherwise it is
# provisioned and bulk-loaded (about a minute for 10,000 users), with the
# data file written in WORK. Sets halt_dc when this started or resumed it.
bench_dc() {
  local dc=$1 work=$2 n=$3 groups spec ous t0
  groups=$((n / 10))
  ous=$(IFS=,; echo "${bench_sub_ous[*]}")
  spec="gen-ldif.py --users $n --groups $groups --user-ous $ous; backend ${BENCH_BACKEND:-mdb}"
  if [ -n "${BENCH_DC_DIR:-}" ] ||
    { [ "${BENCH_FRESH:-0}" != 1 ] && [ "$(cat "$dc/bench-data" 2>/dev/null)" = "$spec" ]; }; then
    [ -f "$dc/admin.pass" ] || die "$dc is not a test DC"
    if [ -z "$(cat "$dc/samba.pid" 2>/dev/null)" ] || ! kill -0 "$(cat "$dc/samba.pid")" 2>/dev/null; then
      halt_dc=$dc
      testdc resume "$dc" >/dev/null
    fi
    echo "reusing the DC in $dc ($(cat "$dc/bench-data" 2>/dev/null || echo 'not loaded by a bench script'))"
    return
  fi
  [ -d "$dc" ] && { testdc stop "$dc" >/dev/null 2>&1 || true; }
  mkdir -p "$(dirname "$dc")" "$work"
  halt_dc=$dc
  TESTDC_BACKEND=${BENCH_BACKEND:-mdb} testdc start "$dc" >/dev/null
  "$repo/scripts/gen-ldif.py" --users "$n" --groups "$groups" --user-ous "$ous" >"$work/data.ldif"
  echo "loading $n users and $groups groups (testdc.sh bulk-load)..."
  t0=$(date +%s%N)
  testdc bulk-load "$dc" "$work/data.ldif" 2>&1 | sed 's/^/  /'
  echo "  load and restart: $(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s"
  echo "$spec" >"$dc/bench-data"
  rm -f "$work/data.ldif"
}
