#!/usr/bin/env bash
# What integrators expect of `sluice serve` (issue 10, "Integrators'
# conventions"), against the real server on loopback:
# - GET /v1/jobs/{id}/events of a job accepted but not yet recorded (another
#   process holds the write lock) is 503 NOT_RECORDED_YET with Retry-After;
# - /v1/jobs refuses unknown and repeated parameters;
# - the errors download honours Accept (text/csv, application/x-ndjson) and
#   both forms carry the same columns;
# - the job JSON names the upload's file, not the server's absolute path;
# - /metrics: a method label on requests, process_* and sluice_build_info;
# - cancelling a running job while another process holds the write lock
#   longer than the store's busy timeout (5 s) waits, then answers 202,
#   never 503 DB_BUSY.
# Usage: test_conventions.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
sl gen cdr --rows 3000 --error-rate 0.02 --seed 21 -o "$T/bad.csv"
check "gen: exit" "$?" 0
DB=$T/s.db
LOCKER=
serve "$T/log" --db "$DB" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M || { finish; exit 1; }
J=$(curl -s --data-binary @"$T/bad.csv" "$B/v1/datasets/cdr/uploads" | jq_ "d['job_id']")
check "a job with rejected rows" "$(wait_final "$J")" PartiallySucceeded

# --- the job JSON: the file by its name ---------------------------------------------------------------
F=$(curl -s "$B/v1/jobs/$J" | jq_ "d['file']")
check "the job's file is a name, not a path of the server" "$(case "$F" in */* | "$T"*) echo path ;; u*.csv) echo name ;; *) echo "other: $F" ;; esac)" name

# --- /v1/jobs parameters ------------------------------------------------------------------------------
check "/v1/jobs?limit=5: 200" "$(code GET "$B/v1/jobs?limit=5")" 200
check "/v1/jobs?staus=Failed (a typo): 400" "$(code GET "$B/v1/jobs?staus=Failed")" 400
check "the 400 names it" "$(jq_ "'staus' in d['error']['message']" <"$T/body")" True
check "/v1/jobs?limit=1&limit=2: 400" "$(code GET "$B/v1/jobs?limit=1&limit=2")" 400
check "the 400 says twice" "$(jq_ "'twice' in d['error']['message']" <"$T/body")" True

# --- the errors download and Accept ------------------------------------------------------------------------
check "errors, Accept: text/csv: 200" "$(code GET "$B/v1/jobs/$J/errors" -H 'Accept: text/csv')" 200
check "as CSV" "$(grep -i '^content-type:' "$T/hdr" | tr -d '\r' | cut -d' ' -f2-)" "text/csv; charset=utf-8"
cp "$T/body" "$T/errors.csv"
check "errors, Accept: application/x-ndjson: 200" "$(code GET "$B/v1/jobs/$J/errors" -H 'Accept: application/x-ndjson')" 200
check "as JSON lines" "$(grep -i '^content-type:' "$T/hdr" | tr -d '\r' | cut -d' ' -f2-)" application/x-ndjson
cp "$T/body" "$T/errors.jsonl"
check "the same columns and rows in both" "$(python3 - "$T/errors.csv" "$T/errors.jsonl" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
lines = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
if not rows or len(rows) != len(lines):
    print("counts %d %d" % (len(rows), len(lines))); sys.exit()
if list(rows[0].keys()) != list(lines[0].keys()):
    print("columns %s vs %s" % (list(rows[0].keys()), list(lines[0].keys()))); sys.exit()
for a, b in zip(rows, lines):
    if any(("" if b[k] is None else str(b[k])) != a[k] for k in a):  # null is the empty field
        print("values differ: %r %r" % (a, b)); sys.exit()
print("same")
PY
)" same
check "format= wins over Accept" "$(code GET "$B/v1/jobs/$J/errors?format=csv" -H 'Accept: application/x-ndjson'; grep -ic '^content-type: text/csv' "$T/hdr")" "2001"

# --- metrics ------------------------------------------------------------------------------------------
curl -s -o /dev/null -X POST "$B/v1/jobs/$J/cancel"
code GET "$B/metrics" >/dev/null
m() { awk -v k="$1" 'index($0, k) == 1 {print $NF; exit}' "$T/body"; }
check "requests by method: the GET of the job" "$([ "$(m 'sluice_http_requests_total{method="GET",route="/v1/jobs/{id}",status="200"}')" -ge 1 ] && echo yes)" yes
check "requests by method: the POST of the cancel" "$(m 'sluice_http_requests_total{method="POST",route="/v1/jobs/{id}/cancel",status="409"}')" 1
check "process_resident_memory_bytes above 1 MB" "$([ "$(m process_resident_memory_bytes)" -gt 1000000 ] && echo yes)" yes
check "process_open_fds counts descriptors" "$([ "$(m process_open_fds)" -ge 3 ] && echo yes)" yes
check "process_cpu_seconds_total moved" "$(awk -v v="$(m process_cpu_seconds_total)" 'BEGIN {print (v > 0) ? "yes" : "no"}')" yes
check "sluice_build_info" "$(m 'sluice_build_info{version="')" 1

# --- events of a job not recorded yet: 503 NOT_RECORDED_YET -------------------------------------------
lock_db "$DB" IMMEDIATE # returns once the holder says it holds the lock
check "another process holds the write lock" "$([ -e "$H/locked" ] && echo yes)" yes
check "an upload meanwhile: 202" "$(code POST "$B/v1/datasets/cdr/uploads" --data-binary @"$T/bad.csv" -H 'Idempotency-Key: conv-1')" 202
L=$(jq_ "d['job_id']" <"$T/body")
check "its events: 503 (not 404)" "$(code GET "$B/v1/jobs/$L/events" --max-time 10)" 503
check "503 says NOT_RECORDED_YET" "$(jq_ "d['error']['code']" <"$T/body")" NOT_RECORDED_YET
check "with Retry-After" "$(grep -i '^retry-after:' "$T/hdr" | tr -d '\r' | cut -d' ' -f2)" 1
unlock_db
check "once recorded, its events stream to the end" "$(curl -s --max-time 60 "$B/v1/jobs/$L/events" | grep -c '^event: end')" 1

# --- cancel while the write lock is held for 7 s ---------------------------------------------------------
# (small chunks, and the job held before its chunk 3 (SLUICE_TEST_PAUSE, a
# place, not a time: a fast machine finished it before the lock came), so
# that it has chunks left when the cancel lands)
stop_server
mkdir -p "$T/pz"
SLUICE_TEST_PAUSE=3:$T/pz serve "$T/log" --db "$DB" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M \
	--chunk-size 1M --threads 1 || { finish; exit 1; }
sl gen cdr --rows 400000 --seed 22 -o "$T/big.csv"
check "gen: exit" "$?" 0
BJ=$(curl -s --data-binary @"$T/big.csv" "$B/v1/datasets/cdr/uploads" | jq_ "d['job_id']")
recorded() { [ "$(sqlite3 "$DB" "PRAGMA busy_timeout=1000; SELECT count(*) FROM sluice_jobs WHERE id = '$BJ'" 2>/dev/null | tail -1)" = 1 ]; }
wait_for "the big job in the store" 500 recorded
wait_for "the big job held before its chunk 3" 3000 test -e "$T/pz/paused"
rm -f "$T/locked"
python3 - "$DB" "$T/locked" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
db.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(7)  # longer than the store's 5 s busy timeout
db.execute("COMMIT")
PY
LOCKER=$!
wait_for "the 7 s lock holder" 500 test -e "$T/locked"
st=$(curl -s "$B/v1/jobs/$BJ" | jq_ "d['status']")
check "the big job is not finished when the lock is taken" "$(case "$st" in Succeeded | PartiallySucceeded | Failed) echo "$st" ;; *) echo running ;; esac)" running
st=$(code POST "$B/v1/jobs/$BJ/cancel" --max-time 40)
# 202 when a runner holds a chunk of it (it stops after that chunk), 200
# when none does (a slow build may still be planning it: no lease then, the
# cancel ends it at once and the planner's writes give way); never 503
case "$st" in 200 | 202) ok ;; *) bad "cancel under a 7 s write lock: 200 or 202, not 503 DB_BUSY: got '$st'"; cat "$T/body" ;; esac
: >"$T/pz/go" # the held runner goes on, and stops after that chunk
wait "$LOCKER"
LOCKER=
check "the job ends Cancelled" "$(wait_final "$BJ")" Cancelled
stop_server
finish
