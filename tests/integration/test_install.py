#!/usr/bin/env python3
"""test_install.py - `meson install --destdir` into a temporary directory,
and what it installed:

- the binary, the man page, the models;
- the systemd unit in the unit directory, written from
  dist/keywatch.service.in with the configured paths: ExecStart= and
  ExecStartPre= run <prefix>/<bindir>/keywatch with
  <sysconfdir>/keywatch/keywatch.json, EnvironmentFile= is the optional
  <sysconfdir>/keywatch/keywatch.env, no placeholder is left, and
  systemd-analyze verify accepts it (when systemd-analyze is there);
- the sample config and environment file under <datadir>/keywatch: the
  config passes `keywatch watch -n` with its secrets given as systemd
  would (a credential in $CREDENTIALS_DIRECTORY, a variable in the
  environment), and without the credential the error names the sink's
  option and the credential, never a value.

Usage: test_install.py MESON BUILDDIR PREFIX BINDIR SYSCONFDIR DATADIR
       MANDIR UNITDIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def under(destdir, path):
    """path (absolute) inside destdir."""
    return os.path.join(destdir, path.lstrip("/"))


def unit_values(text, key):
    return [l.split("=", 1)[1] for l in text.splitlines()
            if l.startswith(key + "=")]


def check_unit(dest, unit_dir, kw_path, sysconf, datadir, mandir):
    unit_file = under(dest, os.path.join(unit_dir, "keywatch.service"))
    assert os.path.isfile(unit_file), unit_file
    with open(unit_file) as f:
        unit = f.read()
    assert not re.search(r"@[a-z_]+@", unit), "a placeholder left"
    conf = os.path.join(sysconf, "keywatch", "keywatch.json")
    assert unit_values(unit, "ExecStart") == \
        ["%s watch -c %s" % (kw_path, conf)], unit_values(unit, "ExecStart")
    assert unit_values(unit, "ExecStartPre") == \
        ["%s watch -n -c %s" % (kw_path, conf)]
    assert unit_values(unit, "EnvironmentFile") == \
        ["-" + os.path.join(sysconf, "keywatch", "keywatch.env")]
    assert unit_values(unit, "Type") == ["notify"]
    assert unit_values(unit, "LogsDirectory") == ["keywatch"]
    tool = shutil.which("systemd-analyze")
    if not tool:
        print("skip: systemd-analyze not installed")
        return
    # verify wants the binary where the unit says: the installed one.
    path = os.path.join(dest, "verify.service")
    with open(path, "w") as f:
        f.write(unit.replace(kw_path, under(dest, kw_path)))
    env = dict(os.environ, MANPATH=under(dest, mandir))
    out = subprocess.run([tool, "verify", path], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
    os.unlink(path)


def check_samples(dest, kw, datadir):
    share = under(dest, os.path.join(datadir, "keywatch"))
    for name in ("keywatch.json.example", "keywatch.env.example"):
        assert os.path.isfile(os.path.join(share, name)), name
    assert os.path.isfile(os.path.join(share, "models", "stripe.json"))
    work = os.path.join(dest, "work")
    os.mkdir(work)
    with open(os.path.join(share, "keywatch.json.example")) as f:
        text = f.read()
    # The file sink opens its file at once: somewhere writable here.
    assert "/var/log/keywatch/alerts.jsonl" in text
    text = text.replace("/var/log/keywatch/alerts.jsonl",
                        os.path.join(work, "alerts.jsonl"))
    conf = os.path.join(work, "keywatch.json")
    with open(conf, "w") as f:
        f.write(text)
    creds = os.path.join(work, "creds")
    os.mkdir(creds)
    with open(os.path.join(creds, "slack-url"), "w") as f:
        f.write("https://hooks.slack.com/services/T000/B000/sekrit\n")
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds,
               KEYWATCH_WEBHOOK_SECRET="another-sekrit",
               KEYWATCH_NO_DEFAULT_GEOIP="1")
    cmd = [kw, "watch", "-n", "-c", conf, "-m", os.path.join(share, "models")]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "%s: config OK (1 input, 3 sinks)\n" % conf, \
        out.stdout
    del env["CREDENTIALS_DIRECTORY"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert out.returncode == 2, out
    want = ("keywatch: error: %s: sinks[1].url: credential slack-url: "
            "$CREDENTIALS_DIRECTORY is not set (systemd sets it for a unit "
            "with LoadCredential=)\n" % conf)
    assert out.stderr.endswith(want), out.stderr
    assert "sekrit" not in out.stderr + out.stdout


def main():
    meson, build, prefix, bindir, sysconfdir, datadir, mandir, unit_dir = \
        sys.argv[1:9]
    bindir = os.path.join(prefix, bindir)
    sysconf = os.path.join(prefix, sysconfdir)
    datadir = os.path.join(prefix, datadir)
    mandir = os.path.join(prefix, mandir)
    dest = tempfile.mkdtemp(prefix="kw-install-")
    ok = False
    try:
        out = subprocess.run([meson, "install", "-C", build, "--no-rebuild",
                              "--quiet", "--destdir", dest],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        kw_path = os.path.join(bindir, "keywatch")
        kw = under(dest, kw_path)
        assert os.access(kw, os.X_OK), kw
        out = subprocess.run([kw, "version"], capture_output=True,
                             text=True)
        assert out.returncode == 0 and out.stdout.startswith("keywatch "), \
            out
        assert os.path.isfile(under(dest, os.path.join(
            mandir, "man1", "keywatch.1")))
        check_unit(dest, unit_dir, kw_path, sysconf, datadir, mandir)
        check_samples(dest, kw, datadir)
        ok = True
        print("ok: installed under %s; unit runs %s" % (prefix, kw_path))
    finally:
        if ok:
            shutil.rmtree(dest)
        else:
            print("left in %s" % dest, file=sys.stderr)


if __name__ == "__main__":
    main()
