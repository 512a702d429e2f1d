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


def exchange_in_turn(parts):
    return rawhttp.exchange(PORT, parts, in_turn=True)


def one_json_400(name, parts, before=(), raw=None):
    """The answers are `before` (statuses) and then one JSON 400, the last."""
    raw = exchange(parts) if raw is None else raw
    rs = responses(raw)
    why = []
    if [r[0] for r in rs[:-1]] != list(before) or not rs:
        why.append("answers %r, want %r then one 400 (a doubled status line?): %r" %
                   ([r[0] for r in rs], list(before), raw[:300]))
    else:
        st, hs, body = rs[-1]
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

# later heads of a kept-alive connection are checked as the first is
# (the gate walks the stream: src/http/http_frame.c)
GET = b"GET /healthz/live HTTP/1.1\r\n" + H + b"\r\n"
one_json_400("kept alive: a later Content-Length abc is one JSON 400 after the 200", [],
             before=[200], raw=exchange_in_turn([GET, UP + b"Content-Length: abc\r\n\r\nabcdef"]))
one_json_400("kept alive: later Content-Length headers that differ, one JSON 400", [],
             before=[200, 200],
             raw=exchange_in_turn([GET, GET, UP + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef"]))
one_json_400("pipelined in one write: two answers, then one JSON 400", [GET + GET + UP + b"Content-Length: -1\r\n\r\n"],
             before=[200, 200])
one_json_400("pipelined, the bad head split over writes", [GET + UP[:10], UP[10:] + b"Content-Len", b"gth: 9z\r\n\r\n"],
             before=[200])
# a body is not a head: what looks like a bad head inside one is carried on
BAD = UP + b"Content-Length: x\r\n\r\n"
rs = responses(exchange([b"POST /healthz/live HTTP/1.1\r\n" + H + b"Content-Length: %d\r\n\r\n" % len(BAD) + BAD,
                         b"GET /healthz/live HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"]))
# (the router answers 405 without reading the body, and closes: RFC 9112 9.6)
result([r[0] for r in rs] == [405], "a Content-Length body holding a bad head: not refused (405 from the router)",
       repr([r[0] for r in rs]))
# an upload reads its whole body: the connection goes on after it
CSV = b"caller_id,recipient\r\n" + BAD
for name, body in (("a Content-Length", b"Content-Length: %d\r\n\r\n" % len(CSV) + CSV),
                   ("a chunked", b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(CSV) + CSV +
                    b"\r\n0\r\n\r\n")):
    raw = exchange([UP + body[:40], body[40:] + b"GET /healthz/live HTTP/1.1\r\n" + H +
                            b"Connection: close\r\n\r\n"])
    st = [r[0] for r in responses(raw)]
    result(len(st) == 2 and 200 <= st[0] < 300 and st[1] == 200,
           "%s upload body holding a bad head: loaded, then the next request served" % name, repr(st))

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
