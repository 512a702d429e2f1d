#!/usr/bin/env python3
"""Request bodies spliced by the gate (src/http/http_gate.c): once a head
is checked and the buffer before the body is drained, the body's bytes go
client socket -> pipe -> libmicrohttpd's socket with splice(2), counted by
the framer, so the head after a body is still checked. Raw sockets; each
upload's body comes in several writes after its head, so most of it is
spliced. Prints "ok NAME" or "FAIL NAME: why", and "job ID ROWS" per
upload; exits with the number of failures.

  splice.py PORT PID CSV"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawhttp  # noqa: E402
from rawhttp import responses  # noqa: E402

PORT, PID, CSV = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()
FAILS = 0
H = b"Host: t\r\n"
UP = b"POST /v1/datasets/cdr/uploads HTTP/1.1\r\n" + H
GET = b"GET /healthz/live HTTP/1.1\r\n" + H


def result(ok, name, why=""):
    global FAILS
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why))
    FAILS += 0 if ok else 1


def pipes():
    """The server's open pipes (the gate's body pipes among them)."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % PID):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (PID, fd)).startswith("pipe:")
        except OSError:
            pass
    return n


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
       "a spliced Content-Length body, then a GET and a bad head on the same connection: 202, 200, JSON 400",
       repr(st))
jobs_of(rs)

# chunked, chunks of 300 KB sent in pieces: the chunk data is spliced, the
# size lines between them are scanned
chunked = b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in pieces(CSV, 300000)) + b"0\r\n\r\n"
rs = responses(rawhttp.exchange(PORT, [UP + b"Transfer-Encoding: chunked\r\n\r\n"] + pieces(chunked) +
                                [GET + b"Connection: close\r\n\r\n"]))
st = [r[0] for r in rs]
result(st == [202, 200], "a spliced chunked body, then a GET: 202, 200", repr(st))
jobs_of(rs)

# while a body streams, its connection holds a pipe; after, none is left
base = pipes()
s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
s.sendall(cl + CSV[:100000])
seen = base
for _ in range(500):
    seen = pipes()
    if seen == base + 2:
        break
    time.sleep(0.01)  # polling the state, not a synchronisation by time
result(seen == base + 2, "a body streaming: its pipe is open (%d pipes, %d before)" % (seen, base))
s.sendall(CSV[100000:])
raw = in_turn(s, b"", 1)
s.close()
rs = responses(raw)
result([r[0] for r in rs] == [202], "and the upload is taken", repr([r[0] for r in rs]))
jobs_of(rs)
for _ in range(500):
    if pipes() == base:
        break
    time.sleep(0.01)
result(pipes() == base, "its connection closed: the pipe is closed (%d pipes, %d before)" % (pipes(), base))
sys.exit(FAILS)
