# shellcheck shell=bash disable=SC2154,SC2034  # repo, halt_dc and syncd belong to the caller
# Shared by the bench scripts (sourced, not run). Needs from the caller:
# `repo` (the checkout), `die MESSAGE`, and `halt_dc` (a variable the caller's
# EXIT trap halts when set); bench_syncd sets the caller's `syncd`.

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

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
# median_of FILE COLUMN, max_of FILE COLUMN: of the numbers in COLUMN of FILE's lines.
median_of() { sort -g -k"$2" "$1" | awk -v c="$2" '{v[NR]=$c} END {print v[int((NR+1)/2)]}'; }
max_of() { sort -g -k"$2" "$1" | awk -v c="$2" 'END {print $c}'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
met() { awk -v v="$1" -v g="$2" 'BEGIN { print (v < g ? "met" : "NOT met") }'; }

# bench_syncd: sets `syncd` to the binary under test: BENCH_SYNCD, else
# build/syncd/syncd, built first (the build directory configured if need be).
bench_syncd() {
  if [ -n "${BENCH_SYNCD:-}" ]; then
    syncd=$BENCH_SYNCD
  else
    "$repo/scripts/install-deps.sh" >/dev/null
    [ -f "$repo/build/CMakeCache.txt" ] || "$repo/scripts/build.sh" build >/dev/null
    cmake --build "$repo/build" --target syncd >/dev/null
    syncd=$repo/build/syncd/syncd
  fi
  [ -x "$syncd" ] || die "no syncd binary at $syncd"
}

# bench_timed FILE LOG COMMAND...: runs COMMAND, its stdout in LOG.out and its
# stderr in LOG.err, and appends "wall_seconds peak_rss_kib exit_status" to
# FILE. Exit 2 passes (syncd: changes were pending); any other failure dies.
bench_timed() {
  local file=$1 log=$2 t0 t1 rc=0
  shift 2
  t0=$(now_ns)
  /usr/bin/time -f "%M" -o "$log.rss" "$@" >"$log.out" 2>"$log.err" || rc=$?
  t1=$(now_ns)
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    cat "$log.err" >&2
    die "$* failed (exit $rc; output in $log.out, $log.err)"
  fi
  awk -v a="$t0" -v b="$t1" -v m="$(tail -n 1 "$log.rss")" -v rc="$rc" \
    'BEGIN { printf "%.4f %d %d\n", (b - a) / 1e9, m, rc }' >>"$file"
}

# bench_ldapsearch ARGS...: ldapsearch as the bound account of `testdc env`
# (CA_FILE, URI, BIND_DN, PASSWORD_FILE), LDIF unwrapped.
bench_ldapsearch() {
  LDAPTLS_CACERT=$CA_FILE ldapsearch -LLL -o ldif-wrap=no -x -H "$URI" -D "$BIND_DN" \
    -y "$PASSWORD_FILE" "$@"
}

# bench_size_dc ROOT N: the DC of a bench at N users working in ROOT/N: sets `work`
# (ROOT/N, made), `dc` (BENCH_DC_DIR or ROOT/N/dc, readied by bench_dc), the
# variables of `testdc env` (BASE_DN, URI, BIND_DN, PASSWORD_FILE, CA_FILE, ...),
# `backend` (dc_backend), and the sample data's `people` and `group_ou`.
bench_size_dc() {
  work=$1/$2
  dc=${BENCH_DC_DIR:-$work/dc}
  mkdir -p "$work"
  echo "== N = $2"
  bench_dc "$dc" "$work" "$2"
  eval "$(testdc env "$dc")"
  backend=$(dc_backend "$dc")
  people="OU=People,OU=Sync,$BASE_DN"
  group_ou="OU=Groups,OU=Sync,$BASE_DN"
}

# bench_halt_dc: for the caller's EXIT trap: halts halt_dc, if set.
bench_halt_dc() {
  if [ -n "$halt_dc" ]; then testdc halt "$halt_dc" 2>/dev/null || true; fi
}

# bench_release_dc DC: halts DC (directory kept) if this script started or
# resumed it (halt_dc), else leaves it running; says which.
bench_release_dc() {
  if [ -n "$halt_dc" ]; then
    testdc halt "$halt_dc" 2>/dev/null
    echo "  DC halted and kept: $1 (reuse: BENCH_DC_DIR=$1, or just rerun; remove: scripts/testdc.sh stop $1)"
    halt_dc=
  else
    echo "  DC left running: $1"
  fi
}
