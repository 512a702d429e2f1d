#!/usr/bin/env bash
# Framing refused before libmicrohttpd (src/http/http_gate.c): a
# Content-Length that is not a number, or several that differ, get one JSON
# 400 from the real server (raw sockets: tests/http/framing.py), good heads
# keep their connection, the refusals are logged and counted, and the
# connection limits still hold for connections the gate holds.
# Usage: test_framing.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M \
	--max-conn-per-client 6 || { finish; exit 1; }
out=$(python3 "$SRC/tests/http/framing.py" "$PORT")
echo "$out" | grep FAIL
check "raw-socket checks (framing.py)" "$(grep -c '^FAIL' <<<"$out")" 0
check "raw-socket checks ran" "$(grep -c '^ok' <<<"$out")" 20
check "each refusal is logged with its status" \
	"$(server_log | grep -c '"msg":"refused before libmicrohttpd: Content-Length".*"status":400')" 13
check "the refusals are counted as 400s" \
	"$(curl -s "$B/metrics" | grep '^sluice_http_requests_total{.*status="400"' | awk '{s+=$NF} END {print s}')" 13
# six connections held by the gate (idle: no head yet), the seventh refused;
# one of them closed, a new one is taken; a held one then sends its request
res=$(python3 - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
def probe():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    try:
        s.sendall(b"GET /healthz/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return "answered" if s.recv(100) else "refused"
    except OSError:
        return "refused"
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]
print(probe())
held.pop().close()
# the gate sees the close: poll until a new connection is taken
for _ in range(200):
    r = probe()
    if r == "answered":
        break
print(r)
held[0].sendall(b"GET /healthz/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
held[0].settimeout(5)
print("held one answered" if held[0].recv(100).startswith(b"HTTP/1.1 200") else "held one not answered")
PY
)
check "7th idle connection from one address: refused; after a close: taken; a held one served" \
	"$(tr '\n' ' ' <<<"$res")" "refused answered held one answered "
stop_server
finish
