#!/usr/bin/env python3
"""Robustness on polluted files: sluice's lenient mode beside Python's csv module.

Clean real-shaped files (generated CDR files, and corpus files: DuckDB's TPC-H
line items, all_quotes.csv, no_newline.csv) are damaged in one way per variant,
seeded (the same variants every run):

  extra_delimiter      a delimiter inserted at a random place of a random line
                       (the header included)
  missing_delimiter    a delimiter outside quotes deleted from a random line
  stray_quote          a quote inserted at a random place of a random data line
  stray_quote_header   a quote inserted at a random place of the header line
  preamble             1 to 3 lines of text (some with delimiters) before the
                       header
  multi_row_header     a second header line (units or descriptions) after it
  two_char_delimiter   the file written with "||" between fields, plus one of
                       the damages above (with "||")

Each parser is told the file's dialect (delimiter, '"' quote, doubled quotes,
header or not): sluice `csv dump --lenient`; Python `csv.reader(strict=False)`,
which takes a one-character delimiter only, so for "||" it is told '|' (the
nearest it can be told). Truth: the clean file as Python reads it (sluice must
read every clean file the same, or the file is not used). A parser's output is
aligned with the truth (difflib, records as tuples); a truth data record is
recovered exactly when the alignment matches it to an equal record, and its
cells are recovered exactly where the aligned record has the same value at the
same position. The damaged line itself mostly cannot be recovered by either.

  tests/conformance/pollution.py [--sluice build/sluice] [--corpus DIR]
                                 [--variants N] [--check] [--markdown]

--check exits 1 unless sluice recovers at least as many records and cells as
Python for every kind (the CTest test runs a fast subset this way).
"""
import argparse
import csv
import difflib
import io
import json
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import sl  # noqa: E402  every run of the program goes through sl.run (a sanitizer report fails)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

KINDS = ["extra_delimiter", "missing_delimiter", "stray_quote", "stray_quote_header", "preamble",
         "multi_row_header", "two_char_delimiter"]
BASE_DAMAGE = ["extra_delimiter", "missing_delimiter", "stray_quote", "stray_quote_header"]


class Base:
    def __init__(self, name, text, delim, header):
        self.name, self.text, self.delim, self.header = name, text, delim, header
        self.rows = py_parse(text, delim)


def py_parse(text, delim):
    return [tuple(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim,
                                         quotechar='"', doublequote=True, strict=False)]


def sluice_parse(sluice, text, delim, header):
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8",
                                     newline="") as f:
        f.write(text)
        path = f.name
    try:
        args = [sluice, "csv", "dump", path, "--lenient", "--delimiter", delim]
        if not header:
            args.append("--no-header")
        out = sl.run(args).stdout
    finally:
        os.unlink(path)
    rows = []
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        v = json.loads(line)
        if isinstance(v, dict):
            rows.append(tuple(v["header"]) if "header" in v else None)
        else:
            rows.append(tuple(v))
    return rows


def lines_of(text):
    """Physical lines with their ends, and whether each starts inside quotes."""
    out, start, inq = [], 0, False
    i, n = 0, len(text)
    line_inq = inq
    while i < n:
        c = text[i]
        if c == '"':
            inq = not inq
        elif c in "\r\n" and not inq:
            j = i + 1 if not (c == "\r" and i + 1 < n and text[i + 1] == "\n") else i + 2
            out.append((text[start:j], line_inq))
            start, line_inq = j, inq
            i = j
            continue
        i += 1
    if start < n:
        out.append((text[start:], line_inq))
    return out


def positions_outside_quotes(line, delim):
    res, inq, i = [], False, 0
    while i < len(line):
        if line[i] == '"':
            inq = not inq
        elif not inq and line.startswith(delim, i):
            res.append(i)
            i += len(delim)
            continue
        i += 1
    return res


def body_len(line):
    return len(line.rstrip("\r\n"))


def damage(rng, text, delim, kind, header):
    """The text with one damage of this kind."""
    recs = lines_of(text)
    first = 0
    data = list(range(1 if header else 0, len(recs)))
    if kind == "extra_delimiter":
        k = rng.randrange(len(recs))
        line = recs[k][0]
        at = rng.randrange(body_len(line) + 1)
        recs[k] = (line[:at] + delim + line[at:], recs[k][1])
    elif kind == "missing_delimiter":
        cands = [k for k in range(len(recs)) if positions_outside_quotes(recs[k][0], delim)]
        if cands:
            k = rng.choice(cands)
            line = recs[k][0]
            at = rng.choice(positions_outside_quotes(line, delim))
            recs[k] = (line[:at] + line[at + len(delim):], recs[k][1])
    elif kind in ("stray_quote", "stray_quote_header"):
        k = first if kind == "stray_quote_header" or not data else rng.choice(data)
        line = recs[k][0]
        # half at a field start (the quote then opens a quoted field), half anywhere
        starts = [0] + [p + len(delim) for p in positions_outside_quotes(line, delim)]
        at = rng.choice(starts) if rng.random() < 0.5 else rng.randrange(body_len(line) + 1)
        recs[k] = (line[:at] + '"' + line[at:], recs[k][1])
    elif kind == "preamble":
        pre = ["Report exported 2026-12-01 10:00 UTC", "Source: billing%s all regions" % delim,
               "Confidential", "Rows%s%d" % (delim, len(recs))]
        eol = "\r\n" if recs and recs[0][0].endswith("\r\n") else "\r" if recs and recs[0][0].endswith("\r") else "\n"
        lines = rng.sample(pre, rng.randint(1, 3))
        return "".join(l + eol for l in lines) + text
    elif kind == "multi_row_header":
        line = recs[0][0]
        body = line.rstrip("\r\n")
        eol = line[len(body):] or "\n"
        nf = len(positions_outside_quotes(body, delim)) + 1
        units = [rng.choice(["", "text", "s", "GBP", "(unit)", "n"]) for _ in range(nf)]
        if rng.random() < 0.3:
            units = units[: max(1, nf - 2)]
        recs.insert(1, (delim.join(units) + eol, False))
    return "".join(r[0] for r in recs)


def rejoin(rows, delim, eol="\n"):
    out = []
    for r in rows:
        f = []
        for v in r:
            if any(c in v for c in ('"', "\r", "\n")) or delim[0] in v:
                v = '"' + v.replace('"', '""') + '"'
            f.append(v)
        out.append(delim.join(f) + eol)
    return "".join(out)


def score(truth, got, header):
    """(records recovered, records, cells recovered, cells, header exact)."""
    sm = difflib.SequenceMatcher(None, truth, got, autojunk=False)
    rec_ok = cell_ok = 0
    t0 = 1 if header else 0
    matched = {}
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                matched[i1 + k] = got[j1 + k]
        elif tag == "replace":
            for k in range(min(i2 - i1, j2 - j1)):
                matched[i1 + k] = got[j1 + k]
    cells = 0
    for i in range(t0, len(truth)):
        t = truth[i]
        cells += len(t)
        g = matched.get(i)
        if g is None:
            continue
        if g == t:
            rec_ok += 1
        cell_ok += sum(1 for a, b in zip(t, g) if a == b)
    hdr = bool(header and got and got[0] == truth[0])
    return rec_ok, len(truth) - t0, cell_ok, cells, hdr


def bases(sluice, corpus, quick):
    out = []
    seeds = [1, 2] if quick else [1, 2, 3, 4]
    for seed in seeds:
        r = sl.run([sluice, "gen", "cdr", "--rows", "60" if quick else "200", "--seed", str(seed),
                    "--quoted-rate", "0.05"])
        if r.returncode != 0:
            sys.exit("FAIL: sluice gen cdr --seed %d: exit %d" % (seed, r.returncode))
        out.append(Base("cdr-seed%d" % seed, r.stdout.decode(), ",", True))
    d = os.path.join(corpus, "duckdb", "data", "csv")
    for rel, delim, header in (("lineitem-carriage.csv", "|", True), ("all_quotes.csv", ",", True),
                               ("test/no_newline.csv", ",", False)):
        p = os.path.join(d, rel)
        if os.path.exists(p):
            with open(p, encoding="utf-8", newline="") as f:
                text = f.read()
            if rel.endswith("no_newline.csv") and quick:
                text = "".join(text.splitlines(True)[:80])
            out.append(Base("duckdb/" + rel, text, delim, header))
    good = []
    for b in out:
        if sluice_parse(sluice, b.text, b.delim, b.header) == b.rows:
            good.append(b)
        else:
            print("note: %s left out: sluice and Python read the clean file differently" % b.name,
                  file=sys.stderr)
    return good


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", default=os.path.join(ROOT, "build", "sluice"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus"))
    ap.add_argument("--variants", type=int, default=560, help="variants in all (default 560)")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    quick = a.variants < 200
    bs = bases(a.sluice, a.corpus, quick)
    if not bs:
        print("no base files", file=sys.stderr)
        return 2
    rng = random.Random(20261201)
    tot = {k: {"n": 0, "s": [0, 0, 0, 0, 0], "p": [0, 0, 0, 0, 0]} for k in KINDS}
    per_kind = max(1, a.variants // len(KINDS))
    for kind in KINDS:
        for v in range(per_kind):
            b = bs[v % len(bs)]
            truth = b.rows
            if kind == "two_char_delimiter":
                delim = "||"
                text = rejoin(truth, delim)
                sub = rng.choice(BASE_DAMAGE)
                text = damage(rng, text, delim, sub, b.header)
                py_delim = "|"
            else:
                delim = b.delim
                text = damage(rng, b.text, delim, kind, b.header)
                py_delim = delim
            s = score(truth, sluice_parse(a.sluice, text, delim, b.header), b.header)
            p = score(truth, py_parse(text, py_delim), b.header)
            t = tot[kind]
            t["n"] += 1
            for i in range(5):
                t["s"][i] += s[i]
                t["p"][i] += p[i]
    ok = True
    rows = []
    for kind in KINDS:
        t = tot[kind]
        s, p = t["s"], t["p"]
        pct = lambda x, y: 100.0 * x / y if y else 100.0
        rows.append((kind, t["n"], pct(s[0], s[1]), pct(p[0], p[1]), pct(s[2], s[3]), pct(p[2], p[3]),
                     pct(s[4], t["n"]), pct(p[4], t["n"])))
        if s[0] < p[0] or s[2] < p[2]:
            ok = False
    n = sum(t["n"] for t in tot.values())
    if a.markdown:
        print("| pollution | variants | records: sluice | records: Python | cells: sluice | cells: Python "
              "| header exact: sluice | header exact: Python |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print("| %s | %d | %.2f %% | %.2f %% | %.2f %% | %.2f %% | %.0f %% | %.0f %% |" % r)
        print("\n%d variants of %d base files: %s" % (n, len(bs), ", ".join(b.name for b in bs)))
    else:
        print("%-20s %8s %9s %9s %9s %9s %7s %7s" % ("pollution", "variants", "rec:sl", "rec:py",
                                                    "cell:sl", "cell:py", "hdr:sl", "hdr:py"))
        for r in rows:
            print("%-20s %8d %8.2f%% %8.2f%% %8.2f%% %8.2f%% %6.0f%% %6.0f%%" % r)
        print("%d variants of %d base files" % (n, len(bs)))
    if a.check and not ok:
        print("FAIL: sluice recovers fewer records or cells than Python for some kind", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(sl.finish(main()))
