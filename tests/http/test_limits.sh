#!/usr/bin/env bash
# Slow, idle and greedy clients against the real `sluice serve` on loopback
# (issue 10, "Denial of service"; docs/serve.md, "Limits"):
# - 500 idle connections and 50 uploads trickling a byte every 0.5 s held at
#   once, while /healthz/live, /healthz/ready, /metrics and a job's status
#   answer within 100 ms (p99; tests/http/dos.py measures);
# - a body slower than --min-rate over --rate-window (1 s here) is dropped:
#   a plain upload leaves no part file, a tus PATCH keeps what it received;
# - --max-uploads-per-client (429 TOO_MANY_UPLOADS) and
#   --max-conn-per-client (the connection is refused); behind
#   --trusted-proxy the client is the last X-Forwarded-For address.
# Usage: test_limits.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
DOS="python3 $SRC/tests/http/dos.py"
mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
sl gen cdr --rows 2000 --seed 3 -o "$T/small.csv"
check "gen: exit" "$?" 0
metric() { curl -s "$B/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
parts() { find "$T/data/uploads" -name '*.part' | wc -l; }
parts_are() { [ "$(parts)" = "$1" ]; }
wait_parts() { # wait_parts N: up to 10 s for N part files; how many there are
	wait_for "$1 part files" 500 parts_are "$1" >/dev/null
	parts
}
in_flight() { [ "$(metric sluice_uploads_in_flight)" = "$1" ]; }

# --- held under 500 idle connections and 50 trickling uploads --------------------------------------
serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M \
	--max-uploads 64 || { finish; exit 1; }
J=$(curl -s --data-binary @"$T/small.csv" "$B/v1/datasets/cdr/uploads" | jq_ "d['job_id']")
check "a job to ask about" "$(wait_final "$J")" Succeeded
out=$($DOS hold "$PORT" "$J" 500 50 60)
echo "$out"
check "500 idle + 50 trickling: every probe 200 within 100 ms p99, idle ones still served" \
	"$(grep -c FAIL <<<"$out")" 0
check "the trickling uploads were receiving (50 in flight before they went)" \
	"$(grep -c 'trickling uploads still open: 50 of 50' <<<"$out")" 1
check "no part file left by the trickling uploads that went away" "$(wait_parts 0)" 0
stop_server

# --- the rate floor: 1 s windows ---------------------------------------------------------------------
serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M \
	--min-rate 64K --rate-window 1 || { finish; exit 1; }
res=$($DOS trickle "$PORT" /v1/datasets/cdr/uploads 0.2 100)
check "a plain upload at 5 bytes/s is dropped within 4 s" \
	"$(awk '$1 == "dropped" && $2 < 4 {print "yes"}' <<<"$res")" yes
check "its part file is removed" "$(wait_parts 0)" 0
check "counted in sluice_http_slow_bodies_dropped_total" "$(metric sluice_http_slow_bodies_dropped_total)" 1
grep -q 'below --min-rate' "$T/log"
check "logged with the rate" "$?" 0
# a silent body (nothing after the headers) is dropped after one window too
res=$($DOS trickle "$PORT" /v1/datasets/cdr/uploads 5 1)
check "a silent body is dropped within the window (+1 s)" \
	"$(awk '$1 == "dropped" && $2 < 3.5 {print "yes"}' <<<"$res")" yes
# a fast upload is not affected
check "a normal upload is accepted" \
	"$(code POST "$B/v1/datasets/cdr/uploads" --data-binary @"$T/small.csv")" 202
# tus: a PATCH that turns slow keeps what it received
L=$(curl -s -D - -o /dev/null -X POST -H 'Tus-Resumable: 1.0.0' -H 'Upload-Length: 1048576' \
	-H "Upload-Metadata: dataset $(printf cdr | base64 -w0)" "$B/v1/tus/" | tr -d '\r' |
	awk 'tolower($1) == "location:" {print $2}')
ID=${L##*/}
res=$($DOS trickle "$PORT" "/v1/tus/$ID" 0.2 100 'Tus-Resumable: 1.0.0' \
	'Content-Type: application/offset+octet-stream' 'Upload-Offset: 0')
check "a tus PATCH at 5 bytes/s is dropped" "$(awk '{print $1}' <<<"$res")" dropped
off=
offset_moved() {
	off=$(curl -s -I -H 'Tus-Resumable: 1.0.0' "$B/v1/tus/$ID" | tr -d '\r' |
		awk 'tolower($1) == "upload-offset:" {print $2}')
	[ "${off:-0}" -gt 0 ]
}
wait_for "the tus upload's offset to move" 250 offset_moved
check "the tus upload kept the bytes it received (offset > 0)" "$([ "${off:-0}" -gt 0 ] && echo yes)" yes
stop_server

# --- per-client limits ------------------------------------------------------------------------------
serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M \
	--max-uploads-per-client 2 --max-conn-per-client 8 || { finish; exit 1; }
$DOS trickle "$PORT" /v1/datasets/cdr/uploads 0.5 40 >/dev/null &
T1=$!
$DOS trickle "$PORT" /v1/datasets/cdr/uploads 0.5 40 >/dev/null &
T2=$!
wait_for "two uploads in flight" 500 in_flight 2
check "two uploads of this client in flight" "$(metric sluice_uploads_in_flight)" 2
check "a third from the same client: 429" \
	"$(code POST "$B/v1/datasets/cdr/uploads" --data-binary @"$T/small.csv")" 429
check "429 says TOO_MANY_UPLOADS" "$(jq_ "d['error']['code']" <"$T/body")" TOO_MANY_UPLOADS
kill "$T1" "$T2" 2>/dev/null
wait "$T1" "$T2" 2>/dev/null
wait_for "no upload in flight" 500 in_flight 0
check "their slots come back" "$(code POST "$B/v1/datasets/cdr/uploads" --data-binary @"$T/small.csv")" 202
# connections: 8 held, the 9th is refused by the server (closed before an answer)
res=$(python3 - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(5)
try:
    s.sendall(b"GET /healthz/live HTTP/1.1\r\nHost: x\r\n\r\n")
    print("answered" if s.recv(100) else "refused")
except OSError:
    print("refused")
for h in held:
    h.close()
PY
)
check "the 9th connection from one address is refused" "$res" refused
stop_server

# --- behind a trusted proxy: the client is the last X-Forwarded-For address -------------------------
serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M \
	--max-uploads-per-client 1 --trusted-proxy 127.0.0.1 || { finish; exit 1; }
$DOS trickle "$PORT" /v1/datasets/cdr/uploads 0.5 40 'X-Forwarded-For: 10.0.0.1' >/dev/null &
T1=$!
wait_for "one upload in flight" 500 in_flight 1
check "behind the proxy: client 10.0.0.1 at its limit, 10.0.0.2 may upload" \
	"$(code POST "$B/v1/datasets/cdr/uploads" -H 'X-Forwarded-For: 10.0.0.2' --data-binary @"$T/small.csv")" 202
check "behind the proxy: a second upload of 10.0.0.1 is 429" \
	"$(code POST "$B/v1/datasets/cdr/uploads" -H 'X-Forwarded-For: 6.6.6.6, 10.0.0.1' --data-binary @"$T/small.csv")" 429
kill "$T1" 2>/dev/null
wait "$T1" 2>/dev/null
stop_server
finish
