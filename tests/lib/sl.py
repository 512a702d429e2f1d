"""The harness's `sl` for the test runners written in Python
(tests/conformance/conformance.py, pollution.py): every run of the program
under test goes through run(), which records a sanitizer report (one of
the sanitizers' exit statuses, or a banner on stderr) whatever the caller
then does with the result, and finish() fails the runner when there was
one. The statuses and banners are read from tests/lib/harness.sh, so the
two harnesses cannot drift apart.
"""
import os
import re
import subprocess
import sys
import threading


def _from_harness():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.sh")) as f:
        text = f.read()
    statuses = re.search(r'^SANITIZER_STATUSES="([^"]*)"', text, re.M).group(1)
    banners = re.search(r"^SANITIZER_BANNERS='([^']*)'", text, re.M).group(1)
    return {int(s) for s in statuses.split()}, re.compile(banners.encode())


STATUSES, BANNERS = _from_harness()
_lock = threading.Lock()
_reports = []


def run(args, **kw):
    """subprocess.run(args, **kw) with stdout and stderr captured unless the
    caller says otherwise; a sanitizer report in its status or on its stderr
    is recorded (JSON log lines are not scanned, as in the shell harness)."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    p = subprocess.run(args, **kw)
    err = p.stderr if isinstance(p.stderr, bytes) else (p.stderr or "").encode()
    lines = [l for l in err.splitlines() if not l.startswith(b"{")]
    why = []
    if p.returncode in STATUSES:
        why.append("exit status %d" % p.returncode)
    if any(BANNERS.search(l) for l in lines):
        why.append("a sanitizer report on stderr")
    if why:
        excerpt = b"\n".join(lines[:60]).decode("utf-8", "replace")
        with _lock:
            _reports.append("%s: %s\n%s" % (" ".join(str(a) for a in args), ", ".join(why), excerpt))
    return p


def finish(status):
    """The runner's exit status: 1 when any run reported, else STATUS."""
    for r in _reports:
        print("FAIL: sanitizer report: %s" % r, file=sys.stderr)
    if _reports:
        print("FAIL: %d sanitizer report(s) (see above)" % len(_reports), file=sys.stderr)
        return 1
    return status
