#!/usr/bin/env bash
# Full-sync benchmark: loads N users (default 10000) and N/10 groups into a
# throwaway Samba AD domain, then measures in the same run
#   1. a raw paged ldapsearch of the same scope and attributes (the baseline),
#   2. syncd --once from empty into the local store,
# and prints wall time, peak RSS and the ratio syncd/ldapsearch.
#
#   bench/full_sync.sh [N]
#   BENCH_DC_DIR=/path  reuse a running DC already loaded by this script
#   BENCH_ROUNDS=5      alternating rounds; medians are reported
# Goal (issue 2): ratio <= 1.3 and peak RSS <= 100 MB at N = 10000.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
groups=$((n / 10))
work=${BENCH_WORK:-/tmp/syncd-bench-$n}
dc=${BENCH_DC_DIR:-$work/dc}

scripts/install-deps.sh >/dev/null
scripts/build.sh build >/dev/null
syncd=$PWD/build/syncd/syncd

if [ -z "${BENCH_DC_DIR:-}" ]; then
  [ -d "$dc" ] && scripts/testdc.sh stop "$dc" >/dev/null 2>&1 || true
  rm -rf "$work" && mkdir -m 0700 "$work"
  scripts/testdc.sh start "$dc" >/dev/null
  scripts/gen-ldif.py --users "$n" --groups "$groups" >"$work/data.ldif"
  echo "loading $n users and $groups groups..."
  scripts/testdc.sh load "$dc" "$work/data.ldif" >/dev/null
fi
mkdir -p "$work"
eval "$(scripts/testdc.sh env "$dc")"

people="OU=People,OU=Sync,$BASE_DN"
group_ou="OU=Groups,OU=Sync,$BASE_DN"
scripts/testdc.sh syncd-config "$dc" "$work" >"$work/syncd.conf"

# The attributes syncd asks for (scope::SearchAttributes with the default mapping).
user_attrs="objectGUID objectSid sIDHistory sAMAccountName userPrincipalName mail mS-DS-ConsistencyGuid name primaryGroupID userAccountControl displayName givenName sn"
group_attrs="objectGUID objectSid sIDHistory sAMAccountName userPrincipalName mail mS-DS-ConsistencyGuid name member description"

baseline() {
  LDAPTLS_CACERT=$CA_FILE ldapsearch -LLL -x -H "$URI" -D "$BIND_DN" -y "$PASSWORD_FILE" \
    -E pr=500/noprompt -b "$people" '(&(objectCategory=person)(objectClass=user))' $user_attrs >/dev/null
  LDAPTLS_CACERT=$CA_FILE ldapsearch -LLL -x -H "$URI" -D "$BIND_DN" -y "$PASSWORD_FILE" \
    -E pr=500/noprompt -b "$group_ou" '(objectClass=group)' $group_attrs >/dev/null
}
export -f baseline
export CA_FILE URI BIND_DN PASSWORD_FILE people group_ou user_attrs group_attrs

# run_timed FILE COMMAND...: appends "wall_seconds peak_rss_kib" of the command to FILE.
run_timed() {
  local file=$1; shift
  /usr/bin/time -a -f "%e %M" -o "$file" "$@" >/dev/null 2>"$work/last.err" || {
    cat "$work/last.err" >&2; return 1; }
}
# median FILE COLUMN
median() { sort -n -k"$2" "$1" | awk -v c="$2" '{v[NR]=$c} END {print v[int((NR+1)/2)]}'; }

users_in_ad=$(LDAPTLS_CACERT=$CA_FILE ldapsearch -LLL -x -H "$URI" -D "$BIND_DN" -y "$PASSWORD_FILE" \
  -E pr=500/noprompt -b "$people" '(&(objectCategory=person)(objectClass=user))' dn | grep -c '^dn:')
echo "scope: $users_in_ad users under $people, groups under $group_ou"
baseline  # warm the DC's caches once, so neither side pays for a cold start
rounds=${BENCH_ROUNDS:-5}
rm -f "$work/ldapsearch.times" "$work/syncd.times"
for _ in $(seq "$rounds"); do
  run_timed "$work/ldapsearch.times" bash -c baseline
  rm -f "$work/store.db" "$work/state.db"
  run_timed "$work/syncd.times" "$syncd" --config "$work/syncd.conf" --once
done
ls_wall=$(median "$work/ldapsearch.times" 1); ls_rss=$(median "$work/ldapsearch.times" 2)
sy_wall=$(median "$work/syncd.times" 1); sy_rss=$(sort -n "$work/syncd.times" | awk '{print $2}' | sort -n | tail -1)
printf 'N = %d users, %d groups; %d alternating rounds, medians:\n' "$n" "$groups" "$rounds"
printf '  ldapsearch (paged, same scope and attributes)  wall %6.2f s   peak RSS %6.1f MB\n' \
  "$ls_wall" "$(echo "$ls_rss / 1024" | bc -l)"
printf '  syncd --once from empty into the local store   wall %6.2f s   peak RSS %6.1f MB (max)\n' \
  "$sy_wall" "$(echo "$sy_rss / 1024" | bc -l)"
echo "  ratio syncd/ldapsearch: $(echo "scale=2; $sy_wall / $ls_wall" | bc -l)  (goal <= 1.3; RSS goal <= 100 MB)"
echo "  all rounds (wall s, RSS KiB): ldapsearch [$(tr '\n' ' ' <"$work/ldapsearch.times")] syncd [$(tr '\n' ' ' <"$work/syncd.times")]"
echo "  store users: $("$syncd" --config "$work/syncd.conf" store users | wc -l)"
