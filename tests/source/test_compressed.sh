#!/usr/bin/env bash
# Compressed files end to end (issue 13, "Compressed files"): gzip as gzip,
# pigz and bgzip write it (single member, many members, BGZF blocks) and
# zstd (one frame, many frames), detected by magic bytes, load exactly the
# rows, rejects and counts of the plain file at several chunk sizes and
# thread counts (the oracle: tests/lib/oracle.py and the generator's
# manifest); a kill -9 in the middle of a gzip and of a zstd load resumes
# exactly once, from the chunks' access points (DB-JOBID.points) or, when
# that file is gone, from the start; corrupt and truncated archives fail
# with IO_CORRUPT naming the compressed and decompressed offsets, keeping
# what committed. The kill lands at an exact place: SLUICE_TEST_PAUSE holds
# the writer before a chunk (no sleeps).
# Usage: test_compressed.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
q() { sqlite3 -batch "$1" "$2"; }
command -v zstd >/dev/null || skip "no zstd command" installable
command -v pigz >/dev/null || skip "no pigz command (Debian: pigz)" installable
command -v bgzip >/dev/null || skip "no bgzip command (Debian: tabix)" installable

ROWS=20000
sl_run gen cdr --rows $ROWS --error-rate 0.02 --seed 13 --manifest "$T/man.tsv" -o "$T/cdr.csv"
check "gen: exit" "$(rc)" 0
BAD=$(wc -l <"$T/man.tsv")
PLAIN=$(stat -c %s "$T/cdr.csv")

# the variants, all of the same bytes
gzip -c "$T/cdr.csv" >"$T/single.csv.gz"
pigz -c -b 128 -p 2 "$T/cdr.csv" >"$T/pigz.csv.gz"
# members: pigz --independent still writes one member; cat of gzip files is many
split -b 300000 "$T/cdr.csv" "$T/part."
for p in "$T"/part.*; do gzip -c "$p"; done >"$T/members.csv.gz"
bgzip -c "$T/cdr.csv" >"$T/bgzf.csv.gz"
zstd -q -c "$T/cdr.csv" >"$T/single.csv.zst"
for p in "$T"/part.*; do zstd -q -c "$p"; done >"$T/frames.csv.zst"
# the names say nothing: detection is by magic bytes
cp "$T/frames.csv.zst" "$T/frames.data"

# rejects of DB as "record line code", file order
rejects_of() { q "$1" "SELECT record, line, code FROM sluice_rejects ORDER BY record"; }
cdr_rejects "$T/man.tsv" | tr '\t' '|' >"$T/want_rejects"

sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/plain.db" --chunk-size 64k --quiet
check "plain: exit 3" "$(rc)" 3
table_is "$T/plain.db" "$T/cdr.csv" && ok || bad "plain: the table differs from the oracle's rows"

# load NAME FILE KIND CHUNK THREADS: the same as the plain file
load() {
	local name=$1 f=$2 kind=$3 cs=$4 th=$5 db=$T/$1-$4-$5.db
	sl_run ingest "$f" --schema "$SCHEMA" --db "$db" --chunk-size "$cs" --threads "$th" --json
	check "$name $cs x$th: exit 3" "$(rc)" 3
	check "$name $cs x$th: counts" "$(json "$T/out" "d['rows_read'], d['rows_loaded'], d['rows_rejected'], d['bytes']")" "$ROWS $((ROWS - BAD)) $BAD $PLAIN"
	check "$name $cs x$th: the decoder recorded" "$(json "$T/out" "d['dialect'].split()[-1]")" "compression=$kind"
	check "$name $cs x$th: fingerprint is the compressed file's" \
		"$(q "$db" 'SELECT file_size FROM sluice_jobs')" "$(stat -c %s "$f")"
	table_is "$db" "$T/cdr.csv" && ok || bad "$name $cs x$th: the table differs from the oracle's rows"
	rejects_of "$db" >"$T/got_rejects"
	cmp -s "$T/want_rejects" "$T/got_rejects" && ok || bad "$name $cs x$th: rejects differ from the manifest: $(diff "$T/want_rejects" "$T/got_rejects" | head -3)"
	check "$name $cs x$th: no access-point file left after success" "$(ls "$db"-*.points 2>/dev/null | wc -l)" 0
}
for v in single.csv.gz:gzip pigz.csv.gz:gzip members.csv.gz:gzip bgzf.csv.gz:gzip \
	single.csv.zst:zstd frames.csv.zst:zstd frames.data:zstd; do
	f=${v%%:*} kind=${v##*:}
	load "$f" "$T/$f" "$kind" 48k 3
	load "$f" "$T/$f" "$kind" 700k 1
done
load members-small "$T/members.csv.gz" gzip 9k 2

# the same content compressed is another file: a plain load does not make
# the .gz "loaded already" (its fingerprint is the compressed bytes)
sl_run ingest "$T/single.csv.gz" --schema "$SCHEMA" --db "$T/plain.db" --json
check "the .gz after the plain file: a new job (every row a DUP_KEY): exit 4" "$(rc)" 4
check "the .gz after the plain file: not 'loaded already'" "$(json "$T/out" "d['already_loaded']")" False
# and the same .gz again is (the compressed file's hash)
sl_run ingest "$T/single.csv.gz" --schema "$SCHEMA" --db "$T/single.csv.gz-48k-3.db" --json
check "the same .gz again: reported as loaded" "$(json "$T/out" "d['already_loaded']")" True

# file:// names the same file; an unknown scheme is refused by name
sl_run ingest "file://$T/single.csv.gz" --schema "$SCHEMA" --db "$T/single.csv.gz-48k-3.db" --json
check "file:// of the same .gz: the same file, loaded already" "$(json "$T/out" "d['file'], d['already_loaded']")" "$T/single.csv.gz True"
sl_run ingest "nosuch://bucket/key" --schema "$SCHEMA" --db "$T/nosuch.db"
check "an unknown scheme: usage (INVAL)" "$(rc)" 2
grep -q "no source for the scheme 'nosuch://'" "$T/err" && ok || bad "an unknown scheme: the message ($(cat "$T/err"))"

# --- --compression ----------------------------------------------------------------------
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/forced.db" --compression gzip --json
check "--compression gzip on a plain file: exit 4" "$(rc)" 4
check "--compression gzip on a plain file: IO_CORRUPT" "$(json "$T/out" "d['error']['code']")" IO_CORRUPT
sl_run ingest "$T/single.csv.gz" --schema "$SCHEMA" --db "$T/forced.db" --compression lz4
check "--compression lz4: usage error" "$(rc)" 2
sl_run ingest "$T/single.csv.zst" --schema "$SCHEMA" --db "$T/forced2.db" --compression zstd --quiet
check "--compression zstd on a .zst: exit 3" "$(rc)" 3
sl_run validate "$T/members.csv.gz" --schema "$SCHEMA" --chunk-size 50k --json
check "validate of a .gz: exit 3" "$(rc)" 3
check "validate of a .gz: the rejects, without DUP_KEY" "$(json "$T/out" "d['rows_read'], d['rows_rejected']")" \
	"$ROWS $((BAD - $(awk -F'\t' '$3 == "DUP_REFERENCE"' "$T/man.tsv" | wc -l)))"

# --- kill -9 in the middle, resume exactly once ----------------------------------------------
# paused NAME FILE SEQ THREADS: an ingest of FILE into k-NAME.db held by the
# writer before chunk SEQ, in the background (its pid in pid, job in job).
# Planned whole first (SLUICE_PIPELINE=0): these test a resume from the
# access points of a complete plan; a kill in a pipelined plan is
# tests/engine/test_pipeline.sh's
paused() {
	rm -rf "$T/p" && mkdir "$T/p"
	SLUICE_PIPELINE=0 SLUICE_TEST_PAUSE="$3:$T/p" sl_start "$T/$1.err" ingest "$2" --schema "$SCHEMA" --db "$T/k-$1.db" \
		--chunk-size 40k --threads "$4" --quiet >/dev/null
	pid=$BG_PID
	wait_for "$1: the ingest to pause before chunk $3" 3000 test -e "$T/p/paused"
	job=$(cat "$T/p/paused")
}
# killed NAME FILE [keep]: an ingest held before chunk 4 (chunks 0..3
# committed), killed there; without keep its access points are removed
# before the resume (it decodes from the start then)
killed() {
	local name=$1 f=$2 db=$T/k-$1.db
	paused "$name" "$f" 4 2
	sl_kill9 "$pid" "$T/$name.err"
	check "$name: killed with 4 chunks committed" "$(q "$db" "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'")" 4
	check "$name: the access points are kept" "$(ls "$db-$job.points" 2>/dev/null | wc -l)" 1
	[ "${3:-}" = keep ] || rm -f "$db-$job.points"
	sl_run ingest "$f" --schema "$SCHEMA" --db "$db" --chunk-size 40k --threads 2 --json
	check "$name: resume: exit 3" "$(rc)" 3
	check "$name: resumed, one job" "$(json "$T/out" "d['resumed']")+$(q "$db" 'SELECT count(*) FROM sluice_jobs')" "True+1"
	table_is "$db" "$T/cdr.csv" && ok || bad "$name: after the kill: the table differs from the oracle's rows"
	rejects_of "$db" >"$T/got_rejects"
	cmp -s "$T/want_rejects" "$T/got_rejects" && ok || bad "$name: after the kill: rejects differ: $(diff "$T/want_rejects" "$T/got_rejects" | head -3)"
	check "$name: no key twice" "$(q "$db" 'SELECT count(*) - count(DISTINCT reference) FROM call_detail_records')" 0
}
killed gzip "$T/single.csv.gz" keep
killed gzip-nopoints "$T/single.csv.gz"
killed bgzf "$T/bgzf.csv.gz" keep
killed zstd-frames "$T/frames.csv.zst" keep
killed zstd-single "$T/single.csv.zst" keep

# --- corrupt and truncated archives ---------------------------------------------------------
# corrupt NAME FILE: the load fails with IO_CORRUPT at a place, nothing half-loaded
# (planned whole first; a pipelined one commits what it read before the damage:
# tests/engine/test_pipeline.sh)
corrupt() {
	local name=$1 f=$2 db=$T/c-$1.db
	SLUICE_PIPELINE=0 sl_run ingest "$f" --schema "$SCHEMA" --db "$db" --chunk-size 40k --json
	check "$name: exit 4" "$(rc)" 4
	check "$name: Failed, IO_CORRUPT" "$(q "$db" 'SELECT status, error_code FROM sluice_jobs')" "Failed|IO_CORRUPT"
	json "$T/out" "d['error']['message']" | grep -q "compressed byte [0-9]* (decompressed byte [0-9]*)" && ok ||
		bad "$name: the offsets in the message ($(json "$T/out" "d['error']"))"
	check "$name: no row loaded" "$(q "$db" 'SELECT count(*) FROM call_detail_records' 2>/dev/null || echo 0)" 0
}
GZ=$(stat -c %s "$T/single.csv.gz")
head -c $((GZ / 2)) "$T/single.csv.gz" >"$T/cut.csv.gz"
corrupt gzip-truncated "$T/cut.csv.gz"
python3 - "$T/single.csv.gz" "$T/flip.csv.gz" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read()); b[len(b) // 3] ^= 0xff
open(sys.argv[2], 'wb').write(b)
PY
corrupt gzip-flipped "$T/flip.csv.gz"
ZS=$(stat -c %s "$T/single.csv.zst")
head -c $((ZS - 100)) "$T/single.csv.zst" >"$T/cut.csv.zst"
corrupt zstd-truncated "$T/cut.csv.zst"

# damaged after planning (same size and time), found on resume by a chunk
# that decodes it from its access point: the job fails, the chunks
# committed before stay. (The run that planned reads its own spool of the
# decoded bytes, checked against the plan: a change after planning does not
# reach it.)
cp "$T/bgzf.csv.gz" "$T/late.csv.gz"
paused late "$T/late.csv.gz" 2 1
sl_kill9 "$pid" "$T/late.err"
python3 - "$T/late.csv.gz" <<'PY'
import os, sys
st = os.stat(sys.argv[1]); n = st.st_size
f = open(sys.argv[1], 'r+b'); f.seek(n - 5000); b = f.read(1); f.seek(n - 5000); f.write(bytes([b[0] ^ 0xff])); f.close()
os.utime(sys.argv[1], ns=(st.st_atime_ns, st.st_mtime_ns))
PY
sl_run ingest "$T/late.csv.gz" --schema "$SCHEMA" --db "$T/k-late.db" --chunk-size 40k --threads 1 --json
check "late damage: exit 4" "$(rc)" 4
code=$(q "$T/k-late.db" 'SELECT error_code FROM sluice_jobs')
case "$code" in IO_CORRUPT | IO_CHANGED) ok ;; *) bad "late damage: error code $code" ;; esac
check "late damage: the chunks before the damage stay committed" \
	"$(q "$T/k-late.db" "SELECT count(*) >= 2 FROM sluice_chunks WHERE status = 'Succeeded'")" 1
check "late damage: their rows stay" \
	"$(q "$T/k-late.db" "SELECT (SELECT count(*) FROM call_detail_records) = (SELECT sum(rows_loaded) FROM sluice_chunks WHERE status = 'Succeeded')")" 1

# the run that planned reads its spool: damage after planning does not reach it
cp "$T/single.csv.gz" "$T/spooled.csv.gz"
paused spooled "$T/spooled.csv.gz" 2 1
head -c 1000 "$T/single.csv.gz" >"$T/spooled.csv.gz"
touch "$T/p/go"
sl_wait "$pid" "$T/spooled.err"
check "spooled: the run that planned finishes: exit 3" "$?" 3
table_is "$T/k-spooled.db" "$T/cdr.csv" && ok || bad "spooled: the table differs from the oracle's rows"

finish
