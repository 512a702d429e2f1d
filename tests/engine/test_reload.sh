#!/usr/bin/env bash
# Loading the same file again (issue 9): a file whose content a finished job
# loaded already, with the same schema, dialect and table, is reported, not
# loaded again (no job, no DUP_KEY noise), unless --new; the same for an
# upload through `sluice serve`; and the kill -9 that lands between the
# last commit and the exit (SLUICE_TEST_KILL, a test-only knob, makes the
# process SIGKILL itself exactly there: no sleeps). Expected counts come
# from the generator's manifest and from awk over the file.
# Usage: test_reload.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
# Every run of the program goes through the harness's sl_run: stdout in
# $T/out, stderr in $T/err, the exit status in $T/rc (rc); serve and
# stop_server for `sluice serve` on port 0
. "$SRC/tests/http/lib.sh"
q() { sqlite3 -batch "$1" "$2"; }

ROWS=4000
sl_run gen cdr --rows $ROWS --error-rate 0.03 --seed 7 --manifest "$T/man.tsv" -o "$T/cdr.csv"
check "gen: exit" "$(rc)" 0
BAD=$(wc -l <"$T/man.tsv")
DUPS=$(awk -F'\t' '$3 == "DUP_REFERENCE"' "$T/man.tsv" | wc -l)

# --- a finished file again: that job is reported, nothing loaded ------------------------
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/a.db" --json --chunk-size 32k
check "first load: exit 3 (some rejects)" "$(rc)" 3
FIRST=$(json "$T/out" "d['job_id']")
check "first load: rejects as in the manifest" "$(json "$T/out" "d['rows_rejected']")" "$BAD"
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/a.db" --json --chunk-size 32k
check "again: exit status of the finished job" "$(rc)" 3
check "again: reports the first job" "$(json "$T/out" "d['job_id'], d['already_loaded'], d['status']")" "$FIRST True PartiallySucceeded"
check "again: one job in the store" "$(q "$T/a.db" 'SELECT count(*) FROM sluice_jobs')" 1
check "again: no new rejects" "$(q "$T/a.db" 'SELECT count(*) FROM sluice_rejects')" "$BAD"
check "again: the table as it was" "$(q "$T/a.db" 'SELECT count(*) FROM call_detail_records')" $((ROWS - BAD))
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/a.db"
check "again, human summary: the finished job's exit" "$(rc)" 3
grep -q "loaded already by job $FIRST" "$T/out" && ok || bad "again: the summary names the job ($(head -2 "$T/out"))"
# the identity is the content: a copy elsewhere is the same load
cp "$T/cdr.csv" "$T/copy.csv"
sl_run ingest "$T/copy.csv" --schema "$SCHEMA" --db "$T/a.db" --json
check "a copy of the file: the finished job's exit" "$(rc)" 3
check "a copy of the file: the first job" "$(json "$T/out" "d['job_id'], d['already_loaded']")" "$FIRST True"

# --- --new: a new job whatever exists; DUP_KEY names the key and the first job --------------
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/a.db" --json --new
check "--new: every row a DUP_KEY, over the error limit: exit" "$(rc)" 4
check "--new: a new job" "$(json "$T/out" "d['job_id'] != '$FIRST' and not d['already_loaded']")" True
check "--new: every row read" "$(json "$T/out" "d['rows_read']")" $ROWS
SECOND=$(json "$T/out" "d['job_id']")
ref=$(q "$T/a.db" "SELECT reference FROM call_detail_records LIMIT 1")
rrec=$(q "$T/a.db" "SELECT _sluice_rec FROM call_detail_records WHERE reference = '$ref'")
check "--new: DUP_KEY names the key and the job and record that loaded it" \
	"$(q "$T/a.db" "SELECT message FROM sluice_rejects WHERE job_id = '$SECOND' AND code = 'DUP_KEY' AND instr(CAST(raw AS TEXT), '$ref') > 0 LIMIT 1")" \
	"key reference=$ref already loaded by job $FIRST (record $rrec)"
check "within one file: the earlier row named" \
	"$(q "$T/a.db" "SELECT count(*) FROM sluice_rejects r WHERE job_id = '$FIRST' AND code = 'DUP_KEY' AND message LIKE '% already loaded by record % an earlier row of this file' AND CAST(substr(message, instr(message, 'by record ') + 10) AS INTEGER) < r.record")" "$DUPS"

# --- another dialect, schema or content is another load ---------------------------------------
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/b.db" --quiet
check "first load into b.db: exit" "$(rc)" 3
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/b.db" --null NULL --json
check "another dialect: every row a DUP_KEY: exit" "$(rc)" 4
check "another dialect (--null): a new job" "$(json "$T/out" "d['already_loaded']")+$(q "$T/b.db" 'SELECT count(*) FROM sluice_jobs')" "False+2"
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/b.db" --null NULL --json
check "the same dialect again: that job's exit" "$(rc)" 4
check "the same dialect again: reported" "$(json "$T/out" "d['already_loaded']")" True
{ cat "$SCHEMA"; echo "# changed: another schema hash"; } >"$T/cdr2.yaml"
sl_run ingest "$T/cdr.csv" --schema "$T/cdr2.yaml" --db "$T/b.db" --json
check "another schema: every row a DUP_KEY: exit" "$(rc)" 4
check "another schema: a new job" "$(json "$T/out" "d['already_loaded']")" False
# same size, one byte changed
python3 -c "
import sys; b = bytearray(open('$T/cdr.csv','rb').read()); i = b.rindex(b'GBP'); b[i:i+3] = b'EUR'
open('$T/same_size.csv','wb').write(b)"
check "the changed copy has the same size" "$(stat -c %s "$T/same_size.csv")" "$(stat -c %s "$T/cdr.csv")"
sl_run ingest "$T/same_size.csv" --schema "$SCHEMA" --db "$T/b.db" --json
check "same size, other content: nearly every row a DUP_KEY: exit" "$(rc)" 4
check "same size, other content: a new job" "$(json "$T/out" "d['already_loaded']")" False

# --- kill -9 after the final commit, before the exit ------------------------------------------
SLUICE_TEST_KILL=finished sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/k.db" --chunk-size 32k --quiet
check "killed after the final commit (SIGKILL)" "$(rc)" 137
check "the job is finished in the store" "$(q "$T/k.db" 'SELECT status FROM sluice_jobs')" PartiallySucceeded
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/k.db" --chunk-size 32k --json
check "re-run after the kill: the finished job, its status" "$(rc)+$(json "$T/out" "d['already_loaded']")" "3+True"
check "re-run after the kill: one job, no DUP_KEY noise" \
	"$(q "$T/k.db" 'SELECT count(*) FROM sluice_jobs')+$(q "$T/k.db" 'SELECT count(*) FROM sluice_rejects')" "1+$BAD"

# --- kill -9 after the last chunk's commit, before the job's ----------------------------------
SLUICE_TEST_KILL=last_chunk sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/l.db" --chunk-size 32k --quiet
check "killed after the last chunk (SIGKILL)" "$(rc)" 137
check "the job is unfinished in the store" "$(q "$T/l.db" 'SELECT status FROM sluice_jobs')" Processing
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/l.db" --chunk-size 32k --null NULL
check "an unfinished job is not resumed with another dialect: exit 2" "$(rc)" 2
grep -q "unfinished and reads it with another dialect" "$T/err" && ok || bad "another dialect: the reason ($(cat "$T/err"))"
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/l.db" --chunk-size 32k --json
check "re-run: the job resumed and finished, nothing loaded twice" \
	"$(rc)+$(json "$T/out" "d['resumed'], d['rows_read'], d['rows_rejected']")+$(q "$T/l.db" 'SELECT count(*) FROM sluice_jobs')" "3+True $ROWS $BAD+1"

# a resume reads the file with the dialect the job recorded, whatever the command line says
tr ',' ';' <"$T/cdr.csv" >"$T/semi.csv"
SLUICE_TEST_KILL=last_chunk sl_run ingest "$T/semi.csv" --schema "$SCHEMA" --db "$T/m.db" --delimiter ';' --null NIL --chunk-size 32k --quiet
check "semicolons: killed after the last chunk" "$(rc)" 137
job=$(q "$T/m.db" 'SELECT id FROM sluice_jobs')
sl_run resume "$job" --db "$T/m.db" --json
check "resume JOB: the recorded dialect (';', NIL) reads the header" "$(rc)+$(json "$T/out" "d['status'], d['dialect'].split()[0], d['dialect'].split()[-1]")" \
	'3+PartiallySucceeded delimiter=3b null=["4e494c"]'

# --- uploads with the same content and dataset ------------------------------------------------
mkdir -p "$T/schemas"
cp "$SCHEMA" "$T/schemas/"
serve "$T/serve.log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --threads 2
# final JOB: wait for its final status, its JSON in $T/out
final() {
	wait_final "$1" >/dev/null
	curl -s "$B/v1/jobs/$1" >"$T/out"
}
upload() {
	curl -s -X POST -H 'Content-Type: text/csv' --data-binary @"$T/cdr.csv" "$B/v1/datasets/cdr/uploads" >"$T/out"
	json "$T/out" "d['job_id']"
}
U1=$(upload)
final "$U1"
check "first upload: loaded" "$(json "$T/out" "d['status'], d['rows_rejected'], d['same_as']")" "PartiallySucceeded $BAD None"
U2=$(upload)
final "$U2"
check "same upload again: points at the first, its status" "$(json "$T/out" "d['status'], d['same_as'], d['rows_read']")" "PartiallySucceeded $U1 0"
check "same upload again: nothing loaded" "$(q "$T/s.db" 'SELECT count(*) FROM call_detail_records')+$(q "$T/s.db" 'SELECT count(*) FROM sluice_rejects')" "$((ROWS - BAD))+$BAD"
stop_server
check "server exits 0 on SIGTERM" "$STOPPED" 0

# --- a multi-byte delimiter is part of the identity and survives a resume --------------
printf 'id||name\n1||a\n2||b\n3||c\n' >"$T/mb.csv"
cat >"$T/mb.yaml" <<'YAML'
name: mb
table: mb
key: [id]
csv: {delimiter: "||"}
columns:
  - {name: id, type: integer}
  - {name: name, type: text}
YAML
sl_run ingest "$T/mb.csv" --schema "$T/mb.yaml" --db "$T/mb.db" --json
check "'||' file: loaded" "$(rc) $(json "$T/out" "d['rows_loaded'], d['dialect'].split()[0]")" "0 3 delimiter=7c7c"
sl_run ingest "$T/mb.csv" --schema "$T/mb.yaml" --db "$T/mb.db" --json
check "'||' file again: that job's exit" "$(rc)" 0
check "'||' file again: reported" "$(json "$T/out" "d['already_loaded']")" True
sl_run ingest "$T/mb.csv" --schema "$T/mb.yaml" --db "$T/mb.db" --json --delimiter '|'
check "read with '|': rows rejected: exit" "$(rc)" 3
check "read with '|' instead: another load (another dialect)" "$(json "$T/out" "d['already_loaded'], d['dialect'].split()[0]")" "False delimiter=7c"

finish reload
