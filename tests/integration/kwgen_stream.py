#!/usr/bin/env python3
"""kwgen_stream.py - tools/kwgen at scale and as it was.

- The samples are made again byte for byte by the commands in
  samples/README.md (the generator's existing outputs do not change).
- --stream-keys: millions of keys in bounded memory (the peak RSS with
  2,000,000 keys is that of 1,000), requests in time order from tens of
  thousands of distinct keys, what --verify checks holds, and the same
  seed gives the same bytes whatever --jobs is.
- Past 4096 keys without --stream-keys: a clear error, not 19 GB.

Usage: kwgen_stream.py KWGEN
"""

import gzip
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: " + what, file=sys.stderr)


def run(kwgen, *args):
    """Run kwgen in a child of its own; (exit status, stderr, peak RSS of
    that child in KiB)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 2)
        os.execv(sys.executable, [sys.executable, kwgen] + list(args))
    os.close(w)
    with os.fdopen(r) as f:
        err = f.read()
    _, status, ru = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), err, ru.ru_maxrss


def main():
    kwgen = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="kw_kwgen_")
    p = lambda name: os.path.join(tmp, name)

    # 1. The samples, byte for byte.
    rc, err, _ = run(kwgen, "--keys", "12", "--days", "3", "--events",
                     "2500", "--seed", "7", "--plant", "all", "-o",
                     p("requests.jsonl.gz"), "--truth", p("truth.jsonl"),
                     "--config", p("keywatch.json"), "-q")
    check(rc == 0, "samples command: exit %d %s" % (rc, err))
    for mine, theirs in (("requests.jsonl.gz", "requests.jsonl.gz"),
                         ("truth.jsonl", "truth.jsonl"),
                         ("keywatch.json", "keywatch.json")):
        with open(p(mine), "rb") as a, \
                open(os.path.join(ROOT, "samples", theirs), "rb") as b:
            check(a.read() == b.read(),
                  "samples/%s made again differs" % theirs)

    # 2. Streamed keys: a log, checked.
    rc, err, _ = run(kwgen, "--stream-keys", "--keys", "20000", "--events",
                     "100000", "--days", "2", "--seed", "5", "--plant", "all",
                     "-o", p("s.jsonl.gz"), "--truth", p("s.truth"),
                     "--config", p("s.json"), "-q")
    check(rc == 0, "--stream-keys: exit %d %s" % (rc, err))
    keys, last, n = set(), 0.0, 0
    with gzip.open(p("s.jsonl.gz"), "rt") as f:
        for line in f:
            r = json.loads(line)
            keys.add(r["api_key"])
            check(r["created"] >= last, "not in time order")
            last = r["created"]
            n += 1
    check(95000 < n < 105000, "%d records, not about 100000" % n)
    # 100,000 requests over 20,000 keys: most keys are used.
    check(len(keys) > 15000, "only %d distinct keys" % len(keys))
    with open(p("s.json")) as f:
        conf = json.load(f)
    check(len(conf["keys"]) == 13, "config names %d keys, not the 12 roles "
          "and the decoy" % len(conf["keys"]))
    rc, err, _ = run(kwgen, "--verify", p("s.jsonl.gz"), "--truth",
                     p("s.truth"), "--config", p("s.json"))
    check(rc == 0, "--verify of a streamed log: %s" % err.strip())

    # The same seed, the same bytes, made by one process or by three.
    for name, jobs in (("a", "1"), ("b", "3")):
        rc, err, _ = run(kwgen, "--stream-keys", "--keys", "5000",
                         "--events", "5000", "--days", "1", "--seed", "9",
                         "--jobs", jobs, "-o", p(name + ".jsonl.gz"), "-q")
        check(rc == 0, "--stream-keys %s: %s" % (name, err))
    with open(p("a.jsonl.gz"), "rb") as a, open(p("b.jsonl.gz"), "rb") as b:
        check(a.read() == b.read(), "same seed, different bytes with "
              "--jobs 1 and 3")

    # 3. Memory does not follow --keys: 2,000,000 keys peak as 1,000 do.
    peaks = {}
    for nkeys in (1000, 2000000):
        rc, err, peak = run(kwgen, "--stream-keys", "--keys", str(nkeys),
                            "--events", "20000", "--days", "1", "--seed",
                            "3", "--plant", "none", "-o",
                            p("m%d.jsonl.gz" % nkeys), "-q")
        check(rc == 0, "--keys %d: %s" % (nkeys, err))
        peaks[nkeys] = peak
    check(peaks[2000000] < peaks[1000] + 16 * 1024,
          "peak RSS %d KiB with 2M keys, %d KiB with 1000" % (
              peaks[2000000], peaks[1000]))

    # 4. Many keys without --stream-keys: refused, saying what to do.
    rc, err, _ = run(kwgen, "--keys", "20000", "--events", "10", "-o",
                     p("x.jsonl"))
    check(rc == 2 and "use --stream-keys" in err,
          "--keys 20000 alone: exit %d, %r" % (rc, err))

    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)
    if FAILS:
        print("%d failed" % len(FAILS), file=sys.stderr)
        return 1
    print("kwgen: samples as before; streamed keys checked; peak RSS "
          "%d KiB at 1000 keys, %d KiB at 2M" % (peaks[1000],
                                                  peaks[2000000]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
