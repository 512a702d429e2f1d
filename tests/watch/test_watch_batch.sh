#!/usr/bin/env bash
# Drop-folder batches (issue 13, "Streams and many files"): a directory in
# the folder is a batch, its files one job, taken when it was moved in or
# when NAME.done marks it (never by settling); it goes through processing/
# to done/ or failed/ with NAME.json beside it as a file does. Checked: a
# batch moved in (plain + gzip + zstd) and one marked, against the oracle of
# the files loaded one after another; the same batch again is a duplicate; a
# batch whose headers differ and an empty one go to failed/; a directory
# written in place without a marker waits; kill -9 mid-batch and a restart
# load every row once. Every wait polls a state (wait_for), the kill lands
# at a chunk boundary (SLUICE_TEST_PAUSE).
# Usage: test_watch_batch.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
command -v zstd >/dev/null || skip "no zstd command" installable
at_exit() {
	[ -d "$T/p" ] && touch "$T/p/go"
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
}
q() { sqlite3 -batch "$1" "$2"; }

mkdir -p "$T/src"
for i in 1 2 3; do
	sl_run gen cdr --rows 1500 --error-rate 0.03 --seed $((40 + i)) -o "$T/src/f$i.csv"
	check "gen $i: exit" "$(rc)" 0
done
# batch B: a plain, a gzip and a zstd file (the second repeats keys of the first)
mkb() {
	mkdir -p "$1"
	cp "$T/src/f1.csv" "$1/1.csv"
	{ cat "$T/src/f2.csv"; sed -n '10,30p' "$T/src/f1.csv"; } | gzip -c >"$1/2.csv.gz"
	zstd -q -c "$T/src/f3.csv" >"$1/3.csv.zst"
}
mkb "$T/b1"
# the oracle: the three files one after another
for f in "$T/b1/1.csv" "$T/b1/2.csv.gz" "$T/b1/3.csv.zst"; do
	sl_run ingest "$f" --schema "$SCHEMA" --db "$T/oracle.db" --quiet
	check "oracle $(basename "$f"): exit 3" "$(rc)" 3
done
table_of() { q "$1" "SELECT caller_id,recipient,call_date,end_time,duration,cost,reference,currency FROM call_detail_records ORDER BY reference"; }
table_of "$T/oracle.db" >"$T/want_table"
# rejects as "file name|line|offset|code": the file's own positions
q "$T/oracle.db" "SELECT replace(j.file, rtrim(j.file, replace(j.file, '/', '')), ''), r.line, r.offset, r.code FROM sluice_rejects r JOIN sluice_jobs j ON j.id = r.job_id ORDER BY j.seq, r.record" >"$T/want_rejects"
WANT=$(q "$T/oracle.db" "SELECT sum(rows_read), sum(rows_loaded), sum(rows_rejected) FROM sluice_jobs" | tr '|' ' ')
rejects_of() { q "$1" "SELECT replace(file, rtrim(file, replace(file, '/', '')), ''), line, offset, code FROM sluice_rejects WHERE job_id = '$2' ORDER BY record"; }

# same WHAT DB JSON: the batch's job as the oracle (table, rejects, counts)
same() {
	table_of "$2" >"$T/got_table"
	cmp -s "$T/want_table" "$T/got_table" && ok || bad "$1: the table differs from the oracle's: $(diff "$T/want_table" "$T/got_table" | head -3)"
	rejects_of "$2" "$(json "$3" "d['job_id']")" >"$T/got_rejects"
	cmp -s "$T/want_rejects" "$T/got_rejects" && ok || bad "$1: rejects differ: $(diff "$T/want_rejects" "$T/got_rejects" | head -3)"
	check "$1: counts" "$(json "$3" "d['rows_read'], d['rows_loaded'], d['rows_rejected']")" "$WANT"
	check "$1: the job lists the batch's files" "$(json "$3" "' '.join(f['path'].rsplit('/', 1)[1] for f in d['files'])")" "1.csv 2.csv.gz 3.csv.zst"
}

start_watch() {
	local n=$1 d=$2
	shift 2
	mkdir -p "$d"
	: >"$T/$n.err"
	sl_start "$T/$n.err" watch "$d" --schema "$SCHEMA" --db "$T/$n.db" --json "$@" >"$T/$n.out"
	WPID=$BG_PID
	wait_for "watcher $n: the first listing" 1500 grep -q "listed the folder (start)" "$T/$n.err"
}

# --- moved in, marked, again, refused ---------------------------------------------------------
D=$T/drop
start_watch w1 "$D" --settle 0.2 --chunk-size 16k
mv "$T/b1" "$D/batch1"
wait_for "batch1 moved in: done/batch1.json" 1500 test -e "$D/done/batch1.json"
check "moved in: taken as moved, in done/" "$(json "$D/done/batch1.json" "d['status'], d['drop']['taken'], d['drop']['path']")" "PartiallySucceeded moved done/batch1"
check "moved in: the directory and its files are in done/" "$(ls "$D/done/batch1" | tr '\n' ' ')" "1.csv 2.csv.gz 3.csv.zst "
same "moved in" "$T/w1.db" "$D/done/batch1.json"
FIRST=$(json "$D/done/batch1.json" "d['job_id']")

# written in place: waits for its marker, whatever the settle time
mkb "$D/batch2"
# past the settle time (0.2 s) by far, then a probe moved in and taken: the
# loop has looked at the folder since
wait_for "two seconds past the batch's last write" 1500 sh -c "test \$((\$(date +%s) - \$(stat -c %Y '$D/batch2/3.csv.zst'))) -ge 2"
head -1 "$T/src/f1.csv" >"$T/probe.tmp" && mv "$T/probe.tmp" "$D/probe.csv"
wait_for "the probe" 1500 test -e "$D/done/probe.csv.json"
check "written in place without a marker: the batch waits" "$(test -d "$D/batch2" && echo waiting)" waiting
touch "$D/batch2.done"
wait_for "batch2 with its marker" 1500 test -e "$D/done/batch2.json"
check "marked: taken by the marker, the marker removed" "$(json "$D/done/batch2.json" "d['drop']['taken']") $(test -e "$D/batch2.done" && echo left || echo removed)" "marker removed"
check "the same batch again: a duplicate of the first" "$(json "$D/done/batch2.json" "d['duplicate_of'], d['rows_loaded']")" "$FIRST 0"
check "the table as after the first batch" "$(table_of "$T/w1.db" | md5sum)" "$(md5sum <"$T/want_table")"

# headers that differ: failed/, the job says which file
mkdir -p "$T/b3"
cp "$T/src/f1.csv" "$T/b3/a.csv"
sed '1s/cost/price/' "$T/src/f2.csv" >"$T/b3/b.csv"
mv "$T/b3" "$D/batch3"
wait_for "batch3" 1500 test -e "$D/failed/batch3.json"
check "headers differ: failed/, FATAL_HEADER" "$(json "$D/failed/batch3.json" "d['drop']['path']") $(json "$D/failed/batch3.json" "d['drop']['error']" | grep -o 'FATAL_HEADER')" "failed/batch3 FATAL_HEADER"
json "$D/failed/batch3.json" "d['drop']['error']" | grep -q "batch3/b.csv: its header differs" && ok ||
	bad "headers differ: the file named ($(json "$D/failed/batch3.json" "d['drop']['error']"))"
# an empty batch: failed/, nothing matches
mkdir "$T/b4" && mv "$T/b4" "$D/batch4"
wait_for "batch4" 1500 test -e "$D/failed/batch4.json"
json "$D/failed/batch4.json" "d['drop']['error']" | grep -q "no file matches" && ok ||
	bad "an empty batch: the reason ($(json "$D/failed/batch4.json" "d['drop']"))"
kill -TERM "$WPID"
sl_wait "$WPID" "$T/w1.err"
check "watcher w1: exit 0 on SIGTERM" "$?" 0

# --- kill -9 mid-batch, then a restart: every row once ----------------------------------------
D=$T/mid
mkdir -p "$D" "$T/p"
mkb "$T/b5"
SLUICE_TEST_PAUSE=12:$T/p sl_start "$T/mid.err" watch "$D" --schema "$SCHEMA" --db "$T/mid.db" --json --settle off --threads 1 --chunk-size 16k
WPID=$BG_PID
wait_for "the first listing" 1500 grep -q "listed the folder (start)" "$T/mid.err"
mv "$T/b5" "$D/batch5"
wait_for "the batch's job held before chunk 12" 1500 test -e "$T/p/paused"
sl_kill9 "$WPID" "$T/mid.err"
check "killed: the batch waits in processing/" "$(ls "$D/processing")" "batch5"
check "killed: 12 chunks committed" "$(q "$T/mid.db" "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'")" 12
sl_run watch "$D" --schema "$SCHEMA" --db "$T/mid.db" --once --json --chunk-size 16k
check "restart: --once exits 3" "$(rc)" 3
test -e "$D/done/batch5.json" && ok || bad "restart: no done/batch5.json ($(cat "$T/err"))"
check "restart: resumed, one job" "$(json "$D/done/batch5.json" "d['resumed'], d['job_id']") $(q "$T/mid.db" 'SELECT count(*) FROM sluice_jobs')" "True $(cat "$T/p/paused") 1"
same "restart" "$T/mid.db" "$D/done/batch5.json"
check "restart: nothing left in processing/" "$(ls -A "$D/processing" | tr '\n' ' ')" ".lock "

finish
