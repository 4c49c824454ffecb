#!/usr/bin/env python3
"""tree.py - the generated week scanned as an export tree gives what the
one time-ordered stream gives (issue 10's test of done).

A small labelled week from tools/kwgen --eval is laid out by bench/tree's
layouts (three regions, one gzip file per region and hour: 504 log files,
and as many CloudTrail digest files), once as an S3 CloudTrail tree (files
ordered by the times in their names) and once as plain folders (ordered by
a peek at their first records). Each tree, scanned as a folder, must have
the recall per planted kind and the count of false alerts of the stream,
exit 0 or 1, report no late event, and count its digest files as left out.

usage: tree.py KEYWATCH
"""
import importlib.machinery
import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from evalscore import generate  # noqa: E402

tree = importlib.machinery.SourceFileLoader(
    "bench_tree", os.path.join(ROOT, "bench", "tree")).load_module()


def main():
    keywatch = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="kw-tree-test-")
    try:
        tag, log, truth_path, conf = generate(ROOT, tmp, 60, 7, 60000, 7, 3,
                                              quiet=True)
        truth = [json.loads(x) for x in open(truth_path) if x.strip()]
        trees = []
        for kind in ("s3", "plain"):
            dest = os.path.join(tmp, kind)
            nlogs, ndig = tree.layout(log, dest, kind)
            assert nlogs == 504 and ndig == 504, (nlogs, ndig)
            trees.append((kind, dest))
        lines = []
        ok = tree.compare(keywatch, log, truth, conf, trees, 1, False,
                          out=lines.append)
        print("\n".join(lines))
        for kind, dest in trees:
            alerts, err, rc, _ = tree.scan(keywatch, conf, dest)
            want = "left out, not logs: CloudTrail digest files 504"
            if want not in err:
                ok = False
                print("%s: stderr lacks %r" % (kind, want))
        # The old behaviour would have read region after region: the
        # test fails unless events are merged in time order.
        print("ok" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
