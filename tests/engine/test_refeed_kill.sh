#!/usr/bin/env bash
# The refeed's input is a source read from the job store (docs/ingest.md,
# Fix and refeed): the rows a refeed job holds, by offset, in chunks; no
# file is written. A refeed (--mode atomic: nothing visible before its
# end) killed with kill -9 in the middle (paused before chunk 3, its first
# chunks committed) and resumed loads every row once and marks each
# loaded reject resolved once; one killed after its
# last chunk's commit (before the job's end) settles once on resume; rows
# of the input changed or gone between the kill and the resume make the
# resume fail with IO_CHANGED instead of reading other bytes. The bad
# records come from the script that makes them, the table from the
# oracle (tests/lib/oracle.py), through the backend's own shell.
# Usage: test_refeed_kill.sh SLUICE SOURCE_DIR [sqlite|pg]
set -u
S=$(realpath "$1")
SRC=$2
BACKEND=${3:-sqlite}
. "$SRC/tests/lib/harness.sh"
has() { if grep -qF -- "$2" "$3"; then ok; else bad "$1: '$2' not in $(head -c 600 "$3")"; fi; }
COLS="caller_id,recipient,call_date,end_time,duration,cost,reference,currency"
if [ "$BACKEND" = pg ]; then
	use_fixture postgres
	export PGHOST PGPORT PGUSER
	NS=$(fixture_namespace)
	q() { psql -d "$1" -qAtc "$2"; }
	newdb() { psql -d postgres -qAtc "CREATE DATABASE $1" >/dev/null || bad "CREATE DATABASE $1"; echo "postgresql:///$1"; }
	S_REJ=sluice.rejects S_JOBS=sluice.jobs S_CHUNKS=sluice.chunks
	table_json() {
		q "$1" "SELECT coalesce(json_agg(t ORDER BY reference), '[]') FROM (SELECT caller_id, recipient,
			to_char(call_date, 'YYYY-MM-DD') AS call_date, end_time::text AS end_time, duration, cost,
			reference, currency FROM call_detail_records) t"
	}
else
	NS=rk
	q() { sqlite3 -batch "$1" "$2"; }
	newdb() { echo "$T/$1.db"; }
	S_REJ=sluice_rejects S_JOBS=sluice_jobs S_CHUNKS=sluice_chunks
	table_json() { sqlite3 -batch -json "$1" "SELECT $COLS FROM call_detail_records"; }
fi
# the database a query goes to: the file, or the PostgreSQL database's name
qdb() { case $1 in postgresql:///*) echo "${1#postgresql:///}" ;; *) echo "$1" ;; esac; }
table_with() {
	table_json "$(qdb "$1")" >"$T/got.json" &&
		python3 "$ORACLE" compare "$T/in.csv" "$T/got.json" --schema "$2"
}

. "$SRC/tests/lib/refeed_data.sh"
NBAD=$((NISO + NXXX))

# first DB: the first job, with NBAD rejects
first_job() {
	sl_run ingest "$T/in.csv" --schema "$SRC/examples/cdr.yaml" --db "$1" --max-error-ratio 1 --json
	check "ingest: exit 3" "$(rc)" 3
	J=$(json "$T/out" "d['job_id']")
	check "ingest: the bad records rejected" "$(json "$T/out" "d['rows_rejected']")" "$NBAD"
}
# paused_refeed DB SCHEMA SEQ [OPTIONS]: a refeed paused before chunk SEQ, killed -9; R its job
paused_refeed() {
	local db=$1 schema=$2 seq=$3
	shift 3
	rm -rf "$T/p" && mkdir -p "$T/p"
	SLUICE_TEST_PAUSE=$seq:$T/p sl_start "$T/bg.err" refeed "$J" --schema "$schema" --db "$db" --threads 1 --chunk-size 4k --json "$@" >/dev/null
	local pid=$BG_PID
	wait_for "the refeed pauses before chunk $seq" 1500 test -s "$T/p/paused"
	R=$(head -1 "$T/p/paused")
	sl_kill9 "$pid" "$T/bg.err"
}

DB=$(newdb "${NS}_a")
QD=$(qdb "$DB")
first_job "$DB"
sl_run refeed "$J" --db "$DB" --mode truncate
check "refeed --mode truncate: a usage error" "$(rc)" 2
# atomic (sluice refeed --mode): its rows stay staged until its end
paused_refeed "$DB" "$T/fixed.yaml" 3 --mode atomic
check "killed: the refeed job is atomic" "$(q "$QD" "SELECT mode FROM $S_JOBS WHERE id = '$R'")" atomic
check "... none of its rows in the table yet" "$(q "$QD" "SELECT count(*) FROM call_detail_records")" $((3000 - NBAD))
check "killed: the refeed job's input is the store's rows" "$(q "$QD" "SELECT file FROM $S_JOBS WHERE id = '$R'")" "refeed://$J"
check "... no input file anywhere" "$(find "$T" "$PWD" -maxdepth 2 -name '*refeed-*' 2>/dev/null | wc -l)" 0
check "... every bad row held by it" "$(q "$QD" "SELECT count(*) FROM $S_REJ WHERE job_id = '$J' AND refeed_by = '$R'")" "$NBAD"
check "... many chunks, three committed" "$(q "$QD" "SELECT count(*) > 5, sum(CASE WHEN status = 'Succeeded' THEN 1 ELSE 0 END) FROM $S_CHUNKS WHERE job_id = '$R'" | tr -d '|')" "$([ "$BACKEND" = pg ] && echo t3 || echo 13)"
check "... nothing resolved yet" "$(q "$QD" "SELECT count(*) FROM $S_REJ WHERE resolved_by IS NOT NULL")" 0
sl_run resume "$R" --db "$DB" --json
check "resume: exit 3 (the XXX rows rejected again)" "$(rc)" 3
check "resume: read, loaded, rejected" "$(json "$T/out" "(d['status'], d['mode'], d['rows_read'], d['rows_loaded'], d['rows_rejected'], d['refeed_of'])")" "('PartiallySucceeded', 'atomic', $NBAD, $NISO, $NXXX, '$J')"
sl_run status "$J" --db "$DB" --json
check "the first job's open and resolved" "$(json "$T/out" "(d['rejects_open'], d['rejects_resolved'])")" "($NXXX, $NISO)"
table_with "$DB" "$T/fixed.yaml" && ok || bad "after the resume: the table is not the oracle's (fixed.yaml)"
check "every row once" "$(q "$QD" "SELECT count(*) - count(DISTINCT reference) FROM call_detail_records")" 0
check "rows in the table = loaded by the jobs" "$(q "$QD" "SELECT count(*) FROM call_detail_records")" "$(q "$QD" "SELECT sum(rows_loaded) FROM $S_JOBS")"
check "the ISO records resolved by it, each once" \
	"$(q "$QD" "SELECT record FROM $S_REJ WHERE job_id = '$J' AND resolved_by = '$R' ORDER BY record" | tr '\n' ' ')" \
	"$(tr '\n' ' ' <"$T/iso.txt")"
check "no reject held any more" "$(q "$QD" "SELECT count(*) FROM $S_REJ WHERE refeed_by IS NOT NULL")" 0

# killed after its last chunk's commit, before the job's end: the resume ends it, settling once
SLUICE_TEST_KILL=last_chunk sl_run refeed "$J" --schema "$T/fixed2.yaml" --db "$DB" --threads 2 --chunk-size 2k --json
check "killed after the last chunk: SIGKILL" "$(rc)" 137
R2=$(q "$QD" "SELECT id FROM $S_JOBS WHERE refeed_of IS NOT NULL AND id <> '$R'" 2>/dev/null || true)
[ -n "$R2" ] || R2=$(q "$QD" "SELECT job_id FROM $([ "$BACKEND" = pg ] && echo sluice.refeeds || echo sluice_refeeds) WHERE job_id <> '$R'")
check "... nothing settled yet" "$(q "$QD" "SELECT count(*) FROM $S_REJ WHERE resolved_by = '$R2'")" 0
sl_run resume "$R2" --db "$DB" --json
check "resume: exit 0" "$(rc)" 0
check "resume: loads the XXX rows" "$(json "$T/out" "d['rows_loaded']")" "$NXXX"
sl_run status "$J" --db "$DB" --json
check "the first job: nothing open" "$(json "$T/out" "(d['rejects_open'], d['rejects_resolved'])")" "(0, $NBAD)"
check "the XXX records resolved by it, each once (in the first job)" \
	"$(q "$QD" "SELECT record FROM $S_REJ WHERE job_id = '$J' AND resolved_by = '$R2' ORDER BY record" | tr '\n' ' ')" \
	"$(tr '\n' ' ' <"$T/xxx.txt")"
check "... and their copies in the first refeed" "$(q "$QD" "SELECT count(*) FROM $S_REJ WHERE job_id = '$R' AND resolved_by = '$R2'")" "$NXXX"
table_with "$DB" "$T/fixed2.yaml" && ok || bad "after both: the table is not the oracle's (fixed2.yaml)"
sl_run resume "$R2" --db "$DB" --json
check "a resume of the finished refeed: refused (exit 2)" "$(rc)" 2
check "... the marks unchanged" "$(q "$QD" "SELECT count(*) FROM $S_REJ WHERE resolved_by IS NOT NULL AND job_id = '$J'")" "$NBAD"

# the input's rows changed, or one gone, between the kill and the resume: IO_CHANGED
for how in longer gone; do
	DB=$(newdb "${NS}_$how")
	QD=$(qdb "$DB")
	first_job "$DB"
	paused_refeed "$DB" "$T/fixed.yaml" 2
	# a row of a chunk still to come (the last one)
	last=$(q "$QD" "SELECT max(refeed_record) FROM $S_REJ WHERE refeed_by = '$R'")
	if [ $how = longer ]; then
		if [ "$BACKEND" = pg ]; then
			q "$QD" "UPDATE $S_REJ SET raw = raw || 'x'::bytea WHERE refeed_by = '$R' AND refeed_record = $((last - 1))" >/dev/null
		else
			q "$QD" "UPDATE $S_REJ SET raw = CAST(raw || 'x' AS BLOB) WHERE refeed_by = '$R' AND refeed_record = $((last - 1))"
		fi
	else
		q "$QD" "UPDATE $S_REJ SET refeed_by = NULL WHERE refeed_by = '$R' AND refeed_record = $((last - 1))" >/dev/null
	fi
	sl_run resume "$R" --db "$DB" --json
	check "$how: the resume does not succeed" "$(json "$T/out" "d['status'] in ('Succeeded', 'PartiallySucceeded') and d['chunks_failed'] == 0")" False
	check "$how: IO_CHANGED says why" "$(grep -c 'IO_CHANGED' "$T/out" "$T/err" | awk -F: '{s += $2} END {print (s > 0)}')" 1
	check "$how: nothing resolved from the changed chunk on" "$(q "$QD" "SELECT count(*) FROM $S_REJ WHERE job_id = '$J' AND resolved_by IS NOT NULL AND refeed_record >= $((last - 1))")" 0
done
finish
