#!/usr/bin/env bash
# The lookup indexes of `index: true` columns (issue 11, Performance): a job
# that loads into a table lacking them builds them in the transaction of
# its last chunk (src/store/store_sqlite_index.c), not row by row. Checked:
# they exist after a load, not after a kill -9 inside the last chunk's
# transaction (SLUICE_TEST_KILL=last_chunk: they commit with its rows and
# the job's end) but after its resume, after a kill -9 right after the
# job's end (SLUICE_TEST_KILL=finished), and after a
# kill -9 half way (SLUICE_FAULTS=crash=N: absent then, built by the resumed
# job); an emptied table (rollback) loses them at prepare and gets them
# back at the end; a table with rows keeps them up; a job that fails early
# (error budget) builds them at its end. Every time PRAGMA integrity_check
# (which compares each index with the table) is ok, and the rows read
# through each index are the independent oracle's rows (tests/lib/oracle.py).
# Usage: test_index.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
q() { sqlite3 -batch "$1" "$2"; }
TBL=call_detail_records
IX_CALLER=sluice_ix_19_${TBL}_caller_id
IX_RECIP=sluice_ix_19_${TBL}_recipient
IX_JOB=sluice_job_19_${TBL}
COLS="caller_id,recipient,call_date,end_time,duration,cost,reference,currency"

# indexes DB: the lookup indexes the table has, sorted, one line
indexes() {
	q "$1" "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '$TBL' AND name LIKE 'sluice%' ORDER BY name" | tr '\n' ' '
}
ALL="$IX_CALLER $IX_RECIP $IX_JOB "
# through DB INDEX WHERE CSV: the rows read through INDEX are the oracle's rows of CSV
through() {
	sqlite3 -batch -json "$1" "SELECT $COLS FROM $TBL INDEXED BY $2 WHERE $3" >"$H/got.json" &&
		python3 "$ORACLE" compare "$4" "$H/got.json"
}
# sound DB CSV WHAT: integrity ok, the query plan uses the index, and the
# rows through each index are the oracle's
sound() {
	local db=$1 csv=$2 what=$3 job
	check "$what: integrity_check" "$(q "$db" 'PRAGMA integrity_check')" ok
	q "$db" "EXPLAIN QUERY PLAN SELECT * FROM $TBL WHERE caller_id = '447700900123'" | grep -q "USING INDEX $IX_CALLER" &&
		ok || bad "$what: a caller_id lookup does not use $IX_CALLER"
	through "$db" "$IX_CALLER" "caller_id >= ''" "$csv" && ok || bad "$what: rows through $IX_CALLER differ from the oracle's"
	through "$db" "$IX_RECIP" "recipient >= ''" "$csv" && ok || bad "$what: rows through $IX_RECIP differ from the oracle's"
	job=$(q "$db" "SELECT id FROM sluice_jobs ORDER BY seq DESC LIMIT 1")
	through "$db" "$IX_JOB" "_sluice_job = '$job'" "$csv" && ok || bad "$what: rows through $IX_JOB differ from the oracle's"
}

ROWS=4000
sl_run gen cdr --rows $ROWS --error-rate 0.03 --seed 7 -o "$T/cdr.csv"
check "gen: exit" "$(rc)" 0
A=(--schema "$SCHEMA" --chunk-size 32k --quiet)

# --- a load into a new table -----------------------------------------------------------------
sl_run ingest "$T/cdr.csv" --db "$T/a.db" "${A[@]}"
check "load: exit 3 (some rejects)" "$(rc)" 3
check "load: the lookup indexes exist" "$(indexes "$T/a.db")" "$ALL"
sound "$T/a.db" "$T/cdr.csv" "load"

# --- kill -9 inside the last chunk's transaction (SLUICE_TEST_KILL=last_chunk): its rows,
# the job's end and the indexes commit together, so none of them is there; the resume builds them
SLUICE_TEST_KILL=last_chunk sl_run ingest "$T/cdr.csv" --db "$T/l.db" "${A[@]}"
check "killed in the last chunk (SIGKILL)" "$(rc)" 137
check "killed in the last chunk: the job is unfinished" "$(q "$T/l.db" 'SELECT status FROM sluice_jobs')" Processing
check "killed in the last chunk: no lookup index yet (they commit with the last rows)" "$(indexes "$T/l.db")" ""
check "killed in the last chunk: integrity" "$(q "$T/l.db" 'PRAGMA integrity_check')" ok
sl_run ingest "$T/cdr.csv" --db "$T/l.db" "${A[@]}"
check "resumed: exit 3" "$(rc)" 3
check "resumed: finished" "$(q "$T/l.db" 'SELECT status, resumed FROM sluice_jobs')" "PartiallySucceeded|1"
check "resumed: the indexes exist" "$(indexes "$T/l.db")" "$ALL"
sound "$T/l.db" "$T/cdr.csv" "resumed after the last chunk"

# --- kill -9 right after the job's end committed (SLUICE_TEST_KILL=finished): the indexes are in it
SLUICE_TEST_KILL=finished sl_run ingest "$T/cdr.csv" --db "$T/e.db" "${A[@]}"
check "killed after the end (SIGKILL)" "$(rc)" 137
check "killed after the end: the job is final" "$(q "$T/e.db" 'SELECT status FROM sluice_jobs')" PartiallySucceeded
check "killed after the end: the indexes exist" "$(indexes "$T/e.db")" "$ALL"
sound "$T/e.db" "$T/cdr.csv" "killed after the end"

# --- kill -9 half way: no indexes yet (left for the end); the resume builds them --------------
SLUICE_FAULTS=crash=3 sl_run ingest "$T/cdr.csv" --db "$T/h.db" "${A[@]}"
check "killed after chunk 3 (SIGKILL)" "$(rc)" 137
check "killed half way: chunks committed" "$(q "$T/h.db" "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'")" 4
check "killed half way: the indexes are left for the job's end" "$(indexes "$T/h.db")" ""
check "killed half way: the table is sound without them" "$(q "$T/h.db" 'PRAGMA integrity_check')" ok
sl_run ingest "$T/cdr.csv" --db "$T/h.db" "${A[@]}"
check "resumed half way: exit 3" "$(rc)" 3
check "resumed half way: the indexes exist" "$(indexes "$T/h.db")" "$ALL"
sound "$T/h.db" "$T/cdr.csv" "resumed half way"

# --- rolled back (the table empty, its indexes there), loaded again: built at the end ---------
job=$(q "$T/a.db" "SELECT id FROM sluice_jobs")
sl_run rollback "$job" --db "$T/a.db"
check "rollback: exit" "$(rc)" 0
check "rollback: the table is empty, its indexes stay" "$(q "$T/a.db" "SELECT count(*) FROM $TBL") $(indexes "$T/a.db")" "0 $ALL"
SLUICE_FAULTS=crash=1 sl_run ingest "$T/cdr.csv" --db "$T/a.db" "${A[@]}" --new
check "reload killed after chunk 1 (SIGKILL)" "$(rc)" 137
check "reload into the emptied table: its indexes dropped for the load" "$(indexes "$T/a.db")" ""
sl_run ingest "$T/cdr.csv" --db "$T/a.db" "${A[@]}"
check "reload resumed: exit 3" "$(rc)" 3
check "reload resumed: the indexes exist" "$(indexes "$T/a.db")" "$ALL"
sound "$T/a.db" "$T/cdr.csv" "reloaded after a rollback"

# --- a table with rows keeps its indexes up --------------------------------------------------
sl_run gen cdr --rows 3000 --error-rate 0.03 --seed 8 -o "$T/more.csv"
SLUICE_FAULTS=crash=1 sl_run ingest "$T/more.csv" --db "$T/l.db" "${A[@]}"
check "second file killed after chunk 1 (SIGKILL)" "$(rc)" 137
check "second file: the indexes of a table with rows stay" "$(indexes "$T/l.db")" "$ALL"
check "second file, half way: integrity_check" "$(q "$T/l.db" 'PRAGMA integrity_check')" ok
sl_run ingest "$T/more.csv" --db "$T/l.db" "${A[@]}"
check "second file resumed: exit 3" "$(rc)" 3
check "second file: integrity_check" "$(q "$T/l.db" 'PRAGMA integrity_check')" ok
first=$(q "$T/l.db" "SELECT id FROM sluice_jobs ORDER BY seq LIMIT 1")
through "$T/l.db" "$IX_JOB" "_sluice_job = '$first'" "$T/cdr.csv" && ok || bad "second file: the first job's rows through $IX_JOB differ from the oracle's"
check "second file: both files' rows through $IX_CALLER" \
	"$(q "$T/l.db" "SELECT count(*) FROM $TBL INDEXED BY $IX_CALLER WHERE caller_id >= ''")" \
	"$(q "$T/l.db" "SELECT count(*) FROM $TBL NOT INDEXED")"
check "second file: rows loaded by the two jobs" \
	"$(q "$T/l.db" "SELECT count(*) FROM $TBL NOT INDEXED")" "$(q "$T/l.db" 'SELECT sum(rows_loaded) FROM sluice_jobs')"

# --- a job that fails early (error budget) builds them at its end ----------------------------
sl_run ingest "$T/cdr.csv" --db "$T/f.db" "${A[@]}" --max-errors 0
check "error budget: exit 4" "$(rc)" 4
check "error budget: the job failed with chunks left" \
	"$(q "$T/f.db" "SELECT status FROM sluice_jobs")+$(q "$T/f.db" "SELECT count(*) > 0 FROM sluice_chunks WHERE status = 'Queued'")" "Failed+1"
check "error budget: the indexes exist" "$(indexes "$T/f.db")" "$ALL"
check "error budget: integrity_check" "$(q "$T/f.db" 'PRAGMA integrity_check')" ok
check "error budget: the rows through $IX_RECIP" \
	"$(q "$T/f.db" "SELECT count(*) FROM $TBL INDEXED BY $IX_RECIP WHERE recipient >= ''")" \
	"$(q "$T/f.db" "SELECT rows_loaded FROM sluice_jobs")"

# --- a schema without lookups: no index is made or dropped ------------------------------------
sed '/^[[:space:]]*index:/d' "$SCHEMA" >"$T/plain.yaml"
sl_run ingest "$T/cdr.csv" --db "$T/p.db" --schema "$T/plain.yaml" --chunk-size 32k --quiet
check "no lookups: exit 3" "$(rc)" 3
check "no lookups: no lookup index" "$(indexes "$T/p.db")" ""
table_is "$T/p.db" "$T/cdr.csv" && ok || bad "no lookups: the table differs from the oracle's rows"

finish index
