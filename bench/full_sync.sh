#!/usr/bin/env bash
# Full-sync benchmark (issue 13). In a domain of N users and N/10 groups, syncd's
# full sync from empty against a raw paged ldapsearch of the same scope, in the
# same run:
#   1. a DC with N users (over OU=People and its OU=East and OU=West, the user
#      scope) and N/10 groups, bulk-loaded offline (testdc.sh bulk-load) or reused,
#      its sam.ldb on LMDB (see BENCH_BACKEND): the DC bench/incremental_sync.sh loads;
#   2. a warming ldapsearch, then BENCH_ROUNDS alternating rounds, each:
#      a. the baseline: a paged ldapsearch (pages of 500, syncd's page_size) of the
#         users and groups in scope, with the attributes syncd asks for;
#      b. syncd -v --once from empty (a fresh state and local store);
#      c. syncd -v --once --full on the state and store b. left: a full reconciliation
#         with nothing to change, what every scheduled reconciliation is (it holds the
#         read, the cached state and the store's contents at once);
#      d. syncd -v --dry-run --json from empty (a dry run is one run), the JSON to a file;
#   3. medians: wall time, peak RSS (/usr/bin/time), the ratio syncd/ldapsearch (of b.), and
#      the phases syncd -v logs as "... in N ms (RSS M MB)": read (with scope in it),
#      scope, plan, apply (with the journal), and "rest", the wall time outside them
#      (start, connecting, opening the state and store, the store's read before the
#      plan, output, exit);
#   4. with BENCH_HEAPTRACK=1, one more syncd --once from empty under heaptrack: its
#      peak heap and the three functions of syncd holding the most of it.
# After all N, a table (one row per N), the goal checks and the heaptrack figures.
#
#   bench/full_sync.sh [N ...]      (default: 10000 50000 100000)
#
# Environment:
#   BENCH_ROUNDS=3       alternating rounds; medians are reported
#   BENCH_WORK=DIR       work root (default /tmp/syncd-bench-full); N's files in DIR/N,
#                        each round's output and syncd logs in DIR/N/rounds/
#   BENCH_DC_DIR=DIR     use this DC (one N only), running or halted; without it the
#                        DC in BENCH_WORK/N/dc is reused when this script loaded it for
#                        the same N, else provisioned and loaded afresh (10,000 users
#                        in about a minute, 50,000 in ~3 min)
#   BENCH_FRESH=1        reload BENCH_WORK/N/dc even if it holds a loaded DC
#   BENCH_BACKEND=mdb    sam.ldb store of a new DC (TESTDC_BACKEND): mdb (default) or tdb
#   BENCH_HEAPTRACK=1    also the run under heaptrack (slow: ~10 times the wall time)
#   BENCH_SYNCD=PATH     this syncd binary instead of building build/syncd/syncd
#                        (flag 1) that syncd's full read sends: the DC's cost of naming
#                        every member by GUID and SID, which the plain baseline does not
#                        pay. Reported beside the goal's ratio, not instead of it.
# A DC this script starts or resumes is halted (testdc.sh halt, directory kept) when it
# is done with it; one it found running is left running. Remove a DC with
# `scripts/testdc.sh stop DIR`.
#
# Only one DC fits on the loopback ports: beside other test DCs, run it in a
# network namespace of its own:
#   ip netns add syncd-bench; ip netns exec syncd-bench ip link set lo up
#   ip netns exec syncd-bench bench/full_sync.sh
#
# Goals (issue 13): ratio syncd/ldapsearch <= 1.2 at every N; peak RSS of syncd --once
# from empty <= 100 MB at N = 100,000 (~1 KB an object), and of --dry-run --json from
# empty <= 100 MB at N = 100,000.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
rounds=${BENCH_ROUNDS:-3}
root=${BENCH_WORK:-/tmp/syncd-bench-full}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 50000 100000)
if [ -n "${BENCH_DC_DIR:-}" ] && [ ${#sizes[@]} -ne 1 ]; then
  echo "full_sync: BENCH_DC_DIR names one DC: give exactly one N" >&2
  exit 2
fi

die() { echo "full_sync: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
for n in "${sizes[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, not '$n'"
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive number"
heaptrack=${BENCH_HEAPTRACK:-0}
if [ "$heaptrack" = 1 ] && ! { command -v heaptrack && command -v heaptrack_print; } >/dev/null; then
  die "BENCH_HEAPTRACK=1 needs heaptrack and heaptrack_print"
fi
bench_syncd

at_most() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g ? "met" : "NOT met") }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
thousands() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; }

# The attributes syncd asks for (scope::SearchAttributes with the default mapping).
user_attrs="objectGUID objectSid sIDHistory sAMAccountName userPrincipalName mail mS-DS-ConsistencyGuid name primaryGroupID userAccountControl displayName givenName sn"
group_attrs="objectGUID objectSid sIDHistory sAMAccountName userPrincipalName mail mS-DS-ConsistencyGuid name member description"
# The baseline: syncd's two searches (filters of scope::SearchFilter), as LDIF on stdout.
# Run through `bash -c baseline` under /usr/bin/time, hence exported.
baseline() {
  # shellcheck disable=SC2086  # the attribute lists split into arguments
  bench_ldapsearch -E pr=500/noprompt -b "$people" '(&(objectCategory=person)(objectClass=user))' $user_attrs &&
    bench_ldapsearch -E pr=500/noprompt -b "$group_ou" '(objectClass=group)' $group_attrs
}
export -f baseline bench_ldapsearch
export user_attrs group_attrs

# from_empty DIR TIMES LOG syncd-args...: syncd -v ARGS against a new state and store in
# DIR (emptied first), timed into TIMES (bench_timed); its phases appended to TIMES.phases.
from_empty() {
  local dir=$1
  rm -rf "$dir" && mkdir -p "$dir"
  testdc syncd-config "$dc" "$dir" >"$dir/syncd.conf"
  in_place "$@"
}

# in_place DIR TIMES LOG syncd-args...: from_empty on the state and store DIR holds.
in_place() {
  local dir=$1 times=$2 log=$3
  shift 3
  bench_timed "$times" "$log" "$syncd" --config "$dir/syncd.conf" -v "$@"
  phases "$log.err" "$(tail -n 1 "$times" | cut -d' ' -f1)" >>"$times.phases"
}

# The phases -v logs within another one (scope evaluation ends the read), and that one.
nested=scope
nested_in="read"

# phases LOG WALL_SECONDS: the phases syncd -v logged as "<phase> ... in N ms (RSS M MB)",
# one "phase ms rss_mb" line each ("planned"/"applied" as plan/apply; the nested one
# after its parent), then "rest ms -": the wall time outside them.
phases() {
  sed -nE 's/^syncd: [a-z]+: ([a-z]+)( .*)? in ([0-9]+) ms \(RSS ([0-9]+) MB\)$/\1 \3 \4/p' "$1" |
    sed -e 's/^planned /plan /' -e 's/^applied /apply /' |
    awk -v wall="$2" -v nested="$nested" '
      $1 == nested { held = $0; next }
      { print; outside += $2; if (held != "") print held; held = "" }
      END { if (held != "") print held; printf "rest %.0f -\n", wall * 1000 - outside }'
}

# phase_medians FILE: "phase median_ms (median RSS MB at its end)" for each phase in
# FILE, in the order they come, on one line.
phase_medians() {
  local phase line="" rss
  while read -r phase; do
    awk -v p="$phase" '$1 == p' "$1" >"$1.one"
    [ "$phase" != "$nested" ] || line+="of the $nested_in "
    line+="$phase $(median_of "$1.one" 2) ms"
    rss=$(median_of "$1.one" 3)
    [ "$rss" = - ] || line+=" ($rss MB)"
    line+=", "
  done < <(awk '!seen[$1]++ { print $1 }' "$1")
  rm -f "$1.one"
  echo "${line%, }"
}

# heaptrack_run LOGS: syncd --once from empty under heaptrack; prints its peak heap and
# the three functions of syncd's own code holding the most of it at the peak (the
# innermost frame of each allocation's stack that is in one of the repository's .cc files).
heaptrack_run() {
  local logs=$1 data t0 report=$1/heaptrack.txt stacks=$1/heaptrack.stacks
  rm -f "$logs"/heaptrack.*
  rm -rf "$work/run-heaptrack" && mkdir -p "$work/run-heaptrack"
  testdc syncd-config "$dc" "$work/run-heaptrack" >"$work/run-heaptrack/syncd.conf"
  t0=$(now_ns)
  heaptrack -o "$logs/heaptrack" "$syncd" --config "$work/run-heaptrack/syncd.conf" --once \
    >"$logs/heaptrack.log" 2>&1 || [ $? -eq 2 ] || die "heaptrack run failed (see $logs/heaptrack.log)"
  echo "  heaptrack: syncd --once from empty, $(secs_since "$t0") s under heaptrack"
  data=
  for data in "$logs/heaptrack.zst" "$logs/heaptrack.gz" ""; do [ ! -f "$data" ] || break; done
  [ -n "$data" ] || die "heaptrack wrote no data file (see $logs/heaptrack.log)"
  heaptrack_print -f "$data" --print-peaks 0 --print-allocators 0 --print-temporary 0 \
    --print-leaks 0 --flamegraph-cost-type peak -F "$stacks" >"$report" 2>&1 ||
    die "heaptrack_print failed (see $report)"
  echo "    $(grep -m1 '^peak heap memory consumption' "$report"); the most of it held by:"
  # Stack lines: "outermost frame;...;innermost frame BYTES", a frame "name(args) (file)".
  awk -v sources="$(git -C "$repo" ls-files '*.cc' | sed 's|.*/||' | paste -sd' ')" '
    BEGIN { n = split(sources, s, " "); for (i = 1; i <= n; i++) ours["(" s[i] ")"] = 1 }
    { bytes = $NF; n = split(substr($0, 1, length($0) - length($NF) - 1), frame, ";")
      holder = "(no frame in syncd code)"
      for (i = n; i >= 1; i--) {
        file = frame[i]; sub(/^.* /, "", file)
        if (file in ours) { holder = frame[i]; break }
      }
      held[holder] += bytes; total += bytes }
    END { for (h in held) printf "%d %.1f %s\n", held[h], 100 * held[h] / total, h }' "$stacks" |
    sort -rn | sed -n 1,3p | while read -r bytes share frame; do
      # "void syncd::scope::Evaluator::Index<>(args) (scope.cc)" -> "scope::Evaluator::Index (scope.cc)"
      printf '      %7s MB  %4s%%  %s\n' "$(mb "$((bytes / 1024))")" "$share" \
        "$(sed -E 's/operator\(\)/operator@/; s/\(.* (\([^()]*\))$/ \1/; s/operator@/operator()/;
                  s/<[^ ]*>//g; s/\[abi:[^]]*\]//g; s/^[^ ]* ([^ ]+ \()/\1/; s/^syncd:://' <<<"$frame")"
    done
}

halt_dc=
trap bench_halt_dc EXIT

bench_one() {
  local n=$1
  bench_size_dc "$root" "$n"
  export CA_FILE URI BIND_DN PASSWORD_FILE people group_ou  # for `bash -c baseline`

  local logs=$work/rounds
  rm -rf "$logs" && mkdir -p "$logs"
  baseline >"$logs/warm.ldif"  # warms the DC's caches, so neither side pays a cold start
  local users_in_ad groups_in_ad
  users_in_ad=$(grep -c '^userAccountControl:' "$logs/warm.ldif" || true)  # users only
  groups_in_ad=$(( $(grep -c '^dn' "$logs/warm.ldif") - users_in_ad ))
  echo "scope: $users_in_ad users under $people, $groups_in_ad groups under $group_ou"

  local r
  rm -f "$work"/*.times "$work"/*.phases
  for r in $(seq "$rounds"); do
    bench_timed "$work/ldapsearch.times" "$logs/ldapsearch-$r" bash -c baseline
    from_empty "$work/run-once" "$work/once.times" "$logs/once-$r" --once
    in_place "$work/run-once" "$work/full.times" "$logs/full-$r" --once --full
    from_empty "$work/run-dry" "$work/dry.times" "$logs/dry-$r" --dry-run --json
    printf '  round %d: ldapsearch %s s, syncd --once %s s (%s), --once --full %s s, --dry-run --json %s s\n' \
      "$r" "$(tail -n 1 "$work/ldapsearch.times" | cut -d' ' -f1)" \
      "$(tail -n 1 "$work/once.times" | cut -d' ' -f1)" "$(head -n 1 "$logs/once-$r.out")" \
      "$(tail -n 1 "$work/full.times" | cut -d' ' -f1)" "$(tail -n 1 "$work/dry.times" | cut -d' ' -f1)"
  done

  local ls_wall ls_rss once_wall once_rss once_rss_max dry_wall dry_rss dry_rss_max json_bytes
  local full_wall full_rss
  ls_wall=$(median_of "$work/ldapsearch.times" 1); ls_rss=$(median_of "$work/ldapsearch.times" 2)
  once_wall=$(median_of "$work/once.times" 1); once_rss=$(median_of "$work/once.times" 2)
  once_rss_max=$(max_of "$work/once.times" 2)
  dry_wall=$(median_of "$work/dry.times" 1); dry_rss=$(median_of "$work/dry.times" 2)
  dry_rss_max=$(max_of "$work/dry.times" 2)
  full_wall=$(median_of "$work/full.times" 1); full_rss=$(median_of "$work/full.times" 2)
  json_bytes=$(stat -c %s "$logs/dry-$rounds.out")
  printf 'N = %d: %d users and %d groups in scope, DC on %s; %d alternating rounds, medians:\n' \
    "$n" "$users_in_ad" "$groups_in_ad" "${backend:-?}" "$rounds"
  printf '  ldapsearch (paged, same scope and attributes)  wall %8.3f s   peak RSS %6s MB\n' \
    "$ls_wall" "$(mb "$ls_rss")"
  printf '  syncd --once from empty                        wall %8.3f s   peak RSS %6s MB (max %s MB)\n' \
    "$once_wall" "$(mb "$once_rss")" "$(mb "$once_rss_max")"
  printf '    phases, ms (RSS at the end): %s\n' "$(phase_medians "$work/once.times.phases")"
  printf '    %s; store after the last round: %s users, %s groups\n' \
    "$(grep -m1 -o 'read [0-9]* entries.*range reads)' "$logs/once-$rounds.err" || echo 'no read line')" \
    "$("$syncd" --config "$work/run-once/syncd.conf" store users | wc -l)" \
    "$("$syncd" --config "$work/run-once/syncd.conf" store groups | wc -l)"
  printf '  syncd --once --full, nothing to change         wall %8.3f s   peak RSS %6s MB\n' \
    "$full_wall" "$(mb "$full_rss")"
  printf '    phases, ms (RSS at the end): %s\n' "$(phase_medians "$work/full.times.phases")"
  printf '  syncd --dry-run --json from empty               wall %8.3f s   peak RSS %6s MB (max %s MB); JSON %s MB\n' \
    "$dry_wall" "$(mb "$dry_rss")" "$(mb "$dry_rss_max")" "$(mb "$((json_bytes / 1024))")"
  printf '    phases, ms (RSS at the end): %s\n' "$(phase_medians "$work/dry.times.phases")"
  printf '  ratio syncd/ldapsearch: %s (goal <= 1.2)\n' "$(ratio "$once_wall" "$ls_wall")"
  printf '  all rounds (wall s, RSS KiB, exit): ldapsearch [%s] syncd --once [%s] --full [%s] dry run [%s]\n' \
    "$(paste -sd, "$work/ldapsearch.times")" "$(paste -sd, "$work/once.times")" \
    "$(paste -sd, "$work/full.times")" "$(paste -sd, "$work/dry.times")"
  [ "$heaptrack" != 1 ] || heaptrack_run "$logs" | tee "$work/heaptrack.summary"
  printf '%s %s %s %s %s %s %s %s %s %s\n' "$n" "$ls_wall" "$once_wall" "$once_rss" "$dry_wall" \
    "$dry_rss" "$full_wall" "$full_rss" "${backend:-?}" "$(date '+%F %T')" >"$work/result"

  bench_release_dc "$dc"
}

for n in "${sizes[@]}"; do
  bench_one "$n"
done

echo
echo "Full sync from empty, and (last two columns) a full reconciliation of the synced state"
echo "with nothing to change; medians of $rounds alternating rounds (DC on LMDB unless noted):"
echo "| users | ldapsearch | syncd --once | ratio | peak RSS | dry-run --json | dry-run RSS | --once --full, synced | its RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
ratio_fails=() once_at_100k="" dry_at_100k=""
for n in "${sizes[@]}"; do
  read -r _ ls_wall once_wall once_rss dry_wall dry_rss full_wall full_rss backend _ <"$root/$n/result"
  r=$(ratio "$once_wall" "$ls_wall")
  note=""
  [ "$backend" = mdb ] || note=" ($backend)"
  printf '| %s%s | %.2f s | %.2f s | %s | %s MB | %.2f s | %s MB | %.2f s | %s MB |\n' \
    "$(thousands "$n")" "$note" "$ls_wall" "$once_wall" "$r" "$(mb "$once_rss")" "$dry_wall" \
    "$(mb "$dry_rss")" "$full_wall" "$(mb "$full_rss")"
  [ "$(at_most "$r" 1.2)" = met ] || ratio_fails+=("$(thousands "$n"): $r")
  if [ "$n" = 100000 ]; then once_at_100k=$(mb "$once_rss"); dry_at_100k=$(mb "$dry_rss"); fi
done
if [ ${#ratio_fails[@]} -eq 0 ]; then
  echo "goal: ratio syncd/ldapsearch <= 1.2 at every N: met"
else
  fails=$(printf '%s; ' "${ratio_fails[@]}")
  echo "goal: ratio syncd/ldapsearch <= 1.2 at every N: NOT met (${fails%; })"
fi
for goal in "syncd --once peak RSS:$once_at_100k" "dry-run --json peak RSS:$dry_at_100k"; do
  if [ -n "${goal#*:}" ]; then
    echo "goal: ${goal%%:*} <= 100 MB at N = 100,000: $(at_most "${goal#*:}" 100) (${goal#*:} MB)"
  else
    echo "goal: ${goal%%:*} <= 100 MB at N = 100,000: not measured (N = 100,000 not in this run)"
  fi
done
if [ "$heaptrack" = 1 ]; then
  for n in "${sizes[@]}"; do
    echo "heaptrack at N = $(thousands "$n"):"
    sed -n 's/^    //p' "$root/$n/heaptrack.summary"
  done
fi
