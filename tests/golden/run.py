#!/usr/bin/env python3
"""Golden tests: a log + a config -> the exact alert lines.

Each folder under tests/golden/ is one case:
  args      the command line after `keywatch`, one argument per line;
            paths are relative to the case folder; @ROOT@ is the
            repository's root
  expected  the exact standard output
  same-as   instead of expected: the name of another case whose expected
            output this case must give too (the same records in another
            wrapping)
  rc        the exact exit status (default 0)
  stderr    lines that must each appear in standard error (optional)
  *.gz.in / *.zst.in  inputs kept as text in the repository, compressed
            into the temporary copy of the case before it runs; in a
            *.gz.in, a line "%%gzip-member%%" ends one gzip member and
            starts the next (the newline before it is not part of the data:
            concatenated members, as Firehose writes them)

usage: run.py KEYWATCH [CASE...]
"""
import gzip
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def prepare(case_dir, tmp):
    work = os.path.join(tmp, os.path.basename(case_dir))
    shutil.copytree(case_dir, work)
    for path in [os.path.join(d, f) for d, _, fs in os.walk(work) for f in fs]:
        name = os.path.basename(path)
        if name.endswith(".gz.in"):
            with open(path, "rb") as f:
                data = f.read()
            with open(path[:-3], "wb") as f:
                for part in data.split(b"\n%%gzip-member%%\n"):
                    f.write(gzip.compress(part, mtime=0))
        elif name.endswith(".zst.in"):
            subprocess.run(["zstd", "-q", "-f", path, "-o", path[:-3]],
                           check=True)
        else:
            continue
        os.unlink(path)  # only the compressed file is an input
    return work


def run_case(keywatch, case_dir, tmp):
    name = os.path.basename(case_dir)
    work = prepare(case_dir, tmp)
    with open(os.path.join(work, "args")) as f:
        args = [a.replace("@ROOT@", ROOT) for a in f.read().split("\n") if a]
    # No GeoIP database from the machine's default folders: the expected
    # output must not depend on what is installed there.
    env = dict(os.environ, NO_COLOR="1", KEYWATCH_NO_DEFAULT_GEOIP="1")
    env.pop("KEYWATCH_MODELS", None)
    p = subprocess.run([keywatch] + args, cwd=work, capture_output=True,
                       timeout=120, env=env)
    failures = []
    want_rc = 0
    rc_path = os.path.join(work, "rc")
    if os.path.exists(rc_path):
        want_rc = int(open(rc_path).read().strip())
    if p.returncode != want_rc:
        failures.append("exit status %d, expected %d" % (p.returncode, want_rc))
    same = os.path.join(work, "same-as")
    if os.path.exists(same):
        other = open(same).read().strip()
        want = open(os.path.join(HERE, other, "expected"), "rb").read()
    else:
        want = open(os.path.join(work, "expected"), "rb").read()
    if p.stdout != want:
        got = p.stdout.decode("utf-8", "replace").splitlines()
        exp = want.decode("utf-8", "replace").splitlines()
        failures.append("stdout differs:\n" + "\n".join(
            __import__("difflib").unified_diff(exp, got, "expected", "got",
                                               lineterm="")))
    err = p.stderr.decode("utf-8", "replace")
    st_path = os.path.join(work, "stderr")
    if os.path.exists(st_path):
        for line in open(st_path).read().splitlines():
            if line and line not in err:
                failures.append("stderr lacks: %s" % line)
    if failures:
        print("FAIL %s\n  %s\n--- stderr:\n%s" % (name, "\n  ".join(failures), err))
        return False
    print("ok   %s" % name)
    return True


def main():
    keywatch = os.path.abspath(sys.argv[1])
    names = sys.argv[2:] or sorted(
        d for d in os.listdir(HERE) if os.path.isdir(os.path.join(HERE, d))
        and not d.startswith("_"))
    ok = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n in names:
            ok += run_case(keywatch, os.path.join(HERE, n), tmp)
    print("%d passed, %d failed" % (ok, len(names) - ok))
    return 0 if ok == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
