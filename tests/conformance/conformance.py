#!/usr/bin/env python3
"""Conformance harness: checks `sluice csv dump` against third-party CSV test suites.

Usage:
    conformance.py --sluice PATH --corpus DIR [--suite spectrum|papaparse|duckdb|all] [-v]

The corpus (../shared/corpus relative to the repository, passed by CTest as
${SLUICE_SHARED_CORPUS}) is read in place and never modified.  See
docs/conformance.md for how each suite is mapped onto sluice's dialect options,
and for the deviation and skip files next to this script.

Python 3 standard library only.  Exit status: 0 when every non-skipped case
passes, 1 otherwise (2 for a usage error).
"""

import argparse
import concurrent.futures
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import sl  # noqa: E402  every run of the program goes through sl.run (a sanitizer report fails)

HERE = os.path.dirname(os.path.abspath(__file__))
PAPA_DEVIATIONS = os.path.join(HERE, "papaparse_deviations.tsv")
DUCKDB_DEVIATIONS = os.path.join(HERE, "duckdb_deviations.tsv")
SKIPS = os.path.join(HERE, "skips.tsv")

TIMEOUT = 60          # seconds per sluice invocation (the largest input is 8 MB)
ALT_SCANNERS = ("scalar", "generic", "sse2", "avx2")
ERROR_CODES = {"CSV_TOO_FEW_FIELDS", "CSV_TOO_MANY_FIELDS", "CSV_UNTERMINATED_QUOTE",
               "CSV_STRAY_QUOTE", "CSV_INVALID_UTF8", "CSV_ROW_TOO_LONG"}
BOM = b"\xef\xbb\xbf"


class CaseFail(Exception):
    """A case did not pass; the message says why."""


class Skip(Exception):
    """A case is skipped by a rule (rule name in args[0])."""


# --------------------------------------------------------------------------------------
# running sluice and reading its output
# --------------------------------------------------------------------------------------

# `sluice csv dump` writes bytes that are not valid UTF-8 as \u00XX escapes of the byte.
# Map those escapes to lone surrogates U+DC80..U+DCFF, which is what
# bytes.decode('utf-8', 'surrogateescape') produces for the same bytes, so that expected
# values can be given as bytes and compared exactly (a valid U+00FF is "\xc3\xbf", never
# confused with the invalid byte 0xFF).  Escaped backslashes are consumed first so that
# "\\u00ff" (a backslash followed by the text u00ff) is left alone.
_ESC_RE = re.compile(r"\\(\\|u00[89a-fA-F][0-9a-fA-F])")


def _fix_escape(m):
    s = m.group(1)
    if s == "\\":
        return "\\\\"
    return "\\udc" + s[3:]


def expected_str(b):
    """The string a dumped value must decode to (see _ESC_RE) for the raw bytes b."""
    return b.decode("utf-8", "surrogateescape")


class Dump:
    """The parsed output of one `sluice csv dump` run.

    items: list of ('hdr', fields) | ('rec', fields) | ('err', dict), one per record.
    """

    def __init__(self, items, rc, stdout, stderr):
        self.items, self.rc, self.stdout, self.stderr = items, rc, stdout, stderr

    @property
    def header(self):
        if self.items and self.items[0][0] == "hdr":
            return self.items[0][1]
        return None

    @property
    def data(self):
        """Items of the data records (header line, or header error line, excluded)."""
        if self.items and (self.items[0][0] == "hdr" or
                           (self.items[0][0] == "err" and self.items[0][1]["record"] == 0)):
            return self.items[1:]
        return self.items

    def errors(self):
        return [it[1] for it in self.items if it[0] == "err"]


def parse_dump(stdout):
    items = []
    if not stdout:
        return items
    if not stdout.endswith(b"\n"):
        raise CaseFail("output does not end with a newline: %r" % stdout[-40:])
    for n, raw in enumerate(stdout[:-1].split(b"\n"), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CaseFail("output line %d is not valid UTF-8: %r" % (n, raw[:80]))
        try:
            obj = json.loads(_ESC_RE.sub(_fix_escape, text))
        except ValueError as e:
            raise CaseFail("output line %d is not JSON (%s): %r" % (n, e, raw[:80]))
        if isinstance(obj, list) and all(isinstance(f, str) for f in obj):
            items.append(("rec", obj))
        elif isinstance(obj, dict) and set(obj) == {"header"} and isinstance(obj["header"], list) \
                and all(isinstance(f, str) for f in obj["header"]):
            items.append(("hdr", obj["header"]))
        elif isinstance(obj, dict) and set(obj) == {"error", "record", "line", "offset"} \
                and obj["error"] in ERROR_CODES \
                and all(isinstance(obj[k], int) and not isinstance(obj[k], bool)
                        for k in ("record", "line", "offset")):
            items.append(("err", obj))
        else:
            raise CaseFail("output line %d is not a record, header or error line: %r" % (n, raw[:120]))
    return items


def line_breaks(b):
    """Number of physical line breaks (CRLF, CR or LF) in b."""
    return b.count(b"\n") + b.count(b"\r") - b.count(b"\r\n")


def check_structure(items, rc, header, data):
    """Invariants every dump must satisfy, whatever the input."""
    if header and items and items[0][0] == "rec":
        raise CaseFail("header mode, but the first line is a plain record")
    for i, (kind, v) in enumerate(items):
        record = i if header else i + 1
        if kind == "hdr" and (not header or i != 0):
            raise CaseFail("unexpected header line at output line %d" % (i + 1))
        if kind != "err":
            continue
        if v["record"] != record:
            raise CaseFail("output line %d: error line says record %d, expected %d (one line per record)"
                           % (i + 1, v["record"], record))
        off, line = v["offset"], v["line"]
        if data is None:
            continue
        if not 0 <= off <= len(data):
            raise CaseFail("error record %d: offset %d outside the input (%d bytes)" % (record, off, len(data)))
        if not (off == 0 or data[off - 1:off] in (b"\r", b"\n") or (off == 3 and data.startswith(BOM))):
            raise CaseFail("error record %d: offset %d is not at the start of a line" % (record, off))
        want_line = 1 + line_breaks(data[:off])
        if line != want_line:
            raise CaseFail("error record %d: line %d, but offset %d is on line %d" % (record, line, off, want_line))
    has_err = any(k == "err" for k, _ in items)
    if rc != (3 if has_err else 0):
        raise CaseFail("exit code %d, expected %d (%s error lines)" % (rc, 3 if has_err else 0,
                                                                       "with" if has_err else "no"))


class Sluice:
    def __init__(self, path, verbose=False):
        self.path = path
        self.verbose = verbose
        self.scanners = []      # alternative scanners compared with the default one
        self.scanner_notes = []

    def probe_scanners(self, tmpdir):
        probe = os.path.join(tmpdir, "probe.csv")
        with open(probe, "wb") as f:
            f.write(b"a,b\n\"1\",2\n")
        base = self._exec([probe])
        for s in ALT_SCANNERS:
            r = self._exec([probe, "--scanner", s])
            if r[0] == 0 and r[1] == base[1]:
                self.scanners.append(s)
            else:
                self.scanner_notes.append("scanner %s not compared (probe exit %d: %s)"
                                          % (s, r[0], r[2].decode("utf-8", "replace").strip()[:100]))

    def _exec(self, args):
        try:
            p = sl.run([self.path, "csv", "dump"] + list(args), stdin=subprocess.DEVNULL, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CaseFail("timeout after %ds: sluice csv dump %s" % (TIMEOUT, " ".join(args)))
        return p.returncode, p.stdout, p.stderr

    def dump(self, path, opts, header, data=None, scanners=True):
        """Run `sluice csv dump path opts...`; data = the input bytes (for position checks)."""
        args = [path] + list(opts)
        rc, out, err = self._exec(args)
        cmd = "sluice csv dump %s" % " ".join(_shell_quote(a) for a in args)
        if rc not in (0, 3):
            raise CaseFail("%s: exit code %d, stderr: %s" % (cmd, rc, err.decode("utf-8", "replace").strip()[:300]))
        try:
            items = parse_dump(out)
            if data is None:
                with open(path, "rb") as f:
                    data = f.read()
            check_structure(items, rc, header, data)
        except CaseFail as e:
            raise CaseFail("%s: %s" % (cmd, e))
        if scanners:
            for s in self.scanners:
                rc2, out2, _ = self._exec(args + ["--scanner", s])
                if (rc2, out2) != (rc, out):
                    raise CaseFail("%s: --scanner %s differs from the default scanner: %s"
                                   % (cmd, s, _first_diff(out, out2, rc, rc2)))
        return Dump(items, rc, out, err)


def _shell_quote(a):
    if re.fullmatch(r"[A-Za-z0-9_./=+-]+", a):
        return a
    return json.dumps(a)


def _first_diff(a, b, rca, rcb):
    la, lb = a.split(b"\n"), b.split(b"\n")
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else b"<none>"
        y = lb[i] if i < len(lb) else b"<none>"
        if x != y:
            return "line %d: default %r vs %r" % (i + 1, x[:100], y[:100])
    return "exit code %d vs %d" % (rca, rcb)


# --------------------------------------------------------------------------------------
# comparing a dump with an expected list of items
# --------------------------------------------------------------------------------------

def fmt_item(it):
    if it is None:
        return "<nothing>"
    kind, v = it
    if kind == "err":
        if isinstance(v, dict):
            return "error %s (record %d, line %d, offset %d)" % (v["error"], v["record"], v["line"], v["offset"])
        return "error " + "|".join(sorted(v))
    s = json.dumps(v, ensure_ascii=True)
    if len(s) > 160:
        s = s[:160] + "..."
    return ("header " if kind == "hdr" else "") + s


def compare_items(got, want):
    """want: list of ('hdr'|'rec', fields) or ('err', set of acceptable codes).
    Returns None when equal, else a message about the first difference."""
    for i in range(max(len(got), len(want))):
        g = got[i] if i < len(got) else None
        w = want[i] if i < len(want) else None
        if g is not None and w is not None and g[0] == w[0]:
            if g[0] == "err" and g[1]["error"] in w[1]:
                continue
            if g[0] != "err" and g[1] == w[1]:
                continue
        more = ""
        if len(got) != len(want):
            more = " (%d output lines, expected %d)" % (len(got), len(want))
        return "line %d: got %s, expected %s%s" % (i + 1, fmt_item(g), fmt_item(w), more)
    return None


def field_count_rule(records):
    """sluice checks every record's field count against the first record (the header, or
    the first data record with --no-header): records -> expected items."""
    out = []
    for i, r in enumerate(records):
        if i > 0 and len(r) != len(records[0]):
            out.append(("err", {"CSV_TOO_FEW_FIELDS" if len(r) < len(records[0]) else "CSV_TOO_MANY_FIELDS"}))
        else:
            out.append(("rec", r))
    return out


# --------------------------------------------------------------------------------------
# TSV side files
# --------------------------------------------------------------------------------------

def read_tsv(path, ncols):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != ncols or not all(p.strip() for p in parts):
                raise SystemExit("%s:%d: expected %d tab-separated non-empty columns" % (path, n, ncols))
            rows.append(parts)
    return rows


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------

class Result:
    def __init__(self, suite, cid, status, msg="", rule=None, note=None):
        self.suite, self.cid, self.status, self.msg, self.rule, self.note = suite, cid, status, msg, rule, note


def run_case(suite, cid, fn):
    try:
        note = fn()
        return Result(suite, cid, "pass", note=note)
    except Skip as s:
        return Result(suite, cid, "skip", rule=s.args[0])
    except CaseFail as e:
        return Result(suite, cid, "fail", str(e))
    except Exception as e:  # a harness bug must not look like a pass
        return Result(suite, cid, "fail", "harness error: %s: %s" % (type(e).__name__, e))


# --------------------------------------------------------------------------------------
# csv-spectrum
# --------------------------------------------------------------------------------------

LOCATION_COLUMNS = ("Location Coordinates", "Cities", "Counties")


def spectrum_cases(ctx):
    root = os.path.join(ctx.corpus, "csv-spectrum")
    names = sorted(n[:-4] for n in os.listdir(os.path.join(root, "csvs")) if n.endswith(".csv"))
    cases = []
    for name in names:
        csv_path = os.path.join(root, "csvs", name + ".csv")
        json_path = os.path.join(root, "json", name + ".json")
        if name == "location_coordinates":
            cases.append(("spectrum/%s" % name, _spectrum_location(ctx, csv_path, json_path, lenient=True)))
            cases.append(("spectrum/%s(strict)" % name, _spectrum_location(ctx, csv_path, json_path, lenient=False)))
        else:
            cases.append(("spectrum/%s" % name, _spectrum_case(ctx, csv_path, json_path)))
    return cases


def _objects(d):
    hdr = d.header
    if hdr is None:
        raise CaseFail("no header line")
    objs = []
    for kind, v in d.data:
        if kind != "rec":
            raise CaseFail("unexpected %s" % fmt_item((kind, v)))
        if len(v) != len(hdr):
            raise CaseFail("record %s has %d fields, header has %d" % (v, len(v), len(hdr)))
        objs.append(dict(zip(hdr, v)))
    return objs


def _spectrum_case(ctx, csv_path, json_path):
    def fn():
        with open(json_path, encoding="utf-8") as f:
            want = json.load(f)
        d = ctx.sluice.dump(csv_path, [], header=True)
        got = _objects(d)
        if got != want:
            for i in range(max(len(got), len(want))):
                g = got[i] if i < len(got) else None
                w = want[i] if i < len(want) else None
                if g != w:
                    raise CaseFail("data record %d: got %s, expected %s" % (i + 1, json.dumps(g), json.dumps(w)))
    return fn


def _spectrum_location(ctx, csv_path, json_path, lenient):
    # Upstream defect (csv-spectrum/NOTES.md): the JSON is a bare object and its phone
    # number is wrong; the CSV has bare quotes inside unquoted fields.
    def fn():
        if lenient:
            with open(json_path, encoding="utf-8") as f:
                want = json.load(f)
            d = ctx.sluice.dump(csv_path, ["--lenient"], header=True)
            got = _objects(d)
            if len(got) != 1:
                raise CaseFail("expected 1 data record, got %d" % len(got))
            for col in LOCATION_COLUMNS:
                if got[0].get(col) != want[col]:
                    raise CaseFail("%s: got %r, expected %r" % (col, got[0].get(col), want[col]))
            return "lenient; compared %s only" % ", ".join(LOCATION_COLUMNS)
        # strict (sluice's documented rule, not an upstream expectation): the bare
        # quote in the unquoted second field of data record 1 is a stray quote.
        d = ctx.sluice.dump(csv_path, [], header=True)
        want = [("hdr", ["Contact Phone Number", "Location Coordinates", "Cities", "Counties"]),
                ("err", {"CSV_STRAY_QUOTE"})]
        msg = compare_items(d.items, want)
        if msg:
            raise CaseFail(msg)
        return "strict: CSV_STRAY_QUOTE on data record 1 (sluice rule)"
    return fn


# --------------------------------------------------------------------------------------
# PapaParse
# --------------------------------------------------------------------------------------

PAPA_CODES = {"MissingQuotes": "CSV_UNTERMINATED_QUOTE", "InvalidQuotes": "CSV_STRAY_QUOTE",
              "TooFewFields": "CSV_TOO_FEW_FIELDS", "TooManyFields": "CSV_TOO_MANY_FIELDS"}
REF_CODES = {"unterminated_quote": "CSV_UNTERMINATED_QUOTE",
             "char_after_closing_quote": "CSV_STRAY_QUOTE",
             "quote_in_unquoted_field": "CSV_STRAY_QUOTE"}


def papa_skip_rule(c):
    """The skip rule for a case, computed from its config, or None."""
    cfg = c["config"]
    if len(cfg["delimiter"].encode("utf-8")) > 4:
        return "multi_character_delimiter"
    if cfg["skipEmptyLines"] == "greedy":
        return "skip_empty_lines_greedy"
    if isinstance(cfg["comments"], str) and len(cfg["comments"]) != 1:
        return "multi_character_comment"
    for k in ("quoteChar", "escapeChar"):
        if len(cfg[k]) != 1:
            return "multi_character_quote_or_escape"
    return None


def papa_options(cfg):
    opts = []
    d = cfg["delimiter"]
    if d != ",":
        opts += ["--delimiter", "tab" if d == "\t" else d]
    if cfg["quoteChar"] != '"':
        opts += ["--quote", cfg["quoteChar"]]
    if cfg["escapeChar"] != cfg["quoteChar"]:
        opts += ["--escape", cfg["escapeChar"]]
    if not cfg["header"]:
        opts.append("--no-header")
    if cfg["skipEmptyLines"] is False:
        opts.append("--keep-empty-lines")
    # skipEmptyLines true: PapaParse drops lines that parse to exactly one empty field,
    # sluice's default drops empty lines; they differ only for a line holding just "",
    # which no case has (a difference would show up as a failure, not be hidden).
    if isinstance(cfg["comments"], str):
        opts += ["--comment", cfg["comments"]]
    return opts


def papa_expected(c):
    """PapaParse's own result as expected dump items: its records (expected.records,
    which include the header record, when header is on) with each record that PapaParse
    flags with an error replaced by an error line of the corresponding code(s)."""
    header = c["config"]["header"]
    exp = c["expected"]
    recs = exp["records"] if "records" in exp else exp["rows"]
    if any(not isinstance(r, list) for r in recs):
        raise CaseFail("harness: expected rows are not arrays")
    items = [("hdr" if header and i == 0 else "rec", r) for i, r in enumerate(recs)]
    for e in exp["errors"]:
        if e["code"] == "UndetectableDelimiter":
            continue    # auto-detection only: sluice is told the delimiter
        if e["code"] not in PAPA_CODES:
            raise CaseFail("harness: unknown PapaParse error code %s" % e["code"])
        idx = e["row"] + (1 if header else 0)
        code = PAPA_CODES[e["code"]]
        while idx >= len(items):
            items.append(("err", set()))
        if items[idx][0] == "err":
            items[idx][1].add(code)
        else:
            items[idx] = ("err", {code})
    return items


def papa_case(ctx, c, deviation):
    def fn():
        rule = papa_skip_rule(c)
        if rule:
            raise Skip(rule)
        cfg = c["config"]
        header = cfg["header"]
        data = c["input"].encode("utf-8")
        path = os.path.join(ctx.tmp, "papa_%03d.csv" % c["id"])
        with open(path, "wb") as f:
            f.write(data)
        d = ctx.sluice.dump(path, papa_options(cfg), header=header, data=data)
        diff = compare_items(d.items, papa_expected(c))
        if diff is None:
            if deviation:
                raise CaseFail("listed in papaparse_deviations.tsv (%s) but sluice matches PapaParse" % deviation[0])
            return None
        if not deviation:
            raise CaseFail("differs from PapaParse: %s" % diff)
        # A listed deviation: compare with the strict RFC 4180 reference where there is
        # one, else with PapaParse's records; sluice's field-count rule applies to both.
        strict = c["strict_rfc4180"]
        if strict is not None and strict["differs"] != deviation[0]:
            raise CaseFail("papaparse_deviations.tsv says %s, cases.json says %s" % (deviation[0], strict["differs"]))
        ref = strict["reference"] if strict else None
        if deviation[0] == "quote_in_unquoted_field":
            # --lenient keeps such quotes as data, which is exactly what PapaParse does
            dl = ctx.sluice.dump(path, papa_options(cfg) + ["--lenient"], header=header, data=data)
            diff_l = compare_items(dl.items, papa_expected(c))
            if diff_l:
                raise CaseFail("deviation %s: with --lenient sluice should match PapaParse: %s"
                               % (deviation[0], diff_l))
        if ref is not None and "error" in ref:
            _check_first_error(d, ref, header)
            return "deviation %s: matches the strict reference's error%s" % (
                deviation[0], "; matches PapaParse with --lenient" if deviation[0] == "quote_in_unquoted_field" else "")
        recs = ref["rows"] if ref is not None else (c["expected"].get("records") or c["expected"]["rows"])
        want = field_count_rule(recs)
        if header and want:
            want[0] = ("hdr", want[0][1])
        diff2 = compare_items(d.items, want)
        if diff2:
            raise CaseFail("deviation %s: differs from PapaParse (%s) and from the %s (%s)"
                           % (deviation[0], diff, "strict reference" if ref else
                              "PapaParse records under sluice's field-count rule", diff2))
        return "deviation %s" % deviation[0]
    return fn


def _check_first_error(d, ref, header):
    """The strict reference stops at its first error: {error, record (0-based, all records
    including a header), offset}.  sluice must report that error, with the mapped code, on
    the same record, and print only plain records before it."""
    k = ref["record"]
    code = REF_CODES[ref["error"]]
    errs = [(i, it[1]) for i, it in enumerate(d.items) if it[0] == "err"]
    if not errs:
        raise CaseFail("expected %s on record %d (strict reference), sluice reports no error" % (code, k))
    i, e = errs[0]
    want_record = k if header else k + 1
    if e["error"] != code or e["record"] != want_record:
        raise CaseFail("first error is %s, expected %s on record %d (strict reference %s)"
                       % (fmt_item(("err", e)), code, want_record, json.dumps(ref)))
    if k == 0 and (e["line"], e["offset"]) != (1, 0):
        raise CaseFail("error on the first record should be at line 1, offset 0: %s" % fmt_item(("err", e)))


def papa_cases(ctx):
    with open(os.path.join(ctx.corpus, "papaparse", "cases.json"), encoding="utf-8") as f:
        cases = json.load(f)
    ids = {c["id"] for c in cases}
    devs = {}
    for cid, cat, reason in read_tsv(PAPA_DEVIATIONS, 3):
        if not cid.isdigit() or int(cid) not in ids:
            ctx.meta_fail("papaparse_deviations.tsv: unknown case id %r" % cid)
            continue
        if int(cid) in devs:
            ctx.meta_fail("papaparse_deviations.tsv: case %s listed twice" % cid)
        devs[int(cid)] = (cat, reason)
    out = []
    for c in cases:
        out.append(("papaparse/%d" % c["id"], papa_case(ctx, c, devs.get(c["id"]))))
        rule = papa_skip_rule(c)
        if rule:
            ctx.computed_skips.add(("papaparse/%d" % c["id"], rule))
            if c["id"] in devs:
                ctx.meta_fail("papaparse_deviations.tsv: case %d is skipped by rule %s" % (c["id"], rule))
    ctx.papa_names = {"papaparse/%d" % c["id"]: c["name"] for c in cases}
    return out


# --------------------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------------------
#
# Checks are written per file from manifest.tsv.  A check is a list of runs; each run is
# (extra options, header?, [assertions]).  The dialect options come from the manifest's
# dialect column; `header` below overrides its header= setting for that run.
# Assertions take a Dump and raise CaseFail.

def _data_recs(d):
    return d.data


def n_records(n, width=None):
    def a(d):
        recs = _data_recs(d)
        if len(recs) != n:
            raise CaseFail("%d records, expected %d" % (len(recs), n))
        if width is not None:
            for i, (kind, v) in enumerate(recs):
                if kind != "rec":
                    raise CaseFail("record %d: %s" % (i + 1, fmt_item((kind, v))))
                if len(v) != width:
                    raise CaseFail("record %d has %d fields, expected %d" % (i + 1, len(v), width))
    return a


def no_errors(d):
    errs = d.errors()
    if errs:
        raise CaseFail("unexpected %s" % fmt_item(("err", errs[0])))


def value(i, j, want):
    """Field j (0-based) of data record i (0-based) equals want (str, or bytes = raw bytes)."""
    w = expected_str(want) if isinstance(want, bytes) else want

    def a(d):
        recs = _data_recs(d)
        if i >= len(recs) or recs[i][0] != "rec":
            raise CaseFail("data record %d: %s" % (i + 1, fmt_item(recs[i] if i < len(recs) else None)))
        v = recs[i][1]
        if j >= len(v) or v[j] != w:
            raise CaseFail("record %d field %d: got %s, expected %s" % (
                i + 1, j + 1, json.dumps(v[j])[:100] if j < len(v) else "<none>", json.dumps(w)[:100]))
    return a


def record(i, fields):
    def a(d):
        recs = _data_recs(d)
        if i >= len(recs) or recs[i] != ("rec", fields):
            raise CaseFail("data record %d: got %s, expected %s" % (
                i + 1, fmt_item(recs[i] if i < len(recs) else None), json.dumps(fields)))
    return a


def field_len(i, j, n):
    def a(d):
        recs = _data_recs(d)
        if i >= len(recs) or recs[i][0] != "rec" or len(recs[i][1]) <= j or len(recs[i][1][j]) != n:
            raise CaseFail("record %d field %d: expected %d characters" % (i + 1, j + 1, n))
    return a


def all_values(j, want, start=0):
    def a(d):
        for i, (kind, v) in enumerate(_data_recs(d)[start:], start):
            if kind != "rec" or v[j] != want:
                raise CaseFail("record %d: %s, expected field %d = %r" % (i + 1, fmt_item((kind, v)), j + 1, want))
    return a


def header_is(fields):
    def a(d):
        if d.header != fields:
            raise CaseFail("header %s, expected %s" % (json.dumps(d.header), json.dumps(fields)))
    return a


def error_at(rec, code, line=None):
    """Record `rec` (sluice numbering: header 0, data 1-based) is an error line with code."""
    def a(d):
        for e in d.errors():
            if e["record"] == rec:
                if e["error"] != code or (line is not None and e["line"] != line):
                    raise CaseFail("record %d: %s, expected %s%s" % (
                        rec, fmt_item(("err", e)), code, "" if line is None else " on line %d" % line))
                return
        raise CaseFail("no error on record %d (expected %s)" % (rec, code))
    return a


def first_error(rec, code, line=None):
    def a(d):
        errs = d.errors()
        if not errs:
            raise CaseFail("no error, expected %s on record %d" % (code, rec))
        e = errs[0]
        if e["record"] != rec or e["error"] != code or (line is not None and e["line"] != line):
            raise CaseFail("first error %s, expected %s on record %d%s" % (
                fmt_item(("err", e)), code, rec, "" if line is None else " line %d" % line))
    return a


def error_records(recs):
    def a(d):
        got = [e["record"] for e in d.errors()]
        if got != recs:
            raise CaseFail("errors on records %s, expected %s" % (got, recs))
    return a


def n_lines(n):
    def a(d):
        if len(d.items) != n:
            raise CaseFail("%d output lines, expected %d" % (len(d.items), n))
    return a


def exit_code(rc):
    def a(d):
        if d.rc != rc:
            raise CaseFail("exit code %d, expected %d" % (d.rc, rc))
    return a


def long_escaped_value_3rd(corpus):
    """Independent reading of test/long_escaped_value_unicode.csv's third value: the quoted
    text with "" unescaped (checked against the raw bytes, not with a CSV parser)."""
    with open(os.path.join(corpus, "duckdb/data/csv/test/long_escaped_value_unicode.csv"), "rb") as f:
        data = f.read()
    assert data.startswith(b'1,2,"')
    body = data[5:].rstrip(b"\r\n")
    assert body.endswith(b'"')
    return body[:-1].replace(b'""', b'"')


H = None   # "use the manifest's header= setting"

# path -> (kind, runs).  kind: 'stated' = the manifest's untagged DuckDB expectation;
# 'sluice' = no DuckDB result is stated ("-"), sluice's documented behaviour is asserted;
# 'tagged' = a tagged row asserted deliberately (see duckdb_deviations.tsv for the ones
# where sluice's documented behaviour differs from DuckDB's).
DUCKDB_CHECKS = {
    # ---- untagged: hard assertions of DuckDB's stated result -----------------------
    "data/csv/test/quoted_newline.csv": ("stated", [
        ([], H, [n_records(2, 2), value(0, 0, "hello\nworld"),
                 value(1, 0, "what,\n brings, you here\n , today"), no_errors])]),
    "data/csv/test/new_line_string.csv": ("stated", [
        ([], H, [n_records(3, 4), value(0, 0, "1"), value(1, 0, "10"), value(2, 0, "100"),
                 value(1, 3, "p2" + "\nbla" * 15)])]),
    "data/csv/test/new_line_string_rn_exc.csv": ("stated", [
        ([], H, [n_records(3, 4), value(0, 0, "1"), value(1, 0, "10"), value(2, 0, "100"),
                 value(1, 3, "p2" + "\nbla" * 15)])]),
    "data/csv/big_escape.csv": ("stated", [
        ([], H, [n_records(10, 3), all_values(2, 'a "\n;a "\n10')])]),
    "data/csv/multidelimiter/carriage_feed_newline.csv": ("stated", [   # 2-byte delimiter 'BA'
        ([], H, [n_records(2, 2), record(0, ["A", "B"]), record(1, ["A", "C"]), no_errors])]),
    # DuckDB counts an empty line as a record when reading one column: --keep-empty-lines.
    "data/csv/test/windows_newline_empty.csv": ("stated", [
        (["--keep-empty-lines"], H, [n_records(20000, 1), value(0, 0, "1"), all_values(0, "", 1)]),
        # sluice's default skips empty lines (documented): one record.
        ([], H, [n_records(1, 1), value(0, 0, "1")])]),
    "data/csv/people.csv": ("stated", [
        ([], H, [n_records(5, 2), value(0, 0, "Person"), no_errors]),
        ([], True, [header_is(["Person", "Region"]), n_records(4, 2), value(0, 0, "Anna Andreadi")])]),
    "data/csv/missing_column.csv": ("stated", [
        ([], H, [first_error(6, "CSV_TOO_FEW_FIELDS", line=7), error_records([6, 9, 16]),
                 error_at(9, "CSV_TOO_FEW_FIELDS", 10), error_at(16, "CSV_TOO_FEW_FIELDS", 17),
                 n_records(22), header_is(["h1", "h2"])])]),
    "data/csv/locations_header_trailing_comma.csv": ("sluice", [
        ([], H, [header_is(["id", "name", "lat", "lon", ""]), n_records(1),
                 error_at(1, "CSV_TOO_FEW_FIELDS", 2)])]),
    "data/csv/test/unterminated.csv": ("stated", [
        ([], H, [n_lines(1), error_at(1, "CSV_UNTERMINATED_QUOTE", 1)])]),
    "data/csv/segfault.csv": ("sluice", [
        ([], H, [n_lines(1), error_at(1, "CSV_UNTERMINATED_QUOTE", 1)])]),
    "data/csv/multidelimiter/simple_unterminated_quote.csv": ("stated", [
        ([], H, [n_lines(1), error_at(1, "CSV_UNTERMINATED_QUOTE", 1)])]),
    "data/csv/multidelimiter/unterminated_quote_escape.csv": ("stated", [
        ([], H, [n_lines(1), error_at(1, "CSV_UNTERMINATED_QUOTE", 1)])]),
    "data/csv/multidelimiter/file_ends_in_quoted_value.csv": ("stated", [
        ([], H, [n_records(1, 1), value(0, 0, ""), no_errors])]),
    "data/csv/all_quotes.csv": ("sluice", [
        # last line: `"44444","Boa Chocolate", "The best, ...` -- a space before the
        # opening quote makes the field unquoted, so its quote is a stray quote.
        ([], H, [header_is(["upc", "name", "description", "price"]), n_records(5),
                 value(0, 2, "This is the\nbest chocolate"), record(3, ["11114", "Laderach Chocolate",
                                                                        "This is the best chocolate", "5"]),
                 error_records([5]), error_at(5, "CSV_STRAY_QUOTE", 7)]),
        # --lenient keeps it as its 6 fields (a warning, not an error); with
        # --skip-initial-space the space is not data and the field is quoted.
        (["--lenient"], H, [n_records(5), no_errors,
                            record(4, ["44444", "Boa Chocolate", ' "The best', " 'chocolate'",
                                       ' of the world"', "2"])]),
        (["--skip-initial-space"], H, [n_records(5, 4), no_errors,
                                       value(4, 2, "The best, 'chocolate', of the world")])]),
    "data/csv/auto/backslash_escape.csv": ("stated", [
        ([], H, [n_records(3, 3), value(1, 2, 'text"2"'), value(2, 0, "567"), no_errors])]),
    "data/csv/test/invalid_utf.csv": ("stated", [
        (["--utf8"], H, [n_lines(1), error_at(1, "CSV_INVALID_UTF8", 1)]),
        # without --utf8 the bytes pass through (documented): dumped as \u00XX escapes
        ([], H, [n_records(1, 3), value(0, 2, b"\xe2\x82(")])]),
    "data/csv/test/invalid_utf_header.csv": ("stated", [
        (["--utf8"], H, [first_error(0, "CSV_INVALID_UTF8", 1)])]),
    "data/csv/test/invalid_utf_quoted_nl.csv": ("stated", [
        (["--utf8"], H, [n_lines(21), error_records([11]), error_at(11, "CSV_INVALID_UTF8", 11)]),
        ([], H, [n_records(21, 3), value(10, 1, b"invalid\n_\xff\xff_\npart")])]),
    "data/csv/invalid_utf8.csv": ("stated", [
        (["--utf8"], H, [first_error(1, "CSV_INVALID_UTF8", 1)])]),
    "data/csv/nullbyte_header.csv": ("stated", [
        ([], False, [n_records(2, 2), value(0, 1, "col\x002"), no_errors]),
        ([], True, [header_is(["col1", "col\x002"]), n_records(1, 2), record(0, ["val1", "val2"])])]),
    "data/csv/null_terminator.csv": ("stated", [
        ([], H, [n_records(1, 1), value(0, 0, "a\x00b"), no_errors])]),
    "data/csv/test/test_long_line.csv": ("stated", [
        ([], H, [n_records(2, 3), field_len(0, 1, 10000), field_len(1, 1, 20000)])]),
    "data/csv/test/long_escaped_value.csv": ("stated", [                   # 4-byte delimiter U+1F986
        ([], H, [n_records(1, 3), value(0, 0, "1"), value(0, 1, "2"), no_errors])]),
    "data/csv/test/long_escaped_value_unicode.csv": ("stated", [
        ([], H, [n_records(1, 3), value(0, 0, "1"), value(0, 1, "2"), "long_escaped_value_3rd"])]),
    "data/csv/test/many_empty_lines.csv": ("stated", [
        (["--keep-empty-lines"], H, [n_records(20000, 1), value(0, 0, "1"), all_values(0, "", 1)]),
        ([], H, [n_records(1, 1), value(0, 0, "1")])]),
    "data/csv/multidelimiter/aa_delim.csv": ("stated", [                   # 2-byte 'aa', greedy
        ([], H, [n_records(19, 2), record(11, ["1", "a2"]), record(12, ["1", "ab2"]),
                 record(18, ["1ab", "2"]), no_errors])]),
    "data/csv/real/greek_utf8.csv": ("stated", [
        (["--utf8"], H, [n_records(8, 3), value(0, 1, "00i\\047m"), value(1, 1, "00i\\047v"),
                         value(6, 1, "a\ufb01"), no_errors])]),
    "data/csv/test/issue2518.csv": ("stated", [
        ([], H, [n_records(10, 5), value(0, 4, "A,C,T"), value(6, 4, "C,G,T"), no_errors])]),
    "data/csv/empty.csv": ("stated", [
        ([], H, [n_lines(0), exit_code(0)]),
        ([], True, [n_lines(0), exit_code(0)])]),
    "data/csv/test/no_newline.csv": ("stated", [
        ([], H, [n_records(1024, 3), record(1023, ["1023", "1023", " test"])])]),

    # ---- tagged rows asserted deliberately --------------------------------------------
    # [duckdb-specific]: sluice's documented behaviour (see duckdb_deviations.tsv).
    "data/csv/validator/single_column_notquoted_newline.csv": ("tagged", [
        ([], H, [n_records(7), error_records([4]), error_at(4, "CSV_STRAY_QUOTE", 4)]),
        (["--lenient"], H, [n_records(7, 1), value(3, 0, 'pedro"'), no_errors])]),
    "data/csv/test/mixed_line_endings.csv": ("tagged", [
        ([], H, [n_records(3, 3), record(2, ["30", "test", "30"]), no_errors])]),
    "data/csv/mixed_new_line.csv": ("tagged", [
        ([], H, [n_records(3, 3), record(0, ["1", "2", "3"]), record(1, ["4", "5", "6"]),
                 record(2, ["7", "8", "9"]), no_errors])]),
    "data/csv/one_r_two.csv": ("tagged", [
        ([], H, [n_records(2, 1), value(0, 0, "one"), value(1, 0, "two"), no_errors])]),
    "data/csv/one_r_n_two.csv": ("tagged", [
        ([], H, [n_records(3, 1), value(0, 0, "one"), value(1, 0, "two"), value(2, 0, "three")]),
        (["--keep-empty-lines"], H, [n_records(5, 1), value(1, 0, ""), value(2, 0, "two"), value(4, 0, "three")])]),
    "data/csv/auto/multi_column_string_mix_r_n.csv": ("tagged", [
        ([], H, [n_records(9, 4), value(8, 3, "p9"), no_errors])]),
    "data/csv/auto/issue_1254_rn.csv": ("tagged", [
        ([], H, [header_is(["a", "b"]), n_records(2, 2), record(1, ["1", "2"])])]),
    "data/csv/multidelimiter/trailing_delimiter.csv": ("tagged", [
        ([], H, [n_records(1, 2), record(0, ["AAA", ""])])]),
    "data/csv/14512.csv": ("tagged", [
        ([], H, [header_is(["ingredients", "item_tax_data"]), n_records(1), error_at(1, "CSV_STRAY_QUOTE", 2)]),
        (["--lenient"], H, [n_records(1), record(0, ["onions  ", ","])])]),
    "data/csv/line_too_long.csv.gz": ("tagged", [
        (["--max-row", "2000000"], H, [n_lines(1), error_at(1, "CSV_ROW_TOO_LONG", 1)]),
        ([], H, [n_records(1, 1), field_len(0, 0, 2097162)])]),
    "data/csv/multiple_line_too_long.csv.gz": ("tagged", [
        (["--max-row", "2000000"], H, [n_lines(4), error_records([1, 2, 3, 4])]),
        ([], H, [n_records(4, 1), field_len(3, 0, 2097162)])]),
    # [sniffer]: DuckDB detected the dialect; with the manifest's dialect given, the
    # stated result is plain parsing.
    "data/csv/quoted_newline.csv": ("tagged", [([], H, [n_records(1, 1), no_errors])]),
    "data/csv/auto/multi_column_string_r.csv": ("tagged", [([], H, [n_records(9, 4), no_errors])]),
    "data/csv/lineitem-carriage.csv": ("tagged", [([], H, [n_records(10, 16), no_errors])]),
    "data/csv/auto/utf8bom.csv": ("tagged", [([], H, [n_records(2), no_errors, "first_header_id"])]),
    "data/csv/escape.csv": ("tagged", [([], H, [n_records(1, 1), value(0, 0, '"bla"'), no_errors])]),
    "data/csv/bad_escape.csv": ("tagged", [
        # DuckDB drops a backslash before a non-quote; sluice keeps both bytes (deviation).
        ([], H, [n_records(2, 2), value(0, 1, "Surname\\, Firstname"), value(1, 1, 'foo ("foo")'), no_errors])]),
    "data/csv/auto/single_quote_backslash.csv": ("tagged", [
        ([], H, [n_records(3, 3), value(1, 2, "text'2'text"), no_errors])]),
    "data/csv/auto/semicolon_escape.csv": ("tagged", [
        ([], H, [n_records(3, 3), value(2, 2, 'te"xt3'), no_errors])]),
    "data/csv/auto/rfc_conform_quote.csv": ("tagged", [
        ([], H, [n_records(3, 3), "rfc_conform_values", no_errors])]),
    "data/csv/no_quote.csv": ("tagged", [
        ([], H, [n_records(3, 2), value(0, 0, '"hello'), value(0, 1, "world"), no_errors])]),
    "data/csv/nullbyte.csv": ("tagged", [([], H, [n_records(1, 3), value(0, 1, "val\x002"), no_errors])]),
    "data/csv/nullterm.csv": ("tagged", [([], H, [n_records(1), value(0, 0, "\x00world\x00"), no_errors])]),
    "data/csv/auto/tab.csv": ("tagged", [([], H, [n_records(3, 3), no_errors])]),
    "data/csv/auto/tab_single_quote.csv": ("tagged", [
        ([], H, [n_records(3, 3), value(1, 2, "te\txt2"), value(2, 0, "567"), no_errors])]),
    "data/csv/quoted_values_delimited.csv": ("tagged", [
        ([], H, [n_records(3, 1), all_values(0, "value1;value2;value3"), no_errors])]),
    "data/csv/header_only_2.csv": ("tagged", [([], H, [header_is(["foo", "bar"]), n_records(0), exit_code(0)])]),
    "data/csv/header_only.csv": ("tagged", [
        ([], H, [header_is(["abs_file_name"]), n_records(0), exit_code(0)])]),
    "data/csv/auto/single_value.csv": ("tagged", [([], H, [header_is(["Test"]), n_records(0), exit_code(0)])]),
}


def _special(name, corpus):
    """Assertions that need the corpus (named by a string in DUCKDB_CHECKS)."""
    if name == "long_escaped_value_3rd":
        return value(0, 2, long_escaped_value_3rd(corpus))
    if name == "first_header_id":
        def a(d):
            if not d.header or d.header[0] != "id":
                raise CaseFail("first column name %r, expected 'id' (BOM skipped)" % (d.header and d.header[0]))
        return a
    if name == "rfc_conform_values":
        def a(d):
            vals = [f for kind, v in d.data if kind == "rec" for f in v]
            for w in ("one space", "trailing_space, ", 'no"space'):
                if w not in vals:
                    raise CaseFail("no value %r in %s" % (w, json.dumps(vals)[:200]))
        return a
    raise KeyError(name)


def parse_dialect(text):
    """Manifest dialect column -> (options, header, skip rule or None)."""
    kv = dict(p.split("=", 1) for p in text.split())
    opts = []
    delim = kv["delim"]
    names = {"TAB": "\t", "space": " "}
    if delim in names:
        delim = names[delim]
    elif re.fullmatch(r"U\+[0-9A-Fa-f]{4,6}", delim):
        delim = chr(int(delim[2:], 16))
    if len(delim.encode("utf-8")) > 4:
        return None, None, "multi_byte_delimiter"
    if delim != ",":
        opts += ["--delimiter", "tab" if delim == "\t" else delim]
    q, e = kv["quote"], kv["escape"]
    if q != '"':
        opts += ["--quote", q]
    if e != q and not (q == "none" and e == "none"):
        opts += ["--escape", e]
    header = {"yes": True, "no": False}[kv["header"]]
    if not header:
        opts.append("--no-header")
    return opts, header, None


def read_manifest(corpus):
    rows = []
    with open(os.path.join(corpus, "duckdb", "manifest.tsv"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    head = lines[0].split("\t")
    for line in lines[1:]:
        if line:
            rows.append(dict(zip(head, line.split("\t"))))
    return rows


def duckdb_cases(ctx):
    corpus = ctx.corpus
    rows = read_manifest(corpus)
    devs = {}
    for path, reason in read_tsv(DUCKDB_DEVIATIONS, 2):
        devs[path] = reason
    paths = {r["path"] for r in rows}
    for p in devs:
        if p not in paths:
            ctx.meta_fail("duckdb_deviations.tsv: %s is not in manifest.tsv" % p)
        elif p not in DUCKDB_CHECKS:
            ctx.meta_fail("duckdb_deviations.tsv: %s has no check in the harness" % p)
    for p in DUCKDB_CHECKS:
        if p not in paths:
            ctx.meta_fail("harness: DUCKDB_CHECKS names %s, which is not in manifest.tsv" % p)
    out = []
    for r in rows:
        path = r["path"]
        untagged = "[" not in r["expectation"]
        if untagged and path not in DUCKDB_CHECKS:
            ctx.meta_fail("harness: untagged manifest row %s has no check" % path)
        opts, header, rule = parse_dialect(r["dialect"])
        cid = "duckdb/" + path
        if rule:
            ctx.computed_skips.add((cid, rule))
        out.append((cid, duckdb_case(ctx, path, r, opts, header, rule, devs.get(path))))
    # DuckDB's fuzzer reproducers: no result is expected upstream, so crash-only plus the
    # invariants every run gets (well-formed output, record numbering, error positions,
    # exit code, identical output from every scanner), in the default dialect.
    fuzz = os.path.join(corpus, "duckdb", "fuzz")
    for dirpath, dirnames, filenames in os.walk(fuzz):
        dirnames.sort()
        for fn in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, fn), os.path.join(corpus, "duckdb"))
            out.append(("duckdb/" + rel, duckdb_case(ctx, rel, None, [], True, None, None)))
    return out


def duckdb_case(ctx, path, row, opts, header, rule, deviation):
    def fn():
        if rule:
            raise Skip(rule)
        full = os.path.join(ctx.corpus, "duckdb", path)
        if path.endswith(".gz"):
            tmp = os.path.join(ctx.tmp, "duckdb_" + os.path.basename(path)[:-3])
            with gzip.open(full, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            full = tmp
        with open(full, "rb") as f:
            data = f.read()
        kind, runs = DUCKDB_CHECKS.get(path, ("invariants", [([], H, [])]))
        for extra, hdr, asserts in runs:
            h = header if hdr is None else hdr
            o = [x for x in opts if x != "--no-header"] + ([] if h else ["--no-header"]) + list(extra)
            d = ctx.sluice.dump(full, o, header=h, data=data)
            for a in asserts:
                if isinstance(a, str):
                    a = _special(a, ctx.corpus)
                try:
                    a(d)
                except CaseFail as e:
                    raise CaseFail("[%s] %s" % (" ".join(_shell_quote(x) for x in o) or "default dialect", e))
        if kind == "invariants":
            return "invariants only (no stated result asserted)"
        if deviation:
            return "deviation: sluice's documented behaviour asserted"
        return kind
    return fn


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

class Ctx:
    def __init__(self, sluice, corpus, tmp):
        self.sluice, self.corpus, self.tmp = sluice, corpus, tmp
        self.computed_skips = set()
        self.meta = []
        self.papa_names = {}

    def meta_fail(self, msg):
        self.meta.append(msg)


def main(argv=None):
    ap = argparse.ArgumentParser(description="check `sluice csv dump` against third-party CSV suites")
    ap.add_argument("--sluice", required=True, help="path to the sluice program")
    ap.add_argument("--corpus", required=True, help="the shared corpus directory")
    ap.add_argument("--suite", default="all", choices=["spectrum", "papaparse", "duckdb", "all"])
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    ap.add_argument("-j", "--jobs", type=int, default=max(1, os.cpu_count() or 1))
    args = ap.parse_args(argv)

    if not os.access(args.sluice, os.X_OK):
        print("conformance: %s is not an executable" % args.sluice)
        return 1
    if not os.path.isfile(os.path.join(args.corpus, "README.md")):
        print("conformance: %s does not look like the shared corpus" % args.corpus)
        return 1
    suites = ["spectrum", "papaparse", "duckdb"] if args.suite == "all" else [args.suite]

    tmp = tempfile.mkdtemp(prefix="sluice-conformance-")
    try:
        sl = Sluice(os.path.abspath(args.sluice), args.verbose)
        try:
            sl.probe_scanners(tmp)
        except CaseFail as e:
            print("conformance: cannot run %s: %s" % (args.sluice, e))
            return 1
        for n in sl.scanner_notes:
            print("conformance: note: " + n)
        ctx = Ctx(sl, os.path.abspath(args.corpus), tmp)
        builders = {"spectrum": spectrum_cases, "papaparse": papa_cases, "duckdb": duckdb_cases}
        cases = []
        for s in suites:
            for cid, fn in builders[s](ctx):
                cases.append((s, cid, fn))

        # skips.tsv must list exactly what the rules skip (for the suites run)
        prefixes = tuple(p + "/" for p in suites)
        listed = set()
        for cid, rule in read_tsv(SKIPS, 2):
            if cid.startswith(prefixes):
                listed.add((cid, rule))
        for cid, rule in sorted(ctx.computed_skips - listed):
            ctx.meta_fail("skips.tsv: missing %s\t%s" % (cid, rule))
        for cid, rule in sorted(listed - ctx.computed_skips):
            ctx.meta_fail("skips.tsv: %s\t%s is not skipped by that rule" % (cid, rule))

        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
            futs = [ex.submit(run_case, s, cid, fn) for s, cid, fn in cases]
            results = [f.result() for f in futs]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    totals = {"pass": 0, "fail": 0, "skip": 0}
    for r in results:
        totals[r.status] += 1
        name = ctx.papa_names.get(r.cid)
        label = r.cid + (" (%s)" % name if name else "")
        if r.status == "fail":
            print("FAIL %s: %s" % (label, r.msg))
        elif args.verbose:
            extra = r.rule if r.status == "skip" else (r.note or "")
            print("%s %s%s" % (r.status.upper(), label, (": " + extra) if extra else ""))
    for m in ctx.meta:
        print("FAIL meta: %s" % m)
    for s in suites:
        rs = [r for r in results if r.suite == s]
        inv = sum(1 for r in rs if r.status == "pass" and r.note and r.note.startswith("invariants only"))
        print("%s: %d passed, %d failed, %d skipped%s" % (
            s, sum(r.status == "pass" for r in rs), sum(r.status == "fail" for r in rs),
            sum(r.status == "skip" for r in rs),
            " (%d of the passes check invariants only)" % inv if inv else ""))
    failed = totals["fail"] + len(ctx.meta)
    print("conformance: %d passed, %d failed, %d skipped" % (totals["pass"], failed, totals["skip"]))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(sl.finish(main()))
