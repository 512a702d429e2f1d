#!/usr/bin/env bash
# A file changed while it is ingested (issue 10, crash hygiene): changed in
# place, the job fails with IO_CHANGED, the chunk in flight is Failed with
# the reason and none stays Processing, the counts add up, and `retry` names
# what changed (size, modification time, or content hash); grown, the job
# loads the file as planned and says so (IO_CHANGED with --strict-source).
# Deterministic: SLUICE_TEST_PAUSE=2:DIR holds the writer before chunk 2
# (chunks 0 and 1 committed; with --threads 1 the worker has read at most
# chunk 2, so chunk 3, changed here, is read after the change) until
# DIR/go exists.
# Usage: test_changed.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
# sl_as NAME ARGS: every run of the program, through the harness
. "$SRC/tests/lib/harness.sh"
# on exit, a paused ingest is let go and waited for (its report counts)
at_exit() { [ -d "$T/p" ] && touch "$T/p/go"; wait; }

sl_as gen_orig gen cdr --rows 20000 --error-rate 0.02 --seed 21 -o "$T/orig.csv"
check "gen" "$(rc gen_orig)" 0
SIZE=$(stat -c %s "$T/orig.csv")

# start NAME [ingest options]: a fresh copy of the file, an ingest paused
# before chunk 2 in the background; returns when it is paused
start() {
	local name=$1
	shift
	rm -rf "$T/p" && mkdir "$T/p"
	cp "$T/orig.csv" "$T/$name.csv"
	SLUICE_TEST_PAUSE="2:$T/p" sl_as "$name" ingest "$T/$name.csv" --schema "$SCHEMA" \
		--db "$T/$name.db" --chunk-size 256K --threads 1 --json "$@" &
	BG=$!
	wait_for "the ingest to pause before chunk 2" 3000 test -e "$T/p/paused"
	JOB=$(cat "$T/p/paused")
}
go() {
	touch "$T/p/go"
	wait "$BG"
}
# chunk 3's range, from the plan
chunk3() {
	sl_as "plan_$1" status "$JOB" --db "$T/$1.db" --chunks --json
	json "$T/plan_$1.out" "d['chunks'][3]['offset'] + d['chunks'][3]['length'] // 2"
}
# poke FILE OFFSET [keep]: overwrite one byte in place (same size); with
# keep, the modification time is set back to what it was
poke() { python3 - "$@" <<'EOF'
import os, sys
st = os.stat(sys.argv[1])
f = open(sys.argv[1], 'r+b'); o = int(sys.argv[2]); f.seek(o); b = f.read(1)
f.seek(o); f.write(b'7' if b != b'7' else b'3'); f.close()
if len(sys.argv) > 3:
    os.utime(sys.argv[1], ns=(st.st_atime_ns, st.st_mtime_ns))
EOF
}
# the failed job's invariants: no chunk Processing, the failed one says why, counts add up
failed_invariants() {
	local name=$1 want=$2
	sl_as "st_$name" status "$JOB" --db "$T/$name.db" --chunks --json
	check "$name: status exit" "$(rc "st_$name")" 0
	python3 - "$T/st_$name.out" "$want" <<'EOF' && ok || bad "$name: chunks and counts: $(head -c 600 "$T/st_$name.out")"
import json, sys
d = json.load(open(sys.argv[1])); want = sys.argv[2]
ch = d['chunks']
st = [c['status'] for c in ch]
assert 'Processing' not in st, st
assert d['status'] == 'Failed' and d['error']['code'] == 'IO_CHANGED', d.get('error')
failed = [c for c in ch if c['status'] == 'Failed']
assert len(failed) == 1 and failed[0]['seq'] == 3, st
assert failed[0]['last_error'] == 'IO_CHANGED' and want in failed[0]['last_message'], failed[0]
ok = [c for c in ch if c['status'] == 'Succeeded']
assert d['chunks_processed'] == d['chunks_succeeded'] + d['chunks_failed'] == len(ok) + 1
assert d['chunks_total'] == len(ch) == d['chunks_processed'] + st.count('Queued')
assert d['chunks_failed'] == 1
assert d['rows_read'] == d['rows_loaded'] + d['rows_rejected'] == sum(c['rows_read'] for c in ok)
assert d['bytes_done'] == sum(c['length'] for c in ok)
EOF
}

# --- changed in place, same size: the modification time tells ------------------------------
start mtime
poke "$T/mtime.csv" "$(chunk3 mtime)"
go
check "in place: exit 4" "$(rc mtime)" 4
check "in place: Failed IO_CHANGED" "$(json "$T/mtime.out" "d['status'], d['error']['code']")" "Failed IO_CHANGED"
failed_invariants mtime "content hash"
grep -q "modification time" <<<"$(json "$T/mtime.out" "d['error']['message']")" && ok || bad "job error names the modification time: $(cat "$T/mtime.out")"
sl_as rt_mtime retry "$JOB" --db "$T/mtime.db" --json
check "retry of a file changed in place: exit 4" "$(rc rt_mtime)" 4
grep -q "IO_CHANGED" "$T/rt_mtime.err" && grep -q "modification time changed" "$T/rt_mtime.err" && ok ||
	bad "retry names the modification time: $(cat "$T/rt_mtime.err")"

# --- changed in place, shorter: the size tells --------------------------------------------
start size
truncate -s "$(chunk3 size)" "$T/size.csv"
go
check "truncated: exit 4" "$(rc size)" 4
failed_invariants size "content hash"
sl_as rt_size retry "$JOB" --db "$T/size.db"
check "retry of a truncated file: exit 4" "$(rc rt_size)" 4
grep -q "size changed from $SIZE to $(stat -c %s "$T/size.csv") bytes" "$T/rt_size.err" && ok ||
	bad "retry names the size: $(cat "$T/rt_size.err")"

# --- same size and modification time: only the content hash tells ----------------------------
start hash
poke "$T/hash.csv" "$(chunk3 hash)" keep
go
check "hidden change: exit 4" "$(rc hash)" 4
failed_invariants hash "size and modification time are as planned"
sl_as rt_hash retry "$JOB" --db "$T/hash.db" --json
check "retry of a hidden change: exit 4" "$(rc rt_hash)" 4
check "retry runs the failed chunk: the job" "$(json "$T/rt_hash.out" "d['status'], d['error']['code']")" "Failed IO_CHANGED"
grep -q "content hash" <<<"$(json "$T/rt_hash.out" "d['error']['message']")" && ok || bad "retry names the content hash: $(cat "$T/rt_hash.out")"
failed_invariants hash "content hash"

# --- rows appended while it runs: loaded as planned, with a warning ----------------------------
sl_as ok_j ingest "$T/orig.csv" --schema "$SCHEMA" --db "$T/ok.db" --json
check "unchanged file: exit 3 (its bad rows)" "$(rc ok_j)" 3
check "unchanged file: no warning" "$(json "$T/ok_j.out" "d['warnings']")" "[]"
ROWS=$(json "$T/ok_j.out" "d['rows_read']")
start grow
tail -n 500 "$T/orig.csv" >>"$T/grow.csv"
go
check "grown: exit 3 (its bad rows)" "$(rc grow)" 3
check "grown: the job as planned" "$(json "$T/grow.out" "d['status'], d['rows_read']")" "PartiallySucceeded $ROWS"
grep -q "grew from $SIZE to" <<<"$(json "$T/grow.out" "' '.join(d['warnings'])")" && ok || bad "grown: warning in the JSON: $(cat "$T/grow.out")"
sl_as st_grow status "$JOB" --db "$T/grow.db"
grep -q "^  warning  the file grew" "$T/st_grow.out" && ok || bad "grown: warning in the summary: $(cat "$T/st_grow.out")"
sl_as st_grow_j status "$JOB" --db "$T/grow.db" --json
check "status: exit 0" "$(rc st_grow) $(rc st_grow_j)" "0 0"
check "grown: warning kept on the job" "$(json "$T/st_grow_j.out" "' '.join(d['warnings'])")" "$(json "$T/grow.out" "' '.join(d['warnings'])")"

start strict --strict-source
tail -n 500 "$T/orig.csv" >>"$T/strict.csv"
go
check "grown, --strict-source: exit 4" "$(rc strict)" 4
check "grown, --strict-source: IO_CHANGED" "$(json "$T/strict.out" "d['status'], d['error']['code']")" "Failed IO_CHANGED"
sl_as st_strict status "$JOB" --db "$T/strict.db" --chunks --json
check "status: exit 0" "$(rc st_strict)" 0
check "grown, --strict-source: no chunk Processing, the rest Queued" \
	"$(json "$T/st_strict.out" "sorted(set(c['status'] for c in d['chunks'])), d['chunks_processed'] == d['chunks_succeeded']")" \
	"['Queued', 'Succeeded'] True"

finish changed
