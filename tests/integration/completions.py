#!/usr/bin/env python3
"""Shell completions (dist/completions): the bash script, sourced in bash,
offers the commands and, per command, exactly the long options its --help
lists, and the values of --output, --min-severity, --color (also as
"--color=") and --format; the zsh and fish scripts name every option of
every command's --help (and pass `zsh -n` / `fish -n` where those shells
are installed); `meson install` puts all three where the shells look
(meson introspect --installed).

usage: completions.py KEYWATCH SOURCE_ROOT BUILD_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys

COMMANDS = ["scan", "watch", "check", "test-sink"]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, run_cases  # noqa: E402


def help_options(keywatch, cmd):
    out = subprocess.run([keywatch, cmd, "--help"], capture_output=True,
                         text=True, timeout=30).stdout
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", out))
    opts.discard("--help")  # listed by the completion, not by every help
    return opts | {"--help"}


def complete(script, words):
    """What _keywatch puts in COMPREPLY for the command line words (the
    last one is the word being completed)."""
    line = " ".join("'%s'" % w for w in words)
    prog = ('source "%s"; COMP_WORDS=(%s); COMP_CWORD=%d; _keywatch; '
            'printf "%%s\\n" "${COMPREPLY[@]}"' % (script, line,
                                                   len(words) - 1))
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, "bash: %s" % p.stderr)
    return sorted(x for x in p.stdout.split("\n") if x)


def main():
    keywatch, root, build = sys.argv[1:4]
    comp = os.path.join(root, "dist", "completions")
    bash = os.path.join(comp, "keywatch.bash")
    cases = []

    def case(fn):
        cases.append(fn)
        return fn

    @case
    def commands():
        got = complete(bash, ["keywatch", ""])
        want = sorted(COMMANDS + ["version", "help", "--help", "--version"])
        check(got == want, "commands: %s" % got)
        check(complete(bash, ["keywatch", "te"]) == ["test-sink"],
              "te -> test-sink")

    @case
    def options_match_help():
        for cmd in COMMANDS:
            got = set(complete(bash, ["keywatch", cmd, "--"]))
            want = help_options(keywatch, cmd)
            check(got == want, "%s: completion %s, --help %s" % (
                cmd, sorted(got - want), sorted(want - got)))
        check(complete(bash, ["keywatch", "scan", "--ou"]) == ["--output"],
              "--ou -> --output")

    @case
    def values():
        sev = ["critical", "high", "info", "low", "medium"]
        check(complete(bash, ["keywatch", "scan", "--min-severity", ""]) ==
              sev, "severities")
        check(complete(bash, ["keywatch", "scan", "--fail-on", "h"]) ==
              ["high"], "--fail-on h")
        check(complete(bash, ["keywatch", "scan", "-o", ""]) ==
              ["json", "none", "text"], "-o values")
        check(complete(bash, ["keywatch", "watch", "--color", "="]) ==
              ["always", "auto", "never"], "--color= values")
        check(complete(bash, ["keywatch", "check", "--color", "=", "n"]) ==
              ["never"], "--color=n")
        check(complete(bash, ["keywatch", "scan", "-f", "c"]) ==
              ["cloudtrail"], "-f c")
        check("slack" in complete(bash, ["keywatch", "test-sink", ""]),
              "test-sink NAME offers sink types")

    @case
    def zsh_and_fish():
        for name, shell in (("_keywatch", "zsh"), ("keywatch.fish", "fish")):
            text = open(os.path.join(comp, name)).read()
            for cmd in COMMANDS:
                check(cmd in text, "%s lacks %s" % (name, cmd))
                for opt in help_options(keywatch, cmd):
                    word = opt[2:]
                    check(("--" + word) in text or ("-l " + word) in text,
                          "%s lacks %s of %s" % (name, opt, cmd))
            if shutil.which(shell):
                p = subprocess.run([shell, "-n", os.path.join(comp, name)],
                                   capture_output=True, text=True)
                check(p.returncode == 0, "%s -n: %s" % (shell, p.stderr))
        if shutil.which("fish"):
            prog = ('source "%s"; complete -C "keywatch scan '
                    '--min-severity "' % os.path.join(comp, "keywatch.fish"))
            p = subprocess.run(["fish", "--no-config", "-c", prog],
                               capture_output=True, text=True, timeout=30)
            got = sorted(x.split("\t")[0] for x in p.stdout.splitlines())
            check(got == ["critical", "high", "info", "low", "medium"],
                  "fish severities: %s %s" % (got, p.stderr))

    @case
    def installed():
        p = subprocess.run(["meson", "introspect", "--installed", build],
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "meson introspect: %s" % p.stderr)
        dests = set(json.loads(p.stdout).values())
        for tail in ("bash-completion/completions/keywatch",
                     "zsh/site-functions/_keywatch",
                     "fish/vendor_completions.d/keywatch.fish"):
            check(any(d.endswith("/share/" + tail) for d in dests),
                  "not installed: %s (%s)" % (tail, sorted(dests)))

    return run_cases(cases)


if __name__ == "__main__":
    sys.exit(main())
