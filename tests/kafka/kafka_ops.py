#!/usr/bin/env python3
"""kafka_ops.py - operating the Kafka input, against librdkafka's mock
cluster (started by kwmock on 127.0.0.1; no external broker).

- check_found: `keywatch check` asks the brokers and says what it found:
  the input's topic (partitions, brokers), its group (state, members,
  partitions committed, messages behind), its changelog and repartition
  topics (their partitions; the repartition topic's group, committed
  after a watch) and a Kafka sink's topic.
- check_errors: brokers that cannot be reached, a topic they do not have
  and a changelog with fewer partitions than the input's give exact
  errors and exit 3; changelog and repartition topics watch would create
  are said as such (exit 0).
- metrics: while watch reads a 16-partition topic, /metrics shows the
  partitions it owns, each owned partition's lag, the messages read and
  the commits, and the stage keyed by IP's counters (every denied
  request written to the repartition topic once, read back with the
  marks, its 16 partitions owned); SIGUSR1 logs the same counters.
- leave_while_joining: watch stopped after its consumers' groups answered
  their join and before their first assignment (the coordinator holds the
  SyncGroup answers) exits cleanly: librdkafka 2.0.2 aborts when such a
  consumer is destroyed, so watch waits for the assignment first.

Usage: kafka_ops.py KEYWATCH KWMOCK KWGEN
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, read_all, run_cases, wait_healthz, wait_until  # noqa: E402
import mockcluster  # noqa: E402
from receiver import free_port  # noqa: E402

KW, MOCK, KWGEN = sys.argv[1:4]
TMP = tempfile.mkdtemp(prefix="kw-kafka-ops-")
LOG = os.path.join(TMP, "log.jsonl")
subprocess.run([sys.executable, KWGEN, "-o", LOG, "--days", "2",
                "--events", "3000", "--keys", "12", "--seed", "5", "-q"],
               check=True)
LINES = sum(1 for _ in open(LOG))
# Denied requests with an address: what the stage keyed by IP writes.
DENIED = sum(1 for x in open(LOG) if json.loads(x).get("status") in
             (401, 403) and json.loads(x).get("ip"))


def config(brokers, topic="reqs", extra=None):
    d = tempfile.mkdtemp(dir=TMP)
    cfg = {"inputs": [{"type": "kafka", "brokers": brokers, "topic": topic,
                       "group": "ops"}],
           "sinks": [{"type": "file", "path": os.path.join(d, "a.jsonl")}],
           "state_dir": os.path.join(d, "state"),
           "checkpoint_interval": "1s",
           "kafka": {"session.timeout.ms": 6000}}
    cfg.update(extra or {})
    path = os.path.join(d, "kw.json")
    json.dump(cfg, open(path, "w"))
    return path, d


def run_check(path):
    r = subprocess.run([KW, "check", "-c", path], capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr.replace(path, "CFG")


def check_found():
    c = mockcluster.Cluster(MOCK, "reqs:16", "alerts:4")
    try:
        produced = int(c.produce("reqs", LOG).split()[-1])
        path, _ = config(c.bootstrap, extra={"sinks": [
            {"type": "kafka", "brokers": c.bootstrap, "topic": "alerts"}]})
        rc, out, err = run_check(path)
        check(rc == 0, "check exited %d: %s" % (rc, err))
        want = ("  inputs[0]: topic reqs, 16 partitions on 3 brokers; group "
                "ops: unknown (Broker: Group coordinator not available), 0 "
                "members, 0 of 16 partitions committed")
        got = [x for x in out.split("\n") if x.startswith("  inputs[0]")]
        check(got and got[0].startswith("  inputs[0]: topic reqs, 16 "
                                        "partitions on 3 brokers; group ops:")
              and "0 of 16 partitions committed" in got[0],
              "want like %r, got:\n%s" % (want, out))
        check("  sinks[0]: topic alerts, 4 partitions on 3 brokers" in out,
              out)
        # The changelog and repartition topics (made by the mock, which
        # cannot create topics through the admin API), nothing committed.
        check("  inputs[0].changelog: topic reqs.keywatch-changelog, 16 "
              "partitions\n" in out and re.search(
                  r"  inputs\[0\]\.repartition: topic reqs\.keywatch-byip, "
                  r"16 partitions on 3 brokers; group ops\.keywatch-byip: "
                  r"[^\n]*, 0 members, 0 of 16 partitions committed",
                  out), "before watch:\n" + out)
        # After a watch that read everything: committed, nothing behind.
        w = subprocess.Popen([KW, "watch", "-c", path],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        c.wait_committed("reqs", "ops", produced)
        w.send_signal(signal.SIGTERM)
        check(w.wait(timeout=60) == 0, "watch failed")
        rc, out, err = run_check(path)
        check(rc == 0, "check exited %d: %s" % (rc, err))
        # Every partition that holds a message is committed (the mock
        # answers no group listing: its state is "unknown (...)").
        parts = len({p for p, _, _ in c.consume("reqs")})
        check(re.search(r"  inputs\[0\]: topic reqs, 16 partitions on 3 "
                        r"brokers; group ops: [^\n]*, %d of 16 partitions "
                        r"committed, 0 messages behind\n" % parts, out),
              "after watch (%d partitions hold messages):\n%s"
              % (parts, out))
        # The repartition topic's group after watch: what it committed
        # depends on the marks sent before it stopped (once a second).
        check(re.search(r"  inputs\[0\]\.repartition: topic "
                        r"reqs\.keywatch-byip, 16 partitions on 3 brokers; "
                        r"group ops\.keywatch-byip: [^\n]*, \d+ of 16 "
                        r"partitions committed, \d+ messages behind\n",
                        out), "repartition after watch:\n" + out)
    finally:
        c.close()


def check_errors():
    port = free_port()  # nothing listens there
    path, _ = config("127.0.0.1:%d" % port)
    t = time.time()
    rc, out, err = run_check(path)
    check(rc == 3, "exit %d for unreachable brokers" % rc)
    check(re.search(r"keywatch: error: CFG: inputs\[0\]: cannot reach the "
                    r"brokers at 127\.0\.0\.1:%d: Local: " % port, err),
          "unreachable:\n" + err)
    check(time.time() - t < 30, "check took too long")
    c = mockcluster.Cluster(MOCK, "reqs:16", "alerts:4")
    try:
        path, _ = config(c.bootstrap, topic="nosuch")
        rc, out, err = run_check(path)
        check(rc == 3, "exit %d for a missing topic" % rc)
        check("keywatch: error: CFG: inputs[0]: the brokers have no topic "
              "nosuch" in err, "missing topic:\n" + err)
        # Topics watch would create: said, not an error.
        path, _ = config(c.bootstrap, extra={"inputs": [
            {"type": "kafka", "brokers": c.bootstrap, "topic": "reqs",
             "group": "ops", "changelog": "cl.none",
             "repartition": "byip.none"}]})
        rc, out, err = run_check(path)
        check(rc == 0, "exit %d for topics watch creates: %s" % (rc, err))
        check("  inputs[0].changelog: topic cl.none: none yet (watch "
              "creates it, compacted, with 16 partitions)\n" in out and
              "  inputs[0].repartition: topic byip.none: none yet (watch "
              "creates it with 16 partitions)\n" in out,
              "topics to create:\n" + out)
        c.cmd("topic short 4")
        path, _ = config(c.bootstrap, extra={"inputs": [
            {"type": "kafka", "brokers": c.bootstrap, "topic": "reqs",
             "group": "ops", "changelog": "short"}]})
        rc, out, err = run_check(path)
        check(rc == 3, "exit %d for a changelog too small" % rc)
        check("keywatch: error: CFG: inputs[0].changelog: topic short has 4 "
              "partitions, fewer than reqs's 16: watch refuses it\n" in err,
              "changelog too small:\n" + err)
    finally:
        c.close()


def byip(text, name):
    """The stage keyed by IP's counter name (keywatch_byip_NAME) in text,
    or None."""
    m = re.search(r'^keywatch_byip_%s\{repartition="reqs\.keywatch-byip"\} '
                  r'(\d+)$' % name, text, re.M)
    return int(m.group(1)) if m else None


# One partition's lag in /metrics: (partition, messages).
LAG = re.compile(r'keywatch_kafka_lag_messages\{input="kafka:reqs",'
                 r'partition="(\d+)"\} (\d+)')


def metrics():
    c = mockcluster.Cluster(MOCK, "reqs:16", "alerts:4")
    try:
        port = free_port()
        path, d = config(c.bootstrap, extra={
            "metrics": {"listen": "127.0.0.1:%d" % port}})
        err = open(os.path.join(d, "stderr"), "w+")
        w = subprocess.Popen([KW, "watch", "-c", path],
                             stdout=subprocess.DEVNULL, stderr=err)
        wait_healthz(port)
        c.produce("reqs", LOG)
        deadline = time.time() + 60
        text = ""
        while time.time() < deadline:
            # 503 until the first publish: /healthz answers while watch
            # still meets its brokers (the changelog topic is checked).
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics"
                                            % port, timeout=5) as r:
                    text = r.read().decode()
            except urllib.error.HTTPError as e:
                check(e.code == 503, "/metrics: %s" % e)
                time.sleep(0.2)
                continue
            # Each partition's lag is known once the consumer has fetched
            # from it: on a loaded machine that may come after the last
            # message and the first commit, so all three are waited for.
            lags = LAG.findall(text)
            # Every record and mark written read back: the stage is
            # through (marks go on once a second: a scrape between).
            # The first mark is waited for too: the checks below ask for
            # one, and the ASan build once read every record before its
            # first mark was written.
            through = byip(text, "records_written_total") == DENIED and \
                (byip(text, "marks_written_total") or 0) > 0 and \
                byip(text, "records_read_total") == DENIED + \
                byip(text, "marks_written_total")
            if ('keywatch_kafka_messages_total{input="kafka:reqs"} %d'
                    % LINES) in text and re.search(
                    r'keywatch_kafka_commits_total\{input="kafka:reqs",'
                    r'result="ok"\} [1-9]', text) and len(lags) == 16 and \
                    all(v == "0" for _, v in lags) and through:
                break
            time.sleep(0.5)
        check('keywatch_kafka_partitions_assigned{input="kafka:reqs"} 16'
              in text, "assigned:\n" + text)
        check(sorted(int(p) for p, _ in lags) == list(range(16)),
              "lag per partition:\n" + text)
        check(all(v == "0" for _, v in lags), "lag not 0 at the end")
        check(('keywatch_kafka_messages_total{input="kafka:reqs"} %d'
               % LINES) in text, "messages:\n" + text)
        check("# TYPE keywatch_kafka_lag_messages gauge" in text, text)
        check(DENIED > 0 and byip(text, "records_written_total") == DENIED,
              "byip records written (want %d):\n%s" % (DENIED, text))
        check(byip(text, "marks_written_total") > 0 and
              byip(text, "records_read_total") ==
              DENIED + byip(text, "marks_written_total"),
              "byip records read:\n" + text)
        for name, want in (("partitions_owned", 16),
                           ("partitions_assigned_total", 16),
                           ("partitions_revoked_total", 0),
                           ("partitions_lost_total", 0),
                           ("write_errors_total", 0),
                           ("records_skipped_total", 0),
                           ("records_late_total", 0),
                           ("pairs_decided_early_total", 0)):
            check(byip(text, name) == want,
                  "keywatch_byip_%s (want %d):\n%s" % (name, want, text))
        check(byip(text, "alerts_total") is not None and
              "# TYPE keywatch_byip_partitions_owned gauge" in text, text)
        w.send_signal(signal.SIGUSR1)
        wait_until(lambda: "counters: kafka:reqs" in read_all(err) and
                   "reqs.keywatch-byip: %d records" % DENIED in
                   read_all(err), 10, 0.1)
        w.send_signal(signal.SIGTERM)
        check(w.wait(timeout=60) == 0, "watch failed")
        log = read_all(err)
        check(re.search(r"counters: kafka:reqs: partitions 16, lag 0 "
                        r"messages, messages %d, rebalances 1, commits "
                        r"[1-9]\d* \(failed 0\), keys on two partitions 0, "
                        r"messages without a key \d+" % LINES, log),
              "SIGUSR1:\n" + log)
        check(re.search(r"reqs\.keywatch-byip: %d records and \d+ marks "
                        r"written \(0 refused\); \d+ records read \(0 "
                        r"skipped, 0 late for a window decided\), 0 pairs "
                        r"decided early \(the table full\), \d+ alerts; "
                        r"partitions 16 owned, 16 assigned, 0 revoked, 0 "
                        r"lost" % DENIED, log), "SIGUSR1 byip:\n" + log)
    finally:
        c.close()


def leave_while_joining():
    c = mockcluster.Cluster(MOCK, "reqs:4")
    try:
        # The mock answers a group's first JoinGroup 3 s after it came,
        # and here every SyncGroup answer 5 s after it is due: stopped at
        # 5.5 s, both consumers (the input's and the by-IP stage's) have
        # joined and have no assignment.
        for g in ("ops", "ops" + mockcluster.BYIP):
            c.cmd("coord %s 1" % g)
        c.cmd("slow 1 14 2 5000")
        path, d = config(c.bootstrap, topic="reqs")
        err = open(os.path.join(d, "stderr"), "w+")
        w = subprocess.Popen([KW, "watch", "-c", path],
                             stdout=subprocess.DEVNULL, stderr=err)
        wait_until(lambda: "joining group ops" in read_all(err), 30, 0.05)
        time.sleep(5.5)
        w.send_signal(signal.SIGTERM)
        rc = w.wait(timeout=60)
        log = read_all(err)
        check(rc == 0, "watch exited %d:\n%s" % (rc, log))
        check("Assertion" not in log and "not destroyed" not in log, log)
    finally:
        c.close()


sys.exit(run_cases([check_errors, check_found, metrics, leave_while_joining],
                   sys.argv[4:]))
