#!/usr/bin/env bash
# IAM Identity Center reapply benchmark (issue 12): N assignments (default
# 1000) over min(N, 500) principals (one in ten a group), 10 accounts and 5
# permission sets, reapplied through SSO Admin into the AWS test peer
# (tests/aws-peer) enforcing AWS's constraints: 20 calls/s for all SSO Admin
# APIs together (`rate`), at most 15 outstanding assignment operations
# (`max_outstanding`) and 2 s of provisioning per create (`provision_delay`).
#
# Set up as a source switch leaves things, without a DC: the principals are
# provisioned into the peer through its SCIM front (as syncd's SCIM sink
# does: externalId set), the state's object cache holds them (written with
# sqlite3, as bench/assignments_reapply.sh does), and the ledger is imported
# from an export file (`syncd assignments import`, docs/assignments.md
# "Export file, version 1"). Measured in the same run, on the same peer:
#   1. syncd assignments reapply ([aws] rate_limit 19, max_outstanding 15;
#      19, not 20: requests reach AWS with jitter, and a throttled create
#      halves the outstanding limit): wall time, whole process,
#   2. the sample's way (AWS's restore.py: one create at a time, each
#      polled with backoff.expo's full jitter, 5 tries) on BENCH_SAMPLE
#      (default 50) other assignments, extrapolated to N.
# The limit the two constraints impose is printed beside them. Goals: within
# 1.15x of it, 0 assignments lost, <= 1.2 API calls per assignment beyond
# the status polls.
#
#   bench/aws_reapply.sh [N]        (BENCH_BUILD=0: use build/ as it is)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
sample=${BENCH_SAMPLE:-50}
work=${BENCH_WORK:-/tmp/syncd-bench-aws-reapply-$n}
scripts/install-deps.sh >/dev/null
[ "${BENCH_BUILD:-1}" = 0 ] || scripts/build.sh build >/dev/null
syncd=$PWD/build/syncd/syncd

peer_pid=
cleanup() { [ -z "$peer_pid" ] || kill "$peer_pid" 2>/dev/null || true; }
trap cleanup EXIT
rm -rf "$work" && mkdir -m 0700 "$work"

python3 tests/aws-peer/peer.py --port 0 --accounts 10 --permission-sets 5 >"$work/peer.json" \
  2>"$work/peer.log" &
peer_pid=$!
for _ in $(seq 100); do [ -s "$work/peer.json" ] && break; sleep 0.1; done
[ -s "$work/peer.json" ] || { cat "$work/peer.log" >&2; echo "bench: the peer did not start" >&2; exit 1; }

echo unused >"$work/pass"
python3 - "$work" <<'PY_EOF'
import json, os, sys
work = sys.argv[1]
peer = json.loads(open(f"{work}/peer.json").readline())
with open(f"{work}/aws-credentials", "w") as f:
    f.write(f"[syncd]\naws_access_key_id = {peer['access_key_id']}\n"
            f"aws_secret_access_key = {peer['secret_access_key']}\n")
os.chmod(f"{work}/aws-credentials", 0o600)
with open(f"{work}/syncd.conf", "w") as f:
    f.write(f"""[source]
uris = ["ldaps://127.0.0.1:1"]
base_dn = "DC=newcorp,DC=example,DC=net"
bind_dn = "CN=syncd,DC=newcorp,DC=example,DC=net"
password_file = "{work}/pass"
[store]
path = "{work}/store.db"
[state]
path = "{work}/state.db"
[assignments]
applier = "aws"
[aws]
region = "{peer['region']}"
endpoint_url = "{peer['url']}"
profile = "syncd"
credentials_file = "{work}/aws-credentials"
rate_limit = 19
max_outstanding = 15
""")
PY_EOF
# Creates both databases at their current schema (and fails: no such user).
"$syncd" --config "$work/syncd.conf" assign user:nobody app:none >/dev/null 2>&1 || true

# The principals (SCIM front and object cache), the export file, and the
# assignment lists: syncd's N and the sample's BENCH_SAMPLE others.
python3 - "$work" "$n" "$sample" <<'PY_EOF'
import json, sqlite3, sys, urllib.request, uuid
work, n, sample = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
peer = json.loads(open(f"{work}/peer.json").readline())
principals = min(n, 500)
groups = principals // 10
targets = [(account, f"PermissionSet{p}") for account in peer["accounts"] for p in range(1, 6)]
assert len(targets) == 50, targets
assert n + sample <= principals * len(targets)

def scim(path, body):
    request = urllib.request.Request(peer["scim_url"] + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {peer['scim_token']}",
                                              "Content-Type": "application/scim+json"})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)["id"]

state = sqlite3.connect(f"{work}/state.db")
objects, ids, export = [], [], []
for i in range(principals):
    guid = uuid.UUID(int=(0x5EC0 << 112) + i)
    group = i >= principals - groups
    if group:
        name, attributes = f"Team {i}", {"displayName": f"Team {i}"}
        ids.append(("GROUP", scim("/Groups", {"displayName": name, "externalId": str(guid)})))
        keys = {"sAMAccountName": f"team{i}"}
    else:
        name = f"u{i}@newcorp.example.net"
        attributes = {"userName": name, "displayName": f"User {i}"}
        ids.append(("USER", scim("/Users", {
            "userName": name, "externalId": str(guid), "displayName": f"User {i}",
            "name": {"givenName": "User", "familyName": str(i)},
            "emails": [{"value": f"u{i}@example.net", "type": "work", "primary": True}]})))
        keys = {"userPrincipalName": name, "sAMAccountName": f"u{i}", "mail": f"u{i}@example.net"}
    dn = f"CN={name.split('@')[0]},OU=People,DC=newcorp,DC=example,DC=net"
    objects.append((guid.bytes_le, "group" if group else "user", str(guid), name, dn, json.dumps(attributes),
                    keys.get("sAMAccountName"), keys.get("userPrincipalName"), keys.get("mail")))
    export.append((guid, "group" if group else "user", name, dn, keys))
state.executemany("INSERT INTO objects (guid, kind, external_id, name, dn, attributes, sam_account_name, "
                  "user_principal_name, mail) VALUES (?,?,?,?,?,?,?,?,?)", objects)
state.commit()

def assignment(j):  # principal j % P, its (j // P)-th target: no two alike
    p, k = j % principals, j // principals
    account, permission_set = targets[(p * 3 + k) % len(targets)]
    return p, account, permission_set

entries, wanted = [], []
for j in range(n):
    p, account, permission_set = assignment(j)
    guid, kind, name, dn, keys = export[p]
    entries.append({"id": j + 1, "target": f"aws:account/{account}/permission-set/{permission_set}",
                    "status": "active", "createdAt": "2026-11-22T10:00:00Z", "changedAt": "2026-11-22T10:00:00Z",
                    "reason": "captured from the previous identity store",
                    "principal": {"kind": kind, "name": name, "objectGUID": str(guid), "dn": dn, **keys}})
    wanted.append([account, permission_set, *ids[p]])
with open(f"{work}/ledger.json", "w") as f:
    json.dump({"format": "syncd-assignments", "version": 1, "exportedAt": "2026-11-22T10:30:00Z",
               "assignments": entries}, f)
json.dump({"wanted": wanted, "sample": [[a, ps, *ids[p]] for p, a, ps in map(assignment, range(n, n + sample))]},
          open(f"{work}/assignments.json", "w"))
print(f"prepared: {principals - groups} users and {groups} groups (SCIM front and object cache), "
      f"{n} ledger entries over {len(targets)} targets")
PY_EOF
"$syncd" --config "$work/syncd.conf" assignments import "$work/ledger.json" >/dev/null

url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$work/peer.json")
curl -sf -XPOST "$url/_peer/faults" -d '{"rate": 20, "max_outstanding": 15, "provision_delay": 2}' >/dev/null
curl -sf -XPOST "$url/_peer/reset-stats" >/dev/null

t0=$(date +%s.%N)
status=0
"$syncd" --config "$work/syncd.conf" assignments reapply >"$work/reapply.out" 2>"$work/reapply.err" || status=$?
t1=$(date +%s.%N)
[ "$status" = 0 ] || { tail -5 "$work/reapply.out" "$work/reapply.err" >&2; echo "bench: reapply exited $status" >&2; exit 1; }
curl -sf "$url/_peer/stats" >"$work/stats.json"

# Checks every assignment is listed, then the sample's way on the same peer.
python3 - "$work" "$n" "$sample" "$t0" "$t1" <<'PY_EOF'
import json, math, random, sqlite3, sys, time, urllib.request
import boto3
work, n, sample, run_t0, run_t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
wall = run_t1 - run_t0
# The journal's times (whole seconds): where the wall time went.
first_sent, last_sent, last_settled, succeeded = sqlite3.connect(f"{work}/state.db").execute(
    "SELECT min(sent_at), max(sent_at), max(changed_at), count(*) FROM aws_operations "
    "WHERE status = 'succeeded'").fetchone()
peer = json.loads(open(f"{work}/peer.json").readline())
stats = json.load(open(f"{work}/stats.json"))
plan = json.load(open(f"{work}/assignments.json"))
sso = boto3.client("sso-admin", region_name=peer["region"], endpoint_url=peer["url"],
                   aws_access_key_id=peer["admin_access_key_id"],
                   aws_secret_access_key=peer["admin_secret_access_key"])
instance = peer["instance_arn"]
arns = {}
for page in sso.get_paginator("list_permission_sets").paginate(InstanceArn=instance):
    for arn in page["PermissionSets"]:
        arns[sso.describe_permission_set(InstanceArn=instance, PermissionSetArn=arn)
             ["PermissionSet"]["Name"]] = arn
listed = set()
for account in peer["accounts"]:
    for name, arn in arns.items():
        for page in sso.get_paginator("list_account_assignments").paginate(
                InstanceArn=instance, AccountId=account, PermissionSetArn=arn):
            for a in page["AccountAssignments"]:
                listed.add((account, name, a["PrincipalType"], a["PrincipalId"]))
lost = sum(1 for w in plan["wanted"] if tuple(w) not in listed)

def control(path, body=None):
    request = urllib.request.Request(peer["url"] + "/_peer" + path, method="POST" if body is not None else "GET",
                                     data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)

# restore.py: CreateAccountAssignment, then DescribeAccountAssignmentCreationStatus
# under @backoff.on_predicate(backoff.expo, max_tries=5): tries at once, then
# after full-jitter waits of up to 1, 2, 4, 8 s; still IN_PROGRESS = "failed".
random.seed(12)
control("/reset-stats", {})
given_up = 0
t0 = time.monotonic()
for account, name, ptype, pid in plan["sample"]:
    rid = sso.create_account_assignment(
        InstanceArn=instance, TargetId=account, TargetType="AWS_ACCOUNT", PermissionSetArn=arns[name],
        PrincipalType=ptype, PrincipalId=pid)["AccountAssignmentCreationStatus"]["RequestId"]
    for tries in range(5):
        got = sso.describe_account_assignment_creation_status(
            InstanceArn=instance, AccountAssignmentCreationRequestId=rid)["AccountAssignmentCreationStatus"]
        if got["Status"] != "IN_PROGRESS":
            break
        if tries < 4:
            time.sleep(random.uniform(0, 2 ** tries))
    else:
        given_up += 1
sample_wall = time.monotonic() - t0
sample_calls = sum(stats_n for stats_n in control("/stats")["calls"].values())
sample_n = sample_wall / sample * n

calls = stats["calls"]
def count(pred):
    return sum(v for k, v in calls.items() if pred(k))
polls = count(lambda k: "AssignmentCreationStatus" in k)
sso_admin = count(lambda k: k.startswith("sso-admin:"))
creates = calls.get("sso-admin:CreateAccountAssignment", 0)
other = count(lambda k: "AssignmentCreationStatus" not in k)
throttles = stats["throttles_sent"]
cap_bound = math.ceil(n / 15) * 2.0
rate_bound = (sso_admin - polls) / 20.0
limit = max(cap_bound, rate_bound)
principals = min(n, 500)
print(f"assignments {n}, principals {principals} ({principals // 10} groups), 10 accounts x 5 permission sets; "
      f"peer: rate 20 calls/s (all SSO Admin), max_outstanding 15, provision_delay 2 s")
print(f"  limit: the cap lets 15 creates per 2 s run (7.5/s): ceil({n}/15) x 2 s = {cap_bound:.1f} s; "
      f"the rate 20 calls/s shared by creates, polls and lists:")
print(f"         {sso_admin - polls} SSO Admin calls besides the polls / 20 = {rate_bound:.1f} s (more with polls); "
      f"the limit is the larger: {limit:.1f} s")
print(f"  syncd assignments reapply        {wall:7.1f} s  ({wall / limit:.2f}x the limit; goal <= 1.15x)")
print(f"                                            first create at +{first_sent - run_t0:.0f} s (reads, matching, "
      f"journaling), last create at +{last_sent - run_t0:.0f} s, last settled at +{last_settled - run_t0:.0f} s; "
      f"{succeeded} succeeded")
print(f"  API calls per assignment         {other / n:7.2f}    beyond the polls ({other} calls: {creates} creates, "
      f"{other - creates} reads; goal <= 1.2)")
print(f"  status polls                     {polls:7d}    (Describe {calls.get('sso-admin:DescribeAccountAssignmentCreationStatus', 0)}, "
      f"List {calls.get('sso-admin:ListAccountAssignmentCreationStatus', 0)})")
print(f"  throttles received               {throttles:7d}    {stats['throttles_by_reason']}")
print(f"  duplicate creates                {sum(max(0, c - 1) for c in stats['creates'].values()):7d}")
print(f"  assignments lost                 {lost:7d}    (of {n}, listed at the end; goal 0)")
print(f"  the sample's way (restore.py)    {sample_n:7.1f} s  (measured {sample_wall:.1f} s for {sample}, x {n}/{sample}; "
      f"{sample_calls / sample:.1f} calls each; {given_up} given up as failed; "
      f"{sample_n / wall:.1f}x syncd's time)")
PY_EOF
