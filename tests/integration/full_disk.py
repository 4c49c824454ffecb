#!/usr/bin/env python3
"""The file sink on a disk that fills up: only whole lines, nothing lost.

A 32 KiB tmpfs (mounted in a private mount namespace, so root is needed)
holds the file sink's target. A scan raises 150 alerts, far more than fit:
the file must then hold only whole JSON lines (a torn line would break
every reader of the file), and the alerts that did not fit must wait in the
spool. Once there is room again, the next run delivers them: every alert
is in the file exactly once, each line whole.

Without root (or where mount namespaces are not allowed) the test is
skipped with the reason (exit 77); tests/unit/test_sink.c covers short
writes through RLIMIT_FSIZE without root.

usage: full_disk.py KEYWATCH
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ALERTS = 150


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def whole_lines(name, data):
    """The ids of the alerts in data; fails on anything but whole lines."""
    ids = []
    if data and not data.endswith(b"\n"):
        raise AssertionError("%s ends inside a line: %r" % (name, data[-80:]))
    for n, line in enumerate(data.splitlines(), 1):
        try:
            ids.append(json.loads(line)["id"])
        except (ValueError, KeyError) as e:
            raise AssertionError("%s line %d is not a whole alert (%s): %r"
                                 % (name, n, e, line[:120]))
    return ids


def main():
    keywatch = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        skip("needs root to mount a small tmpfs in a private mount namespace")
    if not shutil.which("unshare"):
        skip("unshare(1) is not installed")
    tmp = tempfile.mkdtemp(prefix="kw_full_disk_")
    try:
        mnt = os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        probe = subprocess.run(["unshare", "-m", "sh", "-c",
                                "mount -t tmpfs -o size=32k tmpfs '%s'" % mnt],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            skip("cannot mount a tmpfs in a mount namespace here: "
                 + probe.stderr.strip())
        with open(os.path.join(tmp, "in.jsonl"), "w") as f:
            for i in range(ALERTS):
                f.write(json.dumps({
                    "id": "req_%04d" % i, "created": 1795766400 + i,
                    "method": "GET", "path": "/v1/customers", "status": 200,
                    "ip": "198.51.100.7",
                    "api_key": "sk_live_51HxDecoyKeyNumber%04dAbCdEfGh" % i}) + "\n")
        with open(os.path.join(tmp, "cfg.json"), "w") as f:
            json.dump({"keys": [{"match": "sk_live_*", "name": "decoy", "honey": True}],
                       "state_dir": os.path.join(tmp, "state"),
                       "drain_timeout": "2s", "retry_initial": 0.1, "retry_max": 0.3,
                       "sinks": [{"type": "file", "path": os.path.join(mnt, "alerts.jsonl")}]},
                      f)
        # One namespace for both runs: the tmpfs lives as long as it.
        script = """
set -e
mount -t tmpfs -o size=32k tmpfs mnt
"$KW" scan -o none -c cfg.json in.jsonl 2> run1.err || echo "exit $?" >> run1.err
cp mnt/alerts.jsonl full.jsonl
mount -o remount,size=1m mnt
"$KW" scan -o none -c cfg.json /dev/null 2> run2.err || echo "exit $?" >> run2.err
cp mnt/alerts.jsonl after.jsonl
"""
        p = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=tmp,
                           capture_output=True, text=True, timeout=240,
                           env=dict(os.environ, KW=keywatch,
                                    KEYWATCH_NO_DEFAULT_GEOIP="1"))
        errs = {}
        for run in ("run1", "run2"):
            with open(os.path.join(tmp, run + ".err")) as f:
                errs[run] = f.read()
        failures = []
        if p.returncode != 0:
            failures.append("the script failed (%d): %s" % (p.returncode, p.stderr))
        for run, text in errs.items():
            if "Sanitizer" in text or "runtime error" in text or "\nexit " in "\n" + text:
                failures.append("%s: %s" % (run, text[-2000:]))
        if not failures:
            try:
                with open(os.path.join(tmp, "full.jsonl"), "rb") as f:
                    first = whole_lines("the full disk's file", f.read())
                with open(os.path.join(tmp, "after.jsonl"), "rb") as f:
                    every = whole_lines("the file after the retry", f.read())
            except AssertionError as e:
                failures.append(str(e))
        if not failures:
            if not 0 < len(first) < ALERTS:
                failures.append("%d alerts fitted on the full disk; expected "
                                "some, not all" % len(first))
            if "the partial line was removed" not in errs["run1"]:
                failures.append("run 1 did not say it removed a partial line:\n"
                                + errs["run1"][-1500:])
            if "spooled in" not in errs["run1"]:
                failures.append("run 1 did not spool what did not fit")
            if sorted(every) != sorted(set(every)) or len(every) != ALERTS:
                failures.append("after the retry the file holds %d alerts, %d "
                                "distinct; expected each of the %d once"
                                % (len(every), len(set(every)), ALERTS))
            if every[:len(first)] != first:
                failures.append("the alerts written before the disk filled changed")
        for f in failures:
            print("FAIL " + f)
        print("%d passed, %d failed" % (0 if failures else 1, 1 if failures else 0))
        return 1 if failures else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
