#!/usr/bin/env python3
"""test_watch.py - `keywatch watch` end to end: the real binary follows
files this test writes, rotates (rename + create, copytruncate, rotation
into a compressed file), truncates and compresses while keywatch runs and
while it is down, and is restarted cleanly and after kill -9. Every request
comes from its own decoy (honey) key, so each must raise exactly one
key.honey alert: the file sink must end with each of the 300 alerts once.
No loss, no duplicate.

Also: `watch -n` checks a config and exits; a bad config on SIGHUP keeps
the old one running; the metrics listener answers /healthz and /metrics on
loopback; SIGUSR1 logs counters.

Usage: test_watch.py path/to/keywatch
"""
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receiver import free_port  # noqa: E402
import harness  # noqa: E402,F401 (kills what a failed run left running)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TOTAL = 300
T0 = 1795766400  # 2026-11-27T00:00:00Z


def key_of(n):
    return "sk_live_decoy%04dQx7Lm2Vb9Rt4Zp" % n


def fp_of(n):
    return hashlib.sha256(key_of(n).encode()).hexdigest()[:16]


def line_of(n):
    return json.dumps({
        "id": "req_%05d" % n, "created": T0 + n, "method": "GET",
        "path": "/v1/charges", "status": 200, "ip": "198.51.100.7",
        "api_key": key_of(n)}, separators=(",", ":")) + "\n"


class Run:
    def __init__(self, kw, d):
        self.kw, self.d = kw, d
        self.logs = os.path.join(d, "logs")
        self.sink = os.path.join(d, "alerts.jsonl")
        self.config = os.path.join(d, "keywatch.json")
        self.port = free_port()
        self.next = 1
        self.proc = None
        self.nstart = 0
        os.mkdir(self.logs)
        with open(self.config, "w") as f:
            json.dump({
                "inputs": [{"path": self.logs + "/api.log*"}],
                "state_dir": os.path.join(d, "state"),
                "checkpoint_interval": "2s",
                "keys": [{"match": "sk_live_decoy*", "name": "honeypot",
                          "honey": True}],
                "sinks": [{"type": "file", "path": self.sink}],
                "metrics": {"listen": "127.0.0.1:%d" % self.port},
            }, f)

    def path(self, name):
        return os.path.join(self.logs, name)

    def lines(self, count):
        out = "".join(line_of(self.next + i) for i in range(count))
        self.next += count
        assert self.next - 1 <= TOTAL
        return out

    def write(self, name, count, split=False):
        """Append count lines; with split, the last one in two writes
        (keywatch must hold the partial line until its newline)."""
        text = self.lines(count)
        with open(self.path(name), "a") as f:
            if split:
                cut = len(text) - 40
                f.write(text[:cut])
                f.flush()
                time.sleep(0.4)
                f.write(text[cut:])
            else:
                f.write(text)

    def start(self):
        self.nstart += 1
        err = open(os.path.join(self.d, "stderr.%d" % self.nstart), "w")
        self.proc = subprocess.Popen(
            [self.kw, "watch", "-c", self.config, "-m",
             os.path.join(ROOT, "models")],
            stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(
                        "http://127.0.0.1:%d/healthz" % self.port,
                        timeout=1) as r:
                    if r.read() == b"ok\n":
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("keywatch did not come up")

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60)
        self.proc = None
        return rc

    def alerts(self):
        if not os.path.exists(self.sink):
            return []
        with open(self.sink) as f:
            return [json.loads(l) for l in f if l.endswith("\n")]

    def wait_alerts(self, count, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.alerts()) >= count:
                return
            time.sleep(0.05)
        raise AssertionError("expected %d alerts, have %d" %
                             (count, len(self.alerts())))


def gzip_member(text):
    return gzip.compress(text.encode())


def scenario(kw, d):
    r = Run(kw, d)
    p = r.path

    # keywatch -n checks the config and exits.
    out = subprocess.run([kw, "watch", "-n", "-c", r.config, "-m",
                          os.path.join(ROOT, "models")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "%s: config OK (1 input, 1 sink)\n" % r.config, \
        out.stdout

    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as f:
        f.write('{"inputs": [{"path": "x"}], "sinks": [{"type": "nope"}]}')
    out = subprocess.run([kw, "watch", "-n", "-c", bad], capture_output=True,
                         text=True)
    assert out.returncode == 2 and out.stdout == "", out
    assert "sinks[0].type: unknown sink type 'nope'" in out.stderr, out.stderr
    badfmt = os.path.join(d, "badfmt.json")
    with open(badfmt, "w") as f:
        f.write('{"inputs": [{"path": "x", "format": "cloudtral"}]}')
    out = subprocess.run([kw, "watch", "-n", "-c", badfmt],
                         capture_output=True, text=True)
    assert out.returncode == 2, out
    assert ("%s: inputs[0].format: unknown format 'cloudtral' (formats: "
            "auto, keywatch, cloudtrail, gcp-audit, github-audit)" % badfmt) in out.stderr, out.stderr
    noinputs = os.path.join(d, "noinputs.json")
    with open(noinputs, "w") as f:
        f.write('{}')
    out = subprocess.run([kw, "watch", "-c", noinputs], capture_output=True,
                         text=True)
    assert out.returncode == 2, out
    assert out.stderr == "keywatch: error: %s: no inputs[] to follow\n" % \
        noinputs, out.stderr

    # A file that exists before the start is read from its beginning.
    r.write("api.log", 20)
    r.start()
    r.write("api.log", 40, split=True)
    r.wait_alerts(60)

    # 1. rename + create; the old writer still appends to the renamed file.
    os.rename(p("api.log"), p("api.log.1"))
    r.write("api.log.1", 5)
    r.write("api.log", 40)
    r.wait_alerts(105)
    time.sleep(2.5)  # a checkpoint

    # kill -9 right after more lines were alerted, before the next
    # checkpoint: they are read again after the restart and their alerts
    # must not be delivered twice.
    r.write("api.log", 10)
    r.wait_alerts(115)
    assert r.stop(signal.SIGKILL) == -signal.SIGKILL

    # 2. copytruncate while keywatch is down: shift, copy, truncate.
    os.rename(p("api.log.1"), p("api.log.2"))
    shutil.copyfile(p("api.log"), p("api.log.1"))
    os.truncate(p("api.log"), 0)
    r.write("api.log", 30)
    r.start()
    r.wait_alerts(145)

    # 3. the rotated file is compressed: api.log.2 -> api.log.2.gz.
    subprocess.run(["gzip", p("api.log.2")], check=True)
    r.write("api.log", 15)
    r.wait_alerts(160)

    # 2 again, while keywatch runs: lines written just before the copy are
    # read from the copy, the truncated file from its start.
    os.rename(p("api.log.1"), p("api.log.3"))
    r.write("api.log", 10)
    shutil.copyfile(p("api.log"), p("api.log.1"))
    os.truncate(p("api.log"), 0)
    r.write("api.log", 20)
    r.wait_alerts(190)

    # A gzip file that a writer appends members to.
    for _ in range(3):
        with open(p("api.log.stream.gz"), "ab") as f:
            f.write(gzip_member(r.lines(5)))
        time.sleep(0.3)
    r.wait_alerts(205)

    # SIGUSR1 logs counters; a bad config on SIGHUP keeps the old one.
    r.proc.send_signal(signal.SIGUSR1)
    good = open(r.config).read()
    with open(r.config, "w") as f:
        f.write('{"inputs": [{"path": "x"}], "sinks": [{"type": "nope"}]}')
    r.proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    with open(r.config, "w") as f:
        f.write(good)
    r.write("api.log", 10)
    r.wait_alerts(215)
    # A good config on SIGHUP: reloaded, nothing lost or repeated.
    r.proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    r.write("api.log", 10)
    r.wait_alerts(225)

    # The metrics are a view the daemon publishes every 0.2 s from its
    # loop: one taken as the reload ended may not show the new inputs'
    # files yet, so ask until it does (a loaded machine, ASan).
    deadline = time.time() + 10
    while True:
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/metrics" % r.port, timeout=2) as resp:
            metrics = resp.read().decode()
        if "keywatch_input_lag_bytes{path=" in metrics or \
                time.time() > deadline:
            break
        time.sleep(0.2)
    assert 'keywatch_alerts_total{detector="key.honey",severity="critical"}' \
        in metrics, metrics
    assert "keywatch_input_lag_bytes{path=" in metrics, metrics
    assert 'keywatch_deliveries_total{sink=' in metrics, metrics

    # Clean stop, then rotations while down: rename + create, and the
    # renamed file compressed before keywatch comes back.
    assert r.stop() == 0
    os.rename(p("api.log"), p("api.log.4"))
    r.write("api.log.4", 5)
    subprocess.run(["gzip", p("api.log.4")], check=True)
    r.write("api.log", 20)
    r.start()
    r.wait_alerts(250)

    # 3 while running: api.log -> api.log.5 -> api.log.5.gz.
    r.write("api.log", 10)
    os.rename(p("api.log"), p("api.log.5"))
    r.write("api.log.5", 5)
    r.write("api.log", 10)
    time.sleep(1.5)
    subprocess.run(["gzip", p("api.log.5")], check=True)
    r.write("api.log", TOTAL - r.next + 1)
    r.wait_alerts(TOTAL)
    time.sleep(2.5)  # let any duplicate show up
    assert r.stop() == 0
    return r


def check(r):
    alerts = r.alerts()
    ids = [a["id"] for a in alerts]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    assert not dup, "duplicate alerts: %s" % dup
    honey = [a for a in alerts if a["detector"] == "key.honey"]
    assert len(honey) == len(alerts), \
        "other alerts: %s" % [a["detector"] for a in alerts
                              if a["detector"] != "key.honey"]
    got = sorted(a["key"]["fp"] for a in honey)
    want = sorted(fp_of(n) for n in range(1, TOTAL + 1))
    missing = sorted(set(want) - set(got))
    assert not missing, "%d alerts missing" % len(missing)
    assert got == want
    for a in honey:
        assert a["key"]["id"].startswith("sk_live_"), a["key"]
        assert "sk_live_decoy" not in json.dumps(a), "a full key in an alert"
    log = ""
    for i in range(1, r.nstart + 1):
        with open(os.path.join(r.d, "stderr.%d" % i)) as f:
            log += f.read()
    assert "reload failed; the old config goes on" in log, log
    assert re.search(r"counters: files \d+ \(opened \d+, rotations \d+, "
                     r"truncations \d+, copies skipped \d+\), bytes \d+, "
                     r"events \d+, skipped \d+, keys \d+, alerts \d+ "
                     r"\(repeats after restart dropped \d+, dedup table "
                     r"restarts 0\), checkpoints \d+, reloads \d+", log), log
    assert "sk_live_decoy" not in log, "a key in the log"


def verify_unit(kw, d):
    """dist/keywatch.service.in passes systemd-analyze verify (with the
    binary built here and the man page from doc/); skipped without
    systemd."""
    tool = shutil.which("systemd-analyze")
    if not tool:
        print("skip: systemd-analyze not installed")
        return
    os.makedirs(os.path.join(d, "man", "man1"))
    shutil.copy(os.path.join(ROOT, "doc", "keywatch.1"),
                os.path.join(d, "man", "man1"))
    with open(os.path.join(ROOT, "dist", "keywatch.service.in")) as f:
        unit = f.read().replace("@bindir@/keywatch", kw).replace(
            "@sysconfdir@", "/etc")
    path = os.path.join(d, "keywatch.service")
    with open(path, "w") as f:
        f.write(unit)
    env = dict(os.environ, MANPATH=os.path.join(d, "man"))
    out = subprocess.run([tool, "verify", path], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
    shutil.rmtree(os.path.join(d, "man"))
    os.unlink(path)


def cloudtrail(kw, d):
    """A CloudTrail file (one JSON document on one line, gzip) dropped
    into a followed directory raises exactly the alerts scan raises."""
    d = os.path.join(d, "cloudtrail")
    os.makedirs(os.path.join(d, "logs"))
    sample = os.path.join(ROOT, "samples", "cloudtrail.json.gz")
    models = os.path.join(ROOT, "models")
    with open(os.path.join(ROOT, "samples", "cloudtrail.keywatch.json")) as f:
        conf = json.load(f)
    scan = subprocess.run([kw, "scan", "-q", "-o", "json", "-c",
                           os.path.join(ROOT, "samples",
                                        "cloudtrail.keywatch.json"),
                           "-m", models, sample],
                          capture_output=True, text=True)
    want = sorted(json.loads(l)["id"] for l in scan.stdout.splitlines())
    assert len(want) >= 10, scan
    sink = os.path.join(d, "alerts.jsonl")
    conf.update({"inputs": [{"path": os.path.join(d, "logs", "*.json.gz")}],
                 "state_dir": os.path.join(d, "state"),
                 "sinks": [{"type": "file", "path": sink}]})
    cfg = os.path.join(d, "keywatch.json")
    with open(cfg, "w") as f:
        json.dump(conf, f)
    proc = subprocess.Popen([kw, "watch", "-q", "-c", cfg, "-m", models])
    time.sleep(0.5)
    shutil.copy(sample, os.path.join(d, "logs", "2026-11-20.json.gz"))
    deadline = time.time() + 20
    got = []
    while time.time() < deadline and len(got) < len(want):
        time.sleep(0.1)
        if os.path.exists(sink):
            with open(sink) as f:
                got = [l for l in f if l.endswith("\n")]
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    with open(sink) as f:
        got = sorted(json.loads(l)["id"] for l in f)
    assert got == want, (got, want)
    shutil.rmtree(d)


def main():
    kw = os.path.abspath(sys.argv[1])
    d = tempfile.mkdtemp(prefix="kw-watch-")
    ok = False
    try:
        verify_unit(kw, d)
        cloudtrail(kw, d)
        r = scenario(kw, d)
        check(r)
        ok = True
        print("ok: %d alerts, each once, across 3 rotation styles, "
              "1 kill -9 and 2 restarts; a CloudTrail file as scan reads it"
              % TOTAL)
    finally:
        if ok:
            shutil.rmtree(d)
        else:
            print("left in %s" % d, file=sys.stderr)
            for name in sorted(os.listdir(d)):
                if name.startswith("stderr"):
                    print("== " + name, file=sys.stderr)
                    print(open(os.path.join(d, name)).read()[-3000:],
                          file=sys.stderr)


if __name__ == "__main__":
    main()
