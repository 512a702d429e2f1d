#!/usr/bin/env python3
"""Keys that repeat across chunks, for the commit-order tests
(tests/engine/test_workers.sh, tests/pg/test_pg_determinism.sh).

Usage: dup_keys.py CDR.csv MANIFEST.tsv OUT.csv

Every 23rd good row of a generated CDR file (sluice gen cdr; its manifest
names the bad lines) gives its reference, the key of examples/cdr.yaml, to
the row 500 rows later, which keeps its other values: two or three 16 KiB
chunks on, so a key meets itself in another chunk (and some three times).
Rows with quotes are left alone. Prints how many rows got a repeated key.
"""
import sys

src, man, dst = sys.argv[1:]
bad = {int(l.split("\t")[1]) for l in open(man) if l.strip()}  # line numbers
lines = open(src, newline="").read().split("\n")
good = [i for i in range(1, len(lines)) if lines[i] and (i + 1) not in bad and '"' not in lines[i]]
goodset, n = set(good), 0
for i in good[::23]:
    j = i + 500
    if j in goodset:
        f, g = lines[i].split(","), lines[j].split(",")
        g[6] = f[6]
        lines[j] = ",".join(g)
        goodset.discard(j)
        n += 1
open(dst, "w", newline="").write("\n".join(lines))
print(n)
