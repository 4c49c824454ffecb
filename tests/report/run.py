#!/usr/bin/env python3
"""The report a person reads (--report): its structure, its escaping, its
bounds, and (--render) how headless Chromium draws it.

Without --render:
  - the samples' HTML report: self-contained (nothing fetched, no script, a
    Content-Security-Policy), one section per key that raised alerts (the
    keys of the JSON alerts of the same scan), each with a chart whose
    alert marks are that key's alerts, the incidents by severity as the
    alerts' incident ids give them, the quiet keys;
  - --report - writes the text report alone on stdout; with -o json the
    alerts come first, then the report; --report-format and its errors;
  - hostile request text (a user agent "</script><svg onload=...>", an
    origin that closes an attribute, an operation named by an unmodelled
    path holding a tag, a key name from the config holding a tag) is
    rendered as text: the page's elements are only the report's own, no
    attribute is an event handler, and the text reads as it was sent;
  - the bounds: 3,000 keys with alerts and 6,000 quiet keys give 100
    sections and 500 quiet rows, say so, and stay small.
With --render: the samples' report rendered by Chromium to a PNG, read back
(png.py, pure Python): one chart per section, each with bars and alert
marks in its plot area. Exits 77 (skipped) when Chromium is not installed,
unless KW_REQUIRE_CHROMIUM=1 (CI), where that is a failure. --save PNG
also keeps the top of the screenshot (the summary and the first three
keys' sections, down to the third chart) in PNG: how doc/report-samples.png
is made.

usage: run.py [--render [--save PNG]] KEYWATCH
"""
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import png  # noqa: E402

SAMPLES = os.path.join(ROOT, "samples")
SEVERITIES = ["info", "low", "medium", "high", "critical"]
# The report's own elements (HTML, and SVG inside the charts).
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "h1",
    "h2", "h3", "p", "nav", "a", "section", "div", "b", "span", "table",
    "tr", "th", "td", "figure", "figcaption", "br", "svg", "rect", "text",
    "line", "g", "path", "polyline", "footer",
}
PLOT_BG = (0xf3, 0xf6, 0xfb)
LEARN_BG = (0xe4, 0xe9, 0xf1)
BARS = [(0x33, 0x66, 0x9e), (0xa8, 0xc0, 0xdc)]
MARKS = [(0xa6, 0x1b, 0x1b), (0xd9, 0x48, 0x0f), (0xb7, 0x79, 0x1f),
         (0x2b, 0x6c, 0xb0), (0x5f, 0x6b, 0x7a)]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=600, **kw)


class Page(html.parser.HTMLParser):
    """The elements, attributes and text of a page, and its sections."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []      # (tag, attrs dict)
        self.text = []
        self.sections = []  # {"id", "class", "marks", "plots", "bars"}
        self.stack = []
        self.tiles = {}
        self.rows = {}      # table class -> rows
        self._table = []
        self._tile = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        cls = a.get("class", "") or ""
        if tag == "section":
            self.sections.append({"id": a.get("id"), "class": cls, "marks": 0,
                                  "plots": 0, "bars": 0, "lines": 0})
        sec = self.sections[-1] if self.sections else None
        if tag == "g" and cls.startswith("m ") and sec:
            sec["marks"] += 1
        if tag == "rect" and cls == "plot" and sec:
            sec["plots"] += 1
        if tag == "rect" and a.get("fill") in ("#33669e", "#a8c0dc") and sec:
            sec["bars"] += 1
        if tag == "polyline" and sec:
            sec["lines"] += 1
        if tag == "table":
            self._table.append(cls)
            self.rows.setdefault(cls, 0)
        if tag == "tr" and self._table:
            self.rows[self._table[-1]] += 1
        if tag == "div" and cls.startswith("tile "):
            self._tile = [cls.split()[1][2:], ""]
        if tag not in ("meta", "br", "rect", "line", "path", "polyline"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag == "table" and self._table:
            self._table.pop()
        if tag == "div" and self._tile and self._tile[1]:
            self.tiles[self._tile[0]] = int(self._tile[1].replace(",", ""))
            self._tile = None
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self._tile is not None and self.stack and self.stack[-1] == "b":
            self._tile[1] += data.strip()


def parse(path):
    p = Page()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    p.close()
    return p


def self_contained(p, name):
    for tag, a in p.tags:
        check(tag in ALLOWED_TAGS, "%s: element <%s> is not one of the report's" % (name, tag))
        for k, v in a.items():
            check(not k.lower().startswith("on"),
                  "%s: <%s> has an event handler attribute %s" % (name, tag, k))
            check(k != "src", "%s: <%s> loads %s" % (name, tag, v))
            if k == "href":
                check(v.startswith("#") or v.startswith("https://") or
                      v.startswith("http://"), "%s: a link to %r" % (name, v))
    metas = [a for t, a in p.tags if t == "meta"]
    check(any(a.get("http-equiv") == "Content-Security-Policy" and
              "default-src 'none'" in a.get("content", "") for a in metas),
          "%s: no Content-Security-Policy forbidding loads" % name)
    styles = "".join(p.text)
    check("url(" not in styles and "@import" not in styles,
          "%s: a style sheet that loads something" % name)


def alerts_of(stdout):
    return [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]


def incidents_by_severity(alerts):
    worst = {}
    for a in alerts:
        i = a["incident"]
        worst[i] = max(worst.get(i, 0), SEVERITIES.index(a["severity"]))
    counts = {s: 0 for s in SEVERITIES}
    for v in worst.values():
        counts[SEVERITIES[v]] += 1
    return counts, len(worst)


def test_samples(keywatch, tmp):
    out = os.path.join(tmp, "samples.html")
    r = run([keywatch, "scan", "-c", os.path.join(SAMPLES, "keywatch.json"),
             os.path.join(SAMPLES, "requests.jsonl.gz"), "-o", "json",
             "--report", out])
    check(r.returncode == 0, "samples scan exit %d: %s" % (r.returncode, r.stderr[-400:]))
    alerts = alerts_of(r.stdout)
    check(len(alerts) == 21, "samples: %d alerts, expected 21" % len(alerts))
    p = parse(out)
    self_contained(p, "samples report")
    keys = {}
    for a in alerts:
        keys.setdefault(a["key"]["fp"], []).append(a)
    secs = [s for s in p.sections if "key" in s["class"].split()]
    ids = [s["id"] for s in secs]
    check(sorted(ids) == sorted("k-" + fp for fp in keys),
          "samples: sections %s, expected one per alerting key %s" % (ids, sorted(keys)))
    for s in secs:
        n = len(keys.get(s["id"][2:], []))
        check(s["plots"] == 1, "%s: %d charts" % (s["id"], s["plots"]))
        check(s["marks"] == n, "%s: %d alert marks for %d alerts" % (s["id"], s["marks"], n))
        check(s["bars"] > 0, "%s: a chart without bars" % s["id"])
    # Worst first: the sections' severities never rise.
    sevs = [SEVERITIES.index(s["class"].split()[1][2:]) for s in secs]
    check(sevs == sorted(sevs, reverse=True), "samples: sections not worst first: %s" % sevs)
    # A key that finished learning and has rate.spike shows its baseline.
    learnt = [s for s in secs if s["id"] == "k-cb9f2cb4592d0e42"]
    check(learnt and learnt[0]["lines"] == 2,
          "samples: billing-worker's chart lacks its usual rate and threshold lines")
    counts, n = incidents_by_severity(alerts)
    check(p.tiles == counts, "samples: tiles %s, incidents by worst severity %s" % (p.tiles, counts))
    check(p.rows.get("incidents") == n + 1, "samples: %s incident rows for %d incidents" %
          (p.rows.get("incidents"), n))
    check(p.rows.get("quiet") == 3 + 1, "samples: %s quiet rows, expected 3" % p.rows.get("quiet"))
    check(p.rows.get("index") == len(keys) + 1, "samples: key index rows")
    text = "".join(p.text)
    check("learning until 2026-11-21 12:00" in text, "samples: no learning period shown")
    return out


def test_text(keywatch, tmp):
    base = [keywatch, "scan", "-c", os.path.join(SAMPLES, "keywatch.json"),
            os.path.join(SAMPLES, "requests.jsonl.gz")]
    r = run(base + ["--report", "-"])
    out = r.stdout.decode()
    check(r.returncode == 0 and out.startswith("keywatch report\n"),
          "--report -: stdout does not start with the report")
    check("{" not in out.split("\n")[0] and '"schema"' not in out,
          "--report -: alerts on stdout without -o")
    check(out.count("\n[") == 10, "--report -: %d key sections, expected 10" % out.count("\n["))
    r = run(base + ["--report", "-", "-o", "json"])
    lines = r.stdout.decode().split("\n")
    check(len(alerts_of(r.stdout)) == 21 and lines[21] == "keywatch report",
          "--report - -o json: not 21 alerts then the report")
    r = run(base + ["--report", os.path.join(tmp, "r.txt"), "--report-format", "html",
                    "-o", "none"])
    check(open(os.path.join(tmp, "r.txt")).read().startswith("<!DOCTYPE html>"),
          "--report-format html: not HTML")
    r = run(base + ["--report", os.path.join(tmp, "R.HTM"), "-o", "none"])
    check(open(os.path.join(tmp, "R.HTM")).read().startswith("<!DOCTYPE html>"),
          "--report R.HTM: not HTML")
    r = run(base + ["--report", "-", "--report-format", "pdf"])
    check(r.returncode == 2 and b"--report-format pdf: expected text or html" in r.stderr,
          "--report-format pdf: %d %r" % (r.returncode, r.stderr))
    r = run(base + ["--report-format", "html"])
    check(r.returncode == 2 and b"--report-format html: needs --report FILE" in r.stderr,
          "--report-format without --report: %d %r" % (r.returncode, r.stderr))
    r = run(base + ["--report", os.path.join(tmp, "no", "such", "dir.html")])
    check(r.returncode == 2 and b"cannot write" in r.stderr and r.stdout == b"",
          "an unwritable --report is not refused before the scan: %d %r" % (r.returncode, r.stderr))


HOSTILE_UA = "Mozilla/5.0 </script><svg onload=alert(1)>"
HOSTILE_ORIGIN = 'https://x.example/"><img src=x onerror=alert(2)>'
HOSTILE_PATH = "/v1/<img src=x onerror=alert(3)>/x"
HOSTILE_NAME = "<i>web</i>&amp;"


def test_hostile(keywatch, tmp):
    log = os.path.join(tmp, "hostile.jsonl")
    cfg = os.path.join(tmp, "hostile.json")
    with open(log, "w") as f:
        f.write(json.dumps({"id": "req_h1", "created": 1795766400, "method": "GET",
                            "path": "/v1/customers", "status": 200, "ip": "203.0.113.7",
                            "api_key": "sk_live_51HxHostileBrowserKeyAbCd0001",
                            "user_agent": HOSTILE_UA, "origin": HOSTILE_ORIGIN}) + "\n")
        f.write(json.dumps({"id": "req_h2\u0007\u001b[2J", "created": 1795766410,
                            "method": "GET", "path": HOSTILE_PATH, "status": 200,
                            "ip": "203.0.113.8",
                            "api_key": "pk_live_51HxHostileBrowserKeyAbCd0002"}) + "\n")
    with open(cfg, "w") as f:
        json.dump({"keys": [{"match": "pk_live_*0002", "name": HOSTILE_NAME}]}, f)
    out = os.path.join(tmp, "hostile.html")
    r = run([keywatch, "scan", "-c", cfg, log, "-o", "none", "--report", out])
    check(r.returncode == 0, "hostile scan: %d %r" % (r.returncode, r.stderr[-300:]))
    p = parse(out)
    self_contained(p, "hostile report")
    text = "".join(p.text)
    for s in (HOSTILE_UA, HOSTILE_ORIGIN, "GET " + HOSTILE_PATH, HOSTILE_NAME):
        check(s in text, "hostile report: %r is not shown as text" % s)
    raw = open(out, encoding="utf-8").read()
    check("<svg onload" not in raw and "<img" not in raw and "</script>" not in raw,
          "hostile report: request text written as markup")
    check("\x1b" not in raw and "\x07" not in raw, "hostile report: control characters")
    r = run([keywatch, "scan", "-c", cfg, log, "--report", "-"])
    check(b"\x1b" not in r.stdout and b"\x07" not in r.stdout,
          "hostile text report: control characters reach the terminal")


def test_bounds(keywatch, tmp):
    """3,000 publishable keys that each list customers (an alert each)
    and 6,000 keys that only create tokens."""
    log = os.path.join(tmp, "many.jsonl")
    with open(log, "w") as f:
        for i in range(9000):
            rec = {"id": "req_%d" % i, "created": 1795766400 + i, "method": "POST",
                   "path": "/v1/tokens", "status": 200, "ip": "198.51.100.%d" % (i % 250),
                   "api_key": "pk_live_51HxManyKeys%012dQq" % i}
            if i < 3000:
                rec["method"], rec["path"] = "GET", "/v1/customers"
            f.write(json.dumps(rec) + "\n")
    out = os.path.join(tmp, "many.html")
    r = run([keywatch, "scan", log, "-o", "none", "--report", out])
    check(r.returncode == 0, "bounds scan: %d %r" % (r.returncode, r.stderr[-300:]))
    p = parse(out)
    secs = [s for s in p.sections if "key" in s["class"].split()]
    text = "".join(p.text)
    check(len(secs) == 100, "bounds: %d sections, expected 100" % len(secs))
    check("2,900 more keys with alerts not drawn" in text, "bounds: the left-out keys are not said")
    check(p.rows.get("quiet") == 501, "bounds: %s quiet rows" % p.rows.get("quiet"))
    check("5,500 more quiet keys not listed" in text, "bounds: the left-out quiet keys are not said")
    check(p.rows.get("incidents") == 51, "bounds: %s incident rows" % p.rows.get("incidents"))
    check("2,950 more incidents not listed" in text, "bounds: the left-out incidents are not said")
    size = os.path.getsize(out)
    check(size < 2_000_000, "bounds: the report is %d bytes" % size)
    print("bounds: 9,000 keys, 3,000 with alerts: %d bytes of HTML" % size)


# ------------------------------------------------------------------ render

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(browser, page, png_path, width, height, tmp):
    prof = tempfile.mkdtemp(dir=tmp)
    r = run([browser] + CHROMIUM_FLAGS + ["--user-data-dir=" + prof,
            "--screenshot=" + png_path, "--window-size=%d,%d" % (width, height),
            "file://" + page])
    if not os.path.exists(png_path):
        raise SystemExit("chromium wrote no screenshot: %r" % r.stderr[-500:])


def near(px, colour, tol=6):
    return all(abs(a - b) <= tol for a, b in zip(px, colour))


def chart_regions(w, h, rows):
    """Bands of rows where the plot background fills much of the row,
    merged across thin lines (grid lines, an axis): the charts' plots."""
    bg = bytes(PLOT_BG)
    lbg = bytes(LEARN_BG)
    bands = []
    start = last = None
    for y in range(h):
        row = rows[y]
        n = row.count(bg) + row.count(lbg)  # counts overlapping too: an estimate
        if n >= 200:
            if start is None or y - last > 6:
                if start is not None:
                    bands.append((start, last))
                start = y
            last = y
    if start is not None:
        bands.append((start, last))
    return [b for b in bands if b[1] - b[0] >= 60]


def region_pixels(rows, y0, y1, x0, x1):
    for y in range(y0, y1):
        row = rows[y]
        for x in range(x0, x1):
            yield tuple(row[3 * x:3 * x + 3])


def test_render(keywatch, tmp, save=None):
    browser = chromium()
    if not browser:
        if os.environ.get("KW_REQUIRE_CHROMIUM") == "1":
            raise SystemExit("chromium is not installed (tools/install-deps --chromium)")
        print("chromium is not installed: skipped")
        sys.exit(77)
    page = os.path.join(tmp, "samples.html")
    r = run([keywatch, "scan", "-c", os.path.join(SAMPLES, "keywatch.json"),
             os.path.join(SAMPLES, "requests.jsonl.gz"), "-o", "none", "--report", page])
    check(r.returncode == 0, "samples scan: %d" % r.returncode)
    p = parse(page)
    secs = [s for s in p.sections if "key" in s["class"].split()]
    shot = os.path.join(tmp, "samples.png")
    height = 1600 + 1000 * len(secs)
    screenshot(browser, page, shot, 1100, height, tmp)
    w, h, rows = png.read(shot)
    check(w == 1100 and h == height, "screenshot is %dx%d" % (w, h))
    check(rows[-1] == rows[-2] and len(set(rows[-1][i:i + 3] for i in range(0, 3 * w, 3))) == 1,
          "the page is taller than the screenshot (%d px)" % h)
    regions = chart_regions(w, h, rows)
    print("charts found at rows %s" % regions)
    check(len(regions) == len(secs),
          "%d charts drawn for %d sections" % (len(regions), len(secs)))
    for i, (y0, y1) in enumerate(regions):
        # The plot's columns: where its background shows on some row.
        xs = [x for y in range(y0, y1 + 1, 5) for x in range(w)
              if tuple(rows[y][3 * x:3 * x + 3]) in (PLOT_BG, LEARN_BG)]
        x0, x1 = (min(xs), max(xs) + 1) if xs else (0, w)
        bars = sum(1 for px in region_pixels(rows, y0, y1 + 2, x0, x1)
                   if any(near(px, c) for c in BARS))
        marks = sum(1 for px in region_pixels(rows, max(0, y0 - 12), y0, x0 - 6, x1 + 6)
                    if any(near(px, c, 10) for c in MARKS))
        check(bars >= 20, "chart %d (%s): %d bar pixels, a blank chart" % (i, secs[i]["id"], bars))
        check(marks >= 10, "chart %d (%s): %d pixels of alert marks" % (i, secs[i]["id"], marks))
    blank = sum(1 for y in range(0, h, 7) if len(set(rows[y])) <= 3)
    check(blank < h / 7, "the screenshot is blank")
    if save and len(regions) >= 3:
        end = min(h, regions[2][1] + 70)
        png.write(save, w, end, rows[:end])
        print("kept the top %d rows in %s" % (end, save))


def main():
    args = sys.argv[1:]
    render = "--render" in args
    args = [a for a in args if a != "--render"]
    save = None
    if "--save" in args[:-1]:
        i = args.index("--save")
        save = os.path.abspath(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1 or (save and not render):
        raise SystemExit(__doc__)
    keywatch = os.path.abspath(args[0])
    tmp = tempfile.mkdtemp(prefix="kw-report-")
    try:
        if render:
            test_render(keywatch, tmp, save)
        else:
            test_samples(keywatch, tmp)
            test_text(keywatch, tmp)
            test_hostile(keywatch, tmp)
            test_bounds(keywatch, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
