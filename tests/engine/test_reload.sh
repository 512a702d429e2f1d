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
T=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null; rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
# Every program run goes through here: stdout to $T/out, stderr to $T/err,
# the exit status to $T/rc; a sanitizer report on stderr fails the test.
run() {
	# (the subshell keeps bash's "Killed" notice for the SIGKILL points quiet)
	{ ("$@" >"$T/out" 2>"$T/err"); } 2>/dev/null
	echo $? >"$T/rc"
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|WARNING: ThreadSanitizer' "$T/err"; then
		bad "sanitizer report from: $*"
		sed -n 1,30p "$T/err"
	fi
}
rc() { cat "$T/rc"; }
json() { python3 -c "import json,sys; d=json.load(open('$T/out')); print($1)"; }
q() { sqlite3 -batch "$1" "$2"; }

ROWS=4000
run "$S" gen cdr --rows $ROWS --error-rate 0.03 --seed 7 --manifest "$T/man.tsv" -o "$T/cdr.csv"
BAD=$(wc -l <"$T/man.tsv")
DUPS=$(awk -F'\t' '$3 == "DUP_REFERENCE"' "$T/man.tsv" | wc -l)

# --- a finished file again: that job is reported, nothing loaded ------------------------
run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/a.db" --json --chunk-size 32k
check "first load: exit 3 (some rejects)" "$(rc)" 3
FIRST=$(json "d['job_id']")
check "first load: rejects as in the manifest" "$(json "d['rows_rejected']")" "$BAD"
run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/a.db" --json --chunk-size 32k
check "again: exit status of the finished job" "$(rc)" 3
check "again: reports the first job" "$(json "d['job_id'], d['already_loaded'], d['status']")" "$FIRST True PartiallySucceeded"
check "again: one job in the store" "$(q "$T/a.db" 'SELECT count(*) FROM sluice_jobs')" 1
check "again: no new rejects" "$(q "$T/a.db" 'SELECT count(*) FROM sluice_rejects')" "$BAD"
check "again: the table as it was" "$(q "$T/a.db" 'SELECT count(*) FROM call_detail_records')" $((ROWS - BAD))
run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/a.db"
grep -q "loaded already by job $FIRST" "$T/out" && ok || bad "again: the summary names the job ($(head -2 "$T/out"))"
# the identity is the content: a copy elsewhere is the same load
cp "$T/cdr.csv" "$T/copy.csv"
run "$S" ingest "$T/copy.csv" --schema "$SCHEMA" --db "$T/a.db" --json
check "a copy of the file: the first job" "$(json "d['job_id'], d['already_loaded']")" "$FIRST True"

# --- --new: a new job whatever exists; DUP_KEY names the key and the first job --------------
run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/a.db" --json --new
check "--new: a new job" "$(json "d['job_id'] != '$FIRST' and not d['already_loaded']")" True
check "--new: every row read" "$(json "d['rows_read']")" $ROWS
SECOND=$(json "d['job_id']")
ref=$(q "$T/a.db" "SELECT reference FROM call_detail_records LIMIT 1")
check "--new: DUP_KEY names the key and the job that loaded it" \
	"$(q "$T/a.db" "SELECT message FROM sluice_rejects WHERE job_id = '$SECOND' AND code = 'DUP_KEY' AND instr(CAST(raw AS TEXT), '$ref') > 0 LIMIT 1")" \
	"key reference=$ref already loaded by job $FIRST"
check "within one file: the earlier row named" \
	"$(q "$T/a.db" "SELECT count(*) FROM sluice_rejects WHERE job_id = '$FIRST' AND code = 'DUP_KEY' AND message LIKE '% already loaded by an earlier row of this file'")" "$DUPS"

# --- another dialect, schema or content is another load ---------------------------------------
run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/b.db" --quiet
run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/b.db" --null NULL --json
check "another dialect (--null): a new job" "$(json "d['already_loaded']")+$(q "$T/b.db" 'SELECT count(*) FROM sluice_jobs')" "False+2"
run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/b.db" --null NULL --json
check "the same dialect again: reported" "$(json "d['already_loaded']")" True
{ cat "$SCHEMA"; echo "# changed: another schema hash"; } >"$T/cdr2.yaml"
run "$S" ingest "$T/cdr.csv" --schema "$T/cdr2.yaml" --db "$T/b.db" --json
check "another schema: a new job" "$(json "d['already_loaded']")" False
# same size, one byte changed
python3 -c "
import sys; b = bytearray(open('$T/cdr.csv','rb').read()); i = b.rindex(b'GBP'); b[i:i+3] = b'EUR'
open('$T/same_size.csv','wb').write(b)"
check "the changed copy has the same size" "$(stat -c %s "$T/same_size.csv")" "$(stat -c %s "$T/cdr.csv")"
run "$S" ingest "$T/same_size.csv" --schema "$SCHEMA" --db "$T/b.db" --json
check "same size, other content: a new job" "$(json "d['already_loaded']")" False

# --- kill -9 after the final commit, before the exit ------------------------------------------
SLUICE_TEST_KILL=finished run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/k.db" --chunk-size 32k --quiet
check "killed after the final commit (SIGKILL)" "$(rc)" 137
check "the job is finished in the store" "$(q "$T/k.db" 'SELECT status FROM sluice_jobs')" PartiallySucceeded
run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/k.db" --chunk-size 32k --json
check "re-run after the kill: the finished job, its status" "$(rc)+$(json "d['already_loaded']")" "3+True"
check "re-run after the kill: one job, no DUP_KEY noise" \
	"$(q "$T/k.db" 'SELECT count(*) FROM sluice_jobs')+$(q "$T/k.db" 'SELECT count(*) FROM sluice_rejects')" "1+$BAD"

# --- kill -9 after the last chunk's commit, before the job's ----------------------------------
SLUICE_TEST_KILL=last_chunk run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/l.db" --chunk-size 32k --quiet
check "killed after the last chunk (SIGKILL)" "$(rc)" 137
check "the job is unfinished in the store" "$(q "$T/l.db" 'SELECT status FROM sluice_jobs')" Processing
run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/l.db" --chunk-size 32k --null NULL
check "an unfinished job is not resumed with another dialect: exit 2" "$(rc)" 2
grep -q "unfinished and reads it with another dialect" "$T/err" && ok || bad "another dialect: the reason ($(cat "$T/err"))"
run "$S" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/l.db" --chunk-size 32k --json
check "re-run: the job resumed and finished, nothing loaded twice" \
	"$(rc)+$(json "d['resumed'], d['rows_read'], d['rows_rejected']")+$(q "$T/l.db" 'SELECT count(*) FROM sluice_jobs')" "3+True $ROWS $BAD+1"

# a resume reads the file with the dialect the job recorded, whatever the command line says
tr ',' ';' <"$T/cdr.csv" >"$T/semi.csv"
SLUICE_TEST_KILL=last_chunk run "$S" ingest "$T/semi.csv" --schema "$SCHEMA" --db "$T/m.db" --delimiter ';' --null NIL --chunk-size 32k --quiet
check "semicolons: killed after the last chunk" "$(rc)" 137
job=$(q "$T/m.db" 'SELECT id FROM sluice_jobs')
run "$S" resume "$job" --db "$T/m.db" --json
check "resume JOB: the recorded dialect (';', NIL) reads the header" "$(rc)+$(json "d['status'], d['dialect'].split()[0], d['dialect'].split()[-1]")" \
	'3+PartiallySucceeded delimiter=3b null=["4e494c"]'

# --- uploads with the same content and dataset ------------------------------------------------
mkdir -p "$T/schemas"
cp "$SCHEMA" "$T/schemas/"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
B="http://127.0.0.1:$PORT"
"$S" serve --listen "127.0.0.1:$PORT" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" \
	--min-free 1M --threads 2 2>"$T/serve.log" &
PID=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "$B/healthz/live" && break; sleep 0.1; done
wait_final() {
	for _ in $(seq 1 600); do
		curl -s "$B/v1/jobs/$1" >"$T/out"
		case "$(json "d['status']" 2>/dev/null)" in Succeeded | PartiallySucceeded | Failed | Cancelled) return ;; esac
		sleep 0.1
	done
}
upload() {
	curl -s -X POST -H 'Content-Type: text/csv' --data-binary @"$T/cdr.csv" "$B/v1/datasets/cdr/uploads" >"$T/out"
	json "d['job_id']"
}
U1=$(upload)
wait_final "$U1"
check "first upload: loaded" "$(json "d['status'], d['rows_rejected'], d['same_as']")" "PartiallySucceeded $BAD None"
U2=$(upload)
wait_final "$U2"
check "same upload again: points at the first, its status" "$(json "d['status'], d['same_as'], d['rows_read']")" "PartiallySucceeded $U1 0"
check "same upload again: nothing loaded" "$(q "$T/s.db" 'SELECT count(*) FROM call_detail_records')+$(q "$T/s.db" 'SELECT count(*) FROM sluice_rejects')" "$((ROWS - BAD))+$BAD"
kill -TERM "$PID"
wait "$PID"
check "server exits 0 on SIGTERM" "$?" 0
PID=
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|WARNING: ThreadSanitizer' "$T/serve.log"; then
	bad "sanitizer report from the server"
	head -30 "$T/serve.log"
fi

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
run "$S" ingest "$T/mb.csv" --schema "$T/mb.yaml" --db "$T/mb.db" --json
check "'||' file: loaded" "$(rc) $(json "d['rows_loaded'], d['dialect'].split()[0]")" "0 3 delimiter=7c7c"
run "$S" ingest "$T/mb.csv" --schema "$T/mb.yaml" --db "$T/mb.db" --json
check "'||' file again: reported" "$(json "d['already_loaded']")" True
run "$S" ingest "$T/mb.csv" --schema "$T/mb.yaml" --db "$T/mb.db" --json --delimiter '|'
check "read with '|' instead: another load (another dialect)" "$(json "d['already_loaded'], d['dialect'].split()[0]")" "False delimiter=7c"

echo "reload: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
