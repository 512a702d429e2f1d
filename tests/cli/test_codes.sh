#!/usr/bin/env bash
# Error codes a user can meet that no other test produced, each produced
# through the program where a user would meet it: record codes through
# ingest (VAL_LENGTH, CSV_UNTERMINATED_QUOTE, CSV_INVALID_UTF8,
# CSV_ROW_TOO_LONG), the store's faults (DB_IO and DB_BUSY injected,
# DB_ERROR from a table of other columns), IO_READ from an input that opens
# but cannot be read, IO_WRITE from a full device, NOMEM from a row limit
# the machine cannot hold, USAGE. Expected
# positions and counts are computed here (Python writes the files and knows
# where it put each defect), not taken from the program.
# Usage: test_codes.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
# sl_run ARGS: every run of the program (stdout $T/out, stderr $T/err,
# status RC); serve/stop_server for `sluice serve` on port 0
. "$SRC/tests/http/lib.sh"

# rejects of job $2 in store $1 as "record line code" lines, by record
rejects() { sql "$1" "SELECT record, line, code FROM sluice_rejects WHERE job_id = '$2' ORDER BY record" | tr '|' ' '; }
jobid() { json "$T/out" "d['job_id']"; }

sl_run gen cdr --rows 400 --error-rate 0 --seed 21 -o "$T/clean.csv"
check "gen: exit 0" "$RC" 0

# A CSV writer of the test's own: rows of the clean file with defects put in
# at chosen records; prints "record line code" for each defect it wrote.
# mutate.py IN OUT KIND RECORDS...
cat >"$T/mutate.py" <<'EOF'
import sys
src, dst, kind, recs = sys.argv[1], sys.argv[2], sys.argv[3], {int(x) for x in sys.argv[4:]}
lines = open(src, 'rb').read().split(b'\n')
header, rows = lines[0], [l for l in lines[1:] if l]
# the clean file has no quoted rows (quoted-rate applies; keep only one-line rows)
rows = [r for r in rows if b'"' not in r]
out, line, want = [header], 2, []
for i, r in enumerate(rows, 1):
    f = r.split(b',')
    code = None
    if i in recs:
        if kind == 'length':     # reference (max_length 64) of 65 characters
            f[6] = (b'C%064X' % i)
            code = 'VAL_LENGTH'
        elif kind == 'utf8':     # a byte that is not UTF-8 in the recipient
            f[1] = f[1][:3] + b'\xff' + f[1][3:]
            code = 'CSV_INVALID_UTF8'
        elif kind == 'long':     # a record longer than max_row (256) and the kept prefix (4096)
            f[1] = b'4' * 5000
            code = 'CSV_ROW_TOO_LONG'
        r = b','.join(f)
    out.append(r)
    if code:
        want.append('%d %d %s' % (i, line, code))
    line += 1
if kind == 'quote':             # a last record whose quote never closes
    out.append(b'447700900123,"unterminated')
    want.append('%d %d CSV_UNTERMINATED_QUOTE' % (len(rows) + 1, line))
open(dst, 'wb').write(b'\n'.join(out) + b'\n')
print('\n'.join(want))
EOF

# --- VAL_LENGTH through ingest ----------------------------------------------------------
python3 "$T/mutate.py" "$T/clean.csv" "$T/length.csv" length 7 100 333 >"$T/want"
sl_run ingest "$T/length.csv" --schema "$SCHEMA" --db "$T/l.db" --json
check "VAL_LENGTH: exit 3" "$RC" 3
check "VAL_LENGTH: the rows written" "$(rejects "$T/l.db" "$(jobid)")" "$(cat "$T/want")"
check "VAL_LENGTH: counted" "$(json "$T/out" "d['rejects_by_code']")" "{'VAL_LENGTH': 3}"

# --- CSV_UNTERMINATED_QUOTE through ingest ------------------------------------------------
python3 "$T/mutate.py" "$T/clean.csv" "$T/quote.csv" quote >"$T/want"
sl_run ingest "$T/quote.csv" --schema "$SCHEMA" --db "$T/q.db" --json
check "CSV_UNTERMINATED_QUOTE: exit 3" "$RC" 3
check "CSV_UNTERMINATED_QUOTE: the last record" "$(rejects "$T/q.db" "$(jobid)")" "$(cat "$T/want")"
nrows=$(($(wc -l <"$T/quote.csv") - 2))
check "CSV_UNTERMINATED_QUOTE: the rows before it load" "$(json "$T/out" "d['rows_loaded']")" "$nrows"

# --- CSV_INVALID_UTF8 and CSV_ROW_TOO_LONG through ingest (dialect options) ------------------
sed 's/^  header: true$/  header: true\n  utf8: true\n  max_row: 256/' "$SCHEMA" >"$T/strict.yaml"
grep -q '^  utf8: true$' "$T/strict.yaml" && ok || bad "strict.yaml was not made"
python3 "$T/mutate.py" "$T/clean.csv" "$T/utf8.csv" utf8 2 50 >"$T/want"
python3 "$T/mutate.py" "$T/clean.csv" "$T/long.csv" long 3 60 61 >"$T/want_long"
sl_run ingest "$T/utf8.csv" --schema "$T/strict.yaml" --db "$T/u.db" --json
check "CSV_INVALID_UTF8: exit 3" "$RC" 3
check "CSV_INVALID_UTF8: the rows written" "$(rejects "$T/u.db" "$(jobid)")" "$(cat "$T/want")"
sl_run ingest "$T/long.csv" --schema "$T/strict.yaml" --db "$T/t.db" --json
check "CSV_ROW_TOO_LONG: exit 3" "$RC" 3
check "CSV_ROW_TOO_LONG: the rows written" "$(rejects "$T/t.db" "$(jobid)")" "$(cat "$T/want_long")"
# of a too-long row the first SL_CSV_RAW_PREFIX (4096) bytes are kept
check "CSV_ROW_TOO_LONG: the raw record's first 4096 bytes kept" "$(sql "$T/t.db" "SELECT hex(raw) FROM sluice_rejects WHERE record = 3")" "$(sed -n 4p "$T/long.csv" | head -c 4096 | od -An -tx1 -v | tr -d ' \n' | tr a-f A-F)"

# --- DB_IO (injected) on a chunk; a retry without the fault loads it ----------------------------
sl_run gen cdr --rows 3000 --error-rate 0 --seed 22 -o "$T/big.csv"
check "gen: exit 0" "$RC" 0
SLUICE_FAULTS="chunk=1,times=99,code=DB_IO" sl_run ingest "$T/big.csv" --schema "$SCHEMA" --db "$T/io.db" --chunk-size 32k --json
check "DB_IO on chunk 1: exit 3" "$RC" 3
J=$(jobid)
sl_run status "$J" --db "$T/io.db" --chunks --json
check "status exit" "$RC" 0
check "DB_IO: chunk 1 failed after 3 attempts" "$(json "$T/out" "d['chunks'][1]['status'], d['chunks'][1]['attempts'], d['chunks'][1]['last_error']")" "Failed 3 DB_IO"
first=$(json "$T/out" "d['chunks'][1]['first_record']")
n1=$(json "$T/out" "d['chunks'][2]['first_record'] - d['chunks'][1]['first_record']")
check "DB_IO: nothing of chunk 1 is in the table" "$(sql "$T/io.db" 'SELECT count(*) FROM call_detail_records')" $((3000 - n1))
sl_run retry "$J" --db "$T/io.db" --json
check "retry without the fault: exit 0" "$RC" 0
check "retry without the fault: Succeeded" "$(json "$T/out" "d['status']")" Succeeded
check "retry: every row once" "$(sql "$T/io.db" 'SELECT count(*), count(DISTINCT reference) FROM call_detail_records')" "3000|3000"
[ "$first" -gt 0 ] && ok || bad "chunk 1 starts at record $first"

# --- the same record codes through an HTTP upload ---------------------------------------------
# the rejects of an upload, read back through the API, are the rows written
mkdir -p "$T/schemas" "$T/data"
cp "$SCHEMA" "$T/schemas/cdr.yaml"
sed 's/^name: cdr$/name: strict/; s/^table: call_detail_records$/table: strict_cdr/' "$T/strict.yaml" >"$T/schemas/strict.yaml"
serve "$T/serve.log" --schemas "$T/schemas" --data-dir "$T/data" --db "$T/h.db" --min-free 1M
upload_rejects() { # upload_rejects DATASET FILE: "record line code" of its job's rejects
	local id
	id=$(curl -s --data-binary @"$2" "$B/v1/datasets/$1/uploads" | python3 -c "import json,sys; print(json.load(sys.stdin)['job_id'])")
	wait_final "$id" >/dev/null
	curl -s "$B/v1/jobs/$id/errors?format=jsonl" | python3 -c "
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    print(d['record'], d['line'], d['code'])"
}
python3 "$T/mutate.py" "$T/clean.csv" "$T/length.csv" length 7 100 333 >"$T/want"
check "HTTP upload: VAL_LENGTH rows" "$(upload_rejects cdr "$T/length.csv")" "$(cat "$T/want")"
# a dataset's second upload: other rows (other keys), or every row is a DUP_KEY
sl_run gen cdr --rows 400 --error-rate 0 --seed 23 -o "$T/clean2.csv"
check "gen: exit 0" "$RC" 0
python3 "$T/mutate.py" "$T/clean2.csv" "$T/quote.csv" quote >"$T/want"
check "HTTP upload: CSV_UNTERMINATED_QUOTE row" "$(upload_rejects cdr "$T/quote.csv")" "$(cat "$T/want")"
python3 "$T/mutate.py" "$T/clean.csv" "$T/utf8.csv" utf8 2 50 >"$T/want"
check "HTTP upload: CSV_INVALID_UTF8 rows" "$(upload_rejects strict "$T/utf8.csv")" "$(cat "$T/want")"
python3 "$T/mutate.py" "$T/clean2.csv" "$T/long2.csv" long 3 60 61 >"$T/want"
check "HTTP upload: CSV_ROW_TOO_LONG rows" "$(upload_rejects strict "$T/long2.csv")" "$(cat "$T/want")"
stop_server
check "serve: exit 0 on SIGTERM" "$STOPPED" 0

# --- DB_BUSY (injected) until the attempts run out: the chunk says so ---------------------------
SLUICE_FAULTS="chunk=0,times=99,code=DB_BUSY" sl_run ingest "$T/big.csv" --schema "$SCHEMA" --db "$T/busy.db" --chunk-size 32k --json
check "DB_BUSY on chunk 0: exit 3" "$RC" 3
J=$(jobid)
sl_run status "$J" --db "$T/busy.db" --chunks
check "status exit" "$RC" 0
check "DB_BUSY: the chunk line of status --chunks" "$(awk '$1 == "0" {print $2, $3, $9}' "$T/out")" "Failed 3 DB_BUSY:"

# --- DB_ERROR: the table exists with other columns -----------------------------------------
python3 -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute('CREATE TABLE call_detail_records (something_else TEXT)')
c.commit()" "$T/other.db"
sl_run ingest "$T/clean.csv" --schema "$SCHEMA" --db "$T/other.db" --json
check "table of other columns: exit 4" "$RC" 4
grep -q "DB_ERROR" "$T/out" "$T/err" && ok || bad "table of other columns: DB_ERROR not said ($(cat "$T/err" "$T/out" | head -c 300))"
grep -q "caller_id" "$T/out" "$T/err" && ok || bad "table of other columns: the missing column is not named"
check "table of other columns: left as it was" "$(sql "$T/other.db" "SELECT group_concat(name) FROM pragma_table_info('call_detail_records')")" something_else

# --- IO_READ: an input that opens but cannot be read (a directory) -----------------------------
mkdir -p "$T/adir"
sl_run csv check "$T/adir"
check "csv check of a directory: exit 4" "$RC" 4
grep -q "(IO_READ)" "$T/err" && ok || bad "csv check of a directory: not IO_READ ($(cat "$T/err"))"
grep -q "$T/adir" "$T/err" && ok || bad "csv check of a directory: the path is not named"

# --- IO_WRITE: an output that cannot be written, named ------------------------------------------
sl_run gen cdr --rows 20000 -o /dev/full
check "gen to a full device: exit 4" "$RC" 4
check "gen to a full device: says which file and why" "$(cat "$T/err")" "sluice: gen: /dev/full: cannot write the output (IO_WRITE)"
sl_run gen cdr --rows 100 --error-rate 0.5 --manifest /dev/full -o "$T/g.csv"
check "gen, manifest to a full device: exit 4" "$RC" 4
check "gen, manifest to a full device: names the manifest" "$(cat "$T/err")" "sluice: gen: /dev/full: cannot write the output (IO_WRITE)"

# --- NOMEM: a row limit the machine cannot hold ---------------------------------------------------
# Each worker holds a buffer of max_row bytes; max_row 2 GiB in an address
# space of 1 GB (ulimit -v), or, under a sanitizer, where no ulimit can be
# set, with allocations above 1 GiB refused, must fail the job with NOMEM,
# cleanly. The same limits with the default max_row load the file.
sed 's/^  header: true$/  header: true\n  max_row: 2147483648/' "$SCHEMA" >"$T/huge.yaml"
if ldd "$S" 2>/dev/null | grep -qE 'lib(a|t)san'; then
	limit() {
		SL_EXPECT='^==[0-9]+==WARNING: (Address|Thread)Sanitizer failed to allocate 0x[0-9a-f]+ bytes$' \
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=1024" \
			TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=1024" \
			sl_run "$@"
	}
else
	limit() { SL_WRAP="prlimit --as=1000000000 --" sl_run "$@"; }
fi
limit ingest "$T/clean.csv" --schema "$SCHEMA" --db "$T/m1.db" --threads 2 --json
check "default max_row under the limit: exit 0" "$RC" 0
check "default max_row under the limit: Succeeded" "$(json "$T/out" "d['status']" 2>&1)" Succeeded
limit ingest "$T/clean.csv" --schema "$T/huge.yaml" --db "$T/m2.db" --threads 2 --json
check "max_row 2 GiB under the limit: exit 4" "$RC" 4
check "max_row 2 GiB under the limit: Failed with NOMEM" "$(json "$T/out" "d['status'], d['error']['code']" 2>&1)" "Failed NOMEM"
check "NOMEM: nothing loaded" "$(sql "$T/m2.db" "SELECT count(*) FROM call_detail_records")" 0

# --- USAGE: exit status 2 ---------------------------------------------------------------------------
sl_run ingest "$T/clean.csv"
check "ingest without --schema: exit 2" "$RC" 2
grep -q -- "--schema is missing" "$T/err" && ok || bad "ingest without --schema: says what is missing"

finish codes
