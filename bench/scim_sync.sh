#!/usr/bin/env bash
# SCIM benchmark: a first sync of N users into a SCIM service that throttles
# writes, then the daemon's latency from a change in AD to the change in the
# service. Against tests/scim-peer (profile aws, IAM Identity Center's limits):
#   1. a DC with N users (OU=People), N/10 groups with 3-42 random members each
#      (~2.25 N memberships), on LMDB: bulk-loaded offline (bench/lib.sh), or
#      reused when this script loaded it before for the same N;
#   2. a fresh peer, profile aws, throttling SCIM writes at R/s
#      (SCIM_PEER_WRITE_RATE; Retry-After 1 s); syncd configured with
#      [store] kind = "scim", profile = "aws", rate_limit = R (the service's
#      documented rate) and the default max_in_flight;
#   3. `syncd --once -v` under /usr/bin/time -v: wall time, peak RSS; the
#      apply phase's length from its "applied in" line; the peer's counters
#      (/_control/stats: requests, writes, reads, 429s); the peer's contents
#      (/_control/dump) against AD's and against the minimum number of
#      requests: one per user and group, plus ceil(members/100) PATCHes per
#      group (100 membership values per PATCH is AWS's limit);
#   4. the daemon (`syncd --config F -v`, change notifications on), and
#      BENCH_CHANGES changes one at a time: an ldapmodify sets a random
#      in-scope user's displayName to a fresh value; the latency runs from
#      just before ldapmodify starts until the peer holds the new value
#      (GET /_control/users/ID polled every 20 ms);
#   5. a table with the goal checks, and what one PATCH per membership
#      (ssosync's way) would have cost for the same data at R/s.
#
#   bench/scim_sync.sh [N [R]]            (defaults: 10000 users, R = 25 writes/s)
#
# Environment:
#   BENCH_RATE=25           R, when not given as the second argument
#   BENCH_SYNCD_RATE=R      syncd's [store] rate_limit (default: R)
#   BENCH_IN_FLIGHT=        syncd's [store] max_in_flight (default: syncd's own, 4)
#   BENCH_CHANGES=20        changes in the latency phase
#   BENCH_GAP=1             seconds between one change being visible and the next
#   BENCH_COALESCE_MS=300   the daemon's [daemon] coalesce_ms (its default)
#   BENCH_TIMEOUT=30        seconds a change may take to show before it counts as lost
#   BENCH_SYNCD=PATH        the syncd binary (default build/syncd/syncd; not built
#                           here); copied to the work directory first
#   BENCH_WORK=DIR          work root (default /tmp/syncd-bench-scim); N's files in DIR/N
#                           (syncd.conf, once.log, time.txt, stats.json, dump.json,
#                           daemon.log, latency.tsv, peer.log)
#   BENCH_DC_DIR=DIR        use this DC, running or halted (default BENCH_WORK/N/dc,
#                           provisioned and loaded there when it holds no loaded DC)
#   BENCH_FRESH=1           reload BENCH_WORK/N/dc even if it holds a loaded DC
#   BENCH_BACKEND=mdb       sam.ldb store of a DC provisioned here
# The first sync takes about (N + N/10 + N/10) / R seconds: ~8 min at N = 10,000,
# R = 25. A DC this script starts or resumes is halted (directory kept) at the end;
# the peer and the daemon are stopped.
#
# Only one DC fits on the loopback ports: run it in a network namespace of its own:
#   ip netns add syncd-bench; ip netns exec syncd-bench ip link set lo up
#   ip netns exec syncd-bench bench/scim_sync.sh 2000
#
# Goals: requests <= 1.05 x the minimum; achieved write rate >= 95% of R with 0
# failed operations; latency median < 1 s.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
n=${1:-10000}
rate=${2:-${BENCH_RATE:-25}}
syncd_rate=${BENCH_SYNCD_RATE:-$rate}
changes=${BENCH_CHANGES:-20}
gap=${BENCH_GAP:-1}
timeout=${BENCH_TIMEOUT:-30}
work=${BENCH_WORK:-/tmp/syncd-bench-scim}/$n
dc=${BENCH_DC_DIR:-$work/dc}

die() { echo "scim_sync: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
now_us() { local t=$EPOCHREALTIME; echo "${t/[.,]/}"; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) / 1000 }'; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "")}'; }
calc() { awk "BEGIN { $1 }"; }
verdict() { if [ "$1" = 1 ]; then echo met; else echo "NOT met"; fi; }

[ "$(id -u)" -eq 0 ] || die "must run as root (the test DC needs it)"
if [ -z "$(ip netns identify 2>/dev/null)" ]; then
  die "run me inside a network namespace (one DC per namespace), e.g.
  ip netns add syncd-bench; ip netns exec syncd-bench ip link set lo up
  ip netns exec syncd-bench $0 $*"
fi
[[ $n =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number"
[[ $rate =~ ^[1-9][0-9]*$ ]] || die "R must be a positive whole number of writes/s"
src=${BENCH_SYNCD:-$repo/build/syncd/syncd}
[ -x "$src" ] || die "no syncd binary at $src (build it, or set BENCH_SYNCD)"
mkdir -p "$work"
syncd=$work/syncd
cp "$src" "$syncd.new" && mv "$syncd.new" "$syncd"

daemon_pid=
peer_pid=
halt_dc=
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  if [ -n "$peer_pid" ]; then kill "$peer_pid" 2>/dev/null || true; fi
  if [ -n "$halt_dc" ]; then testdc halt "$halt_dc" 2>/dev/null || true; fi
}
trap cleanup EXIT
set -E
trap 'echo "scim_sync: line $LINENO: exit status $? (logs in $work)" >&2' ERR

echo "== N = $n, R = $rate writes/s"
bench_dc "$dc" "$work" "$n"
eval "$(testdc env "$dc")"
people="OU=People,OU=Sync,$BASE_DN"

# The peer: fresh, aws profile, writes throttled at R/s.
echo "bench-token-$RANDOM$RANDOM" >"$work/token"
chmod 600 "$work/token"
SCIM_PEER_PROFILE=aws SCIM_PEER_WRITE_RATE=$rate SCIM_TOKEN_FILE=$work/token \
  "$repo/tests/scim-peer/start.sh" "$work/peer"
peer_pid=$(cat "$work/peer.pid")
url=$(cat "$work/peer")
control=${url%/scim/v2}/_control
echo "SCIM peer (aws, writes throttled at $rate/s, Retry-After 1 s): $url"

testdc syncd-config "$dc" "$work" | sed '/^\[store\]/,/^$/d' >"$work/syncd.conf"
rm -f "$work"/state.db*
cat >>"$work/syncd.conf" <<CONF

[store]
kind = "scim"
url = "$url"
token_file = "$work/token"
profile = "aws"
# The service's documented write rate: its throttle (429 + Retry-After) then
# only catches what timing jitter lets through.
rate_limit = $syncd_rate
${BENCH_IN_FLIGHT:+max_in_flight = $BENCH_IN_FLIGHT}

[daemon]
interval = 300
notify = true
coalesce_ms = ${BENCH_COALESCE_MS:-300}
CONF

# JSON field from the peer, by a Python expression over `d`.
peer_json() { curl -fsS "$control/$1" | /usr/bin/python3 -c "import json, sys; d = json.load(sys.stdin); print($2)"; }
stamp() { local line; while IFS= read -r line; do printf '%s %s\n' "${EPOCHREALTIME/[.,]/}" "$line"; done; }

# The first sync.
echo "syncd --once (full sync into the peer)..."
curl -fsS -X POST "$control/reset-stats" >/dev/null
set +e
/usr/bin/time -v -o "$work/time.txt" "$syncd" --config "$work/syncd.conf" --once -v \
  >"$work/once.out" 2> >(stamp >"$work/once.log")
once_rc=$?
set -e
sleep 0.2  # the stamp process drains
curl -fsS "$control/stats" >"$work/stats.json"
curl -fsS "$control/dump" >"$work/dump.json"
[ "$once_rc" -eq 0 ] || { tail -n 20 "$work/once.log" >&2; die "syncd --once exited with status $once_rc"; }
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time.txt" |
  awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
apply_ms=$(sed -n 's/.*debug: applied in \([0-9]*\) ms.*/\1/p' "$work/once.log" | tail -n 1)
[ -n "$apply_ms" ] || die "no \"applied in\" line in $work/once.log"
failed=$(grep -Ec 'error: |failed|deferred' "$work/once.out" || true)

read -r requests writes reads s429 _ other <<<"$(/usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
c = s.get("status_counts", {})
ok = sum(v for k, v in c.items() if k.startswith("2"))
bad = sum(v for k, v in c.items() if not k.startswith("2") and k != "429")
print(s["requests"], s["writes"], s["reads"], c.get("429", 0), ok, bad)' "$work/stats.json")"
routes=$(/usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(", ".join("%s %d" % kv for kv in sorted(s["by_route"].items())))' "$work/stats.json")
# What the peer holds; the minimum requests for it.
read -r p_users p_groups p_members minimum <<<"$(/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
members = [len(g.get("members", [])) for g in d["groups"]]
print(len(d["users"]), len(d["groups"]), sum(members),
      len(d["users"]) + len(d["groups"]) + sum((m + 99) // 100 for m in members))' "$work/dump.json")"
# What AD holds in scope, for comparison (users under OU=People, groups under OU=Groups).
search() { LDAPTLS_CACERT=$CA_FILE ldapsearch -LLL -o ldif-wrap=no -x -H "$URI" -D "$BIND_DN" -y "$PASSWORD_FILE" "$@"; }
ad_users=$(search -E pr=1000/noprompt -b "$people" '(&(objectCategory=person)(objectClass=user))' 1.1 | grep -c '^dn' || true)
ad_groups=$(search -E pr=1000/noprompt -b "OU=Groups,OU=Sync,$BASE_DN" '(objectClass=group)' 1.1 | grep -c '^dn' || true)

accepted_writes=$((writes - s429))
achieved=$(calc "printf \"%.2f\", $accepted_writes / ($apply_ms / 1000)")
achieved_pct=$(calc "printf \"%.1f\", 100 * $accepted_writes / ($apply_ms / 1000) / $rate")
req_ratio=$(calc "printf \"%.3f\", $requests / $minimum")
writes_ratio=$(calc "printf \"%.3f\", $writes / $minimum")
sso_requests=$((p_users + p_groups + p_members))
sso_seconds=$(calc "printf \"%.0f\", $sso_requests / $rate")
min_seconds=$(calc "printf \"%.0f\", $minimum / $rate")
req_ok=$(calc "print ($requests <= 1.05 * $minimum)")
rate_ok=$(calc "print ($achieved_pct >= 95 && $failed == 0 && $other == 0)")
echo "  done in $wall s; apply phase $apply_ms ms; $requests requests ($writes writes, $reads reads), $s429 answered 429"

# The daemon, and the latency of single changes.
echo "latency: the daemon, $changes displayName changes, $gap s apart (peer polled every 20 ms)"
log=$work/daemon.log
"$syncd" --config "$work/syncd.conf" -v 2> >(stamp >"$log") >"$work/daemon.out" &
daemon_pid=$!
touch "$log"
wait_log() {
  local deadline=$((SECONDS + $2))
  until grep -Eq "$1" "$log"; do
    kill -0 "$daemon_pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "the daemon exited (log: $log)"; }
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$log" >&2; die "no \"$1\" in the log after $2 s ($log)"; }
    sleep 0.05
  done
}
wait_log 'change notifications registered' 600
sleep 1
# BENCH_CHANGES random in-scope users: DN line (as LDIF gives it) and peer id.
search -E pr=1000/noprompt -b "$people" '(&(objectCategory=person)(objectClass=user))' objectGUID |
  /usr/bin/python3 -c '
import base64, json, random, sys, uuid
ids = {u["externalId"]: u["id"] for u in json.load(open(sys.argv[1]))["users"]}
out, dn = [], None
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("dn:"):
        dn = line
    elif line.startswith("objectGUID:: ") and dn:
        guid = str(uuid.UUID(bytes_le=base64.b64decode(line[13:])))
        if guid in ids:
            out.append("%s\t%s" % (ids[guid], dn))
random.shuffle(out)
print("\n".join(out[: int(sys.argv[2])]))' "$work/dump.json" "$changes" >"$work/chosen.tsv"
[ "$(wc -l <"$work/chosen.tsv")" -eq "$changes" ] || die "fewer than $changes users of AD are in the peer"
curl -fsS -X POST "$control/reset-stats" >/dev/null
tag=$(date +%s)
: >"$work/latency.tsv"  # i t0_us t1_us id t_mod_us
i=0
while IFS=$'\t' read -r id dnline; do
  i=$((i + 1))
  value="scim-lat-$tag-$i"
  printf '%s\nchangetype: modify\nreplace: displayName\ndisplayName: %s\n-\n\n' "$dnline" "$value" \
    >"$work/change.ldif"
  t0=$(now_us)
  testdc ldap "$dc" ldapmodify -f "$work/change.ldif" >/dev/null || die "ldapmodify ($dnline) failed"
  t_mod=$(now_us)
  t1=
  deadline=$((SECONDS + timeout))
  while :; do
    if curl -fsS "$control/users/$id" 2>/dev/null | grep -qF "\"$value\""; then t1=$(now_us); break; fi
    [ $SECONDS -lt $deadline ] || break
    kill -0 "$daemon_pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "the daemon exited (log: $log)"; }
    sleep 0.02
  done
  printf '%d\t%s\t%s\t%s\t%s\n' "$i" "$t0" "${t1:--}" "$id" "$t_mod" >>"$work/latency.tsv"
  if [ -n "$t1" ]; then
    printf '  change %2d: %5s ms\n' "$i" "$(ms_between "$t0" "$t1")"
  else
    printf '  change %2d: NOT in the peer after %s s\n' "$i" "$timeout"
  fi
  sleep "$gap"
done <"$work/chosen.tsv"
curl -fsS "$control/stats" >"$work/stats-latency.json"
lat_requests=$(peer_json stats 'd["requests"]')
lat_writes=$(peer_json stats 'd["writes"]')
kill -TERM "$daemon_pid"
for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
daemon_pid=
never=999999999
lat_all=$(awk -F'\t' -v x="$never" '{ if ($3 == "-") print x; else printf "%.0f\n", ($3 - $2) / 1000 }' "$work/latency.tsv")
lat_median=$(median <<<"$lat_all")
lat_worst=$(sort -g <<<"$lat_all" | tail -n 1)
shown() { if [ "$1" = "$never" ]; then echo ">$((timeout * 1000))"; else echo "$1"; fi; }
lat_ok=$(calc "print ($lat_median < 1000)")
# Medians after t0 (ms), from the daemon's time-stamped log: ldapmodify done,
# notification received, run started ("connected to"), run ended.
read -r m_mod m_notif m_conn m_end <<<"$(awk -F'\t' 'NR == FNR { t0[NR] = $2; tm[NR] = $5; n = NR; next }
  { ts = $1 + 0; for (i = n; i >= 1; i--) if (ts >= t0[i] + 0) break
    if (i < 1) next
    if (!(i in no) && /change notification:/) no[i] = ts
    if (!(i in co) && /connected to/) co[i] = ts
    if ((i in co) && !(i in en) && / run (ok|partial|incomplete)/) en[i] = ts }
  function med(a, k, v, c, j, x) { c = 0; for (j = 1; j <= n; j++) if (j in a) v[++c] = (a[j] - t0[j]) / 1000
    for (j = 1; j <= c; j++) for (k = j + 1; k <= c; k++) if (v[k] < v[j]) { x = v[j]; v[j] = v[k]; v[k] = x }
    return c ? sprintf("%.0f", v[int((c + 1) / 2)]) : "-" }
  END { for (j = 1; j <= n; j++) m[j] = tm[j]; print med(m), med(no), med(co), med(en) }' \
  "$work/latency.tsv" <(grep -v '^$' "$log"))"

echo
echo "Summary (N = $n, R = $rate writes/s; syncd rate_limit $syncd_rate, max_in_flight ${BENCH_IN_FLIGHT:-default}, coalesce_ms ${BENCH_COALESCE_MS:-300}; $(date '+%F %T')):"
printf '  %-44s %s\n' \
  "AD in scope" "$ad_users users, $ad_groups groups" \
  "peer after the sync" "$p_users users, $p_groups groups, $p_members memberships" \
  "requests (peer)" "$requests: $writes writes, $reads reads; $routes" \
  "minimum (users + groups + ceil(m/100)/group)" "$minimum (at R/s: $min_seconds s)" \
  "requests / minimum" "$req_ratio (writes / minimum $writes_ratio)" \
  "429s received" "$s429 (other non-2xx: $other)" \
  "apply phase" "$apply_ms ms; $accepted_writes accepted writes: $achieved/s = $achieved_pct% of R" \
  "failed or deferred operations (--once output)" "$failed" \
  "syncd --once wall time / peak RSS" "$wall s / $(calc "printf \"%.1f\", $rss_kb / 1024") MB" \
  "latency, $changes changes (ms)" "$(paste -sd' ' <<<"$lat_all" | sed "s/$never/>$((timeout * 1000))/g")" \
  "latency median / worst" "$(shown "$lat_median") ms / $(shown "$lat_worst") ms" \
  "medians after t0 (ms)" "ldapmodify done $m_mod, notified $m_notif, run started $m_conn, run ended $m_end" \
  "requests in the latency phase" "$lat_requests ($lat_writes writes) for $changes changes" \
  "ssosync's way: one PATCH per membership" "$sso_requests requests (at R/s: $sso_seconds s), $(calc "printf \"%.1f\", $sso_requests / $minimum")x the minimum"
echo "  goal: requests <= 1.05 x minimum:              $(verdict "$req_ok") ($req_ratio)"
echo "  goal: write rate >= 95% of R, 0 failed:        $(verdict "$rate_ok") ($achieved_pct%, $failed failed)"
echo "  goal: latency median < 1 s:                    $(verdict "$lat_ok") ($(shown "$lat_median") ms)"
echo "  logs and figures: $work"
if [ -n "$halt_dc" ]; then
  testdc halt "$halt_dc" 2>/dev/null
  halt_dc=
  echo "  DC halted and kept: $dc (remove: scripts/testdc.sh stop $dc)"
fi
