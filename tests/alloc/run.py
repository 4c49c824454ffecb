#!/usr/bin/env python3
"""The allocation-failure test: run keywatch on the samples with the N-th
allocation failing, for N over the range of allocations a run makes.

usage: run.py KEYWATCH-FAILMALLOC [--all] [--offset K] [--runs R] [-j J]
              [--only CASE]

KEYWATCH-FAILMALLOC is keywatch linked with tests/alloc/failmalloc.c
(KW_FAILMALLOC=N fails the N-th allocation). The cases:

  scan          the keywatch-format sample, alerts to stdout (-o json) and
                to a file sink, writing a --state file
  scan+state    the same, starting from that state file (snapshot and
                router memory loading and merging)
  cloudtrail    the CloudTrail sample, stdout and a file sink
  check         `keywatch check` of the sample config with models and GeoIP
  watch         `keywatch watch` following the sample (plain JSONL) with a
                file sink and a state_dir, stopped with SIGTERM once its
                output is quiet

For each, a first run counts the allocations (the range 1..N) and records
what it wrote. Then each chosen n runs once, and must end in one of two
ways:

  - exit 2 or 3 with a message on stderr that says memory ran out
    ("out of memory", or strerror's "Cannot allocate memory"), or
  - exactly the run without failure: the same exit status, the same
    stdout, the same alerts in the file sink, the same records in the
    state file (a failure that is absorbed must lose nothing);

and, either way, never with a signal, a sanitizer report (the test runs in
every build, ASan+UBSan with leak checks included), a hang, or a file sink
or JSON stdout holding anything but whole JSON lines (an alert is written
whole or not at all). In watch, threads make the numbering of allocations
vary a little from run to run, and its alerts are compared as a set.

Which n: R per case (--runs, default 60; watch: a quarter of R, each of
its runs takes a second): the first R/2 in a row (start-up: config,
models, GeoIP, sinks, where most distinct error paths are), the other R/2
spread over the rest by a stride, starting at an offset that changes
every day (days since 1970 modulo the stride, or --offset K /
KW_FAILMALLOC_OFFSET), so that successive CI runs cover every n of the
range in stride days. --all runs every n (a long sweep: about 10^4 runs
per scan, an hour or more). The chosen offset and stride are printed; a
failing n is reproduced with the command printed with it.
"""
import argparse
import concurrent.futures
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OOM = re.compile(r"out of memory|Cannot allocate memory", re.I)
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                       r"runtime error:")


def sample(path):
    return os.path.join(ROOT, path)


GEOIP = sample("tests/fixtures/geoip/city.mmdb")
MODELS = sample("models")


def state_records(path):
    """The learned records of a state file (snapshot.h: a 24-byte header,
    the records, the extra section, a 16-byte trailer that starts with the
    record count), as a sorted list (the order of a key table walk is not
    stable), and the extra section (the router's memory) as it is."""
    if not path or not os.path.exists(path):
        return None
    data = open(path, "rb").read()
    if len(data) < 40 or data[:8] != b"KWSTATE\0":
        return ("not a state file", len(data))
    size = int.from_bytes(data[12:16], "little")
    nrec = int.from_bytes(data[-16:-8], "little")  # the trailer's count
    rec = 16 + 24 + size
    body = data[24:24 + nrec * rec]
    return (sorted(body[i:i + rec] for i in range(0, len(body), rec)),
            data[24 + nrec * rec:-16])


def whole_lines(text, what):
    """None when text is whole JSON lines, else what is wrong."""
    if not text:
        return None
    if not text.endswith(b"\n"):
        return "%s ends in a partial line" % what
    for i, line in enumerate(text.split(b"\n")[:-1]):
        try:
            v = json.loads(line)
        except ValueError:
            return "%s line %d is not JSON: %r" % (what, i + 1, line[:120])
        if not isinstance(v, dict) or "schema" not in v or "id" not in v:
            return "%s line %d is not an alert: %r" % (what, i + 1, line[:120])
    return None


class Case:
    """One command run with KW_FAILMALLOC=n in a directory of its own."""
    daemon = False
    json_stdout = True

    def __init__(self, kw, tmp, name):
        self.kw, self.tmp, self.name = kw, tmp, name

    def prepare(self, d):
        """Write what the run needs into d."""

    def cmd(self, d):
        raise NotImplementedError

    def outputs(self, d):
        """What the run wrote besides stdout, to compare with the base."""
        return {}

    def execute(self, d, env):
        p = subprocess.run(self.cmd(d), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def run(self, n, count_file=None):
        d = tempfile.mkdtemp(dir=self.tmp)
        self.prepare(d)
        env = dict(os.environ)
        env.pop("KW_FAILMALLOC", None)
        if n:
            env["KW_FAILMALLOC"] = str(n)
        if count_file:
            env["KW_FAILMALLOC_COUNT"] = count_file
        t0 = time.time()
        try:
            rc, out, err = self.execute(d, env)
        except subprocess.TimeoutExpired as e:
            rc, out, err = "timeout", e.stdout or b"", e.stderr or b""
        res = {"rc": rc, "out": out, "err": err.decode(errors="replace"),
               "files": self.outputs(d), "secs": time.time() - t0}
        shutil.rmtree(d, ignore_errors=True)
        return res


def sink_config(base, d, **more):
    c = json.load(open(sample(base)))
    c["sinks"] = [{"type": "file", "path": os.path.join(d, "alerts.jsonl")}]
    c.update(more)
    path = os.path.join(d, "keywatch.json")
    with open(path, "w") as f:
        json.dump(c, f)
    return path


def read_or_none(path):
    return open(path, "rb").read() if os.path.exists(path) else None


class Scan(Case):
    def __init__(self, kw, tmp, name, config, inputs, state=None, base_state=None):
        super().__init__(kw, tmp, name)
        self.config, self.inputs = config, inputs
        self.state = state  # None, "write" or "read"
        self.base_state = base_state

    def prepare(self, d):
        sink_config(self.config, d)
        if self.state == "read":
            shutil.copyfile(self.base_state, os.path.join(d, "state"))

    def cmd(self, d):
        c = [self.kw, "scan", "-o", "json", "-m", MODELS, "--geoip", GEOIP,
             "-c", os.path.join(d, "keywatch.json")]
        if self.state:
            c += ["--state", os.path.join(d, "state")]
        return c + [sample(i) for i in self.inputs]

    def outputs(self, d):
        return {"alerts.jsonl": read_or_none(os.path.join(d, "alerts.jsonl")),
                "state": state_records(os.path.join(d, "state") if self.state else None)}


class Check(Case):
    json_stdout = False

    def cmd(self, d):
        return [self.kw, "check", "-c", sample("samples/keywatch.json"), "-m", MODELS,
                "--geoip", GEOIP]


class Watch(Case):
    daemon = True
    json_stdout = False
    QUIET = 1.0  # seconds without new output: done
    LIMIT = 30.0

    def __init__(self, kw, tmp, name, plain):
        super().__init__(kw, tmp, name)
        self.plain = plain

    def prepare(self, d):
        os.mkdir(os.path.join(d, "logs"))
        shutil.copyfile(self.plain, os.path.join(d, "logs", "api.jsonl"))
        sink_config("samples/keywatch.json", d,
                    inputs=[{"path": os.path.join(d, "logs", "*.jsonl")}],
                    state_dir=os.path.join(d, "state"))

    def cmd(self, d):
        return [self.kw, "watch", "-m", MODELS, "--geoip", GEOIP,
                "-c", os.path.join(d, "keywatch.json")]

    def execute(self, d, env):
        sink = os.path.join(d, "alerts.jsonl")
        errf = open(os.path.join(d, "stderr"), "w+b")
        p = subprocess.Popen(self.cmd(d), stdout=subprocess.PIPE, stderr=errf, env=env)
        # Done when the sink and stderr have been quiet for QUIET seconds
        # (the sample is read in well under a second), or it ended.
        t0 = last_change = time.time()
        seen = None
        while time.time() - t0 < self.LIMIT and p.poll() is None:
            now = (os.path.getsize(sink) if os.path.exists(sink) else -1,
                   os.fstat(errf.fileno()).st_size)
            if now != seen:
                seen, last_change = now, time.time()
            elif time.time() - last_change >= self.QUIET and now[0] > 0:
                break
            elif time.time() - last_change >= 3 * self.QUIET:
                break
            time.sleep(0.05)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=60)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            rc = "timeout"
        errf.seek(0)
        err = errf.read()
        errf.close()
        return rc, out, err

    def outputs(self, d):
        text = read_or_none(os.path.join(d, "alerts.jsonl"))
        return {"alerts.jsonl": text,
                "alert set": sorted(text.split(b"\n")) if text else None}


def judge(case, base, n, r):
    """None when the run is right, else what is wrong."""
    if r["rc"] == "timeout":
        return "hung (120 s)"
    if r["rc"] < 0:
        return "killed by signal %d" % -r["rc"]
    if SANITIZER.search(r["err"]):
        return "sanitizer report"
    for what, text in [("stdout", r["out"] if case.json_stdout else None),
                       ("the file sink", r["files"].get("alerts.jsonl"))]:
        why = whole_lines(text, what)
        if why:
            return why
    files = dict(r["files"])
    bfiles = dict(base["files"])
    if case.daemon:  # alerts as a set: delivery threads set the order
        files.pop("alerts.jsonl")
        bfiles.pop("alerts.jsonl")
    same = (r["rc"] == base["rc"] and r["out"] == base["out"] and files == bfiles)
    if same:
        return None
    failed = ("failmalloc: allocation %d " % n) in r["err"]
    if not failed and not case.daemon:
        return "output differs although allocation %d was never made" % n
    if r["rc"] in (2, 3):
        if OOM.search(r["err"]):
            return None
        return "exit %d without saying that memory ran out" % r["rc"]
    if r["rc"] == base["rc"]:
        what = [k for k in bfiles if files.get(k) != bfiles[k]]
        if r["out"] != base["out"]:
            what.insert(0, "stdout")
        return "exit %d as without the failure, but other %s: data lost silently" % (
            r["rc"], " and ".join(what))
    return "exit %d" % r["rc"]


_symbols = {}


def symbolize(kw, err):
    """The failing allocation's stack, in keywatch's own code, as
    "function (file:line)" (addr2line on the offsets failmalloc.c prints)."""
    offs = re.findall(r"^failmalloc:   (\S+)\+(0x[0-9a-f]+)$", err, re.M)
    own = [o for f, o in offs if os.path.realpath(f) == kw]
    need = [o for o in own if o not in _symbols]
    if need:
        try:
            out = subprocess.run(["addr2line", "-f", "-C", "-e", kw] + need,
                                 stdout=subprocess.PIPE, text=True).stdout.splitlines()
        except OSError:
            out = []
        for i, o in enumerate(need):
            fn = out[2 * i] if 2 * i + 1 < len(out) else "?"
            loc = out[2 * i + 1] if 2 * i + 1 < len(out) else "?"
            loc = re.sub(r" \(discriminator \d+\)", "", loc)
            _symbols[o] = "%s (%s)" % (fn, os.path.relpath(loc, ROOT) if loc.startswith("/")
                                       else loc)
    return [_symbols.get(o, o) for o in own]


def choose(total, runs, offset, everything):
    """The n to fail, the first ones in a row, the stride and offset of the
    rest."""
    if everything or total <= runs:
        return list(range(1, total + 1)), total, 1, 0
    head = runs // 2
    rest = total - head
    stride = (rest + (runs - head) - 1) // (runs - head)
    off = offset % stride
    return (list(range(1, head + 1)) + list(range(head + 1 + off, total + 1, stride)),
            head, stride, off)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("keywatch")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--runs", type=int, default=int(os.environ.get("KW_FAILMALLOC_RUNS", 60)))
    ap.add_argument("--offset", type=int,
                    default=int(os.environ.get("KW_FAILMALLOC_OFFSET",
                                               int(time.time() // 86400))))
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()
    kw = os.path.abspath(args.keywatch)
    bad = []
    total_runs = 0
    t_start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        base_state = os.path.join(tmp, "base.state")
        plain = os.path.join(tmp, "requests.jsonl")
        with gzip.open(sample("samples/requests.jsonl.gz"), "rb") as f, open(plain, "wb") as o:
            shutil.copyfileobj(f, o)
        requests = ["samples/requests.jsonl.gz"]
        cases = [
            (Scan(kw, tmp, "scan", "samples/keywatch.json", requests, "write"), args.runs),
            (Scan(kw, tmp, "scan+state", "samples/keywatch.json", requests, "read",
                  base_state), args.runs),
            (Scan(kw, tmp, "cloudtrail", "samples/cloudtrail.keywatch.json",
                  ["samples/cloudtrail.json.gz"]), args.runs),
            (Check(kw, tmp, "check"), args.runs),
            (Watch(kw, tmp, "watch", plain), max(1, args.runs // 4)),
        ]
        for case, runs in cases:
            if args.only and case.name not in args.only:
                continue
            count = os.path.join(tmp, "count")
            if case.name == "scan+state" and not os.path.exists(base_state):
                d = tempfile.mkdtemp(dir=tmp)
                first = cases[0][0]
                first.prepare(d)
                subprocess.run(first.cmd(d), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=True)
                shutil.copyfile(os.path.join(d, "state"), base_state)
            base = case.run(0, count)
            if base["rc"] != 0 or SANITIZER.search(base["err"]):
                print("%s: the run without failures fails (exit %s):\n%s"
                      % (case.name, base["rc"], base["err"][-2000:]))
                return 1
            if case.daemon:
                again = case.run(0)
                if again["files"]["alert set"] != base["files"]["alert set"]:
                    print("%s: two runs without failures wrote other alerts" % case.name)
                    return 1
            total = int(open(count).read())
            ns, head, stride, off = choose(total, runs, args.offset, args.all)
            t0 = time.time()
            with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
                futs = {pool.submit(case.run, n): n for n in ns}
                for f in concurrent.futures.as_completed(futs):
                    n = futs[f]
                    r = f.result()
                    why = judge(case, base, n, r)
                    if why:
                        bad.append((case.name, n, why, r, case))
            print("%s: %d allocations; failed n = 1..%d, then every %d from %d "
                  "(%d runs, %.0f s)" % (case.name, total, head, stride, head + 1 + off,
                                         len(ns), time.time() - t0),
                  flush=True)
            total_runs += len(ns)
    groups = {}
    for name, n, why, r, case in sorted(bad, key=lambda b: (b[0], b[1])):
        stack = symbolize(kw, r["err"])
        site = next((f for f in stack if "failmalloc.c" not in f), "?")
        groups.setdefault((why, site), []).append((name, n, r, case, stack))
    for (why, site), runs in sorted(groups.items(), key=lambda g: g[1][0][1]):
        name, n, r, case, stack = runs[0]
        print("\nFAIL: %s\n  where the allocation failed: %s\n  %d run(s): %s" % (
            why, site, len(runs), ", ".join("%s n=%d" % (x[0], x[1]) for x in runs[:8])))
        print("  reproduce: KW_FAILMALLOC=%d %s" % (n, " ".join(case.cmd("DIR"))))
        print("\n".join("  at " + f for f in stack[:8]))
        lines = [l for l in r["err"].splitlines() if not l.startswith("failmalloc:")]
        print("\n".join("  | " + l for l in lines[-8:]))
    print("\n%d runs, %d failed, %.0f s" % (total_runs, len(bad), time.time() - t_start))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
