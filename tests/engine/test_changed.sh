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
T=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }
. "$SRC/tests/run.sh" # run NAME CMD...: every program goes through it; wait_for FILE

run gen_orig "$S" gen cdr --rows 20000 --error-rate 0.02 --seed 21 -o "$T/orig.csv"
SIZE=$(stat -c %s "$T/orig.csv")

# start NAME [ingest options]: a fresh copy of the file, an ingest paused
# before chunk 2 in the background; returns when it is paused
start() {
	local name=$1
	shift
	rm -rf "$T/p" && mkdir "$T/p"
	cp "$T/orig.csv" "$T/$name.csv"
	SLUICE_TEST_PAUSE="2:$T/p" run "$name" "$S" ingest "$T/$name.csv" --schema "$SCHEMA" \
		--db "$T/$name.db" --chunk-size 256K --threads 1 --json "$@" &
	BG=$!
	wait_for "$T/p/paused"
	JOB=$(cat "$T/p/paused")
}
go() {
	touch "$T/p/go"
	wait "$BG"
}
# chunk 3's range, from the plan
chunk3() {
	run "plan_$1" "$S" status "$JOB" --db "$T/$1.db" --chunks --json
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
	run "st_$name" "$S" status "$JOB" --db "$T/$name.db" --chunks --json
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
run rt_mtime "$S" retry "$JOB" --db "$T/mtime.db" --json
check "retry of a file changed in place: exit 4" "$(rc rt_mtime)" 4
grep -q "IO_CHANGED" "$T/rt_mtime.err" && grep -q "modification time changed" "$T/rt_mtime.err" && ok ||
	bad "retry names the modification time: $(cat "$T/rt_mtime.err")"

# --- changed in place, shorter: the size tells --------------------------------------------
start size
truncate -s "$(chunk3 size)" "$T/size.csv"
go
check "truncated: exit 4" "$(rc size)" 4
failed_invariants size "content hash"
run rt_size "$S" retry "$JOB" --db "$T/size.db"
check "retry of a truncated file: exit 4" "$(rc rt_size)" 4
grep -q "size changed from $SIZE to $(stat -c %s "$T/size.csv") bytes" "$T/rt_size.err" && ok ||
	bad "retry names the size: $(cat "$T/rt_size.err")"

# --- same size and modification time: only the content hash tells ----------------------------
start hash
poke "$T/hash.csv" "$(chunk3 hash)" keep
go
check "hidden change: exit 4" "$(rc hash)" 4
failed_invariants hash "size and modification time are as planned"
run rt_hash "$S" retry "$JOB" --db "$T/hash.db" --json
check "retry runs the failed chunk: the job" "$(json "$T/rt_hash.out" "d['status'], d['error']['code']")" "Failed IO_CHANGED"
grep -q "content hash" <<<"$(json "$T/rt_hash.out" "d['error']['message']")" && ok || bad "retry names the content hash: $(cat "$T/rt_hash.out")"
failed_invariants hash "content hash"

# --- rows appended while it runs: loaded as planned, with a warning ----------------------------
run ok_j "$S" ingest "$T/orig.csv" --schema "$SCHEMA" --db "$T/ok.db" --json
check "unchanged file: no warning" "$(json "$T/ok_j.out" "d['warnings']")" "[]"
ROWS=$(json "$T/ok_j.out" "d['rows_read']")
start grow
tail -n 500 "$T/orig.csv" >>"$T/grow.csv"
go
check "grown: the job as planned" "$(json "$T/grow.out" "d['status'], d['rows_read']")" "PartiallySucceeded $ROWS"
grep -q "grew from $SIZE to" <<<"$(json "$T/grow.out" "' '.join(d['warnings'])")" && ok || bad "grown: warning in the JSON: $(cat "$T/grow.out")"
run st_grow "$S" status "$JOB" --db "$T/grow.db"
grep -q "^  warning  the file grew" "$T/st_grow.out" && ok || bad "grown: warning in the summary: $(cat "$T/st_grow.out")"
run st_grow_j "$S" status "$JOB" --db "$T/grow.db" --json
check "grown: warning kept on the job" "$(json "$T/st_grow_j.out" "' '.join(d['warnings'])")" "$(json "$T/grow.out" "' '.join(d['warnings'])")"

start strict --strict-source
tail -n 500 "$T/orig.csv" >>"$T/strict.csv"
go
check "grown, --strict-source: exit 4" "$(rc strict)" 4
check "grown, --strict-source: IO_CHANGED" "$(json "$T/strict.out" "d['status'], d['error']['code']")" "Failed IO_CHANGED"
run st_strict "$S" status "$JOB" --db "$T/strict.db" --chunks --json
check "grown, --strict-source: no chunk Processing, the rest Queued" \
	"$(json "$T/st_strict.out" "sorted(set(c['status'] for c in d['chunks'])), d['chunks_processed'] == d['chunks_succeeded']")" \
	"['Queued', 'Succeeded'] True"

run_checked
echo "changed: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
