#!/usr/bin/env bash
# The demo: installs, builds, starts a throwaway Samba AD domain with a few
# hundred sample users and groups (nested groups included), prints the
# --dry-run plan, syncs into the local store and shows what landed.
#
#   scripts/demo.sh           run, then stop the demo DC
#   scripts/demo.sh --keep    leave the DC running in /tmp/syncd-demo
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (the demo DC binds ports 88/389/636)" >&2; exit 1; }
keep=${1:-}
dir=/tmp/syncd-demo
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

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

if [ "$keep" = --keep ]; then
  echo; echo "the DC keeps running; stop it with: scripts/testdc.sh stop $dir/dc"
else
  scripts/testdc.sh stop "$dir/dc" >/dev/null
fi
