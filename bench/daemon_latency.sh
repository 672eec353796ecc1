#!/usr/bin/env bash
# Daemon benchmark: how long a change in AD takes to reach the store when syncd
# runs as a daemon (change notifications, not the interval), and what the daemon
# costs while nothing changes. In a domain of N users (and N/10 groups):
#   1. a DC with N users under OU=People (the user scope), on LMDB: the halted one
#      bench/incremental_sync.sh keeps for N, resumed, or provisioned and
#      bulk-loaded the same way (and kept for both scripts);
#   2. `syncd --config F -v` (the daemon) from an empty store and state, with the
#      default schedule ([daemon] interval = 300 s, coalesce_ms = 300): waits for its
#      first run ("full run ok") and "change notifications registered";
#   3. BENCH_CHANGES changes, one at a time, BENCH_GAP s apart: an ldapmodify sets a
#      different in-scope user's userPrincipalName to a fresh value; the latency is
#      from just before ldapmodify starts until the new userName is in the store
#      (its SQLite file, polled read-only every 20 ms). Per change, from the
#      daemon's time-stamped log: when the notification arrived and when the run
#      ended; and, as a baseline, a raw ldapsearch of that user over LDAPS (new
#      process, TLS, bind, read: what any client pays for one look at AD);
#   4. an idle window of BENCH_IDLE_SECONDS with no changes: the daemon's CPU time
#      (utime + stime of /proc/PID/stat), its RSS (VmRSS) at both ends and its peak
#      (VmHWM); the DC's CPU over the same window for reference;
#   5. a summary, and the goal checks as PASS/FAIL lines.
#
#   bench/daemon_latency.sh [N]            (default: 10000)
#
# Environment:
#   BENCH_SYNCD=PATH        the syncd binary (default build/syncd/syncd; not built here).
#                           It is copied to BENCH_WORK/N/syncd first, so a rebuild
#                           meanwhile does not change what runs
#   BENCH_CHANGES=20        changes in the latency phase
#   BENCH_GAP=1             seconds between one change being visible and the next
#   BENCH_IDLE_SECONDS=60   the idle window
#   BENCH_TIMEOUT=30        seconds a change may take to show before it counts as lost
#   BENCH_WORK=DIR          work root (default /tmp/syncd-bench-daemon); N's files in DIR/N
#                           (syncd.conf, store.db, state.db, daemon.log, latency.tsv)
#   BENCH_DC_DIR=DIR        use this DC, running or halted; default: the one
#                           bench/incremental_sync.sh keeps,
#                           /tmp/syncd-bench-incremental/N/dc (provisioned and loaded
#                           there as that script does when it holds no loaded DC)
#   BENCH_BACKEND=mdb       sam.ldb store of a DC provisioned here (TESTDC_BACKEND)
# A DC this script starts or resumes is halted (testdc.sh halt, directory kept) at the
# end; one it found running is left running. The daemon is stopped (SIGTERM) at the end.
#
# Only one DC fits on the loopback ports: run it in a network namespace of its own
# (the script refuses to run outside one):
#   ip netns add syncd-bench; ip netns exec syncd-bench ip link set lo up
#   ip netns exec syncd-bench bench/daemon_latency.sh
#
# Goals (daemon): a change in AD is in the store within 2 s (median) and 5 s (worst).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
n=${1:-10000}
changes=${BENCH_CHANGES:-20}
gap=${BENCH_GAP:-1}
idle=${BENCH_IDLE_SECONDS:-60}
timeout=${BENCH_TIMEOUT:-30}
work=${BENCH_WORK:-/tmp/syncd-bench-daemon}/$n
dc=${BENCH_DC_DIR:-/tmp/syncd-bench-incremental/$n/dc}

die() { echo "daemon_latency: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
now_us() { local t=$EPOCHREALTIME; echo "${t/[.,]/}"; }  # wall clock, microseconds, no fork
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) / 1000 }'; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "")}'; }
worst() { sort -g | tail -n 1; }
pass() { awk -v v="$1" -v g="$2" 'BEGIN { print (v != "" && v < g ? "PASS" : "FAIL") }'; }

[ "$(id -u)" -eq 0 ] || die "must run as root (the test DC needs it)"
if [ -z "$(ip netns identify 2>/dev/null)" ]; then
  die "run me inside a network namespace (one DC per namespace), e.g.
  ip netns add syncd-bench; ip netns exec syncd-bench ip link set lo up
  ip netns exec syncd-bench $0 $*"
fi
if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then die "N must be a positive number"; fi

src=${BENCH_SYNCD:-$repo/build/syncd/syncd}
[ -x "$src" ] || die "no syncd binary at $src (build it, or set BENCH_SYNCD)"
mkdir -p "$work"
syncd=$work/syncd
cp "$src" "$syncd.new" && mv "$syncd.new" "$syncd"

daemon_pid=
halt_dc=
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  if [ -n "$halt_dc" ]; then testdc halt "$halt_dc" 2>/dev/null || true; fi
}
trap cleanup EXIT
set -E  # a failing command names its line, instead of a silent exit under set -e
trap 'echo "daemon_latency: line $LINENO: exit status $? (logs in $work)" >&2' ERR

# The DC: bench/incremental_sync.sh's for this N, resumed if halted (bench/lib.sh).
echo "== N = $n"
bench_dc "$dc" "$work" "$n"
eval "$(testdc env "$dc")"
backend=$(dc_backend "$dc")
people="OU=People,OU=Sync,$BASE_DN"
search() { LDAPTLS_CACERT=$CA_FILE ldapsearch -LLL -o ldif-wrap=no -x -H "$URI" -D "$BIND_DN" -y "$PASSWORD_FILE" "$@"; }

# The users to change: BENCH_CHANGES distinct in-scope users with a UPN, at random.
# Their "dn:" / "dn::" (base64) lines are kept as LDIF gives them.
search -E pr=1000/noprompt -b "$people" '(&(objectCategory=person)(objectClass=user)(userPrincipalName=*))' 1.1 |
  grep '^dn:' >"$work/users.dn" || die "no users under $people"
users_in_scope=$(wc -l <"$work/users.dn")
[ "$users_in_scope" -ge "$changes" ] || die "only $users_in_scope users under $people"
shuf -n "$changes" "$work/users.dn" >"$work/chosen.dn"
plain_dn() { case $1 in 'dn:: '*) printf '%s' "${1#dn:: }" | base64 -d ;; *) printf '%s' "${1#dn: }" ;; esac; }

# The configuration: the sample scope, a fresh store and state, the default schedule.
rm -f "$work"/store.db* "$work"/state.db*
testdc syncd-config "$dc" "$work" >"$work/syncd.conf"
cat >>"$work/syncd.conf" <<'CONF'

[daemon]
# The defaults, spelled out: a change arrives by notification, not by the interval.
interval = 300
jitter = 30
notify = true
coalesce_ms = 300
CONF
store=$work/store.db
log=$work/daemon.log

# Every line of the daemon's stderr, prefixed with the wall clock in microseconds.
stamp() { local line; while IFS= read -r line; do printf '%s %s\n' "${EPOCHREALTIME/[.,]/}" "$line"; done; }
# wait_log PATTERN SECONDS: until the log has a line matching PATTERN (ERE).
wait_log() {
  local deadline=$((SECONDS + $2))
  until grep -Eq "$1" "$log"; do
    kill -0 "$daemon_pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "the daemon exited (log: $log)"; }
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$log" >&2; die "no \"$1\" in the log after $2 s ($log)"; }
    sleep 0.05
  done
}
# /proc figures of a process: cpu_ticks (utime + stime), rss_kib, hwm_kib.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }  # fields 14, 15
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
group_ticks() {  # CPU of every process in a process group (samba forks workers)
  local pid sum=0 t
  for pid in $(pgrep -g "$1" 2>/dev/null); do
    t=$(cpu_ticks "$pid" 2>/dev/null) && sum=$((sum + t))
  done
  echo "$sum"
}
hz=$(getconf CLK_TCK)

t_start=$(now_us)
"$syncd" --config "$work/syncd.conf" -v 2> >(stamp >"$log") >"$work/daemon.out" &
daemon_pid=$!
touch "$log"
wait_log 'full run (ok|partial|incomplete)|run failed|abandoned' 600
grep -q 'full run ok' "$log" || { grep -E ' run |abandoned' "$log" >&2; die "the first run did not end ok (log: $log)"; }
t_first=$(now_us)
wait_log 'change notifications registered' 60
first_line=$(grep -m1 'full run ok' "$log" | cut -d' ' -f2-)
reg_line=$(grep -m1 'change notifications registered' "$log" | cut -d' ' -f2-)
rss_after_full=$(status_kib "$daemon_pid" VmRSS)
hwm_after_full=$(status_kib "$daemon_pid" VmHWM)
users_in_store=$(sqlite3 -readonly "$store" 'SELECT count(*) FROM users')
echo "DC on ${backend:-?}; $users_in_scope users with a UPN under $people; $users_in_store users in the store"
echo "daemon pid $daemon_pid; first run after $(ms_between "$t_start" "$t_first") ms: ${first_line#syncd: info: }"
echo "  ${reg_line#syncd: info: }"
sleep 1  # let the first run's tail (state writes, next-run scheduling) settle

# Latency phase.
in_store() {  # in_store UPN: true once the store has a user with that userName
  [ -n "$(sqlite3 -readonly -cmd '.timeout 100' "$store" \
    "SELECT 1 FROM users WHERE user_name = '$1' LIMIT 1" 2>/dev/null)" ]
}
tag=$(date +%s)
: >"$work/latency.tsv"  # i t0_us t_mod_us t1_us ldapsearch_ms upn dn
echo "latency: $changes userPrincipalName changes, $gap s apart (store polled every 20 ms)"
i=0
while IFS= read -r dnline; do
  i=$((i + 1))
  upn="dlat-$tag-$i@corp.example.com"
  dn=$(plain_dn "$dnline")
  printf '%s\nchangetype: modify\nreplace: userPrincipalName\nuserPrincipalName: %s\n-\n\n' "$dnline" "$upn" \
    >"$work/change.ldif"
  t0=$(now_us)
  testdc ldap "$dc" ldapmodify -f "$work/change.ldif" >/dev/null || die "ldapmodify of $dn failed"
  t_mod=$(now_us)
  t1=
  deadline=$((SECONDS + timeout))
  while :; do
    if in_store "$upn"; then t1=$(now_us); break; fi
    [ $SECONDS -lt $deadline ] || break
    kill -0 "$daemon_pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "the daemon exited (log: $log)"; }
    sleep 0.02
  done
  # Baseline: one raw ldapsearch of this user over LDAPS, timed the same way.
  ts0=$(now_us)
  got=$(search -b "$dn" -s base '(objectClass=*)' userPrincipalName | sed -n 's/^userPrincipalName: //p')
  ts1=$(now_us)
  [ "$got" = "$upn" ] || die "ldapsearch of $dn returned userPrincipalName '$got', not $upn"
  printf '%d\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$t0" "$t_mod" "${t1:--}" "$(ms_between "$ts0" "$ts1")" "$upn" "$dn" \
    >>"$work/latency.tsv"
  if [ -n "$t1" ]; then
    printf '  change %2d: %5s ms  (ldapmodify %s ms)  %s\n' "$i" "$(ms_between "$t0" "$t1")" \
      "$(ms_between "$t0" "$t_mod")" "$dn"
  else
    printf '  change %2d: NOT in the store after %s s  %s\n' "$i" "$timeout" "$dn"
  fi
  sleep "$gap"
done <"$work/chosen.dn"
t_latency_end=$(now_us)

# Per change, from the time-stamped log (ms after t0): the first notification, the
# start of the first run after it (its "connected to" line) and that run's end.
awk -F'\t' 'NR == FNR { t0[NR] = $2; t1[NR] = $4; n = NR; next }
  { ts = $0; sub(/ .*/, "", ts); line = substr($0, length(ts) + 2)
    for (i = n; i >= 1; i--) if (ts + 0 >= t0[i] + 0) break
    if (i < 1 || (i in end)) next
    if (!(i in notif) && line ~ /debug: change notification: /) notif[i] = ts
    if (!(i in start) && line ~ /info: connected to /) start[i] = ts
    if ((i in start) && line ~ / run (ok|partial|incomplete|failed)/) end[i] = ts }
  function ms(t, i) { return (t != "") ? sprintf("%.0f", (t - t0[i]) / 1000) : "-" }
  END { for (i = 1; i <= n; i++)
    printf "%d %s %s %s %s %s\n", i, ms(notif[i], i), ms(start[i], i), ms(end[i], i),
      (start[i] != "" && end[i] != "") ? sprintf("%.0f", (end[i] - start[i]) / 1000) : "-",
      (t1[i] != "-") ? ms(t1[i], i) : "-" }' \
  "$work/latency.tsv" <(grep -v '^$' "$log") >"$work/breakdown.txt"

lost=$(awk -F'\t' '$4 == "-"' "$work/latency.tsv" | wc -l)
# A change not in the store after BENCH_TIMEOUT counts as slower than any other.
never=999999999
lat_median=$(awk -F'\t' -v x="$never" '{ if ($4 == "-") print x; else printf "%.0f\n", ($4 - $2) / 1000 }' \
  "$work/latency.tsv" | median)
lat_worst=$(awk -F'\t' -v x="$never" '{ if ($4 == "-") print x; else printf "%.0f\n", ($4 - $2) / 1000 }' \
  "$work/latency.tsv" | worst)
shown() { if [ "$1" = "$never" ]; then echo ">$((timeout * 1000))"; else echo "$1"; fi; }
ldapsearch_median=$(cut -f5 "$work/latency.tsv" | median)
ldapmodify_median=$(awk -F'\t' '{ printf "%.0f\n", ($3 - $2) / 1000 }' "$work/latency.tsv" | median)
notif_median=$(awk '$2 != "-" { print $2 }' "$work/breakdown.txt" | median)
start_median=$(awk '$3 != "-" { print $3 }' "$work/breakdown.txt" | median)
end_median=$(awk '$4 != "-" { print $4 }' "$work/breakdown.txt" | median)
run_median=$(awk '$5 != "-" { print $5 }' "$work/breakdown.txt" | median)
runs_in_phase=$(awk -v a="$t_first" -v b="$t_latency_end" '$1 + 0 >= a + 0 && $1 + 0 <= b + 0 && / run (ok|partial|incomplete|failed)/' "$log" | wc -l)
run_kinds=$(awk -v a="$t_first" -v b="$t_latency_end" '$1 + 0 >= a + 0 && $1 + 0 <= b + 0' "$log" |
  grep -Eo '(full|incremental) run (ok|partial|incomplete)' | sort | uniq -c | sed 's/^ *\([0-9]*\) \(.*\)/\2 x\1/' | paste -sd, | sed 's/,/, /g')
sample_run=$(awk -v a="$t_first" '$1 + 0 >= a + 0' "$log" | grep -m1 'incremental run' | cut -d' ' -f2- || true)
echo "per change, ms after t0 (from the daemon's log): notification received, run started, run ended (its length), in the store"
awk '{ printf "  change %2d: notified %5s, run started %5s, ended %5s (%4s ms), visible %5s\n", $1, $2, $3, $4, $5, $6 }' \
  "$work/breakdown.txt"
echo "  e.g. ${sample_run#syncd: info: }"

# Idle phase.
echo "idle: ${idle} s with no changes in AD..."
samba_pid=$(cat "$dc/samba.pid" 2>/dev/null || true)
lines_before=$(wc -l <"$log")
# Registered now (the last word on notifications is a registration, not a stop)?
watching=$(grep -E 'change notifications (registered|stopped)' "$log" | tail -n 1 | grep -q registered && echo yes || echo no)
c0=$(cpu_ticks "$daemon_pid"); r0=$(status_kib "$daemon_pid" VmRSS)
s0=$( [ -n "$samba_pid" ] && group_ticks "$samba_pid" || echo 0)
i0=$(now_us)
sleep "$idle"
c1=$(cpu_ticks "$daemon_pid"); r1=$(status_kib "$daemon_pid" VmRSS); hwm=$(status_kib "$daemon_pid" VmHWM)
s1=$( [ -n "$samba_pid" ] && group_ticks "$samba_pid" || echo 0)
i1=$(now_us)
threads=$(status_kib "$daemon_pid" Threads)
idle_runs=$(tail -n +"$((lines_before + 1))" "$log" | grep -Ec ' run (ok|partial|incomplete|failed)' || true)
idle_notifs=$(tail -n +"$((lines_before + 1))" "$log" | grep -c 'debug: change notification: ' || true)
window=$(awk -v a="$i0" -v b="$i1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
idle_cpu=$(awk -v t="$((c1 - c0))" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
idle_pct=$(awk -v t="$((c1 - c0))" -v hz="$hz" -v w="$window" 'BEGIN { printf "%.3f", 100 * t / hz / w }')
samba_cpu=$(awk -v t="$((s1 - s0))" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
samba_pct=$(awk -v t="$((s1 - s0))" -v hz="$hz" -v w="$window" 'BEGIN { printf "%.3f", 100 * t / hz / w }')
printf '  daemon CPU %s s (%d clock ticks of %s ms) over %s s: %s%% of one core; %s runs, %s notifications in the window\n' \
  "$idle_cpu" "$((c1 - c0))" "$((1000 / hz))" "$window" "$idle_pct" "$idle_runs" "$idle_notifs"
printf '  change notifications registered at the start of the window: %s\n' "$watching"
printf '  daemon RSS %s MB at the start, %s MB at the end, peak (VmHWM) %s MB; %s threads\n' \
  "$(mb "$r0")" "$(mb "$r1")" "$(mb "$hwm")" "$threads"
printf '  for reference, the DC (samba, all its processes) over the same window: %s s CPU (%s%%)\n' \
  "$samba_cpu" "$samba_pct"

# Changes that missed BENCH_TIMEOUT: in the store by now (a later run took them)?
late=0
while IFS=$'\t' read -r _ _ _ t1 _ upn _; do
  [ "$t1" = - ] && in_store "$upn" && late=$((late + 1))
done <"$work/latency.tsv"
# What ended the notification registrations, if anything did.
notify_stops=$(grep -c 'change notifications stopped' "$log" || true)
notify_why=$(grep -m1 'change notifications stopped' "$log" | sed 's/.*change notifications stopped: //; s/; registering again.*//' || true)

# Stop the daemon (SIGTERM: it finishes and logs "daemon stopped").
kill -TERM "$daemon_pid"
for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
stopped=$(grep -c 'daemon stopped' "$log" || true)
daemon_pid=

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.1fx", a / b; else print "-" }'; }
echo
echo "Summary (N = $n, DC on ${backend:-?}, [daemon] interval 300 s, coalesce_ms 300; $(date '+%F %T')):"
printf '  first (full) run in the daemon:        %s\n' "$(sed -E 's/.*full run ok: //' <<<"$first_line")"
printf '  daemon RSS after the first run:        %s MB (peak %s MB)\n' "$(mb "$rss_after_full")" "$(mb "$hwm_after_full")"
printf '  latency, %d changes (ms):              %s\n' "$changes" \
  "$(awk -F'\t' -v t="$timeout" '{ if ($4 == "-") print ">" t * 1000; else printf "%.0f\n", ($4 - $2) / 1000 }' \
    "$work/latency.tsv" | paste -sd' ')"
printf '  latency median / worst:                %s ms / %s ms%s\n' "$(shown "$lat_median")" "$(shown "$lat_worst")" \
  "$([ "$lost" -eq 0 ] || echo " ($lost not in the store after $timeout s; $late of them by the end of the bench)")"
printf '  medians after t0 (ms):                 ldapmodify done %s, notified %s, run started %s, run ended %s (run %s ms)\n' \
  "$ldapmodify_median" "${notif_median:--}" "${start_median:--}" "${end_median:--}" "${run_median:--}"
printf '  baseline: one raw ldapsearch (LDAPS):  %s ms median; latency/ldapsearch %s\n' \
  "$ldapsearch_median" "$(ratio "$([ "$lat_median" = "$never" ] || echo "$lat_median")" "$ldapsearch_median")"
printf '  runs during the latency phase:         %s (%s)\n' "$runs_in_phase" "${run_kinds:-none}"
printf '  notification registrations ended:      %s%s\n' "$notify_stops" "${notify_why:+ (first: $notify_why)}"
printf '  idle %s s: daemon CPU                  %s s (%s%% of one core); DC %s s (%s%%); notifications registered: %s\n' \
  "$window" "$idle_cpu" "$idle_pct" "$samba_cpu" "$samba_pct" "$watching"
printf '  idle: daemon RSS start / end / peak:   %s / %s / %s MB\n' "$(mb "$r0")" "$(mb "$r1")" "$(mb "$hwm")"
printf '  daemon stopped cleanly on SIGTERM:     %s\n' "$([ "$stopped" -gt 0 ] && echo yes || echo no)"
echo "  goal: median latency under 2 s: $(pass "$lat_median" 2000) ($(shown "$lat_median") ms)"
echo "  goal: worst latency under 5 s:  $(pass "$lat_worst" 5000) ($(shown "$lat_worst") ms)"
echo "  logs and figures: $work (daemon.log, latency.tsv, breakdown.txt)"
if [ -n "$halt_dc" ]; then
  testdc halt "$halt_dc" 2>/dev/null
  halt_dc=
  echo "  DC halted and kept: $dc (remove: scripts/testdc.sh stop $dc)"
else
  echo "  DC left running: $dc"
fi
