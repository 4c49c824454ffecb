#!/usr/bin/env python3
"""Threads never change results: `keywatch scan -j 1`, `-j 2` and `-j 4`
give the same bytes.

Compared for each input: standard output (the alerts, -o json), standard
error (warnings in their order, the summary; only the run time differs),
the exit status, and where the case has them the --report file (text or
HTML, with each key's timeline of requests), a file sink's file and the
--state file. Inputs:

  - every golden case (tests/golden/*), run as the golden runner runs it;
  - an evaluation week from tools/kwgen --eval (every planted anomaly,
    nightly batch keys, IPs trying many keys: auth.failures spans keys);
  - a flood: 30,000 keys, thousands of alerts at once (many more than
    the pipeline holds: shards pause and go on, in their events and in
    their ticks), requests made without a key among them (the ordered
    stage's own events), with --max-keys 20000 (keys are evicted from four
    shards' tables, and their alert counts with them), a report and a
    state file, scanned twice (the second run continues from the first's
    state);
  - the same flood read from standard input through a pipe, and dealt
    over three files that overlap in time plus one cut short (the merge
    of several inputs in front of the decoders);
  - a file with damage throughout (bad JSON, keyless and too long lines,
    a cut gzip member), whose warnings must come in input order;
  - records of 200 KB to 1.5 MB among short ones, some over --max-line
    (the buffers the pipeline's reader keeps its records in grow).

And alerts that nothing reads are counted as the ones written: the eval
week and the flood with `-o none` (no other sink, no report, no state:
the alerts are made without their summaries and evidence) give the
standard error and exit status of `-o json`, at every thread count.

usage: threads.py KEYWATCH KWGEN [COUNTS]

COUNTS is the thread counts to compare, separated by commas (default
1,2,4; the sanitizer build runs 1,4).
"""
import gzip
import importlib.util
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
THREADS = ["1", "2", "4"]
FAILED = []


def golden_module():
    path = os.path.join(ROOT, "tests", "golden", "run.py")
    spec = importlib.util.spec_from_file_location("golden_run", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def env():
    e = dict(os.environ, NO_COLOR="1", KEYWATCH_NO_DEFAULT_GEOIP="1")
    e.pop("KEYWATCH_MODELS", None)
    return e


def normal(err):
    """stderr without what may differ between two runs: the run time."""
    return re.sub(rb" in [0-9]+\.[0-9]+ s\n", b" in T s\n", err)


def run(keywatch, args, cwd, j, files=(), stdin=None, setup=None):
    """One scan at -j j: (status, stdout, stderr, {file: bytes}); setup,
    when given, first puts cwd back as the run needs it."""
    if setup:
        setup()
    for f in files:
        if os.path.exists(os.path.join(cwd, f)) and not f.endswith(".in"):
            os.unlink(os.path.join(cwd, f))
    argv = [keywatch, args[0], "-j", j] + list(args[1:])
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as inp:
        p = subprocess.run(argv, cwd=cwd, stdin=inp, capture_output=True,
                           timeout=600, env=env())
    out = {}
    for f in files:
        path = os.path.join(cwd, f)
        out[f] = open(path, "rb").read() if os.path.exists(path) else None
    return p.returncode, p.stdout, normal(p.stderr), out


def same(name, keywatch, args, cwd, files=(), stdin=None, expect_rc=None,
         setup=None):
    results = {j: run(keywatch, args, cwd, j, files, stdin, setup)
               for j in THREADS}
    base = results[THREADS[0]]
    bad = []
    for j in THREADS[1:]:
        r = results[j]
        for what, a, b in (("exit status", base[0], r[0]),
                           ("stdout", base[1], r[1]),
                           ("stderr", base[2], r[2])):
            if a != b:
                bad.append("%s differs between -j %s and -j %s" %
                           (what, THREADS[0], j))
        for f in files:
            if base[3][f] != r[3][f]:
                bad.append("%s differs between -j %s and -j %s" %
                           (f, THREADS[0], j))
    if expect_rc is not None and base[0] != expect_rc:
        bad.append("exit status %d, expected %d" % (base[0], expect_rc))
    if bad:
        FAILED.append(name)
        print("FAIL %s\n  %s\n--- stderr at -j %s:\n%s" % (
            name, "\n  ".join(bad), THREADS[0],
            base[2].decode("utf-8", "replace")[-3000:]))
    else:
        print("ok   %s (%d alert lines)" % (name, base[1].count(b"\n")))
    return base


def goldens(keywatch, tmp):
    g = golden_module()
    for case in sorted(os.listdir(g.HERE)):
        d = os.path.join(g.HERE, case)
        if not os.path.isdir(d) or case.startswith("_"):
            continue
        work = g.prepare(d, tmp)
        with open(os.path.join(work, "args")) as f:
            args = [a.replace("@ROOT@", ROOT) for a in f.read().split("\n")
                    if a]
        if args[0] != "scan":
            continue

        def fresh(d=d, work=work):
            # each run from the case as it is committed: a case that
            # loads --state writes it back
            shutil.rmtree(work)
            g.prepare(d, tmp)
        same("golden/" + case, keywatch, args, work, setup=fresh)


def eval_week(keywatch, kwgen, tmp):
    log = os.path.join(tmp, "week.jsonl.gz")
    conf = os.path.join(tmp, "week.json")
    subprocess.run([sys.executable, kwgen, "--eval", "6", "--keys", "120",
                    "--days", "7", "--events", "120000", "--seed", "12",
                    "-q", "-o", log, "--config", conf,
                    "--truth", os.path.join(tmp, "week.truth.jsonl")],
                   check=True, timeout=600)
    c = json.load(open(conf))
    c["sinks"] = [{"type": "stdout"},
                  {"type": "file", "path": os.path.join(tmp, "week.alerts")}]
    json.dump(c, open(conf, "w"))
    base = same("eval week", keywatch,
                ["scan", "-o", "json", "-c", conf, "--report",
                 "week.report.html", log], tmp,
                files=("week.alerts", "week.report.html"))
    if base[1].count(b"auth.failures") == 0:
        FAILED.append("eval week")
        print("FAIL eval week: no auth.failures alert (the part across "
              "keys was not exercised)")
    # The report's charts: each key's requests per minute, kept by the
    # key's shard (state/keyreport.h).
    if b"requests / min" not in (base[3]["week.report.html"] or b""):
        FAILED.append("eval week")
        print("FAIL eval week: the HTML report has no key's chart")


def flood(path, keys, seed):
    """keys publishable keys of two requests each, one in four of them
    listing customers (ops.not_permitted: an alert at once); then 600
    secret keys denied 21 times each within a minute, from 50 addresses
    (rate.errors when the window closes, many at one sweep; auth.failures
    across keys), and 1,800 requests made without a key from those
    addresses, most of them denied."""
    rnd = random.Random(seed)
    alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

    def key(prefix):
        return prefix + "".join(rnd.choice(alpha) for _ in range(97))

    names = [key("pk_live_51") for _ in range(keys)]
    t0 = 1795132800.0
    lines = []
    for rep in range(2):
        for i, k in enumerate(names):
            listing = rep == 1 and i % 4 == 0
            lines.append({
                "id": "req_%07d%d" % (i, rep),
                "created": round(t0 + rep * 4000 + i * 0.05, 3),
                "method": "GET" if listing else "POST",
                "path": "/v1/customers" if listing else "/v1/tokens",
                "status": 200,
                "ip": "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255),
                "api_key": k})
    t1 = t0 + 9000
    for i in range(600):
        k = key("sk_live_51")
        for n in range(21):
            lines.append({
                "id": "req_d%04d_%02d" % (i, n),
                "created": round(t1 + i * 0.01 + n * 2, 3),
                "method": "GET", "path": "/v1/charges", "status": 403,
                "ip": "203.0.113.%d" % (i % 50), "api_key": k})
        # Requests made without a key from the same addresses: the
        # ordered stage's own events, between the shards' (auth.failures
        # counts them per IP as one more key tried).
        for n in range(3):
            lines.append({
                "id": "req_u%04d_%d" % (i, n),
                "created": round(t1 + i * 0.01 + n * 7 + 1, 3),
                "method": "GET", "path": "/v1/charges",
                "status": 401 if n else 200,
                "ip": "203.0.113.%d" % (i % 50)})
    lines.sort(key=lambda r: r["created"])
    with gzip.open(path, "wt", compresslevel=1) as f:
        for r in lines:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def floods(keywatch, tmp):
    log = os.path.join(tmp, "flood.jsonl.gz")
    flood(log, 30000, 5)
    args = ["scan", "-o", "json", "--max-keys", "20000", "--report",
            "flood.report", "--state", "flood.state", log]
    files = ("flood.report", "flood.state")
    base = same("flood", keywatch, args, tmp, files=files)
    if b"were evicted" not in base[2]:
        FAILED.append("flood")
        print("FAIL flood: no key was evicted")
    if b"1800 requests were made without a key" not in base[2]:
        FAILED.append("flood")
        print("FAIL flood: not 1800 requests made without a key")
    if b"requests: busiest minute per" not in (base[3]["flood.report"] or
                                               b""):
        FAILED.append("flood")
        print("FAIL flood: the report has no key's timeline")
    # A second scan from the first's state, the state kept between runs.
    state = os.path.join(tmp, "flood.state")
    first = base[3]["flood.state"]
    results = []
    for j in THREADS:
        with open(state, "wb") as f:
            f.write(first)
        results.append(run(keywatch, args, tmp, j, files=files)[1:])
    bad = []
    for j, r in zip(THREADS[1:], results[1:]):
        for what, a, b in (("stdout", results[0][0], r[0]),
                           ("stderr", results[0][1], r[1])):
            if a != b:
                bad.append("%s differs between -j %s and -j %s" %
                           (what, THREADS[0], j))
        for f in files:
            if results[0][2][f] != r[2][f]:
                bad.append("%s differs between -j %s and -j %s" %
                           (f, THREADS[0], j))
    if bad:
        FAILED.append("flood from state")
        print("FAIL flood from state:\n  " + "\n  ".join(bad))
    else:
        print("ok   flood from state")
    plain = os.path.join(tmp, "flood.jsonl")
    with gzip.open(log, "rb") as f, open(plain, "wb") as g:
        shutil.copyfileobj(f, g)
    same("flood on stdin", keywatch, ["scan", "-o", "json", "--max-keys",
                                      "20000"], tmp, stdin=plain)
    # The same lines dealt over three files that overlap in time (the
    # merge of several inputs interleaves their records in front of the
    # decoders), and a fourth cut short (its failure told in its place).
    tree = os.path.join(tmp, "tree")
    os.makedirs(tree, exist_ok=True)
    with open(plain, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    for k in range(3):
        with gzip.open(os.path.join(tree, "part-%d.jsonl.gz" % k), "wb",
                       compresslevel=1) as g:
            g.write(b"".join(lines[k::3]))
    cut = gzip.compress(b"".join(lines[:5000]), mtime=0)
    with open(os.path.join(tree, "part-3.jsonl.gz"), "wb") as g:
        g.write(cut[: len(cut) // 2])
    base = same("flood over four files", keywatch,
                ["scan", "-o", "json", "--max-keys", "20000", "--report",
                 "tree.report", "tree"], tmp, files=("tree.report",),
                expect_rc=3)
    if b"read 4 inputs" not in base[2]:
        FAILED.append("flood over four files")
        print("FAIL flood over four files: not 4 inputs read")


def counted_only(keywatch, tmp):
    conf = os.path.join(tmp, "week-stdout.json")
    c = json.load(open(os.path.join(tmp, "week.json")))
    c["sinks"] = [{"type": "stdout"}]
    json.dump(c, open(conf, "w"))
    cases = (("eval week", ["-c", conf, "week.jsonl.gz"]),
             ("flood", ["--max-keys", "20000", "flood.jsonl.gz"]))
    for name, args in cases:
        bad = []
        for j in THREADS:
            written = run(keywatch, ["scan", "-o", "json"] + args, tmp, j)
            counted = run(keywatch, ["scan", "-o", "none"] + args, tmp, j)
            if written[0] != counted[0]:
                bad.append("-j %s: exit status %d with -o json, %d with "
                           "-o none" % (j, written[0], counted[0]))
            if written[2] != counted[2]:
                bad.append("-j %s: standard error differs:\n%s\n---\n%s" %
                           (j, written[2].decode(), counted[2].decode()))
            if counted[1] or written[1].count(b"\n") < 50:
                bad.append("-j %s: %d alert lines with -o json, %d bytes "
                           "with -o none" % (j, written[1].count(b"\n"),
                                             len(counted[1])))
        verbose = run(keywatch, ["scan", "-v", "-o", "none"] + args, tmp,
                      THREADS[0])
        if b"they are only counted" not in verbose[2]:
            bad.append("-o none did not count the alerts only")
        if bad:
            FAILED.append("counted only: " + name)
            print("FAIL counted only: %s\n  %s" % (name, "\n  ".join(bad)))
        else:
            print("ok   counted only: %s" % name)


def damaged(keywatch, tmp):
    path = os.path.join(tmp, "damaged.jsonl.gz")
    rnd = random.Random(9)
    lines = []
    for i in range(40000):
        r = rnd.random()
        if r < 0.002:
            lines.append('{"id": "req_%d", "created": 17951328' % i)
        elif r < 0.004:
            lines.append(json.dumps({"id": "req_%d" % i, "path": "/v1/x",
                                     "created": 1795132800 + i}))
        elif r < 0.005:
            lines.append(json.dumps({"id": "x" * 3000, "api_key":
                                     "sk_live_aaaaaaaaaaaaaaaa"}))
        else:
            lines.append(json.dumps({
                "id": "req_%d" % i, "created": 1795132800 + i * 0.5,
                "method": "POST", "path": "/v1/refunds", "status": 200,
                "ip": "198.51.100.%d" % (i % 250),
                "api_key": "rk_live_51Kx%04dAbCdEfGhIjKl" % (i % 300)}))
    data = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
    with open(path, "wb") as f:
        f.write(data[: len(data) - 40])  # a member cut short
    same("damaged input", keywatch, ["scan", "-o", "json", "--max-line",
                                     "2048", path], tmp, expect_rc=3)


def long_records(keywatch, tmp):
    """Records longer than the pipeline's buffers (512 KiB) among short
    ones, some longer than --max-line: a buffer the reader keeps its
    records in grows for them, and the records around them stay whole."""
    path = os.path.join(tmp, "long.jsonl.gz")
    rnd = random.Random(11)
    lines = []
    for i in range(6000):
        rec = {"id": "req_%d" % i, "created": 1795132800 + i,
               "method": "GET", "path": "/v1/charges", "status": 200,
               "ip": "203.0.113.%d" % (i % 200),
               "api_key": "sk_live_51Lz%04dQwErTyUiOp" % (i % 40)}
        if rnd.random() < 0.01:
            rec["note"] = "y" * rnd.randrange(200000, 1500000)
        lines.append(json.dumps(rec))
    with open(path, "wb") as f:
        f.write(gzip.compress(("\n".join(lines) + "\n").encode(),
                              mtime=0))
    same("long records", keywatch, ["scan", "-o", "json", "--max-line",
                                    "1200000", path], tmp)


def main():
    keywatch = os.path.abspath(sys.argv[1])
    kwgen = os.path.abspath(sys.argv[2])
    if len(sys.argv) > 3:
        THREADS[:] = sys.argv[3].split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for step in (goldens, lambda k, t: eval_week(k, kwgen, t), floods,
                     counted_only, damaged, long_records):
            t0 = time.time()
            step(keywatch, tmp)
            print("     (%.0f s)" % (time.time() - t0))
    if FAILED:
        print("%d failed: %s" % (len(FAILED), ", ".join(FAILED)))
        return 1
    print("every output the same at -j %s" % ", ".join(THREADS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
