#!/usr/bin/env bash
# Every command issue 12 names, against PostgreSQL (--db postgres://...), on
# the shared server of the `postgres` fixture: jobs, status, errors (also
# --open after a refeed), retry (a chunk failed by an injected DB_IO),
# cancel (of a job paused before a chunk), rollback, gc, refeed, worker,
# and `sluice serve --db postgres://...`: uploads, the job routes and the
# records API, /healthz/ready (the connection and the store's version).
# Then two `sluice serve` instances on one store (different ports, one
# shared data directory): a job uploaded through one is seen, listed,
# cancelled and its events served through the other; the same idempotency
# key sent to both at once gives one job.
# Usage: test_pg_cli.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/http/lib.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
NS=$(fixture_namespace)
ORACLE=$SRC/tests/lib/oracle.py
CDR=$SRC/examples/cdr.yaml
q() { psql -d "$1" -qAtc "$2"; }
newdb() { psql -d postgres -qAtc "CREATE DATABASE $1" >/dev/null || bad "CREATE DATABASE $1"; }
has() { if grep -qF -- "$2" "$3"; then ok; else bad "$1: '$2' not in $(head -c 600 "$3")"; fi; }

DB=${NS}_cli
newdb $DB
U=postgresql:///$DB
sl_run gen cdr --rows 3000 --error-rate 0.03 --seed 7 --manifest "$T/man.tsv" -o "$T/gen.csv"
check "gen" "$(rc)" 0
# every 41st record's currency XXX: rejected by cdr.yaml, loaded by a schema that allows it
awk -F, 'BEGIN { OFS = "," } NR > 1 && (NR - 1) % 41 == 0 && !/"/ { $NF = "XXX" } { print }' "$T/gen.csv" >"$T/in.csv"
sed 's|enum: \[GBP, EUR, USD\]|enum: [GBP, EUR, USD, XXX]|' "$CDR" >"$T/fixed.yaml"
check "fixed.yaml allows XXX" "$(grep -c 'USD, XXX' "$T/fixed.yaml")" 1

# --- ingest, jobs, status, errors -------------------------------------------------------------
sl_run ingest "$T/in.csv" --schema "$CDR" --db "$U" --chunk-size 32k --json --quiet
check "ingest: exit 3" "$(rc)" 3
J=$(json "$T/out" "d['job_id']")
REJ=$(json "$T/out" "d['rows_rejected']")
XXX=$(json "$T/out" "d['rejects_by_code'].get('VAL_ENUM', 0)")
[ "$XXX" -gt 10 ] && ok || bad "too few VAL_ENUM rejects to refeed: $XXX"
sl_run jobs --db "$U" --json
check "jobs: exit 0" "$(rc)" 0
check "jobs: the one job" "$(json "$T/out" "[j['job_id'] for j in d['jobs']]")" "['$J']"
sl_run status "$J" --db "$U" --json
check "status: exit 0" "$(rc)" 0
check "status: the counts, all open" "$(json "$T/out" "(d['status'], d['rows_rejected'], d['rejects_open'])")" "('PartiallySucceeded', $REJ, $REJ)"
sl_run errors "$J" --db "$U" --format jsonl
check "errors: exit 0" "$(rc)" 0
check "errors: every reject" "$(grep -c . "$T/out")" "$REJ"
sl_run errors "$J" --db "$U" --open --format jsonl
check "errors --open: every reject before a refeed" "$(grep -c . "$T/out")" "$REJ"

# --- refeed, errors --open --------------------------------------------------------------------
mkdir -p "$T/cwd"
(cd "$T/cwd" && SL_ERR=$T/err sl refeed "$J" --schema "$T/fixed.yaml" --db "$U" --json >"$T/out" </dev/null)
check "refeed: exit 3 (the other rejects again)" "$?" 3
R=$(json "$T/out" "d['job_id']")
L=$(json "$T/out" "d['rows_loaded']")
# (an XXX row with another fault stays rejected: most load)
[ "$L" -gt $((XXX * 3 / 4)) ] && ok || bad "refeed loaded $L of $XXX XXX rows"
check "refeed: linked, the first job's open rejects counted down" "$(json "$T/out" "(d['refeed_of'], d['first']['rejects_open'])")" "('$J', $((REJ - L)))"
check "refeed: its input is gone from the current directory" "$(ls "$T/cwd" | grep -c refeed)" 0
sl_run errors "$J" --db "$U" --open --format jsonl
check "errors --open: the rows no refeed loaded" "$(grep -c . "$T/out")" $((REJ - L))
# (a VAL_ENUM row that did not load is a duplicate key, rejected again as DUP_KEY)
check "errors --open: the VAL_ENUM rows the refeed did not load" "$(grep -c VAL_ENUM "$T/out")" $((XXX - L))

# --- retry: a chunk failed by an injected DB_IO, then run again -------------------------------
sl_run gen cdr --rows 3000 --error-rate 0 --seed 22 -o "$T/big.csv"
SLUICE_FAULTS="chunk=1,times=99,code=DB_IO" sl_run ingest "$T/big.csv" --schema "$CDR" --db "$U" --chunk-size 32k --json --quiet
check "DB_IO on chunk 1: exit 3" "$(rc)" 3
JB=$(json "$T/out" "d['job_id']")
sl_run status "$JB" --db "$U" --chunks --json
check "DB_IO: chunk 1 failed" "$(json "$T/out" "d['chunks'][1]['status'], d['chunks'][1]['last_error']")" "Failed DB_IO"
sl_run retry "$JB" --db "$U" --json
check "retry: exit 0" "$(rc)" 0
check "retry: Succeeded" "$(json "$T/out" "d['status']")" Succeeded
check "retry: every row of the file once" "$(q $DB "SELECT count(*) FROM call_detail_records WHERE _sluice_job = '$JB'")" 3000

# --- cancel a running job, then retry it -----------------------------------------------------
sl_run gen cdr --rows 3000 --error-rate 0 --seed 23 -o "$T/c.csv"
rm -rf "$T/p" && mkdir "$T/p"
SLUICE_TEST_PAUSE=2:$T/p sl_start "$T/c.err" ingest "$T/c.csv" --schema "$CDR" --db "$U" --chunk-size 32k --threads 1 --quiet --json >"$T/c.json"
pid=$BG_PID
wait_for "the ingest paused before chunk 2" 3000 test -e "$T/p/paused"
JC=$(head -1 "$T/p/paused")
sl_run cancel "$JC" --db "$U" --json
check "cancel: exit 0" "$(rc)" 0
: >"$T/p/go"
sl_wait $pid "$T/c.err"
check "the cancelled ingest: Cancelled" "$(json "$T/c.json" "d['status']")" Cancelled
check "cancelled: the table holds what its counters say" \
	"$(q $DB "SELECT count(*) FROM call_detail_records WHERE _sluice_job = '$JC'")" "$(json "$T/c.json" "d['rows_loaded']")"
sl_run retry "$JC" --db "$U" --json
check "retry after cancel: Succeeded" "$(rc)+$(json "$T/out" "d['status']")" "0+Succeeded"
check "retry after cancel: every row once" "$(q $DB "SELECT count(*) FROM call_detail_records WHERE _sluice_job = '$JC'")" 3000

# --- a worker runs a job planned by a killed ingest -------------------------------------------
sl_run gen cdr --rows 2000 --error-rate 0 --seed 24 -o "$T/w.csv"
rm -rf "$T/p" && mkdir "$T/p"
SLUICE_TEST_PAUSE=0:$T/p sl_start "$T/w.err" ingest "$T/w.csv" --schema "$CDR" --db "$U" --chunk-size 32k --threads 1 --quiet
pid=$BG_PID
wait_for "the planning ingest" 3000 test -e "$T/p/paused"
JW=$(head -1 "$T/p/paused")
sl_kill9 $pid "$T/w.err"
sl_run worker --db "$U" --once --json
check "worker: exit 0" "$(rc)" 0
check "worker: the job done" "$(q $DB "SELECT status FROM sluice.jobs WHERE id = '$JW'")" Succeeded

# --- rollback and gc ------------------------------------------------------------------------
sl_run rollback "$R" --db "$U" --json
check "rollback of the refeed: exit 0" "$(rc)" 0
check "rollback: its rows removed" "$(json "$T/out" "d['rows_removed']")" "$L"
sl_run status "$J" --db "$U" --json
check "rollback: the first job's rows open again" "$(json "$T/out" "d['rejects_open']")" "$REJ"
sl_run gc --older-than 0s --db "$U"
check "gc: exit 0" "$(rc)" 0
check "gc: the rolled back job's rejects gone" "$(q $DB "SELECT count(*) FROM sluice.rejects WHERE job_id = '$R'")" 0

# --- sluice serve on PostgreSQL: uploads, job routes, records, readiness ---------------------
SDB=${NS}_serve
newdb $SDB
SU=postgresql:///$SDB
mkdir -p "$T/schemas" "$T/data"
cp "$CDR" "$T/schemas/cdr.yaml"
serve "$T/log1" --db "$SU" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --threads 1 --chunk-size 32k || { finish; exit 1; }
check "ready on PostgreSQL" "$(code GET "$B/healthz/ready")" 200
# the version this build migrates to (src/pg/pg.h)
PGV=$(sed -n 's/^#define SL_PG_STORE_VERSION \([0-9]*\).*/\1/p' "$SRC/src/pg/pg.h")
check "ready: the store's version" "$(jq_ "d['store']['backend'], d['store']['version']" <"$T/body")" "postgres $PGV"
check "upload" "$(code POST "$B/v1/datasets/cdr/uploads" --data-binary @"$T/gen.csv")" 202
JS=$(jq_ "d['job_id']" <"$T/body")
check "the upload's job ends" "$(wait_final "$JS")" PartiallySucceeded
check "the job in sluice.jobs" "$(q $SDB "SELECT status FROM sluice.jobs WHERE id = '$JS'")" PartiallySucceeded
LOADED=$(curl -s "$B/v1/jobs/$JS" | jq_ "d['rows_loaded']")
check "records: a page" "$(code GET "$B/v1/datasets/cdr/records?limit=1000" && jq_ "len(d['records'])" <"$T/body")" 2001000
REF=$(q $SDB "SELECT reference FROM call_detail_records ORDER BY _sluice_row LIMIT 1")
check "records/{key}" "$(code GET "$B/v1/datasets/cdr/records/$REF" && jq_ "d['reference']" <"$T/body")" "200$REF"
check "records: every row, paged" "$(python3 - "$B" <<'PY'
import json, sys, urllib.request
base, n, cur = sys.argv[1], 0, None
while True:
    d = json.load(urllib.request.urlopen(base + "/v1/datasets/cdr/records?limit=500" + ("&cursor=" + cur if cur else "")))
    n += len(d["records"])
    cur = d.get("next_cursor")
    if not cur:
        break
print(n)
PY
)" "$LOADED"
check "errors over the API" "$(code GET "$B/v1/jobs/$JS/errors?format=jsonl" && grep -c . "$T/body")" "200$(q $SDB "SELECT count(*) FROM sluice.rejects WHERE job_id = '$JS'")"
stop_server
# not ready: the server gone (the connection fails), or a store newer than this build
serve "$T/log1" --db "postgresql:///${NS}_none" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --threads 1
check "ready without the database: 503" "$(code GET "$B/healthz/ready")" 503
has "ready without the database: says why" "${NS}_none" "$T/body"
stop_server
q $SDB "INSERT INTO sluice.store_version(version) VALUES (99)" >/dev/null
serve "$T/log1" --db "$SU" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --threads 1
check "ready on a newer store: 503" "$(code GET "$B/healthz/ready")" 503
has "ready on a newer store: the version" "version 99" "$T/body"
stop_server
q $SDB "DELETE FROM sluice.store_version WHERE version = 99" >/dev/null
# SQLite: ready names its backend and version too
serve "$T/log1" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/sdata" --min-free 1M --threads 1
check "ready on SQLite" "$(code GET "$B/healthz/ready" && jq_ "d['store']['backend']" <"$T/body")" "200sqlite"
stop_server

# --- two instances on one store, one shared data directory -----------------------------------
TDB=${NS}_two
newdb $TDB
TU=postgresql:///$TDB
mkdir -p "$T/shared"
serve "$T/logA" --db "$TU" --schemas "$T/schemas" --data-dir "$T/shared" --min-free 1M --threads 1 --chunk-size 32k || { finish; exit 1; }
PA=$PID
BA=$B
serve "$T/logB" --db "$TU" --schemas "$T/schemas" --data-dir "$T/shared" --min-free 1M --threads 1 --chunk-size 32k || { finish; exit 1; }
PB=$PID
BB=$B
[ "$BA" != "$BB" ] && ok || bad "the two instances share a port"
# a job through A, seen through B (its route, the list, its events)
check "upload through A" "$(code POST "$BA/v1/datasets/cdr/uploads" --data-binary @"$T/gen.csv")" 202
JA=$(jq_ "d['job_id']" <"$T/body")
check "B sees it end" "$(B=$BB wait_final "$JA")" PartiallySucceeded
check "B's job route" "$(code GET "$BB/v1/jobs/$JA" && jq_ "d['job_id'], d['rows_loaded']" <"$T/body")" "200$JA $LOADED"
check "B's list has it" "$(code GET "$BB/v1/jobs" && jq_ "[j['job_id'] for j in d['jobs']] == ['$JA']" <"$T/body")" "200True"
curl -s -N --max-time 10 "$BB/v1/jobs/$JA/events" >"$T/sse"
check "B's events of A's job: the end" "$(grep '^data: ' "$T/sse" | tail -1 | cut -c7- | jq_ "d['job_id'], d['status']")" "$JA PartiallySucceeded"
# a running job of A's, cancelled through B; its events through B end with it
sl_run gen cdr --rows 20000 --error-rate 0 --seed 30 -o "$T/big2.csv"
check "a big upload through A" "$(code POST "$BA/v1/datasets/cdr/uploads" --data-binary @"$T/big2.csv")" 202
JX=$(jq_ "d['job_id']" <"$T/body")
wait_for "B sees it recorded" 1500 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$BB/v1/jobs/$JX')\" = 200 ]"
curl -s -N --max-time 60 "$BB/v1/jobs/$JX/events" >"$T/sse2" &
SSE=$!
check "cancel through B: 200 or 202" "$(code POST "$BB/v1/jobs/$JX/cancel" | grep -cE '^20[02]$')" 1
wait $SSE
check "the job Cancelled (or done before the cancel came)" \
	"$(B=$BA wait_final "$JX" | grep -cE '^(Cancelled|Succeeded)$')" 1
check "B's events end with the job's final state" "$(grep '^event:' "$T/sse2" | tail -1)" "event: end"
# the same idempotency key to both at once: one job
sl_run gen cdr --rows 500 --error-rate 0 --seed 31 -o "$T/k.csv"
curl -s -o "$T/kA" -w '%{http_code}\n' -H 'Idempotency-Key: same-key' --data-binary @"$T/k.csv" "$BA/v1/datasets/cdr/uploads" >"$T/kA.code" &
KA=$!
curl -s -o "$T/kB" -w '%{http_code}\n' -H 'Idempotency-Key: same-key' --data-binary @"$T/k.csv" "$BB/v1/datasets/cdr/uploads" >"$T/kB.code" &
KB=$!
wait $KA $KB
check "both answered 200 or 202" "$(cat "$T/kA.code" "$T/kB.code" | grep -cE '^20[02]$')" 2
IA=$(jq_ "d['job_id']" <"$T/kA")
IB=$(jq_ "d['job_id']" <"$T/kB")
wait_for "the key recorded" 1500 bash -c "[ \"\$(psql -d $TDB -qAtc \"SELECT count(*) FROM sluice.idempotency WHERE key LIKE '%same-key'\")\" = 1 ]"
check "one job in the store for the key" "$(q $TDB "SELECT count(*) FROM sluice.jobs WHERE id IN ('$IA', '$IB')")" 1
KJ=$(q $TDB "SELECT job_id FROM sluice.idempotency WHERE key LIKE '%same-key'")
check "both ids lead to that job" \
	"$(B=$BA wait_final "$IA") $(B=$BB wait_final "$IB") $(curl -s "$BA/v1/jobs/$IA" | jq_ "d['job_id']") $(curl -s "$BB/v1/jobs/$IB" | jq_ "d['job_id']")" \
	"Succeeded Succeeded $KJ $KJ"
# which way it went (not asserted: either is one job): B found A's job
# recorded at once (200), or recorded its own after A's commit and took
# A's job as its upload's (the log's "is that job")
echo "idempotency: answers $(tr '\n' ' ' <"$T/kA.code")$(tr '\n' ' ' <"$T/kB.code"); aliases in the logs: $(cat "$T/logA" "$T/logB" | grep -c 'is that job')"
check "the key's rows loaded once" "$(q $TDB "SELECT count(*) FROM call_detail_records WHERE _sluice_job = '$KJ'")" 500
PID=$PA
SERVE_LOG=$T/logA
SERVE_FROM=0
stop_server
PID=$PB
SERVE_LOG=$T/logB
stop_server
finish pg_cli
