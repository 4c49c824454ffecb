"""What the integration test scripts share: a failed check, running
named cases with one "ok"/"FAIL" line each, reading a daemon's log so far,
waiting for a condition, waiting for a daemon's /healthz, and the alerts
a file sink's spool still holds. Importing it
also makes the script kill, at exit and after each case, whatever it
started and left running."""
import atexit
import json
import os
import signal
import sys
import time
import urllib.request


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def kill_children():
    """Kills every process this one started that is still running (a
    daemon or mock cluster a failed check left behind would otherwise keep
    its CPU and ports long after the test ended). Run after each case and
    at exit."""
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


atexit.register(kill_children)
# meson ends a test that overruns its timeout with SIGTERM: exit through
# atexit, so that what the test started goes with it.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def run_cases(cases, names=()):
    """Run each case (a function of no arguments) whose name is in names
    (all when names is empty); returns the exit status."""
    failed = 0
    for fn in cases:
        if names and fn.__name__ not in names:
            continue
        start = time.time()
        try:
            fn()
            print("ok   %s (%.1f s)" % (fn.__name__, time.time() - start))
        except Failed as e:
            failed += 1
            print("FAIL %s (%.1f s): %s" % (fn.__name__, time.time() - start,
                                            e))
        kill_children()
    return 1 if failed else 0


def read_all(f):
    """All of an open file (a daemon's stderr written as it runs)."""
    f.seek(0)
    return f.read()


def wait_until(cond, timeout, step=0.2):
    """Calls cond every step seconds until it holds or timeout seconds have
    passed; whether it held (the caller's checks say what was wrong)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def wait_healthz(port, timeout=10):
    """Until http://127.0.0.1:port/healthz answers "ok"."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/healthz" % port, timeout=1) as r:
                if r.read() == b"ok\n":
                    return
        except OSError:
            time.sleep(0.05)
    raise Failed("keywatch did not come up")


def spooled_ids(path):
    """The ids of the alerts a spool file holds undelivered (records past
    the last "done" mark); [] when there is no file. A last line without
    its newline is one a writer was cut off in (killed, or still writing):
    not a record yet, as keywatch's own replay reads it."""
    if not os.path.exists(path):
        return []
    recs, done = [], 0
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                continue
            o = json.loads(line)
            if "done" in o:
                done = max(done, o["done"])
            else:
                recs.append((o["seq"], o["alert"]["id"]))
    return [i for s, i in recs if s > done]
