#!/usr/bin/env bash
# Streams (issue 13, "Streams and many files"): `sluice ingest -` (standard
# input), a FIFO and --from-program load exactly what the file loads (the
# oracle: tests/lib/oracle.py and the generator's manifest), compressed or
# not (detected on the stream's first bytes), at several chunk sizes and
# thread counts; the stream is spooled next to the database and read once.
# A program that fails is IO_READ with its exit status; a stream job cannot
# be resumed (it says so), and a second stream is a new job, never the
# continuation of an unfinished one.
# Usage: test_streams.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
q() { sqlite3 -batch "$1" "$2"; }
command -v zstd >/dev/null || skip "no zstd command" installable

ROWS=15000
sl_run gen cdr --rows $ROWS --error-rate 0.02 --seed 17 --manifest "$T/man.tsv" -o "$T/cdr.csv"
check "gen: exit" "$(rc)" 0
BAD=$(wc -l <"$T/man.tsv")
gzip -c "$T/cdr.csv" >"$T/cdr.csv.gz"
zstd -q -c "$T/cdr.csv" >"$T/cdr.csv.zst"
cdr_rejects "$T/man.tsv" | tr '\t' '|' >"$T/want_rejects"

# same NAME DB: the table, rejects and counts of DB are the file's
same() {
	check "$1: counts" "$(json "$T/$1.out" "d['status'], d['rows_read'], d['rows_loaded'], d['rows_rejected']")" \
		"PartiallySucceeded $ROWS $((ROWS - BAD)) $BAD"
	table_is "$2" "$T/cdr.csv" && ok || bad "$1: the table differs from the oracle's rows"
	q "$2" "SELECT record, line, code FROM sluice_rejects ORDER BY record" >"$T/got_rejects"
	cmp -s "$T/want_rejects" "$T/got_rejects" && ok || bad "$1: rejects differ: $(diff "$T/want_rejects" "$T/got_rejects" | head -3)"
}

sl ingest - --schema "$SCHEMA" --db "$T/in.db" --chunk-size 32k --threads 3 --json <"$T/cdr.csv" >"$T/stdin.out"
check "stdin: exit 3" "$?" 3
same stdin "$T/in.db"
check "stdin: the job's file" "$(q "$T/in.db" 'SELECT file, file_size FROM sluice_jobs')" "-|$(stat -c %s "$T/cdr.csv")"
sl ingest - --schema "$SCHEMA" --db "$T/gz.db" --chunk-size 100k --threads 1 --json <"$T/cdr.csv.gz" >"$T/stdin-gz.out"
check "stdin, gzip: exit 3" "$?" 3
same stdin-gz "$T/gz.db"
check "stdin, gzip: detected" "$(json "$T/stdin-gz.out" "d['dialect'].split()[-1]")" compression=gzip

mkfifo "$T/fifo"
cat "$T/cdr.csv.zst" >"$T/fifo" &
writer=$!
sl ingest "$T/fifo" --schema "$SCHEMA" --db "$T/fifo.db" --chunk-size 20k --threads 2 --json >"$T/fifo.out"
check "FIFO, zstd: exit 3" "$?" 3
wait "$writer"
same fifo "$T/fifo.db"

sl_as prog ingest --from-program "gzip -dc '$T/cdr.csv.gz'" --schema "$SCHEMA" --db "$T/prog.db" --chunk-size 50k --json
check "--from-program: exit 3" "$(rc prog)" 3
same prog "$T/prog.db"
check "--from-program: the job names the command" "$(q "$T/prog.db" 'SELECT file FROM sluice_jobs')" "program:gzip -dc '$T/cdr.csv.gz'"
sl_as progfail ingest --from-program "head -c 100000 '$T/cdr.csv'; exit 7" --schema "$SCHEMA" --db "$T/pf.db" --json
check "a failing program: exit 4" "$(rc progfail)" 4
check "a failing program: IO_READ with its status" "$(json "$T/progfail.out" "d['error']['code'], 'exited with status 7' in d['error']['message']")" "IO_READ True"
sl_as both ingest "$T/cdr.csv" --from-program "cat x" --schema "$SCHEMA" --db "$T/both.db"
check "FILE and --from-program: usage" "$(rc both)" 2

sl validate - --schema "$SCHEMA" --chunk-size 40k --json <"$T/cdr.csv.gz" >"$T/val.out"
check "validate of standard input: exit 3" "$?" 3
check "validate of standard input: rows read" "$(json "$T/val.out" "d['rows_read']")" "$ROWS"

# a stream job killed in the middle cannot be resumed; the next stream is a new job
rm -rf "$T/p" && mkdir "$T/p"
SLUICE_TEST_PAUSE="2:$T/p" sl_start "$T/k.err" ingest --from-program "cat '$T/cdr.csv'" --schema "$SCHEMA" \
	--db "$T/k.db" --chunk-size 32k --threads 1 --quiet >/dev/null
pid=$BG_PID
wait_for "the stream ingest to pause before chunk 2" 3000 test -e "$T/p/paused"
sl_kill9 "$pid" "$T/k.err"
job=$(cat "$T/p/paused")
sl_as resume resume "$job" --db "$T/k.db" --json
check "resume of a stream job: refused (INVAL), exit 2" "$(rc resume)" 2
grep -q "cannot be resumed" "$T/resume.out" "$T/resume.err" && ok || bad "resume of a stream job: the reason ($(cat "$T/resume.err"))"
sl ingest - --schema "$SCHEMA" --db "$T/k.db" --chunk-size 32k --json <"$T/cdr.csv" >"$T/k2.out"
st=$?
# its rows of the first two chunks meet the killed job's: DUP_KEY (over
# the schema's error budget or not: 3 or 4)
case $st in 3 | 4) ok ;; *) bad "the stream again: exit $st" ;; esac
check "the stream again: two jobs" "$(q "$T/k.db" 'SELECT count(*) FROM sluice_jobs')" 2
check "the stream again: not a resume" "$(json "$T/k2.out" "d['resumed']")" False

# with --spool DIR the stream's copy is the job's file: the kill resumes
rm -rf "$T/p" "$T/kept" && mkdir "$T/p" "$T/kept"
SLUICE_TEST_PAUSE="3:$T/p" sl_start "$T/ks.err" ingest --from-program "cat '$T/cdr.csv.zst'" --spool "$T/kept" \
	--schema "$SCHEMA" --db "$T/ks.db" --chunk-size 32k --threads 2 --quiet >/dev/null
pid=$BG_PID
wait_for "the spooled stream ingest to pause before chunk 3" 3000 test -e "$T/p/paused"
sl_kill9 "$pid" "$T/ks.err"
job=$(cat "$T/p/paused")
check "--spool: the copy is the job's file" "$(q "$T/ks.db" 'SELECT file, file_size FROM sluice_jobs')" \
	"$(realpath "$T/kept/$job.stream")|$(stat -c %s "$T/cdr.csv.zst")"
cmp -s "$T/kept/$job.stream" "$T/cdr.csv.zst" && ok || bad "--spool: the copy differs from the stream"
sl_as kresume resume "$job" --db "$T/ks.db" --json
check "--spool: resume: exit 3" "$(rc kresume)" 3
check "--spool: resumed, one job" "$(json "$T/kresume.out" "d['resumed']")+$(q "$T/ks.db" 'SELECT count(*) FROM sluice_jobs')" "True+1"
table_is "$T/ks.db" "$T/cdr.csv" && ok || bad "--spool: after the kill: the table differs from the oracle's rows"
q "$T/ks.db" "SELECT record, line, code FROM sluice_rejects ORDER BY record" >"$T/got_rejects"
cmp -s "$T/want_rejects" "$T/got_rejects" && ok || bad "--spool: rejects differ: $(diff "$T/want_rejects" "$T/got_rejects" | head -3)"
sl_as nospool ingest --from-program "true" --spool "$T/nosuch" --schema "$SCHEMA" --db "$T/ns.db"
check "--spool into a missing directory: exit 4" "$(rc nospool)" 4

finish
