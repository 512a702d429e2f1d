#!/usr/bin/env bash
# End-to-end tests of how `sluice serve` runs jobs over time, against the
# real server and a real SQLite file: cancel (queued and running), retry
# after cancel, jobs taking turns (a small job is not starved by a big
# one), Server-Sent Events, signed upload URLs, the config file, jobs that
# survive a SIGTERM before they started and a kill -9 in the middle (every
# row loaded once), persisted idempotency keys, 10 concurrent uploads while
# jobs run, and the histograms in /metrics.
# Usage: test_lifecycle.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"

mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
# LIFE_ROWS: smaller in the sanitizer builds (tests/http/tests.cmake), where
# every chunk takes many times longer, so the jobs are still long-running there
BIG_ROWS=${LIFE_ROWS:-150000}
sl gen cdr --rows "$BIG_ROWS" --error-rate 0.01 --seed 7 --manifest "$T/big.man" -o "$T/big.csv" || bad "gen cdr (big)"
sl gen cdr --rows $((BIG_ROWS * 2 / 3)) --error-rate 0.01 --seed 9 --manifest "$T/big2.man" -o "$T/big2.csv" || bad "gen cdr (big2)"
sl gen cdr --rows 2000 --error-rate 0.02 --seed 8 --manifest "$T/small.man" -o "$T/small.csv" || bad "gen cdr (small)"
# what the loads must give, from the generator's manifests
WANT_REJECTED=$(grep -c . "$T/big.man")
WANT_LOADED=$((BIG_ROWS - WANT_REJECTED))
SMALL_LOADED=$((2000 - $(grep -c . "$T/small.man")))
DB=$T/s.db
OPTS=(--db "$DB" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --threads 1 --chunk-size 64K --max-uploads 16)
rows_of() { sqlite3 "$DB" "SELECT count(*) FROM call_detail_records WHERE _sluice_job = '$1'"; }
job() { curl -s "$B/v1/jobs/$1" | jq_ "$2"; }
upload() { curl -s --data-binary @"$1" "${@:2}" "$B/v1/datasets/cdr/uploads" | jq_ "d['job_id']"; }
# wait_chunks JOB N: until N chunks of it are committed
chunks_at_least() { [ "$(job "$1" "d['chunks_processed']" 2>/dev/null || echo 0)" -ge "$2" ]; }
wait_chunks() { wait_for "$2 chunks of job $1" 1500 chunks_at_least "$1" "$2"; }

# --- one runner: a queued job is cancelled at once, a running one at a chunk boundary ---
# The big job's writer is held before its chunk 4 (SLUICE_TEST_PAUSE, test
# only) until the cancel is filed, so it is running then whatever the speed
# of the build: no race with the end of the job.
mkdir -p "$T/p1"
SLUICE_TEST_PAUSE="4:$T/p1" serve "$T/log" "${OPTS[@]}" --jobs 1 --slice 1000 || exit 1
BIG=$(upload "$T/big.csv")
SMALL=$(upload "$T/small.csv")
case "$SMALL" in j*) ok ;; *) bad "upload answers a job id: $SMALL" ;; esac
wait_for "the big job to be held before chunk 4" 3000 test -e "$T/p1/paused" || bad "the big job did not start"
check "the second job waits for the one runner" "$(job "$SMALL" "d['status']")" Accepted
check "cancel a queued job: 200" "$(code POST "$B/v1/jobs/$SMALL/cancel")" 200
check "cancelled at once" "$(jq_ "d['status']" <"$T/body")" Cancelled
check "cancel a running job: 202" "$(code POST "$B/v1/jobs/$BIG/cancel")" 202
touch "$T/p1/go"
check "running job: cancelling" "$(wait_final "$BIG")" Cancelled
check "cancel a finished job: 409" "$(code POST "$B/v1/jobs/$BIG/cancel")" 409
check "cancel an unknown job: 404" "$(code POST "$B/v1/jobs/j0000000000000000000/cancel")" 404
curl -s "$B/v1/jobs/$BIG" >"$T/c.json"
LOADED=$(jq_ "d['rows_loaded']" <"$T/c.json")
check "cancelled: rows in the table = rows_loaded" "$(rows_of "$BIG")" "$LOADED"
check "cancelled: counts add up" "$(jq_ "d['rows_read'] == d['rows_loaded'] + d['rows_rejected']" <"$T/c.json")" True
check "cancelled: some chunks left queued" "$(curl -s "$B/v1/jobs/$BIG/chunks" | jq_ "sum(1 for c in d['chunks'] if c['status'] == 'Queued') > 0")" True
check "the cancelled queued job loaded nothing" "$(rows_of "$SMALL")" 0
check "retry a cancelled job: 202" "$(code POST "$B/v1/jobs/$BIG/retry")" 202
check "retried: waiting at once, not Cancelled" "$(job "$BIG" "d['status'] in ('ChunksQueued', 'Processing')")" True
check "retried after cancel: finished" "$(wait_final "$BIG")" PartiallySucceeded
check "after cancel and retry: every row once" "$(rows_of "$BIG") $(job "$BIG" "d['rows_rejected']")" "$WANT_LOADED $WANT_REJECTED"

# SSE: the events of a finished job end at once with its final state
curl -s -N --max-time 10 "$B/v1/jobs/$BIG/events" >"$T/sse"
check "events: one end event" "$(grep -c '^event: end' "$T/sse")" 1
check "events: the data is the job" "$(grep '^data: ' "$T/sse" | tail -1 | cut -c7- | jq_ "d['status'], d['rows_loaded']")" "PartiallySucceeded $WANT_LOADED"
# ... and of a running one: progress events, then the end
R=$(upload "$T/big2.csv" -H 'X-Correlation-Id: sse-run')
curl -s -N --max-time 120 "$B/v1/jobs/$R/events" >"$T/sse2"
check "events: progress while it runs" "$(grep -c '^event: progress' "$T/sse2" | awk '{print ($1 >= 2)}')" 1
check "events: ends with the final state" "$(grep '^event:' "$T/sse2" | tail -1)" "event: end"
check "events: unknown job 404" "$(code GET "$B/v1/jobs/j0000000000000000000/events")" 404
check "events of an upload id" "$(curl -s -N --max-time 10 "$B/v1/jobs/$(job "$R" "d['upload_id']")/events" | grep -c '^event: end')" 1

# metrics: histograms and rejects by code, with the values the jobs above
# must have left (the big job once, after its cancel and retry; big2)
curl -s "$B/metrics" >"$T/m"
val() { awk -v n="$1" 'index($0, n " ") == 1 { print $NF }' "$T/m"; }
check "metrics: DUP_KEY rejects = the manifests' duplicates" "$(val 'sluice_rows_rejected_by_code_total{code="DUP_KEY"}')" \
	"$(($(grep -c DUP_REFERENCE "$T/big.man") + $(grep -c DUP_REFERENCE "$T/big2.man")))"
check "metrics: one job Cancelled" "$(val 'sluice_jobs{status="Cancelled"}')" 1
check "metrics: the histogram of /v1/jobs/{id} counts its requests" "$(val 'sluice_http_request_duration_seconds_bucket{route="/v1/jobs/{id}",le="+Inf"}')" \
	"$(awk '/^sluice_http_requests_total\{method="[A-Z]+",route="\/v1\/jobs\/\{id\}",/ { n += $NF } END { print n + 0 }' "$T/m")"
check "metrics: chunk durations = the chunks committed" "$(val sluice_chunk_duration_seconds_count)" "$(val 'sluice_chunks_total{status="Succeeded"}')"
check "metrics: chunks committed = the two jobs' chunks" "$(val 'sluice_chunks_total{status="Succeeded"}')" \
	"$(($(job "$BIG" "d['chunks_total']") + $(job "$R" "d['chunks_total']")))"
for m in 'sluice_bytes_ingested_total' 'sluice_chunks{status="Queued"}' 'sluice_chunks{status="Succeeded"}'; do
	[ -n "$(val "$m")" ] && ok || bad "metrics: no '$m'"
done
stop_server

# --- taking turns: with one runner and 1 s slices, a small job does not wait for a big one ---
# The big job's writer is held before its chunk 2 (SLUICE_TEST_PAUSE) until
# the small job waits and the big one's 1 s slice is over, so it is still
# running then however fast the build loads (the lookup indexes built at
# the end made a sanitizer build's big job finish inside its slice).
rm -f "$DB"*
mkdir -p "$T/turn"
SLUICE_TEST_PAUSE="2:$T/turn" serve "$T/log" "${OPTS[@]}" --jobs 1 --slice 1 || exit 1
BIG=$(upload "$T/big.csv")
wait_for "the big job to be held before chunk 2" 3000 test -e "$T/turn/paused" || bad "the big job did not start"
SMALL=$(upload "$T/small.csv")
check "taking turns: the small job waits for the one runner" "$(job "$SMALL" "d['status']")" Accepted
# a slice is time: poll until the held job has had more than its second
wait_for "the big job's slice to pass" 3000 python3 -c "import os, sys, time; sys.exit(time.time() - os.path.getmtime(sys.argv[1]) <= 1.2)" "$T/turn/paused"
: >"$T/turn/go"
check "small job finished" "$(wait_final "$SMALL")" PartiallySucceeded
check "... while the big one still runs" "$(job "$BIG" "d['status']")" Processing
check "big job finished" "$(wait_final "$BIG")" PartiallySucceeded
check "taking turns: every row once" "$(rows_of "$BIG") $(rows_of "$SMALL")" "$WANT_LOADED $SMALL_LOADED"
grep -q 'paused after' "$T/log" && ok || bad "the big job was never paused"
stop_server

# --- SIGTERM with jobs queued: they run after the restart; idempotency keys persist ---
rm -f "$DB"*
serve "$T/log" "${OPTS[@]}" --jobs 1 --grace 1 || exit 1
A=$(upload "$T/big.csv")
K=$(upload "$T/small.csv" -H 'Idempotency-Key: persist-1')
stop_server
check "queued job still Accepted after the stop" "$(sqlite3 "$DB" "SELECT status FROM sluice_jobs WHERE id = '$K'")" Accepted
serve "$T/log" "${OPTS[@]}" --jobs 2 || exit 1
check "same key after a restart: 200" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Idempotency-Key: persist-1' --data-binary @"$T/small.csv")" 200
check "same key after a restart: the same job" "$(jq_ "d['job_id']" <"$T/body")" "$K"
check "other body, same key after a restart: 409" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Idempotency-Key: persist-1' --data-binary @"$T/big.csv")" 409
check "queued before the stop: finished after" "$(wait_final "$K")" PartiallySucceeded
check "stopped mid-way: finished after" "$(wait_final "$A")" PartiallySucceeded
check "after the restart: every row once" "$(rows_of "$A") $(rows_of "$K")" "$WANT_LOADED $SMALL_LOADED"
stop_server

# --- SIGTERM while a job runs and its event stream is open: a prompt, clean stop ---
rm -f "$DB"*
serve "$T/log" "${OPTS[@]}" || exit 1
A=$(upload "$T/big.csv")
wait_chunks "$A" 3 || bad "the job did not get going"
curl -s -N --max-time 60 "$B/v1/jobs/$A/events" >"$T/sse3" &
CURL=$!
wait_for "the event stream to start" 1500 test -s "$T/sse3"
t0=$(date +%s.%N)
stop_server
check "SIGTERM with an open event stream: exit 0" "$STOPPED" 0
check "... within the grace period" "$(echo "$(date +%s.%N) $t0" | awk '{print ($1 - $2 < 10)}')" 1
wait $CURL 2>/dev/null
check "the event stream ended" "$(grep -c '^event: progress' "$T/sse3" | awk '{print ($1 >= 1)}')" 1
check "the job paused, unfinished" "$(sqlite3 "$DB" "SELECT status FROM sluice_jobs WHERE id = '$A'")" Processing
serve "$T/log" "${OPTS[@]}" || exit 1
check "after the restart: finished" "$(wait_final "$A")" PartiallySucceeded
check "after the restart: every row once" "$(rows_of "$A")" "$WANT_LOADED"
stop_server

# --- uploads never wait for the database: accepted while another process holds the
# --- write lock, answered from memory, kept across a kill -9, recorded after the restart ---
rm -f "$DB"*
serve "$T/log" "${OPTS[@]}" || exit 1
lock_db "$DB" IMMEDIATE
check "upload while the database is locked: 202" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Idempotency-Key: locked-1' --data-binary @"$T/small.csv")" 202
L=$(jq_ "d['job_id']" <"$T/body")
check "its job answers at once: Accepted" "$(job "$L" "d['status'], d['bytes']")" "Accepted $(stat -c %s "$T/small.csv")"
check "it is in the jobs list" "$(curl -s "$B/v1/jobs?limit=5" | jq_ "d['jobs'][0]['job_id']")" "$L"
check "same key while it waits: 200, the same job" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Idempotency-Key: locked-1' --data-binary @"$T/small.csv"; echo " $(jq_ "d['job_id']" <"$T/body")")" "200 $L"
check "same key, other body while it waits: 409" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Idempotency-Key: locked-1' --data-binary @"$T/big2.csv")" 409
check "the job is not in the store yet" "$(sqlite3 "$DB" "PRAGMA busy_timeout=100; SELECT count(*) FROM sluice_jobs WHERE id = '$L'" 2>/dev/null | tail -1)" 0
kill_server
unlock_db
check "kept on disk for the next start" "$(ls "$T/data/uploads" | grep -c '\.accept$')" 1
serve "$T/log" "${OPTS[@]}" || exit 1
check "recorded and run after the restart" "$(wait_final "$L")" PartiallySucceeded
check "... every row once" "$(rows_of "$L")" "$SMALL_LOADED"
check "no sidecar left" "$(ls "$T/data/uploads" | grep -c '\.accept$')" 0
check "the key was kept with it" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Idempotency-Key: locked-1' --data-binary @"$T/small.csv"; echo " $(jq_ "d['job_id']" <"$T/body")")" "200 $L"
stop_server

# --- kill -9 in the middle of a job: the restarted server finishes it, every row once ---
rm -f "$DB"*
serve "$T/log" "${OPTS[@]}" || exit 1
A=$(upload "$T/big.csv")
wait_chunks "$A" 20 || bad "the job did not get going"
kill_server
check "killed mid-way" "$(sqlite3 "$DB" "SELECT status FROM sluice_jobs WHERE id = '$A'")" Processing
serve "$T/log" "${OPTS[@]}" || exit 1
check "after kill -9: finished" "$(wait_final "$A")" PartiallySucceeded
check "after kill -9: every row once" "$(rows_of "$A") $(job "$A" "d['rows_loaded']") $(job "$A" "d['rows_rejected']")" "$WANT_LOADED $WANT_LOADED $WANT_REJECTED"
check "after kill -9: no duplicate keys" "$(sqlite3 "$DB" "SELECT count(*) - count(DISTINCT reference) FROM call_detail_records")" 0

# --- 10 concurrent uploads while a job runs ---
B2=$(upload "$T/big2.csv")
for i in $(seq 1 10); do
	sl gen cdr --rows 1000 --seed $((100 + i)) -o "$T/c$i.csv" || bad "gen cdr $i"
done
for i in $(seq 1 10); do
	curl -s -o "$T/c$i.json" -w '%{http_code}\n' --data-binary @"$T/c$i.csv" "$B/v1/datasets/cdr/uploads" >"$T/c$i.code" &
done
wait_jobs=()
for j in $(jobs -p); do [ "$j" != "$PID" ] && wait_jobs+=("$j"); done
wait "${wait_jobs[@]}" 2>/dev/null
check "10 concurrent uploads: all 202" "$(cat "$T"/c*.code | sort | uniq -c | awk '{print $1, $2}')" "10 202"
total=0
for i in $(seq 1 10); do
	J=$(jq_ "d['job_id']" <"$T/c$i.json")
	st=$(wait_final "$J")
	[ "$st" = Succeeded ] || [ "$st" = PartiallySucceeded ] || bad "concurrent upload $i: $st"
	total=$((total + $(job "$J" "d['rows_read']")))
done
check "10 concurrent uploads: every row read" "$total" 10000
check "the job running meanwhile finished" "$(wait_final "$B2")" PartiallySucceeded
check "health through it all" "$(code GET "$B/healthz/ready")" 200
stop_server

# --- signed upload URLs and the config file (API keys as a mapping) ---
rm -f "$DB"*
cat >"$T/sluice.yaml" <<EOF
db: $DB
schemas: $T/schemas
data-dir: $T/data
min-free: 1M
threads: 1
api-keys:
  wkey: [read, write]
  rkey: [read]
EOF
serve "$T/log" --config "$T/sluice.yaml" || exit 1
W=(-H 'Authorization: Bearer wkey')
check "config: keys from the file" "$(code GET "$B/v1/datasets" -H 'Authorization: Bearer rkey')" 200
check "config: no key: 401" "$(code GET "$B/v1/datasets")" 401
check "upload URL: read key: 403" "$(code POST "$B/v1/datasets/cdr/upload-urls" -H 'Authorization: Bearer rkey')" 403
check "upload URL: 201" "$(code POST "$B/v1/datasets/cdr/upload-urls" "${W[@]}")" 201
P=$(jq_ "d['path']" <"$T/body")
check "upload URL: unknown dataset 404" "$(code POST "$B/v1/datasets/nope/upload-urls" "${W[@]}")" 404
check "upload with the URL, no key: 202" "$(code POST "$B$P" --data-binary @"$T/small.csv")" 202
SJ=$(jq_ "d['job_id']" <"$T/body")
check "the same upload again: the same job" "$(code POST "$B$P" --data-binary @"$T/small.csv"; echo " $(jq_ "d['job_id']" <"$T/body")")" "200 $SJ"
check "another file on a used URL: 403" "$(code POST "$B$P" --data-binary @"$T/c1.csv")" 403
check "altered signature: 403" "$(code POST "$B${P%?}$([ "${P: -1}" = 0 ] && echo 1 || echo 0)" --data-binary @"$T/small.csv")" 403
check "signed URL on another dataset: 404" "$(code POST "$B${P/\/cdr\//\/cdx\/}" --data-binary @"$T/small.csv")" 404
check "other expiry: 403" "$(code POST "$B$(echo "$P" | sed 's/expires=[0-9]*/expires=9999999999/')" --data-binary @"$T/small.csv")" 403
check "expires_in=1: 201" "$(code POST "$B/v1/datasets/cdr/upload-urls?expires_in=1" "${W[@]}")" 201
P1=$(jq_ "d['path']" <"$T/body")
EXP=$(echo "$P1" | sed 's/.*expires=\([0-9]*\).*/\1/')
# the clock past the URL's expiry (a second from now)
past() { [ "$(date +%s)" -gt "$EXP" ]; }
wait_for "the URL's expiry" 500 past
check "expired URL: 403" "$(code POST "$B$P1" --data-binary @"$T/small.csv")" 403
check "expired URL: says so" "$(jq_ "d['error']['code']" <"$T/body")" URL_EXPIRED
check "bad expires_in: 400" "$(code POST "$B/v1/datasets/cdr/upload-urls?expires_in=0" "${W[@]}")" 400
check "signed upload finished" "$(wait_final "$SJ" "${W[@]}")" PartiallySucceeded
stop_server
printf 'jobs: [1\n' >"$T/bad.yaml"
sl serve --config "$T/bad.yaml" >/dev/null
check "config: a bad file stops the start" "$?" 2

finish
