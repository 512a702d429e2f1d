#!/usr/bin/env python3
"""Which error codes does no test produce?

usage: codes_coverage.py ERROR_H LEDGER_DIR EXEMPT_TSV
       codes_coverage.py --selftest ERROR_H EXEMPT_TSV

The codes are read from SL_ERROR_MAP in include/sluice/error.h itself (not
from the program), so a code added to the table is missing until a test
produces it. What tests produced is the ledger: with SLUICE_CODES_LOG set
(CTest sets it for every test, LEDGER_DIR/<test>.tsv), the program appends
"NAME<TAB>COMMAND" for each code it names to a user: in a message, JSON, a
table or an HTTP error body (sl__error_report in src/base/error.c); USAGE
also when it exits with status 2 for a usage error. Listing the table
(`sluice codes`) is not reporting, and neither is a unit test calling the
library (command "library"): only the program counts.

It fails when
  - the ledger is empty (no test ran, or none reported anything);
  - a code of the table (but OK) was never reported, and EXEMPT_TSV does not
    give a reason why no test can produce it;
  - a record code (class ROW) was reported only by `sluice csv`, the
    checker: a record code must also come out of loading (ingest, resume,
    retry, validate, serve, or the commands that read a job's rejects);
  - a code of EXEMPT_TSV was produced after all (the reason is stale), an
    exemption has no reason, or names no code of the table;
  - the program reported a name that is not in the table.
CTest resets the ledger before every run (the codes_ledger fixture), so a
code produced by an earlier run does not count.
"""
import os
import re
import sys
import tempfile


def table(error_h):
    text = open(error_h, encoding="utf-8").read()
    start = text.index("#define SL_ERROR_MAP")
    rows = re.findall(r"X\((\w+),\s*(-?\d+),\s*(\w+),", text[start:])
    if len(rows) < 10:
        sys.exit("codes_coverage: cannot read SL_ERROR_MAP from %s" % error_h)
    return {name: cls for name, _, cls in rows}


def exemptions(path):
    out, bad = {}, []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        code, _, reason = line.partition("\t")
        if len(reason.strip()) < 20:
            bad.append("%s:%d: %s has no reason (CODE<TAB>why no test can produce it)" % (path, n, code))
        out[code.strip()] = reason.strip()
    return out, bad


def ledger(d):
    seen = {}  # code -> {(test, command)}
    if not os.path.isdir(d):
        return seen
    for f in sorted(os.listdir(d)):
        if not f.endswith(".tsv"):
            continue
        test = f[:-4]
        for line in open(os.path.join(d, f), encoding="utf-8", errors="replace"):
            code, _, cmd = line.rstrip("\n").partition("\t")
            if code:
                seen.setdefault(code, set()).add((test, cmd or "?"))
    return seen


LOADERS_NOT = {"csv", "library"}  # a record code must come from elsewhere too


def check(codes, seen, exempt, exempt_bad):
    problems = list(exempt_bad)
    program = {c: {(t, cmd) for t, cmd in v if cmd != "library"} for c, v in seen.items()}
    program = {c: v for c, v in program.items() if v}
    if not program:
        problems.append("the ledger is empty: no test made the program report any code "
                        "(run the whole suite: ctest, not one test)")
    for code in exempt:
        if code not in codes:
            problems.append("exempt %s is not a code of the table" % code)
    for code in program:
        if code not in codes:
            problems.append("the program reported %s, which is not in the table (by %s)"
                            % (code, ", ".join(sorted(t for t, _ in program[code]))))
    missing = []
    for code, cls in codes.items():
        if code == "OK":
            continue
        by = program.get(code, set())
        if code in exempt:
            if by:
                problems.append("%s is exempt (%s) but %s produced it: drop the exemption"
                                % (code, exempt[code], ", ".join(sorted(t for t, _ in by))))
            continue
        if not by:
            missing.append(code)
            continue
        if cls == "ROW" and all(cmd in LOADERS_NOT for _, cmd in by):
            problems.append("%s (a record code) is produced only by `sluice csv` (%s), never "
                            "through loading" % (code, ", ".join(sorted(t for t, _ in by))))
    for code in missing:
        problems.append("no test produces %s" % code)
    return problems


def report(codes, seen, exempt):
    for code in codes:
        if code == "OK":
            continue
        by = sorted({"%s(%s)" % (t, c) for t, c in seen.get(code, set()) if c != "library"})
        what = ", ".join(by[:6]) + (" ..." if len(by) > 6 else "") if by else \
            ("exempt: " + exempt[code] if code in exempt else "-")
        print("%-24s %s" % (code, what))


def selftest(error_h, exempt_path):
    codes = table(error_h)
    exempt, bad = exemptions(exempt_path)
    fails = []
    def run(seen):
        return check(codes, seen, exempt, bad)
    # an empty ledger fails
    with tempfile.TemporaryDirectory() as d:
        if not run(ledger(d)):
            fails.append("an empty ledger passed")
    # every code from a loader passes; one missing fails and is named
    full = {c: {("t", "ingest")} for c in codes if c not in exempt and c != "OK"}
    if run(full):
        fails.append("a complete ledger failed: %s" % run(full))
    victim = next(c for c in full)
    part = dict(full)
    del part[victim]
    if not any(victim in p for p in run(part)):
        fails.append("a ledger without %s passed" % victim)
    # a record code only from `sluice csv` fails; from a unit test it does not count
    row = next(c for c, cls in codes.items() if cls == "ROW" and c in full)
    only_csv = dict(full)
    only_csv[row] = {("t", "csv")}
    if not any(row in p for p in run(only_csv)):
        fails.append("a record code only from csv passed")
    only_unit = dict(full)
    only_unit[victim] = {("t", "library")}
    if not any(victim in p for p in run(only_unit)):
        fails.append("a code only from a unit test counted")
    # a produced exemption is stale
    if exempt:
        e = next(iter(exempt))
        stale = dict(full)
        stale[e] = {("t", "ingest")}
        if not any("drop the exemption" in p for p in run(stale)):
            fails.append("a stale exemption passed")
    # the ledger format: lines written as the program writes them
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "x.tsv"), "w") as f:
            for c in full:
                f.write("%s\tingest\n" % c)
        if run(ledger(d)):
            fails.append("a complete ledger file failed: %s" % run(ledger(d)))
    for f in fails:
        print("selftest: " + f)
    print("selftest: %s" % ("FAILED" if fails else "ok"))
    return 1 if fails else 0


def main(argv):
    if len(argv) == 4 and argv[1] == "--selftest":
        return selftest(argv[2], argv[3])
    if len(argv) != 4:
        sys.exit(__doc__)
    codes = table(argv[1])
    seen = ledger(argv[2])
    exempt, bad = exemptions(argv[3])
    report(codes, seen, exempt)
    problems = check(codes, seen, exempt, bad)
    for p in problems:
        print("codes_coverage: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
