#!/usr/bin/env python3
"""daemon_memory.py - keywatch keeps its routing memory across a reload, a
restart and a kill -9, and a sink keeps its spool when sinks move.

- A burst of the same alert (one decoy key used again and again, one
  alert id) goes on across a SIGHUP, a SIGTERM + start and a kill -9 +
  start of `keywatch watch`: the local receiver gets it once (the router's
  dedup table travels through the reload, the state file and the alert
  journal). A second decoy first seen just before the kill -9 (after the
  last checkpoint: only the journal knows it) is not delivered again
  either.
- Two `scan --state` runs route like one: an alert raised again in the
  second scan within its dedup window is not delivered again, and a new
  alert on a key joins the incident the first scan opened (with -o json
  no one reads incidents, but the state file keeps them whole).
- Spooled alerts are delivered after the sinks are reordered (spools are
  named by the sink's identity, not its position); an old position-named
  spool is moved to its sink's identity when the sink can be told; one
  that matches no sink is named in a warning with how many alerts wait in
  it, and a "name" then delivers them; two sinks with one name are a
  config error.

Usage: daemon_memory.py path/to/keywatch
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receiver import Receiver, free_port  # noqa: E402
import harness  # noqa: E402,F401 (kills what a failed run left running)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "models")
T0 = 1795766400  # 2026-11-27T00:00:00Z
BURST = "sk_live_51HxDecoyBurstKeyQ7w2Ab"
LATE = "sk_live_51HxDecoyLateKeyZ9k3Cd"


def env():
    e = dict(os.environ, NO_COLOR="1", KEYWATCH_NO_DEFAULT_GEOIP="1")
    for k in list(e):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del e[k]
    e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1"
    return e


def marker(n):
    return "sk_live_51HxDecoyMarker%04dPp5" % n


def line(key, t, rid):
    return json.dumps({"id": rid, "created": T0 + t, "method": "GET",
                       "path": "/v1/balance", "status": 200,
                       "ip": "45.134.26.91", "api_key": key}) + "\n"


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def decoys():
    return [{"match": "sk_live_51HxDecoy*", "name": "decoy", "honey": True}]


def ids_by_key(recv):
    """Alert ids the receiver accepted, per redacted key id."""
    out = {}
    with recv.lock:
        bodies = [b for _, _, b in recv.accepted]
    for b in bodies:
        a = json.loads(b)
        out.setdefault(a["key"]["id"], []).append(a["id"])
    return out


def redacted(key):
    return key[:8] + "\u2026" + key[-4:]


class Watch:
    def __init__(self, kw, d, cfg):
        self.kw, self.d, self.cfg = kw, d, cfg
        self.proc = None
        self.n = 0

    def start(self):
        self.n += 1
        self.err = os.path.join(self.d, "watch.%d.err" % self.n)
        with open(self.err, "w") as f:
            self.proc = subprocess.Popen(
                [self.kw, "watch", "-c", self.cfg, "-m", MODELS],
                stdout=subprocess.DEVNULL, stderr=f, env=env())
        self.wait_log("following 1 input")

    def log(self):
        with open(self.err) as f:
            return f.read()

    def wait_log(self, text, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.log():
                return
            check(self.proc.poll() is None,
                  "watch exited %s:\n%s" % (self.proc.returncode, self.log()))
            time.sleep(0.05)
        raise Failed("no %r in the log:\n%s" % (text, self.log()))

    def stop(self, sig):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60)
        err = self.log()
        check("Sanitizer" not in err and "runtime error" not in err,
              "sanitizer report:\n" + err)
        return rc


def wait_for(recv, key, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ids_by_key(recv).get(redacted(key)):
            return
        time.sleep(0.05)
    raise Failed("%s never arrived (have %s)" % (key, ids_by_key(recv)))


def case_burst_across_restarts(kw, d):
    """One alert id, raised on every request of a burst that goes on
    across a SIGHUP, a SIGTERM + start and a kill -9 + start: delivered
    once. A decoy first used just before the kill -9 (after the last
    checkpoint, known only to the journal) is delivered once too."""
    recv = Receiver()
    logs = os.path.join(d, "logs")
    os.mkdir(logs)
    api = os.path.join(logs, "api.log")
    open(api, "w").close()
    cfg = os.path.join(d, "watch.json")
    with open(cfg, "w") as f:
        json.dump({"inputs": [{"path": api}],
                   "state_dir": os.path.join(d, "state"),
                   # No checkpoint but at a reload and a stop: what the
                   # kill -9 loses is what only the journal has.
                   "checkpoint_interval": "1d",
                   "dedup_window": "1h", "keys": decoys(),
                   "retry_initial": 0.05, "retry_max": 0.4,
                   "sinks": [{"type": "webhook", "url": recv.url(),
                              "name": "hook"}]}, f)
    w = Watch(kw, d, cfg)
    t = [0]

    def burst(n, extra=()):
        with open(api, "a") as f:
            for i in range(20):
                f.write(line(BURST, t[0], "req_b%d_%02d" % (n, i)))
                t[0] += 3
            for key in extra:
                f.write(line(key, t[0], "req_x%d" % n))
                t[0] += 1
            f.write(line(marker(n), t[0], "req_m%d" % n))
            t[0] += 1
        wait_for(recv, marker(n))

    try:
        w.start()
        burst(1)
        w.proc.send_signal(signal.SIGHUP)
        w.wait_log("reloaded")
        burst(2)
        check(w.stop(signal.SIGTERM) == 0, "watch did not stop cleanly")
        w.start()
        burst(3, extra=[LATE])
        time.sleep(0.3)  # the journal line is written with the delivery
        check(w.stop(signal.SIGKILL) == -signal.SIGKILL, "kill -9")
        w.start()
        burst(4, extra=[LATE])
        check(w.stop(signal.SIGTERM) == 0, "watch did not stop cleanly")
        got = ids_by_key(recv)
        check(len(got.get(redacted(BURST), [])) == 1,
              "the burst's alert was delivered %d times: %s" %
              (len(got.get(redacted(BURST), [])), got))
        check(len(got.get(redacted(LATE), [])) == 1,
              "the late decoy's alert was delivered %d times" %
              len(got.get(redacted(LATE), [])))
        for n in range(1, 5):
            check(len(got.get(redacted(marker(n)), [])) == 1,
                  "marker %d: %s" % (n, got))
    finally:
        if w.proc and w.proc.poll() is None:
            w.proc.kill()
        recv.close()


def scan(kw, d, cfg, *files, state=None, rc=0):
    argv = [kw, "scan", "-o", "json", "-m", MODELS, "-c", cfg]
    if state:
        argv += ["--state", state]
    p = subprocess.run(argv + list(files), cwd=d, capture_output=True,
                       timeout=120, env=env())
    err = p.stderr.decode(errors="replace")
    check("Sanitizer" not in err and "runtime error" not in err,
          "sanitizer report:\n" + err)
    check(p.returncode == rc, "scan exit %d:\n%s" % (p.returncode, err))
    alerts = [json.loads(x) for x in p.stdout.decode().splitlines()]
    return alerts, err


def case_two_scans_route_like_one(kw, d):
    """The decoy is used at the end of week.1 and again, 10 minutes later,
    at the start of week.2: one scan over both delivers its alert once, and
    so do two scans that share a --state file."""
    with open(os.path.join(d, "week.1"), "w") as f:
        f.write(line(BURST, 0, "req_1"))
    with open(os.path.join(d, "week.2"), "w") as f:
        f.write(line(BURST, 600, "req_2"))
    cfg = os.path.join(d, "scan.json")
    with open(cfg, "w") as f:
        json.dump({"keys": decoys(), "dedup_window": "1h"}, f)
    one, _ = scan(kw, d, cfg, "week.1", "week.2")
    check(len(one) == 1, "one scan: %d alerts" % len(one))
    first, _ = scan(kw, d, cfg, "week.1", state="s.state")
    second, _ = scan(kw, d, cfg, "week.2", state="s.state")
    check(len(first) == 1 and not second,
          "two scans: %d and %d alerts" % (len(first), len(second)))


def case_two_scans_one_incident(kw, d):
    """A honey publishable key is used, then 10 minutes later used to
    write: the second scan's alert joins the incident of the first's, as
    in one scan over both."""
    key = "pk_live_51HxDecoyWriterKeyR4t8Ef"
    with open(os.path.join(d, "day.1"), "w") as f:
        f.write(line(key, 0, "req_w1"))
    with open(os.path.join(d, "day.2"), "w") as f:
        f.write(json.dumps({"id": "req_w2", "created": T0 + 600,
                            "method": "POST", "path": "/v1/charges",
                            "status": 200, "ip": "45.134.26.91",
                            "api_key": key}) + "\n")
    cfg = os.path.join(d, "honey.json")
    with open(cfg, "w") as f:
        json.dump({"keys": [{"match": "pk_live_51HxDecoy*",
                             "name": "decoy", "honey": True}]}, f)
    one, _ = scan(kw, d, cfg, "day.1", "day.2")
    first, _ = scan(kw, d, cfg, "day.1", state="h.state")
    second, _ = scan(kw, d, cfg, "day.2", state="h.state")
    incidents = {a["incident"] for a in one}
    check(len(one) == 3 and len(incidents) == 1,
          "one scan: %s" % [(a["detector"], a["incident"]) for a in one])
    check([a["id"] for a in first + second] == [a["id"] for a in one],
          "two scans: %s" % [a["id"] for a in first + second])
    check({a["incident"] for a in first + second} == incidents,
          "two scans, incidents: %s" %
          [a["incident"] for a in first + second])


def spool_config(d, sinks):
    cfg = os.path.join(d, "kw.json")
    with open(cfg, "w") as f:
        json.dump({"keys": decoys(), "sinks": sinks,
                   "spool_dir": os.path.join(d, "spool"),
                   "retry_initial": 0.05, "retry_max": 0.4,
                   "drain_timeout": "1s"}, f)
    return cfg


def spool_some(kw, d, url, n=3):
    """n alerts for a webhook at url that is down: spooled."""
    with open(os.path.join(d, "log.jsonl"), "w") as f:
        for i in range(n):
            f.write(line(marker(100 + i), i, "req_s%d" % i))
    open(os.path.join(d, "empty.jsonl"), "w").close()
    cfg = spool_config(d, [{"type": "file", "path": os.path.join(d, "a")},
                           {"type": "webhook", "url": url}])
    alerts, _ = scan(kw, d, cfg, "log.jsonl")
    check(len(alerts) == n, "%d alerts" % len(alerts))
    spools = glob.glob(os.path.join(d, "spool", "webhook-*.spool.jsonl"))
    check(len(spools) == 1, "spools: %s" % spools)
    return sorted(a["id"] for a in alerts), spools[0]


def case_spool_follows_reordered_sinks(kw, d):
    """Spooled for the webhook while it was sinks[1]; the webhook is
    sinks[0] in the next run, and gets them."""
    port = free_port()
    url = "http://127.0.0.1:%d/hook" % port
    want, _ = spool_some(kw, d, url)
    recv = Receiver(port=port)
    try:
        cfg = spool_config(d, [{"type": "webhook", "url": url},
                               {"type": "file",
                                "path": os.path.join(d, "a")}])
        scan(kw, d, cfg, "empty.jsonl")
        check(sorted(recv.accepted_ids()) == want,
              "delivered %s, want %s" % (recv.accepted_ids(), want))
    finally:
        recv.close()


def case_old_spool_migrated(kw, d):
    """A spool named by position, as keywatch named them before: moved to
    the identity of the one webhook sink, then delivered."""
    port = free_port()
    url = "http://127.0.0.1:%d/hook" % port
    want, spool = spool_some(kw, d, url)
    old = os.path.join(d, "spool", "webhook-sinks-1.spool.jsonl")
    os.rename(spool, old)
    recv = Receiver(port=port)
    try:
        cfg = spool_config(d, [{"type": "webhook", "url": url}])
        _, err = scan(kw, d, cfg, "empty.jsonl")
        check("the spool %s is now %s (spools are named by the sink's "
              "identity)" % (old, spool) in err, "log:\n" + err)
        check(sorted(recv.accepted_ids()) == want,
              "delivered %s, want %s" % (recv.accepted_ids(), want))
        check(not os.path.exists(old), "the old spool is still there")
    finally:
        recv.close()


def case_orphan_spool_named(kw, d):
    """A position-named spool with two webhooks configured cannot be told
    apart: a warning names it and its alerts; a "name" delivers them."""
    port = free_port()
    url = "http://127.0.0.1:%d/hook" % port
    want, spool = spool_some(kw, d, url)
    old = os.path.join(d, "spool", "webhook-sinks-5.spool.jsonl")
    os.rename(spool, old)
    other = "http://127.0.0.1:%d/other" % free_port()
    cfg = spool_config(d, [{"type": "webhook", "url": url},
                           {"type": "webhook", "url": other}])
    _, err = scan(kw, d, cfg, "empty.jsonl")
    check("%s matches no configured sink: 3 alerts wait in it (2 sinks of "
          "its type could be the one it was for); to deliver them, give "
          "the sink they were for \"name\": \"webhook-sinks-5\"" % old in err,
          "log:\n" + err)
    recv = Receiver(port=port)
    try:
        cfg = spool_config(d, [{"type": "webhook", "url": url,
                                "name": "webhook-sinks-5"},
                               {"type": "webhook", "url": other}])
        _, err = scan(kw, d, cfg, "empty.jsonl")
        check(sorted(recv.accepted_ids()) == want,
              "delivered %s, want %s" % (recv.accepted_ids(), want))
    finally:
        recv.close()
    cfg = spool_config(d, [{"type": "stdout", "name": "twice"},
                           {"type": "file", "name": "twice",
                            "path": os.path.join(d, "b")}])
    _, err = scan(kw, d, cfg, "empty.jsonl", rc=2)
    check("%s: sinks[1].name: 'twice' is the name of sinks[0] too" % cfg
          in err, "log:\n" + err)


CASES = [case_burst_across_restarts, case_two_scans_route_like_one,
         case_two_scans_one_incident,
         case_spool_follows_reordered_sinks, case_old_spool_migrated,
         case_orphan_spool_named]


def main():
    kw = os.path.abspath(sys.argv[1])
    names = sys.argv[2:]
    failed = 0
    for case in CASES:
        name = case.__name__[5:]
        if names and name not in names:
            continue
        d = tempfile.mkdtemp(prefix="kw_memory_")
        try:
            case(kw, d)
            print("ok   %s" % name)
        except Failed as e:
            failed += 1
            print("FAIL %s: %s" % (name, e))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
