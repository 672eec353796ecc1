#!/usr/bin/env python3
"""AWS test peer for syncd's IAM Identity Center work: moto 5.2.1 plus a thin layer of our own.

One process, one port on 127.0.0.1:
  /scim/v2/...  a SCIM 2.0 front with AWS's rules, writing into moto's identitystore backend
  /_peer/...    the control API (faults, stats, source switch)
  everything else: AWS JSON APIs. Requests carrying X-Amz-Target pass the peer's layer (clock skew, SigV4 and
  IAM policy checked with moto's own IAMRequest, faults, the operations moto lacks) and then, unless the layer
  answers them itself, moto's werkzeug app. Other requests (IAM, STS: query protocol) go to moto unchanged.
See README.md next to this file for flags, knobs and the control API.
"""
import argparse
import base64
import copy
import datetime
import io
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import traceback
import uuid
from email.utils import formatdate
from urllib.parse import parse_qsl

import boto3
import moto.settings
from moto.identitystore.models import Group, IdentityStoreData, Name, User, identitystore_backends
from moto.iam.access_control import IAMRequest
from moto.iam.models import get_account_id_from
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.ssoadmin.models import ssoadmin_backends
from werkzeug.datastructures import EnvironHeaders
from werkzeug.serving import WSGIRequestHandler, make_server

SCIM_ISSUER = "SCIM"  # the ExternalIds Issuer of principals provisioned through the SCIM front
DEFAULT_ACCOUNT = "123456789012"  # moto's default account: the organization's management account
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCIM_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
AWS_UNPARSABLE = "Request is unparsable, syntactically incorrect, or violates schema."
TOO_MANY_PROCESSING = "There are too many requests processing. Please try again later."
CONFLICT_MESSAGE = ("Occurs when a conflict with a previous successful write is detected. This generally occurs when the "
                    "previous write did not have time to propagate to the host serving the current request.")
DEFAULT_FAIL_REASON = ("Request failed: the permission set could not be provisioned to the account "
                       "(peer-injected failure)")
SCIM_PAGE_MAX = 50
MEMBER_CHANGES_MAX = 100
TARGET_SERVICES = {"SWBExternalService": "sso-admin", "AWSIdentityStore": "identitystore",
                   "AWSOrganizationsV20161128": "organizations"}

FAULT_DEFAULTS = {
    "rate": 0.0,                 # SSO Admin calls per second, all operations together (token bucket); 0 = off
    "burst": 0.0,                # bucket size; 0 = max(rate, 1)
    "rate_ops": [],              # the SSO Admin operations the rate applies to (AWS limits each API on its own); empty = all
    "identitystore_rate": 0.0,   # the same for the identitystore JSON API
    "max_outstanding": 15,       # IN_PROGRESS account assignment operations before ThrottlingException
    "provision_delay": 0.0,      # seconds a create/delete stays IN_PROGRESS
    "finish_on_status_list": False,  # IN_PROGRESS requests finish just before a List*Status call is answered
                                     # (one that finishes between a caller's two reads)
    "fail_every": 0,             # every Nth accepted CreateAccountAssignment ends FAILED
    "fail": [],                  # [{"principal_id"?, "permission_set_arn"?, "account_id"?, "reason"?}] -> FAILED
    "fail_reason": DEFAULT_FAIL_REASON,
    "conflict_every": 0,         # every Nth Create{Account,Application}Assignment answers ConflictException
    "conflict_principals": [],   # principal ids whose creates and deletes answer ConflictException
    "principal_delay": 0.0,      # SCIM-created principals invisible to the identitystore JSON API for S seconds
    "clock_offset": 0.0,         # the peer's clock runs K seconds ahead (negative: behind)
    "max_skew": 300.0,           # X-Amz-Date further than this from the peer's clock: InvalidSignatureException
    "list_throttle_every": 0,    # every Nth List* call (of list_throttle_ops, or all) answers ThrottlingException
    "list_throttle_ops": [],     # e.g. ["ListAccountAssignments"]; empty = every List* of sso-admin and identitystore
}


class AwsError(Exception):
    def __init__(self, type_, message, status=400, extra=None):
        super().__init__(message)
        self.type, self.message, self.status, self.extra = type_, message, status, extra or {}


class ScimError(Exception):
    def __init__(self, status, detail, scim_type=None, body=None):
        super().__init__(detail)
        self.status, self.detail, self.scim_type, self.body = status, detail, scim_type, body


def amz_date(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def new_id(prefix, n):
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def aws_principal_id():
    # IAM Identity Center's shape: ^([0-9a-f]{10}-|)UUID$
    return f"{secrets.token_hex(5)}-{uuid.uuid4()}"


def page(items, params, key):
    """AWS-style MaxResults/NextToken paging over a list built by the peer."""
    n = params.get("MaxResults") or 100
    if not isinstance(n, int) or n < 1 or n > 100:
        raise AwsError("ValidationException", "MaxResults must be between 1 and 100")
    start = 0
    if params.get("NextToken"):
        try:
            start = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
        except Exception:
            raise AwsError("ValidationException", "Invalid NextToken") from None
    out = {key: items[start:start + n]}
    if start + n < len(items):
        out["NextToken"] = base64.urlsafe_b64encode(str(start + n).encode()).decode()
    return out


class Peer:
    def __init__(self, args):
        self.lock = threading.RLock()
        self.region = args.region
        self.moto_app = DomainDispatcherApplication(create_backend_app)
        self.scim_token = args.scim_token or secrets.token_urlsafe(24)
        self.auth_enabled = False  # off while the peer sets itself up
        self.faults = copy.deepcopy(FAULT_DEFAULTS)
        self.accounts = []
        self.management_account_id = DEFAULT_ACCOUNT
        self.instance_arn = None
        self.apps = {}              # arn -> application (DescribeApplication shape)
        self.app_assignments = []   # [{"ApplicationArn", "PrincipalId", "PrincipalType"}]
        self.ops = {}               # request id -> account assignment operation (ours, async)
        self.provisioned = {}       # permission set arn -> set(account ids)
        self.ext_ids = {}           # principal id -> [{"Issuer", "Id"}]
        self.scim_users = {}        # user id -> SCIM resource (users made through SCIM)
        self.scim_groups = {}       # group id -> {"externalId", "meta"}
        self.visible_at = {}        # principal id -> time it becomes visible to the JSON API
        self.seq = {}               # principal id -> creation sequence (SCIM cursor paging)
        self.next_seq = 1
        self.reset_counters()
        self.reset_stats()

    # ---- state helpers ---------------------------------------------------------------------------------------
    def reset_counters(self):
        self.tokens = {"sso-admin": None, "identitystore": None}
        self.bucket_time = {}
        self.n_creates = self.n_conflict = self.n_list = 0

    def reset_stats(self):
        self.stats = {"calls": {}, "throttles_sent": 0, "throttles_by_reason": {}, "conflicts_sent": 0,
                      "failures_sent": 0, "access_denied_sent": 0, "signature_errors_sent": 0,
                      "skew_rejections": 0, "max_outstanding_seen": self.outstanding(), "creates": {},
                      "deletes": {}, "application_creates": {}, "scim_requests": {}}

    @property
    def ssoadmin(self):
        return ssoadmin_backends[self.management_account_id][self.region]

    @property
    def idstore_backend(self):
        return identitystore_backends[self.management_account_id][self.region]

    @property
    def instance(self):
        return self.ssoadmin.instances[0]

    @property
    def store_id(self):
        return self.instance.identity_store_id

    def store(self):
        return self.idstore_backend.identity_stores.setdefault(self.store_id, IdentityStoreData())

    def clock(self):
        return time.time() + float(self.faults["clock_offset"])

    def visible(self, principal_id):
        return time.time() >= self.visible_at.get(principal_id, 0)

    def outstanding(self):
        return sum(1 for o in self.ops.values() if o["Status"] == "IN_PROGRESS")

    def principal_exists(self, ptype, pid):
        st = self.store()
        found = pid in (st.users if ptype == "USER" else st.groups)
        return found and self.visible(pid)

    def ordinal(self, pid):
        if pid not in self.seq:
            self.seq[pid] = self.next_seq
            self.next_seq += 1
        return self.seq[pid]

    # ---- the WSGI entry ---------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        try:
            if path == "/_peer" or path.startswith("/_peer/"):
                status, headers, body = self.control(environ, path[len("/_peer"):])
            elif path == "/scim/v2" or path.startswith("/scim/v2/"):
                status, headers, body = self.scim(environ, path[len("/scim/v2"):])
            else:
                status, headers, body = self.aws(environ)
        except Exception as ex:  # a bug in the peer: say so, do not hang the client
            traceback.print_exc()
            status, headers, body = 500, [("Content-Type", "application/json")], json.dumps({"error": str(ex)}).encode()
        # Date comes from QuietHandler.date_time_string (the peer's clock, which the clock_offset knob moves).
        headers = [(k, v) for k, v in headers if k.lower() not in ("date", "content-length", "server")]
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {STATUS_TEXT.get(status, 'Status')}", headers)
        return [body]

    # ---- AWS JSON APIs ----------------------------------------------------------------------------------------
    def aws(self, environ):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = EnvironHeaders(environ)
        target = headers.get("X-Amz-Target")
        if not target:  # query protocol (IAM, STS): moto alone
            with self.lock:
                return self.call_moto(environ, body)
        prefix, _, op = target.rpartition(".")
        service = TARGET_SERVICES.get(prefix, prefix)
        with self.lock:
            self.tick()
            name = f"{service}:{op}"
            self.stats["calls"][name] = self.stats["calls"].get(name, 0) + 1
            try:
                params = json.loads(body or b"{}")
                if self.auth_enabled:
                    self.check_clock(headers)
                    self.check_auth(environ, headers, body, op)
                self.check_throttle(service, op)
                if service == "identitystore":
                    sid = params.get("IdentityStoreId")
                    if sid is not None and sid != self.store_id:
                        raise AwsError("ResourceNotFoundException", f"Identity store {sid} not found",
                                       extra={"ResourceType": "IDENTITY_STORE", "ResourceId": sid})
                handler = getattr(self, f"op_{service.replace('-', '')}_{op}", None)
                if handler is not None:
                    result = handler(params, environ, body)
                    if isinstance(result, tuple):
                        return result
                    return 200, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(result).encode()
                return self.call_moto(environ, body)
            except AwsError as e:
                return self.aws_error(e)

    def aws_error(self, e):
        doc = {"__type": e.type, "message": e.message, **e.extra}
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-errortype", f"{e.type}:"),
                   ("x-amzn-RequestId", str(uuid.uuid4()))]
        return e.status, headers, json.dumps(doc).encode()

    def call_moto(self, environ, body):
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(body)
        env["CONTENT_LENGTH"] = str(len(body))
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        chunks = self.moto_app(env, start_response)
        try:
            out = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return int(captured["status"].split()[0]), list(captured["headers"]), out

    def moto_json(self, environ, body):
        """moto's answer as JSON; its errors are re-raised as the peer's (JSON 1.1 shaped)."""
        status, headers, out = self.call_moto(environ, body)
        if status != 200:
            try:
                doc = json.loads(out)
            except ValueError:
                doc = {"__type": "InternalServerException", "message": out.decode(errors="replace")}
            raise AwsError(doc.get("__type", "InternalServerException").split("#")[-1],
                           doc.get("message") or doc.get("Message") or "", status,
                           {k: v for k, v in doc.items() if k not in ("__type", "message", "Message")})
        return json.loads(out or b"{}")

    def check_clock(self, headers):
        stamp = headers.get("X-Amz-Date")
        if not stamp:
            return
        try:
            t = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            raise AwsError("IncompleteSignatureException", f"Date must be in ISO-8601 'basic format'. Got '{stamp}'") from None
        now, skew = self.clock(), float(self.faults["max_skew"])
        if t < now - skew:
            self.stats["skew_rejections"] += 1
            raise AwsError("InvalidSignatureException", f"Signature expired: {stamp} is now earlier than "
                           f"{amz_date(now - skew)} ({amz_date(now)} - {int(skew // 60)} min.)", 403)
        if t > now + skew:
            self.stats["skew_rejections"] += 1
            raise AwsError("InvalidSignatureException", f"Signature not yet current: {stamp} is still later than "
                           f"{amz_date(now + skew)} ({amz_date(now)} + {int(skew // 60)} min.)", 403)

    def check_auth(self, environ, headers, body, op):
        """SigV4 and IAM policy, by moto's own IAMRequest (the class moto's responses use)."""
        auth = headers.get("Authorization")
        if not auth or "Credential=" not in auth:
            raise AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
        path = environ.get("PATH_INFO", "/") or "/"
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        key = re.search(r"Credential=([^/]+)/", auth)
        try:
            req = IAMRequest(account_id=get_account_id_from(key.group(1) if key else ""), method=environ["REQUEST_METHOD"],
                             path=path, data={}, body=body, headers=headers, action=op)
            req.check_signature()
            req.check_action_permitted("*")
        except Exception as ex:  # moto's RESTError subclasses, rendered as AWS JSON 1.1 services render them
            code = getattr(ex, "error_type", None)
            message = getattr(ex, "message", str(ex))
            if code == "AccessDenied":
                self.stats["access_denied_sent"] += 1
                raise AwsError("AccessDeniedException", message, 400) from None
            if code == "InvalidClientTokenId":
                self.stats["signature_errors_sent"] += 1
                raise AwsError("UnrecognizedClientException", message, 403) from None
            if code == "SignatureDoesNotMatch":
                self.stats["signature_errors_sent"] += 1
                raise AwsError("InvalidSignatureException", message, 403) from None
            raise

    def throttled(self, reason, message, service):
        self.stats["throttles_sent"] += 1
        self.stats["throttles_by_reason"][reason] = self.stats["throttles_by_reason"].get(reason, 0) + 1
        extra = {"RetryAfterSeconds": 1} if service == "identitystore" else {}
        return AwsError("ThrottlingException", message, 400, extra)

    def check_throttle(self, service, op):
        rate = float(self.faults["rate"] if service == "sso-admin" else
                     self.faults["identitystore_rate"] if service == "identitystore" else 0)
        limited = service != "sso-admin" or not self.faults["rate_ops"] or op in self.faults["rate_ops"]
        if rate > 0 and limited:
            burst = float(self.faults["burst"]) or max(rate, 1.0)
            now = time.monotonic()
            tokens = self.tokens.get(service)
            tokens = burst if tokens is None else min(burst, tokens + (now - self.bucket_time[service]) * rate)
            self.bucket_time[service] = now
            if tokens < 1:
                self.tokens[service] = tokens
                raise self.throttled("rate", "Rate exceeded", service)
            self.tokens[service] = tokens - 1
        every = int(self.faults["list_throttle_every"])
        ops = self.faults["list_throttle_ops"]
        if every > 0 and op.startswith("List") and service in ("sso-admin", "identitystore") and (not ops or op in ops):
            self.n_list += 1
            if self.n_list % every == 0:
                raise self.throttled("list", "Rate exceeded", service)

    def conflict(self, principal_id, creating):
        if principal_id in self.faults["conflict_principals"]:
            hit = True
        else:
            hit = False
            every = int(self.faults["conflict_every"])
            if creating and every > 0:
                self.n_conflict += 1
                hit = self.n_conflict % every == 0
        if hit:
            self.stats["conflicts_sent"] += 1
            raise AwsError("ConflictException", CONFLICT_MESSAGE)

    # ---- the async life of account assignment operations -------------------------------------------------------
    def tick(self):
        now = time.time()
        for o in self.ops.values():
            if o["Status"] != "IN_PROGRESS" or now < o["_due"]:
                continue
            a = o["_assignment"]
            if o["_kind"] == "create":
                if o["_fail"]:
                    o["Status"], o["FailureReason"] = "FAILED", o["_fail"]
                    self.stats["failures_sent"] += 1
                    continue
                self.ssoadmin.create_account_assignment(self.instance_arn, a["TargetId"], "AWS_ACCOUNT",
                                                        a["PermissionSetArn"], a["PrincipalType"], a["PrincipalId"])
                self.provisioned.setdefault(a["PermissionSetArn"], set()).add(a["TargetId"])
                o["Status"] = "SUCCEEDED"
            else:
                existing = [x for x in self.ssoadmin.account_assignments
                            if (x.target_id, x.permission_set_arn, x.principal_type, x.principal_id) ==
                            (a["TargetId"], a["PermissionSetArn"], a["PrincipalType"], a["PrincipalId"])]
                if not existing:
                    o["Status"], o["FailureReason"] = "FAILED", "EntitlementItem doesn't exist"
                    self.stats["failures_sent"] += 1
                    continue
                for x in existing:  # duplicates (AWS accepts repeated creates) go together
                    self.ssoadmin.account_assignments.remove(x)
                o["Status"] = "SUCCEEDED"

    def assignment_args(self, p):
        self.check_instance(p)
        if p.get("TargetType", "AWS_ACCOUNT") != "AWS_ACCOUNT":
            raise AwsError("ValidationException", "TargetType must be AWS_ACCOUNT")
        for field in ("TargetId", "PermissionSetArn", "PrincipalType", "PrincipalId"):
            if not p.get(field):
                raise AwsError("ValidationException", f"{field} is required")
        if p["PrincipalType"] not in ("USER", "GROUP"):
            raise AwsError("ValidationException", "PrincipalType must be USER or GROUP")
        if p["TargetId"] not in self.accounts:
            raise AwsError("ValidationException", f"Account {p['TargetId']} is not a member of the organization")
        self.permission_set(p["PermissionSetArn"])
        return {k: p[k] for k in ("TargetId", "PermissionSetArn", "PrincipalType", "PrincipalId")}

    def check_instance(self, p):
        if p.get("InstanceArn") != self.instance_arn:
            raise AwsError("ResourceNotFoundException", f"Instance {p.get('InstanceArn')} does not exist")

    def permission_set(self, arn):
        for ps in self.ssoadmin.permission_sets:
            if ps.permission_set_arn == arn:
                return ps
        raise AwsError("ResourceNotFoundException", f"PermissionSet {arn} does not exist")

    def start_operation(self, a, kind):
        if self.outstanding() >= int(self.faults["max_outstanding"]):
            raise self.throttled("outstanding", TOO_MANY_PROCESSING, "sso-admin")
        self.conflict(a["PrincipalId"], kind == "create")
        fail = None
        if kind == "create":
            self.n_creates += 1
            every = int(self.faults["fail_every"])
            if every > 0 and self.n_creates % every == 0:
                fail = self.faults["fail_reason"]
            for rule in self.faults["fail"]:
                if all(rule.get(k) in (None, a[f]) for k, f in (("principal_id", "PrincipalId"),
                                                                 ("permission_set_arn", "PermissionSetArn"),
                                                                 ("account_id", "TargetId"))):
                    fail = rule.get("reason") or self.faults["fail_reason"]
        rid = str(uuid.uuid4())
        now = time.time()
        o = {"Status": "IN_PROGRESS", "RequestId": rid, "CreatedDate": now, "TargetType": "AWS_ACCOUNT", **a,
             "_kind": kind, "_due": now + float(self.faults["provision_delay"]), "_fail": fail, "_assignment": a}
        self.ops[rid] = o
        key = f"{a['PrincipalId']}|{a['TargetId']}|{a['PermissionSetArn']}"
        counts = self.stats["creates" if kind == "create" else "deletes"]
        counts[key] = counts.get(key, 0) + 1
        self.stats["max_outstanding_seen"] = max(self.stats["max_outstanding_seen"], self.outstanding())
        return self.status_view(o, with_failure=False)

    @staticmethod
    def status_view(o, with_failure=True):
        v = {k: val for k, val in o.items() if not k.startswith("_")}
        if not with_failure:
            v.pop("FailureReason", None)
        return v

    def op_ssoadmin_CreateAccountAssignment(self, p, *_):
        a = self.assignment_args(p)
        if not self.principal_exists(a["PrincipalType"], a["PrincipalId"]):
            raise AwsError("ResourceNotFoundException",
                           f"{a['PrincipalType']} {a['PrincipalId']} does not exist in identity store {self.store_id}")
        return {"AccountAssignmentCreationStatus": self.start_operation(a, "create")}

    def op_ssoadmin_DeleteAccountAssignment(self, p, *_):
        a = self.assignment_args(p)
        return {"AccountAssignmentDeletionStatus": self.start_operation(a, "delete")}

    def describe_status(self, p, kind):
        self.check_instance(p)
        field = "AccountAssignmentCreationRequestId" if kind == "create" else "AccountAssignmentDeletionRequestId"
        o = self.ops.get(p.get(field) or "")
        if o is None or o["_kind"] != kind:
            raise AwsError("ResourceNotFoundException", f"Request {p.get(field)} does not exist")
        return self.status_view(o)

    def op_ssoadmin_DescribeAccountAssignmentCreationStatus(self, p, *_):
        return {"AccountAssignmentCreationStatus": self.describe_status(p, "create")}

    def op_ssoadmin_DescribeAccountAssignmentDeletionStatus(self, p, *_):
        return {"AccountAssignmentDeletionStatus": self.describe_status(p, "delete")}

    def list_status(self, p, kind, key):
        self.check_instance(p)
        if self.faults["finish_on_status_list"]:
            for o in self.ops.values():
                if o["Status"] == "IN_PROGRESS":
                    o["_due"] = 0.0
            self.tick()
        want = (p.get("Filter") or {}).get("Status")
        items = [{"Status": o["Status"], "RequestId": o["RequestId"], "CreatedDate": o["CreatedDate"]}
                 for o in self.ops.values() if o["_kind"] == kind and (want is None or o["Status"] == want)]
        return page(items, p, key)

    def op_ssoadmin_ListAccountAssignmentCreationStatus(self, p, *_):
        return self.list_status(p, "create", "AccountAssignmentsCreationStatus")

    def op_ssoadmin_ListAccountAssignmentDeletionStatus(self, p, *_):
        return self.list_status(p, "delete", "AccountAssignmentsDeletionStatus")

    def op_ssoadmin_ListAccountsForProvisionedPermissionSet(self, p, *_):
        self.check_instance(p)
        self.permission_set(p.get("PermissionSetArn"))
        accounts = sorted(self.provisioned.get(p["PermissionSetArn"], set()))
        return page(accounts, p, "AccountIds")

    def op_ssoadmin_ProvisionPermissionSet(self, p, *_):
        self.check_instance(p)
        self.permission_set(p.get("PermissionSetArn"))
        targets = self.accounts if p.get("TargetType") == "ALL_PROVISIONED_ACCOUNTS" else [p.get("TargetId")]
        targets = [t for t in targets if t]
        self.provisioned.setdefault(p["PermissionSetArn"], set()).update(targets)
        return {"PermissionSetProvisioningStatus": {"Status": "SUCCEEDED", "RequestId": str(uuid.uuid4()),
                                                    "PermissionSetArn": p["PermissionSetArn"],
                                                    "AccountId": targets[0] if len(targets) == 1 else None,
                                                    "CreatedDate": time.time()}}

    # ---- applications (moto 5.2.1 has none of these) -----------------------------------------------------------
    def make_application(self, name, provider="arn:aws:sso::aws:applicationProvider/custom", description=""):
        arn = f"arn:aws:sso::{self.management_account_id}:application/{self.instance_arn.rsplit('/', 1)[-1]}/" \
              f"{new_id('apl-', 16)}"
        self.apps[arn] = {"ApplicationArn": arn, "ApplicationProviderArn": provider, "Name": name,
                          "ApplicationAccount": self.management_account_id, "InstanceArn": self.instance_arn,
                          "Status": "ENABLED", "Description": description, "CreatedDate": time.time(),
                          "PortalOptions": {"Visibility": "ENABLED"}}
        return arn

    def application(self, arn):
        if arn not in self.apps:
            raise AwsError("ResourceNotFoundException", f"Application {arn} does not exist")
        return self.apps[arn]

    def op_ssoadmin_CreateApplication(self, p, *_):
        self.check_instance(p)
        if not p.get("Name") or not p.get("ApplicationProviderArn"):
            raise AwsError("ValidationException", "Name and ApplicationProviderArn are required")
        arn = self.make_application(p["Name"], p["ApplicationProviderArn"], p.get("Description", ""))
        return {"ApplicationArn": arn}

    def op_ssoadmin_DeleteApplication(self, p, *_):
        self.application(p.get("ApplicationArn"))
        del self.apps[p["ApplicationArn"]]
        self.app_assignments = [x for x in self.app_assignments if x["ApplicationArn"] != p["ApplicationArn"]]
        return {}

    def op_ssoadmin_ListApplications(self, p, *_):
        self.check_instance(p)
        f = p.get("Filter") or {}
        apps = [a for a in self.apps.values()
                if f.get("ApplicationAccount") in (None, a["ApplicationAccount"])
                and f.get("ApplicationProvider") in (None, a["ApplicationProviderArn"])]
        return page(apps, p, "Applications")

    def op_ssoadmin_DescribeApplication(self, p, *_):
        return dict(self.application(p.get("ApplicationArn")))

    def op_ssoadmin_ListApplicationAssignments(self, p, *_):
        self.application(p.get("ApplicationArn"))
        return page([x for x in self.app_assignments if x["ApplicationArn"] == p["ApplicationArn"]], p,
                    "ApplicationAssignments")

    def op_ssoadmin_ListApplicationAssignmentsForPrincipal(self, p, *_):
        self.check_instance(p)
        want = (p.get("Filter") or {}).get("ApplicationArn")
        items = [x for x in self.app_assignments if x["PrincipalId"] == p.get("PrincipalId")
                 and x["PrincipalType"] == p.get("PrincipalType") and want in (None, x["ApplicationArn"])]
        return page(items, p, "ApplicationAssignments")

    def app_assignment_args(self, p):
        self.application(p.get("ApplicationArn"))
        if p.get("PrincipalType") not in ("USER", "GROUP") or not p.get("PrincipalId"):
            raise AwsError("ValidationException", "PrincipalId and PrincipalType (USER or GROUP) are required")
        return {"ApplicationArn": p["ApplicationArn"], "PrincipalId": p["PrincipalId"],
                "PrincipalType": p["PrincipalType"]}

    def op_ssoadmin_CreateApplicationAssignment(self, p, *_):
        a = self.app_assignment_args(p)
        if not self.principal_exists(a["PrincipalType"], a["PrincipalId"]):
            raise AwsError("ResourceNotFoundException",
                           f"{a['PrincipalType']} {a['PrincipalId']} does not exist in identity store {self.store_id}")
        self.conflict(a["PrincipalId"], True)
        key = f"{a['PrincipalId']}|{a['ApplicationArn']}"
        self.stats["application_creates"][key] = self.stats["application_creates"].get(key, 0) + 1
        if a not in self.app_assignments:
            self.app_assignments.append(a)
        return {}

    def op_ssoadmin_DeleteApplicationAssignment(self, p, *_):
        a = self.app_assignment_args(p)
        self.conflict(a["PrincipalId"], False)
        if a not in self.app_assignments:
            raise AwsError("ResourceNotFoundException", "The application assignment does not exist")
        self.app_assignments.remove(a)
        return {}

    # ---- identitystore: ExternalIds and slow provisioning over moto's answers ---------------------------------
    def not_found(self, kind):
        return AwsError("ResourceNotFoundException", f"{kind} not found.", extra={"ResourceType": kind})

    def get_principal_id(self, p, environ, body, kind):
        alt = p.get("AlternateIdentifier") or {}
        key = "UserId" if kind == "USER" else "GroupId"
        if "ExternalId" in alt:
            want = alt["ExternalId"] or {}
            pool = self.store().users if kind == "USER" else self.store().groups
            for pid in pool:
                if any(e.get("Issuer") == want.get("Issuer") and e.get("Id") == want.get("Id")
                       for e in self.ext_ids.get(pid, [])) and self.visible(pid):
                    return {key: pid, "IdentityStoreId": self.store_id}
            raise self.not_found(kind)
        out = self.moto_json(environ, body)
        if not self.visible(out.get(key)):
            raise self.not_found(kind)
        return out

    def op_identitystore_GetUserId(self, p, environ, body):
        return self.get_principal_id(p, environ, body, "USER")

    def op_identitystore_GetGroupId(self, p, environ, body):
        return self.get_principal_id(p, environ, body, "GROUP")

    def with_ext(self, record, key):
        record = dict(record)
        record["ExternalIds"] = self.ext_ids.get(record.get(key), [])
        return {k: v for k, v in record.items() if v is not None and v != [] or k == "ExternalIds"}

    def op_identitystore_DescribeUser(self, p, environ, body):
        if not self.visible(p.get("UserId")):
            raise self.not_found("USER")
        return self.with_ext(self.moto_json(environ, body), "UserId")

    def op_identitystore_DescribeGroup(self, p, environ, body):
        if not self.visible(p.get("GroupId")):
            raise self.not_found("GROUP")
        return self.with_ext(self.moto_json(environ, body), "GroupId")

    def op_identitystore_ListUsers(self, p, environ, body):
        out = self.moto_json(environ, body)
        out["Users"] = [self.with_ext(u, "UserId") for u in out.get("Users", []) if self.visible(u["UserId"])]
        return out

    def op_identitystore_ListGroups(self, p, environ, body):
        out = self.moto_json(environ, body)
        out["Groups"] = [self.with_ext(g, "GroupId") for g in out.get("Groups", []) if self.visible(g["GroupId"])]
        return out

    def filter_memberships(self, environ, body):
        out = self.moto_json(environ, body)
        out["GroupMemberships"] = [m for m in out.get("GroupMemberships", [])
                                   if self.visible(m["GroupId"]) and self.visible(m["MemberId"].get("UserId"))]
        return out

    def op_identitystore_ListGroupMemberships(self, p, environ, body):
        return self.filter_memberships(environ, body)

    def op_identitystore_ListGroupMembershipsForMember(self, p, environ, body):
        return self.filter_memberships(environ, body)

    # ---- control API ------------------------------------------------------------------------------------------
    def control(self, environ, path):
        if environ.get("REMOTE_ADDR") not in ("127.0.0.1", "::1"):
            return 403, [("Content-Type", "application/json")], b'{"error": "loopback only"}'
        method = environ["REQUEST_METHOD"]
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))

        def ok(doc, status=200):
            return status, [("Content-Type", "application/json")], json.dumps(doc).encode()

        try:
            doc = json.loads(raw) if raw.strip() else {}
        except ValueError as ex:
            return ok({"error": f"invalid JSON: {ex}"}, 400)
        with self.lock:
            self.tick()
            if (method, path) == ("GET", "/health"):
                return ok({"ok": True})
            if (method, path) == ("GET", "/stats"):
                return ok(self.stats_view())
            if (method, path) == ("POST", "/reset-stats"):
                self.reset_stats()
                return ok(self.stats_view())
            if (method, path) == ("GET", "/faults"):
                return ok(self.faults)
            if (method, path) == ("POST", "/faults"):
                err = self.set_faults(doc)
                return ok({"error": err}, 400) if err else ok(self.faults)
            if (method, path) == ("POST", "/switch-source"):
                return ok(self.switch_source())
        return ok({"error": f"no such control endpoint: {method} /_peer{path}"}, 404)

    def stats_view(self):
        s = copy.deepcopy(self.stats)
        s["outstanding"] = self.outstanding()
        s["duplicate_creates"] = {k: n for k, n in s["creates"].items() if n > 1}
        s["duplicate_application_creates"] = {k: n for k, n in s["application_creates"].items() if n > 1}
        return s

    def set_faults(self, doc):
        if not isinstance(doc, dict):
            return "expected a JSON object"
        new = copy.deepcopy(FAULT_DEFAULTS) if doc.get("replace") else copy.deepcopy(self.faults)
        for k, v in doc.items():
            if k == "replace":
                continue
            if k not in FAULT_DEFAULTS:
                return f"unknown fault key {k!r}; known: {', '.join(FAULT_DEFAULTS)}"
            want = type(FAULT_DEFAULTS[k])
            if want is float and isinstance(v, (int, float)) and not isinstance(v, bool):
                v = float(v)
            if not isinstance(v, want) or (want is not bool and isinstance(v, bool)):
                return f"fault {k!r} must be a {want.__name__}"
            new[k] = v
        self.faults = new
        self.reset_counters()
        return None

    def switch_source(self):
        old = self.store_id
        self.idstore_backend.identity_stores.pop(old, None)
        self.instance.identity_store_id = new_id("d-", 10)
        self.ssoadmin.account_assignments.clear()
        self.ssoadmin.deleted_account_assignments.clear()
        self.ops.clear()
        self.provisioned.clear()
        self.app_assignments.clear()
        for m in (self.ext_ids, self.scim_users, self.scim_groups, self.visible_at, self.seq):
            m.clear()
        return {"old_identity_store_id": old, "identity_store_id": self.store_id, "instance_arn": self.instance_arn}

    # ---- SCIM 2.0 front (AWS's rules), over moto's identitystore backend ---------------------------------------
    def scim(self, environ, path):
        method = environ["REQUEST_METHOD"]
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        query = {}
        for k, v in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True):
            query[k] = v
        base = f"http://{environ.get('HTTP_HOST', '127.0.0.1')}/scim/v2"
        with self.lock:
            self.tick()
            route = method + " " + re.sub(r"^/(Users|Groups)/[^/]+$", r"/\1/{id}", path)
            self.stats["scim_requests"][route] = self.stats["scim_requests"].get(route, 0) + 1
            try:
                if environ.get("HTTP_AUTHORIZATION", "") != f"Bearer {self.scim_token}":
                    raise ScimError(401, "Unauthorized")
                body = json.loads(raw) if raw.strip() else {}
                status, doc = self.scim_route(method, path, query, body, base)
            except ScimError as e:
                status = e.status
                doc = e.body or {"schemas": [SCIM_ERROR], "status": str(e.status), "detail": e.detail,
                                 **({"scimType": e.scim_type} if e.scim_type else {})}
            except ValueError as e:
                status, doc = 400, {"schemas": [SCIM_ERROR], "status": "400", "detail": f"Invalid JSON: {e}"}
        if doc is None:
            return status, [], b""
        return status, [("Content-Type", "application/scim+json")], json.dumps(doc).encode()

    def scim_route(self, method, path, query, body, base):
        m = re.fullmatch(r"/(Users|Groups)(?:/([^/]+))?/?", path)
        if path in ("/ServiceProviderConfig", "/ServiceProviderConfig/") and method == "GET":
            return 200, {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                         "patch": {"supported": True}, "bulk": {"supported": False, "maxOperations": 0,
                                                                "maxPayloadSize": 0},
                         "filter": {"supported": True, "maxResults": SCIM_PAGE_MAX},
                         "changePassword": {"supported": False}, "sort": {"supported": False},
                         "etag": {"supported": False}, "authenticationSchemes": [
                             {"type": "oauthbearertoken", "name": "OAuth Bearer Token",
                              "description": "Authentication scheme using the OAuth Bearer Token Standard"}]}
        if not m:
            raise ScimError(404, "Endpoint not supported by this service provider")
        kind, rid = m.group(1), m.group(2)
        users = kind == "Users"
        if rid is None:
            if method == "GET":
                return 200, self.scim_list(users, query, base)
            if method == "POST":
                return 201, (self.scim_create_user(body, base) if users else self.scim_create_group(body, base))
        else:
            st = self.store()
            if rid not in (st.users if users else st.groups):
                raise ScimError(404, f"Resource {rid} not found")
            if method == "GET":
                return 200, (self.scim_user_view(rid, base) if users else self.scim_group_view(rid, base))
            if method == "DELETE":
                self.delete_principal(rid, users)
                return 204, None
            if method == "PUT":
                if not users:
                    raise ScimError(400, f"{AWS_UNPARSABLE} PUT is not supported on Groups; use PATCH")
                return 200, self.scim_put_user(rid, body, base)
            if method == "PATCH":
                if users:
                    return 200, self.scim_patch_user(rid, body, base)
                self.scim_patch_group(rid, body)
                return 204, None
        raise ScimError(405, f"{method} is not supported on {path}")

    @staticmethod
    def unparsable(detail):
        return ScimError(400, f"{AWS_UNPARSABLE} {detail}", "invalidValue")

    @staticmethod
    def duplicate(reason):
        return ScimError(409, reason, body={"schema": [SCIM_ERROR], "schemas": [SCIM_ERROR],
                                            "detail": "Refused to create a new, duplicate resource.",
                                            "status": "409", "exceptionRequestId": str(uuid.uuid4()),
                                            "timeStamp": formatdate(time.time(), usegmt=True), "peerDetail": reason})

    # Users -------------------------------------------------------------------------------------------------------
    def check_user(self, r, uid):
        for path, v in (("userName", r.get("userName")), ("displayName", r.get("displayName")),
                        ("name.givenName", (r.get("name") or {}).get("givenName")),
                        ("name.familyName", (r.get("name") or {}).get("familyName"))):
            if not isinstance(v, str) or not v.strip():
                raise self.unparsable(f"Missing required attribute '{path}'")
        for multi in ("emails", "addresses", "phoneNumbers"):
            if len(r.get(multi) or []) > 1:
                raise self.unparsable(f"Attribute '{multi}' accepts at most one value")
        emails = r.get("emails") or []
        if len(emails) == 1 and emails[0].get("primary") is not True:
            raise self.unparsable("The email must be marked primary")
        st = self.store()
        for other_id, other in st.users.items():
            if other_id == uid:
                continue
            if other.UserName.lower() == r["userName"].lower():
                raise self.duplicate(f"userName '{r['userName']}' already exists (id {other_id})")
            mine = emails[0]["value"].lower() if emails and emails[0].get("value") else None
            theirs = [e.get("Value", "").lower() for e in other.Emails or [] if e.get("Primary")]
            if mine and mine in theirs:
                raise self.duplicate(f"primary email '{mine}' already exists (id {other_id})")

    @staticmethod
    def canonical_user(body):
        known = {k.lower(): k for k in ("userName", "displayName", "name", "emails", "addresses", "phoneNumbers",
                                        "nickName", "profileUrl", "title", "userType", "preferredLanguage", "locale",
                                        "timezone", "active", "externalId", "schemas", ENTERPRISE, "id", "meta",
                                        "groups", "password", "ims", "photos", "x509Certificates", "entitlements")}
        return {known.get(k.lower(), k): v for k, v in body.items()}

    def write_user(self, uid, r, base):
        st = self.store()
        r = {k: v for k, v in r.items() if k not in ("id", "meta", "groups")}
        r.setdefault("schemas", [SCIM_USER_SCHEMA])
        name = r.get("name") or {}

        def mv(values, fields):
            return [{f[0].upper() + f[1:]: v.get(f) for f in fields if v.get(f) is not None} for v in values or []]

        emails = [{"Value": e.get("value"), "Type": e.get("type"), "Primary": bool(e.get("primary"))}
                  for e in r.get("emails") or []]
        st.users[uid] = User(uid, self.store_id, r["userName"],
                             Name(name.get("formatted"), name.get("familyName"), name.get("givenName"),
                                  name.get("middleName"), name.get("honorificPrefix"), name.get("honorificSuffix")),
                             r.get("displayName"), r.get("nickName"), r.get("profileUrl"), emails,
                             mv(r.get("addresses"), ("streetAddress", "locality", "region", "postalCode", "country",
                                                     "formatted", "type", "primary")),
                             mv(r.get("phoneNumbers"), ("value", "type", "primary")), r.get("userType"),
                             r.get("title"), r.get("preferredLanguage"), r.get("locale"), r.get("timezone"))
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        created = (self.scim_users.get(uid) or {}).get("meta", {}).get("created", now)
        r["meta"] = {"resourceType": "User", "created": created, "lastModified": now}
        self.scim_users[uid] = r
        self.ext_ids[uid] = [{"Issuer": SCIM_ISSUER, "Id": r["externalId"]}] if r.get("externalId") else []
        self.ordinal(uid)
        return self.scim_user_view(uid, base)

    def scim_user_view(self, uid, base):
        r = self.scim_users.get(uid)
        if r is None:  # made through the identitystore API: what SCIM can say of it
            u = self.store().users[uid]
            r = {"schemas": [SCIM_USER_SCHEMA], "userName": u.UserName, "displayName": u.DisplayName,
                 "name": {"givenName": u.Name.GivenName, "familyName": u.Name.FamilyName} if u.Name else {},
                 "emails": [{"value": e.get("Value"), "type": e.get("Type"), "primary": bool(e.get("Primary"))}
                            for e in u.Emails or []], "active": True,
                 "meta": {"resourceType": "User"}}
        out = copy.deepcopy(r)
        out["id"] = uid
        out["meta"]["location"] = f"{base}/Users/{uid}"
        return out

    def scim_create_user(self, body, base):
        r = self.canonical_user(body)
        for k in ("groups", "password", "ims", "photos", "x509Certificates", "entitlements"):
            if k in r:
                raise self.unparsable(f"Attribute '{k}' is not supported")
        self.check_user(r, None)
        uid = aws_principal_id()
        out = self.write_user(uid, r, base)
        if self.faults["principal_delay"] > 0:
            self.visible_at[uid] = time.time() + float(self.faults["principal_delay"])
        return out

    def scim_put_user(self, uid, body, base):
        r = self.canonical_user(body)
        for k in ("groups", "password", "ims", "photos", "x509Certificates", "entitlements"):
            if k in r:
                raise self.unparsable(f"Attribute '{k}' is not supported")
        self.check_user(r, uid)
        return self.write_user(uid, r, base)

    PATCHABLE = {"username", "active", "externalid", "displayname", "nickname", "profileurl", "title", "usertype",
                 "preferredlanguage", "locale", "timezone", "name", "emails", "addresses", "phonenumbers",
                 ENTERPRISE.lower()}

    def scim_patch_user(self, uid, body, base):
        ops = body.get("Operations")
        if not isinstance(ops, list) or not ops:
            raise self.unparsable("'Operations' is required")
        r = copy.deepcopy(self.scim_user_view(uid, base))
        touched = {"username": 0, "active": 0}
        for op in ops:
            o = str(op.get("op", "")).lower()
            path = op.get("path")
            if o not in ("add", "replace", "remove"):
                raise self.unparsable(f"Unsupported operation '{op.get('op')}'")
            if o == "remove" and not path:
                raise self.unparsable("'path' is required for remove")
            if o in ("add", "replace") and "value" not in op:
                raise self.unparsable(f"'value' is required for {o}")
            targets = [path] if path else list((op.get("value") or {}).keys())
            for p in targets:
                root = ENTERPRISE.lower() if p.lower().startswith(ENTERPRISE.lower()) else re.split(r"[.\[]", p.lower())[0]
                if root not in self.PATCHABLE:
                    raise self.unparsable(f"Attribute '{p}' cannot be changed")
                if root in touched:
                    touched[root] += 1
                    if o == "remove":
                        raise self.unparsable(f"Attribute '{p}' cannot be removed")
            if path:
                apply_path(r, path, o, op.get("value"))
            else:
                for k, v in op["value"].items():
                    apply_path(r, k, o, v)
        if touched["username"] > 1 or touched["active"] > 1:
            raise self.unparsable("At most one operation on 'userName' and on 'active' per request")
        r = self.canonical_user(r)
        self.check_user(r, uid)
        return self.write_user(uid, r, base)

    def delete_principal(self, pid, user):
        st = self.store()
        (st.users if user else st.groups).pop(pid, None)
        for mid in [mid for mid, m in st.group_memberships.items()
                    if (m["MemberId"].get("UserId") if user else m["GroupId"]) == pid]:
            del st.group_memberships[mid]
        for mp in (self.ext_ids, self.scim_users, self.scim_groups, self.visible_at, self.seq):
            mp.pop(pid, None)

    # Groups ------------------------------------------------------------------------------------------------------
    def scim_group_view(self, gid, base):
        g = self.store().groups[gid]
        side = self.scim_groups.get(gid, {})
        out = {"schemas": [SCIM_GROUP_SCHEMA], "id": gid, "displayName": g.DisplayName, "members": [],
               "meta": {"resourceType": "Group", **side.get("meta", {}), "location": f"{base}/Groups/{gid}"}}
        if side.get("externalId"):
            out["externalId"] = side["externalId"]
        return out

    def check_group_name(self, name, gid):
        if not isinstance(name, str) or not name.strip():
            raise self.unparsable("Missing required attribute 'displayName'")
        for other_id, other in self.store().groups.items():
            if other_id != gid and other.DisplayName.lower() == name.lower():
                raise self.duplicate(f"displayName '{name}' already exists (id {other_id})")

    def set_group(self, gid, name, external_id):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        side = self.scim_groups.setdefault(gid, {"meta": {"created": now}})
        side["meta"]["lastModified"] = now
        side["externalId"] = external_id
        ext = [{"Issuer": SCIM_ISSUER, "Id": external_id}] if external_id else []
        self.ext_ids[gid] = ext
        self.store().groups[gid] = Group(gid, name, ext, "", self.store_id)
        self.ordinal(gid)

    def member_ids(self, values):
        st = self.store()
        ids = []
        for m in values or []:
            v = m.get("value") if isinstance(m, dict) else None
            if not isinstance(v, str):
                raise self.unparsable("Each member needs a 'value'")
            if v in st.groups:
                raise self.unparsable(f"Member {v} is a group; groups cannot be members of groups")
            if v not in st.users:
                raise self.unparsable(f"Member {v} does not exist")
            ids.append(v)
        return ids

    def change_members(self, gid, adds, removes):
        st = self.store()
        have = {m["MemberId"]["UserId"]: mid for mid, m in st.group_memberships.items() if m["GroupId"] == gid}
        for uid in adds:
            if uid not in have:
                have[uid] = self.idstore_backend.create_group_membership(self.store_id, gid, {"UserId": uid})[0]
        for uid in removes:
            if uid in have:
                st.group_memberships.pop(have.pop(uid), None)

    def scim_create_group(self, body, base):
        body = {k[0].lower() + k[1:] if k.lower() in ("displayname", "externalid", "members") else k: v
                for k, v in body.items()}
        self.check_group_name(body.get("displayName"), None)
        members = body.get("members") or []
        if len(members) > MEMBER_CHANGES_MAX:
            raise self.unparsable(f"{len(members)} members in one request; at most {MEMBER_CHANGES_MAX} are allowed")
        ids = self.member_ids(members)
        gid = aws_principal_id()
        self.set_group(gid, body["displayName"], body.get("externalId"))
        self.change_members(gid, ids, [])
        if self.faults["principal_delay"] > 0:
            self.visible_at[gid] = time.time() + float(self.faults["principal_delay"])
        return self.scim_group_view(gid, base)

    def scim_patch_group(self, gid, body):
        ops = body.get("Operations")
        if not isinstance(ops, list) or not ops:
            raise self.unparsable("'Operations' is required")
        g = self.store().groups[gid]
        name, ext = g.DisplayName, self.scim_groups.get(gid, {}).get("externalId")
        adds, removes, changes = [], [], 0
        for op in ops:
            o = str(op.get("op", "")).lower()
            path = op.get("path") or ""
            value = op.get("value")
            items = [(path, value)] if path else list((value or {}).items()) if isinstance(value, dict) else []
            if not path and not isinstance(value, dict):
                raise self.unparsable("A path-less operation needs an object value")
            for p, v in items:
                lp = p.lower()
                by_filter = re.fullmatch(r'members\[\s*value\s+eq\s+"((?:[^"\\]|\\.)*)"\s*\]', p, re.I)
                if lp == "displayname" and o in ("add", "replace"):
                    name = v
                elif lp == "externalid":
                    ext = None if o == "remove" else v
                elif lp == "id" and not path:
                    continue
                elif lp == "members":
                    if o == "replace":
                        raise self.unparsable("Replacing all members is not supported")
                    if o == "remove" and not (isinstance(v, list) and v):
                        raise self.unparsable("Removing all members is not supported; name the members to remove")
                    values = v if isinstance(v, list) else [v]
                    changes += len(values)
                    (adds if o == "add" else removes).extend(
                        self.member_ids(values) if o == "add" else [m.get("value") for m in values])
                elif by_filter and o == "remove":
                    changes += 1
                    removes.append(unescape(by_filter.group(1)))
                else:
                    raise self.unparsable(f"Attribute '{p}' cannot be changed on a group")
        if changes > MEMBER_CHANGES_MAX:
            raise self.unparsable(f"{changes} membership changes in one request; at most {MEMBER_CHANGES_MAX} are allowed")
        self.check_group_name(name, gid)
        self.set_group(gid, name, ext)
        self.change_members(gid, adds, removes)

    # Lists -------------------------------------------------------------------------------------------------------
    def scim_list(self, users, query, base):
        st = self.store()
        pool = st.users if users else st.groups
        ids = list(pool)
        f = query.get("filter")
        if f is not None:
            terms = parse_filter(f)
            attrs = [a.lower() for a, _ in terms]
            allowed = ([["username"], ["externalid"], ["id"], ["groups.value"], ["id", "manager.value"]] if users else
                       [["displayname"], ["externalid"], ["id"], ["members.value"], ["id", "members.value"]])
            if attrs not in allowed:
                raise self.unparsable(f"Unsupported filter attributes '{' and '.join(attrs)}'")
            for attr, value in terms:
                ids = [i for i in ids if self.scim_matches(users, i, attr.lower(), value)]
        ids.sort(key=self.ordinal)
        total = len(ids)
        count = query.get("count")
        if count is not None:
            try:
                count = int(count)
            except ValueError:
                raise self.unparsable("'count' must be an integer") from None
            if count < 1 or count > 100:
                raise self.unparsable("'count' must be between 1 and 100")
        count = min(count or SCIM_PAGE_MAX, SCIM_PAGE_MAX)
        out = {"schemas": [SCIM_LIST], "totalResults": total}
        if "cursor" in query:
            if "startIndex" in query:
                raise self.unparsable("'cursor' and 'startIndex' cannot be combined")
            after = 0
            if query["cursor"]:
                try:
                    after = int(base64.urlsafe_b64decode(query["cursor"].encode() + b"==").decode())
                except Exception:
                    raise ScimError(400, f"{AWS_UNPARSABLE} Invalid cursor", "invalidCursor") from None
            rest = [i for i in ids if self.seq[i] > after]
            chosen = rest[:count]
            if len(rest) > count:
                out["nextCursor"] = base64.urlsafe_b64encode(str(self.seq[chosen[-1]]).encode()).decode().rstrip("=")
        else:
            try:
                start = max(int(query.get("startIndex") or 1), 1)
            except ValueError:
                raise self.unparsable("'startIndex' must be an integer") from None
            chosen = ids[start - 1:start - 1 + count]
            out["startIndex"] = start
        out["itemsPerPage"] = len(chosen)
        out["Resources"] = [self.scim_user_view(i, base) if users else self.scim_group_view(i, base) for i in chosen]
        return out

    def scim_matches(self, users, pid, attr, value):
        st = self.store()
        if attr == "id":
            return pid == value
        if attr == "externalid":
            side = self.scim_users.get(pid) if users else self.scim_groups.get(pid)
            return (side or {}).get("externalId") == value
        if attr == "username":
            return st.users[pid].UserName.lower() == value.lower()
        if attr == "displayname":
            return st.groups[pid].DisplayName.lower() == value.lower()
        if attr == "manager.value":
            return ((self.scim_users.get(pid) or {}).get(ENTERPRISE) or {}).get("manager", {}).get("value") == value
        if attr == "groups.value":
            return any(m["GroupId"] == value and m["MemberId"].get("UserId") == pid
                       for m in st.group_memberships.values())
        if attr == "members.value":
            return any(m["GroupId"] == pid and m["MemberId"].get("UserId") == value
                       for m in st.group_memberships.values())
        return False


def unescape(s):
    return re.sub(r"\\(.)", r"\1", s)


def parse_filter(f):
    """`attr eq "value"` terms joined by `and`: the only filters AWS's SCIM endpoint takes."""
    terms = []
    rest = f.strip()
    while True:
        m = re.match(r'([A-Za-z][\w.]*)\s+(\w+)\s+"((?:[^"\\]|\\.)*)"\s*', rest)
        if not m:
            raise Peer.unparsable(f"Unsupported filter '{f}': only '<attribute> eq \"<value>\"' joined by 'and'")
        if m.group(2).lower() != "eq":
            raise Peer.unparsable(f"Unsupported filter operator '{m.group(2)}': only 'eq' is supported")
        terms.append((m.group(1), unescape(m.group(3))))
        rest = rest[m.end():]
        if not rest:
            return terms
        m = re.match(r"and\s+", rest, re.I)
        if not m:
            raise Peer.unparsable(f"Unsupported filter '{f}': only '<attribute> eq \"<value>\"' joined by 'and'")
        rest = rest[m.end():]


def apply_path(r, path, op, value):
    """One SCIM PatchOp path on a user resource: attr, attr.sub, URN:attr[.sub], attr[sub eq "v"].sub."""
    container = r
    if path.lower().startswith(ENTERPRISE.lower()):
        container = r.setdefault(ENTERPRISE, {})
        path = path[len(ENTERPRISE):].lstrip(":")
        if not path:  # the whole extension
            if op == "remove":
                r.pop(ENTERPRISE, None)
            else:
                container.update(value)
            return
    m = re.fullmatch(r'(\w+)\[\s*(\w+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*\](?:\.(\w+))?', path)
    if m:
        items = container.setdefault(m.group(1), [])
        hits = [x for x in items if str(x.get(m.group(2))) == unescape(m.group(3))]
        if op == "remove" and not m.group(4):
            container[m.group(1)] = [x for x in items if x not in hits]
        elif m.group(4):
            if not hits and op != "remove":  # a new value for the filter, e.g. emails[type eq "work"].value
                items.append({m.group(2): unescape(m.group(3))})
                hits = [items[-1]]
            for x in hits:
                if op == "remove":
                    x.pop(m.group(4), None)
                else:
                    x[m.group(4)] = value
        return
    parts = path.split(".")
    for p in parts[:-1]:
        container = container.setdefault(p, {})
    leaf = parts[-1]
    key = next((k for k in container if k.lower() == leaf.lower()), leaf)
    if op == "remove":
        container.pop(key, None)
    elif op == "add" and isinstance(container.get(key), list) and isinstance(value, list):
        container[key] = container[key] + value
    else:
        container[key] = value


STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
               403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
               500: "Internal Server Error"}


class QuietHandler(WSGIRequestHandler):
    peer = None

    def date_time_string(self, timestamp=None):
        return formatdate(self.peer.clock() if self.peer else time.time(), usegmt=True)

    def log_request(self, *args, **kwargs):
        if os.environ.get("AWS_PEER_VERBOSE"):
            super().log_request(*args, **kwargs)


def setup(peer, url, args):
    """The peer's own setup, over HTTP while moto's auth is still off (INITIAL_NO_AUTH_ACTION_COUNT)."""
    def client(svc):
        return boto3.client(svc, region_name=args.region, endpoint_url=url,
                            aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="setup")

    iam = client("iam")
    with open(args.policy, encoding="utf-8") as f:
        policy = f.read()
    json.loads(policy)
    keys = {}
    for user, doc in (("admin", json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}]})), ("syncd", policy)):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName=f"{user}-policy", PolicyDocument=doc)
        keys[user] = iam.create_access_key(UserName=user)["AccessKey"]
    org = client("organizations")
    peer.management_account_id = org.create_organization(FeatureSet="ALL")["Organization"]["MasterAccountId"]
    peer.accounts = [peer.management_account_id]
    for i in range(args.accounts):
        status = org.create_account(Email=f"member{i + 1}@example.com", AccountName=f"member-{i + 1}")
        peer.accounts.append(status["CreateAccountStatus"]["AccountId"])
    sso = client("sso-admin")
    instance = sso.list_instances()["Instances"][0]
    peer.instance_arn = instance["InstanceArn"]
    for i in range(args.permission_sets):
        sso.create_permission_set(InstanceArn=peer.instance_arn, Name=f"PermissionSet{i + 1}")
    for i in range(args.applications):
        peer.make_application(f"Application{i + 1}")
    return keys


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="AWS test peer: moto + syncd's layer (see README.md)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--accounts", type=int, default=3, help="member accounts besides the management account")
    ap.add_argument("--permission-sets", type=int, default=0)
    ap.add_argument("--applications", type=int, default=0)
    ap.add_argument("--policy", default=os.path.join(here, "..", "..", "conf", "aws-iam-policy.json"),
                    help="the syncd user's IAM policy (default: conf/aws-iam-policy.json)")
    ap.add_argument("--scim-token", default=os.environ.get("AWS_PEER_SCIM_TOKEN"))
    ap.add_argument("--faults", default=os.environ.get("AWS_PEER_FAULTS", ""),
                    help="JSON object of fault knobs, as POST /_peer/faults takes")
    for k, v in FAULT_DEFAULTS.items():
        if isinstance(v, (int, float)):
            ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=None, dest=k)
    args = ap.parse_args()

    peer = Peer(args)
    faults = json.loads(args.faults) if args.faults else {}
    faults.update({k: getattr(args, k) for k in FAULT_DEFAULTS if getattr(args, k, None) is not None})
    err = peer.set_faults(faults)
    if err:
        ap.error(err)
    offset = float(peer.faults["clock_offset"])
    peer.faults["clock_offset"] = 0.0  # the setup signs with the true clock

    # Auth stays off for the setup below, then moto verifies every request from the first one after it.
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    QuietHandler.peer = peer
    srv = make_server("127.0.0.1", args.port, peer, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_port}"
    keys = setup(peer, url, args)
    with peer.lock:
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        peer.auth_enabled = True
        peer.faults["clock_offset"] = offset
        peer.reset_stats()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    print(json.dumps({
        "url": url, "scim_url": url + "/scim/v2", "scim_token": peer.scim_token, "region": args.region,
        "access_key_id": keys["syncd"]["AccessKeyId"], "secret_access_key": keys["syncd"]["SecretAccessKey"],
        "admin_access_key_id": keys["admin"]["AccessKeyId"],
        "admin_secret_access_key": keys["admin"]["SecretAccessKey"],
        "instance_arn": peer.instance_arn, "identity_store_id": peer.store_id, "accounts": peer.accounts[1:],
        "management_account_id": peer.management_account_id}), flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
