#!/usr/bin/env python3
"""Raw-socket checks of the framing refusals `sluice serve` makes before
libmicrohttpd sees a request (src/http/http_gate.c; issue 10, "HTTP
correctness"): a Content-Length that is not a number, or several that
differ, get one JSON 400 and the connection closes; good heads (also
split over several writes, with spaces around the number) are served and
keep their connection. Prints "ok NAME" or "FAIL NAME: why"; exits with
the number of failures.

  framing.py PORT"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawhttp  # noqa: E402
from rawhttp import responses  # noqa: E402

PORT = int(sys.argv[1])
FAILS = 0
H = b"Host: t\r\n"
UP = b"POST /v1/datasets/cdr/uploads HTTP/1.1\r\n" + H


def result(ok, name, why=""):
    global FAILS
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why))
    FAILS += 0 if ok else 1


def exchange(parts):
    return rawhttp.exchange(PORT, parts)


def one_json_400(name, parts):
    raw = exchange(parts)
    rs = responses(raw)
    why = []
    if len(rs) != 1:
        why.append("%d responses (a doubled status line?): %r" % (len(rs), raw[:300]))
    else:
        st, hs, body = rs[0]
        try:
            err = json.loads(body)["error"]
            shape = isinstance(err["code"], str) and isinstance(err["message"], str)
        except (ValueError, KeyError, TypeError):
            err, shape = {}, False
        if st != 400:
            why.append("status %d" % st)
        if not hs.get("content-type", "").startswith("application/json") or not shape:
            why.append("not the JSON error shape: %r" % body[:120])
        elif err["code"] != "BAD_REQUEST":
            why.append("code %r" % err["code"])
        if hs.get("connection", "").lower() != "close":
            why.append("no Connection: close")
        if not hs.get("x-correlation-id"):
            why.append("no X-Correlation-Id")
        if b"<html" in raw.lower():
            why.append("an HTML body")
    if raw.endswith(rawhttp.STILL_OPEN):
        why.append("the connection stayed open after the refusal")
    result(not why, name, "; ".join(why))


one_json_400("Content-Length abc: one JSON 400", [UP + b"Content-Length: abc\r\n\r\nabcdef"])
one_json_400("Content-Length above 2^64: one JSON 400 (not libmicrohttpd's 413)",
             [UP + b"Content-Length: 99999999999999999999999\r\n\r\nabcdef"])
one_json_400("Content-Length -1: one JSON 400", [UP + b"Content-Length: -1\r\n\r\n"])
one_json_400("Content-Length '5, 6' (a list): one JSON 400", [UP + b"Content-Length: 5, 6\r\n\r\nabcdef"])
one_json_400("two Content-Length that differ: one JSON 400",
             [UP + b"Content-Length: 5\r\ncontent-length: 6\r\n\r\nabcdef"])
one_json_400("a bad Content-Length in a head sent in three writes",
             [UP[:20], UP[20:] + b"Content-Le", b"ngth: 1x\r\n\r\nabc"])
one_json_400("a bad Content-Length after a 20 KB header",
             [UP + b"X-A: " + b"a" * 20000 + b"\r\nContent-Length: zz\r\n\r\n"])
one_json_400("a bad Content-Length with bare LF line ends", [b"POST /v1/datasets/cdr/uploads HTTP/1.1\nHost: t\nContent-Length: q\n\n"])

# good framing still goes through, and the connection stays for the next request
one_json_400("white space after the number: one JSON 400 (libmicrohttpd refuses it too)",
             [UP + b"Content-Length: 3 \r\n\r\nabc"])
rs = responses(exchange([b"POST /healthz/live HTTP/1.1\r\n" + H + b"Content-Length: \t 3\r\n\r\nabc"]))
result([r[0] for r in rs] == [405], "Content-Length ' \\t 3' is a number: routed (405 from the router)",
       repr([r[0] for r in rs]))
rs = responses(exchange([b"GET /healthz/live HTTP/1.1\r\n" + H + b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n",
                         b"GET /healthz/ready HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"]))
result([r[0] for r in rs] == [200, 200], "two equal Content-Length: served, kept alive", repr([r[0] for r in rs]))
rs = responses(exchange([b"GET /healthz/li", b"ve HTTP/1.1\r\n" + H, b"Connection: close\r\n\r\n"]))
result([r[0] for r in rs] == [200], "a good head in three writes: 200", repr([r[0] for r in rs]))
# an upload with a good length after the refusals: the service is whole
body = b"x"
rs = responses(exchange([b"GET /healthz/ready HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"]))
result([r[0] for r in rs] == [200], "ready after the refusals", repr([r[0] for r in rs]))
sys.exit(min(FAILS, 100))
