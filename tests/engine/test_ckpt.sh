#!/usr/bin/env bash
# The SQLite sink's WAL checkpoints on a thread of their own
# (src/store/store_sqlite_ckpt.c): a load big enough to fill the WAL past
# SQLite's 1000 pages starts the thread (its SLUICE_TRACE line says so),
# leaves a database that passes integrity_check with no WAL file behind, and
# loads what Python's csv says; a kill -9 in the middle of it (after some
# chunks committed, with checkpoints under way) and a resume give the same
# table, rejects and counts as the uninterrupted load.
# Usage: test_ckpt.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/lib/harness.sh"
q() { sqlite3 -batch "$1" "$2"; }
sl_run gen cdr --rows 300000 --error-rate 0.001 --seed 7 -o "$T/cdr.csv"
check "gen: exit 0" "$RC" 0
sed -e '/^[[:space:]]*index:/d' -e '/^key:/d' "$SRC/examples/cdr.yaml" >"$T/nokey.yaml"
sed -e '/^[[:space:]]*index:/d' "$SRC/examples/cdr.yaml" >"$T/key.yaml"
# the rows Python's csv reads (the header off): loaded + rejected must be these
records=$(python3 -c "import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=''))) - 1)" "$T/cdr.csv")
state() { # the table's rows and the rejects, in a stable order
	q "$1" "SELECT count(*), count(DISTINCT reference), sum(length(caller_id)) FROM call_detail_records"
	q "$1" "SELECT record, code FROM sluice_rejects ORDER BY record"
}
for k in nokey key; do
	db=$T/one-$k.db
	SLUICE_TRACE=1 sl_run ingest "$T/cdr.csv" --schema "$T/$k.yaml" --db "$db" --chunk-size 4M --json --quiet
	check "$k: exit 3 (the file has bad rows)" "$RC" 3
	check "$k: the checkpoint thread started" "$(grep -c 'WAL checkpoints on their own thread' "$T/err")" 1
	check "$k: loaded + rejected = the file's records" \
		"$(json "$T/out" "d['rows_loaded'] + d['rows_rejected']")" "$records"
	check "$k: rows in the table = rows_loaded" \
		"$(q "$db" "SELECT count(*) FROM call_detail_records")" "$(json "$T/out" "d['rows_loaded']")"
	check "$k: integrity_check" "$(q "$db" "PRAGMA integrity_check")" ok
	check "$k: no WAL file left" "$([ -e "$db-wal" ] && echo left || echo none)" none
	state "$db" >"$T/one-$k.state"
	cp "$T/out" "$T/one-$k.json"

	# kill -9 once 3 chunks are committed, then resume
	kdb=$T/kill-$k.db
	committed() { [ "$(q "$kdb" "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'" 2>/dev/null || echo 0)" -ge 3 ]; }
	: >"$T/kill.err"
	sl_start "$T/kill.err" ingest "$T/cdr.csv" --schema "$T/$k.yaml" --db "$kdb" --chunk-size 4M --quiet
	pid=$BG_PID
	wait_for "3 chunks committed ($k)" 3000 committed
	sl_kill9 "$pid" "$T/kill.err"
	check "$k: killed before the end" "$(q "$kdb" "SELECT status FROM sluice_jobs")" Processing
	sl_run ingest "$T/cdr.csv" --schema "$T/$k.yaml" --db "$kdb" --chunk-size 4M --json --quiet
	check "$k: resume: exit 3" "$RC" 3
	check "$k: resume: resumed" "$(json "$T/out" "d['resumed']")" True
	check "$k: resume: integrity_check" "$(q "$kdb" "PRAGMA integrity_check")" ok
	state "$kdb" >"$T/kill-$k.state"
	cmp -s "$T/one-$k.state" "$T/kill-$k.state" && ok ||
		bad "$k: after kill -9 and resume the table or rejects differ: $(diff "$T/one-$k.state" "$T/kill-$k.state" | head -4)"
	check "$k: resume: the job's counts are the uninterrupted load's" \
		"$(json "$T/out" "'%d %d %d' % (d['rows_read'], d['rows_loaded'], d['rows_rejected'])")" \
		"$(json "$T/one-$k.json" "'%d %d %d' % (d['rows_read'], d['rows_loaded'], d['rows_rejected'])")"
done
finish ckpt
