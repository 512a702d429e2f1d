#!/usr/bin/env python3
"""The independent oracle of the ingest tests: what a table must hold after
a file is loaded with a schema, computed without sluice.

A second reader: the file is read with Python's csv module, and each row goes
through the conversions and checks docs/schema.md documents (types, NULL
texts, required, pattern, lengths, enum, bounds, precision and scale, the
date and time directives, the key and on_duplicate). Only what a table holds
is derived here; which rows are rejected with which code comes from the
generator's manifest (docs/gen.md), the other independent oracle.

    oracle.py rows CSV [--schema YAML]         expected rows, JSON lines
    oracle.py dump CSV DUMP MANIFEST
        DUMP is `sluice csv dump CSV`: its records are the file's records as
        Python's csv reads them, and its errors are the manifest's rows with
        a CSV-level defect (field counts, stray quotes), at their record
        and line; exit 0 when so, else the first differences and exit 1.
    oracle.py compare CSV GOT.json [--schema YAML]
        GOT.json is `sqlite3 -json DB "SELECT <columns> FROM <table> ..."`;
        exit 0 when the table holds exactly the expected rows, value by
        value (in any order), else the first differences and exit 1.
    oracle.py refused CSV --refuse EXPR
        how many rows the database refuses when it refuses those for which
        EXPR (Python, on the converted row r) holds; with --refuse, rows
        and compare leave them out (and let a later row take their key).

The schema defaults to examples/cdr.yaml. A type the oracle does not know
(timestamp) is an error, not a guess.
"""
import argparse
import csv
import decimal
import io
import json
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.join(HERE, "..", "..", "examples", "cdr.yaml")
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
BOOLS = {"true": 1, "t": 1, "yes": 1, "y": 1, "1": 1, "false": 0, "f": 0, "no": 0, "n": 0, "0": 0}
INT64 = (-(2**63), 2**63 - 1)


class Reject(Exception):
    pass


def leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def days_in(y, m):
    return [31, 29 if leap(y) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]


def parse_datetime(fmt, v, iso):
    """The documented directives; in the ISO defaults two digits exactly."""
    out = {}
    i = 0
    k = 0
    while k < len(fmt):
        c = fmt[k]
        if c != "%":
            if i >= len(v) or v[i] != c:
                raise Reject("VAL_TYPE")
            i += 1
            k += 1
            continue
        d = fmt[k + 1]
        k += 2
        if d == "%":
            if i >= len(v) or v[i] != "%":
                raise Reject("VAL_TYPE")
            i += 1
            continue
        if d == "b":
            word = v[i : i + 3].lower()
            if word not in MONTHS:
                raise Reject("VAL_TYPE")
            out["m"] = MONTHS.index(word) + 1
            i += 3
            continue
        lo, hi = {"Y": (4, 4), "y": (2, 2), "f": (1, 9)}.get(d, (2, 2) if iso else (1, 2))
        j = i
        while j < len(v) and j - i < hi and "0" <= v[j] <= "9":
            j += 1
        if j - i < lo:
            raise Reject("VAL_TYPE")
        text = v[i:j]
        i = j
        if d == "f":
            out["f"] = text
        elif d == "y":
            n = int(text)
            out["Y"] = 2000 + n if n < 70 else 1900 + n
        else:
            out[d] = int(text)
    if i != len(v):
        raise Reject("VAL_TYPE")
    return out


def convert(col, v):
    t = col["type"]
    if t == "text" or t == "enum":
        if "\0" in v:
            raise Reject("VAL_TYPE")
        n = len(v)
        if "min_length" in col and n < col["min_length"] or "max_length" in col and n > col["max_length"]:
            raise Reject("VAL_LENGTH")
        allowed = col.get("enum", col.get("values"))
        if allowed is not None and v not in [str(a) for a in allowed]:
            raise Reject("VAL_ENUM")
        if "pattern" in col and not re.search(col["pattern"].replace("$", r"\Z"), v):
            raise Reject("VAL_PATTERN")
        return v
    if t == "integer":
        if not re.fullmatch(r"[+-]?[0-9]+", v):
            raise Reject("VAL_TYPE")
        n = int(v)
        if not INT64[0] <= n <= INT64[1]:
            raise Reject("VAL_TYPE")
        if "min" in col and n < int(col["min"]) or "max" in col and n > int(col["max"]):
            raise Reject("VAL_RANGE")
        return n
    if t == "decimal":
        m = re.fullmatch(r"([+-]?)([0-9]*)(?:\.([0-9]*))?", v)
        if not m or not (m.group(2) or m.group(3)):
            raise Reject("VAL_TYPE")
        scale = int(col.get("scale", 0))
        frac = m.group(3) or ""
        if len(frac) > scale and frac[scale:].strip("0"):
            raise Reject("VAL_TYPE")  # digits beyond the scale that are not zeros
        frac = frac[:scale]
        whole = m.group(2).lstrip("0") or "0"
        if whole != "0" and len(whole) > int(col["precision"]) - scale:
            raise Reject("VAL_RANGE")
        text = whole + ("." + frac.ljust(scale, "0") if scale else "")
        neg = m.group(1) == "-" and decimal.Decimal(text) != 0
        value = decimal.Decimal(("-" if neg else "") + text)
        if "min" in col and value < decimal.Decimal(str(col["min"])):
            raise Reject("VAL_RANGE")
        if "max" in col and value > decimal.Decimal(str(col["max"])):
            raise Reject("VAL_RANGE")
        text = ("-" if neg else "") + text
        # precision <= 15: stored as REAL, the double nearest the value
        # (docs/schema.md, "Decimals in SQL"); wider: the canonical text
        return float(text) if int(col["precision"]) <= 15 else text
    if t == "boolean":
        if v.lower() not in BOOLS:
            raise Reject("VAL_TYPE")
        return BOOLS[v.lower()]
    if t == "date":
        fmt = col.get("format")
        # a list of formats: the first that reads the text (docs/schema.md)
        for i, f in enumerate(fmt if isinstance(fmt, list) else [fmt]):
            try:
                d = parse_datetime(f or "%Y-%m-%d", v, f is None)
                break
            except Reject:
                if not isinstance(fmt, list) or i == len(fmt) - 1:
                    raise
        y, mo, da = d["Y"], d["m"], d["d"]
        if not (1 <= y <= 9999 and 1 <= mo <= 12 and 1 <= da <= days_in(y, mo)):
            raise Reject("VAL_TYPE")
        return "%04d-%02d-%02d" % (y, mo, da)
    if t == "time":
        fmt = col.get("format")
        if fmt is None:
            try:
                d = parse_datetime("%H:%M:%S.%f", v, True)
            except Reject:
                d = parse_datetime("%H:%M:%S", v, True)
        else:
            d = parse_datetime(fmt, v, False)
        h, mi, s = d["H"], d["M"], d.get("S", 0)
        if not (h <= 23 and mi <= 59 and s <= 59):
            raise Reject("VAL_TYPE")
        return "%02d:%02d:%02d" % (h, mi, s) + ("." + d["f"] if "f" in d else "")
    raise SystemExit("oracle.py: type %s is not known to the oracle" % t)


def expected(csv_path, schema_path, refuse=None, refused=None):
    """The rows of the table, keyed by the key's values (or in file order).
    refuse: a Python expression on a converted row `r` that the database
    refuses (a constraint the schema does not know: DB_CONSTRAINT); such a
    row is not loaded and does not take its key, so a later row with that
    key loads. refused (a list) gets one entry per refused row."""
    sch = yaml.safe_load(open(schema_path, encoding="utf-8"))
    opts = sch.get("csv", {}) or {}
    # YAML reads the key `null` as None
    nulls = [str(x) for x in opts.get("null", opts.get(None, [""]))]
    cols = sch["columns"]
    key = sch.get("key") or []
    mode = sch.get("on_duplicate", "reject")
    raw = open(csv_path, "rb").read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    rows = {}
    order = []
    text = raw.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=opts.get("delimiter", ","),
                        quotechar=opts.get("quote", '"'), strict=False)
    header = next(reader) if opts.get("header", True) else None
    where = {}
    for c in cols:
        src = c.get("source", c["name"])
        where[c["name"]] = header.index(src) if header and src in header else None
    width = len(header) if header else len(cols)
    for n, fields in enumerate(reader):
        try:
            if len(fields) != width:
                raise Reject("CSV_FIELDS")
            row = {}
            for c in cols:
                i = where[c["name"]]
                v = None if i is None or fields[i] in nulls else fields[i]
                if v is not None:
                    try:
                        v.encode("utf-8")
                    except UnicodeEncodeError:
                        raise Reject("INVALID_UTF8")
                if v is None:
                    if c.get("required"):
                        raise Reject("VAL_REQUIRED")
                    row[c["name"]] = None
                else:
                    row[c["name"]] = convert(c, v)
        except Reject:
            continue
        k = tuple(row[c] for c in key) if key else n
        if k not in rows and refuse and eval(refuse, {}, {"r": row}):
            if refused is not None:
                refused.append(row)
            continue
        if k in rows:
            if mode == "update":
                rows[k] = row
            continue
        rows[k] = row
        order.append(k)
    return [rows[k] for k in order], [c["name"] for c in cols], key


CSV_DEFECTS = {"TOO_FEW_FIELDS": "CSV_TOO_FEW_FIELDS", "TOO_MANY_FIELDS": "CSV_TOO_MANY_FIELDS",
               "STRAY_QUOTE": "CSV_STRAY_QUOTE"}


def dump(csv_path, dump_path, manifest):
    bad = {}
    for line in open(manifest, encoding="utf-8"):
        rec, ln, kind = line.rstrip("\n").split("\t")
        if kind in CSV_DEFECTS:
            bad[int(rec)] = (int(ln), CSV_DEFECTS[kind])
    raw = open(csv_path, "rb").read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""), strict=False)
    header = next(reader)
    want = [(n, f) for n, f in enumerate(reader, 1) if n not in bad]
    got, errors, head = [], {}, None
    for line in open(dump_path, encoding="utf-8"):
        d = json.loads(line)
        if isinstance(d, list):
            got.append(d)
        elif "header" in d:
            head = d["header"]
        else:
            errors[d["record"]] = (d["line"], d["error"])
    diffs = []
    if head != header:
        diffs.append("header %s, expected %s" % (head, header))
    if errors != bad:
        diffs.append("errors differ: %s" % sorted(set(errors.items()) ^ set(bad.items()))[:5])
    if len(got) != len(want):
        diffs.append("%d records, %d expected" % (len(got), len(want)))
    for g, (n, w) in zip(got, want):
        if g != w:
            diffs.append("record %d: %s, expected %s" % (n, g, w))
            break
    for d in diffs:
        print("oracle: " + d)
    return 1 if diffs else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["rows", "compare", "dump", "refused"])
    ap.add_argument("csv")
    ap.add_argument("got", nargs="?")
    ap.add_argument("manifest", nargs="?")
    ap.add_argument("--schema", default=DEFAULT_SCHEMA)
    ap.add_argument("--refuse", help="a Python expression on a row r the database refuses")
    a = ap.parse_args()
    if a.cmd == "dump":
        return dump(a.csv, a.got, a.manifest)
    refused = []
    want, names, key = expected(a.csv, a.schema, a.refuse, refused)
    if a.cmd == "refused":
        print(len(refused))
        return 0
    if a.cmd == "rows":
        for r in want:
            print(json.dumps(r, sort_keys=True))
        return 0
    text = open(a.got, encoding="utf-8").read().strip()
    got = json.loads(text) if text else []
    sort = (lambda r: tuple(str(r.get(c)) for c in key)) if key else (lambda r: json.dumps(r, sort_keys=True))
    want.sort(key=sort)
    got.sort(key=sort)
    diffs = []
    if len(got) != len(want):
        diffs.append("%d rows in the table, %d expected" % (len(got), len(want)))
    wi = {sort(r): r for r in want}
    gi = {sort(r): r for r in got}
    for k in wi:
        if k not in gi:
            diffs.append("missing: %s" % json.dumps(wi[k]))
        elif any(gi[k].get(c) != wi[k][c] or type(gi[k].get(c)) is not type(wi[k][c]) for c in names):
            diffs.append("differs: %s, expected %s" % (json.dumps(gi[k]), json.dumps(wi[k])))
        if len(diffs) >= 5:
            break
    for k in gi:
        if len(diffs) >= 5:
            break
        if k not in wi:
            diffs.append("not expected: %s" % json.dumps(gi[k]))
    for d in diffs[:5]:
        print("oracle: " + d)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
