#!/usr/bin/env python3
"""botocore's SigV4 signature of each request read from stdin.

Input: one JSON object per line:
  {"method", "url", "headers": [[name, value], ...], "body",
   "access_key_id", "secret_access_key", "session_token",
   "region", "service", "timestamp": "20150830T123600Z"}
Output: per input line, one line: the Authorization header botocore's
SigV4Auth computes for it. tests/unit/aws_sigv4_test.cc compares syncd's
signer (aws/sigv4.cc) with it on random requests.
"""
import datetime
import json
import sys
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials


def sign(spec):
    request = botocore.awsrequest.AWSRequest(
        method=spec["method"], url=spec["url"], data=spec["body"].encode("utf-8"))
    for name, value in spec["headers"]:
        request.headers[name] = value  # HTTPMessage appends: repeated names kept
    credentials = botocore.credentials.Credentials(
        spec["access_key_id"], spec["secret_access_key"], spec["session_token"] or None)
    now = datetime.datetime.strptime(spec["timestamp"], "%Y%m%dT%H%M%SZ")
    signer = botocore.auth.SigV4Auth(credentials, spec["service"], spec["region"])
    with mock.patch("botocore.auth.get_current_datetime", return_value=now):
        signer.add_auth(request)
    return request.headers["Authorization"]


def main():
    for line in sys.stdin:
        if line.strip():
            print(sign(json.loads(line)), flush=False)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
