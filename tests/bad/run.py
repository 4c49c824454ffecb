#!/usr/bin/env python3
"""The bad-input corpus: every kind of damage keywatch must survive.

Each case writes a damaged input, then scans it followed by a good file.
Every case asserts: the exact exit status, that the exact message naming
the file (and line or byte offset) appears on stderr, that nothing crashed
(no signal, no sanitizer report) or hung (a timeout), and that the valid
request after the damage still raised its alert: in the same file where
the damage is one bad line, and always in the good file after it.

The corpus is made at run time (tests/bad/ holds no binary files).
usage: run.py KEYWATCH
"""
import base64
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HONEY_IN = "sk_live_51HxHoneyInsideTheBadFileK1n9"
HONEY_AFTER = "sk_live_51HxHoneyInTheGoodFileAfterQ4x7"
CONFIG = {"keys": [{"match": "sk_live_*K1n9", "name": "decoy-in", "honey": True},
                   {"match": "sk_live_*Q4x7", "name": "decoy-after", "honey": True}]}


def line(key, rid, **extra):
    d = {"id": rid, "created": 1795766400, "method": "GET", "path": "/v1/customers",
         "status": 200, "ip": "198.51.100.7", "api_key": key}
    d.update(extra)
    return (json.dumps(d, separators=(",", ":")) + "\n").encode()


def ct(key, eid):
    """A CloudTrail record by the documented shape, made by key."""
    return {"eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
                             "accessKeyId": key},
            "eventTime": "2026-11-27T08:00:00Z",
            "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
            "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
            "userAgent": "aws-cli/2.15", "eventID": eid,
            "eventType": "AwsApiCall"}


def gcp(key_name, **extra):
    """A GCP audit log entry by the documented LogEntry shape."""
    pp = {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
          "status": extra.pop("status", {}),
          "authenticationInfo": {"principalEmail": "sa@p1.iam.gserviceaccount.com",
                                 "serviceAccountKeyName": key_name},
          "requestMetadata": {"callerIp": extra.pop("ip", "198.51.100.7"),
                              "callerSuppliedUserAgent": "gcloud-python/3.14.1"},
          "serviceName": "storage.googleapis.com", "methodName": "storage.buckets.list",
          "resourceName": "projects/_/buckets"}
    d = {"protoPayload": pp, "insertId": "1q2w3e4r", "resource": {"type": "gcs_bucket"},
         "timestamp": "2026-11-27T08:00:00.123456Z", "severity": "INFO",
         "logName": "projects/p1/logs/cloudaudit.googleapis.com%2Fdata_access"}
    d.update(extra)
    return d


def gh(**extra):
    """A GitHub audit log event by the documented streaming shape."""
    d = {"@timestamp": 1795766400000, "_document_id": "Q2xvbmUtMDAwMQ", "action": "git.clone",
         "actor": "deploy-bot", "actor_ip": "198.51.100.7", "org": "example-org",
         "hashed_token": "Z/lQzBAZpiC5oxEhFOZnc5LJbqJUR8NupkojRls6hNY=",
         "programmatic_access_type": "Personal access token (classic)",
         "repo": "example-org/api", "user_agent": "git/2.43.0"}
    d.update(extra)
    return d


def js(d):
    return json.dumps(d, separators=(",", ":")).encode()


GOOD_IN = line(HONEY_IN, "req_inline")
GOOD_AFTER = line(HONEY_AFTER, "req_after")


def gz(data):
    return gzip.compress(data, mtime=0)


def gz_hcrc(data, good):
    """A gzip member with a file name and a header CRC (FHCRC), right or
    wrong (22 header bytes)."""
    head = bytes([0x1F, 0x8B, 8, 8 | 2]) + b"\0\0\0\0\0\3" + b"log.jsonl\0"
    crc = zlib.crc32(head) & 0xFFFF
    if not good:
        crc ^= 0x5A5A
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = raw.compress(data) + raw.flush()
    trailer = (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "little") + \
        (len(data) & 0xFFFFFFFF).to_bytes(4, "little")
    return head + crc.to_bytes(2, "little") + deflated + trailer


def zstd(data, tmp):
    src = os.path.join(tmp, "zstd.in")
    with open(src, "wb") as f:
        f.write(data)
    subprocess.run(["zstd", "-q", "-f", src, "-o", src + ".zst"], check=True)
    with open(src + ".zst", "rb") as f:
        return f.read()


def body(n=50):
    return b"".join(line("sk_live_51HxOrdinaryBackendKeyZ%03d" % (i % 7), "req_%05d" % i)
                    for i in range(n))


def cases(tmp):
    """(name, file bytes or None, expected rc, expected stderr text, whether
    the line after the damage in the same file must alert)"""
    rnd = random.Random(42)
    data = body(200) + GOOD_IN
    whole = gz(data)
    bad_crc = bytearray(whole)
    bad_crc[-8] ^= 0xFF  # first byte of the CRC32 trailer
    z = zstd(data, tmp)
    yield ("truncated.gz", whole[: len(whole) // 2], 3,
           "truncated.gz: byte offset %d: unexpected end of gzip stream (truncated)" % (len(whole) // 2), False)
    yield ("bad-crc.gz", bytes(bad_crc), 3,
           "bad-crc.gz: byte offset %d: gzip CRC or data error (incorrect data check)" % (len(whole) - 4), True)
    yield ("garbage-after.gz", whole + b"this is not gzip\n", 3,
           "garbage-after.gz: byte offset %d: garbage after the last gzip member" % len(whole), True)
    yield ("concatenated.gz", gz(body(10)) + gz(GOOD_IN), 0, None, True)
    # Both gzip builds (zlib, ISA-L) answer as `gzip -t` does: zero padding
    # to the end is accepted, zeros followed by anything are garbage, a
    # reserved header flag bit is refused, a header CRC (FHCRC) is checked.
    yield ("zero-padded.gz", whole + b"\0" * 10240, 0, None, True)
    yield ("zeros-then-junk.gz", whole + b"\0\0\0junk", 3,
           "zeros-then-junk.gz: byte offset %d: garbage after the last gzip member" % len(whole), True)
    yield ("reserved-flag.gz", whole[:3] + bytes([whole[3] | 0x40]) + whole[4:], 3,
           "reserved-flag.gz: byte offset 4: gzip CRC or data error (unknown header flags set)", False)
    yield ("header-crc.gz", gz_hcrc(data, good=True), 0, None, True)
    yield ("bad-header-crc.gz", gz_hcrc(data, good=False), 3,
           "bad-header-crc.gz: byte offset 22: gzip CRC or data error (header crc mismatch)", False)
    yield ("random.zst", b"\x28\xb5\x2f\xfd" + bytes(rnd.randrange(256) for _ in range(4096)), 3,
           "random.zst: byte offset", False)
    yield ("truncated.zst", z[: len(z) // 2], 3,
           "truncated.zst: byte offset %d: unexpected end of zstd stream (truncated)" % (len(z) // 2), False)
    yield ("noise.jsonl", body(3) + bytes(rnd.randrange(1, 256) for _ in range(3000)).replace(b"\n", b"") + b"\n" + GOOD_IN, 3,
           "noise.jsonl:4: invalid JSON at column 1", True)
    yield ("nul.jsonl", body(2) + b'{"id":"req_nul","created":1795766400,\x00"api_key":"x"}\n' + GOOD_IN, 3,
           "nul.jsonl:3: invalid JSON", True)
    yield ("long-line.jsonl", body(2) + b'{"pad":"' + b"a" * (5 << 20) + b'"}\n' + GOOD_IN, 3,
           "long-line.jsonl:3: line longer than 1048576 bytes skipped", True)
    yield ("deep.jsonl", body(1) + b'{"a":' * 100000 + b"1" + b"}" * 100000 + b"\n" + GOOD_IN, 3,
           "deep.jsonl:2: invalid JSON at column 10241: maximum depth exceeded", True)
    yield ("deep-array.json", b"[" * 100000 + b"]" * 100000 + b"\n", 3,
           "deep-array.json:1: invalid JSON at column 2049: maximum depth exceeded", False)
    yield ("bad-utf8.jsonl", b'{"id":"req_u","created":1795766400,"method":"GET","path":"/v1/\xc3\x28","status":200,"api_key":"sk_live_x"}\n' + GOOD_IN, 3,
           "bad-utf8.jsonl:1: invalid JSON", True)
    yield ("types.jsonl", line(HONEY_IN, "req_t1", status="200")
           + b'{"id":"req_t2","created":1795766400,"method":"GET","path":"/v1/x","status":200,"api_key":12345}\n'
           + GOOD_IN, 3, "types.jsonl:1: field 'status' is not an integer", True)
    yield ("time.jsonl", line(HONEY_IN, "req_t3", created="2026-13-45T00:00:00Z")
           + line(HONEY_IN, "req_t4", created=1e20) + GOOD_IN, 3,
           "time.jsonl:2: field 'created': impossible timestamp 1e+20", True)
    yield ("ip.jsonl", line(HONEY_IN, "req_t5", ip="999.1.2.3") + GOOD_IN, 3,
           "ip.jsonl:1: field 'ip': not an IP address", True)
    yield ("empty.jsonl", b"", 0, None, False)
    yield ("unterminated-array.json", b'[\n' + GOOD_IN.rstrip(b"\n") + b',\n  {"id": 1\n', 3,
           "unterminated-array.json:3: invalid JSON at column 9: unexpected end of input", True)
    # Nothing decided for a whole input from its first record (issue 9,
    # item 2): each valid record after an odd first line is still read.
    ct_in = js(ct(HONEY_IN, "req_inline"))
    yield ("first-line-cloudtrail.jsonl", js(ct("AKIAIOSFODNN7EXAMPLE", "ev-1")) + b"\n" + body(3) + GOOD_IN, 0,
           None, True)
    yield ("first-line-bracket.jsonl", b"[INFO] export started\n" + body(3) + GOOD_IN, 3,
           "first-line-bracket.jsonl:1: expected a value, found 'I'", True)
    yield ("first-line-date.jsonl", b"[2026-11-27 08:00:00] export started\n" + body(3) + GOOD_IN, 3,
           "first-line-date.jsonl:1: expected ',' or ']' after an array element, found '0'", True)
    yield ("first-line-array.json", b"[\n" + body(1).rstrip(b"\n") + b",\n" + body(2) + GOOD_IN, 3,
           "first-line-array.json:3: unterminated JSON array", True)
    yield ("first-line-records.jsonl",
           b'{"Records":[' + js(ct("AKIAIOSFODNN7EXAMPLE", "ev-1")) + b"]}\n" + body(3) + GOOD_IN, 0,
           None, True)
    yield ("records-not-first.json",
           b'{"digest":{"Records":[]},"Records":[' + js(ct("AKIAIOSFODNN7EXAMPLE", "ev-1")) + b"," + ct_in + b"]}", 0,
           None, True)
    yield ("records-two-lines.json",
           b'{"Records":[' + js(ct("AKIAIOSFODNN7EXAMPLE", "ev-1")) + b']}\n{"Records":[' + ct_in + b"]}\n", 0,
           None, True)
    yield ("records-concatenated.json.gz",
           gz(b'{"Records":[' + js(ct("AKIAIOSFODNN7EXAMPLE", "ev-1")) + b"]}") + gz(b'{"Records":[' + ct_in + b"]}"), 0,
           None, True)
    yield ("blank-start.jsonl", b"\n" * (2 << 20) + b" \t\r\n" * 1000 + GOOD_IN, 0, None, True)
    yield ("cloudtrail-inside.jsonl", body(2) + ct_in + b"\n" + body(2), 0, None, True)
    yield ("cut-line.jsonl", body(2) + b'{"id":"req_cut","created":\n' + GOOD_IN + body(1), 3,
           "cut-line.jsonl:3: invalid JSON at column 27: unexpected end of input", True)
    # Wrapped records, damaged (issue 10 item 3).
    eb = {"version": "0", "id": "6f7c1d3e-0000-4a5b-9c8d-000000000001",
          "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
          "account": "111122223333", "time": "2026-11-27T08:00:00Z",
          "region": "us-east-1", "resources": []}
    yield ("eventbridge-detail-not-object.jsonl", js(dict(eb, detail="oops")) + b"\n" + body(2) + GOOD_IN, 3,
           "eventbridge-detail-not-object.jsonl:1: no api_key field", True)
    bad_time = dict(ct("AKIAIOSFODNN7EXAMPLE", "ev-1"), eventTime="yesterday")
    yield ("eventbridge-bad-detail.jsonl", js(dict(eb, detail=bad_time)) + b"\n" + js(dict(eb, detail=ct(HONEY_IN, "req_inline"))) + b"\n", 3,
           "eventbridge-bad-detail.jsonl:1: field 'created' (eventTime): not an RFC 3339 time \"yesterday\"", True)
    logev = {"messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": "api", "logStream": "a",
             "subscriptionFilters": ["f"],
             "logEvents": [{"id": "1", "timestamp": 1795766400000, "message": 7},
                           {"id": "2", "timestamp": 1795766400000, "message": '{"broken'},
                           {"id": "3", "timestamp": 1795766400000, "message": GOOD_IN.decode().strip()}]}
    yield ("logevents-damaged.json.gz", gz(js(logev)), 3,
           "logevents-damaged.json.gz:1: logEvents element has no string 'message'", True)
    yield ("logevents-damaged-message.json.gz", gz(js(logev)), 3,
           "logevents-damaged-message.json.gz:1: invalid JSON at column 9: unterminated string", True)
    yield ("cloudwatch-export-damaged.log",
           b'2026-11-27T08:00:00.000Z {"eventVersion":\n2026-11-27T08:00:01.000Z ' + GOOD_IN, 3,
           "cloudwatch-export-damaged.log:1: invalid JSON at column 17: unexpected end of input", True)
    yield ("records-broken-element.json",
           b'{"Records":[' + js(ct("AKIAIOSFODNN7EXAMPLE", "ev-1")) + b',{"eventVersion" "1.08"},' + ct_in + b"]}", 3,
           "records-broken-element.json:1: invalid JSON at column 17: expected ':'", True)

    # GCP Cloud Audit Logs and GitHub's audit log, damaged (issue 10
    # item 7): each bad record named, the rest of the file read.
    key = "//iam.googleapis.com/projects/p1/serviceAccounts/sa@p1.iam.gserviceaccount.com/keys/"
    good_gcp = js(gcp(key + "3f9c1e0d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4d2e")) + b"\n"
    yield ("gcp-bad-key-name.json", good_gcp + js(gcp("sa@p1.iam.gserviceaccount.com")) + b"\n" + GOOD_IN, 3,
           "gcp-bad-key-name.json:2: field 'api_key' (protoPayload.authenticationInfo.serviceAccountKeyName) "
           "is not a service account key name (.../keys/KEY_ID)", True)
    yield ("gcp-bad-code.json", good_gcp + js(gcp(key + "k2", status={"code": 99})) + b"\n" + GOOD_IN, 3,
           "gcp-bad-code.json:2: field 'status' (protoPayload.status.code): not a google.rpc code 99", True)
    bq = {"logName": "projects/p1/logs/cloudaudit.googleapis.com%2Factivity",
          "protopayload_auditlog": {"authenticationInfo": {"serviceAccountKeyName": key + "k3"},
                                    "serviceName": "iam.googleapis.com", "methodName": "SetIamPolicy",
                                    "status": {"code": "7"}},
          "timestamp": "2026-11-27 08:00:00 PST", "insertId": "9z8x"}
    yield ("gcp-bigquery-bad-time.json", js(bq) + b"\n" + GOOD_IN, 3,
           "gcp-bigquery-bad-time.json:1: field 'created' (timestamp): not an RFC 3339 time "
           "\"2026-11-27 08:00:00 PST\"", True)
    yield ("gcloud-broken-element.json",
           b"[\n" + good_gcp.rstrip(b"\n") + b',\n{"protoPayload": {"@type" 1}},\n' + GOOD_IN.rstrip(b"\n") + b"\n]\n",
           3, "gcloud-broken-element.json:3: invalid JSON at column 27: expected ':'", True)
    yield ("github-bad-ip.jsonl", js(gh()) + b"\n" + js(gh(actor_ip="10.0.0.300")) + b"\n" + GOOD_IN, 3,
           "github-bad-ip.jsonl:2: field 'ip' (actor_ip): not an IP address \"10.0.0.300\"", True)
    yield ("github-bad-time.jsonl", js(gh(**{"@timestamp": "yesterday"})) + b"\n" + GOOD_IN, 3,
           "github-bad-time.jsonl:1: field 'created' (@timestamp): not an RFC 3339 time \"yesterday\"", True)
    yield ("github-keyless.jsonl", js({k: v for k, v in gh().items() if k != "hashed_token"}) + b"\n" + GOOD_IN, 0,
           None, True)

def header_line(auth, rid):
    """A gateway's request whose key is in an Authorization header."""
    d = {"id": rid, "created": 1795766400, "method": "GET", "path": "/v1/customers",
         "status": 200, "ip": "198.51.100.7", "headers": {"authorization": auth}}
    return (json.dumps(d, separators=(",", ":")) + "\n").encode()


def basic(user_pass):
    return "Basic " + base64.b64encode(user_pass).decode()


def header_cases():
    """Malformed Bearer and Basic credentials (issue 10 item 4): each is
    named by file and line, never quoted, and the next request is read.
    (name, form, the damaged header, expected message after the line)"""
    cases = [
        ("bearer-empty", "bearer", "Bearer ", "has an empty Bearer token"),
        ("bearer-other-scheme", "bearer", basic(HONEY_IN.encode() + b":"),
         "is not a Bearer credential"),
        ("bearer-no-scheme", "bearer", HONEY_IN, "is not a Bearer credential"),
        ("bearer-two-words", "bearer", "Bearer sk_live_51HxTwo Words",
         "has a Bearer token that is not one word of visible ASCII"),
        ("bearer-too-long", "bearer", "Bearer " + "A" * 5000,
         "is longer than 4096 bytes"),
        ("basic-empty", "basic", "Basic", "has empty Basic credentials"),
        ("basic-not-base64", "basic", "Basic sk_live_51Hx!notbase64",
         "has Basic credentials that are not base64"),
        ("basic-cut-base64", "basic", basic(HONEY_IN.encode() + b":")[:-3],
         "has Basic credentials that are not base64"),
        ("basic-no-colon", "basic", basic(HONEY_IN.encode()),
         "has Basic credentials without a ':' between user and password"),
        ("basic-empty-user", "basic", basic(b":" + HONEY_IN.encode()),
         "has Basic credentials with an empty user"),
        ("basic-control", "basic", basic(b"sk_live_\x01ctl:"),
         "contains a control character"),
        ("basic-other-scheme", "basic", "Bearer " + HONEY_IN,
         "is not a Basic credential"),
    ]
    for name, form, auth, msg in cases:
        fmt = (lambda k: "Bearer " + k) if form == "bearer" else \
            (lambda k: basic(k.encode() + b":"))
        data = header_line(auth, "req_bad") + header_line(fmt(HONEY_IN), "req_inline")
        yield (name + ".jsonl", data, 3,
               "%s.jsonl:1: field 'api_key' (headers.authorization) %s" % (name, msg),
               True, {"map": "api_key=headers.authorization|" + form,
                      "good": header_line(fmt(HONEY_AFTER), "req_after"),
                      "secrets": [auth, HONEY_IN]})
    # Not a string at all.
    yield ("bearer-not-string.jsonl",
           b'{"id":"req_bad","created":1795766400,"method":"GET","path":"/v1/x","status":200,"headers":{"authorization":["Bearer x"]}}\n'
           + header_line("Bearer " + HONEY_IN, "req_inline"), 3,
           "bearer-not-string.jsonl:1: field 'api_key' (headers.authorization) is not a string", True,
           {"map": "api_key=headers.authorization|bearer",
            "good": header_line("Bearer " + HONEY_AFTER, "req_after"), "secrets": []})


def run(keywatch, tmp, name, data, rc, msg, inline, opts=None):
    path = os.path.join(tmp, name)
    opts = opts or {}
    if data is not None:
        with open(path, "wb") as f:
            f.write(data)
    good = os.path.join(tmp, "good.jsonl")
    extra = []
    if "map" in opts:
        extra = ["--map", opts["map"]]
        good = os.path.join(tmp, "good-" + name)
        with open(good, "wb") as f:
            f.write(opts["good"])
    # The models are copied beside the corpus: the unreadable case runs as
    # nobody, who may not reach into the checkout (a clone under a 0700
    # folder).
    cmd = [keywatch, "scan", "-o", "json", "-m", os.path.join(tmp, "models"),
           "-c", os.path.join(tmp, "cfg.json")] + extra + [path, good]
    pre = []
    if name == "unreadable.jsonl" and os.geteuid() == 0:
        pre = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    try:
        p = subprocess.run(pre + cmd, capture_output=True, timeout=120, cwd=tmp,
                           env=dict(os.environ, KEYWATCH_NO_DEFAULT_GEOIP="1"))
    except subprocess.TimeoutExpired:
        return ["hung (timeout after 120 s)"]
    err = p.stderr.decode("utf-8", "replace")
    out = p.stdout.decode("utf-8", "replace")
    problems = []
    if p.returncode < 0:
        problems.append("killed by signal %d" % -p.returncode)
    if "runtime error" in err or "Sanitizer" in err:
        problems.append("sanitizer report")
    if p.returncode != rc:
        problems.append("exit status %d, expected %d" % (p.returncode, rc))
    if msg and msg not in err:
        problems.append("stderr lacks %r" % msg)
    if '"req_after"' not in out:
        problems.append("the good file after the damage raised no alert")
    if inline and '"req_inline"' not in out:
        problems.append("the valid line after the damage raised no alert")
    for secret in opts.get("secrets", []):
        # The damaged header, and the key in it, are never shown.
        for text in [secret.strip()] + secret.split():
            if len(text) >= 12 and (text in err or text in out):
                problems.append("output shows %r" % text[:12])
    if problems:
        problems.append("stderr was:\n" + err[-3000:])
    return problems


def main():
    keywatch = os.path.abspath(sys.argv[1])
    failed = passed = 0
    tmp = tempfile.mkdtemp()
    try:
        os.chmod(tmp, 0o755)
        with open(os.path.join(tmp, "cfg.json"), "w") as f:
            json.dump(CONFIG, f)
        with open(os.path.join(tmp, "good.jsonl"), "wb") as f:
            f.write(GOOD_AFTER)
        all_cases = list(cases(tmp))
        unreadable = os.path.join(tmp, "unreadable.jsonl")
        with open(unreadable, "wb") as f:
            f.write(GOOD_IN)
        os.chmod(unreadable, 0)
        for n in os.listdir(tmp):
            os.chmod(os.path.join(tmp, n), 0 if n == "unreadable.jsonl" else 0o644)
        shutil.copytree(os.path.join(ROOT, "models"), os.path.join(tmp, "models"))
        os.chmod(os.path.join(tmp, "models"), 0o755)
        all_cases.append(("unreadable.jsonl", None, 3,
                          "unreadable.jsonl: Permission denied", False))
        all_cases.append(("missing.jsonl", None, 3,
                          "missing.jsonl: No such file or directory", False))
        all_cases += list(header_cases())
        for name, data, rc, msg, inline, *opts in all_cases:
            problems = run(keywatch, tmp, name, data, rc, msg, inline,
                           opts[0] if opts else None)
            if problems:
                failed += 1
                print("FAIL %s: %s" % (name, "\n  ".join(problems)))
            else:
                passed += 1
                print("ok   %s" % name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
