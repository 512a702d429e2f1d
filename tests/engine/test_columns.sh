#!/usr/bin/env bash
# End-to-end tests of how a file's columns meet the schema (issue 9, "Header
# and columns", the ingest side of lenient mode, dialect options on the
# command line, `validate` listing its rows, and readers that never create a
# database). Expected tables come from Python's csv module reading the same
# file, never from an earlier sluice run.
# Usage: test_columns.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
# Every run of the program goes through the harness's sl_run: stdout in
# $T/out, stderr in $T/err, the exit status in $T/rc (rc)
. "$SRC/tests/lib/harness.sh"
has() { if grep -qF -- "$2" "$3"; then ok; else bad "$1: '$2' not in $(head -c 600 "$3")"; fi; }
q() { sqlite3 -batch "$1" "$2"; }

# --- a declared column the header lacks: FATAL_HEADER before anything loads -----------
printf 'id,Price,name,note\n1,2.50,a,x\n2,3.00,b,y\n' >"$T/a.csv"
cat >"$T/typo.yaml" <<'EOF'
name: items
key: [id]
columns:
  - {name: id, type: integer}
  - {name: price, type: decimal, precision: 10, scale: 2}
  - {name: title, source: nmae, type: text}
EOF
sl_run ingest "$T/a.csv" --schema "$T/typo.yaml" --db "$T/a.db" --json
check "missing columns: exit 4" "$(rc)" 4
check "missing columns: FATAL_HEADER" "$(json "$T/out" "d['error']['code']")" FATAL_HEADER
check "missing columns: nothing read" "$(json "$T/out" "d['rows_read']")" 0
json "$T/out" "d['error']['message']" >"$T/msg"
has "names every missing column" "'price' (did you mean 'Price'?)" "$T/msg"
has "suggests the closest name" "'nmae' (did you mean 'name'?)" "$T/msg"
has "lists the header's names" "the header has 4 names: 'id', 'Price', 'name', 'note'" "$T/msg"
check "no table made" "$(q "$T/a.db" "SELECT count(*) FROM sqlite_master WHERE name = 'items'")" 0

# optional: true allows absence (NULL); unread header columns are listed
cat >"$T/ok.yaml" <<'EOF'
name: items
key: [id]
columns:
  - {name: id, type: integer}
  - {name: price, source: Price, type: decimal, precision: 10, scale: 2}
  - {name: name, type: text}
  - {name: colour, type: text, optional: true}
EOF
sl_run ingest "$T/a.csv" --schema "$T/ok.yaml" --db "$T/b.db" --json
check "optional column absent: exit 0" "$(rc)" 0
check "ignored_columns in --json" "$(json "$T/out" "d['ignored_columns']")" "['note']"
check "optional column is NULL" "$(q "$T/b.db" "SELECT count(*) FROM items WHERE colour IS NULL")" 2
id=$(json "$T/out" "d['job_id']")
sl_run status "$id" --db "$T/b.db"
check "status lists ignored columns: status exit" "$(rc)" 0
has "status lists ignored columns" "ignored  note" "$T/out"
sl_run status "$id" --db "$T/b.db" --json
check "status --json: status exit" "$(rc)" 0
check "status --json: ignored_columns" "$(json "$T/out" "d['ignored_columns']")" "['note']"

# extra_columns: reject names them
sed 's/^name: items/name: items\nextra_columns: reject/' "$T/ok.yaml" >"$T/strict.yaml"
sl_run ingest "$T/a.csv" --schema "$T/strict.yaml" --db "$T/c.db" --json
check "extra_columns: reject: exit 4" "$(rc)" 4
json "$T/out" "d['error']['message']" >"$T/msg"
has "extra_columns: reject names the column" "(extra_columns: reject): 'note'" "$T/msg"

# a schema with a column both optional and required, or a key optional: exit 2
printf 'name: t\ncolumns:\n  - {name: a, type: text, optional: true, required: true}\n' >"$T/both.yaml"
sl_run validate "$T/a.csv" --schema "$T/both.yaml"
check "optional + required: exit 2" "$(rc)" 2

# --- header: false maps by position; the schema's column count is expected ------------
printf '1,aa,x\n2,bb\n3,cc,z,extra\n4,dd,w\n' >"$T/nohdr.csv"
cat >"$T/nohdr.yaml" <<'EOF'
name: pos
csv: {header: false}
columns:
  - {name: n, type: integer}
  - {name: s, type: text}
  - {name: t, type: text}
EOF
sl_run ingest "$T/nohdr.csv" --schema "$T/nohdr.yaml" --db "$T/d.db" --json
check "header: ingest exit (rows rejected)" "$(rc)" 3
check "header: false: rows" "$(json "$T/out" "d['rows_read']")+$(json "$T/out" "d['rows_loaded']")" "4+2"
check "header: false: the short and the long record rejected" \
	"$(q "$T/d.db" "SELECT record || ':' || code FROM sluice_rejects ORDER BY record" | tr '\n' ' ')" \
	"2:CSV_TOO_FEW_FIELDS 3:CSV_TOO_MANY_FIELDS "
check "header: false: the message counts the schema's columns" \
	"$(q "$T/d.db" "SELECT message FROM sluice_rejects WHERE record = 2")" \
	"record has 2 fields, the schema has 3 columns"
# a first record shorter than the schema is an error, not the rule for the rest
printf '1,aa\n2,bb,y\n' >"$T/short1.csv"
sl_run validate "$T/short1.csv" --schema "$T/nohdr.yaml" --json
check "header: validate exit (rows rejected)" "$(rc)" 3
check "header: false: the first record does not set the count" "$(json "$T/out" "d['rejects_by_code']")" "{'CSV_TOO_FEW_FIELDS': 1}"

# header: false over many chunks: the rejects are the generator's manifest, record for record
sl_run gen cdr --rows 6000 --error-rate 0.03 --seed 4 --manifest "$T/man.tsv" -o "$T/g.csv"
check "gen: exit" "$(rc)" 0
tail -n +2 "$T/g.csv" >"$T/g_nohdr.csv"
sed 's/^  header: true/  header: false/' "$2/examples/cdr.yaml" >"$T/cdr_nohdr.yaml"
sl_run ingest "$T/g_nohdr.csv" --schema "$T/cdr_nohdr.yaml" --db "$T/gen.db" --chunk-size 16k --threads 2 --json
check "header: ingest exit (rows rejected)" "$(rc)" 3
check "header: false, many chunks: several chunks" "$(json "$T/out" "d['chunks_total'] > 4")" True
awk -F'\t' -v OFS='\t' 'BEGIN{
	m["TOO_FEW_FIELDS"]="CSV_TOO_FEW_FIELDS"; m["TOO_MANY_FIELDS"]="CSV_TOO_MANY_FIELDS";
	m["STRAY_QUOTE"]="CSV_STRAY_QUOTE"; m["MISSING_CALLER"]="VAL_REQUIRED"; m["BAD_CALLER"]="VAL_PATTERN";
	m["BAD_DATE"]="VAL_TYPE"; m["BAD_TIME"]="VAL_TYPE"; m["BAD_COST"]="VAL_TYPE";
	m["NEGATIVE_DURATION"]="VAL_RANGE"; m["BAD_CURRENCY"]="VAL_ENUM"; m["DUP_REFERENCE"]="DUP_KEY"}
	{print $1, $2 - 1, m[$3]}' "$T/man.tsv" >"$T/want"
q "$T/gen.db" "SELECT record, line, code FROM sluice_rejects ORDER BY record" | tr '|' '\t' >"$T/got"
cmp -s "$T/want" "$T/got" && ok || bad "header: false rejects differ from the manifest: $(diff "$T/want" "$T/got" | head -4)"

# --- null_padding and lenient: short records padded, long ones cut; expected from Python --
printf 'a,b,c\n1,x,y\n2,x\n3\n4,p,q,r,s\n5,m,n\n' >"$T/ragged.csv"
cat >"$T/ragged.yaml" <<'EOF'
name: ragged
columns:
  - {name: a, type: integer, required: true}
  - {name: b, type: text}
  - {name: c, type: text}
EOF
sl_run validate "$T/ragged.csv" --schema "$T/ragged.yaml" --json
check "strict: validate exit (rows rejected)" "$(rc)" 3
check "strict: short and long records rejected" "$(json "$T/out" "d['rows_rejected']")" 3
sed 's/^name: ragged/name: ragged\ncsv: {null_padding: true}/' "$T/ragged.yaml" >"$T/pad.yaml"
sl_run ingest "$T/ragged.csv" --schema "$T/pad.yaml" --db "$T/e.db" --json
check "null_padding: ingest exit (rows rejected)" "$(rc)" 3
check "null_padding: only the long record rejected" "$(json "$T/out" "d['rejects_by_code']")" "{'CSV_TOO_MANY_FIELDS': 1}"
check "null_padding: padded count" "$(json "$T/out" "d['records_padded']")" 2
# Python's reading, by header position, missing trailing fields None, extras dropped
expect() {
	python3 - "$1" "$2" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline='')))
hdr, lenient = rows[0], sys.argv[2] == 'lenient'
for r in rows[1:]:
    if len(r) > len(hdr) and not lenient:
        continue
    r = (r + [None] * len(hdr))[:len(hdr)]
    print('|'.join('NULL' if v is None else v for v in r))
EOF
}
expect "$T/ragged.csv" pad >"$T/want"
q "$T/e.db" "SELECT a, coalesce(b,'NULL'), coalesce(c,'NULL') FROM ragged ORDER BY rowid" >"$T/got"
cmp -s "$T/want" "$T/got" && ok || bad "null_padding table differs from Python's: $(diff "$T/want" "$T/got" | head -5)"
sl_run ingest "$T/ragged.csv" --schema "$T/ragged.yaml" --db "$T/f.db" --lenient --json
check "lenient: ingest exit" "$(rc)" 0
check "lenient: nothing rejected" "$(json "$T/out" "d['rows_rejected']")" 0
check "lenient: padded and truncated counted" "$(json "$T/out" "d['records_padded']")+$(json "$T/out" "d['records_truncated']")" "2+1"
expect "$T/ragged.csv" lenient >"$T/want"
q "$T/f.db" "SELECT a, coalesce(b,'NULL'), coalesce(c,'NULL') FROM ragged ORDER BY rowid" >"$T/got"
cmp -s "$T/want" "$T/got" && ok || bad "lenient table differs from Python's: $(diff "$T/want" "$T/got" | head -5)"
# a padded record still meets `required`
printf 'a,b,c\n,x\n' >"$T/req.csv"
sl_run validate "$T/req.csv" --schema "$T/pad.yaml" --json
check "padding then required: validate exit (rows rejected)" "$(rc)" 3
check "padding then required" "$(json "$T/out" "d['rejects_by_code']")" "{'VAL_REQUIRED': 1}"

# lenient header: empty and duplicate names ignored with a warning; the count is the header's
printf 'a,,b,a,c\n1,e,x,dup,y\n2,e,x,dup\n' >"$T/dups.csv"
sl_run ingest "$T/dups.csv" --schema "$T/ragged.yaml" --db "$T/g.db" --lenient --json
check "lenient header: exit 0" "$(rc)" 0
check "lenient header: two warnings" "$(json "$T/out" "len(d['warnings'])")" 2
has "lenient header: warning on stderr" "header field 2 has an empty name" "$T/err"
check "lenient header: first 'a' wins" "$(q "$T/g.db" "SELECT a || b || coalesce(c,'-') FROM ragged ORDER BY rowid" | tr '\n' ' ')" "1xy 2x- "
sl_run ingest "$T/dups.csv" --schema "$T/ragged.yaml" --db "$T/g2.db" --json
check "strict header: ingest exit (the job failed)" "$(rc)" 4
check "strict header: a duplicated column is fatal" "$(json "$T/out" "d['error']['code']")" FATAL_HEADER

# --- per-column null markers and trim ---------------------------------------------------
printf 'code,country,qty\n 1 ,NA,NA\n2,\t  ,  7\xc2\xa0\n3,NZ,\n' >"$T/nulls.csv"
cat >"$T/nulls.yaml" <<'EOF'
name: n
csv: {null: ["", NA], trim: true}
columns:
  - {name: code, type: integer}
  - {name: country, type: text, null: ["-"], trim: false}
  - {name: qty, type: integer}
EOF
sl_run ingest "$T/nulls.csv" --schema "$T/nulls.yaml" --db "$T/h.db" --json
check "nulls/trim: exit 0" "$(rc)" 0
check "nulls/trim: stored" "$(q "$T/h.db" "SELECT code || '|' || quote(country) || '|' || quote(qty) FROM n ORDER BY code" | tr '\n' ' ')" \
	"1|'NA'|NULL 2|'	  '|7 3|'NZ'|NULL "

# --- dialect options on the command line override csv: ------------------------------------
printf 'a;b;c\n1;x;y\n2;NIL;z\n' >"$T/semi.csv"
sl_run ingest "$T/semi.csv" --schema "$T/ragged.yaml" --db "$T/i.db" --delimiter ';' --null NIL --json
check "--delimiter/--null: ingest exit" "$(rc)" 0
check "--delimiter/--null: loaded" "$(json "$T/out" "d['rows_loaded']")" 2
check "--null: NIL is NULL" "$(q "$T/i.db" "SELECT count(*) FROM ragged WHERE b IS NULL")" 1
has "the job records the dialect" "delimiter=3b" "$T/out"
sl_run ingest "$T/semi.csv" --schema "$T/ragged.yaml" --db "$T/i2.db" --json
check "without --delimiter: ingest exit (the job failed)" "$(rc)" 4
check "without --delimiter: the header does not match" "$(json "$T/out" "d['error']['code']")" FATAL_HEADER
sl_run validate "$T/semi.csv" --schema "$T/ragged.yaml" --delimiter
check "--delimiter without a value: exit 2" "$(rc)" 2

# --- validate lists the failing rows, needs no database, prints no job id -----------------
python3 - "$T/many.csv" <<'EOF'
import sys
with open(sys.argv[1], 'w') as f:
    f.write('a,b,c\n')
    for i in range(1, 61):
        f.write(('x%d,b,c\n' % i) if i % 2 else ('%d,b,c\n' % i))
EOF
(cd "$T" && sl_run validate "$T/many.csv" --schema "$T/ragged.yaml" --errors-out "$T/errs.csv")
check "validate: exit 3" "$(rc)" 3
check "validate: no database made" "$(ls "$T"/sluice.db 2>/dev/null)" ""
check "validate: 20 rows shown for the one code" "$(grep -c '^line .* VAL_TYPE' "$T/out")" 20
has "validate: says how many more" "and 10 more" "$T/out"
grep -q '\bj[0-9a-f]\{17\}\b' "$T/out" && bad "validate printed a job id" || ok
python3 - "$T/errs.csv" "$T/many.csv" >"$T/cmp" <<'EOF'
import csv, sys
got = list(csv.DictReader(open(sys.argv[1], newline='')))
src = list(csv.reader(open(sys.argv[2], newline='')))
want = [(str(i), str(i + 1), r[0]) for i, r in enumerate(src[1:], 1) if not r[0].isdigit()]
print(len(got) == 30, [(g['record'], g['line'], g['raw'].split(',')[0]) for g in got] == want,
      set(g['code'] for g in got) == {'VAL_TYPE'}, set(g['column'] for g in got) == {'a'},
      list(got[0].keys()) == ['record', 'line', 'offset', 'chunk', 'column', 'code', 'message', 'raw'])
EOF
check "--errors-out: every failing row, the shape of 'sluice errors'" "$(cat "$T/cmp")" "True True True True True"
sl_run validate "$T/many.csv" --schema "$T/ragged.yaml" --errors-out "$T/errs.jsonl" --quiet
check "--errors-out .jsonl: validate exit (rows rejected)" "$(rc)" 3
check "--errors-out .jsonl: one object per row" "$(python3 -c "import json; print(sum(1 for l in open('$T/errs.jsonl') if json.loads(l)['code'] == 'VAL_TYPE'))")" 30

# --- readers never create a database; a missing schema is a configuration error ------------
for cmd in "status jx" "errors jx" "jobs"; do
	sl_run $cmd --db "$T/none.db"
	check "$cmd on a missing database: exit 2" "$(rc)" 2
	has "$cmd: names the path" "$T/none.db" "$T/err"
	check "$cmd: no database created" "$(ls "$T"/none.db* 2>/dev/null)" ""
done
sl_run ingest "$T/a.csv" --schema "$T/nothere.yaml" --db "$T/j.db"
check "missing schema file: exit 2" "$(rc)" 2
has "missing schema: names it" "nothere.yaml" "$T/err"
sl_run validate "$T/a.csv" --schema "$T/nothere.yaml"
check "validate, missing schema file: exit 2" "$(rc)" 2

finish columns
