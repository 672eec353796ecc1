#!/usr/bin/env python3
"""Self-test of the AWS test peer (tests/aws-peer/peer.py) with boto3, the SCIM front over HTTP and the aws CLI.

Starts two peers (the documented policy, and the policy minus one action), runs every check, exits 0 when all
passed. Run by ctest as aws_peer_selftest; about 15 s.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3
import botocore.config
import botocore.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
POLICY = os.path.join(HERE, "..", "..", "conf", "aws-iam-policy.json")
NO_RETRY = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else f"  [{detail}]"), flush=True)
    if not cond:
        failures.append(what)


def start(*args):
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "peer.py"), "--port", "0", *args],
                         stdout=subprocess.PIPE, text=True)
    return p


def ready(p):
    line = p.stdout.readline()
    if not line:
        sys.exit(f"peer exited with status {p.wait()} before printing its JSON line")
    return json.loads(line)


class Peer:
    def __init__(self, cfg):
        self.cfg = cfg
        self.arn = cfg["instance_arn"]
        self.sid = cfg["identity_store_id"]

    def client(self, svc, admin=False, secret=None, key=None):
        c = self.cfg
        return boto3.client(svc, region_name=c["region"], endpoint_url=c["url"], config=NO_RETRY,
                            aws_access_key_id=key or c["admin_access_key_id" if admin else "access_key_id"],
                            aws_secret_access_key=secret or c["admin_secret_access_key" if admin else
                                                              "secret_access_key"])

    def http(self, method, url, body=None, headers=None):
        req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None, dict(r.headers)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None, dict(e.headers)

    def scim(self, method, path, body=None, token=None):
        s, doc, _ = self.http(method, self.cfg["scim_url"] + path, body,
                              {"Authorization": "Bearer " + (token or self.cfg["scim_token"]),
                               "Content-Type": "application/scim+json"})
        return s, doc

    def control(self, method, path, body=None):
        s, doc, _ = self.http(method, self.cfg["url"] + "/_peer" + path, body)
        return doc

    def faults(self, **kw):
        return self.control("POST", "/faults", {"replace": True, **kw})


def error_of(fn, *args, **kw):
    """(code, message, http status, headers) of the ClientError fn raises, or None when it succeeds."""
    try:
        fn(*args, **kw)
        return None
    except botocore.exceptions.ClientError as e:
        md = e.response["ResponseMetadata"]
        return e.response["Error"].get("Code"), e.response["Error"].get("Message", ""), md["HTTPStatusCode"], \
            md.get("HTTPHeaders", {})


def scim_user(name, ext, **extra):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE], "externalId": ext,
            "userName": name, "displayName": name.split("@")[0].title(),
            "name": {"givenName": "Given", "familyName": "Family"},
            "emails": [{"value": name, "type": "work", "primary": True}], "active": True, **extra}


def main():
    with open(POLICY, encoding="utf-8") as f:
        policy = json.load(f)
    # The second peer's syncd user lacks one action.
    reduced = json.loads(json.dumps(policy))
    for st in reduced["Statement"]:
        st["Action"] = [a for a in st["Action"] if a != "sso:ListAccountAssignments"]
    tmp = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(reduced, tmp)
    tmp.close()
    pa = start("--permission-sets", "2", "--applications", "1", "--accounts", "2")
    pb = start("--policy", tmp.name, "--permission-sets", "1", "--accounts", "1")
    try:
        run(Peer(ready(pa)), Peer(ready(pb)))
    finally:
        os.unlink(tmp.name)
        for p in (pa, pb):
            p.send_signal(signal.SIGTERM)
        check(pa.wait(10) == 0 and pb.wait(10) == 0, "SIGTERM stops the peer cleanly (exit status 0)")
    print(f"{len(failures)} failure(s)" if failures else "all checks passed")
    sys.exit(1 if failures else 0)


def run(a, b):
    cfg = a.cfg
    for k in ("url", "scim_url", "scim_token", "region", "access_key_id", "secret_access_key", "admin_access_key_id",
              "admin_secret_access_key", "instance_arn", "identity_store_id", "accounts", "management_account_id"):
        check(k in cfg, f"JSON line has {k}")
    check(len(cfg["accounts"]) == 2 and cfg["management_account_id"] not in cfg["accounts"],
          "--accounts 2 gives two member accounts besides the management account", cfg["accounts"])
    sso, ids = a.client("sso-admin"), a.client("identitystore")
    admin_sso, admin_ids = a.client("sso-admin", admin=True), a.client("identitystore", admin=True)
    acct = cfg["accounts"][0]

    # ---- SigV4 and IAM policy
    e = error_of(a.client("sso-admin", secret="wrong" * 8).list_instances)
    check(e and e[0] == "InvalidSignatureException" and "signature we calculated does not match" in e[1] and e[2] == 403,
          "wrong secret: InvalidSignatureException 403 (moto's SignatureDoesNotMatch, as JSON 1.1)", e)
    e = error_of(a.client("sso-admin", key="AKIAUNKNOWNKEY000000", secret="x").list_instances)
    check(e and e[0] == "UnrecognizedClientException", "unknown access key: UnrecognizedClientException", e)
    e = error_of(sso.create_application, InstanceArn=a.arn, Name="x",
                 ApplicationProviderArn="arn:aws:sso::aws:applicationProvider/custom")
    check(e and e[0] == "AccessDeniedException" and "sso:CreateApplication" in e[1],
          "an action outside the policy: AccessDeniedException naming it (peer's own operation)", e)
    e = error_of(a.client("organizations").list_accounts)
    check(e and e[0] == "AccessDeniedException" and "organizations:ListAccounts" in e[1],
          "an action outside the policy: AccessDeniedException naming it (moto's operation)", e)
    e = error_of(b.client("sso-admin").list_account_assignments, InstanceArn=b.arn, AccountId=b.cfg["accounts"][0],
                 PermissionSetArn=b.client("sso-admin", admin=True).list_permission_sets(
                     InstanceArn=b.arn)["PermissionSets"][0])
    check(e and e[0] == "AccessDeniedException" and "sso:ListAccountAssignments" in e[1],
          "--policy without sso:ListAccountAssignments: AccessDenied names sso:ListAccountAssignments", e)
    check(error_of(b.client("sso-admin").list_instances) is None, "--policy: the other actions still work")

    # ---- SCIM front: syncd's requests, AWS's rules
    s, u1 = a.scim("POST", "/Users", scim_user("alice@example.com", "guid-alice",
                                               **{ENTERPRISE: {"employeeNumber": "7", "manager": {"value": "x"}}}))
    check(s == 201 and u1["id"], "SCIM POST /Users creates a user", (s, u1))
    s, u2 = a.scim("POST", "/Users", scim_user("bob@example.com", "guid-bob"))
    s, dup = a.scim("POST", "/Users", scim_user("ALICE@example.com", "guid-other"))
    check(s == 409 and dup.get("detail") == "Refused to create a new, duplicate resource.", "SCIM duplicate userName: 409",
          (s, dup))
    bad = scim_user("carol@example.com", "guid-carol")
    del bad["name"]["familyName"]
    s, doc = a.scim("POST", "/Users", bad)
    check(s == 400 and "name.familyName" in doc["detail"], "SCIM user without name.familyName: 400", (s, doc))
    s, _ = a.scim("GET", "/Users", token="wrong")
    check(s == 401, "SCIM wrong bearer token: 401", s)
    for flt, want in (('externalId eq "guid-alice"', u1["id"]), ('userName eq "ALICE@example.com"', u1["id"]),
                      ('id eq "%s"' % u2["id"], u2["id"])):
        s, doc = a.scim("GET", "/Users?filter=" + urllib.request.quote(flt))
        check(s == 200 and [r["id"] for r in doc["Resources"]] == [want], f"SCIM filter {flt}", (s, doc))
    s, doc = a.scim("GET", "/Users?filter=" + urllib.request.quote('userName co "a"'))
    check(s == 400, "SCIM filter with 'co': 400", s)
    s, g = a.scim("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                      "displayName": "Admins", "externalId": "guid-admins"})
    check(s == 201 and g["members"] == [], "SCIM POST /Groups", (s, g))
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": u1["id"]}, {"value": u2["id"]}]}]}
    s, _ = a.scim("PATCH", f"/Groups/{g['id']}", patch)
    check(s == 204, "SCIM PATCH members add: 204", s)
    s, doc = a.scim("GET", "/Users?filter=" + urllib.request.quote('groups.value eq "%s"' % g["id"]))
    check(s == 200 and {r["id"] for r in doc["Resources"]} == {u1["id"], u2["id"]}, "SCIM filter groups.value eq",
          doc)
    s, doc = a.scim("GET", "/Groups?filter=" + urllib.request.quote('displayName eq "admins"'))
    check(s == 200 and [r["id"] for r in doc["Resources"]] == [g["id"]] and doc["Resources"][0]["members"] == [],
          "SCIM filter displayName eq (members never listed)", doc)
    s, doc = a.scim("PATCH", f"/Groups/{g['id']}", {"Operations": [{"op": "replace", "path": "members", "value": []}]})
    check(s == 400, "SCIM replace of members: 400", s)
    s, doc = a.scim("PATCH", f"/Groups/{g['id']}", {"Operations": [{"op": "remove", "path": "members"}]})
    check(s == 400, "SCIM remove of all members: 400", s)
    s, doc = a.scim("PATCH", f"/Groups/{g['id']}", {"Operations": [
        {"op": "add", "path": "members", "value": [{"value": u1["id"]}] * 101}]})
    check(s == 400 and "101" in doc["detail"], "SCIM 101 membership changes in one PATCH: 400", (s, doc))
    s, _ = a.scim("PATCH", f"/Users/{u2['id']}", {"Operations": [
        {"op": "replace", "path": "name.givenName", "value": "Robert"},
        {"op": "replace", "path": "emails", "value": [{"value": "rob@example.com", "type": "work", "primary": True}]},
        {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Ops"}]})
    s, doc = a.scim("GET", f"/Users/{u2['id']}")
    check(s == 200 and doc["name"]["givenName"] == "Robert" and doc[ENTERPRISE]["department"] == "Ops",
          "SCIM PATCH /Users (name.givenName, emails, enterprise path)", doc)

    # The identitystore JSON API sees what SCIM wrote (moto's backend).
    got = ids.get_user_id(IdentityStoreId=a.sid, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": "alice@example.com"}})["UserId"]
    check(got == u1["id"], "GetUserId by userName finds the SCIM user")
    got = ids.get_user_id(IdentityStoreId=a.sid, AlternateIdentifier={
        "ExternalId": {"Issuer": "SCIM", "Id": "guid-alice"}})["UserId"]
    check(got == u1["id"], "GetUserId by ExternalId {SCIM, externalId}")
    got = ids.get_group_id(IdentityStoreId=a.sid, AlternateIdentifier={
        "ExternalId": {"Issuer": "SCIM", "Id": "guid-admins"}})["GroupId"]
    check(got == g["id"], "GetGroupId by ExternalId")
    e = error_of(ids.get_user_id, IdentityStoreId=a.sid,
                 AlternateIdentifier={"ExternalId": {"Issuer": "SCIM", "Id": "nobody"}})
    check(e and e[0] == "ResourceNotFoundException", "GetUserId of an unknown ExternalId: ResourceNotFound", e)
    d = ids.describe_user(IdentityStoreId=a.sid, UserId=u2["id"])
    check(d["ExternalIds"] == [{"Issuer": "SCIM", "Id": "guid-bob"}] and d["Name"]["GivenName"] == "Robert"
          and d["Emails"][0]["Value"] == "rob@example.com", "DescribeUser shows ExternalIds and the patched values", d)
    lu = ids.list_users(IdentityStoreId=a.sid)["Users"]
    check(all(u["ExternalIds"] for u in lu) and len(lu) == 2, "ListUsers shows ExternalIds", lu)
    dg = ids.describe_group(IdentityStoreId=a.sid, GroupId=g["id"])
    check(dg["ExternalIds"] == [{"Issuer": "SCIM", "Id": "guid-admins"}], "DescribeGroup shows ExternalIds", dg)
    m = admin_ids.list_group_memberships(IdentityStoreId=a.sid, GroupId=g["id"])["GroupMemberships"]
    check({x["MemberId"]["UserId"] for x in m} == {u1["id"], u2["id"]}, "ListGroupMemberships sees SCIM members", m)
    a.scim("PATCH", f"/Groups/{g['id']}", {"Operations": [{"op": "remove", "path": "members",
                                                           "value": [{"value": u2["id"]}]}]})
    m = admin_ids.list_group_memberships(IdentityStoreId=a.sid, GroupId=g["id"])["GroupMemberships"]
    check([x["MemberId"]["UserId"] for x in m] == [u1["id"]], "SCIM members remove reaches the identity store", m)

    # Paging: 50 per page at most, cursor and startIndex.
    for i in range(53):
        a.scim("POST", "/Users", scim_user(f"user{i}@example.com", f"guid-{i}"))
    s, p1 = a.scim("GET", "/Users?count=100&cursor=")
    s2, p2 = a.scim("GET", "/Users?count=100&cursor=" + p1.get("nextCursor", ""))
    check(len(p1["Resources"]) == 50 and p1["totalResults"] == 55 and "nextCursor" in p1
          and len(p2["Resources"]) == 5 and "nextCursor" not in p2, "SCIM cursor paging, 50 per page",
          (len(p1["Resources"]), p1.get("nextCursor"), len(p2.get("Resources", []))))
    s, p3 = a.scim("GET", "/Users?startIndex=51&count=50")
    check(len(p3["Resources"]) == 5 and p3["startIndex"] == 51, "SCIM startIndex paging", p3.get("startIndex"))

    # ---- the documented policy allows every listed call
    ps_arns = admin_sso.list_permission_sets(InstanceArn=a.arn)["PermissionSets"]
    ps = ps_arns[0]
    app = sso.list_applications(InstanceArn=a.arn)["Applications"][0]["ApplicationArn"]
    r = sso.create_account_assignment(InstanceArn=a.arn, TargetId=acct, TargetType="AWS_ACCOUNT",
                                      PermissionSetArn=ps, PrincipalType="USER", PrincipalId=u1["id"])
    rid = r["AccountAssignmentCreationStatus"]["RequestId"]
    check(r["AccountAssignmentCreationStatus"]["Status"] == "IN_PROGRESS", "CreateAccountAssignment answers IN_PROGRESS")
    d = sso.describe_account_assignment_creation_status(InstanceArn=a.arn, AccountAssignmentCreationRequestId=rid)
    check(d["AccountAssignmentCreationStatus"]["Status"] == "SUCCEEDED", "delay 0: SUCCEEDED at the first poll", d)
    calls = {
        "sso:ListInstances": lambda: sso.list_instances(),
        "sso:ListPermissionSets": lambda: sso.list_permission_sets(InstanceArn=a.arn),
        "sso:DescribePermissionSet": lambda: sso.describe_permission_set(InstanceArn=a.arn, PermissionSetArn=ps),
        "sso:ListAccountsForProvisionedPermissionSet": lambda: sso.list_accounts_for_provisioned_permission_set(
            InstanceArn=a.arn, PermissionSetArn=ps),
        "sso:ListAccountAssignments": lambda: sso.list_account_assignments(InstanceArn=a.arn, AccountId=acct,
                                                                           PermissionSetArn=ps),
        "sso:CreateAccountAssignment": lambda: sso.create_account_assignment(
            InstanceArn=a.arn, TargetId=acct, TargetType="AWS_ACCOUNT", PermissionSetArn=ps_arns[1],
            PrincipalType="GROUP", PrincipalId=g["id"]),
        "sso:DeleteAccountAssignment": lambda: sso.delete_account_assignment(
            InstanceArn=a.arn, TargetId=acct, TargetType="AWS_ACCOUNT", PermissionSetArn=ps_arns[1],
            PrincipalType="GROUP", PrincipalId=g["id"]),
        "sso:DescribeAccountAssignmentCreationStatus": lambda: sso.describe_account_assignment_creation_status(
            InstanceArn=a.arn, AccountAssignmentCreationRequestId=rid),
        "sso:DescribeAccountAssignmentDeletionStatus": lambda: sso.describe_account_assignment_deletion_status(
            InstanceArn=a.arn, AccountAssignmentDeletionRequestId=sso.list_account_assignment_deletion_status(
                InstanceArn=a.arn)["AccountAssignmentsDeletionStatus"][0]["RequestId"]),
        "sso:ListAccountAssignmentCreationStatus": lambda: sso.list_account_assignment_creation_status(
            InstanceArn=a.arn, Filter={"Status": "SUCCEEDED"}),
        "sso:ListAccountAssignmentDeletionStatus": lambda: sso.list_account_assignment_deletion_status(
            InstanceArn=a.arn),
        "sso:ListApplications": lambda: sso.list_applications(InstanceArn=a.arn),
        "sso:DescribeApplication": lambda: sso.describe_application(ApplicationArn=app),
        "sso:ListApplicationAssignments": lambda: sso.list_application_assignments(ApplicationArn=app),
        "sso:CreateApplicationAssignment": lambda: sso.create_application_assignment(
            ApplicationArn=app, PrincipalId=g["id"], PrincipalType="GROUP"),
        "sso:DeleteApplicationAssignment": lambda: sso.delete_application_assignment(
            ApplicationArn=app, PrincipalId=g["id"], PrincipalType="GROUP"),
        "identitystore:GetUserId": lambda: ids.get_user_id(IdentityStoreId=a.sid, AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": "bob@example.com"}}),
        "identitystore:GetGroupId": lambda: ids.get_group_id(IdentityStoreId=a.sid, AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": "Admins"}}),
        "identitystore:DescribeUser": lambda: ids.describe_user(IdentityStoreId=a.sid, UserId=u1["id"]),
        "identitystore:DescribeGroup": lambda: ids.describe_group(IdentityStoreId=a.sid, GroupId=g["id"]),
        "identitystore:ListUsers": lambda: ids.list_users(IdentityStoreId=a.sid),
        "identitystore:ListGroups": lambda: ids.list_groups(IdentityStoreId=a.sid),
        "organizations:DescribeOrganization": lambda: a.client("organizations").describe_organization(),
        "organizations:DescribeAccount": lambda: a.client("organizations").describe_account(AccountId=acct),
    }
    listed = {act for st in json.load(open(POLICY, encoding="utf-8"))["Statement"] for act in st["Action"]}
    for action in sorted(a for a in listed if a.startswith(("sso:", "identitystore:"))):
        check(action in calls, f"selftest calls {action}")
    for action, fn in calls.items():
        e = error_of(fn)
        check(e is None, f"documented policy allows {action}", e)
        if action == "sso:CreateAccountAssignment":
            time.sleep(0.01)

    # ---- async assignments: IN_PROGRESS, then SUCCEEDED or FAILED
    a.faults(provision_delay=1.0, fail=[{"principal_id": u2["id"], "reason": "quota of roles reached"}])
    r1 = sso.create_account_assignment(InstanceArn=a.arn, TargetId=cfg["accounts"][1], TargetType="AWS_ACCOUNT",
                                       PermissionSetArn=ps, PrincipalType="GROUP", PrincipalId=g["id"])
    r2 = sso.create_account_assignment(InstanceArn=a.arn, TargetId=acct, TargetType="AWS_ACCOUNT",
                                       PermissionSetArn=ps, PrincipalType="USER", PrincipalId=u2["id"])
    id1, id2 = (x["AccountAssignmentCreationStatus"]["RequestId"] for x in (r1, r2))
    st = sso.describe_account_assignment_creation_status(InstanceArn=a.arn, AccountAssignmentCreationRequestId=id1)
    check(st["AccountAssignmentCreationStatus"]["Status"] == "IN_PROGRESS", "delay 1 s: IN_PROGRESS at once")
    pending = sso.list_account_assignment_creation_status(InstanceArn=a.arn, Filter={"Status": "IN_PROGRESS"})
    check({x["RequestId"] for x in pending["AccountAssignmentsCreationStatus"]} == {id1, id2},
          "ListAccountAssignmentCreationStatus Filter IN_PROGRESS", pending)
    listed_now = sso.list_account_assignments(InstanceArn=a.arn, AccountId=cfg["accounts"][1], PermissionSetArn=ps)
    check(listed_now["AccountAssignments"] == [], "an IN_PROGRESS assignment is not listed yet", listed_now)
    time.sleep(1.2)
    st1 = sso.describe_account_assignment_creation_status(InstanceArn=a.arn, AccountAssignmentCreationRequestId=id1)
    st2 = sso.describe_account_assignment_creation_status(InstanceArn=a.arn, AccountAssignmentCreationRequestId=id2)
    check(st1["AccountAssignmentCreationStatus"]["Status"] == "SUCCEEDED", "then SUCCEEDED", st1)
    check(st2["AccountAssignmentCreationStatus"]["Status"] == "FAILED"
          and st2["AccountAssignmentCreationStatus"]["FailureReason"] == "quota of roles reached",
          "a selected principal: FAILED with its FailureReason", st2)
    listed_now = sso.list_account_assignments(InstanceArn=a.arn, AccountId=cfg["accounts"][1], PermissionSetArn=ps)
    check([x["PrincipalId"] for x in listed_now["AccountAssignments"]] == [g["id"]], "SUCCEEDED: listed", listed_now)
    accts = sso.list_accounts_for_provisioned_permission_set(InstanceArn=a.arn, PermissionSetArn=ps)["AccountIds"]
    check(set(accts) == {acct, cfg["accounts"][1]}, "ListAccountsForProvisionedPermissionSet", accts)
    a.faults(fail_every=2)
    outs = [sso.create_account_assignment(InstanceArn=a.arn, TargetId=acct, TargetType="AWS_ACCOUNT",
                                          PermissionSetArn=ps_arns[1], PrincipalType="USER", PrincipalId=u1["id"])
            for _ in range(2)]
    st = [sso.describe_account_assignment_creation_status(
        InstanceArn=a.arn, AccountAssignmentCreationRequestId=o["AccountAssignmentCreationStatus"]["RequestId"])
        ["AccountAssignmentCreationStatus"]["Status"] for o in outs]
    check(st == ["SUCCEEDED", "FAILED"], "fail_every 2: the second create FAILED", st)
    stats = a.control("GET", "/stats")
    dup = f"{u1['id']}|{acct}|{ps_arns[1]}"
    check(stats["duplicate_creates"].get(dup) == 2, "stats: duplicate creates per (principal, target)",
          stats["duplicate_creates"])

    # ---- throttling: rate, the 15 outstanding cap, list calls
    a.faults(rate=2.0)
    t0 = time.monotonic()
    errs = [error_of(sso.list_instances) for _ in range(12)]
    elapsed = time.monotonic() - t0
    thr = [x for x in errs if x and x[0] == "ThrottlingException"]
    allowed = len(errs) - len(thr)
    check(thr and allowed <= 2 + 2 * elapsed + 1 and thr[0][2] == 400 and thr[0][1] == "Rate exceeded"
          and thr[0][3].get("x-amzn-errortype", "").startswith("ThrottlingException"),
          "rate 2/s: calls above the bucket get ThrottlingException 400", ([x and x[0] for x in errs], elapsed))
    a.faults(rate=1.0, rate_ops=["ListPermissionSets"])
    errs = [error_of(sso.list_instances) for _ in range(4)]
    limited = [error_of(sso.list_permission_sets, InstanceArn=a.arn) for _ in range(4)]
    check(errs == [None] * 4 and any(x and x[0] == "ThrottlingException" for x in limited),
          "rate_ops: only the named operations are rate limited", (errs, limited))
    a.faults(list_throttle_every=2, list_throttle_ops=["ListAccountAssignments"])
    errs = [error_of(sso.list_account_assignments, InstanceArn=a.arn, AccountId=acct, PermissionSetArn=ps)
            for _ in range(4)]
    check([x and x[0] for x in errs] == [None, "ThrottlingException", None, "ThrottlingException"],
          "list_throttle_every 2: every 2nd ListAccountAssignments throttled", [x and x[0] for x in errs])

    # ---- conflicts
    a.faults(conflict_every=2)
    errs = [error_of(sso.create_account_assignment, InstanceArn=a.arn, TargetId=acct, TargetType="AWS_ACCOUNT",
                     PermissionSetArn=ps, PrincipalType="USER", PrincipalId=u1["id"]) for _ in range(2)]
    check(errs[0] is None and errs[1] and errs[1][0] == "ConflictException", "conflict_every 2", errs)
    a.faults(conflict_principals=[g["id"]])
    e = error_of(sso.create_application_assignment, ApplicationArn=app, PrincipalId=g["id"], PrincipalType="GROUP")
    check(e and e[0] == "ConflictException", "conflict_principals: that principal's creates conflict", e)
    check(a.control("GET", "/stats")["conflicts_sent"] == 2, "stats: conflicts sent")
    a.faults()

    # ---- application assignments
    new_app = admin_sso.create_application(InstanceArn=a.arn, Name="Portal",
                                           ApplicationProviderArn="arn:aws:sso::aws:applicationProvider/custom")
    app2 = new_app["ApplicationArn"]
    check(sso.describe_application(ApplicationArn=app2)["Name"] == "Portal", "admin CreateApplication, DescribeApplication")
    check(sso.create_application_assignment(ApplicationArn=app2, PrincipalId=u1["id"], PrincipalType="USER")
          ["ResponseMetadata"]["HTTPStatusCode"] == 200, "CreateApplicationAssignment (synchronous)")
    la = sso.list_application_assignments(ApplicationArn=app2)["ApplicationAssignments"]
    check(la == [{"ApplicationArn": app2, "PrincipalId": u1["id"], "PrincipalType": "USER"}],
          "ListApplicationAssignments", la)
    e = error_of(sso.create_application_assignment, ApplicationArn=app2, PrincipalId="nobody", PrincipalType="USER")
    check(e and e[0] == "ResourceNotFoundException", "application assignment of an unknown principal: NotFound", e)

    # ---- finish_on_status_list: what was in progress has finished when the list answers
    a.faults(provision_delay=30.0, finish_on_status_list=True)
    started = sso.create_account_assignment(InstanceArn=a.arn, TargetId=cfg["accounts"][1], TargetType="AWS_ACCOUNT",
                                            PermissionSetArn=ps_arns[-1], PrincipalType="USER",
                                            PrincipalId=u1["id"])["AccountAssignmentCreationStatus"]
    listed = sso.list_account_assignment_creation_status(InstanceArn=a.arn, Filter={"Status": "IN_PROGRESS"})
    done = sso.describe_account_assignment_creation_status(
        InstanceArn=a.arn, AccountAssignmentCreationRequestId=started["RequestId"])["AccountAssignmentCreationStatus"]
    check(started["Status"] == "IN_PROGRESS" and listed["AccountAssignmentsCreationStatus"] == []
          and done["Status"] == "SUCCEEDED", "finish_on_status_list: finished before the list answers", (listed, done))
    a.faults(finish_on_status_list=False)

    # ---- the 15 outstanding cap (its operations stay IN_PROGRESS until the switch below)
    a.faults(provision_delay=30.0)
    errs = [error_of(sso.create_account_assignment, InstanceArn=a.arn, TargetId=cfg["accounts"][1],
                     TargetType="AWS_ACCOUNT", PermissionSetArn=ps_arns[1], PrincipalType="USER",
                     PrincipalId=u1["id"]) for _ in range(16)]
    check(all(x is None for x in errs[:15]) and errs[15] and errs[15][0] == "ThrottlingException"
          and errs[15][1] == "There are too many requests processing. Please try again later.",
          "the 16th outstanding operation: ThrottlingException 'too many requests processing'", errs[15])
    check(a.control("GET", "/stats")["max_outstanding_seen"] == 15, "stats: max outstanding seen 15")

    # ---- source switch
    sw = a.control("POST", "/switch-source")
    inst = sso.list_instances()["Instances"][0]
    check(inst["IdentityStoreId"] == sw["identity_store_id"] != a.sid and inst["InstanceArn"] == a.arn,
          "switch-source: new IdentityStoreId, same instance ARN", (inst, sw))
    new_sid = inst["IdentityStoreId"]
    check(ids.list_users(IdentityStoreId=new_sid)["Users"] == [], "switch-source: no principals in the new store")
    e = error_of(ids.list_users, IdentityStoreId=a.sid)
    check(e and e[0] == "ResourceNotFoundException", "switch-source: the old store is gone", e)
    check(sso.list_account_assignments(InstanceArn=a.arn, AccountId=acct, PermissionSetArn=ps)["AccountAssignments"]
          == [], "switch-source: account assignments gone")
    check(sso.list_application_assignments(ApplicationArn=app2)["ApplicationAssignments"] == [],
          "switch-source: application assignments gone")
    check(sso.list_permission_sets(InstanceArn=a.arn)["PermissionSets"] == ps_arns, "switch-source: permission sets kept")
    check(len(sso.list_applications(InstanceArn=a.arn)["Applications"]) == 2, "switch-source: applications kept")
    check(a.control("GET", "/stats")["outstanding"] == 0, "switch-source: no operation outstanding")
    s, doc = a.scim("GET", "/Users")
    check(s == 200 and doc["totalResults"] == 0, "switch-source: SCIM sees the new, empty store", doc)

    # ---- slow provisioning
    a.faults(principal_delay=1.0)
    s, late = a.scim("POST", "/Users", scim_user("late@example.com", "guid-late"))
    lookup = dict(IdentityStoreId=new_sid, AlternateIdentifier={"ExternalId": {"Issuer": "SCIM", "Id": "guid-late"}})
    e = error_of(ids.get_user_id, **lookup)
    s2, _ = a.scim("GET", f"/Users/{late['id']}")
    check(s == 201 and s2 == 200 and e and e[0] == "ResourceNotFoundException",
          "principal_delay: SCIM sees the user, GetUserId does not yet", e)
    e = error_of(sso.create_account_assignment, InstanceArn=a.arn, TargetId=acct, TargetType="AWS_ACCOUNT",
                 PermissionSetArn=ps, PrincipalType="USER", PrincipalId=late["id"])
    check(e and e[0] == "ResourceNotFoundException", "principal_delay: no assignment to it yet", e)
    time.sleep(1.1)
    check(error_of(ids.get_user_id, **lookup) is None, "principal_delay: visible after the delay")
    a.faults()

    # ---- clock skew
    a.faults(clock_offset=600.0)
    e = error_of(sso.list_instances)
    check(e and e[0] == "InvalidSignatureException" and e[1].startswith("Signature expired:") and e[2] == 403,
          "peer clock 10 min ahead: 'Signature expired' 403", e)
    served = time.mktime(time.strptime(e[3].get("date", ""), "%a, %d %b %Y %H:%M:%S GMT")) - time.mktime(time.gmtime())
    check(abs(served - 600) < 5, "the Date header carries the peer's clock", e[3].get("date"))
    a.faults(clock_offset=-600.0)
    e = error_of(sso.list_instances)
    check(e and e[1].startswith("Signature not yet current:"), "peer clock 10 min behind: 'not yet current'", e)
    a.faults()

    # ---- the aws CLI, as an operator pokes at the peer
    if shutil.which("aws"):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=cfg["access_key_id"], AWS_SECRET_ACCESS_KEY=cfg["secret_access_key"],
                   AWS_DEFAULT_REGION=cfg["region"], AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        out = subprocess.run(["aws", "--endpoint-url", cfg["url"], "sso-admin", "list-instances"],
                             env=env, capture_output=True, text=True, timeout=60)
        check(out.returncode == 0 and new_sid in out.stdout, "aws --endpoint-url sso-admin list-instances",
              out.stderr[-300:])
    stats = a.control("GET", "/stats")
    check(stats["calls"].get("sso-admin:ListInstances", 0) > 0 and stats["throttles_sent"] >= 4,
          "stats: calls per operation and throttles", stats["throttles_by_reason"])


if __name__ == "__main__":
    main()
