#!/usr/bin/env python3
"""`keywatch check`: keys pasted whole into the config, and the geo
detectors' real state.

A key pasted into `match` or into a suppression's `key` (no '*') is shown
as its redacted id, everywhere check prints it (the key's name, the
suppression's reason), with a warning that says where and what to write
instead; the key is never printed. The geo detectors show whether they
really run with the GeoIP databases given (none, ASN only, country only,
city and ASN), and why not. Given input, check reads it as scan would and
names the keys[] entries that matched no key.

usage: check.py KEYWATCH
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GEOIP = os.path.join(os.path.dirname(HERE), "fixtures", "geoip")
KEY = "sk_live_51HxPastedWholeKeyAbCdEf4242"
ID = "sk_live_\u20264242"

CONFIG = {
    "keys": [{"match": KEY, "name": "backend (was %s)" % KEY},
             {"match": "rk_live_*a1b2", "name": "analytics"}],
    "suppress": [{"detector": "geo.new_ip", "key": KEY, "ip": "203.0.113.9",
                  "reason": "office for " + KEY},
                 {"detector": "geo.new_ip", "key": "sk_live_*4242", "ip": "203.0.113.9"}],
    "detectors": {"rate.spike": {"enabled": False}},
}

KEYS_AND_SUPPRESS = [
    "  %s        backend (was %s)" % (ID, ID),
    "  rk_live_*a1b2        analytics",
    "suppressions: 2",
    '  geo.new_ip %s {"ip":"203.0.113.9"} (office for %s)' % (ID, ID),
    '  geo.new_ip sk_live_*4242 {"ip":"203.0.113.9"}',
]

WARNINGS = [
    "keywatch: warning: %s: keys[0] holds a whole key (shown as %s): write a glob "
    'such as "sk_live_*4242" instead, so that the config does not hold the secret',
    "keywatch: warning: %s: suppress[0] holds a whole key (shown as %s), and as a "
    "suppression's key is matched against the redacted id, it matches nothing: "
    'write a glob such as "sk_live_*4242" instead, so that the config does not '
    "hold the secret",
]

NONE = "needs a GeoIP database with %s; none is loaded: give one with --geoip FILE"
SOME = "needs a GeoIP database with %s; the loaded ones have none: add one with --geoip FILE"


def geo_lines(off):
    """The geo detectors' lines; off maps a detector to its reason."""
    names = [("geo.ip_not_allowed", "policy"), ("geo.new_ip", "learned"),
             ("geo.new_network", "learned"), ("geo.new_country", "learned"),
             ("geo.impossible_travel", "learned"),
             ("geo.country_not_allowed", "learned")]
    out = []
    for name, kind in names:
        why = off.get(name)
        if why and why.startswith("on:"):
            out.append("  %-4s %-24s %s (%s)" % ("on", name, kind, why[3:]))
        elif why:
            out.append("  %-4s %-24s %s (%s)" % ("off", name, kind, why))
        else:
            out.append("  %-4s %-24s %s" % ("on", name, kind))
    return out


CASES = [
    ("no database", [], {
        "geo.new_ip": "on:no GeoIP database: on addresses alone",
        "geo.new_network": NONE % "networks (ASN)",
        "geo.new_country": NONE % "countries",
        "geo.impossible_travel": NONE % "locations",
        "geo.country_not_allowed": NONE % "countries"}),
    ("ASN only", ["asn.mmdb"], {
        "geo.new_country": SOME % "countries",
        "geo.impossible_travel": SOME % "locations",
        "geo.country_not_allowed": SOME % "countries"}),
    ("countries only", ["flat-country.mmdb"], {
        "geo.new_network": SOME % "networks (ASN)",
        "geo.impossible_travel": SOME % "locations"}),
    ("city and ASN", ["city.mmdb", "asn.mmdb"], {}),
]


def check_input(keywatch, cfg, tmp, env):
    """check -c CONFIG PATH: the input read as scan reads it, and the
    keys[] entries that matched no key named (issue 10 item 4). The key is
    in an Authorization header: without the map's key form nothing
    matches."""
    log = os.path.join(tmp, "gateway.jsonl")
    with open(log, "w") as f:
        for auth in ("Bearer rk_live_51HxAnalyticsKeyZz9a1b2", "Bearer "):
            f.write(json.dumps({"t": "2026-11-27T09:00:00Z", "m": "GET",
                                "p": "/v1/charges", "s": 200,
                                "h": {"authorization": auth}}) + "\n")
    base = [keywatch, "check", "-c", cfg, "--map", "created=t", "--map", "method=m",
            "--map", "path=p", "--map", "status=s"]
    hint = " (is the key in another field, or inside a header: --map 'api_key=PATH|bearer'?)"
    cases = [
        ("whole header", "api_key=h.authorization", 0,
         "input: 1 input read, 2 events from 2 keys, 0 requests without a key, 0 problems; "
         "0 of 2 keys[] entries (decoys aside) matched a key",
         ["keywatch: warning: 2 of 2 keys[] entries matched no key in the input: "
          "keys[0] '%s' (backend (was %s)), keys[1] 'rk_live_*a1b2' (analytics)%s" % (ID, ID, hint)]),
        ("bearer", "api_key=h.authorization|bearer", 3,
         "input: 1 input read, 1 event from 1 key, 0 requests without a key, 1 problem; "
         "1 of 2 keys[] entries (decoys aside) matched a key",
         ["keywatch: warning: %s:2: field 'api_key' (h.authorization) has an empty Bearer token" % log,
          "keywatch: warning: 1 of 2 keys[] entries matched no key in the input: "
          "keys[0] '%s' (backend (was %s))%s" % (ID, ID, hint)]),
    ]
    failures = []
    for name, m, rc, out_line, err_lines in cases:
        p = subprocess.run(base + ["--map", m, log], capture_output=True, timeout=60, env=env)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode != rc:
            failures.append("input %s: exit %d, expected %d: %s" % (name, p.returncode, rc, err))
        if out_line not in out.splitlines():
            failures.append("input %s: stdout lacks %r:\n%s" % (name, out_line, out[-500:]))
        for want in err_lines:
            if want not in err.splitlines():
                failures.append("input %s: stderr lacks %r:\n%s" % (name, want, err))
        if KEY in out + err or "rk_live_51HxAnalyticsKeyZz9a1b2" in out + err:
            failures.append("input %s: check printed a key" % name)
    return failures


def main():
    keywatch = os.path.abspath(sys.argv[1])
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "kw.json")
        with open(cfg, "w") as f:
            json.dump(CONFIG, f)
        env = dict(os.environ, KEYWATCH_NO_DEFAULT_GEOIP="1", NO_COLOR="1")
        for name, dbs, off in CASES:
            args = [keywatch, "check", "-c", cfg]
            for db in dbs:
                args += ["--geoip", os.path.join(GEOIP, db)]
            p = subprocess.run(args, capture_output=True, timeout=60, env=env)
            out = p.stdout.decode("utf-8", "replace")
            err = p.stderr.decode("utf-8", "replace")
            lines = out.splitlines()
            if p.returncode != 0:
                failures.append("%s: exit %d: %s" % (name, p.returncode, err))
            if "Sanitizer" in err or "runtime error" in err:
                failures.append("%s: sanitizer report: %s" % (name, err))
            for want in geo_lines(off) + KEYS_AND_SUPPRESS:
                if want not in lines:
                    failures.append("%s: stdout lacks %r" % (name, want))
            if "  off  rate.spike               learned (switched off in the config)" not in lines:
                failures.append("%s: rate.spike not shown as switched off" % name)
            for w in WARNINGS:
                if w % (cfg, ID) not in err:
                    failures.append("%s: stderr lacks %r\n%s" % (name, w % (cfg, ID), err))
            for piece in (KEY, KEY[8:24], KEY[-16:]):
                if piece in out or piece in err:
                    failures.append("%s: check printed the key (%s...)" % (name, piece[:8]))
        failures += check_input(keywatch, cfg, tmp, env)
    for f in failures:
        print("FAIL " + f)
    print("%d passed, %d failed" % (len(CASES) if not failures else 0, 1 if failures else 0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
