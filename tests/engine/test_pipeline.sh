#!/usr/bin/env bash
# The pipelined plan (issue 13, "Compressed files": the chunks the planning
# pass finds are handed to the local workers from that same pass): a
# single-process load of a gzip (one member, many members) or zstd file
# loads exactly the rows, rejects and counts of the plain file (the oracle:
# tests/lib/oracle.py and the generator's manifest) at several chunk sizes
# and thread counts; chunks commit while the plan is still being made (the
# job Chunking, its plan not complete, a bounded number of chunks stored
# ahead of the writer); a kill -9 in the middle of the pipelined plan
# resumes exactly once (planned again, the committed chunks kept, at the
# chunk size the job recorded even when the resume asks for another); a
# .gz truncated past the first chunks fails with IO_CORRUPT naming the
# compressed and decompressed offsets and keeps what committed, its
# counters adding up. Places are exact: SLUICE_TEST_PAUSE holds the writer
# before a chunk (no sleeps). S3: tests/s3/test_s3_pipeline.sh.
# Usage: test_pipeline.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
q() { sqlite3 -batch "$1" "$2"; }
command -v zstd >/dev/null || skip "no zstd command" installable
unset SLUICE_PIPELINE

ROWS=20000
sl_run gen cdr --rows $ROWS --error-rate 0.02 --seed 17 --manifest "$T/man.tsv" -o "$T/cdr.csv"
check "gen: exit" "$(rc)" 0
BAD=$(wc -l <"$T/man.tsv")
PLAIN=$(stat -c %s "$T/cdr.csv")
gzip -c "$T/cdr.csv" >"$T/single.csv.gz"
split -b 300000 "$T/cdr.csv" "$T/part."
for p in "$T"/part.*; do gzip -c "$p"; done >"$T/members.csv.gz"
zstd -q -c "$T/cdr.csv" >"$T/single.csv.zst"

rejects_of() { q "$1" "SELECT record, line, code FROM sluice_rejects ORDER BY record"; }
cdr_rejects "$T/man.tsv" | tr '\t' '|' >"$T/want_rejects"
# same DB NAME: the table and the rejects are the oracle's, the counters add up
same() {
	table_is "$1" "$T/cdr.csv" && ok || bad "$2: the table differs from the oracle's rows"
	rejects_of "$1" >"$T/got_rejects"
	cmp -s "$T/want_rejects" "$T/got_rejects" && ok ||
		bad "$2: rejects differ from the manifest: $(diff "$T/want_rejects" "$T/got_rejects" | head -3)"
	check "$2: the job's counters" \
		"$(q "$1" 'SELECT status, rows_read, rows_loaded, rows_rejected, bytes_total, chunks_total = chunks_succeeded FROM sluice_jobs')" \
		"PartiallySucceeded|$ROWS|$((ROWS - BAD))|$BAD|$PLAIN|1"
	check "$2: the chunks' counters add up to the job's" \
		"$(q "$1" 'SELECT sum(rows_read), sum(rows_loaded), count(*) FROM sluice_chunks')" \
		"$ROWS|$((ROWS - BAD))|$(q "$1" 'SELECT chunks_total FROM sluice_jobs')"
	check "$2: no key twice" "$(q "$1" 'SELECT count(*) - count(DISTINCT reference) FROM call_detail_records')" 0
}

# --- the same rows as the plain file, any chunk size and thread count --------------------------
load() {
	local name=$1 f=$2 cs=$3 th=$4 db=$T/$1-$3-$4.db
	sl_run ingest "$f" --schema "$SCHEMA" --db "$db" --chunk-size "$cs" --threads "$th" --json
	check "$name $cs x$th: exit 3" "$(rc)" 3
	check "$name $cs x$th: counts" "$(json "$T/out" "d['rows_read'], d['rows_loaded'], d['rows_rejected'], d['bytes']")" \
		"$ROWS $((ROWS - BAD)) $BAD $PLAIN"
	same "$db" "$name $cs x$th"
	check "$name $cs x$th: no access-point file left" "$(ls "$db"-*.points 2>/dev/null | wc -l)" 0
}
for f in single.csv.gz members.csv.gz single.csv.zst; do
	load "$f" "$T/$f" 48k 3
	load "$f" "$T/$f" 700k 1
	load "$f" "$T/$f" 9k 2
done

# --- pipelined: chunks commit while the plan is made ---------------------------------------------
# paused NAME FILE SEQ THREADS: an ingest of FILE into k-NAME.db held by the
# writer before chunk SEQ (chunks 0..SEQ-1 committed), in the background
paused() {
	rm -rf "$T/p" && mkdir "$T/p"
	SLUICE_TEST_PAUSE="$3:$T/p" sl_start "$T/$1.err" ingest "$2" --schema "$SCHEMA" --db "$T/k-$1.db" \
		--chunk-size 40k --threads "$4" --json >"$T/$1.json"
	pid=$BG_PID
	wait_for "$1: the ingest to pause before chunk $3" 3000 test -e "$T/p/paused"
	job=$(cat "$T/p/paused")
}
paused overlap "$T/single.csv.gz" 4 2
db=$T/k-overlap.db
check "overlap: 4 chunks committed while the job is still Chunking (its plan not complete)" \
	"$(q "$db" "SELECT status, chunks_total, (SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded') FROM sluice_jobs")" \
	"Chunking|0|4"
# the writer at chunk 4 has claimed the chunks of its two slots ahead:
# stored so far are chunks 0..6, whatever the planner found beyond them
# (it waits when threads + 1 found chunks are not taken)
check "overlap: the chunks stored ahead of the writer are bounded" "$(q "$db" 'SELECT count(*), max(seq) FROM sluice_chunks')" "7|6"
touch "$T/p/go"
sl_wait "$pid" "$T/overlap.err"
check "overlap: exit 3" "$?" 3
same "$db" "overlap"
check "overlap: more than 7 chunks in the end" "$(q "$db" 'SELECT count(*) > 7 FROM sluice_chunks')" 1

# --- kill -9 in the middle of a pipelined plan, resume exactly once -------------------------------
# killed NAME FILE [CHUNK]: held before chunk 4, killed; resumed (with
# --chunk-size CHUNK when given: the job's own size still cuts the chunks)
killed() {
	local name=$1 f=$2 db=$T/k-$1.db
	paused "$name" "$f" 4 2
	sl_kill9 "$pid" "$T/$name.err"
	check "$name: killed in the plan, 4 chunks committed" \
		"$(q "$db" "SELECT status, (SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded') FROM sluice_jobs")" "Chunking|4"
	local before
	before=$(q "$db" "SELECT group_concat(seq || ':' || rows_loaded) FROM sluice_chunks WHERE status = 'Succeeded' ORDER BY seq")
	sl_run ingest "$f" --schema "$SCHEMA" --db "$db" --chunk-size "${3:-40k}" --threads 2 --json
	check "$name: resume: exit 3" "$(rc)" 3
	check "$name: resumed, one job" "$(json "$T/out" "d['resumed']")+$(q "$db" 'SELECT count(*) FROM sluice_jobs')" "True+1"
	same "$db" "$name: after the kill"
	check "$name: the chunks committed before the kill kept as they were" \
		"$(q "$db" "SELECT group_concat(seq || ':' || rows_loaded) FROM sluice_chunks WHERE seq < 4 ORDER BY seq")" "$before"
	check "$name: each chunk committed once (one chunk_end event each)" \
		"$(q "$db" "SELECT count(*), count(DISTINCT chunk) FROM sluice_events WHERE kind = 'chunk_end'")" \
		"$(q "$db" 'SELECT chunks_total || "|" || chunks_total FROM sluice_jobs')"
	check "$name: the chunk size the job recorded" "$(q "$db" 'SELECT chunk_size FROM sluice_jobs')" 40960
}
killed gzip "$T/single.csv.gz"
killed members "$T/members.csv.gz" 100k
killed zstd "$T/single.csv.zst"

# --- a truncated .gz: IO_CORRUPT with offsets, what committed kept ------------------------------
# the split reads 4 MiB at a time: a file cut past its first read, so that
# chunks are found (and committed) before the damage is read
sl_run gen cdr --rows 60000 --error-rate 0.02 --seed 19 -o "$T/big.csv"
check "gen big: exit" "$(rc)" 0
gzip -c "$T/big.csv" >"$T/big.csv.gz"
sl_run ingest "$T/big.csv.gz" --schema "$SCHEMA" --db "$T/big.db" --chunk-size 40k --threads 2 --quiet
check "big: exit 3" "$(rc)" 3
table_is "$T/big.db" "$T/big.csv" && ok || bad "big: the table differs from the oracle's rows"
GZ=$(stat -c %s "$T/big.csv.gz")
head -c $((GZ * 85 / 100)) "$T/big.csv.gz" >"$T/cut.csv.gz"
paused cut "$T/cut.csv.gz" 2 2
touch "$T/p/go"
sl_wait "$pid" "$T/cut.err"
check "truncated: exit 4" "$?" 4
db=$T/k-cut.db
check "truncated: Failed, IO_CORRUPT" "$(q "$db" 'SELECT status, error_code FROM sluice_jobs')" "Failed|IO_CORRUPT"
json "$T/cut.json" "d['error']['message']" | grep -q "compressed byte [0-9]* (decompressed byte [0-9]*)" && ok ||
	bad "truncated: the offsets in the message ($(json "$T/cut.json" "d['error']" 2>&1))"
check "truncated: the chunks before the damage stay committed" \
	"$(q "$db" "SELECT count(*) >= 2 FROM sluice_chunks WHERE status = 'Succeeded'")" 1
check "truncated: their rows stay, and only theirs" \
	"$(q "$db" "SELECT (SELECT count(*) FROM call_detail_records) = (SELECT sum(rows_loaded) FROM sluice_chunks WHERE status = 'Succeeded')")" 1
check "truncated: the job's counters are its committed chunks'" \
	"$(q "$db" "SELECT j.rows_read = s.r AND j.rows_loaded = s.l AND j.rows_read = j.rows_loaded + j.rows_rejected FROM sluice_jobs j, (SELECT sum(rows_read) r, sum(rows_loaded) l FROM sluice_chunks WHERE status = 'Succeeded') s")" 1
# in file order: the committed chunks are the first ones, and each row
# kept is the oracle-checked load's row of the same key (no other)
check "truncated: the chunks committed are the first ones" \
	"$(q "$db" "SELECT max(seq) + 1 = count(*) FROM sluice_chunks WHERE status = 'Succeeded'")" 1
COLS="caller_id, recipient, call_date, end_time, duration, cost, reference, currency, _sluice_rec"
check "truncated: the rows kept are the good load's" \
	"$(q "$db" "ATTACH '$T/big.db' AS good; SELECT count(*) FROM (SELECT $COLS FROM call_detail_records EXCEPT SELECT $COLS FROM good.call_detail_records)")" 0
# a retry meets the same damage: the same failure, nothing loaded twice
kept=$(q "$db" 'SELECT count(*) FROM call_detail_records')
sl_run retry "$job" --db "$db" --json
check "truncated: retry: exit 4" "$(rc)" 4
check "truncated: retry: IO_CORRUPT again" "$(q "$db" 'SELECT status, error_code FROM sluice_jobs')" "Failed|IO_CORRUPT"
check "truncated: retry: no key twice, nothing lost" \
	"$(q "$db" 'SELECT count(*) - count(DISTINCT reference), count(*) >= '"$kept"' FROM call_detail_records')" "0|1"

finish
