#!/usr/bin/env bash
# Reapply benchmark (issue 5): N assignments (default 10000) for N/2
# principals whose source was switched. The state and the store are prepared
# as a switch leaves them: the ledger holds N orphaned entries of the old
# domain, the cache and the store hold the N/2 migrated principals, matched
# by a mix of keys (40% sIDHistory, 20% mS-DS-ConsistencyGuid, 20% UPN, 10%
# mail, 10% sAMAccountName). No DC is needed: reapply reads only state and
# store. Measured in the same run:
#   1. baseline: sqlite3 inserting the same N rows into the store's
#      assignments table in one transaction (the floor for the apply),
#   2. syncd assignments reapply --dry-run (the plan),
#   3. syncd assignments reapply (the apply into the local store),
#   4. a second reapply (nothing to do),
# each as the median of BENCH_ROUNDS (default 5) fresh copies, whole process
# included. Goal: plan and apply under 2 s each at N = 10000.
#
#   bench/assignments_reapply.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
rounds=${BENCH_ROUNDS:-5}
work=${BENCH_WORK:-/tmp/syncd-bench-reapply-$n}
scripts/install-deps.sh >/dev/null
scripts/build.sh build >/dev/null
syncd=$PWD/build/syncd/syncd

rm -rf "$work" && mkdir -m 0700 "$work"
echo unused >"$work/pass"
cat >"$work/syncd.conf" <<EOF
[source]
uris = ["ldaps://127.0.0.1:1"]
base_dn = "DC=newcorp,DC=example,DC=net"
bind_dn = "CN=syncd,DC=newcorp,DC=example,DC=net"
password_file = "$work/pass"
[store]
path = "$work/store.db"
[state]
path = "$work/state.db"
EOF
# Creates both databases at their current schema (and fails: no such user).
"$syncd" --config "$work/syncd.conf" assign user:nobody app:none >/dev/null 2>&1 || true
python3 - "$work" "$n" <<'PY_EOF'
import os, random, sqlite3, struct, sys, uuid
work, n = sys.argv[1], int(sys.argv[2])
principals = n // 2
random.seed(5)
def sid(domain, rid):
    subs = [21] + domain + [rid]
    return bytes([1, len(subs)]) + (5).to_bytes(6, "big") + b"".join(struct.pack("<I", s) for s in subs)
old_domain, new_domain = [111, 222, 333], [444, 555, 666]
state = sqlite3.connect(f"{work}/state.db")
store = sqlite3.connect(f"{work}/store.db")
objects, history, users, ledger = [], [], [], []
keys = ["sid"] * 4 + ["anchor"] * 2 + ["upn"] * 2 + ["mail", "sam"]
for i in range(principals):
    old_guid, new_guid = uuid.uuid4(), uuid.uuid4()
    key = keys[i % len(keys)]
    old_sid, new_sid = sid(old_domain, 5000 + i), sid(new_domain, 9000 + i)
    old = dict(upn=f"user{i}@corp.example.com", mail=f"user{i}@example.com", sam=f"user{i}")
    new = dict(upn=f"u{i}@newcorp.example.net", mail=f"u{i}@example.net", sam=f"u{i}")
    if key in ("upn", "mail", "sam"):
        new[key] = old[key]
    anchor = old_guid.bytes_le if key == "anchor" else None
    ext = str(new_guid)
    objects.append((new_guid.bytes_le, "user", ext, new["upn"], f"CN=u{i},OU=Migrated,DC=newcorp,DC=example,DC=net",
                    "{}", new_sid, new["sam"], new["upn"], new["mail"], anchor))
    if key == "sid":
        history.append((new_guid.bytes_le, old_sid, 0))
    users.append((ext, new["upn"], "syncd"))
    for t in range(n // principals):
        ledger.append((f"aws:account/1234567890{t:02d}/permission-set/Set{i % 50}", "orphaned", 1, 2,
                       "the source changed", "user", old_guid.bytes_le, str(old_guid), old["upn"],
                       f"CN=user{i},OU=People,DC=corp,DC=example,DC=com", None, old_sid, "", None,
                       old["upn"], old["sam"], old["mail"], sid(old_domain, 0)[:-4], "corp.example.com"))
state.executemany("INSERT INTO objects (guid, kind, external_id, name, dn, attributes, sid, sam_account_name, "
                  "user_principal_name, mail, consistency_guid) VALUES (?,?,?,?,?,?,?,?,?,?,?)", objects)
state.executemany("INSERT INTO sid_history (guid, sid, seq) VALUES (?,?,?)", history)
state.executemany("INSERT INTO assignments (target, status, created_at, changed_at, reason, kind, guid, "
                  "external_id, name, dn, display_name, sid, sid_history, consistency_guid, "
                  "user_principal_name, sam_account_name, mail, domain_sid, domain_name) "
                  "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", ledger)
store.executemany("INSERT INTO users (external_id, user_name, managed_by) VALUES (?,?,?)", users)
state.commit(); store.commit()
with open(f"{work}/baseline.sql", "w") as f:
    f.write("BEGIN;\n")
    for i, (ext, _, _) in enumerate(users):
        for t in range(n // principals):
            f.write(f"INSERT INTO assignments VALUES ('{ext}', 'user', "
                    f"'aws:account/1234567890{t:02d}/permission-set/Set{i % 50}', '2026-11-22T00:00:00Z');\n")
    f.write("COMMIT;\n")
print(f"prepared: {len(ledger)} orphaned assignments, {principals} migrated principals")
PY_EOF
cp "$work/state.db" "$work/state.pristine"
cp "$work/store.db" "$work/store.pristine"

fresh() { cp "$work/state.pristine" "$work/state.db"; cp "$work/store.pristine" "$work/store.db"; }
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
reapply() { "$syncd" --config "$work/syncd.conf" assignments reapply "$@" || [ $? = 2 ]; }

base=() plan=() apply=() again=()
for _ in $(seq "$rounds"); do
  fresh
  base+=("$(seconds sqlite3 "$work/store.db" <"$work/baseline.sql")")
  fresh
  plan+=("$(seconds reapply --dry-run)")
  apply+=("$(seconds reapply)")
  again+=("$(seconds reapply)")
done
restored=$(sqlite3 "$work/store.db" "SELECT count(*) FROM assignments")
[ "$restored" = "$n" ] || { echo "bench: $restored of $n assignments restored" >&2; exit 1; }
b=$(printf '%s\n' "${base[@]}" | median)
p=$(printf '%s\n' "${plan[@]}" | median)
a=$(printf '%s\n' "${apply[@]}" | median)
g=$(printf '%s\n' "${again[@]}" | median)
printf 'assignments %d, principals %d, rounds %d (medians, whole process)\n' "$n" $((n / 2)) "$rounds"
printf '  baseline sqlite3 insert of the same rows  %6.3f s\n' "$b"
printf '  reapply --dry-run (plan)                  %6.3f s  (goal < 2 s)\n' "$p"
printf '  reapply (apply into the local store)      %6.3f s  (goal < 2 s; %.1fx the baseline)\n' "$a" "$(echo "$a / $b" | bc -l)"
printf '  second reapply (nothing to do)            %6.3f s\n' "$g"
printf '  restored %s of %s\n' "$restored" "$n"
