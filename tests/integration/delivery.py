#!/usr/bin/env python3
"""Delivery that loses nothing: keywatch scan against a local receiver
(receiver.py, 127.0.0.1 only) that injects faults. Every case checks that
each alert arrived exactly once, or is still in the spool, by its id.

Cases: 500s then 429 + Retry-After then OK (signatures checked); receiver
down during a scan, then up for the next run (the spool is replayed);
a permanent 400 (dead-letter file); timeouts and slow answers; kill -9 in
the middle of delivery and a restart; secrets never printed by `check`;
the golden payloads of the chat and paging sinks; syslog over UDP and TCP;
exec with retries, a final rejection and a timeout; TLS verification on
(a self-signed certificate is refused); http_proxy from the environment.

usage: delivery.py KEYWATCH [CASE...]
"""
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Failed, check, spooled_ids  # noqa: E402
from receiver import Receiver, free_port, verify_signature  # noqa: E402

SECRET = "whsec_test_7f3a9c"
N = 25


def env():
    e = dict(os.environ, NO_COLOR="1", KW_TEST_SECRET=SECRET,
             KEYWATCH_NO_DEFAULT_GEOIP="1")
    for k in list(e):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del e[k]
    e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1"
    return e


def write_inputs(tmp, n=N, user_agent=None):
    """n decoy keys, each used once: n key.honey alerts with distinct ids."""
    keys = []
    with open(os.path.join(tmp, "log.jsonl"), "w") as f:
        for i in range(n):
            key = "sk_live_51HxHoneyKeyAbCdEfGh%04d" % i
            keys.append({"match": "sk_live_*%04d" % i,
                         "name": "decoy%d" % i, "honey": True})
            rec = {"id": "req_%04d" % i, "created": 1795766400 + i,
                   "method": "GET", "path": "/v1/balance", "status": 200,
                   "ip": "45.134.26.91", "api_key": key}
            if user_agent:
                rec["user_agent"] = user_agent
            f.write(json.dumps(rec) + "\n")
    open(os.path.join(tmp, "empty.jsonl"), "w").close()
    return keys


def config(tmp, keys, sinks, **extra):
    c = {"keys": keys, "sinks": sinks, "spool_dir": os.path.join(tmp, "spool"),
         "retry_initial": 0.05, "retry_max": 0.4, "drain_timeout": "20s"}
    c.update(extra)
    path = os.path.join(tmp, "kw.json")
    with open(path, "w") as f:
        json.dump(c, f)
    return path


def scan(keywatch, tmp, cfg, log="log.jsonl", timeout=60):
    p = subprocess.run([keywatch, "scan", "-o", "json", "-c", cfg, log],
                       cwd=tmp, capture_output=True, timeout=timeout,
                       env=env())
    check(b"Sanitizer" not in p.stderr and b"runtime error" not in p.stderr,
          "sanitizer report:\n" + p.stderr.decode(errors="replace"))
    check(p.returncode == 0, "exit %d:\n%s" % (
        p.returncode, p.stderr.decode(errors="replace")))
    return p


def ids_of(stdout):
    """The key.honey alerts on stdout (the sinks under test take only
    those; other detectors may fire on the same requests)."""
    alerts = [json.loads(line) for line in stdout.decode().splitlines()]
    return [a["id"] for a in alerts if a["detector"] == "key.honey"]


def webhook_file(tmp, ext):
    """The one webhook sink's spool or dead-letter file: an unnamed sink's
    files are named by its identity, "webhook-" and 12 hex digits of a
    hash of its destination (the URL, whose port each case picks)."""
    found = glob.glob(os.path.join(tmp, "spool", "webhook-*." + ext))
    check(len(found) <= 1, "more than one webhook %s: %s" % (ext, found))
    return found[0] if found else os.path.join(tmp, "spool", "none." + ext)


def spool_of(tmp):
    return webhook_file(tmp, "spool.jsonl")


def exactly_once(got, want, what):
    dup = sorted({i for i in got if got.count(i) > 1})
    check(not dup, "%s: delivered more than once: %s" % (what, dup))
    check(sorted(got) == sorted(want),
          "%s: delivered %d of %d (missing %s)" % (
              what, len(set(got) & set(want)), len(want),
              sorted(set(want) - set(got))[:5]))


def webhook(recv, **kw):
    s = {"type": "webhook", "url": recv.url() if recv else kw.pop("url"),
         "secret": "env:KW_TEST_SECRET", "timeout": "2s",
         "detectors": ["key.honey"]}
    s.update(kw)
    return s


def case_retry_then_ok(keywatch, tmp):
    """Five 500s, then 429 with Retry-After: 1, then OK: all 25 exactly
    once, signed, before scan exits; the Retry-After is honoured."""
    keys = write_inputs(tmp)
    recv = Receiver(plan=["500"] * 5 + ["429:1"], secret=SECRET)
    try:
        cfg = config(tmp, keys, [webhook(recv)])
        p = scan(keywatch, tmp, cfg)
        want = ids_of(p.stdout)
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        check(len(want) == N, "%d alerts on stdout" % len(want))
        exactly_once(recv.accepted_ids(), want, "webhook")
        check(recv.bad_signatures == 0, "bad signatures")
        for _, headers, body in recv.accepted:
            check(verify_signature(SECRET, headers["Keywatch-Signature"],
                                   body), "signature")
            check(headers["Content-Type"] == "application/json",
                  "content type")
        times = [t for t, _, _ in recv.requests]
        actions = [a for _, a, _ in recv.requests]
        i = actions.index("429:1")
        check(times[i + 1] - times[i] >= 0.95,
              "Retry-After not honoured: %.2f s" % (times[i + 1] - times[i]))
        check(spooled_ids(spool_of(tmp)) == [], "spool not empty")
        err = p.stderr.decode()
        check("HTTP 500" in err and "HTTP 429 (retry after 1000 ms)" in err,
              "retry messages: " + err)
        check(recv.url() not in err, "the URL was printed")
    finally:
        recv.close()


def case_down_then_up(keywatch, tmp):
    """The receiver is down for a whole scan: the alerts are spooled and
    scan says so; the next run (no new alerts) delivers them once."""
    keys = write_inputs(tmp)
    port = free_port()
    url = "http://127.0.0.1:%d/hook" % port
    cfg = config(tmp, keys, [webhook(None, url=url)], drain_timeout="1s")
    p = scan(keywatch, tmp, cfg)
    want = ids_of(p.stdout)
    err = p.stderr.decode()
    check(p.returncode == 0, "exit %d: %s" % (p.returncode, err))
    spool = spool_of(tmp)
    check(sorted(spooled_ids(spool)) == sorted(want), "spool holds them all")
    check(re.match(r"webhook-[0-9a-f]{12}\.spool\.jsonl$",
                   os.path.basename(spool)), "spool name: " + spool)
    check("webhook (sinks[0]): 25 alerts not delivered yet, spooled in %s "
          "(delivered on the next run)" % spool in err, "summary: " + err)
    check(oct(os.stat(spool).st_mode & 0o777) == "0o600", "spool mode")
    recv = Receiver(secret=SECRET, port=port)
    try:
        p = scan(keywatch, tmp, cfg, log="empty.jsonl")
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        check(p.stdout == b"", "replayed alerts are not printed again")
        exactly_once(recv.accepted_ids(), want, "replay")
        check(spooled_ids(spool) == [], "spool empty after replay")
        check(os.path.getsize(spool) == 0, "spool cut after replay")
    finally:
        recv.close()


def case_permanent_400(keywatch, tmp):
    """A 400 is final: the alert goes to the dead-letter file with the
    response, the others are delivered, nothing is retried."""
    keys = write_inputs(tmp, 5)
    recv = Receiver(plan=["ok", "400"], secret=SECRET)
    try:
        cfg = config(tmp, keys, [webhook(recv)])
        p = scan(keywatch, tmp, cfg)
        want = ids_of(p.stdout)
        check(len(recv.requests) == 5, "%d requests" % len(recv.requests))
        exactly_once(recv.accepted_ids(), [want[0]] + want[2:], "webhook")
        dead = [json.loads(l) for l in open(webhook_file(tmp, "dead.jsonl"))]
        check(len(dead) == 1, "one dead letter")
        check(dead[0]["alert"]["id"] == want[1], "dead letter id")
        check(dead[0]["error"] == 'HTTP 400: {"error":"injected 400"}',
              "dead letter error: %r" % dead[0]["error"])
        check(dead[0]["sink"] == "webhook (sinks[0])", "dead letter sink")
        check("webhook (sinks[0]): 1 alert rejected for good, kept in " in
              p.stderr.decode(), "summary")
    finally:
        recv.close()


def case_timeouts_and_slow(keywatch, tmp):
    """A hung answer (past the 1 s timeout) is retried; a slow one (under
    it) is accepted; a 503 and a 408 are retried."""
    keys = write_inputs(tmp, 6)
    recv = Receiver(plan=["hang:2", "slow:0.5", "503", "408", "hang:2"],
                    secret=SECRET)
    try:
        cfg = config(tmp, keys, [webhook(recv, timeout="1s")])
        p = scan(keywatch, tmp, cfg)
        want = ids_of(p.stdout)
        check(p.returncode == 0, "exit %d" % p.returncode)
        exactly_once(recv.accepted_ids(), want, "webhook")
        check("timed out" in p.stderr.decode().lower(), "timeout message")
    finally:
        recv.close()


def case_kill9_and_restart(keywatch, tmp):
    """kill -9 while a delivery is in flight, then run again: every alert
    arrives exactly once over the two runs."""
    keys = write_inputs(tmp)
    recv = Receiver(plan=["ok"] * 7 + ["hang:6"], secret=SECRET)
    try:
        cfg = config(tmp, keys, [webhook(recv, timeout="10s")])
        proc = subprocess.Popen(
            [keywatch, "scan", "-o", "json", "-c", cfg, "log.jsonl"],
            cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env())
        check(recv.in_hang.wait(20), "the hang was never reached")
        # Kill once the scan has raised (and spooled) all of them.
        spool = spool_of(tmp)
        for _ in range(100):
            if len(spooled_ids(spool)) + len(recv.accepted_ids()) >= N:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        first = list(recv.accepted_ids())
        check(len(first) == 7, "%d before the kill" % len(first))
        time.sleep(6.5)  # the hang ends; its client is gone: not counted
        check(len(recv.accepted_ids()) == 7, "a killed request counted")
        pending = spooled_ids(spool_of(tmp))
        check(len(pending) == N - 7, "%d in the spool" % len(pending))
        p = scan(keywatch, tmp, cfg, log="empty.jsonl")
        check(p.returncode == 0, "restart exit %d" % p.returncode)
        all_ids = [json.loads(l)["id"] for l in out.decode().splitlines()]
        # stdout of the killed run may be cut; the spool is the truth.
        exactly_once(recv.accepted_ids(), first + pending, "kill -9")
        check(set(all_ids) <= set(first + pending), "ids")
    finally:
        recv.close()


def case_local_sinks_keep_up(keywatch, tmp):
    """A burst of 3,000 alerts (more than a sink's memory queue of 1,024)
    into stdout read by a slow pipe and a file sink with no spool: both
    wait for their reader, and every alert arrives once, in order."""
    n = 3000
    with open(os.path.join(tmp, "burst.jsonl"), "w") as f:
        for i in range(n):
            f.write(json.dumps({
                "id": "req_%05d" % i, "created": 1795766400 + i / 1000,
                "method": "GET", "path": "/v1/balance", "status": 200,
                "ip": "45.134.26.91",
                "api_key": "sk_live_51HxHoneyKeyAbCdEfGh%05d" % i}) + "\n")
    keys = [{"match": "sk_live_*%05d" % i, "name": "decoy%d" % i,
             "honey": True} for i in range(n)]
    cfg = os.path.join(tmp, "kw.json")
    with open(cfg, "w") as f:
        json.dump({"keys": keys, "sinks": [
            {"type": "stdout"},
            {"type": "file", "path": os.path.join(tmp, "alerts.jsonl")}]}, f)
    p = subprocess.Popen([keywatch, "scan", "-o", "json", "-c", cfg,
                          "burst.jsonl"], cwd=tmp, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env())
    time.sleep(1.5)  # the scan runs ahead of its reader
    out, err = p.communicate(timeout=120)
    check(p.returncode == 0, "exit %d:\n%s" % (p.returncode, err.decode()))
    check(b"dropped" not in err, "alerts dropped:\n" + err.decode()[-600:])
    got = ids_of(out)
    check(len(got) == n and len(set(got)) == n,
          "stdout: %d alerts (%d distinct) of %d" % (len(got), len(set(got)),
                                                     n))
    with open(os.path.join(tmp, "alerts.jsonl"), "rb") as f:
        filed = ids_of(f.read())
    check(filed == got, "the file sink has %d alerts, in another order "
          "or not the same as stdout's %d" % (len(filed), len(got)))


def case_check_redacts(keywatch, tmp):
    """`keywatch check` shows the host, never the path, token or secret."""
    keys = write_inputs(tmp, 1)
    os.environ["KW_TEST_HOOK"] = "https://hooks.example.com/T000/B000/XXXXsecretpath"
    os.environ["KW_TEST_PD_KEY"] = "R0UT1NGKEYsecret"
    cfg = config(tmp, keys, [
        {"type": "webhook", "url": "env:KW_TEST_HOOK",
         "secret": "env:KW_TEST_SECRET",
         "headers": {"Authorization": "Bearer tok_abc123"}},
        {"type": "slack", "url": "env:KW_TEST_HOOK"},
        {"type": "discord", "url": "env:KW_TEST_HOOK"},
        {"type": "teams", "url": "env:KW_TEST_HOOK"},
        {"type": "mattermost", "url": "env:KW_TEST_HOOK"},
        {"type": "pagerduty", "routing_key": "env:KW_TEST_PD_KEY"}])
    p = subprocess.run([keywatch, "check", "-c", cfg], cwd=tmp,
                       capture_output=True, env=env(), timeout=60)
    out = p.stdout.decode() + p.stderr.decode()
    check(p.returncode == 0, "check exit %d: %s" % (p.returncode, out))
    for secret in ("XXXXsecretpath", "T000", SECRET, "tok_abc123",
                   "R0UT1NGKEYsecret", "v2/enqueue"):
        check(secret not in out, "check printed a secret: " + secret)
    check("webhook https://hooks.example.com/\u2026 (signed, timeout 10 s; "
          "headers: Authorization)" in out, "describe: " + out)
    for t in ("slack", "discord", "teams", "mattermost"):
        check("%s https://hooks.example.com/\u2026 (timeout 10 s)" % t in out,
              "describe %s: %s" % (t, out))
    check("pagerduty https://events.pagerduty.com/\u2026 (routing key set, "
          "timeout 10 s)" in out, "describe pagerduty: " + out)
    e = env()
    del e["KW_TEST_SECRET"]
    p = subprocess.run([keywatch, "check", "-c", cfg], cwd=tmp,
                       capture_output=True, env=e, timeout=60)
    check(p.returncode == 2, "unset env exit %d" % p.returncode)
    check("sinks[0].secret: environment variable KW_TEST_SECRET is not set"
          in p.stderr.decode(), "unset env message: " + p.stderr.decode())


GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
CHATS = ["slack", "discord", "teams", "mattermost", "pagerduty"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def chat_sinks(recv, **common):
    sinks = []
    for name in CHATS:
        s = {"type": name, "url": recv.url("/" + name)}
        s.update(common)
        if name == "pagerduty":
            s["routing_key"] = "env:KW_TEST_PD_KEY"
        if name == "mattermost":
            s["channel"] = "security"
        sinks.append(s)
    return sinks


def scenario_decoy(keywatch, tmp, recv):
    """A decoy key used once, with markup in its user agent: escaped for
    Slack, no mention on Discord or Mattermost; a link to the request in
    Stripe's dashboard."""
    keys = write_inputs(tmp, 1, user_agent="curl/8 <@here> & @everyone")
    keys[0]["runbook_url"] = "https://wiki.example.com/runbooks/decoy-keys"
    cfg = config(tmp, keys, chat_sinks(recv, detectors=["key.honey"]))
    scan(keywatch, tmp, cfg)


def scenario_geo(keywatch, tmp, recv):
    """tests/golden/geo-geoip2 with the fixture GeoIP databases: keys
    used from new addresses, networks and countries, impossible travel
    and a country outside an allowlist: incidents with IPs, countries and
    operations, sent to every chat sink."""
    src = os.path.join(ROOT, "tests", "golden", "geo-geoip2")
    conf = json.load(open(os.path.join(src, "keywatch.json")))
    conf["sinks"] = chat_sinks(recv, min_severity="medium")
    conf["detectors"] = {"geo.new_ip": {"runbook_url":
                                        "https://wiki.example.com/new-ip"}}
    path = os.path.join(tmp, "kw.json")
    with open(path, "w") as f:
        json.dump(conf, f)
    fx = os.path.join(ROOT, "tests", "fixtures", "geoip")
    p = subprocess.run(
        [keywatch, "scan", "-o", "json", "-c", path,
         "--geoip", os.path.join(fx, "city.mmdb"),
         "--geoip", os.path.join(fx, "asn.mmdb"),
         "--geoip", os.path.join(fx, "anon.mmdb"),
         os.path.join(src, "requests.jsonl")],
        cwd=tmp, capture_output=True, timeout=60, env=env())
    check(p.returncode == 0, "geo scan: %s" % p.stderr.decode())


def scenario_spike(keywatch, tmp, recv):
    """A key that makes 2 requests a minute from its server, then 40 in
    one minute, two in three listing customers from an address it never
    used: rate.spike names the operations and IPs that made it, its
    request ids link to the dashboard, and the suppress fragment ends in
    30 days."""
    key = "sk_live_51HxRateKeyForChatGoldens0042"
    base = 1795737600  # 2026-11-27T00:00:00Z
    n = 0
    with open(os.path.join(tmp, "log.jsonl"), "w") as f:
        for m in range(150):
            count = 40 if m == 130 else 2
            for i in range(count):
                odd = count > 2 and i % 3 != 0
                n += 1
                f.write(json.dumps({
                    "id": "req_%06d" % n, "created": base + 60 * m +
                    i * 60 // (count + 1),
                    "method": "GET",
                    "path": "/v1/customers" if odd else "/v1/charges/ch_1",
                    "status": 200,
                    "ip": "203.0.113.9" if odd else "198.51.100.4",
                    "api_key": key}) + "\n")
    cfg = config(tmp, [{"match": "sk_live_*0042", "name": "backend"}],
                 chat_sinks(recv, detectors=["rate.spike"]), learn="1h")
    scan(keywatch, tmp, cfg)


def case_chat_payloads(keywatch, tmp):
    """Each chat and paging sink's payloads for three scenarios (a decoy
    key, the geo golden case as incidents, a rate spike) are exactly its
    golden file (tests/integration/golden/<sink>.json: per scenario the
    list of posts; regenerate with KW_UPDATE_GOLDEN=1 after checking the
    difference by eye): the sentences, the key's kind and mode, the top
    lists, the links, the next step and the suppress fragment's until."""
    os.environ["KW_TEST_PD_KEY"] = "R0UT1NGKEY0000000000000000000000"
    got = {name: {} for name in CHATS}
    for scenario in (scenario_decoy, scenario_geo, scenario_spike):
        name = scenario.__name__[9:]
        sub = os.path.join(tmp, name)
        os.mkdir(sub)
        recv = Receiver()
        try:
            scenario(keywatch, sub, recv)
            for path, _, body in recv.accepted:
                got[path[1:]].setdefault(name, []).append(json.loads(body))
        finally:
            recv.close()
        for sink in CHATS:
            check(got[sink].get(name), "%s: no %s payload" % (name, sink))
    for name in CHATS:
        path = os.path.join(GOLDEN, name + ".json")
        if os.environ.get("KW_UPDATE_GOLDEN"):
            with open(path, "w") as f:
                json.dump(got[name], f, indent=2, ensure_ascii=False)
                f.write("\n")
        want = json.load(open(path))
        for scenario in want:
            check(got[name].get(scenario) == want[scenario],
                  "%s %s payloads differ from %s:\n%s" % (
                      name, scenario, path,
                      json.dumps(got[name].get(scenario), indent=2,
                                 ensure_ascii=False)[:6000]))
        check(sorted(got[name]) == sorted(want), "scenarios of %s" % name)
    # What the goldens must show, whatever else changes in them.
    slack = json.dumps(got["slack"], ensure_ascii=False)
    for want in ("*Next step:*", "dashboard.stripe.com/logs/req_",
                 "\"until\\\":\\\"2026-12-27T", "&lt;why this is expected&gt;",
                 "*IP addresses (of the last", "*Countries*",
                 "Incident opened", "a secret key, live mode",
                 "wiki.example.com/runbooks/decoy-keys|Runbook"):
        check(want in slack, "slack goldens lack %s" % want)


def case_incidents_paging(keywatch, tmp):
    """A decoy key used at +0, +5 min and +15 min, then quiet while other
    traffic goes on for 3 hours (incidents close after 1h, digests every
    10 min): PagerDuty gets one dedup key, the opening and the digest as
    "trigger"s and, with "resolve": true, a "resolve" at the close; without
    it no resolve; Slack gets two posts (the closing has no news); a
    webhook that takes incidents gets all three messages; the file sink
    (for machines) gets each alert with the incident id."""
    key = "sk_live_51HxHoneyKeyAbCdEfGh0000"
    other = "sk_live_51HxOrdinaryKeyAbCdEf9999"
    base = 1795766400
    with open(os.path.join(tmp, "log.jsonl"), "w") as f:
        for i, dt in enumerate([0, 300, 900]):
            f.write(json.dumps({
                "id": "req_h%d" % i, "created": base + dt, "method": "GET",
                "path": "/v1/balance", "status": 200, "ip": "45.134.26.%d"
                % (91 + i), "api_key": key}) + "\n")
        for m in range(0, 180, 10):
            f.write(json.dumps({
                "id": "req_o%d" % m, "created": base + 60 * m + 30,
                "method": "GET", "path": "/v1/balance", "status": 200,
                "ip": "203.0.113.5", "api_key": other}) + "\n")
    recv = Receiver()
    os.environ["KW_TEST_PD_KEY"] = "R0UT1NGKEY0000000000000000000000"
    try:
        pd = {"type": "pagerduty", "routing_key": "env:KW_TEST_PD_KEY",
              "detectors": ["key.honey"]}
        sinks = [dict(pd, url=recv.url("/pd"), resolve=True),
                 dict(pd, url=recv.url("/pd-noresolve")),
                 {"type": "slack", "url": recv.url("/slack"),
                  "detectors": ["key.honey"]},
                 {"type": "webhook", "url": recv.url("/hook"),
                  "incidents": True, "detectors": ["key.honey"]},
                 {"type": "file", "path": os.path.join(tmp, "alerts.jsonl"),
                  "detectors": ["key.honey"]}]
        cfg = config(tmp, [{"match": "sk_live_*0000", "name": "decoy",
                            "honey": True}], sinks, dedup_window="1m",
                     incidents={"close_after": "1h", "digest": "10m"})
        scan(keywatch, tmp, cfg)
        got = {}
        for path, _, body in recv.accepted:
            got.setdefault(path, []).append(json.loads(body))
        alerts = [json.loads(x) for x in
                  open(os.path.join(tmp, "alerts.jsonl"))]
        check(len(alerts) == 3, "file sink: %d alerts" % len(alerts))
        inc = alerts[0]["incident"]
        check(inc.startswith("kwi_") and
              all(a["incident"] == inc for a in alerts),
              "incident ids: %s" % [a["incident"] for a in alerts])
        check(all(a["id"].startswith("kwa_") for a in alerts), "alert ids")
        pdr = got.get("/pd", [])
        check([(e["event_action"], e["dedup_key"]) for e in pdr] ==
              [("trigger", inc), ("trigger", inc), ("resolve", inc)],
              "pagerduty: %s" % [(e["event_action"], e["dedup_key"])
                                 for e in pdr])
        check(pdr[2] == {"routing_key": "R0UT1NGKEY0000000000000000000000",
                         "event_action": "resolve", "dedup_key": inc},
              "resolve event: %r" % pdr[2])
        check(pdr[1]["payload"]["custom_details"]["keywatch incident"]
              ["alerts"] == 3,
              "the digest counts 3 alerts")
        check([e["event_action"] for e in got.get("/pd-noresolve", [])] ==
              ["trigger", "trigger"], "pagerduty without resolve")
        check(len(got.get("/slack", [])) == 2, "slack: %d posts" %
              len(got.get("/slack", [])))
        hook = got.get("/hook", [])
        check([(m["schema"], m["id"], m["event"], m["alerts"],
                m["new_alerts"]) for m in hook] ==
              [("keywatch.incident/1", inc, "opened", 1, 1),
               ("keywatch.incident/1", inc, "updated", 3, 2),
               ("keywatch.incident/1", inc, "closed", 3, 0)],
              "webhook incidents: %r" % hook)
        check(hook[2]["closed"] == "2026-11-27T09:15:00Z",
              "closed at: %s" % hook[2]["closed"])
    finally:
        recv.close()


def case_test_sink(keywatch, tmp):
    """keywatch test-sink: one test alert through each sink, one line per
    sink with the receiver's answer, exit 1 when one did not take it;
    NAME picks one sink (by its name, type, sinks[N] or N); a name that is no sink
    is a usage error."""
    recv = Receiver(plan=["ok", "404"])
    os.environ["KW_TEST_PD_KEY"] = "R0UT1NGKEY0000000000000000000000"
    try:
        cfg = config(tmp, [], [
            {"type": "webhook", "url": recv.url("/hook"),
             "secret": "env:KW_TEST_SECRET"},
            {"type": "slack", "url": recv.url("/slack"), "name": "team-chat"},
            {"type": "pagerduty", "url": recv.url("/pd"),
             "routing_key": "env:KW_TEST_PD_KEY"},
            {"type": "file", "path": os.path.join(tmp, "out.jsonl")}])
        p = subprocess.run([keywatch, "test-sink", "-c", cfg], cwd=tmp,
                           capture_output=True, env=env(), timeout=60)
        out = p.stdout.decode().splitlines()
        check(p.returncode == 1, "exit %d: %s" % (p.returncode, p.stderr))
        check(out == [
            "webhook (sinks[0])       delivered  HTTP 200: {\"ok\":true}",
            "slack (sinks[1])         rejected   HTTP 404: "
            "{\"error\":\"injected 404\"}",
            "pagerduty (sinks[2])     delivered  HTTP 200: {\"ok\":true}",
            "file (sinks[3])          delivered  file %s" %
            os.path.join(tmp, "out.jsonl")], "lines: %r" % out)
        check(p.stderr.decode() ==
              "keywatch: 3 of 4 sinks took the test alert\n",
              "summary: %r" % p.stderr)
        got = {path: json.loads(body) for path, _, body in recv.accepted}
        check(all(verify_signature(SECRET, h["Keywatch-Signature"], b)
                  for path, h, b in recv.accepted if path == "/hook"),
              "signed like a real alert")
        hook = got["/hook"]
        check(hook["detector"] == "keywatch.test" and
              hook["summary"].startswith("TEST: keywatch test-sink") and
              hook["evidence"]["test"] is True and
              hook["key"]["id"] == "sk_test_\u2026TEST",
              "webhook got %r" % hook)
        pd = got["/pd"]
        check(pd["dedup_key"].startswith("kwi_") and
              pd["payload"]["summary"].startswith(
                  "INFO \u00b7 Test message from keywatch test-sink"),
              "pagerduty got %r" % pd["payload"]["summary"])
        line = json.loads(open(os.path.join(tmp, "out.jsonl")).read())
        check(line["detector"] == "keywatch.test", "file got %r" % line)

        for name in ("team-chat", "slack", "sinks[1]", "1"):
            p = subprocess.run([keywatch, "test-sink", "-c", cfg, name],
                               cwd=tmp, capture_output=True, env=env(),
                               timeout=60)
            out = p.stdout.decode().splitlines()
            check(p.returncode == 0 and len(out) == 1 and
                  out[0].startswith("slack (sinks[1])         delivered  "
                                    "HTTP 200"),
                  "%s: exit %d, %r" % (name, p.returncode, out))
        check(len(recv.accepted) == 6, "2 + 4 accepted")
        p = subprocess.run([keywatch, "test-sink", "-c", cfg, "teams"],
                           cwd=tmp, capture_output=True, env=env(),
                           timeout=60)
        check(p.returncode == 2 and p.stderr.decode() ==
              "keywatch: error: %s: no sink named 'teams' (a sink's name, "
              "a type, sinks[N] or N)\n" % cfg, "unknown name: %r" % p.stderr)
    finally:
        recv.close()


SYSLOG_RE = re.compile(
    r'<34>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ keywatch \d+ '
    r'key\.honey \[keywatch@32473 id="(kwa_[0-9a-f]{16})" '
    r'detector="key\.honey" severity="critical" key="sk_live_\u2026\d{4}" '
    r'fp="[0-9a-f]{16}"\] decoy key sk_live_\u2026\d{4} \(decoy\d+\) was '
    r'used from 45\.134\.26\.91 .*$')


def case_syslog(keywatch, tmp):
    """RFC 5424 over UDP and over TCP (octet counting), facility auth."""
    keys = write_inputs(tmp, 3)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    tcp.settimeout(10)
    try:
        cfg = config(tmp, keys, [
            {"type": "syslog", "detectors": ["key.honey"],
             "address": "udp://127.0.0.1:%d" % udp.getsockname()[1]},
            {"type": "syslog", "detectors": ["key.honey"],
             "address": "tcp://127.0.0.1:%d" % tcp.getsockname()[1]}])
        p = scan(keywatch, tmp, cfg)
        want = ids_of(p.stdout)
        got = []
        for _ in want:
            m = SYSLOG_RE.match(udp.recv(8192).decode())
            check(m, "udp message format")
            got.append(m.group(1))
        exactly_once(got, want, "syslog udp")
        conn, _ = tcp.accept()
        data = b""
        conn.settimeout(5)
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        conn.close()
        got = []
        while data:
            n, _, rest = data.partition(b" ")
            msg, data = rest[:int(n)], rest[int(n):]
            m = SYSLOG_RE.match(msg.decode())
            check(m, "tcp message format: %r" % msg[:200])
            got.append(m.group(1))
        exactly_once(got, want, "syslog tcp")
    finally:
        udp.close()
        tcp.close()


def case_exec(keywatch, tmp):
    """The alert JSON on stdin; a non-zero exit is retried with the
    command's stderr in the message; 65 is final (dead letter); a command
    past its timeout is killed and retried."""
    keys = write_inputs(tmp, 3)
    script = ('n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; '
              'if [ $n -lt 2 ]; then echo "not yet" >&2; exit 3; fi; '
              'line=$(cat); case "$line" in *decoy1*) exit 65;; esac; '
              'printf "%s\\n" "$line" >> out.jsonl')
    cfg = config(tmp, keys, [{"type": "exec", "detectors": ["key.honey"],
                              "command": ["sh", "-c", script]}])
    p = scan(keywatch, tmp, cfg)
    lines = [l for l in p.stdout.decode().splitlines()
             if '"key.honey"' in l]
    got = open(os.path.join(tmp, "out.jsonl")).read().splitlines()
    check(got == [lines[0], lines[2]], "exec got %r" % got)
    err = p.stderr.decode()
    check("exec sh: exit status 3: not yet" in err, "retry message: " + err)
    check("exec (sinks[0]): 1 alert rejected for good" in err, err)
    cfg = config(tmp, keys, [{"type": "exec", "detectors": ["key.honey"],
                              "command": ["sleep", "5"], "timeout": "1s"}],
                 drain_timeout="2s")
    p = scan(keywatch, tmp, cfg)
    err = p.stderr.decode()
    check("exec sleep: timed out after 1000 ms" in err, err)
    check("exec (sinks[0]): 3 alerts not delivered yet, spooled in" in err,
          err)


def case_tls_verified(keywatch, tmp):
    """TLS verification is on: a self-signed certificate is refused (the
    alerts wait in the spool), never trusted silently."""
    keys = write_inputs(tmp, 2)
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    recv = Receiver(tls=(cert, key))
    try:
        url = "https://127.0.0.1:%d/hook" % recv.port
        cfg = config(tmp, keys, [webhook(None, url=url)], drain_timeout="1s")
        p = scan(keywatch, tmp, cfg)
        err = p.stderr.decode()
        check(recv.accepted == [], "a self-signed certificate was trusted")
        check("self-signed certificate" in err or "self signed" in err,
              "certificate error: " + err)
        check(len(spooled_ids(spool_of(tmp))) == 2, "spooled")
    finally:
        recv.close()


def case_proxy_from_env(keywatch, tmp):
    """http_proxy from the environment is used: the request for a host that
    does not exist reaches the local proxy (the receiver) instead."""
    keys = write_inputs(tmp, 2)
    recv = Receiver(secret=SECRET)
    try:
        url = "http://keywatch-test.invalid/hook"
        cfg = config(tmp, keys, [webhook(None, url=url)])
        e = env()
        e["http_proxy"] = "http://127.0.0.1:%d" % recv.port
        p = subprocess.run([keywatch, "scan", "-o", "json", "-c", cfg,
                            "log.jsonl"], cwd=tmp, capture_output=True,
                           timeout=60, env=e)
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        exactly_once(recv.accepted_ids(), ids_of(p.stdout), "via proxy")
        check(all(path == url for path, _, _ in recv.accepted),
              "proxied request line: %r" % [r[0] for r in recv.accepted])
    finally:
        recv.close()


CASES = [case_retry_then_ok, case_down_then_up, case_permanent_400,
         case_timeouts_and_slow, case_kill9_and_restart,
         case_local_sinks_keep_up, case_check_redacts,
         case_chat_payloads, case_incidents_paging, case_test_sink,
         case_syslog, case_exec,
         case_tls_verified,
         case_proxy_from_env]


def main():
    keywatch = os.path.abspath(sys.argv[1])
    names = sys.argv[2:]
    failed = 0
    for case in CASES:
        name = case.__name__[5:]
        if names and name not in names:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                case(keywatch, tmp)
                print("ok   %s" % name)
            except Failed as e:
                failed += 1
                print("FAIL %s: %s" % (name, e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
