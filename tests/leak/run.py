#!/usr/bin/env python3
"""No full API key appears in any output, and no request makes a big alert.

Outputs checked: stdout (json and text), stderr (warnings and the
summary), the --report file (text and HTML), the --state file, the file sink, a spool and
its lock (a webhook sink that cannot deliver), everything `watch` leaves in
its state directory (checkpoint, journal, learned state, spool) and
`keywatch check`.

The input holds every key kind (keywatch and CloudTrail formats, with every
anomaly planted; GCP and GitHub audit log records whose key is in every
text field), bad lines that carry keys in odd places (a key as the
timestamp, the IP, inside an invalid line), and requests that carry their
own key in every other field that reaches an alert: the path (as written
and percent-encoded), the request id, the origin, the user agent, and the
same through a field map (--map) from a log of another layout, and from
Authorization headers (Bearer and Basic: --map 'api_key=PATH|bearer'; the
header's credentials count as secrets too), for keys of
the known shapes and for a UUID-shaped key and a token with '/', '+' and
'=' that match no prefix rule. A test of the bound: a request with a 500 KB
user agent and a 100 KB path makes an alert of a few KB.

usage: run.py KEYWATCH KWGEN
"""
import base64
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

KEY_RE = re.compile(r'(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}|A[KS]IA[A-Z0-9]{16}')
# Keys that carry themselves in every field (decoys, so each alerts).
SELF_KEYS = ["sk_live_51HxSelfCarryingKeyAbCdEf0001",
             "rk_live_51HxSelfCarryingKeyAbCdEf0002",
             "3f1c9e2a-7b4d-4e8f-9a6c-1d2e3f4a5b6c",
             "tok/Self+Carrying/Secret=Value0003",
             "live-Self-Carrying-Key-Qwerty-Uiop"]
# Documented bounds (doc/alerts.md): one string from a request, one alert.
TEXT_MAX = 255
ALERT_MAX = 4096


def authorization(k, form):
    """The Authorization header that carries k in form."""
    if form == "bearer":
        return "Bearer " + k
    return "Basic " + base64.b64encode((k + ":").encode()).decode()


def self_carrying(f, mapped=False, header=None):
    """Requests whose every text field holds their own key; with header
    ("bearer" or "basic") the key is in an Authorization header."""
    for i, k in enumerate(SELF_KEYS):
        enc = urllib.parse.quote(k, safe="")
        fields = {"path": "/v1/customers/%s/x" % k, "rid": "req_%s" % k,
                  "origin": "https://%s.example" % k,
                  "ua": "Mozilla/5.0 (X11) token=%s" % k}
        for j, path in enumerate(["/v1/customers/" + k, "/v1/" + enc + "/balance",
                                  "/v1/charges?key=" + k]):
            ts = 1795766400 + 60 * i + j
            if header:
                rec = {"when": ts, "req": {
                    "verb": "POST", "url": path, "rid": fields["rid"] + str(j),
                    "headers": {"origin": fields["origin"], "ua": fields["ua"],
                                "authorization": authorization(k, header)}},
                    "resp": {"code": 200}, "client": "203.0.113.%d" % (i + 1)}
            elif mapped:
                rec = {"when": ts, "auth": {"token": k}, "req": {
                    "verb": "POST", "url": path, "rid": fields["rid"] + str(j),
                    "headers": {"origin": fields["origin"], "ua": fields["ua"]}},
                    "resp": {"code": 200}, "client": "203.0.113.%d" % (i + 1)}
            else:
                rec = {"id": fields["rid"] + str(j), "created": ts, "method": "POST",
                       "path": path, "status": 200, "ip": "203.0.113.%d" % (i + 1),
                       "api_key": k, "origin": fields["origin"],
                       "user_agent": fields["ua"]}
            f.write(json.dumps(rec) + "\n")


def quoting(f, k):
    """Values the warnings quote (not a time, a method, an address) that
    hold the request's key."""
    f.write(json.dumps({"id": "req_bad", "created": k, "method": "GET",
                        "path": "/v1/x", "status": 200, "api_key": k}) + "\n")
    f.write(json.dumps({"id": "req_bad2", "created": 1795766400, "method": k,
                        "path": "/v1/x", "status": 200, "api_key": k}) + "\n")
    f.write(json.dumps({"id": "req_bad3", "created": 1795766400, "method": "GET",
                        "path": "/v1/x", "status": 200, "api_key": k,
                        "ip": "x" + k}) + "\n")


# A GCP service account key's id and a GitHub token's hash, carried by
# their own records in every text field too (decoys, so each alerts).
GCP_KEY = "5e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
GH_KEY = "q9Xv2LrT0mN8bK4sW6yZ1cF3hJ5pD7gA9eU0iO2tRk="


def clouds(f):
    """GCP and GitHub audit log records whose key is in every text field."""
    name = ("//iam.googleapis.com/projects/p1/serviceAccounts/"
            "sa@p1.iam.gserviceaccount.com/keys/" + GCP_KEY)
    f.write(json.dumps({
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "authenticationInfo": {"principalEmail": "sa@p1.iam.gserviceaccount.com",
                                   "serviceAccountKeyName": name},
            "requestMetadata": {"callerIp": "203.0.113.50",
                                "callerSuppliedUserAgent": "gcloud key=" + GCP_KEY},
            "serviceName": "iam.googleapis.com",
            "methodName": "google.iam.admin.v1.CreateServiceAccountKey",
            "resourceName": name},
        "insertId": "ins-" + GCP_KEY, "timestamp": "2026-11-27T08:00:00Z",
        "logName": "projects/p1/logs/cloudaudit.googleapis.com%2Factivity"}) + "\n")
    f.write(json.dumps({
        "@timestamp": 1795766400000, "_document_id": "doc-" + GH_KEY,
        "action": "repo.destroy", "actor": "bot", "actor_ip": "203.0.113.51",
        "hashed_token": GH_KEY, "user_agent": "curl token=" + GH_KEY,
        "request_id": "req-" + GH_KEY}) + "\n")


MAP = ["api_key=auth.token", "created=when", "method=req.verb", "path=req.url",
       "id=req.rid", "origin=req.headers.origin", "user_agent=req.headers.ua",
       "status=resp.code", "ip=client"]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=300, **kw)


def watch_outputs(keywatch, cfg_path, tmp):
    """Run watch over the self-carrying log until its alerts are in the
    file sink, stop it, and return every file it left."""
    cfg = json.load(open(cfg_path))
    cfg["state_dir"] = os.path.join(tmp, "wstate")
    cfg["spool_dir"] = os.path.join(tmp, "wstate", "spool")
    cfg["inputs"] = [{"path": os.path.join(tmp, "self.jsonl")}]
    cfg["sinks"] = [{"type": "file", "path": os.path.join(tmp, "watch-alerts.jsonl")},
                    {"type": "webhook", "url": "http://127.0.0.1:9/x", "timeout": "1s"}]
    cfg["checkpoint_interval"] = "1s"
    with open("watch.json", "w") as f:
        json.dump(cfg, f)
    p = subprocess.Popen([keywatch, "watch", "-c", "watch.json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = os.path.join(tmp, "watch-alerts.jsonl")
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.exists(out) and open(out, "rb").read().count(b"\n") >= len(SELF_KEYS):
            break
        time.sleep(0.2)
    time.sleep(1.5)  # a checkpoint
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=120)
    outputs = [("watch stdout", stdout), ("watch stderr", stderr)]
    for root, _, files in os.walk(cfg["state_dir"]):
        for name in files:
            path = os.path.join(root, name)
            outputs.append(("watch " + os.path.relpath(path, tmp), open(path, "rb").read()))
    if os.path.exists(out):
        outputs.append(("watch file sink", open(out, "rb").read()))
    return outputs


def leaks_in(name, data, keys):
    """Every full key, and every 16-byte piece of one, found in data."""
    found = []
    text = data.decode("utf-8", "replace")
    for k in keys:
        forms = {k, urllib.parse.quote(k, safe=""), urllib.parse.quote(k, safe="").lower()}
        if any(f in text for f in forms):
            found.append("%s holds a full key (%s...)" % (name, k[:8]))
            continue
        for i in range(0, len(k) - 15):
            if k[i:i + 16] in text:
                found.append("%s holds a 16-byte piece of a key (%s...)" % (name, k[:8]))
                break
    for m in KEY_RE.findall(text):
        if m in keys or any(m in k for k in keys if len(m) >= 16):
            found.append("%s holds a long piece of a key (%s...)" % (name, m[:8]))
    return found


def bounded(outputs_json):
    """The alert with the 500 KB user agent: small, its text cut and marked."""
    problems = []
    big = [a for a in outputs_json if "huge" in a["key"].get("name", "")]
    if not big:
        return ["the request with the 500 KB user agent raised no alert"]
    for a in big:
        size = len(json.dumps(a, ensure_ascii=False, separators=(",", ":")).encode())
        if size > ALERT_MAX:
            problems.append("an alert about a 500 KB request is %d bytes (bound %d)"
                            % (size, ALERT_MAX))
        for name, v in a["evidence"].items():
            if isinstance(v, str) and len(v.encode()) > TEXT_MAX:
                problems.append("evidence %s is %d bytes (bound %d)"
                                % (name, len(v.encode()), TEXT_MAX))
        ua = a["evidence"].get("user_agent")
        if ua is not None and not ua.endswith("\u2026"):
            problems.append("the cut user agent is not marked: %r" % ua[-20:])
    return problems


def main():
    os.environ["KEYWATCH_NO_DEFAULT_GEOIP"] = "1"
    keywatch, kwgen = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        subprocess.run([sys.executable, kwgen, "-q", "--keys", "16", "--days", "2",
                        "--events", "3000", "--seed", "3", "--plant", "all",
                        "-o", "log.jsonl.gz", "--config", "cfg.json"], check=True)
        subprocess.run([sys.executable, kwgen, "-q", "--format", "cloudtrail",
                        "--keys", "8", "--events", "400", "--seed", "4",
                        "--plant", "all", "-o", "ct.json.gz"], check=True)
        keys = set(SELF_KEYS)
        with gzip.open("log.jsonl.gz", "rt") as f:
            for line in f:
                keys.add(json.loads(line)["api_key"])
        with gzip.open("ct.json.gz", "rt") as f:
            for r in json.load(f)["Records"]:
                k = r.get("userIdentity", {}).get("accessKeyId")
                if k:
                    keys.add(k)
        k1, k2 = sorted(keys - set(SELF_KEYS))[:2]
        with open("odd.jsonl", "w") as f:
            f.write(json.dumps({"created": k1, "api_key": k1, "method": "GET",
                                "path": "/v1/x", "status": 200}) + "\n")
            f.write(json.dumps({"created": 1795766400, "api_key": k2, "method": "GET",
                                "path": "/v1/x", "status": 200, "ip": k2}) + "\n")
            f.write('{"api_key": "%s", "created": 1795766400, oops}\n' % k1)
            f.write(json.dumps({"created": 1795766400, "api_key": k1 * 10,
                                "method": "GET", "path": "/v1/x", "status": 200}) + "\n")
            f.write(json.dumps({"created": 1795766400, "api_key": k2, "method": "GET",
                                "path": "/v1/x", "status": k2}) + "\n")
        huge_key = "sk_live_51HxHugeRequestKeyAbCdEf9999"
        keys.add(huge_key)
        with open("self.jsonl", "w", encoding="utf-8") as f:
            self_carrying(f)
            f.write(json.dumps({"id": "req_huge", "created": 1795766400, "method": "GET",
                                "path": "/v1/customers/" + "p" * 100000, "status": 200,
                                "ip": "203.0.113.99", "api_key": huge_key,
                                "origin": "https://" + "o" * 1000 + ".example",
                                "user_agent": "Mozilla/5.0 " + "\u00e9" * 250000 + huge_key},
                               ensure_ascii=False) + "\n")
        with open("mapped.jsonl", "w") as f:
            self_carrying(f, mapped=True)
        with open("clouds.jsonl", "w") as f:
            clouds(f)
        keys |= {GCP_KEY, GH_KEY}
        cfg = json.load(open("cfg.json"))
        cfg["keys"] = cfg.get("keys", []) + [
            {"match": k[:4] + "*" + k[-4:], "name": "self%d" % i, "honey": True}
            for i, k in enumerate(SELF_KEYS)] + [
            {"match": huge_key, "name": "huge", "honey": True},  # whole: check
            {"match": "*" + GCP_KEY[-4:], "name": "cloud-gcp", "honey": True},
            {"match": "*" + GH_KEY[-4:], "name": "cloud-github", "honey": True}]
        cfg["suppress"] = cfg.get("suppress", []) + [
            {"detector": "geo.new_ip", "key": SELF_KEYS[2], "reason": "for " + SELF_KEYS[2]}]
        cfg["sinks"] = [{"type": "stdout"}, {"type": "file", "path": "alerts.jsonl"},
                        {"type": "webhook", "url": "http://127.0.0.1:9/x", "timeout": "1s"}]
        cfg["spool_dir"] = os.path.join(tmp, "spool")
        cfg["drain_timeout"] = "1s"
        json.dump(cfg, open("cfg.json", "w"))
        outputs = []
        alerts = []
        failures = []
        for extra, report in ((["-o", "json"], "report.html"), (["-o", "text"], "report.txt")):
            p = run([keywatch, "scan", "-c", "cfg.json", "--report", report,
                     "--state", "state.bin"]
                    + extra + ["log.jsonl.gz", "ct.json.gz", "odd.jsonl", "self.jsonl",
                               "clouds.jsonl"])
            if p.returncode not in (0, 3):
                print("FAIL scan exited %d: %s" % (p.returncode, p.stderr.decode()[-2000:]))
                return 1
            outputs += [("stdout " + extra[1], p.stdout), ("stderr " + extra[1], p.stderr),
                        ("report " + report, open(report, "rb").read()),
                        ("state", open("state.bin", "rb").read())]
            if extra[1] == "json":
                alerts = [json.loads(line) for line in p.stdout.decode().splitlines()]
        p = run([keywatch, "scan", "-c", "cfg.json", "-o", "json", "--report", "mapped.html"]
                + sum([["--map", m] for m in MAP], []) + ["mapped.jsonl"])
        outputs += [("mapped stdout", p.stdout), ("mapped stderr", p.stderr),
                    ("mapped report.html", open("mapped.html", "rb").read())]
        mapped = [json.loads(line) for line in p.stdout.decode().splitlines()]
        # Keys inside Authorization headers (issue 10 item 4): neither the
        # key nor the header that carries it (its base64 for Basic) is
        # shown, in alerts, warnings about damaged headers and other
        # fields, the report, the state, or check.
        for form in ("bearer", "basic"):
            log = "header-%s.jsonl" % form
            with open(log, "w") as f:
                self_carrying(f, header=form)
                k = SELF_KEYS[0]
                bad = {"when": 1795766400, "req": {"verb": "GET", "url": "/v1/x",
                       "headers": {"authorization": authorization(k, form)}},
                       "resp": {"code": 200}, "client": "x" + k}
                f.write(json.dumps(bad) + "\n")
                bad["client"] = "203.0.113.1"
                bad["req"]["headers"]["authorization"] = (
                    "Basic " + base64.b64encode(k.encode()).decode()
                    if form == "basic" else "Token " + k)
                f.write(json.dumps(bad) + "\n")
            for k in SELF_KEYS:
                keys.add(authorization(k, form).split(" ", 1)[1])
            hmap = [m for m in MAP if not m.startswith("api_key=")] + [
                "api_key=req.headers.authorization|" + form]
            args = sum([["--map", m] for m in hmap], [])
            p = run([keywatch, "scan", "-c", "cfg.json", "-o", "json",
                     "--report", "report-h.txt", "--state", "state-%s.bin" % form]
                    + args + [log])
            outputs += [(form + " stdout", p.stdout), (form + " stderr", p.stderr),
                        (form + " report", open("report-h.txt", "rb").read()),
                        (form + " state", open("state-%s.bin" % form, "rb").read())]
            got = {a["key"]["name"] for a in
                   (json.loads(line) for line in p.stdout.decode().splitlines())}
            if len(got) < len(SELF_KEYS):
                failures.append("the %s header log raised alerts for %d of %d keys"
                                % (form, len(got), len(SELF_KEYS)))
            if b"field 'ip' (client): not an IP address" not in p.stderr:
                failures.append("no warning quoted the bad IP of the %s log: %r"
                                % (form, p.stderr[-300:]))
            p = run([keywatch, "check", "-c", "cfg.json"] + args + [log])
            outputs += [(form + " check stdout", p.stdout),
                        (form + " check stderr", p.stderr)]
        outputs.append(("file sink", open("alerts.jsonl", "rb").read()))
        for root, _, files in os.walk("spool"):
            for name in files:
                path = os.path.join(root, name)
                outputs.append((path, open(path, "rb").read()))
        # one scan per key: warnings are sampled, a few per kind and run
        for i, k in enumerate(SELF_KEYS):
            with open("quoted.jsonl", "w") as f:
                quoting(f, k)
            p = run([keywatch, "scan", "-o", "none", "quoted.jsonl"])
            outputs.append(("quoting stderr %d" % i, p.stderr))
            if b"not an HTTP method" not in p.stderr:
                failures.append("no warning quoted the method: %r" % p.stderr[-300:])
        p = run([keywatch, "check", "-c", "cfg.json"])
        outputs += [("check stdout", p.stdout), ("check stderr", p.stderr)]
        outputs += watch_outputs(keywatch, "cfg.json", tmp)
        if len(outputs[0][1]) < 1000 or b"key.honey" not in outputs[0][1]:
            failures.append("the scan raised too few alerts to prove anything")
        # the self-carrying requests did put their fields in alerts
        carried = [a for a in alerts + mapped if a["key"].get("name", "").startswith("self")]
        names = {a["key"]["name"] for a in carried}
        ev = {n for a in carried for n in a["evidence"]}
        for want in ("path", "user_agent", "origin"):
            if want not in ev:
                failures.append("no alert of the self-carrying keys shows its %s" % want)
        if len({a["key"]["name"] for a in mapped}) < len(SELF_KEYS):
            failures.append("the mapped log raised alerts for %d of %d keys"
                            % (len({a["key"]["name"] for a in mapped}), len(SELF_KEYS)))
        for want in ("cloud-gcp", "cloud-github"):
            got = [a for a in alerts if a["key"].get("name") == want]
            if not got or "user_agent" not in got[0]["evidence"] or not got[0]["requests"]:
                failures.append("no alert of %s shows its user agent and request" % want)
        if len(names) < len(SELF_KEYS):
            failures.append("alerts for only %d of the %d self-carrying keys"
                            % (len(names), len(SELF_KEYS)))
        if not any(a["requests"] for a in carried):
            failures.append("no alert of the self-carrying keys lists its request id")
        spooled = [n for n, _ in outputs if n.startswith("spool/") and n.endswith("spool.jsonl")]
        if not spooled:
            failures.append("nothing was spooled: the spool was not checked")
        for want in ("checkpoint", "spool/webhook"):
            if not any(n.startswith("watch wstate/" + want) for n, _ in outputs):
                failures.append("watch left no %s to check" % want)
        failures += bounded(alerts)
        for name, data in outputs:
            failures += leaks_in(name, data, keys)
        for f in failures:
            print("FAIL " + f)
        print("checked %d outputs for %d keys: %s" % (len(outputs), len(keys), ", ".join(n for n, _ in outputs)))
        print("%d passed, %d failed" % (0 if failures else 1, 1 if failures else 0))
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
