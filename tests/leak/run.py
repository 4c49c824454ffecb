#!/usr/bin/env python3
"""No full API key appears in any output: stdout (json and text), stderr
(warnings and the summary), the --report file, the file sink, and
`keywatch check`. The input holds every key kind (keywatch and CloudTrail
formats, with every anomaly planted) and bad lines that carry keys in odd
places (a key as the timestamp, the IP, inside an invalid line).

usage: run.py KEYWATCH KWGEN
"""
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile

KEY_RE = re.compile(r'(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}|A[KS]IA[A-Z0-9]{16}')


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
        keys = set()
        with gzip.open("log.jsonl.gz", "rt") as f:
            for line in f:
                keys.add(json.loads(line)["api_key"])
        with gzip.open("ct.json.gz", "rt") as f:
            for r in json.load(f)["Records"]:
                k = r.get("userIdentity", {}).get("accessKeyId")
                if k:
                    keys.add(k)
        k1, k2 = sorted(keys)[:2]
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
        cfg = json.load(open("cfg.json"))
        cfg["sinks"] = [{"type": "stdout"}, {"type": "file", "path": "alerts.jsonl"}]
        json.dump(cfg, open("cfg.json", "w"))
        outputs = []
        for extra in (["-o", "json"], ["-o", "text"]):
            p = subprocess.run([keywatch, "scan", "-c", "cfg.json", "--report", "report.txt"]
                               + extra + ["log.jsonl.gz", "ct.json.gz", "odd.jsonl"],
                               capture_output=True, timeout=300)
            if p.returncode not in (0, 3):
                print("FAIL scan exited %d: %s" % (p.returncode, p.stderr.decode()[-2000:]))
                return 1
            outputs += [("stdout " + extra[1], p.stdout), ("stderr " + extra[1], p.stderr),
                        ("report", open("report.txt", "rb").read())]
        outputs.append(("file sink", open("alerts.jsonl", "rb").read()))
        p = subprocess.run([keywatch, "check", "-c", "cfg.json"], capture_output=True)
        outputs += [("check stdout", p.stdout), ("check stderr", p.stderr)]
        if len(outputs[0][1]) < 1000 or b"key.honey" not in outputs[0][1]:
            print("FAIL the scan raised too few alerts to prove anything")
            return 1
        leaks = 0
        for name, data in outputs:
            text = data.decode("utf-8", "replace")
            for k in keys:
                if k in text:
                    leaks += 1
                    print("FAIL %s holds a full key (%s...)" % (name, k[:8]))
            for m in KEY_RE.findall(text):
                if m in keys or any(m in k for k in keys if len(m) >= 16):
                    leaks += 1
                    print("FAIL %s holds a long piece of a key (%s...)" % (name, m[:8]))
        print("checked %d outputs for %d keys" % (len(outputs), len(keys)))
        print("%d passed, %d failed" % (0 if leaks else 1, 1 if leaks else 0))
        return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
