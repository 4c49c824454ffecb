#!/usr/bin/env python3
"""An open incident survives a restart of `keywatch watch`: a decoy key
is used, the incident opens (one message to a sink that takes
incidents); keywatch stops (SIGTERM) and starts again; the key is used
again two minutes later (past the dedup window, within close_after): the
new alert joins the same incident (same id in the alert file) and no
second opening is sent. Then the same after a kill -9 once the
checkpoint has the incident.

usage: watch_incidents.py KEYWATCH
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import check, run_cases, wait_healthz  # noqa: E402
from receiver import Receiver, free_port  # noqa: E402

T0 = 1795766400  # 2026-11-27T00:00:00Z
KEY = "sk_live_honeyIncidentKey7Lm2Vb9Rt4Zp"


class Watch:
    def __init__(self, kw, d, recv):
        self.kw, self.d = kw, d
        self.log = os.path.join(d, "api.log")
        self.sink = os.path.join(d, "alerts.jsonl")
        self.config = os.path.join(d, "keywatch.json")
        self.port = free_port()
        self.proc = None
        self.n = 0
        with open(self.config, "w") as f:
            json.dump({
                "inputs": [{"path": self.log}],
                "state_dir": os.path.join(d, "state"),
                "checkpoint_interval": "1s",
                "dedup_window": "1m",
                "keys": [{"match": "sk_live_honey*", "name": "decoy",
                          "honey": True}],
                "sinks": [{"type": "file", "path": self.sink},
                          {"type": "webhook", "url": recv.url("/inc"),
                           "incidents": True}],
                "metrics": {"listen": "127.0.0.1:%d" % self.port},
            }, f)
        open(self.log, "w").close()

    def use(self, t):
        self.n += 1
        with open(self.log, "a") as f:
            f.write(json.dumps({
                "id": "req_%d" % self.n, "created": t, "method": "GET",
                "path": "/v1/balance", "status": 200,
                "ip": "45.134.26.91", "api_key": KEY}) + "\n")

    def start(self):
        self.proc = subprocess.Popen(
            [self.kw, "watch", "-c", self.config, "-m",
             os.path.join(ROOT, "models")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=dict(os.environ, KEYWATCH_NO_DEFAULT_GEOIP="1"))
        wait_healthz(self.port)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)

    def alerts(self, count, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(self.sink):
                got = [json.loads(l) for l in open(self.sink)
                       if l.endswith("\n")]
                if len(got) >= count:
                    return got
            time.sleep(0.05)
        raise AssertionError("expected %d alerts" % count)


def carried(kw, how):
    recv = Receiver()
    try:
        with tempfile.TemporaryDirectory() as d:
            w = Watch(kw, d, recv)
            w.start()
            w.use(T0)
            first = w.alerts(1)[0]
            deadline = time.time() + 10
            while not recv.accepted and time.time() < deadline:
                time.sleep(0.05)
            if how == "kill":
                time.sleep(2.5)  # a checkpoint with the incident
                w.stop(signal.SIGKILL)
            else:
                w.stop()
            w.start()
            w.use(T0 + 120)
            second = w.alerts(2)[1]
            time.sleep(1)
            w.stop()
            msgs = [json.loads(b) for _, _, b in recv.accepted]
            check(first["incident"].startswith("kwi_"), "incident id")
            check(second["incident"] == first["incident"],
                  "%s: the second alert opened %s, not joined %s" % (
                      how, second["incident"], first["incident"]))
            check([m["event"] for m in msgs] == ["opened"],
                  "%s: messages %s" % (how, [(m["event"], m["id"])
                                            for m in msgs]))
    finally:
        recv.close()


def main():
    kw = os.path.abspath(sys.argv[1])

    def restart():
        carried(kw, "term")

    def kill9():
        carried(kw, "kill")

    return run_cases([restart, kill9])


if __name__ == "__main__":
    sys.exit(main())
