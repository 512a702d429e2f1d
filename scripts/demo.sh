#!/usr/bin/env bash
# `make demo`: the main job on the embedded default. Generate a sample of
# call detail records with bad rows of every kind, load it into SQLite with
# the CDR schema in examples/, and show the summary, the job and a few of
# the rejected rows with their reasons and positions.
set -euo pipefail
cd "$(dirname "$0")/.."
S=build/sluice
DB=demo/sluice.db
mkdir -p demo
rm -f "$DB" "$DB-wal" "$DB-shm"
echo "== sluice gen cdr --rows 1000000 --error-rate 0.01 -o demo/cdr.csv"
$S gen cdr --rows 1000000 --error-rate 0.01 --seed 42 --manifest demo/cdr.manifest.tsv -o demo/cdr.csv
echo
echo "== sluice ingest demo/cdr.csv --schema examples/cdr.yaml --db $DB"
$S ingest demo/cdr.csv --schema examples/cdr.yaml --db "$DB" || true # exit 3: some rows rejected
JOB=$($S jobs --db "$DB" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["job_id"])')
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
echo "Run the same ingest again: it starts a new job whose rows are all DUP_KEY (already loaded)."
echo "Kill an ingest (Ctrl-C, kill -9) and run it again: it resumes where it stopped."
