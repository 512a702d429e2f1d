#!/usr/bin/env bash
# Drop folders in the service (issue 13): a `watch:` entry of `sluice serve
# --config` runs a watcher for its dataset; its jobs show in the API like
# uploads; a kill -9 of the server mid-load (held at a chunk boundary by
# SLUICE_TEST_PAUSE) and a restart load every row once (tests/lib/oracle.py)
# with one job; a watch entry naming no dataset, or no folder, stops the
# start-up. The server is the real one, on a port it chooses (tests/http/lib.sh).
# Usage: test_watch_serve.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/http/lib.sh"
at_exit() { [ -d "$T/p" ] && touch "$T/p/go"; }

mkdir -p "$T/schemas" "$T/data" "$T/in" "$T/p"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
ROWS=4000
sl_run gen cdr --rows $ROWS --error-rate 0.02 --seed 31 --manifest "$T/man.tsv" -o "$T/a.csv"
check "gen: exit" "$(rc)" 0
BAD=$(wc -l <"$T/man.tsv")
cat >"$T/cfg.yaml" <<EOF
schemas: $T/schemas
data-dir: $T/data
db: $T/s.db
threads: 1
chunk-size: 32k
watch:
  cdr: {dir: $T/in, settle: off}
EOF

# --- a drop becomes a job of the API ----------------------------------------------------------
SLUICE_TEST_PAUSE=3:$T/p serve "$T/serve.log" --config "$T/cfg.yaml" || exit 1
grep -q '"watch cdr: listed [^"]* (start)"' "$T/serve.log" && ok || bad "the watcher listed its folder at start"
cp "$T/a.csv" "$T/a.tmp" && mv "$T/a.tmp" "$T/in/a.csv"
wait_for "the drop's job held before chunk 3" 1500 test -e "$T/p/paused"
J=$(cat "$T/p/paused")
check "the drop's job in the API while it runs" "$(code GET "$B/v1/jobs/$J")+$(jq_ "d['status'], d['dataset']" <"$T/body")" "200+Processing cdr"
check "the drop's job in the job list" "$(curl -s "$B/v1/jobs" | jq_ "[j['job_id'] for j in d['jobs']] == ['$J']")" True
check "the file waits in processing/" "$(ls "$T/in/processing")" a.csv
kill_server

# --- after kill -9: the restart resumes it (the watcher or a runner: the job's lock lets one run it)
serve "$T/serve.log" --config "$T/cfg.yaml" || exit 1
wait_for "a.csv done after the restart" 1500 test -e "$T/in/done/a.csv.json"
check "the outcome: the same job, resumed, every row" "$(json "$T/in/done/a.csv.json" "d['job_id'], d['resumed'], d['rows_read'], d['rows_rejected']")" "$J True $ROWS $BAD"
check "the API agrees" "$(code GET "$B/v1/jobs/$J")+$(jq_ "d['status'], d['rows_loaded']" <"$T/body")" "200+PartiallySucceeded $((ROWS - BAD))"
check "one job in the store" "$(sql "$T/s.db" 'SELECT count(*) FROM sluice_jobs')" 1
table_is "$T/s.db" "$T/a.csv" && ok || bad "after kill -9 and restart: the table is not the oracle's"
# the same bytes again: the drop's job is a duplicate of the first
cp "$T/a.csv" "$T/in/again.csv" && touch "$T/in/again.csv.done"
wait_for "again.csv" 1500 test -e "$T/in/done/again.csv.json"
J2=$(json "$T/in/done/again.csv.json" "d['job_id']")
check "a duplicate drop: its job in the API points at the first" "$(code GET "$B/v1/jobs/$J2")+$(jq_ "d['same_as'], d['rows_loaded']" <"$T/body")" "200+$J 0"
stop_server
check "SIGTERM: exit 0" "$STOPPED" 0

# --- a watch entry the service cannot run stops its start --------------------------------------
while IFS='|' read -r entry why; do
	sed '/^watch:/,$d' "$T/cfg.yaml" >"$T/bad.yaml"
	printf 'watch:\n  %s\n' "$entry" >>"$T/bad.yaml"
	sl_run serve --config "$T/bad.yaml" --listen 127.0.0.1:0
	check "watch '$entry': the start fails, exit 2" "$(rc)" 2
	grep -q -- "$why" "$T/err" && ok || bad "watch '$entry': no '$why' in $(tail -2 "$T/err")"
done <<EOF
nosuch: $T/in|watch: no dataset nosuch
cdr: $T/none|none: No such file or directory
cdr: $T/cfg.yaml|cfg.yaml: not a directory
cdr: {dir: $T/in, settle: soon}|is not DATASET=DIR
cdr: {folder: $T/in}|each dataset needs a folder
EOF

finish
