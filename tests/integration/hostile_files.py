#!/usr/bin/env python3
"""hostile_files.py - what keywatch reads back and writes, under attack.

The real binary is given files an attacker or an unlucky operator could
leave: a --state file with a valid checksum and insane detector counters
(it made has_ip and add_place overflow a heap buffer), a FIFO or a device
where a state file, a config, a GeoIP database or a model belongs (open()
used to block forever), a checkpoint of a few MB that asked watch for
hundreds, a link planted at state_dir/checkpoint.tmp (written through), and
absurd numbers (--max-line 1000000000000000 ended in "out of memory" with
exit 0). Each must be an error naming the file or the option, exit 2, in
seconds, with no sanitizer report; what keywatch writes is never written
through a link.

Usage: hostile_files.py path/to/keywatch
"""
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import harness  # noqa: E402,F401 (kills what a failed run left running)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "models")
KEY = "sk_live_51HxBackendKeyAbCdEf1234"
ENV = dict(os.environ, KEYWATCH_NO_DEFAULT_GEOIP="1")


def log_lines(first_ip, count, t0):
    return "".join(json.dumps({
        "id": "req_%d" % (t0 + i), "created": 1795766400 + t0 + i,
        "method": "GET", "path": "/v1/customers", "status": 200,
        "ip": "%s.%d" % (first_ip, i % 50 + 1), "api_key": KEY}) + "\n"
        for i in range(count))


def run(argv, timeout=20, **kw):
    t = time.time()
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout,
                           env=ENV, **kw)
    except subprocess.TimeoutExpired:
        return None, "", "hung (timeout after %d s)" % timeout, timeout
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"), time.time() - t)


class Checks:
    def __init__(self):
        self.failed = self.passed = 0

    def expect(self, name, result, rc, msg, within=20):
        code, _, err, took = result
        problems = []
        if code is None:
            problems.append(err)
        else:
            if code < 0:
                problems.append("killed by signal %d" % -code)
            if "Sanitizer" in err or "runtime error" in err:
                problems.append("sanitizer report")
            if code != rc:
                problems.append("exit status %d, expected %d" % (code, rc))
            if msg and msg not in err:
                problems.append("stderr lacks %r" % msg)
            if took > within:
                problems.append("took %.1f s" % took)
        self.report(name, problems, err)

    def report(self, name, problems, err=""):
        if problems:
            self.failed += 1
            print("FAIL %s: %s\n  stderr: %s" % (name, "; ".join(problems),
                                                 err[-2000:]))
        else:
            self.passed += 1
            print("ok   %s" % name)


def craft_state(src, dst, fill):
    """Every record's state bytes set to fill, the checksum made right:
    the file is whole, only not sane. (Version 4: after the header the
    families' sections; per record the fingerprint, three times, the
    families learning again and since when, a bitmap of the state's
    non-zero 8-byte words and those words; src/state/snapshot.h.)"""
    d = open(src, "rb").read()
    assert d[8] == 4
    ssize = struct.unpack_from("<I", d, 12)[0]
    count = struct.unpack_from("<Q", d, len(d) - 16)[0]
    nsec = struct.unpack_from("<I", d, 24)[0]
    words = (ssize + 7) // 8
    bm = (words + 7) // 8
    assert count >= 1 and ssize % 8 == 0
    p = 28
    for _ in range(nsec):
        p += 13 + d[p + 12]
    out = bytearray(d[:p])
    for _ in range(count):
        nz = sum(bin(b).count("1") for b in d[p + 48:p + 48 + bm])
        out += d[p:p + 48]
        if fill:
            bits = bytearray(bm)
            for w in range(words):
                bits[w // 8] |= 1 << (w % 8)
            out += bits + bytes([fill]) * ssize
        else:
            out += bytes(bm)
        p += 48 + bm + 8 * nz
    out += d[p:len(d) - 8]  # the extra section and the count
    out += struct.pack("<I", zlib.crc32(bytes(out))) + b"END\n"
    with open(dst, "wb") as f:
        f.write(out)


def state_cases(kw, tmp, c):
    a = os.path.join(tmp, "a.jsonl")
    b = os.path.join(tmp, "b.jsonl")
    with open(a, "w") as f:
        f.write(log_lines("198.51.100", 10, 0))
    with open(b, "w") as f:
        f.write(log_lines("203.0.113", 60, 1000))
    good = os.path.join(tmp, "good.state")
    r = run([kw, "scan", "-m", MODELS, "-o", "json", "--state", good, a])
    c.expect("a state file is written", r, 0, None)
    bad = os.path.join(tmp, "bad.state")
    craft_state(good, bad, 0xff)
    c.expect("--state with insane geo counters (valid checksum)",
             run([kw, "scan", "-m", MODELS, "-o", "json", "--state", bad, b]),
             2, bad + ": state file damaged (record 1 of 1: geo: remembered "
             "255 IPs, 255 networks, 255 ASNs, 255 countries, 255 places (at "
             "most 8, 8, 8, 8, 4)); remove it to start learning again")
    zero = os.path.join(tmp, "zero.state")
    craft_state(good, zero, 0x00)
    c.expect("--state with zeroed state is sane",
             run([kw, "scan", "-m", MODELS, "-o", "json", "--state", zero, b]),
             0, "1 key continued from the state file")


def fifo_cases(kw, tmp, c):
    a = os.path.join(tmp, "a.jsonl")
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    base = [kw, "scan", "-o", "json", "-m", MODELS]
    c.expect("a FIFO as --state",
             run(base + ["--state", fifo, a]), 2,
             fifo + ": not a regular file (a named pipe)")
    c.expect("a FIFO as -c", run(base + ["-c", fifo, a]), 2,
             fifo + ": not a regular file (a named pipe)")
    c.expect("a FIFO as --geoip", run(base + ["--geoip", fifo, a]), 2,
             fifo + ": not a regular file (a named pipe)")
    c.expect("a device as --state",
             run(base + ["--state", "/dev/zero", a]), 2,
             "/dev/zero: not a regular file (a character device)")
    models = os.path.join(tmp, "models")
    shutil.copytree(MODELS, models)
    os.mkfifo(os.path.join(models, "evil.json"))
    mcfg = os.path.join(tmp, "evil-model.json")
    with open(mcfg, "w") as f:
        json.dump({"models": ["stripe", "evil"]}, f)
    c.expect("a FIFO as a model file",
             run([kw, "scan", "-o", "json", "-m", models, "-c", mcfg, a]), 2,
             os.path.join(models, "evil.json") +
             ": not a regular file (a named pipe)")
    cfg = os.path.join(tmp, "fifo-watch.json")
    state_dir = os.path.join(tmp, "fifo-state")
    os.mkdir(state_dir)
    os.mkfifo(os.path.join(state_dir, "checkpoint"))
    with open(cfg, "w") as f:
        json.dump({"inputs": [{"path": a}], "state_dir": state_dir}, f)
    c.expect("a FIFO as the watch checkpoint",
             run([kw, "watch", "-c", cfg, "-m", MODELS]), 2,
             os.path.join(state_dir, "checkpoint") +
             ": not a regular file (a named pipe)")


def numbers(kw, tmp, c):
    a = os.path.join(tmp, "a.jsonl")
    base = [kw, "scan", "-o", "json", "-m", MODELS]
    c.expect("--max-line 1000000000000000",
             run(base + ["--max-line", "1000000000000000", a]), 2,
             "--max-line 1000000000000000: expected a number of bytes from "
             "64 to 268435456")
    c.expect("--max-keys past its maximum",
             run(base + ["--max-keys", "100000001", a]), 2,
             "--max-keys 100000001: expected a number of keys from 1 to "
             "100000000")
    c.expect("--learn past its maximum", run(base + ["--learn", "3651d", a]),
             2, "--learn 3651d: expected a duration such as 72h, at most 3650d")
    cfg = os.path.join(tmp, "numbers.json")
    with open(cfg, "w") as f:
        json.dump({"max_line": 1000000000000000}, f)
    c.expect("max_line past its maximum in the config",
             run(base + ["-c", cfg, a]), 2, cfg + ": max_line: at most 268435456")


def watch_config(tmp, name, state_dir):
    logs = os.path.join(tmp, name + "-logs")
    os.makedirs(logs, exist_ok=True)
    with open(os.path.join(logs, "api.log"), "w") as f:
        f.write(log_lines("198.51.100", 5, 0))
    cfg = os.path.join(tmp, name + ".json")
    with open(cfg, "w") as f:
        json.dump({"inputs": [{"path": logs + "/api.log*"}],
                   "state_dir": state_dir, "checkpoint_interval": "1s",
                   "sinks": [{"type": "file",
                              "path": os.path.join(tmp, name + ".alerts")}]},
                  f)
    return cfg


def watch_until_ready(kw, cfg, err_path):
    err = open(err_path, "w")
    p = subprocess.Popen([kw, "watch", "-c", cfg, "-m", MODELS],
                         stdout=subprocess.DEVNULL, stderr=err, env=ENV)
    err.close()
    deadline = time.time() + 20
    while time.time() < deadline and p.poll() is None:
        with open(err_path) as f:
            if "following 1 input" in f.read():
                return p
        time.sleep(0.05)
    return p


def checkpoint_cases(kw, tmp, c):
    # A checkpoint of a few MB: 120,000 file records. It made watch take
    # hundreds of MB (2.7 KB per record); now the count is checked first.
    state_dir = os.path.join(tmp, "big-state")
    os.mkdir(state_dir)
    cfg = watch_config(tmp, "big", state_dir)
    ckpt = os.path.join(state_dir, "checkpoint")
    with open(ckpt, "w") as f:
        f.write("keywatch-checkpoint 1\n")
        for i in range(120000):
            f.write("file 2049 %d 0 16 00000000000000ff /var/log/x%d\n" % (i, i))
        f.write("end\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = run([kw, "watch", "-c", cfg, "-m", MODELS])
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    c.expect("a checkpoint with 120,000 file records", r, 2,
             ckpt + ":2050: more than 2048 files (the most keywatch follows "
             "and remembers)")
    # ru_maxrss of the children is the largest of any child so far: only
    # a rise past the bound is this run's.
    if after > before and after > 200 * 1024:
        c.report("the big checkpoint's memory", ["max RSS %d KB" % after])
    else:
        c.report("the big checkpoint's memory", [])

    # A link planted at state_dir/checkpoint.tmp (and at the learned
    # state's temporary name): watch replaces the links, never writes
    # through them.
    state_dir = os.path.join(tmp, "link-state")
    os.mkdir(state_dir)
    cfg = watch_config(tmp, "link", state_dir)
    victim = os.path.join(tmp, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    for name in ("checkpoint.tmp", "learned.state.tmp"):
        os.symlink(victim, os.path.join(state_dir, name))
    p = watch_until_ready(kw, cfg, os.path.join(tmp, "link.err"))
    time.sleep(2.5)  # at least one checkpoint
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    err = open(os.path.join(tmp, "link.err")).read()
    problems = []
    if rc != 0:
        problems.append("watch exited %d" % rc)
    if open(victim).read() != "precious\n":
        problems.append("the link's target was written")
    for name in ("checkpoint", "learned.state"):
        st = os.lstat(os.path.join(state_dir, name))
        if not (st.st_mode & 0o170000 == 0o100000 and st.st_mode & 0o777 == 0o600):
            problems.append("%s is not a 0600 regular file" % name)
    for name in ("checkpoint.tmp", "learned.state.tmp"):
        if os.path.lexists(os.path.join(state_dir, name)):
            problems.append(name + " is left behind")
    if "Sanitizer" in err or "runtime error" in err:
        problems.append("sanitizer report")
    c.report("links planted at the checkpoint's temporary names", problems,
             err)

    # A link at the journal's path is refused (appending through it
    # would write into any file the link names).
    state_dir = os.path.join(tmp, "journal-state")
    os.mkdir(state_dir)
    cfg = watch_config(tmp, "journal", state_dir)
    journal = os.path.join(state_dir, "alerts.journal")
    empty = os.path.join(tmp, "empty-victim")
    open(empty, "w").close()
    os.symlink(empty, journal)
    c.expect("a link at the journal's path",
             run([kw, "watch", "-c", cfg, "-m", MODELS]), 2,
             journal + ": a symbolic link; keywatch does not write through "
             "links")
    if os.path.getsize(empty):
        c.report("the journal link's target", ["was written"])


def main():
    kw = os.path.abspath(sys.argv[1])
    c = Checks()
    tmp = tempfile.mkdtemp(prefix="kw_hostile_")
    try:
        state_cases(kw, tmp, c)
        fifo_cases(kw, tmp, c)
        numbers(kw, tmp, c)
        checkpoint_cases(kw, tmp, c)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
