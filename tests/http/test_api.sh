#!/usr/bin/env bash
# docs/api.yaml (the OpenAPI description of `sluice serve`) checked against
# the real server: start it with API keys, load a generated cdr file, then
# let tests/http/test_api.py call every described operation and compare
# the server's route table with the document.
# Usage: test_api.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"

mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
sl gen cdr --rows 2000 --error-rate 0.02 -o "$T/cdr.csv" || bad "gen cdr"
sl gen cdr --rows 20 --seed 7 -o "$T/small.csv" || bad "gen cdr (small)"

export SLUICE_API_KEYS='kall:read+write+admin,kread:read,kwrite:write'
# --min-free 1M: /healthz/ready must not say 503 on a nearly full test disk
serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M || { finish; exit 1; }
H='Authorization: Bearer kall'

st=$(code POST "$B/v1/datasets/cdr/uploads" -H "$H" --data-binary @"$T/cdr.csv")
check "upload" "$st" 202
JOB=$(jq_ "d['job_id']" <"$T/body" 2>/dev/null)
check "the job ends" "$(wait_final "$JOB" -H "$H")" PartiallySucceeded
JOB=$(curl -s -H "$H" "$B/v1/jobs/$JOB" | jq_ "d['job_id']")

if [ "$fail" -eq 0 ]; then
	python3 "$SRC/tests/http/test_api.py" --base "$B" --key kall --read-key kread --write-key kwrite \
		--job "$JOB" --src "$SRC" --sample "$T/small.csv"
	check "test_api.py" "$?" 0
fi
stop_server
if [ "$fail" -ne 0 ]; then
	echo "--- server log (last 30 lines)"
	tail -30 "$T/log"
fi
finish
