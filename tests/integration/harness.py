"""What the integration test scripts share: a failed check, and running
named cases with one "ok"/"FAIL" line each."""


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def run_cases(cases, names=()):
    """Run each case (a function of no arguments) whose name is in names
    (all when names is empty); returns the exit status."""
    failed = 0
    for fn in cases:
        if names and fn.__name__ not in names:
            continue
        try:
            fn()
            print("ok   %s" % fn.__name__)
        except Failed as e:
            failed += 1
            print("FAIL %s: %s" % (fn.__name__, e))
    return 1 if failed else 0
