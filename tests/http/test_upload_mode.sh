#!/usr/bin/env bash
# The load mode as an API parameter (issue 11): POST
# /v1/datasets/{name}/uploads?mode=append|replace|atomic gives the upload's
# job that mode over the dataset schema's `mode:` (append here); the job's
# JSON says which it got; the table after each job is what the mode means
# (replace: only the last file's rows; atomic: added, in one step); a bad or
# empty mode is 400 before the body; a signed URL with a mode is 403. The
# counts come from the generator (no bad rows: every row loads) and the
# table from the sqlite3 shell.
# Usage: test_upload_mode.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
mkdir -p "$T/schemas"
sed '/^[[:space:]]*index:/d' "$SRC/examples/cdr.yaml" >"$T/schemas/cdr.yaml"
check "the dataset has no mode: (append)" "$(grep -c '^mode:' "$T/schemas/cdr.yaml")" 0
sl gen cdr --rows 300 --seed 11 -o "$T/a.csv"
check "gen a: exit" "$?" 0
sl gen cdr --rows 200 --seed 12 -o "$T/b.csv"
check "gen b: exit" "$?" 0
sl gen cdr --rows 100 --seed 13 -o "$T/c.csv"
check "gen c: exit" "$?" 0
rows() { sqlite3 "$T/s.db" "SELECT count(*), count(DISTINCT _sluice_job) FROM call_detail_records"; }
# up FILE QUERY: upload; the job's final status, mode and rows_loaded (its id in $T/job)
up() {
	local st
	st=$(code POST "$B/v1/datasets/cdr/uploads$2" --data-binary @"$1")
	[ "$st" = 202 ] || { echo "upload $1$2: $st $(cat "$T/body")"; return; }
	local j
	j=$(jq_ "d['job_id']" <"$T/body")
	echo "$j" >"$T/job"
	wait_final "$j" >/dev/null
	code GET "$B/v1/jobs/$j" >/dev/null
	jq_ "d['status'], d['mode'], d['rows_loaded']" <"$T/body"
}

serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M || { finish; exit 1; }
check "no mode: the dataset's (append)" "$(up "$T/a.csv" "")" "Succeeded append 300"
check "... the table: a's rows" "$(rows)" "300|1"
check "?mode=replace: the job is replace" "$(up "$T/b.csv" "?mode=replace")" "Succeeded replace 200"
check "... the table: b's rows only" "$(rows)" "200|1"
check "... of that job" "$(sqlite3 "$T/s.db" "SELECT DISTINCT _sluice_job FROM call_detail_records")" "$(cat "$T/job")"
check "?mode=atomic: the job is atomic" "$(up "$T/c.csv" "?mode=atomic")" "Succeeded atomic 100"
check "... the table: b's and c's rows" "$(rows)" "300|2"
check "... no stage left" "$(sqlite3 "$T/s.db" "SELECT count(*) FROM sqlite_master WHERE name LIKE '_sluice_stage%'")" 0
check "?mode=append over a dataset's default" "$(up "$T/b.csv" "?mode=append&x=1" | cut -d' ' -f2)" append
check "a bad mode: 400 before the body" \
	"$(code POST "$B/v1/datasets/cdr/uploads?mode=truncate" --data-binary @"$T/a.csv"; jq_ "' ' + d['error']['code']" <"$T/body")" "400 BAD_REQUEST"
check "... it says which modes there are" "$(jq_ "'append, replace or atomic' in d['error']['message']" <"$T/body")" True
check "an empty mode: 400" "$(code POST "$B/v1/datasets/cdr/uploads?mode=" --data-binary @"$T/a.csv")" 400
check "upload URL: 201" "$(code POST "$B/v1/datasets/cdr/upload-urls")" 201
P=$(jq_ "d['path']" <"$T/body")
check "a signed URL with a mode: 403" \
	"$(code POST "$B$P&mode=replace" --data-binary @"$T/a.csv"; jq_ "' ' + d['error']['code']" <"$T/body")" "403 FORBIDDEN"
check "... the table untouched" "$(sqlite3 "$T/s.db" "SELECT count(*) FROM call_detail_records")" 300
check "the same URL without a mode: 202" "$(code POST "$B$P" --data-binary @"$T/a.csv")" 202
stop_server
finish
