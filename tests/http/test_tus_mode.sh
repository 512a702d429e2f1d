#!/usr/bin/env bash
# The load mode of a tus upload (docs/api.yaml, docs/serve.md): the
# Upload-Metadata key `mode` (base64 of append, replace or atomic) gives
# the upload's job that mode over the dataset schema's `mode:`, as ?mode=
# does for a plain upload; without it the job has the dataset's mode (a
# dataset whose schema says `mode: atomic` here). The mode is kept with
# the upload across a restart of the server between its creation and its
# last byte, and HEAD echoes it; a bad or empty mode is 400 at creation.
# The table after each job is what the mode means (replace: the last
# file's rows only; atomic: added, no stage left), read through the
# backend's own shell; counts from the generator (no bad rows).
# Usage: test_tus_mode.sh SLUICE SOURCE_DIR [sqlite|pg]
set -u
S=$1
SRC=$2
BACKEND=${3:-sqlite}
. "$SRC/tests/http/lib.sh"
. "$SRC/tests/http/backend.sh"
mkdir -p "$T/schemas"
sed '/^[[:space:]]*index:/d' "$SRC/examples/cdr.yaml" >"$T/schemas/cdr.yaml"
check "the dataset cdr has no mode: (append)" "$(grep -c '^mode:' "$T/schemas/cdr.yaml")" 0
sed -e 's/^name: cdr$/name: cdra/' -e 's/^table: call_detail_records$/table: cdr_atomic\nmode: atomic/' "$T/schemas/cdr.yaml" >"$T/schemas/cdra.yaml"
check "the dataset cdra is atomic" "$(grep -c '^mode: atomic' "$T/schemas/cdra.yaml")" 1
# four files of generated rows, none bad: NAME:ROWS:SEED
for g in a:300:11 b:200:12 c:100:13 d:150:14; do
	IFS=: read -r name n seed <<<"$g"
	sl gen cdr --rows "$n" --seed "$seed" -o "$T/$name.csv"
	check "gen $name: exit" "$?" 0
done
DB=$(newdb tus_mode)
rows() { q "$DB" "SELECT count(*), count(DISTINCT _sluice_job) FROM ${1:-call_detail_records}" | tr '|' ' '; }
TR=(-H 'Tus-Resumable: 1.0.0')
b64() { printf '%s' "$1" | base64 -w0; }
hdr() { grep -i "^$1:" "$T/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
# create FILE DATASET [MODE]: a new upload of FILE's size, its id in $T/id (HTTP status out)
create() {
	local meta="dataset $(b64 "$2"),filename $(b64 x.csv)"
	[ $# -lt 3 ] || meta="$meta,mode $(b64 "$3")"
	local st
	st=$(code POST "$B/v1/tus/" "${TR[@]}" -H "Upload-Length: $(stat -c %s "$1")" -H "Upload-Metadata: $meta")
	hdr Location | sed 's,.*/,,' >"$T/id"
	printf '%s' "$st"
}
# send FILE: PATCH it whole into upload $T/id; the job's final status, mode, rows_loaded
send() {
	local id st j
	id=$(cat "$T/id")
	st=$(code PATCH "$B/v1/tus/$id" "${TR[@]}" -H 'Content-Type: application/offset+octet-stream' -H 'Upload-Offset: 0' --data-binary @"$1")
	[ "$st" = 204 ] || { echo "PATCH $st $(cat "$T/body")"; return; }
	j=$(hdr X-Job-Id)
	echo "$j" >"$T/job"
	wait_final "$j" >/dev/null
	code GET "$B/v1/jobs/$j" >/dev/null
	jq_ "d['status'], d['mode'], d['rows_loaded']" <"$T/body"
}
up() { create "$@" >/dev/null && send "$1"; }
start() { serve "$T/log" --db "$DB" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --threads 2; }

start || { finish; exit 1; }
check "no mode: the dataset's (append)" "$(up "$T/a.csv" cdr)" "Succeeded append 300"
check "... the table: a's rows" "$(rows)" "300 1"
check "mode replace: the job is replace" "$(up "$T/b.csv" cdr replace)" "Succeeded replace 200"
check "... the table: b's rows only" "$(rows)" "200 1"
check "... of that job" "$(q "$DB" "SELECT DISTINCT _sluice_job FROM call_detail_records")" "$(cat "$T/job")"
check "mode atomic: the job is atomic" "$(up "$T/c.csv" cdr atomic)" "Succeeded atomic 100"
check "... the table: b's and c's rows" "$(rows)" "300 2"
check "... no stage or shadow left" "$(q "$DB" "$STAGES")" 0
check "mode append over a dataset whose schema says atomic" "$(up "$T/a.csv" cdra append | cut -d' ' -f2)" append
check "no mode on that dataset: atomic, its schema's" "$(up "$T/b.csv" cdra)" "Succeeded atomic 200"
check "... its table: both" "$(rows cdr_atomic)" "500 2"

# the mode is the upload's, kept across a restart between creation and the last byte
check "create with mode replace: 201" "$(create "$T/d.csv" cdr replace)" 201
check "HEAD echoes the mode" "$(code HEAD "$B/v1/tus/$(cat "$T/id")" "${TR[@]}" >/dev/null; hdr Upload-Metadata | tr ',' '\n' | grep '^mode ')" "mode $(b64 replace)"
stop_server
start || { finish; exit 1; }
check "after a restart: the upload's job is replace" "$(send "$T/d.csv")" "Succeeded replace 150"
check "... the table: d's rows only" "$(rows)" "150 1"

# refused at creation, nothing created
check "a bad mode: 400" "$(create "$T/a.csv" cdr truncate; jq_ "' ' + d['error']['code']" <"$T/body")" "400 BAD_REQUEST"
check "... it says which modes there are" "$(jq_ "'append, replace or atomic' in d['error']['message']" <"$T/body")" True
check "... and made no upload" "$(cat "$T/id")" ""
check "an empty mode: 400" "$(create "$T/a.csv" cdr "")" 400
check "a mode that is not base64: 400" "$(code POST "$B/v1/tus/" "${TR[@]}" -H "Upload-Length: 10" -H "Upload-Metadata: dataset $(b64 cdr),mode %%%")" 400
check "a mode too long: 400" "$(create "$T/a.csv" cdr "appendappendappend")" 400
check "the table untouched by the refusals" "$(rows)" "150 1"
check "jobs: one per upload that was sent" "$(q "$DB" "SELECT count(*) FROM $J_JOBS")" 6
stop_server
finish
