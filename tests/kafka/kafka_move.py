#!/usr/bin/env python3
"""kafka_move.py - state that moves with its partition: `keywatch watch`
instances in one consumer group keep each partition's learned state, recent
alert ids and offset in the changelog topic (daemon/changelog.c), and an
instance that takes a partition over restores it from there, against
librdkafka's mock cluster (kwmock, on 127.0.0.1; no external broker).

- killed_and_replaced: two instances share a 16-partition topic of a
  kwgen log (learned keys, planted anomalies); one is killed with SIGKILL
  mid-stream and a fresh one, with an empty state_dir, joins. The union of
  the three instances' alerts is exactly scan's (same ids: nothing learned
  is lost, so a learned key on a moved partition is not called new, and
  nothing is counted twice), no id in two instances or twice in one. The
  changelog's counters are served (metrics.listen) and logged (SIGUSR1):
  records and bytes produced, checkpoints, restores with their records
  and time, no delivery error; and librdkafka warns about no property
  (the top-level "kafka" object's consumer properties are not given to
  the changelog's producer: no CONFWARN).
- rebalance_mid_window: one instance reads the first half of two keys'
  error bursts (one key per partition of a 2-partition topic), a second
  instance joins and takes one partition over, and the second halves
  follow: each burst raises its rate.errors alert exactly once, with
  scan's id (without the changelog the moved partition's burst raises
  nothing: mid_window(False)).
- no_changelog_topic: a changelog topic the brokers lack and cannot create
  is an error naming it and what to do.
- by_ip: one IP tries eight keys spread over two instances' partitions;
  the stage keyed by IP (daemon/byip.c, the repartition topic) raises
  auth.failures once with scan's id, key and time, though the instance
  counting the IP is killed (SIGKILL) mid-window and the other takes its
  partitions over; no record of
  the repartition topic holds a whole key (one sits in a request id and a
  path too). Without that stage no instance sees five keys. Then a fresh
  instance takes every partition over after a clean stop, and a second
  IP tries eight keys on three partitions: its alert comes although the
  fourth partition has nothing more to read (its checkpoint says how far
  its time was complete, and the repartition partition's commit carries
  the marks its counter had seen, so neither waits for that partition's
  next message).

Usage: kafka_move.py KEYWATCH KWMOCK KWGEN
"""
import glob
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import urllib.request
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Failed, check, run_cases, spooled_ids,  # noqa: E402
                     wait_until)
import mockcluster  # noqa: E402
from receiver import free_port  # noqa: E402

KW, MOCK, KWGEN = sys.argv[1:4]
TMP = tempfile.mkdtemp(prefix="kw-kafka-move-")
GROUP_CONF = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


def scan(cfg, log, whole=False):
    """The alert ids `keywatch scan` raises for log with config cfg (the
    alerts, whole)."""
    out = os.path.join(TMP, "scan-%d.jsonl" % os.getpid())
    if os.path.exists(out):
        os.unlink(out)
    c = dict(cfg, sinks=[{"type": "file", "path": out}])
    path = os.path.join(TMP, "scan.json")
    json.dump(c, open(path, "w"))
    subprocess.run([KW, "scan", "-q", "-o", "none", "-c", path, log],
                   check=True)
    return [json.loads(x) if whole else json.loads(x)["id"]
            for x in open(out)]


class Watch:
    """One `keywatch watch` of cfg on topic, in group, with its own
    state_dir and file sink (as if on a machine of its own)."""
    n = 0

    def __init__(self, cluster, topic, group, cfg, extra=None):
        Watch.n += 1
        self.dir = os.path.join(TMP, "w%d" % Watch.n)
        os.mkdir(self.dir)
        self.out = os.path.join(self.dir, "alerts.jsonl")
        c = json.loads(json.dumps(cfg))
        c["sinks"] = [{"type": "file", "path": self.out}]
        c["state_dir"] = os.path.join(self.dir, "state")
        c["checkpoint_interval"] = "1s"
        c["inputs"] = [{"type": "kafka", "brokers": cluster.bootstrap,
                        "topic": topic, "group": group}]
        c["kafka"] = GROUP_CONF
        self.port = free_port()
        c["metrics"] = {"listen": "127.0.0.1:%d" % self.port}
        for k, v in (extra or {}).items():
            c["inputs"][0][k] = v
        self.cfg = os.path.join(self.dir, "watch.json")
        json.dump(c, open(self.cfg, "w"))
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        self.p = subprocess.Popen([KW, "watch", "-c", self.cfg],
                                  stdout=subprocess.DEVNULL, stderr=self.err)

    def log(self):
        self.err.flush()
        return open(self.err.name).read()

    def whole(self):
        if not os.path.exists(self.out):
            return []
        return [json.loads(x) for x in open(self.out) if x.endswith("\n")]

    def alerts(self):
        return [x["id"] for x in self.whole()]

    def spooled(self):
        """The ids of the alerts its sinks' spools still hold undelivered
        (a record with a seq past the last "done" mark): what an instance
        killed before its sinks wrote them delivers when it comes back
        with its state_dir (README: "An instance dies")."""
        return [i for path in glob.glob(os.path.join(
            self.dir, "state", "spool", "*.spool.jsonl"))
            for i in spooled_ids(path)]

    def metrics(self):
        """{series: value} of the metrics it serves."""
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" %
                                    self.port, timeout=5) as r:
            text = r.read().decode()
        return {x.rsplit(" ", 1)[0]: float(x.rsplit(" ", 1)[1])
                for x in text.splitlines() if x and not x.startswith("#")}

    def owned(self):
        have = set()
        for m in re.finditer(r"assigned partitions ([\d,]+)|partitions "
                             r"([\d,]+) (revoked|lost)", self.log()):
            if m.group(1):
                have |= {int(x) for x in m.group(1).split(",")}
            else:
                have -= {int(x) for x in m.group(2).split(",")}
        return have

    def wait(self, what, cond, timeout=60):
        if not wait_until(cond, timeout, 0.1):
            raise Failed("timed out waiting for %s:\n%s" % (what, self.log()))

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=60)
        check(rc == 0, "watch exited %d:\n%s" % (rc, self.log()))


def no_repeats(instances, what):
    every = [a for w in instances for a in w.alerts()]
    check(len(every) == len(set(every)), "%s: an alert id twice: %s" % (
        what, sorted(a for a in set(every) if every.count(a) > 1)))
    return every


def killed_and_replaced():
    log = os.path.join(TMP, "week.jsonl")
    kcfg = os.path.join(TMP, "kwgen.json")
    subprocess.run([sys.executable, KWGEN, "-o", log, "--plant", "all",
                    "--days", "4", "--events", "6000", "--keys", "16",
                    "--seed", "7", "--config", kcfg, "-q"], check=True)
    cfg = json.load(open(kcfg))
    want = scan(cfg, log)
    check(len(want) >= 5, "kwgen's log raises too few alerts")
    lines = sum(1 for _ in open(log))
    c = mockcluster.Cluster(MOCK, "reqs:16")
    try:
        a = Watch(c, "reqs", "kill", cfg)
        b = Watch(c, "reqs", "kill", cfg)
        a.wait("a's partitions", lambda: a.owned())
        b.wait("b's partitions", lambda: b.owned()
               and len(a.owned() | b.owned()) == 16
               and not a.owned() & b.owned())
        producer = subprocess.Popen(
            [MOCK, "produce", "-B", c.bootstrap, "-t", "reqs", "-s", "-r",
             "1500", "-p", "200", log], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        # At 40% of the records, and with a checkpoint of a's behind it.
        for line in producer.stdout:
            if line.startswith("sent") and int(line.split()[1]) >= \
                    lines * 4 // 10:
                break
        a.wait("a's checkpoint", lambda: "restored" not in a.log()
               and os.path.exists(os.path.join(a.dir, "state",
                                               "checkpoint")))
        a.p.send_signal(signal.SIGKILL)
        a.p.wait(timeout=30)
        fresh = Watch(c, "reqs", "kill", cfg)
        out, err = producer.communicate(timeout=120)
        check(producer.returncode == 0, "produce: " + err)
        produced = int(out.split()[-1])
        check(produced == lines, "produced %d of %d" % (produced, lines))
        everyone = [a, b, fresh]
        # An alert a raised in its last moments may still be in its spool:
        # a delivers it when it comes back with its state_dir, so it counts
        # as a's. When its id had reached the changelog no one raises it
        # again; when a died first, the new owner raises it too (README,
        # "An instance dies": a receiver may then see it twice).
        held = a.spooled()
        fresh.wait("the fresh instance's partitions", lambda: fresh.owned())
        c.wait_committed("reqs", "kill", produced, timeout=90)
        b.wait("the alerts", lambda: len(set(
            x for w in everyone for x in w.alerts()) | set(held)) >=
            len(want), 60)
        changelog_counters(b, fresh)
        changelog_layouts(c)
        b.stop()
        fresh.stop()
        every = set(no_repeats(everyone, "killed and replaced")) | set(held)
        check(every == set(want), "alerts differ from scan's: missing "
              "%s, extra %s" % (sorted(set(want) - every),
                                sorted(every - set(want))))
        # a's partitions went to b or to the fresh instance (which may
        # get only partitions without keys: 16 keys on 16 partitions).
        check(re.search(r"partition \d+ restored from "
                        r"reqs\.keywatch-changelog: [1-9]\d* keys",
                        b.log() + fresh.log()),
              "no keys restored:\n" + b.log() + fresh.log())
        for w in (b, fresh):
            check("error" not in w.log().lower(), w.log())
            check("CONFWARN" not in w.log(), w.log())
    finally:
        c.close()


def changelog_layouts(c):
    """Every key record of the changelog carries the layout of its state
    (header keywatch.layout: u32 the state's size, u32 the sections, and
    each one's u32 version, offset and size, u8 name length and name), the
    same for all; the other records carry none."""
    layouts = set()
    for p, key, _, layout in c.consume_header("reqs.keywatch-changelog",
                                              "keywatch.layout"):
        if re.fullmatch(r"[0-9a-f]{16}", key):
            check(layout is not None, "key record %s on %d without its "
                  "layout" % (key, p))
            layouts.add(layout)
        else:
            check(layout is None, "record %s on %d with a layout" % (key, p))
    check(len(layouts) == 1, "%d layouts" % len(layouts))
    layout = layouts.pop()
    size, n = struct.unpack_from("<II", layout)
    off, sections = 8, {}
    for _ in range(n):
        version, at, length, nlen = struct.unpack_from("<IIIB", layout, off)
        name = layout[off + 13:off + 13 + nlen].decode()
        sections[name] = (version, at, length)
        check(at + length <= size, "section %s past the state" % name)
        off += 13 + nlen
    check(off == len(layout), "bytes past the sections")
    check(sections.get("ops", (0,))[0] == 2 and "geo" in sections and
          "rate" in sections, "sections: %s" % sections)


def changelog_counters(b, fresh):
    """The changelog's counters of b and fresh, one of which restored a's
    partitions: in the metrics and in SIGUSR1's line."""
    def get(w, name):
        return w.metrics().get(
            '%s{changelog="reqs.keywatch-changelog"}' % name, -1)

    # b reads on throughout; the fresh one may own only partitions
    # without messages, which it never checkpoints.
    b.wait("the metrics", lambda: get(b, "keywatch_changelog_records_"
                                         "total") > 0, 30)
    records = get(b, "keywatch_changelog_records_total")
    check(get(b, "keywatch_changelog_bytes_total") > 16 * records,
          "changelog bytes: %s" % b.metrics())
    check(get(b, "keywatch_changelog_checkpoints_total") > 0,
          "changelog checkpoints: %s" % b.metrics())
    for w in (b, fresh):
        check(get(w, "keywatch_changelog_delivery_errors_total") == 0,
              "changelog delivery errors: %s" % w.metrics())
    restores = sum(get(w, "keywatch_changelog_restores_total")
                   for w in (b, fresh))
    check(restores >= 1, "no restore counted")
    check(sum(get(w, "keywatch_changelog_restored_records_total")
              for w in (b, fresh)) > restores,
          "no restored records counted")
    check(sum(get(w, "keywatch_changelog_restore_seconds_total")
              for w in (b, fresh)) > 0, "no restore time counted")
    b.p.send_signal(signal.SIGUSR1)
    b.wait("SIGUSR1's changelog line", lambda: re.search(
        r"changelog reqs\.keywatch-changelog: [1-9]\d* partition "
        r"checkpoints, [1-9]\d* records written \([1-9]\d* bytes; "
        r"\d+ key states, \d+ alert ids\), 0 not acknowledged; \d+ "
        r"partitions restored \(\d+ records read, \d+ key states, in "
        r"[\d.]+ s\)", b.log()), 30)


KEY_A = "sk_live_51HxPartitionAheadKeyxxxx1a1a"
KEY_B = "sk_live_51HxPartitionBehindKeyxxxx2b2b"
RATE_CFG = {"detectors": {"rate.errors": {"window": "1m"}}}
GUESS_CFG = {}


def burst(key, t0, lo, hi):
    """Requests [lo, hi) of a key's error burst: its first request, 25
    denied ones within a minute ten minutes later, one more after."""
    out = []
    for i in range(lo, hi):
        denied = 0 < i < 26
        t = t0 if i == 0 else t0 + 600 + i if denied else t0 + 1200
        out.append(json.dumps({"created": t, "method": "GET",
                               "path": "/v1/balance",
                               "status": 401 if denied else 200,
                               "ip": "203.0.113.5", "api_key": key}))
    return out


def write(name, lines):
    path = os.path.join(TMP, name)
    open(path, "w").write("".join(x + "\n" for x in lines))
    return path


def mid_window(changelog):
    """The rate alerts raised when a second instance takes a partition
    over in the middle of the bursts' windows."""
    t0 = 1795766400
    halves = {(k, h): write("%s%d.jsonl" % (k[-4:], h),
                            burst(k, t0, 0 if h == 0 else 13,
                                  13 if h == 0 else 27))
              for k in (KEY_A, KEY_B) for h in (0, 1)}
    topic = "burst%d" % changelog
    c = mockcluster.Cluster(MOCK, topic + ":2")
    extra = None if changelog else {"changelog": ""}
    try:
        a = Watch(c, topic, "mid%d" % changelog, RATE_CFG, extra)
        a.wait("a's partitions", lambda: a.owned() == {0, 1})
        for part, key in ((0, KEY_A), (1, KEY_B)):
            c.produce(topic, halves[(key, 0)], "-P", str(part))
        c.wait_committed(topic, "mid%d" % changelog, 26)
        b = Watch(c, topic, "mid%d" % changelog, RATE_CFG, extra)
        b.wait("a partition moved", lambda: len(b.owned()) == 1
               and len(a.owned()) == 1)
        for part, key in ((0, KEY_A), (1, KEY_B)):
            c.produce(topic, halves[(key, 1)], "-P", str(part))
        c.wait_committed(topic, "mid%d" % changelog, 54)
        a.stop()
        b.stop()
        return no_repeats([a, b], "a rebalance mid-window")
    finally:
        c.close()


def rebalance_mid_window():
    log = write("bursts.jsonl", burst(KEY_A, 1795766400, 0, 27)
                + burst(KEY_B, 1795766400, 0, 27))
    want = scan(RATE_CFG, log)
    check(len(want) == 2, "scan raised %d alerts" % len(want))
    got = mid_window(True)
    check(sorted(got) == sorted(want), "alerts %s, scan's %s" % (got, want))


def no_changelog_topic():
    c = mockcluster.Cluster(MOCK, "reqs:4", changelogs=False)
    try:
        w = Watch(c, "reqs", "none", RATE_CFG)
        rc = w.p.wait(timeout=60)
        check(rc != 0, "watch ran without its changelog topic")
        check(re.search(r"inputs\[0\]\.changelog: topic "
                        r"reqs\.keywatch-changelog does not exist and "
                        r"cannot be created \(.+\): create it with 4 "
                        r"partitions and cleanup\.policy=compact, or set "
                        r"\"changelog\": \"\" to keep each partition's "
                        r"state on its instance", w.log()), w.log())
    finally:
        c.close()


GUESS_IP = "45.155.7.9"
GUESS_T0 = 1795766400  # a window's start


def key_on(pattern, part):
    """A key of pattern (with one %d) that a keyed producer's default
    partitioner (librdkafka's consistent_random: CRC-32 of the key) puts
    on partition part of 4."""
    for j in range(1000, 10000):
        key = pattern % j
        if zlib.crc32(key.encode()) % 4 == part:
            return key
    raise Failed("no key for partition %d" % part)


def guesses():
    """{partition: [lines]} of a 4-partition topic (kwmock's producer puts
    each line on its partition by its key): eight keys tried from
    GUESS_IP 3 s apart, key i on partition i % 4 (each instance of two
    sees four), the third with the whole key in its request id and path;
    and on every partition a quiet key's requests an hour before and an
    hour after, so that every partition's time passes the window
    (partition 3's three hours after: past the second window too)."""
    parts = {p: [] for p in range(4)}
    for p in range(4):
        quiet = key_on("sk_live_51HxQuietKeyxxxxxx%d", p)
        for t in (GUESS_T0 - 3600, GUESS_T0 + 3600) + (
                (GUESS_T0 + 3 * 3600,) if p == 3 else ()):
            parts[p].append((t, json.dumps({
                "id": "req_q%d_%d" % (p, t), "created": t, "method": "GET",
                "path": "/v1/balance", "status": 200, "ip": "192.0.2.%d" % p,
                "api_key": quiet})))
    for i in range(8):
        key = GUESS_KEYS[i]
        t = GUESS_T0 + 20 + 3 * i
        parts[i % 4].append((t, json.dumps({
            "id": "req_" + key if i == 2 else "req_g%d" % i, "created": t,
            "method": "GET", "path": "/v1/keys/" + key if i == 2 else
            "/v1/balance", "status": 401, "ip": GUESS_IP, "api_key": key})))
    return {p: [x for _, x in sorted(v)] for p, v in parts.items()}


GUESS_KEYS = [key_on("sk_live_51HxGuessedKey%dxxxxxx" % i + "%d", i % 4)
              for i in range(8)]
AGAIN_IP = "45.155.7.10"
AGAIN_T0 = GUESS_T0 + 7200  # the second window's start


def again():
    """Lines of the second IP's eight tries, on partitions 0 to 2 only,
    and a quiet request an hour later on each of them; partition 3 gets
    nothing."""
    out = []
    for i in range(8):
        key = key_on("sk_live_51HxSecondTry%dxxxxxx" % i + "%d", i % 3)
        t = AGAIN_T0 + 20 + 3 * i
        out.append((t, json.dumps({
            "id": "req_a%d" % i, "created": t, "method": "GET",
            "path": "/v1/balance", "status": 401, "ip": AGAIN_IP,
            "api_key": key})))
    for p in range(3):
        t = AGAIN_T0 + 3600
        out.append((t, json.dumps({
            "id": "req_qa%d" % p, "created": t, "method": "GET",
            "path": "/v1/balance", "status": 200, "ip": "192.0.2.%d" % p,
            "api_key": key_on("sk_live_51HxQuietKeyxxxxxx%d", p)})))
    return [x for _, x in sorted(out)]


def fnv64(text):
    h = 1469598103934665603
    for b in text.encode():
        h = ((h ^ b) * 1099511628211) % (1 << 64)
    return h


def byip_owner(instances, q):
    """The instance whose log says it owns repartition partition q now."""
    for w in instances:
        have = set()
        for m in re.finditer(r"stage keyed by IP: (assigned|revoked|lost) "
                             r"([\d,]+)", w.log()):
            ps = {int(x) for x in m.group(2).split(",")}
            have = have | ps if m.group(1) == "assigned" else have - ps
        if q in have:
            return w
    return None


def marks_of(c, src):
    """How many marks of input partition src the repartition topic
    holds."""
    return sum(1 for _, k, v in c.consume("ips" + mockcluster.BYIP)
               if k == "wm" and json.loads(v)["src"] == src)


def again_after_restart(c, want):
    """by_ip's cluster once every instance has stopped: a fresh one takes
    every partition over (each restored at its end), and the second IP's
    tries come on partitions 0 to 2."""
    q = fnv64(AGAIN_IP) % 4
    marks = marks_of(c, 3)
    third = Watch(c, "ips", "byip", GUESS_CFG)
    third.wait("the fresh instance's partitions", lambda: len(
        third.owned()) == 4 and byip_owner([third], q))
    c.produce("ips", write("again.jsonl", again()))
    third.wait("the second alert", lambda: any(
        x["detector"] == "auth.failures" for x in third.whole()), 30)
    third.stop()
    got = [x for x in third.whole() if x["detector"] == "auth.failures"]
    check(len(got) == 1, "%d auth.failures alerts" % len(got))
    for f in ("id", "time", "key", "summary", "evidence"):
        check(got[0][f] == want[0][f], "%s: %s, scan's %s" % (
            f, got[0][f], want[0][f]))
    # Both ways of knowing partition 3's time: the commits' marks (the
    # tables started from them; which partitions' last commits carry marks
    # depends on when the stopped instance's commits were made), and its
    # own marks, from its restored checkpoint.
    check(re.search(r"stage keyed by IP, partition \d: reading on from "
                    r"offset \d+ with the marks of its last commit",
                    third.log()), third.log())
    check(marks_of(c, 3) > marks, "no mark of partition 3 after the "
          "restart")


def by_ip():
    """One IP tries eight keys spread over the partitions of two
    instances: the stage keyed by IP raises auth.failures once, with
    scan's id, key and time, although the instance counting the IP is
    killed (SIGKILL) halfway through the window and the other takes its
    partitions over (rebuilding the open pair from the repartition topic);
    no record of that stage holds a whole key."""
    parts = guesses()
    log = write("guesses.jsonl", sorted(
        [x for v in parts.values() for x in v] + again(),
        key=lambda x: json.loads(x)["created"]))
    want = [a for a in scan(GUESS_CFG, log, whole=True)
            if a["detector"] == "auth.failures"]
    check(len(want) == 2, "scan raised %d auth.failures" % len(want))
    want, want2 = want[:1], want[1:]
    c = mockcluster.Cluster(MOCK, "ips:4")
    byip = "ips" + mockcluster.BYIP
    q = fnv64(GUESS_IP) % 4
    try:
        a = Watch(c, "ips", "byip", GUESS_CFG)
        b = Watch(c, "ips", "byip", GUESS_CFG)
        a.wait("the partitions shared", lambda: len(a.owned()) == 2 and
               len(b.owned()) == 2 and byip_owner([a, b], q))
        # The first half of every partition: four keys tried, each read
        # by the instance owning its partition.
        half = {p: len(v) // 2 for p, v in parts.items()}
        # The next commits (OffsetCommit: 8) are refused, each partition
        # with OFFSET_METADATA_TOO_LARGE (12): the offsets are committed
        # by later ones all the same, the stage keyed by IP's too, where
        # its open pair keeps the offset from moving (a refused
        # asynchronous commit taken for made was never made again).
        c.cmd("errors 8 12 6")
        c.produce("ips", write("half0.jsonl", [
            x for p, v in parts.items() for x in v[:half[p]]]))
        c.wait_committed("ips", "byip", sum(half.values()))
        check(c.committed_by_partition("ips", "byip") == half,
              "the partitions the keys went to: %s" %
              c.committed_by_partition("ips", "byip"))
        counting = byip_owner([a, b], q)
        # Its pair is open: the offset it commits stays at the pair's
        # first record, whatever it read after.
        first = min(o for (p, o, k, v) in c.consume_offsets(byip)
                    if p == q and k == GUESS_IP)
        a.wait("the counting instance's commit", lambda: c.committed_at(
            byip, "byip.keywatch-byip", q) == first)
        counting.p.send_signal(signal.SIGKILL)
        counting.p.wait(timeout=30)
        other = b if counting is a else a
        everyone = [a, b]
        # The other takes every partition over (after the dead one's
        # session.timeout.ms), then the second halves come.
        other.wait("the takeover", lambda: len(other.owned()) == 4 and
                   byip_owner([other], q), 60)
        c.produce("ips", write("half1.jsonl", [
            x for p, v in parts.items() for x in v[half[p]:]]))
        c.wait_committed("ips", "byip", sum(len(v) for v in parts.values()),
                         timeout=90)
        a.wait("the alert", lambda: any(
            x["detector"] == "auth.failures" for w in everyone
            for x in w.whole()), 60)
        other.stop()
        no_repeats(everyone, "by IP")
        got = [x for w in everyone for x in w.whole()
               if x["detector"] == "auth.failures"]
        check(len(got) == 1, "%d auth.failures alerts" % len(got))
        for f in ("id", "time", "key", "summary", "evidence"):
            check(got[0][f] == want[0][f], "%s: %s, scan's %s" % (
                f, got[0][f], want[0][f]))
        records = c.consume(byip)
        check(any(k == GUESS_IP for _, k, _ in records), "no records")
        for _, k, v in records:
            for key in GUESS_KEYS:
                check(key not in v, "a whole key in " + v)
        check(any('"request":"req_sk_live_' in v for _, _, v in records),
              "the scrubbed request id is missing")
        again_after_restart(c, want2)
    finally:
        c.close()


sys.exit(run_cases([no_changelog_topic, rebalance_mid_window,
                    killed_and_replaced, by_ip], sys.argv[4:]))
