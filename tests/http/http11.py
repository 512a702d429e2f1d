#!/usr/bin/env python3
"""Raw-socket checks of `sluice serve`'s HTTP/1.1 handling (issue 10,
"HTTP correctness"): requests curl will not make. Each check prints
"ok NAME" or "FAIL NAME: why"; the exit status is the number of failures.

  http11.py PORT"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawhttp  # noqa: E402
from rawhttp import responses  # noqa: E402

PORT = int(sys.argv[1])
FAILS = 0


def result(ok, name, why=""):
    global FAILS
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why))
    FAILS += 0 if ok else 1


def exchange(data, timeout=5):
    return rawhttp.exchange(PORT, [data], timeout)


def one_json_error(name, req, status, code=None):
    rs = responses(exchange(req))
    if len(rs) != 1:
        result(False, name, "%d responses (a doubled status line?): %r" % (len(rs), [r[0] for r in rs]))
        return
    st, hs, body = rs[0]
    try:
        doc = json.loads(body)
        ok_json = isinstance(doc.get("error", {}).get("code"), str) and isinstance(doc["error"].get("message"), str)
    except ValueError:
        doc, ok_json = None, False
    why = []
    if st != status:
        why.append("status %d, want %d" % (st, status))
    if not hs.get("content-type", "").startswith("application/json") or not ok_json:
        why.append("not the JSON error shape: %r" % body[:120])
    if code and doc and doc.get("error", {}).get("code") != code:
        why.append("code %r, want %r" % (doc.get("error", {}).get("code"), code))
    result(not why, name, "; ".join(why))


H = b"Host: t\r\n"
# keep-alive: a GET answer does not close; three pipelined requests, three answers in order
rs = responses(exchange(b"GET /healthz/live HTTP/1.1\r\n" + H + b"\r\n"
                        b"GET /healthz/ready HTTP/1.1\r\n" + H + b"\r\n"
                        b"GET /v1/datasets HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"))
result([r[0] for r in rs] == [200, 200, 200], "pipelined: three answers", repr([r[0] for r in rs]))
result(len(rs) == 3 and b'"ok"' in rs[0][2] and b'"ready"' in rs[1][2] and b'"datasets"' in rs[2][2],
       "pipelined: in order", repr([r[2][:30] for r in rs]))
result(len(rs) == 3 and rs[0][1].get("connection", "").lower() != "close",
       "a GET answer does not force Connection: close", repr(rs[0][1] if rs else None))
# a refused bodiless request keeps the connection too
rs = responses(exchange(b"GET /nope HTTP/1.1\r\n" + H + b"\r\nGET /healthz/live HTTP/1.1\r\n" + H +
                        b"Connection: close\r\n\r\n"))
result([r[0] for r in rs] == [404, 200], "a 404 keeps the connection for the next request", repr([r[0] for r in rs]))

up = b"POST /v1/datasets/cdr/uploads HTTP/1.1\r\n" + H
one_json_error("two Content-Length that differ: one JSON 400",
               up + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef", 400, "BAD_REQUEST")
one_json_error("Transfer-Encoding gzip: JSON 501", up + b"Transfer-Encoding: gzip\r\n\r\nabcdef", 501,
               "NOT_IMPLEMENTED")
one_json_error("HTTP/1.1 without Host: JSON 400", b"GET /healthz/live HTTP/1.1\r\n\r\n", 400, "BAD_REQUEST")
rs = responses(exchange(b"GET /healthz/live HTTP/1.0\r\n\r\n"))
result(rs and rs[0][0] == 200, "HTTP/1.0 without Host: 200", repr(rs[:1]))
one_json_error("%00 in a path segment: 400, not a shorter route",
               b"GET /healthz/live%00/x HTTP/1.1\r\n" + H + b"\r\n", 400, "BAD_REQUEST")
one_json_error("%00 ending the path: 400", b"GET /healthz/live%00 HTTP/1.1\r\n" + H + b"\r\n", 400)
one_json_error("%1f in a path segment: 400", b"GET /v1/jobs/j%1f HTTP/1.1\r\n" + H + b"\r\n", 400)
one_json_error("a control byte in a query name: 400", b"GET /v1/jobs?lim%0ait=1 HTTP/1.1\r\n" + H + b"\r\n", 400)
rs = responses(exchange(b"GET /healthz/live?x=%0a HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"))
result(rs and rs[0][0] == 200, "a control byte in a query value is the value's business", repr(rs[:1]))
sys.exit(min(FAILS, 100))
