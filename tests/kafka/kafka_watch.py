#!/usr/bin/env python3
"""kafka_watch.py - `keywatch watch` on a Kafka input, against librdkafka's
mock cluster (real brokers speaking the real protocol on 127.0.0.1, in a
kwmock process this test starts; no external broker).

A labelled log made by tools/kwgen (planted policy, rate, error, operation
and geography anomalies) is scanned from its file; the same records are
produced into a 16-partition topic, one request a message keyed by its API
key, and consumed by watch. Each case checks that watch raises exactly the
alerts scan raises (same ids, so same key, detector, subject and time), no
id twice:

- same_as_scan: one instance; also with the lines batched into gzip and
  zstd messages, and with two analysing threads; the group's committed
  offsets are the partitions' ends after the stop, and (one message a
  line) a restart reads nothing again.
- two_instances: two instances in one group share the partitions (each
  gets some); the union of their alerts is scan's, no id in both.
- broker_down: a broker goes down mid-stream and comes back; nothing is
  lost and nothing is raised twice.
- split_key: a message keyed by a key already seen on another partition,
  and messages without a key, are reported (redacted key, partitions);
  the stop's commits, refused by the group, are reported and the stop
  still ends.
- config_errors: exact messages for a bad Kafka input.

Usage: kafka_watch.py KEYWATCH KWMOCK KWGEN
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Failed, check, run_cases, wait_until  # noqa: E402
import mockcluster  # noqa: E402

KW, MOCK, KWGEN = sys.argv[1:4]
TMP = tempfile.mkdtemp(prefix="kw-kafka-")
LOG = os.path.join(TMP, "log.jsonl")
CFG = os.path.join(TMP, "kwgen.json")


def setup():
    subprocess.run([sys.executable, KWGEN, "-o", LOG, "--plant", "all",
                    "--days", "4", "--events", "20000", "--keys", "16",
                    "--seed", "7", "--config", CFG, "-q"], check=True)
    out = os.path.join(TMP, "scan.jsonl")
    cfg = json.load(open(CFG))
    cfg["sinks"] = [{"type": "file", "path": out}]
    path = os.path.join(TMP, "scan.json")
    json.dump(cfg, open(path, "w"))
    subprocess.run([KW, "scan", "-q", "-o", "none", "-c", path, LOG],
                   check=True)
    return [json.loads(x)["id"] for x in open(out)]


class Watch:
    """One `keywatch watch` of the kwgen config on a Kafka input."""
    n = 0

    def __init__(self, cluster, group, extra=None):
        Watch.n += 1
        self.dir = os.path.join(TMP, "w%d" % Watch.n)
        os.mkdir(self.dir)
        self.out = os.path.join(self.dir, "alerts.jsonl")
        cfg = json.load(open(CFG))
        cfg["sinks"] = [{"type": "file", "path": self.out}]
        cfg["state_dir"] = os.path.join(self.dir, "state")
        cfg["checkpoint_interval"] = "1s"
        cfg["inputs"] = [{"type": "kafka", "brokers": cluster.bootstrap,
                          "topic": "reqs", "group": group}]
        cfg["kafka"] = {"session.timeout.ms": 6000,
                        "heartbeat.interval.ms": 500}
        cfg.update(extra or {})
        self.cfg = os.path.join(self.dir, "watch.json")
        json.dump(cfg, open(self.cfg, "w"))
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        self.start()

    def start(self):
        self.p = subprocess.Popen([KW, "watch", "-c", self.cfg],
                                  stdout=subprocess.DEVNULL, stderr=self.err)

    def log(self):
        self.err.flush()
        return open(self.err.name).read()

    def alerts(self):
        if not os.path.exists(self.out):
            return []
        return [json.loads(x)["id"] for x in open(self.out)]

    def wait_assigned(self, timeout=30):
        if not wait_until(lambda: "assigned partitions" in self.log(),
                          timeout, 0.1):
            raise Failed("no partitions assigned:\n" + self.log())

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=60)
        check(rc == 0, "watch exited %d:\n%s" % (rc, self.log()))


# What watch says of a commit the group refused (UNKNOWN_MEMBER_ID).
REFUSED = (r"warning: kafka: kafka:reqs: (cannot commit|offset commit "
           r"failed).*: Broker: Unknown member")


def wait_for(what, cond, timeout=60):
    if not wait_until(cond, timeout):
        raise Failed("timed out waiting for " + what)


def same(got, want, what):
    check(len(got) == len(set(got)), "%s: an alert id twice" % what)
    check(set(got) == set(want), "%s: alerts differ from scan's: "
          "missing %s, extra %s" % (what, sorted(set(want) - set(got)),
                                    sorted(set(got) - set(want))))


def one_instance(produce_args, what, extra=None, restart=False):
    c = mockcluster.Cluster(MOCK, "reqs:16")
    try:
        w = Watch(c, "kw", extra)
        w.wait_assigned()
        produced = int(c.produce("reqs", LOG, *produce_args).split()[-1])
        wait_for(what + " alerts", lambda: len(w.alerts()) >= len(WANT))
        # A checkpoint commits every message handed out.
        c.wait_committed("reqs", "kw", produced)
        w.stop()
        same(w.alerts(), WANT, what)
        check(c.committed("reqs", "kw") == produced, "%s: %d offsets committed, "
              "%d messages" % (what, c.committed("reqs", "kw"), produced))
        check("error" not in w.log().lower(), w.log())
        if restart:
            # Restarted: everything was committed, nothing is read again.
            w.start()
            w.wait_assigned()
            time.sleep(1.5)
            w.stop()
            same(w.alerts(), WANT, what + " after a restart")
        return w
    finally:
        c.close()


def same_as_scan():
    w = one_instance([], "one message a line", restart=True)
    check("events %d," % LINES in w.log(), "events counted:\n" + w.log())
    one_instance(["-n", "40", "-z", "gzip"], "gzip batches")
    one_instance(["-n", "40", "-z", "zstd"], "zstd batches")
    one_instance([], "two analysing threads", {"threads": 2})


def owned(log):
    """The partitions an instance owns, from its log."""
    have = set()
    for m in re.finditer(r"assigned partitions ([\d,]+)|partitions "
                         r"([\d,]+) (revoked|lost)", log):
        if m.group(1):
            have |= {int(x) for x in m.group(1).split(",")}
        else:
            have -= {int(x) for x in m.group(2).split(",")}
    return frozenset(have)


def two_instances():
    c = mockcluster.Cluster(MOCK, "reqs:16")
    try:
        a = Watch(c, "pair")
        a.wait_assigned()
        b = Watch(c, "pair")
        b.wait_assigned()
        # The group is stable: both own partitions, together all 16,
        # and nothing changed for 2 s.
        last, since = None, time.time()
        while time.time() - since < 2:
            now = (owned(a.log()), owned(b.log()))
            if now != last:
                last, since = now, time.time()
            check(time.time() - since < 60, "no stable group")
            time.sleep(0.2)
        check(last[0] and last[1] and not last[0] & last[1]
              and len(last[0] | last[1]) == 16, "partitions: %s" % (last,))
        produced = int(c.produce("reqs", LOG, "-r", "20000").split()[-1])
        wait_for("alerts", lambda: len(a.alerts()) + len(b.alerts())
                 >= len(WANT))
        c.wait_committed("reqs", "pair", produced)
        a.stop()
        b.stop()
        check(a.alerts() and b.alerts(), "one instance raised nothing")
        check(not set(a.alerts()) & set(b.alerts()),
              "an alert raised by both instances")
        same(a.alerts() + b.alerts(), WANT, "two instances")
    finally:
        c.close()


def broker_down():
    c = mockcluster.Cluster(MOCK, "reqs:16")
    try:
        w = Watch(c, "down")
        w.wait_assigned()
        producer = subprocess.Popen(
            [MOCK, "produce", "-B", c.bootstrap, "-t", "reqs", "-s", "-r",
             "8000", LOG], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        time.sleep(0.8)
        c.cmd("down 2")
        time.sleep(4)
        c.cmd("up 2")
        out, err = producer.communicate(timeout=120)
        check(producer.returncode == 0, "produce: " + err)
        wait_for("alerts", lambda: len(w.alerts()) >= len(WANT), 90)
        c.wait_committed("reqs", "down", int(out.split()[-1]))
        w.stop()
        same(w.alerts(), WANT, "a broker down and back")
    finally:
        c.close()


def split_key():
    c = mockcluster.Cluster(MOCK, "reqs:16")
    try:
        # The group's coordinator is broker 1, its by-IP stage's broker 2,
        # so that the errors below reach the group's commits alone: the
        # stage's consumer commits too, and met them first in some runs.
        c.cmd("coord split 1")
        c.cmd("coord split" + mockcluster.BYIP + " 2")
        w = Watch(c, "split")
        w.wait_assigned()
        c.produce("reqs", LOG, "-P", "3")
        c.produce("reqs", LOG, "-P", "5")
        c.produce("reqs", LOG, "-k", "-", "-P", "1")
        wait_for("the report", lambda: "more are only counted" in w.log()
                 and "without a key" in w.log())
        # The group refuses the stop's last commits (OffsetCommit: 8) as
        # from a member it dropped (UNKNOWN_MEMBER_ID: 25): said, and the
        # stop still ends.
        c.cmd("errors 8 25 8 1")
        # Offsets not committed yet, so that a commit meets the errors:
        # every message above was in the topic before them, and a
        # checkpoint (every second) may have committed all, which would
        # leave the stop nothing to commit.
        few = os.path.join(TMP, "few.jsonl")
        with open(LOG) as src, open(few, "w") as dst:
            dst.writelines(src.readlines()[:20])
        c.produce("reqs", few, "-P", "3")
        wait_for("a refused commit", lambda: re.search(REFUSED, w.log()), 30)
        w.stop()
        log = w.log()
        # (Whichever commit met the errors first: the stop's, or one
        # made at a checkpoint just before it, which librdkafka reports.)
        check(re.search(REFUSED, log), "refused commit:\n" + log)
        # The partition a key was seen on first is named first: which of
        # 3 and 5 the consumer fetched from first is up to the brokers.
        split = re.findall(r"kafka:reqs: key (\S+) on partitions "
                           r"(?:3 and 5|5 and 3): its requests are split "
                           r"between instances", log)
        check(split, "no split key reported:\n" + log)
        for key in split:
            check(re.fullmatch(r"[a-z]{2}_(live|test)_\u2026[A-Za-z0-9]{4}",
                               key), "key not redacted: " + key)
        check(re.search(r"kafka:reqs/1@0: a message without a key", log),
              "no unkeyed message reported:\n" + log)
        check(len(split) == 10, "not bounded: %d reported" % len(split))
    finally:
        c.close()


def config_errors():
    base = {"inputs": [{"type": "kafka", "brokers": "127.0.0.1:1",
                        "topic": "reqs", "group": "g"}]}

    def err(change, top=None):
        cfg = json.loads(json.dumps(base))
        cfg["inputs"][0].update(change)
        for k in [k for k, v in change.items() if v is None]:
            del cfg["inputs"][0][k]
        cfg.update(top or {})
        path = os.path.join(TMP, "bad.json")
        json.dump(cfg, open(path, "w"))
        r = subprocess.run([KW, "watch", "-n", "-c", path],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0, "accepted: %s" % cfg)
        return r.stderr.replace(path, "CFG")

    cases = [
        ({"topic": None}, None, "CFG: inputs[0]: a kafka input needs "
         "'topic'"),
        ({"path": "/var/log/x"}, None, "CFG: inputs[0].path: not for an "
         "input of type 'kafka'"),
        ({"topic": "a/b"}, None, "CFG: inputs[0].topic: 'a/b' is not a "
         "topic name (letters, digits, '.', '_', '-'; at most 249)"),
        ({"changelog": "a/b"}, None, "CFG: inputs[0].changelog: 'a/b' is "
         "not a topic name (letters, digits, '.', '_', '-'; at most 249)"),
        ({"topic": "t" * 240}, None, "CFG: inputs[0].changelog: '" +
         "t" * 240 + ".keywatch-changelog' is not a topic name (letters, "
         "digits, '.', '_', '-'; at most 249); name one in \"changelog\""),
        ({"type": "kinesis"}, None, "CFG: inputs[0].type: unknown input "
         "type 'kinesis' (types: file, kafka)"),
        ({"kafka": {"group.id": "x"}}, None, "CFG: inputs[0].kafka.group.id:"
         " set by keywatch itself"),
        ({"kafka": {"sesion.timeout.ms": 1}}, None, "CFG: inputs[0].kafka: "
         "unknown librdkafka property 'sesion.timeout.ms' (did you mean "
         "'session.timeout.ms'?)"),
        ({}, {"kafka": {"sasl.password": "env:KW_TEST_UNSET_VAR"}},
         "CFG: kafka.sasl.password: "),
    ]
    for change, top, want in cases:
        got = err(change, top)
        check(want in got, "want %r in:\n%s" % (want, got))
    got = err({}, {"kafka": {"sasl.password": "env:KW_TEST_UNSET_VAR"}})
    check("KW_TEST_UNSET_VAR" in got, got)


WANT = setup()
LINES = sum(1 for _ in open(LOG))
check(len(WANT) >= 10, "kwgen's log raises too few alerts")
sys.exit(run_cases([config_errors, same_as_scan, split_key, two_instances,
                    broker_down], sys.argv[4:]))
