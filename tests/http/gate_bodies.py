#!/usr/bin/env python3
"""Request bodies through the gate (src/http/http_gate.c): a body that
comes in many writes after its head is carried whole, and the framer
counts it, so the requests after it on the same connection are served and
a bad head after a body is still refused. Raw sockets. Prints "ok NAME" or
"FAIL NAME: why", and "job ID" per upload taken; exits with the number of
failures.

  gate_bodies.py PORT CSV1 CSV2 CSV3 (one file per upload, in that order)"""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawhttp  # noqa: E402
from rawhttp import responses  # noqa: E402

PORT = int(sys.argv[1])
CSVS = [open(p, "rb").read() for p in sys.argv[2:5]]
FAILS = 0
H = b"Host: t\r\n"
UP = b"POST /v1/datasets/cdr/uploads HTTP/1.1\r\n" + H
GET = b"GET /healthz/live HTTP/1.1\r\n" + H


def result(ok, name, why=""):
    global FAILS
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why))
    FAILS += 0 if ok else 1


def pieces(b, size=200000):
    return [b[i:i + size] for i in range(0, len(b), size)]


def jobs_of(rs):
    for st, _, body in rs:
        if st == 202:
            print("job %s" % json.loads(body)["job_id"])


def in_turn(s, raw, n):
    """Read from s until raw holds n answers (or the end)."""
    while not rawhttp.answered(raw, n):
        b = s.recv(65536)
        if not b:
            break
        raw += b
    return raw


# a Content-Length body in pieces, then (each after the answer before it)
# a GET and a head with a bad Content-Length: 202, 200 and the gate's JSON
# 400 on one connection
CSV = CSVS[0]
cl = UP + b"Content-Length: %d\r\n\r\n" % len(CSV)
s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
for p in [cl] + pieces(CSV):
    s.sendall(p)
raw = in_turn(s, b"", 1)
s.sendall(GET + b"\r\n")
raw = in_turn(s, raw, 2)
s.sendall(UP + b"Content-Length: 1x\r\n\r\n")
raw = in_turn(s, raw, 3)
s.close()
rs = responses(raw)
st = [r[0] for r in rs]
result(st == [202, 200, 400] and b"BAD_REQUEST" in rs[2][2],
       "a Content-Length body in many writes, then a GET and a bad head on the same connection: 202, 200, JSON 400",
       repr(st))
jobs_of(rs)

# chunked, chunks of 300 KB sent in pieces: the size lines between them
# are scanned, the data counted
CSV = CSVS[1]
chunked = b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in pieces(CSV, 300000)) + b"0\r\n\r\n"
rs = responses(rawhttp.exchange(PORT, [UP + b"Transfer-Encoding: chunked\r\n\r\n"] + pieces(chunked) +
                                [GET + b"Connection: close\r\n\r\n"]))
st = [r[0] for r in rs]
result(st == [202, 200], "a chunked body in many writes, then a GET: 202, 200", repr(st))
jobs_of(rs)

# the body slower than the client's first write: most of it comes after
# the head was handed over
CSV = CSVS[2]
cl = UP + b"Content-Length: %d\r\n\r\n" % len(CSV)
s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
s.sendall(cl + CSV[:100000])
s.sendall(CSV[100000:])
rs = responses(in_turn(s, b"", 1))
s.close()
result([r[0] for r in rs] == [202], "a body in two writes: taken", repr([r[0] for r in rs]))
jobs_of(rs)
sys.exit(FAILS)
