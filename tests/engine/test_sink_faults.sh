#!/usr/bin/env bash
# A fault in the sink's flush (the SQLite sink merges a keyed chunk's sorted
# runs into the table there, after the chunk's rows were written to runs):
# the chunk's transaction is rolled back, what the sink deferred is
# discarded, the chunk is read again and loaded on a later attempt, and the
# table, the rejects and the counters equal those of a load without the
# fault, row for row (the oracle: the same program's clean load; sqlite3
# reads both). A fault that does not go away fails that chunk only.
# Usage: test_sink_faults.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
q() { sqlite3 -batch "$1" "$2"; }
rows() { q "$1" "SELECT quote(caller_id), quote(recipient), call_date, end_time, duration, cost, reference, currency FROM call_detail_records ORDER BY reference"; }
rejects() { q "$1" "SELECT record, line, code, column_name, message, hex(raw) FROM sluice_rejects ORDER BY record"; }

# bad rows (duplicate keys among them), in several chunks
sl_run gen cdr --rows 3000 --error-rate 0.05 --seed 11 -o "$T/in.csv"
check "gen: exit 0" "$RC" 0
sl_run ingest "$T/in.csv" --schema "$SCHEMA" --db "$T/clean.db" --chunk-size 64k --json
check "clean load: PartiallySucceeded" "$(json "$T/out" "d['status']")" PartiallySucceeded
CHUNKS=$(json "$T/out" "d['chunks_total']")
[ "$CHUNKS" -ge 3 ] && ok || bad "clean load: several chunks ($CHUNKS)"
CLEAN=$(json "$T/out" "(d['rows_read'], d['rows_loaded'], d['rows_rejected'], d['rejects_by_code'])")
check "clean load: duplicate keys among the rejects" "$(json "$T/out" "d['rejects_by_code'].get('DUP_KEY', 0) > 0")" True

# the 2nd and 3rd flush fail: chunk 1 fails twice after its rows were in runs
SLUICE_FAULTS="flush=2,times=2,code=DB_IO" sl_run ingest "$T/in.csv" --schema "$SCHEMA" \
	--db "$T/f.db" --chunk-size 64k --json
check "flush fault: PartiallySucceeded (the bad rows)" "$(json "$T/out" "d['status']")" PartiallySucceeded
check "flush fault: no chunk failed" "$(json "$T/out" "d['chunks_failed']")" 0
check "flush fault: the same counts as the clean load" \
	"$(json "$T/out" "(d['rows_read'], d['rows_loaded'], d['rows_rejected'], d['rejects_by_code'])")" "$CLEAN"
check "flush fault: chunk 1 took 3 attempts" "$(q "$T/f.db" "SELECT attempts FROM sluice_chunks WHERE seq=1")" 3
check "flush fault: the stored counters too" \
	"$(q "$T/f.db" "SELECT rows_read, rows_loaded, rows_rejected FROM sluice_jobs")" \
	"$(q "$T/clean.db" "SELECT rows_read, rows_loaded, rows_rejected FROM sluice_jobs")"
[ "$(rows "$T/f.db" | md5sum)" = "$(rows "$T/clean.db" | md5sum)" ] && ok ||
	bad "flush fault: the table differs from the clean load's"
[ "$(rejects "$T/f.db" | md5sum)" = "$(rejects "$T/clean.db" | md5sum)" ] && ok ||
	bad "flush fault: the rejects differ from the clean load's"
check "flush fault: no row twice" "$(q "$T/f.db" "SELECT count(*) - count(DISTINCT reference) FROM call_detail_records")" 0

# a lasting fault: chunk 1 Failed with the injected code, the others load
SLUICE_FAULTS="flush=2,times=3,code=DB_IO" sl_run ingest "$T/in.csv" --schema "$SCHEMA" \
	--db "$T/g.db" --chunk-size 64k --json
check "lasting flush fault: one chunk failed" "$(json "$T/out" "d['chunks_failed']")" 1
check "lasting flush fault: chunk 1, DB_IO" "$(q "$T/g.db" "SELECT seq, status, last_error FROM sluice_chunks WHERE status='Failed'")" "1|Failed|DB_IO"
check "lasting flush fault: its rows are not in the table" \
	"$(q "$T/g.db" "SELECT count(*) FROM call_detail_records")" \
	"$(q "$T/g.db" "SELECT rows_loaded FROM sluice_jobs")"

finish sink_faults
