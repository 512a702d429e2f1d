#!/usr/bin/env python3
"""Lists the places where a shell test runs the program under test itself
instead of through the harness (tests/lib/harness.sh: sl, sl_run, sl_as,
sl_start), so that a sanitizer report there could pass unseen (issue 8).

Usage: direct_runs.py TESTS_DIR. Prints "file:line: text" for each place and
exits 1 when there is one, 0 when there is none.

A place is a use of the variable S (the program, as the harness names it)
anywhere but as the argument of a command that only looks at the file
(ldd, dirname, ...), and a path ending in /sluice in a command's place
(e.g. an installed copy run as "$T/root/usr/bin/sluice" --version; run it
as S=... sl ... instead). The harness's own files, which define the
helpers, are not read.
"""
import os
import re
import sys

# the files that define the helpers (and the harness's self-test, whose S is a fake)
OWN = {os.path.join("lib", "harness.sh"), os.path.join("http", "lib.sh"),
       os.path.join("lib", "test_harness.sh")}
# commands that take the program's path without running it
LOOK = {"ldd", "dirname", "realpath", "readlink", "nm", "file", "basename", "stat", "-x", "-e", "-f", "-s"}
VAR_S = re.compile(r'\$(?:S|\{S\}|\{S:[-=?+][^}]*\})(?![A-Za-z0-9_])')
# a command's place: the line's start, after ; & | ( { $( or a keyword,
# past any VAR=value assignments
CMD_PLACE = r'(?:^|[;&|({]|\$\(|\b(?:then|do|else|exec|time|env|nohup|!)\s)\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*'
PATH_RUN = re.compile(CMD_PLACE + r'"?[^\s"();&|=]*/sluice"?(?:\s|$)')


def code_of(line):
    """The line without a comment (a # at the start of a word, outside quotes)."""
    out, q = [], None
    for i, c in enumerate(line):
        if q:
            if c == q:
                q = None
        elif c in "'\"":
            q = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t;"):
            break
        out.append(c)
    return "".join(out)


def places(path):
    found = []
    with open(path, encoding="utf-8", errors="replace") as f:
        in_heredoc = None
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if in_heredoc:
                if line.strip() == in_heredoc:
                    in_heredoc = None
                continue
            code = code_of(line)
            m = re.search(r"<<-?\s*['\"]?([A-Za-z_]+)['\"]?", code)
            for v in VAR_S.finditer(code):
                before = code[:v.start()].rstrip('"').rstrip()
                word = re.split(r'[\s"(]+', before)[-1] if before else ""
                if word not in LOOK:
                    found.append((n, line.strip()))
                    break
            else:
                if PATH_RUN.search(code):
                    found.append((n, line.strip()))
            if m:
                in_heredoc = m.group(1)
    return found


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    top = argv[1]
    bad = 0
    for d, _, files in os.walk(top):
        if "node_modules" in d:
            continue
        for name in sorted(files):
            if not name.endswith(".sh"):
                continue
            path = os.path.join(d, name)
            if os.path.relpath(path, top) in OWN:
                continue
            for n, text in places(path):
                print("%s:%d: %s" % (os.path.relpath(path, top), n, text))
                bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
