#!/usr/bin/env python3
"""Command-line habits: a mistyped command or long option gets "did you
mean"; a known option without its value says so; --color=auto colours
text only on a terminal and not when NO_COLOR is set and non-empty,
always and never override both (stdout's alert lines and stderr's
"error:"); severity names are taken in any case, on the command line and
in the config.

usage: cli_habits.py KEYWATCH SOURCE_ROOT
"""
import os
import pty
import subprocess
import sys
import tempfile

ESC = "\x1b["

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, run_cases  # noqa: E402


def env(**kw):
    e = dict(os.environ, KEYWATCH_NO_DEFAULT_GEOIP="1")
    e.pop("NO_COLOR", None)
    e.update(kw)
    return e


def run(keywatch, args, cwd, **kw):
    return subprocess.run([keywatch] + args, cwd=cwd, capture_output=True,
                          text=True, timeout=60, env=env(**kw))


def run_tty(keywatch, args, cwd, **kw):
    """Run with stdout and stderr on a pseudo-terminal; all it wrote."""
    master, slave = pty.openpty()
    p = subprocess.Popen([keywatch] + args, cwd=cwd, stdout=slave,
                         stderr=slave, env=env(**kw))
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=60)
    os.close(master)
    return out.decode(errors="replace")


def main():
    keywatch, root = os.path.abspath(sys.argv[1]), sys.argv[2]
    case = os.path.join(root, "tests", "golden", "policy")
    scan = ["scan", "-q", "-o", "text", "-c", "keywatch.json",
            "requests.jsonl"]
    cases = []

    def test(fn):
        cases.append(fn)
        return fn

    @test
    def did_you_mean():
        p = run(keywatch, ["scna"], case)
        check(p.returncode == 2 and
              "keywatch: error: unknown command 'scna' (did you mean "
              "'scan'?)" in p.stderr, "command: %r" % p.stderr)
        p = run(keywatch, ["scan", "--ouptut", "json"], case)
        check(p.returncode == 2 and p.stderr ==
              "keywatch: error: scan: unknown option '--ouptut' (did you "
              "mean '--output'?); see keywatch scan --help\n",
              "long option: %r" % p.stderr)
        p = run(keywatch, ["watch", "--chek", "-c", "keywatch.json"], case)
        check(p.returncode == 2 and p.stderr ==
              "keywatch: error: watch: unknown option '--chek' (did you "
              "mean '--check'?); see keywatch watch --help\n",
              "watch: %r" % p.stderr)
        p = run(keywatch, ["check", "--zzz"], case)
        check(p.returncode == 2 and p.stderr ==
              "keywatch: error: check: unknown option '--zzz'; see "
              "keywatch check --help\n", "no near one: %r" % p.stderr)
        p = run(keywatch, ["scan", "--output"], case)
        check(p.returncode == 2 and p.stderr ==
              "keywatch: error: scan: option '--output' needs a value (see "
              "keywatch scan --help)\n", "missing value: %r" % p.stderr)
        p = run(keywatch, ["scan", "-o"], case)
        check(p.stderr == "keywatch: error: scan: option -o needs a value "
              "(see keywatch scan --help)\n", "-o: %r" % p.stderr)
        p = run(keywatch, ["test-sink", "-Z"], case)
        check(p.returncode == 2 and p.stderr ==
              "keywatch: error: test-sink: unknown option '-Z' (see "
              "keywatch test-sink --help)\n", "-Z: %r" % p.stderr)

    @test
    def colour():
        out = run_tty(keywatch, scan, case)
        check(ESC + "31mhigh" in out, "auto on a terminal: %r" % out[:200])
        out = run_tty(keywatch, scan, case, NO_COLOR="1")
        check(ESC not in out, "NO_COLOR: %r" % out[:200])
        out = run_tty(keywatch, scan, case, NO_COLOR="")
        check(ESC + "31mhigh" in out, "empty NO_COLOR: %r" % out[:200])
        out = run_tty(keywatch, scan + ["--color=never"], case)
        check(ESC not in out, "never: %r" % out[:200])
        p = run(keywatch, scan, case)
        check(ESC not in p.stdout and p.stdout, "auto on a pipe")
        p = run(keywatch, scan + ["--color=always"], case, NO_COLOR="1")
        check(ESC + "31mhigh" in p.stdout, "always: %r" % p.stdout[:200])
        p = run(keywatch, ["scan", "--color=always", "--min-severity", "x"],
                case)
        check(p.stderr.startswith("keywatch: " + ESC + "31merror:" + ESC +
                                  "0m --min-severity x"),
              "coloured error: %r" % p.stderr)
        p = run(keywatch, ["scan", "--color=sometimes"], case)
        check(p.returncode == 2 and p.stderr ==
              "keywatch: error: --color sometimes: expected auto, always "
              "or never\n", "bad --color: %r" % p.stderr)

    @test
    def severities_any_case():
        p = run(keywatch, scan + ["--min-severity", "HIGH", "--fail-on",
                                  "Critical"], case)
        lines = p.stdout.splitlines()
        check(p.returncode == 1 and lines and
              all(" high " in l or " critical " in l for l in lines),
              "exit %d: %r %r" % (p.returncode, lines, p.stderr))
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "kw.json")
            with open(conf, "w") as f:
                f.write('{"sinks": [{"type": "stdout", '
                        '"min_severity": "Critical"}]}')
            p = run(keywatch, ["check", "-c", conf], tmp)
            check(p.returncode == 0, "config: %r" % p.stderr)

    return run_cases(cases)


if __name__ == "__main__":
    sys.exit(main())
