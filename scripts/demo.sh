#!/usr/bin/env bash
# The demo: installs, builds, starts a throwaway Samba AD domain with a few
# hundred sample users and groups (nested groups included), prints the
# --dry-run plan, syncs into the local store and shows what landed; then
# syncs the same domain into the SCIM 2.0 test peer (tests/scim-peer, with
# AWS IAM Identity Center's limits) and shows what the peer holds.
#
#   scripts/demo.sh           run, then stop the demo DC
#   scripts/demo.sh --keep    leave the DC running in /tmp/syncd-demo
# SYNCD_DEMO_DIR=DIR puts the demo somewhere else than /tmp/syncd-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (the demo DC binds ports 88/389/636)" >&2; exit 1; }
keep=${1:-}
dir=${SYNCD_DEMO_DIR:-/tmp/syncd-demo}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
peer_pid=
trap '[ -z "$peer_pid" ] || kill "$peer_pid" 2>/dev/null || true' EXIT

step "installing dependencies and building"
scripts/install-deps.sh
scripts/build.sh build >/dev/null
syncd=build/syncd/syncd

step "starting a throwaway Samba AD domain (CORP.EXAMPLE.COM) in $dir"
[ -d "$dir/dc" ] && scripts/testdc.sh stop "$dir/dc" >/dev/null 2>&1 || true
rm -rf "$dir" && mkdir -m 0700 "$dir"  # fails, rather than reuse, if someone recreated it
scripts/testdc.sh start "$dir/dc" >/dev/null
scripts/gen-ldif.py --users 300 >"$dir/sample.ldif"
scripts/testdc.sh load "$dir/dc" "$dir/sample.ldif"
scripts/gen-ldif.py --users 300 --primary-group-pairs |
  while IFS=$'\t' read -r user group; do
    scripts/testdc.sh set-primary-group "$dir/dc" "$user" "$group" >/dev/null
  done

scripts/testdc.sh syncd-config "$dir/dc" "$dir" >"$dir/syncd.conf"
echo "config: $dir/syncd.conf"

step "syncd --dry-run (first 40 lines; changes nothing)"
set +e
"$syncd" --config "$dir/syncd.conf" --dry-run >"$dir/plan.txt"
rc=$?
set -e
sed -n 1,40p "$dir/plan.txt"
echo "... ($(wc -l <"$dir/plan.txt") lines in $dir/plan.txt; exit status $rc = changes pending)"

step "syncd --once"
"$syncd" --config "$dir/syncd.conf" --once >"$dir/applied.txt"
head -n 4 "$dir/applied.txt"

step "what landed: users (first 10 of $("$syncd" --config "$dir/syncd.conf" store users | wc -l))"
"$syncd" --config "$dir/syncd.conf" store users >"$dir/users.txt"
sed -n 1,10p "$dir/users.txt"
step "groups"
"$syncd" --config "$dir/syncd.conf" store groups
step "effective members of 'Nest Level 1' (through nested groups)"
"$syncd" --config "$dir/syncd.conf" store members "Nest Level 1" --effective
step "a second dry run: an incremental run with nothing to do"
"$syncd" --config "$dir/syncd.conf" --dry-run

step "a change in AD, then syncd --once: only that change, from the change feed"
scripts/testdc.sh ldap "$dir/dc" ldapmodify >/dev/null <<'EOF'
dn: CN=Doe\, Jane,OU=People,OU=Sync,DC=corp,DC=example,DC=com
changetype: modify
replace: displayName
displayName: Jane Doe (demo change)
EOF
"$syncd" --config "$dir/syncd.conf" --once
step "syncd status"
"$syncd" --config "$dir/syncd.conf" status

step "assignments: recorded in the ledger with every identity key, so they survive a source switch"
"$syncd" --config "$dir/syncd.conf" assign user:jdoe aws:account/123456789012/permission-set/AdminAccess
"$syncd" --config "$dir/syncd.conf" assign "group:Nest Level 1" app:payroll
"$syncd" --config "$dir/syncd.conf" assignments list
sqlite3 "$dir/store.db" "DELETE FROM assignments WHERE target = 'app:payroll'"
echo "(app:payroll removed from the store behind syncd's back)"
"$syncd" --config "$dir/syncd.conf" assignments check || echo "(exit status $? = drift found)"
"$syncd" --config "$dir/syncd.conf" assignments reapply

step "the daemon: a change in AD reaches the store through a change notification"
"$syncd" --config "$dir/syncd.conf" 2>"$dir/daemon.log" &
daemon=$!
for _ in $(seq 100); do grep -q "change notifications registered" "$dir/daemon.log" && break; sleep 0.1; done
start=$(date +%s.%N)
scripts/testdc.sh ldap "$dir/dc" ldapmodify >/dev/null <<'EOF'
dn: CN=Doe\, Jane,OU=People,OU=Sync,DC=corp,DC=example,DC=com
changetype: modify
replace: userPrincipalName
userPrincipalName: jane.doe.daemon@corp.example.com
EOF
for _ in $(seq 200); do
  "$syncd" --config "$dir/syncd.conf" store users | grep -q jane.doe.daemon && break
  sleep 0.05
done
echo "in the store $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s after the ldapmodify (the run interval is 300 s)"
kill -TERM "$daemon" && wait "$daemon"
echo "daemon log:"
sed 's/^/  /' "$dir/daemon.log"

step "the same domain into a SCIM 2.0 service: the test peer, as AWS IAM Identity Center"
# tests/scim-peer: a real SCIM server (in memory) with IAM Identity Center's
# limits (profile aws: no nested groups, 100 members per PATCH, ...).
(umask 077 && head -c 24 /dev/urandom | base64 >"$dir/scim-token")  # mode 0600, as syncd wants
SCIM_PEER_PROFILE=aws SCIM_TOKEN_FILE="$dir/scim-token" tests/scim-peer/start.sh "$dir/peer"
peer_pid=$(cat "$dir/peer.pid")
control=$(sed 's|/scim/v2$|/_control|' "$dir/peer")
echo "SCIM peer at $(cat "$dir/peer") (token in $dir/scim-token)"
# The same source and scope; the store is the peer, with a state of its own.
sed '/^\[store\]/,$d' "$dir/syncd.conf" >"$dir/scim.conf"
cat >>"$dir/scim.conf" <<CONF
[store]
kind = "scim"
url = "$(cat "$dir/peer")"
token_file = "$dir/scim-token"
profile = "aws"
# The local peer has no throttle; against AWS keep the default (20/s).
rate_limit = 200

[state]
path = "$dir/scim-state.db"
CONF
echo "config: $dir/scim.conf"
sed -n '/^\[store\]/,$p' "$dir/scim.conf" | sed 's/^/  /'

step "syncd --dry-run into the peer (first 25 lines; changes nothing)"
set +e
"$syncd" --config "$dir/scim.conf" --dry-run >"$dir/scim-plan.txt"
rc=$?
set -e
sed -n 1,25p "$dir/scim-plan.txt"
echo "... ($(wc -l <"$dir/scim-plan.txt") lines in $dir/scim-plan.txt; exit status $rc = changes pending)"

step "syncd --once into the peer"
"$syncd" --config "$dir/scim.conf" --once >"$dir/scim-applied.txt" || echo "(exit status $?)"
head -n 4 "$dir/scim-applied.txt"

step "what the peer holds (GET /_control/dump)"
curl -fsS "$control/dump" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
users, groups = d["users"], d["groups"]
members = sum(len(g.get("members", [])) for g in groups)
print("%d users (%d active), %d groups, %d memberships" % (
    len(users), sum(1 for u in users if u.get("active")), len(groups), members))
for u in sorted(users, key=lambda u: u["userName"])[:3]:
    print("  user  %-36s %-22s externalId %s" % (u["userName"], u.get("displayName", ""), u.get("externalId")))
for g in sorted(groups, key=lambda g: g["displayName"]):
    if g["displayName"].startswith("Nest Level"):
        print("  group %-20s %2d members (flattened: AWS has no nested groups)" % (
            g["displayName"], len(g.get("members", []))))'
curl -fsS "$control/stats" | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
print("requests the peer received: %d (%d writes): %s" % (s["requests"], s["writes"],
      ", ".join("%s %d" % kv for kv in sorted(s["by_route"].items()))))'

step "syncd status (the SCIM store)"
"$syncd" --config "$dir/scim.conf" status
kill "$peer_pid" && peer_pid=
echo "(SCIM peer stopped)"

if [ "$keep" = --keep ]; then
  echo; echo "the DC keeps running; stop it with: scripts/testdc.sh stop $dir/dc"
else
  scripts/testdc.sh stop "$dir/dc" >/dev/null
fi
