#!/usr/bin/env bash
# Several files as one job (issue 13, "Streams and many files"): a plain, a
# gzip and a zstd file (keys repeated across them, one without its last
# newline) loaded by a glob sluice expands and by a list of paths give the
# table, rejects and counts of the same files loaded one after another
# (the oracle), at several chunk sizes and thread counts; every reject
# names its file with that file's own line and offset; chunks never span
# two files; a header that differs, a file ending inside a quoted field and
# an empty glob are refused by name; a kill -9 mid-job resumes exactly once,
# and a resume refuses when the set of files or one of them changed. The
# kill lands at an exact place: SLUICE_TEST_PAUSE holds the writer before a
# chunk (no sleeps).
# Usage: test_multifile.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
q() { sqlite3 -batch "$1" "$2"; }
command -v zstd >/dev/null || skip "no zstd command" installable

mkdir -p "$T/in" "$T/src"
for i in 1 2 3; do
	sl_run gen cdr --rows 3000 --error-rate 0.03 --seed $((20 + i)) -o "$T/src/f$i.csv"
	check "gen $i: exit" "$(rc)" 0
done
# keys repeated across files: rows of the first file again in the second
# and the third (the earliest file's row wins, the later are DUP_KEY)
{ cat "$T/src/f2.csv"; sed -n '100,140p' "$T/src/f1.csv"; } >"$T/src/b.csv"
{ cat "$T/src/f3.csv"; sed -n '2000,2010p' "$T/src/f1.csv"; } >"$T/src/c.csv"
# the last file ends without its newline
printf '%s' "$(cat "$T/src/c.csv")" >"$T/src/c2.csv"
cp "$T/src/f1.csv" "$T/in/a.csv"
gzip -c "$T/src/b.csv" >"$T/in/b.csv.gz"
zstd -q -c "$T/src/c2.csv" >"$T/in/c.csv.zst"
FILES=("$T/in/a.csv" "$T/in/b.csv.gz" "$T/in/c.csv.zst")

# the oracle: the files loaded one after another, in name order
for f in "${FILES[@]}"; do
	sl_run ingest "$f" --schema "$SCHEMA" --db "$T/oracle.db" --quiet
	check "oracle $(basename "$f"): exit 3" "$(rc)" 3
done
table_of() { q "$1" "SELECT caller_id,recipient,call_date,end_time,duration,cost,reference,currency FROM call_detail_records ORDER BY reference"; }
# rejects as "file|line|offset|code|raw" (a single load's file is its job's)
q "$T/oracle.db" "SELECT j.file, r.line, r.offset, r.code, hex(r.raw) FROM sluice_rejects r JOIN sluice_jobs j ON j.id = r.job_id ORDER BY j.seq, r.record" >"$T/want_rejects"
rejects_of() { q "$1" "SELECT r.file, r.line, r.offset, r.code, hex(r.raw) FROM sluice_rejects r ORDER BY r.record"; }
table_of "$T/oracle.db" >"$T/want_table"
WANT_COUNTS=$(q "$T/oracle.db" "SELECT sum(rows_read), sum(rows_loaded), sum(rows_rejected) FROM sluice_jobs" | tr '|' ' ')
check "oracle: DUP_KEY across files present" "$(q "$T/oracle.db" "SELECT count(*) >= 50 FROM sluice_rejects WHERE code = 'DUP_KEY'")" 1

# same NAME DB: the table, rejects and counts of the oracle; chunks within one file
same() {
	local name=$1 db=$2
	table_of "$db" >"$T/got_table"
	cmp -s "$T/want_table" "$T/got_table" && ok || bad "$name: the table differs from the oracle's: $(diff "$T/want_table" "$T/got_table" | head -3)"
	rejects_of "$db" >"$T/got_rejects"
	cmp -s "$T/want_rejects" "$T/got_rejects" && ok || bad "$name: rejects differ from the oracle's: $(diff "$T/want_rejects" "$T/got_rejects" | head -3)"
	check "$name: counts" "$(q "$db" "SELECT rows_read, rows_loaded, rows_rejected FROM sluice_jobs" | tr '|' ' ')" "$WANT_COUNTS"
	check "$name: one job" "$(q "$db" "SELECT count(*) FROM sluice_jobs")" 1
	check "$name: no key twice" "$(q "$db" 'SELECT count(*) - count(DISTINCT reference) FROM call_detail_records')" 0
	# every file's start is a chunk's start
	local starts
	starts=$(q "$db" "SELECT files FROM sluice_jobs" | awk -F'\t' 'NF > 5 && $7 > 0 {print $6}')
	for s in $starts; do
		check "$name: a chunk starts at byte $s (a file's start)" "$(q "$db" "SELECT count(*) FROM sluice_chunks WHERE offset = $s")" 1
	done
}

# --- a glob sluice expands, at several chunk sizes and thread counts ----------------------
for v in 16k:3 50k:2 700k:1 5k:2; do
	cs=${v%%:*} th=${v##*:} db=$T/glob-$cs-$th.db
	sl_run ingest "$T/in/*" --schema "$SCHEMA" --db "$db" --chunk-size "$cs" --threads "$th" --json
	check "glob $cs x$th: exit 3" "$(rc)" 3
	same "glob $cs x$th" "$db"
done
check "the job's file is the glob" "$(json "$T/out" "d['file']")" "glob:$T/in/*"
check "the job lists its files in name order" "$(json "$T/out" "' '.join(f['path'].rsplit('/', 1)[1] + ':' + f['compression'] for f in d['files'])")" \
	"a.csv:none b.csv.gz:gzip c.csv.zst:zstd"
check "each file's size" "$(json "$T/out" "' '.join(str(f['size']) for f in d['files'])")" \
	"$(stat -c %s "${FILES[@]}" | tr '\n' ' ' | sed 's/ $//')"

# --- several paths (a glob the shell expanded), in any order ---------------------------------
sl_run ingest "$T/in/c.csv.zst" "$T/in/a.csv" "$T/in/b.csv.gz" --schema "$SCHEMA" --db "$T/paths.db" --chunk-size 30k --json
check "paths: exit 3" "$(rc)" 3
same "paths" "$T/paths.db"
check "paths: the job's file lists them sorted" "$(json "$T/out" "d['file'].split(chr(10))[0]")" "files:$T/in/a.csv"
# the same set again: loaded already (the content of the set)
sl_run ingest "$T/in/a.csv" "$T/in/b.csv.gz" "$T/in/c.csv.zst" --schema "$SCHEMA" --db "$T/paths.db" --json
check "the same paths again: loaded already" "$(json "$T/out" "d['already_loaded']")" True

# --- rejects name their file in the errors CSV, JSON lines and the dry run -------------------
JOB=$(q "$T/paths.db" "SELECT id FROM sluice_jobs")
sl_run errors "$JOB" --db "$T/paths.db"
check "errors CSV: the header ends with file" "$(head -1 "$T/out")" "record,line,offset,chunk,column,code,message,raw,file"
check "errors CSV: rows end with their file" "$(tail -n +2 "$T/out" | grep -c ",$T/in/b.csv.gz\$")" \
	"$(grep -c "^$T/in/b.csv.gz|" "$T/want_rejects")"
sl_run errors "$JOB" --db "$T/paths.db" --format jsonl
check "errors JSON lines: each names a file of the set" \
	"$(python3 -c "import json,sys; print(sorted(set(json.loads(l)['file'].rsplit('/',1)[1] for l in open(sys.argv[1]))))" "$T/out")" \
	"['a.csv', 'b.csv.gz', 'c.csv.zst']"
sl_run validate "$T/in/*" --schema "$SCHEMA" --chunk-size 20k --errors-out "$T/v.csv" --quiet
check "validate of a glob: exit 3" "$(rc)" 3
check "validate: its errors CSV names the files" "$(head -1 "$T/v.csv")|$(tail -n +2 "$T/v.csv" | grep -c ",$T/in/c.csv.zst\$")" \
	"record,line,offset,chunk,column,code,message,raw,file|$(grep "^$T/in/c.csv.zst|" "$T/want_rejects" | grep -vc '|DUP_KEY|')"

sl_run validate "$T/in/*" --schema "$SCHEMA"
check "validate's listing names the file of every line" \
	"$(grep -c "^$T/in/[^:]*: line [0-9]* (record [0-9]*) " "$T/out") $(grep -c "^$T/in/b.csv.gz: line " "$T/out" | sed 's/^[1-9][0-9]*$/some/')" \
	"$(grep -c ' (record [0-9]*) ' "$T/out") some"

# a refeed of the set's rejects starts its input with the first file's header
sl_run refeed "$JOB" --db "$T/paths.db" --json
check "refeed of a set's job: it reads every reject" "$(json "$T/out" "d['rows_read'], d.get('error')")" "$(q "$T/paths.db" "SELECT rows_rejected FROM sluice_jobs WHERE id = '$JOB'") None"

# --- refusals by name -----------------------------------------------------------------------
mkdir -p "$T/hdr"
cp "$T/in/a.csv" "$T/hdr/1.csv"
sed '1s/currency/money/' "$T/src/f2.csv" >"$T/hdr/2.csv"
sl_run ingest "$T/hdr/*.csv" --schema "$SCHEMA" --db "$T/hdr.db"
check "a header that differs: exit 4" "$(rc)" 4
grep -q "$T/hdr/2.csv: its header differs from that of $T/hdr/1.csv" "$T/err" "$T/out" && ok ||
	bad "a header that differs: the message names the file ($(cat "$T/err" "$T/out" | head -3))"
grep -q FATAL_HEADER "$T/err" "$T/out" && ok || bad "a header that differs: FATAL_HEADER ($(cat "$T/err" | head -2))"
sl_run ingest "$T/none/*.csv" --schema "$SCHEMA" --db "$T/none.db"
check "a glob matching nothing: fails" "$(rc)" 4
grep -q "no file matches" "$T/err" "$T/out" && ok || bad "a glob matching nothing: the message ($(cat "$T/err"))"
mkdir -p "$T/quote"
cp "$T/in/a.csv" "$T/quote/1.csv"
printf '1,2,"open\n' >>"$T/quote/1.csv"
cp "$T/src/f2.csv" "$T/quote/2.csv"
sl_run ingest "$T/quote/*.csv" --schema "$SCHEMA" --db "$T/quote.db" --json
check "a file ending inside a quoted field: exit 4" "$(rc)" 4
check "a file ending inside a quoted field: IO_CORRUPT" "$(json "$T/out" "d['error']['code']")" IO_CORRUPT
json "$T/out" "d['error']['message']" | grep -q "$T/quote/1.csv ends inside a quoted field" && ok ||
	bad "a file ending inside a quoted field: the message ($(json "$T/out" "d['error']"))"

# --- kill -9 mid-job, resume exactly once; a changed set refuses -------------------------------
# paused NAME SEQ: an ingest of the glob into k-NAME.db held before chunk SEQ (pid, job)
paused() {
	rm -rf "$T/p" && mkdir "$T/p"
	SLUICE_TEST_PAUSE="$2:$T/p" sl_start "$T/$1.err" ingest "$T/in/*" --schema "$SCHEMA" --db "$T/k-$1.db" \
		--chunk-size 20k --threads 2 --quiet >/dev/null
	pid=$BG_PID
	wait_for "$1: the ingest to pause before chunk $2" 3000 test -e "$T/p/paused"
	job=$(cat "$T/p/paused")
}
# chunk 14 is in the second file (about 10 chunks a file at 20k)
paused kill 14
sl_kill9 "$pid" "$T/kill.err"
check "kill: 14 chunks committed" "$(q "$T/k-kill.db" "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'")" 14
sl_run ingest "$T/in/*" --schema "$SCHEMA" --db "$T/k-kill.db" --chunk-size 20k --threads 2 --json
check "kill: resume: exit 3" "$(rc)" 3
check "kill: resumed, one job" "$(json "$T/out" "d['resumed']")+$(json "$T/out" "d['job_id']")" "True+$job"
same "kill, resumed" "$T/k-kill.db"

# refused NAME WHAT [resume]: the resume of k-NAME.db (by the glob, or by
# sluice resume) fails with IO_CHANGED, naming the file as WHAT says; the
# job stays as it was, unfinished
refused() {
	if [ "${3:-}" = resume ]; then
		sl_run resume "$job" --db "$T/k-$1.db"
	else
		sl_run ingest "$T/in/*" --schema "$SCHEMA" --db "$T/k-$1.db"
	fi
	check "$1: the resume refused: exit 4" "$(rc)" 4
	grep -q "IO_CHANGED" "$T/err" && ok || bad "$1: IO_CHANGED ($(cat "$T/err"))"
	grep -qF "$2 since job $job was planned: the set of files changed" "$T/err" && ok ||
		bad "$1: the message names the file ($(cat "$T/err"))"
	check "$1: the job stays unfinished" "$(q "$T/k-$1.db" "SELECT status FROM sluice_jobs")" Processing
}
# then, the set as it was: the resume runs, exactly once
resumed() {
	sl_run ingest "$T/in/*" --schema "$SCHEMA" --db "$T/k-$1.db" --chunk-size 20k --threads 2 --json
	check "$1: the set restored: the resume runs: exit 3" "$(rc)" 3
	same "$1, resumed" "$T/k-$1.db"
}

# a file added to the set
paused added 5
sl_kill9 "$pid" "$T/added.err"
cp "$T/src/f2.csv" "$T/in/b2.csv"
refused added "$T/in/b2.csv is new in the set"
rm -f "$T/in/b2.csv"
resumed added

# a file of the set changed (same size, another time), by sluice resume
paused touched 5
sl_kill9 "$pid" "$T/touched.err"
cp -p "$T/in/b.csv.gz" "$T/b.keep"
touch -d '2001-01-01' "$T/in/b.csv.gz"
refused touched "$T/in/b.csv.gz has another modification time" resume
touch -r "$T/b.keep" "$T/in/b.csv.gz"
resumed touched

# a file gone
paused gone 5
sl_kill9 "$pid" "$T/gone.err"
mv "$T/in/c.csv.zst" "$T/c.keep"
refused gone "$T/in/c.csv.zst is gone from the set"
mv "$T/c.keep" "$T/in/c.csv.zst"
resumed gone

# a file's bytes changed in place (same size and time) after it was
# planned: a chunk of it finds its hash changed, the job fails
paused bytes 3
sl_kill9 "$pid" "$T/bytes.err"
cp -p "$T/in/a.csv" "$T/a.keep"
python3 - "$T/in/a.csv" <<'PY'
import os, sys
st = os.stat(sys.argv[1])
f = open(sys.argv[1], 'r+b'); f.seek(st.st_size - 300); b = f.read(1); f.seek(st.st_size - 300); f.write(b'9' if b != b'9' else b'8'); f.close()
os.utime(sys.argv[1], ns=(st.st_atime_ns, st.st_mtime_ns))
PY
sl_run ingest "$T/in/*" --schema "$SCHEMA" --db "$T/k-bytes.db" --chunk-size 20k --threads 1 --json
check "bytes changed: exit 4" "$(rc)" 4
check "bytes changed: Failed, IO_CHANGED" "$(q "$T/k-bytes.db" "SELECT status, error_code FROM sluice_jobs")" "Failed|IO_CHANGED"
cp -p "$T/a.keep" "$T/in/a.csv"

# the access points gone: a resume decodes the compressed files again, the same rows
paused nopoints 13
sl_kill9 "$pid" "$T/nopoints.err"
rm -f "$T/k-nopoints.db"-*.points
sl_run ingest "$T/in/*" --schema "$SCHEMA" --db "$T/k-nopoints.db" --chunk-size 20k --threads 1 --json
check "no points: resume: exit 3" "$(rc)" 3
same "no points, resumed" "$T/k-nopoints.db"

finish
