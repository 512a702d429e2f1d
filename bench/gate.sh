#!/usr/bin/env bash
# The gate's relay (src/http/http_gate.c), by hand: two binaries measured
# in turn, ROUNDS rounds each, interleaved (docs/benchmarks.md, "The gate's
# relay"). Per round and binary, on a fresh server:
#   - 2000 keep-alive GET /healthz/live on one connection, on the idle
#     server: p50 and p99 ms;
#   - one upload of FILE (curl -T, raw body, loopback): seconds from curl's
#     start to the 202, and the CPU time the server spent meanwhile (all
#     its threads, /proc/PID/task/*/schedstat: less at the mercy of a busy
#     machine than the wall time); the server's job is waited for before
#     the next.
#   bench/gate.sh BEFORE AFTER FILE [ROUNDS]
# Prints a line per measurement: binary, round, upload s, MB/s, the
# server's CPU ms during the upload, p50, p99.
set -u
BEFORE=$(realpath "$1") AFTER=$(realpath "$2") FILE=$(realpath "$3") ROUNDS=${4:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/schemas"
cp "$SRC/examples/cdr.yaml" "$W/schemas/"
size=$(stat -c %s "$FILE")
cat "$FILE" >/dev/null # into the page cache
cpu_ms() { # PID: CPU time of all its threads so far, ms
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s / 1e6}'
}
keepalive() { # PORT: p50 p99 of 2000 GETs on one connection
	python3 - "$1" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
req = b"GET /healthz/live HTTP/1.1\r\nHost: x\r\n\r\n"
ts = []
buf = b""
for _ in range(2000):
    t0 = time.perf_counter()
    s.sendall(req)
    while True:
        h, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            n = int([l.split(b":")[1] for l in h.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
            if len(rest) >= n:
                buf = rest[n:]
                break
        buf += s.recv(65536)
    ts.append((time.perf_counter() - t0) * 1000)
ts.sort()
print("%.3f %.3f" % (ts[len(ts) // 2], ts[int(len(ts) * 0.99)]))
PY
}
for r in $(seq 1 "$ROUNDS"); do
	for b in BEFORE AFTER; do
		bin=${!b}
		rm -rf "$W/data" "$W/s.db"*
		"$bin" serve --listen 127.0.0.1:0 --db "$W/s.db" --schemas "$W/schemas" --data-dir "$W/data" \
			--min-free 1M --max-upload 10G 2>"$W/log" &
		pid=$!
		port=
		for _ in $(seq 1 500); do
			port=$(grep -o -m1 '"msg":"listening on [0-9.]*:[0-9]*' "$W/log" | sed 's/.*://')
			[ -n "$port" ] && break
			sleep 0.02
		done
		ka=$(keepalive "$port") # idle: before the upload's job runs
		c0=$(cpu_ms "$pid")
		t=$(curl -s -o "$W/body" -w '%{time_total}' -X POST -T "$FILE" "http://127.0.0.1:$port/v1/datasets/cdr/uploads")
		c1=$(cpu_ms "$pid")
		job=$(python3 -c "import json; print(json.load(open('$W/body'))['job_id'])")
		for _ in $(seq 1 3000); do
			st=$(curl -s "http://127.0.0.1:$port/v1/jobs/$job" | python3 -c "import json,sys; print(json.load(sys.stdin)['status'])")
			case $st in Succeeded | PartiallySucceeded | Failed) break ;; esac
			sleep 0.1
		done
		kill -TERM "$pid"
		wait "$pid"
		echo "$b $r upload_s $t MB/s $(awk -v s="$size" -v t="$t" 'BEGIN {printf "%.0f", s / t / 1e6}') server_cpu_ms $((c1 - c0)) keepalive_p50_p99_ms $ka"
	done
done
