#!/usr/bin/env bash
# The pipelined plan on PostgreSQL (issue 13): a .gz loaded with --db
# postgres://... while its plan is made (the job Chunking with chunks
# committed: the claim of a Chunking job's chunks by its own run, and the
# upsert of each chunk as found, in the PostgreSQL store) gives the counts,
# rejects and table of the same file loaded into SQLite; a kill -9 in the
# middle of the plan resumes exactly once. Places are exact:
# SLUICE_TEST_PAUSE holds the writer before a chunk (no sleeps).
# Usage: test_pg_pipeline.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
unset SLUICE_PIPELINE
NS=$(fixture_namespace)
CDR=$SRC/examples/cdr.yaml
newdb() { psql -d postgres -qAtc "CREATE DATABASE $1" >/dev/null || bad "CREATE DATABASE $1"; }
pq() { psql -d "$1" -qAtc "$2"; }
sq() { sqlite3 -batch "$1" "$2"; }

sl_run gen cdr --rows 12000 --error-rate 0.03 --seed 71 -o "$T/f.csv"
check "gen" "$(rc)" 0
gzip -c "$T/f.csv" >"$T/f.csv.gz"
sl_run ingest "$T/f.csv.gz" --schema "$CDR" --db "$T/sq.db" --chunk-size 20k --json
check "SQLite: exit 3" "$(rc)" 3
cp "$T/out" "$T/sq.json"
sq "$T/sq.db" "SELECT record, line, code FROM sluice_rejects ORDER BY record" >"$T/want"
sq "$T/sq.db" "SELECT reference, caller_id, duration FROM call_detail_records ORDER BY reference" >"$T/want_rows"

# compare NAME DB: counts, rejects and rows as SQLite's, no key twice
compare() {
	for f in rows_read rows_loaded rows_rejected chunks_total bytes rejects_by_code; do
		check "$1: $f as SQLite" "$(json "$T/out" "d['$f']")" "$(json "$T/sq.json" "d['$f']")"
	done
	pq "$2" "SELECT record, line, code FROM sluice.rejects ORDER BY record" >"$T/got"
	cmp -s "$T/want" "$T/got" && ok || bad "$1: rejects differ: $(diff "$T/want" "$T/got" | head -3)"
	pq "$2" "SELECT reference, caller_id, duration FROM call_detail_records ORDER BY reference" >"$T/got_rows"
	cmp -s "$T/want_rows" "$T/got_rows" && ok || bad "$1: rows differ: $(diff "$T/want_rows" "$T/got_rows" | head -3)"
}

DB=${NS}_pipe
newdb "$DB"
rm -rf "$T/p" && mkdir "$T/p"
SLUICE_TEST_PAUSE="3:$T/p" sl_start "$T/a.err" ingest "$T/f.csv.gz" --schema "$CDR" --db "postgresql:///$DB" \
	--chunk-size 20k --threads 2 --json >"$T/a.json"
pid=$BG_PID
wait_for "the ingest to pause before chunk 3" 3000 test -e "$T/p/paused"
check "paused: 3 chunks committed while the job is Chunking" \
	"$(pq "$DB" "SELECT status, chunks_total, (SELECT count(*) FROM sluice.chunks WHERE status = 'Succeeded') FROM sluice.jobs")" \
	"Chunking|0|3"
touch "$T/p/go"
sl_wait "$pid" "$T/a.err"
check "pipelined: exit 3" "$?" 3
cp "$T/a.json" "$T/out"
compare pipelined "$DB"

DB=${NS}_pipe_kill
newdb "$DB"
rm -rf "$T/p" && mkdir "$T/p"
SLUICE_TEST_PAUSE="4:$T/p" sl_start "$T/k.err" ingest "$T/f.csv.gz" --schema "$CDR" --db "postgresql:///$DB" \
	--chunk-size 20k --threads 2 --quiet
pid=$BG_PID
wait_for "the ingest to pause before chunk 4" 3000 test -e "$T/p/paused"
sl_kill9 "$pid" "$T/k.err"
check "killed in the plan with 4 chunks committed" \
	"$(pq "$DB" "SELECT status, (SELECT count(*) FROM sluice.chunks WHERE status = 'Succeeded') FROM sluice.jobs")" "Chunking|4"
sl_run ingest "$T/f.csv.gz" --schema "$CDR" --db "postgresql:///$DB" --chunk-size 20k --threads 2 --json
check "resume: exit 3" "$(rc)" 3
check "resume: resumed, one job" "$(json "$T/out" "d['resumed']")+$(pq "$DB" 'SELECT count(*) FROM sluice.jobs')" "True+1"
compare "after the kill" "$DB"
check "after the kill: no key twice" "$(pq "$DB" 'SELECT count(*) - count(DISTINCT reference) FROM call_detail_records')" 0

finish
