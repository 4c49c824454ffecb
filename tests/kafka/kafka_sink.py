#!/usr/bin/env python3
"""kafka_sink.py - the Kafka sink against librdkafka's mock cluster
(started by kwmock on 127.0.0.1; no external broker).

- delivers: `scan` of a kwgen log with a file sink and a Kafka sink; a test
  consumer reads the topic: one message per alert, keyed by its id, its
  value the very line the file sink wrote; nothing twice.
- outage: `watch` with every broker down: the alerts are retried from the
  spool, and once the brokers are back each arrives exactly once.
- config_errors: exact messages for a bad Kafka sink.

Usage: kafka_sink.py KEYWATCH KWMOCK KWGEN
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, read_all, run_cases, wait_until  # noqa: E402
import mockcluster  # noqa: E402

KW, MOCK, KWGEN = sys.argv[1:4]
TMP = tempfile.mkdtemp(prefix="kw-kafka-sink-")
LOG = os.path.join(TMP, "log.jsonl")
CFG = os.path.join(TMP, "kwgen.json")
subprocess.run([sys.executable, KWGEN, "-o", LOG, "--plant", "all",
                "--days", "4", "--events", "8000", "--keys", "16", "--seed",
                "3", "--config", CFG, "-q"], check=True)


def config(d, cluster, extra=None):
    cfg = json.load(open(CFG))
    cfg["sinks"] = [
        {"type": "file", "path": os.path.join(d, "alerts.jsonl")},
        {"type": "kafka", "brokers": cluster.bootstrap, "topic": "alerts",
         "timeout": "2s"}]
    cfg["spool_dir"] = os.path.join(d, "spool")
    cfg.update(extra or {})
    path = os.path.join(d, "kw.json")
    json.dump(cfg, open(path, "w"))
    return path


def expect(d, got):
    lines = [x.rstrip("\n") for x in open(os.path.join(d, "alerts.jsonl"))]
    check(len(lines) >= 5, "too few alerts: %d" % len(lines))
    want = [(json.loads(x)["id"], x) for x in lines]
    check(len(got) == len(set(k for k, _ in got)), "an alert id twice")
    check(sorted(got) == sorted(want), "topic differs from the file sink:"
          "\n got %s\nwant %s" % (sorted(got)[:3], sorted(want)[:3]))


def delivers():
    c = mockcluster.Cluster(MOCK, "alerts:4")
    d = tempfile.mkdtemp(dir=TMP)
    try:
        r = subprocess.run([KW, "scan", "-q", "-o", "none", "-c",
                            config(d, c), LOG], capture_output=True,
                           text=True, timeout=120)
        check(r.returncode == 0, "scan: %d %s" % (r.returncode, r.stderr))
        expect(d, [(k, v) for _, k, v in c.consume("alerts")])
    finally:
        c.close()


def outage():
    c = mockcluster.Cluster(MOCK, "alerts:4")
    d = tempfile.mkdtemp(dir=TMP)
    try:
        for b in (1, 2, 3):
            c.cmd("down %d" % b)
        logs = os.path.join(d, "logs")
        os.mkdir(logs)
        cfg = config(d, c, {
            "inputs": [{"path": os.path.join(logs, "*.jsonl")}],
            "state_dir": os.path.join(d, "state"),
            "retry_initial": 0.2, "retry_max": 1, "drain_timeout": "20s"})
        err = open(os.path.join(d, "stderr"), "w+")
        w = subprocess.Popen([KW, "watch", "-c", cfg],
                             stdout=subprocess.DEVNULL, stderr=err)
        shutil.copy(LOG, os.path.join(logs, "a.jsonl"))
        p = os.path.join(d, "alerts.jsonl")
        wait_until(lambda: os.path.exists(p) and
                   sum(1 for _ in open(p)) >= 5, 60)
        # Attempts time out and are retried.
        wait_until(lambda: "not delivered (attempt 2)" in read_all(err), 30)
        spools = glob.glob(os.path.join(d, "spool", "kafka-*.spool.jsonl"))
        check(len(spools) == 1 and os.path.getsize(spools[0]) > 0,
              "nothing spooled while every broker was down: %s" % spools)
        for b in (1, 2, 3):
            c.cmd("up %d" % b)
        # Everything delivered: the spool starts afresh.
        wait_until(lambda: not os.path.getsize(spools[0]), 60)
        w.send_signal(signal.SIGTERM)
        rc = w.wait(timeout=60)
        log = read_all(err)
        check(rc == 0, "watch exited %d:\n%s" % (rc, log))
        check("not delivered (attempt 2)" in log, "no retry:\n" + log)
        expect(d, [(k, v) for _, k, v in c.consume("alerts")])
    finally:
        c.close()


def config_errors():
    c = mockcluster.Cluster(MOCK, "alerts:4")
    d = tempfile.mkdtemp(dir=TMP)
    try:
        cases = [
            ({"topic": None}, "CFG: sinks[1]: a kafka sink needs 'topic'"),
            ({"topic": "x y"}, "CFG: sinks[1].topic: 'x y' is not a topic "
             "name (letters, digits, '.', '_', '-'; at most 249)"),
            ({"kafka": {"acks": 1, "enable.idempotence": False}},
             "CFG: sinks[1].kafka.enable.idempotence: set by keywatch "
             "itself"),
            ({"kafka": {"linger.mss": 5}}, "CFG: sinks[1].kafka: unknown "
             "librdkafka property 'linger.mss' (did you mean 'linger.ms'?)"),
        ]
        for change, want in cases:
            path = config(d, c)
            cfg = json.load(open(path))
            cfg["sinks"][1].update(change)
            for k in [k for k, v in change.items() if v is None]:
                del cfg["sinks"][1][k]
            json.dump(cfg, open(path, "w"))
            r = subprocess.run([KW, "check", "-c", path],
                               capture_output=True, text=True, timeout=30)
            got = r.stderr.replace(path, "CFG")
            check(r.returncode == 2 and want in got,
                  "want %r, exit 2, got %d:\n%s" % (want, r.returncode, got))
    finally:
        c.close()


sys.exit(run_cases([config_errors, delivers, outage], sys.argv[4:]))
