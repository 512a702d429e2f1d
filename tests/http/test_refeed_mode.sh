#!/usr/bin/env bash
# The load mode of a refeed over the API (docs/api.yaml, docs/serve.md):
# POST /v1/jobs/{id}/refeed takes ?mode=append|replace|atomic, over the
# `mode:` of the schema it loads with (a schema in the body may say it);
# the new job's JSON says which it got, and the table after it is what the
# mode means (atomic: the refed rows added, no stage left; replace: the
# table holds the refed rows only). A bad or empty ?mode= is 400 and takes
# no rows. The bad records and counts come from tests/lib/refeed_data.sh;
# the table is read through the backend's own shell.
# Usage: test_refeed_mode.sh SLUICE SOURCE_DIR [sqlite|pg]
set -u
S=$1
SRC=$2
BACKEND=${3:-sqlite}
. "$SRC/tests/http/lib.sh"
. "$SRC/tests/http/backend.sh"
. "$SRC/tests/lib/refeed_data.sh"
NBAD=$((NISO + NXXX))
mkdir -p "$T/schemas"
# the dataset's budget lets the 13 % of bad rows through (10 % in cdr.yaml)
sed 's/max_error_ratio: 0.10 /max_error_ratio: 0.50 /' "$SRC/examples/cdr.yaml" >"$T/schemas/cdr.yaml"
check "the dataset's budget: half" "$(grep -c 'max_error_ratio: 0.50' "$T/schemas/cdr.yaml")" 1
{ cat "$T/fixed.yaml"; echo "mode: atomic"; } >"$T/fixed_atomic.yaml"
check "the body's schema says atomic" "$(grep -c '^mode: atomic' "$T/fixed_atomic.yaml")" 1
DB=$(newdb refeed_mode)
rows() { q "$DB" "SELECT count(*) FROM call_detail_records"; }
# refeed QUERY BODY: POST the refeed of $J (BODY a schema file or -); HTTP status, and the job in $T/job
refeed() {
	local st
	if [ "$2" = - ]; then
		st=$(code POST "$B/v1/jobs/$J/refeed$1")
	else
		st=$(code POST "$B/v1/jobs/$J/refeed$1" -H 'Content-Type: application/yaml' --data-binary @"$2")
	fi
	[ "$st" != 202 ] || jq_ "d['job_id']" <"$T/body" >"$T/job"
	printf '%s' "$st"
}
# done_as: the refeed job's final status, mode, rows_loaded, rows_rejected
done_as() {
	local j
	j=$(cat "$T/job")
	wait_final "$j" >/dev/null
	code GET "$B/v1/jobs/$j" >/dev/null
	jq_ "d['status'], d['mode'], d['rows_loaded'], d['rows_rejected']" <"$T/body"
}
open_rejects() { code GET "$B/v1/jobs/$J" >/dev/null && jq_ "d['rejects_open']" <"$T/body"; }

serve "$T/log" --db "$DB" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --threads 2 --chunk-size 16k || { finish; exit 1; }
check "upload: 202" "$(code POST "$B/v1/datasets/cdr/uploads" --data-binary @"$T/in.csv")" 202
J=$(jq_ "d['job_id']" <"$T/body")
check "the first job: its bad rows rejected" "$(wait_final "$J"; code GET "$B/v1/jobs/$J" >/dev/null; jq_ "d['rows_rejected']" <"$T/body")" "PartiallySucceeded
$NBAD"
check "the table: the good rows" "$(rows)" $((3000 - NBAD))

# the body's schema says atomic: the job is atomic, the ISO rows added
check "refeed, the body's mode: 202" "$(refeed "" "$T/fixed_atomic.yaml")" 202
check "... the job is atomic" "$(done_as)" "PartiallySucceeded atomic $NISO $NXXX"
check "... the table: the ISO rows added" "$(rows)" $((3000 - NXXX))
check "... no stage left" "$(q "$DB" "$STAGES")" 0
check "... the XXX rows still open" "$(open_rejects)" "$NXXX"

# refused before any row is taken
check "a bad mode: 400" "$(refeed "?mode=truncate" -; jq_ "' ' + d['error']['code']" <"$T/body")" "400 BAD_REQUEST"
check "... it says which modes there are" "$(jq_ "'append, replace or atomic' in d['error']['message']" <"$T/body")" True
check "an empty mode: 400" "$(refeed "?mode=" "$T/fixed_atomic.yaml")" 400
check "... no job made, the rows still open" "$(q "$DB" "SELECT count(*) FROM $J_JOBS"; open_rejects)" "2
$NXXX"

# ?mode= over the body's mode:
check "?mode=append over the body's atomic: 202" "$(refeed "?mode=append" "$T/fixed_atomic.yaml")" 202
check "... the job is append (the XXX rows rejected again)" "$(done_as)" "PartiallySucceeded append 0 $NXXX"

# replace: the table holds the refed rows only
check "?mode=replace with XXX allowed: 202" "$(refeed "?mode=replace&dataset=" "$T/fixed2.yaml" | head -c 3; refeed "?mode=replace" "$T/fixed2.yaml")" "400202"
check "... the job is replace" "$(done_as)" "Succeeded replace $NXXX 0"
check "... the table: its rows only" "$(rows; q "$DB" "SELECT count(DISTINCT _sluice_job) FROM call_detail_records")" "$NXXX
1"
check "... of that job" "$(q "$DB" "SELECT DISTINCT _sluice_job FROM call_detail_records")" "$(cat "$T/job")"
check "... the first job: nothing open" "$(open_rejects)" 0
stop_server
finish
