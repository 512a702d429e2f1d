#!/usr/bin/env bash
# `make demo`: the main job on the embedded default. Generate a sample of
# call detail records with bad rows of every kind, load it into SQLite with
# the CDR schema in examples/, and show the summary, the job and a few of
# the rejected rows with their reasons and positions.
# SLUICE, DEMO_DIR and DEMO_ROWS change the program, the folder and the
# size (the `demo` test runs it small; make demo as below).
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SLUICE:-build/sluice}
D=${DEMO_DIR:-demo}
ROWS=${DEMO_ROWS:-1000000}
DB=$D/sluice.db
mkdir -p "$D"
rm -f "$DB" "$DB-wal" "$DB-shm"
echo "== sluice gen cdr --rows $ROWS --error-rate 0.01 -o $D/cdr.csv"
$S gen cdr --rows "$ROWS" --error-rate 0.01 --seed 42 --manifest "$D/cdr.manifest.tsv" -o "$D/cdr.csv"
echo
echo "== sluice ingest $D/cdr.csv --schema examples/cdr.yaml --db $DB"
rc=0
$S ingest "$D/cdr.csv" --schema examples/cdr.yaml --db "$DB" || rc=$?
[ "$rc" = 3 ] # some rows rejected: PartiallySucceeded, anything else is a broken demo
JOB=$($S jobs --db "$DB" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["job_id"])')
echo
echo "== sluice jobs --db $DB"
$S jobs --db "$DB"
echo
echo "== sluice errors $JOB --db $DB --format jsonl | head -5"
# head stops reading after 5 lines: the writer's SIGPIPE (141) is expected
{ $S errors "$JOB" --db "$DB" --format jsonl || [ $? = 141 ]; } | head -5
echo
echo "== sqlite3 $DB 'SELECT * FROM call_detail_records LIMIT 3'"
sqlite3 -header -column "$DB" 'SELECT caller_id, call_date, end_time, duration, cost, reference, currency FROM call_detail_records LIMIT 3'
echo
echo "Run the same ingest again: it reports the job that loaded this content already and loads nothing (--new loads it again)."
echo "Kill an ingest (Ctrl-C, kill -9) and run it again: it resumes where it stopped."
