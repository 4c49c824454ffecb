"""evalscore.py - the labelled synthetic week and how alerts are scored
against its truth, shared by bench/eval, bench/tree and the tree test.

- generate(): the week from tools/kwgen --eval, cached in a folder by its
  parameters (keys, days, events, seed, eval).
- score(): recall per planted kind (an alert of a detector that covers the
  kind, table COVERS, names the same key between ten minutes before and 15
  minutes after the anomaly's first request) and the false alerts (at
  medium or above, with nothing planted on the key from a minute before to
  an hour after the plant).

The one idea: the truth is written by the generator, not inferred from
keywatch's output, so a detector that fires everywhere scores badly on the
false alerts and one that fires nowhere on recall.
"""

import datetime as dt
import os
import subprocess
import sys

# Which detectors catch a planted kind (bulk reading may be caught by any
# of the three).
COVERS = {
    "rate.spike": {"rate.spike"},
    "rate.errors": {"rate.errors", "auth.failures"},
    "auth.failures": {"auth.failures"},
    "ops.sensitive": {"ops.sensitive"},
    "ops.first_seen": {"ops.first_seen", "ops.sensitive", "rate.spike"},
}
LEARNED = set(COVERS)
SEVERE = {"medium", "high", "critical"}
BATCH_NAMES = {"analytics", "billing-worker"}


def ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def generate(root, out, keys, days, events, seed, eval_n, quiet=False):
    """The week's (log, truth, config) paths in out, generated once."""
    tag = "eval3-k%d-d%g-e%d-s%d-p%d" % (keys, days, events, seed, eval_n)
    log = os.path.join(out, tag + ".jsonl.gz")
    truth = os.path.join(out, tag + ".truth.jsonl")
    conf = os.path.join(out, tag + ".json")
    if not (os.path.exists(log) and os.path.exists(truth) and
            os.path.exists(conf)):
        if not quiet:
            print("generating %s ..." % log, file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(root, "tools", "kwgen"),
                        "-q", "--keys", str(keys), "--days", str(days),
                        "--events", str(events), "--seed", str(seed),
                        "--plant", "all", "--eval", str(eval_n),
                        "-o", log + ".tmp.gz", "--truth", truth,
                        "--config", conf], check=True)
        os.rename(log + ".tmp.gz", log)
    return tag, log, truth, conf


class Score:
    """by_kind: {kind: (caught, planted)}; missed: the truth entries no
    alert covers; false: alerts at medium+ nothing planted explains; batch:
    those on nightly batch keys."""

    def __init__(self, alerts, truth):
        self.by_kind = {}
        self.missed = []
        for t in truth:
            k = t["detector"]
            covers = COVERS.get(k, {k})
            t0 = ts(t["time"])
            hit = any(a["key"]["id"] == t["key_id"] and
                      a["detector"] in covers and
                      t0 - 600 <= ts(a["time"]) <= t0 + 900 for a in alerts)
            caught, total = self.by_kind.get(k, (0, 0))
            self.by_kind[k] = (caught + hit, total + 1)
            if not hit:
                self.missed.append(t)

        def explained(a):
            at = ts(a["time"])
            return any(t["key_id"] == a["key"]["id"] and
                       ts(t["time"]) - 60 <= at <=
                       ts(t.get("until", t["time"])) + 3600 for t in truth)

        self.false = [a for a in alerts if a["severity"] in SEVERE and
                      not explained(a)]
        self.batch = [a for a in self.false
                      if (a["key"].get("name") or "").endswith("-batch") or
                      a["key"].get("name") in BATCH_NAMES]

    def learned(self):
        """(caught, planted) over the learned kinds."""
        c = sum(v[0] for k, v in self.by_kind.items() if k in LEARNED)
        n = sum(v[1] for k, v in self.by_kind.items() if k in LEARNED)
        return c, n
