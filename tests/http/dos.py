#!/usr/bin/env python3
"""Clients that try to hold `sluice serve` (issue 10, "Denial of service").

  dos.py hold PORT JOB IDLE TRICKLE ROUNDS [KEY]
      Opens IDLE idle connections and TRICKLE uploads that send their body a
      byte every 0.5 s, all from loopback; while they are open, times ROUNDS
      requests of each of /healthz/live, /healthz/ready, /metrics and
      /v1/jobs/JOB (a new connection each, as a probe makes them), then
      checks that the idle and trickling connections are still held (the
      server did not just refuse them). Prints one line per route with p50
      and p99 in ms and exits 1 when a request failed, a p99 is over 100 ms
      or the held connections were not held.
  dos.py trickle PORT PATH EVERY_S N [HEADER...]
      One request with Content-Length 1 MiB whose body comes a byte every
      EVERY_S seconds, N bytes at most; prints "dropped SECONDS" when the
      server closes the connection first, else "sent N".
  dos.py raw PORT FILE
      Sends FILE's bytes as they are on one connection and prints what comes
      back (for requests curl cannot make)."""
import socket
import sys
import threading
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_all(s):
    """Everything the server sends until it closes; s is closed."""
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    return data


def get(port, path, key):
    """One GET on a new connection: (status, seconds)."""
    t0 = time.monotonic()
    s = connect(port)
    auth = "Authorization: Bearer %s\r\n" % key if key else ""
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n" % (path, auth)).encode())
    data = read_all(s)
    dt = time.monotonic() - t0
    try:
        status = int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, dt


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def hold(port, job, n_idle, n_trickle, rounds, key):
    idle = []
    for _ in range(n_idle):
        idle.append(connect(port))
    trick = []
    auth = "Authorization: Bearer %s\r\n" % key if key else ""
    for _ in range(n_trickle):
        s = connect(port)
        s.sendall(("POST /v1/datasets/cdr/uploads HTTP/1.1\r\nHost: x\r\n%s"
                   "Content-Length: 1048576\r\n\r\n" % auth).encode())
        trick.append(s)
    stop = threading.Event()

    def trickle():
        while not stop.wait(0.5):
            for s in trick:
                try:
                    s.send(b"a")
                except OSError:
                    pass

    th = threading.Thread(target=trickle, daemon=True)
    th.start()
    time.sleep(0.5)  # let the server see them all (not a synchronisation: the check below says)
    bad = 0
    for path in ["/healthz/live", "/healthz/ready", "/metrics", "/v1/jobs/" + job]:
        times = []
        for _ in range(rounds):
            st, dt = get(port, path, key)
            if st != 200:
                print("FAIL: %s answered %d" % (path, st))
                bad += 1
            times.append(dt * 1000)
        p50, p99 = pct(times, 50), pct(times, 99)
        print("%-22s p50 %6.1f ms  p99 %6.1f ms  (%d requests)" % (path, p50, p99, len(times)))
        if p99 > 100:
            print("FAIL: %s p99 %.1f ms is over 100 ms" % (path, p99))
            bad += 1
    stop.set()
    th.join()
    # the connections were held, not refused: an idle one still takes a request
    alive = 0
    for s in idle[:20]:
        try:
            s.sendall(b"GET /healthz/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.settimeout(10)
            if s.recv(12).startswith(b"HTTP/1.1 200"):
                alive += 1
        except OSError:
            pass
    print("idle connections still served: %d of 20" % alive)
    if alive != 20:
        print("FAIL: idle connections were dropped")
        bad += 1
    open_trick = 0
    for s in trick:
        try:
            s.send(b"a")
            open_trick += 1
        except OSError:
            pass
    print("trickling uploads still open: %d of %d" % (open_trick, len(trick)))
    for s in idle + trick:
        s.close()
    return 1 if bad else 0


def trickle_one(port, path, every, n, headers):
    s = connect(port)
    hs = "".join(h + "\r\n" for h in headers)
    s.sendall(("PATCH" if "/tus/" in path else "POST").encode() +
              (" %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n%s\r\n" % (path, hs)).encode())
    t0 = time.monotonic()
    s.settimeout(every)
    for i in range(n):
        try:
            s.send(b"a")
            if s.recv(1024) == b"":
                print("dropped %.1f" % (time.monotonic() - t0))
                return 0
        except socket.timeout:
            continue
        except OSError:
            print("dropped %.1f" % (time.monotonic() - t0))
            return 0
    print("sent %d" % n)
    return 0


def raw(port, path):
    s = connect(port)
    with open(path, "rb") as f:
        s.sendall(f.read())
    s.settimeout(5)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except socket.timeout:
        pass
    sys.stdout.buffer.write(data)
    return 0


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "hold":
        sys.exit(hold(int(a[2]), a[3], int(a[4]), int(a[5]), int(a[6]), a[7] if len(a) > 7 else None))
    if a[1] == "trickle":
        sys.exit(trickle_one(int(a[2]), a[3], float(a[4]), int(a[5]), a[6:]))
    if a[1] == "raw":
        sys.exit(raw(int(a[2]), a[3]))
    sys.exit(2)
