#!/usr/bin/env python3
"""Does the event loop answer while an upload streams into the bucket?

  s3_loop.py PORT FILE JOB MIN_PROBES [PID]
      POSTs FILE to /v1/datasets/cdr/uploads on one connection (a thread
      sends it as fast as the server takes it); until its answer comes,
      times GETs of /healthz/live, /metrics and /v1/jobs/JOB in turn, each on
      a new connection (as a probe makes them). Prints p50 and p99 per route
      and over all, then "upload STATUS JOB_ID". Exits 1 when a probe failed,
      the p99 of all is over 100 ms, fewer than MIN_PROBES probes ran while
      the upload streamed, or the upload was not 202. With PID, also prints "rss_growth_kib N": how
      far the server's resident memory rose above its start while the upload
      streamed (sampled at each probe)."""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dos import connect, get, pct, read_all  # noqa: E402


def upload(port, path, result):
    size = os.path.getsize(path)
    s = connect(port)
    s.settimeout(120)
    s.sendall(("POST /v1/datasets/cdr/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
               "Content-Length: %d\r\nConnection: close\r\n\r\n" % size).encode())
    with open(path, "rb") as f:
        while True:
            b = f.read(65536)
            if not b:
                break
            s.sendall(b)
    data = read_all(s)
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        result["status"] = int(head.split(b" ", 2)[1])
        result["job"] = json.loads(body).get("job_id", "")
    except (IndexError, ValueError):
        result["status"] = 0


def rss_kib(pid):
    if not pid:
        return 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main(port, path, job, min_probes, pid):
    rss0 = rss_kib(pid)
    rss_max = rss0
    result = {"status": 0, "job": ""}
    th = threading.Thread(target=upload, args=(port, path, result))
    t0 = time.monotonic()
    th.start()
    routes = ["/healthz/live", "/metrics", "/v1/jobs/" + job]
    times = {r: [] for r in routes}
    bad = 0
    i = 0
    while th.is_alive():
        r = routes[i % len(routes)]
        i += 1
        st, dt = get(port, r, None)
        if st != 200:
            print("FAIL: %s answered %d" % (r, st))
            bad += 1
        times[r].append(dt * 1000)
        rss_max = max(rss_max, rss_kib(pid))
        time.sleep(0.005)  # a probe every few ms, not a busy loop (no synchronisation)
    th.join()
    secs = time.monotonic() - t0
    every = [t for r in routes for t in times[r]]
    for r in routes:
        if times[r]:
            print("%-26s p50 %6.1f ms  p99 %6.1f ms  (%d requests)" %
                  (r, pct(times[r], 50), pct(times[r], 99), len(times[r])))
    if len(every) < min_probes:
        print("FAIL: %d probes while the upload streamed (%.1f s), fewer than %d" %
              (len(every), secs, min_probes))
        bad += 1
    else:
        p99 = pct(every, 99)
        print("all: p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%d requests in %.1f s)" %
              (pct(every, 50), p99, max(every), len(every), secs))
        if p99 > 100:
            print("FAIL: p99 %.1f ms is over 100 ms" % p99)
            bad += 1
    if pid:
        print("rss_growth_kib %d" % (rss_max - rss0))
    print("upload %d %s" % (result["status"], result["job"]))
    if result["status"] != 202:
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    a = sys.argv
    sys.exit(main(int(a[1]), a[2], a[3], int(a[4]), int(a[5]) if len(a) > 5 else 0))
