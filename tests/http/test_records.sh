#!/usr/bin/env bash
# End-to-end tests of the records API of `sluice serve`
# (GET /v1/datasets/{name}/records and /records/{key}): the real server on a
# free loopback port, files uploaded and loaded, then looked up with curl and
# compared with what SQLite holds. Filters by the key, by indexed columns, by
# job and combined; pagination over every row; values converted as the
# loader converts them (leading zeros, decimals, booleans, dates); JSON
# types; composite keys; the indexes created; and the 400s and 404s.
# Usage: test_records.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
DB=$T/s.db
sq() { sqlite3 "$DB" "$1"; }

# upload FILE DATASET: the job id of the 202, after the job is final (run
# in $(...): failures go to stderr, and the caller stops)
upload() {
	local st id s
	st=$(curl -s -o "$T/up" -w '%{http_code}' --data-binary @"$1" "$B/v1/datasets/$2/uploads")
	[ "$st" = 202 ] || { echo "FAIL: upload $1: $st $(cat "$T/up")" >&2; return 1; }
	id=$(jq_ "d['job_id']" <"$T/up")
	s=$(wait_final "$id")
	case "$s" in Succeeded | PartiallySucceeded) ;; *) echo "FAIL: upload $1: job $id ended $s" >&2; return 1 ;; esac
	# the job's own id (the 202 may name the upload on older servers)
	curl -s "$B/v1/jobs/$id" | jq_ "d['job_id']"
}
# walk URL: every page from the first, one JSON record per line into $T/walk;
# the number of pages into $T/pages
walk() {
	local url=$1 cur= n=0 sep='?'
	case "$url" in *\?*) sep='&' ;; esac
	: >"$T/walk"
	while :; do
		st=$(code GET "$url${cur:+${sep}cursor=$cur}")
		[ "$st" = 200 ] || { bad "walk $url: $st $(cat "$T/body")"; break; }
		n=$((n + 1))
		python3 -c "
import json,sys
d=json.load(open('$T/body'))
with open('$T/walk','a') as w:
    for r in d['records']: w.write(json.dumps(r, sort_keys=True)+'\n')
print(d['next_cursor'] or '')" >"$T/cur"
		cur=$(cat "$T/cur")
		[ -n "$cur" ] || break
		[ "$n" -lt 10000 ] || { bad "walk $url: no end"; break; }
	done
	echo "$n" >"$T/pages"
}

# --- datasets ---------------------------------------------------------------------------
mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
# a composite key and one indexed column of each type that converts
cat >"$T/schemas/kv.yaml" <<'EOF'
name: kv
table: kv_rows
key: [region, num]
columns:
  - {name: region, type: text, required: true}
  - {name: num, type: integer, required: true}
  - {name: flag, type: boolean, index: true}
  - {name: amount, type: decimal, precision: 10, scale: 2, index: true}
  - {name: day, type: date, format: '%d/%m/%Y', index: true}
  - {name: note, type: text}
  - {name: size, type: integer}
EOF
# no key, never loaded
cat >"$T/schemas/bare.yaml" <<'EOF'
name: bare
table: bare_rows
columns:
  - {name: a, type: text, index: true}
  - {name: b, type: integer}
EOF
printf 'region,num,flag,amount,day,note,size\n' >"$T/kv.csv"
printf 'eu,7,yes,1.5,01/02/2024,first,10\n' >>"$T/kv.csv"
printf 'eu,8,no,-0.25,2/2/2024,,11\n' >>"$T/kv.csv"
printf 'us,7,T,1.50,01/02/2024,"a, b",\n' >>"$T/kv.csv"
printf 'us,42,0,0,29/02/2024,x,12\n' >>"$T/kv.csv"
printf 'us,43,1,3,01/03/2024,y,13\n' >>"$T/kv.csv"

"$S" gen cdr --rows 20000 --error-rate 0.02 --seed 11 -o "$T/cdr.csv" 2>/dev/null
"$S" gen cdr --rows 3000 --error-rate 0.02 --seed 12 -o "$T/small.csv" 2>/dev/null

serve "$T/log" --db "$DB" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --threads 2 || { finish; exit 1; }

# before anything is loaded: no table, no rows (not an error)
check "no table yet: 200" "$(code GET "$B/v1/datasets/cdr/records")" 200
check "no table yet: empty page" "$(jq_ "d['dataset'], d['records'], d['next_cursor']" <"$T/body")" "cdr [] None"

J1=$(upload "$T/cdr.csv" cdr) || exit 1
J2=$(upload "$T/small.csv" cdr) || exit 1
JK=$(upload "$T/kv.csv" kv) || exit 1
case "$J1" in j*) ok ;; *) bad "job id $J1" ;; esac
L1=$(curl -s "$B/v1/jobs/$J1" | jq_ "d['rows_loaded']")
L2=$(curl -s "$B/v1/jobs/$J2" | jq_ "d['rows_loaded']")
TOTAL=$(sq "select count(*) from call_detail_records")
check "both jobs' rows in the table" "$TOTAL" "$((L1 + L2))"

# --- indexes ----------------------------------------------------------------------------
check "indexes: _sluice_job and the indexed columns, not the key" \
	"$(sq "select group_concat(name, ' ') from (select name from sqlite_master where type='index' and tbl_name='call_detail_records' and sql is not null order by name)")" \
	"sluice_ix_19_call_detail_records_caller_id sluice_ix_19_call_detail_records_recipient sluice_job_19_call_detail_records"
# the plan of the query the store runs: the index, from the cursor on, no sort
check "a caller lookup uses its index" \
	"$(sq "explain query plan select rowid, caller_id from call_detail_records where rowid > 0 and caller_id = 'x' order by rowid limit 101" | grep -c 'INDEX sluice_ix_19_call_detail_records_caller_id (caller_id=? AND rowid>?)')" 1
check "a caller lookup sorts nothing" \
	"$(sq "explain query plan select rowid, caller_id from call_detail_records where rowid > 0 and caller_id = 'x' order by rowid limit 101" | grep -c 'TEMP B-TREE')" 0
check "rollback by job uses the job index" \
	"$(sq "explain query plan delete from call_detail_records where _sluice_job = 'x'" | grep -c 'sluice_job_19')" 1

# --- by key ---------------------------------------------------------------------------------
REF=$(sq "select reference from call_detail_records order by rowid limit 1 offset 1234")
CALLER=$(sq "select caller_id from call_detail_records where reference = '$REF'")
check "filter by key" "$(code GET "$B/v1/datasets/cdr/records?reference=$REF")" 200
check "filter by key: the one row" "$(jq_ "len(d['records']), d['records'][0]['reference'], d['records'][0]['caller_id'], d['next_cursor']" <"$T/body")" "1 $REF $CALLER None"
check "record: every column and the job" "$(jq_ "sorted(d['records'][0].keys())" <"$T/body")" \
	"['_job_id', 'call_date', 'caller_id', 'cost', 'currency', 'duration', 'end_time', 'recipient', 'reference']"
check "record: JSON types (integer number, decimal string, date ISO)" \
	"$(jq_ "type(d['records'][0]['duration']).__name__, type(d['records'][0]['cost']).__name__, d['records'][0]['call_date'] == '$(sq "select call_date from call_detail_records where reference = '$REF'")'" <"$T/body")" \
	"$(sq "select case when duration is null then 'NoneType' else 'int' end from call_detail_records where reference = '$REF'") str True"
check "record: its job" "$(jq_ "d['records'][0]['_job_id']" <"$T/body")" "$J1"
check "records/{key}: found" "$(code GET "$B/v1/datasets/cdr/records/$REF")" 200
check "records/{key}: the record object" "$(jq_ "d['reference'], d['caller_id'], d['_job_id']" <"$T/body")" "$REF $CALLER $J1"
check "records/{key}: not found" "$(code GET "$B/v1/datasets/cdr/records/NO-SUCH-REFERENCE")" 404
check "records/{key}: not found code" "$(jq_ "d['error']['code']" <"$T/body")" NOT_FOUND
check "records/{key}: a value the key cannot hold is 400" "$(code GET "$B/v1/datasets/cdr/records/$(printf 'R%.0s' $(seq 1 80))")" 400
check "filter by key: no such key, empty page" "$(code GET "$B/v1/datasets/cdr/records?reference=nope" && jq_ "len(d['records']), d['next_cursor']" <"$T/body")" "2000 None"

# --- by an indexed column -------------------------------------------------------------------
CALLER=$(sq "select caller_id from call_detail_records group by caller_id order by count(*) desc, caller_id limit 1")
NC=$(sq "select count(*) from call_detail_records where caller_id = '$CALLER'")
check "filter by caller: all its rows" "$(code GET "$B/v1/datasets/cdr/records?caller_id=$CALLER&limit=1000" && jq_ "len(d['records']), all(r['caller_id'] == '$CALLER' for r in d['records'])" <"$T/body")" "200$NC True"
RECIP=$(sq "select recipient from call_detail_records order by rowid limit 1 offset 777")
NR=$(sq "select count(*) from call_detail_records where recipient = '$RECIP'")
check "filter by recipient" "$(code GET "$B/v1/datasets/cdr/records?recipient=$RECIP" && jq_ "len(d['records'])" <"$T/body")" "200$NR"
check "filter by caller, percent-encoded" "$(code GET "$B/v1/datasets/cdr/records?caller%5Fid=$(python3 -c "import urllib.parse; print(urllib.parse.quote('$CALLER', safe=''))")" && jq_ "len(d['records'])" <"$T/body")" "200$NC"

# --- combined filters -------------------------------------------------------------------------
REF2=$(sq "select reference from call_detail_records where caller_id = '$CALLER' order by rowid limit 1")
check "key AND caller" "$(code GET "$B/v1/datasets/cdr/records?caller_id=$CALLER&reference=$REF2" && jq_ "len(d['records']), d['records'][0]['reference']" <"$T/body")" "2001 $REF2"
OTHER=$(sq "select caller_id from call_detail_records where caller_id <> '$CALLER' limit 1")
check "key AND another caller: nothing" "$(code GET "$B/v1/datasets/cdr/records?caller_id=$OTHER&reference=$REF2" && jq_ "len(d['records'])" <"$T/body")" "2000"
CJ=$(sq "select caller_id from call_detail_records where _sluice_job = '$J2' limit 1")
NCJ=$(sq "select count(*) from call_detail_records where caller_id = '$CJ' and _sluice_job = '$J2'")
check "caller AND job" "$(code GET "$B/v1/datasets/cdr/records?caller_id=$CJ&job_id=$J2" && jq_ "len(d['records']), set(r['_job_id'] for r in d['records'])" <"$T/body")" "200$NCJ {'$J2'}"

# --- by job, and pagination over everything ---------------------------------------------------
walk "$B/v1/datasets/cdr/records?job_id=$J2&limit=250"
pages=$(cat "$T/pages")
check "by job: rows = the job's rows_loaded" "$(wc -l <"$T/walk")" "$L2"
check "by job: only its rows" "$(python3 -c "import json; print({json.loads(l)['_job_id'] for l in open('$T/walk')})")" "{'$J2'}"
check "by job: pages" "$pages" "$(((L2 + 249) / 250))"
check "by unknown job: nothing" "$(code GET "$B/v1/datasets/cdr/records?job_id=j0000000000000000000" && jq_ "len(d['records'])" <"$T/body")" "2000"

walk "$B/v1/datasets/cdr/records?limit=1000"
pages=$(cat "$T/pages")
check "walk: every row once" "$(python3 -c "
import json
refs=[json.loads(l)['reference'] for l in open('$T/walk')]
print(len(refs), len(set(refs)))")" "$TOTAL $TOTAL"
check "walk: = rows_loaded of both jobs" "$(wc -l <"$T/walk")" "$((L1 + L2))"
check "walk: pages" "$pages" "$(((TOTAL + 999) / 1000))"
check "walk: in load order" "$(python3 -c "
import json
print('\n'.join(json.loads(l)['reference'] for l in open('$T/walk')))" | md5sum)" "$(sq "select reference from call_detail_records order by rowid" | md5sum)"
check "walk: the rows as stored" "$(python3 -c "
import json
for l in open('$T/walk'):
    r=json.loads(l)
    print('|'.join('' if r[c] is None else str(r[c]) for c in ['caller_id','recipient','call_date','end_time','duration','cost','reference','currency','_job_id']))" | md5sum)" \
	"$(sq "select caller_id, recipient, call_date, end_time, duration, printf('%.3f', cost), reference, currency, _sluice_job from call_detail_records order by rowid" | md5sum)"
check "default limit 100" "$(code GET "$B/v1/datasets/cdr/records" && jq_ "len(d['records']), d['next_cursor'] is not None" <"$T/body")" "200100 True"
check "the last page has no cursor" "$(code GET "$B/v1/datasets/cdr/records?cursor=$(sq "select max(rowid) - 3 from call_detail_records")" && jq_ "len(d['records']), d['next_cursor']" <"$T/body")" "2003 None"
check "a page of exactly the rest: no cursor" "$(code GET "$B/v1/datasets/cdr/records?limit=3&cursor=$(sq "select max(rowid) - 3 from call_detail_records")" && jq_ "len(d['records']), d['next_cursor']" <"$T/body")" "2003 None"
check "HEAD" "$(curl -s -o /dev/null -w '%{http_code}' -I "$B/v1/datasets/cdr/records?limit=1")" 200

# --- conversion: values compared as stored ----------------------------------------------------
check "kv: leading zeros match the integer" "$(code GET "$B/v1/datasets/kv/records?region=us&num=0042" && jq_ "len(d['records']), d['records'][0]['num']" <"$T/body")" "2001 42"
check "kv: + sign" "$(code GET "$B/v1/datasets/kv/records?num=%2B7" && jq_ "sorted(r['region'] for r in d['records'])" <"$T/body")" "200['eu', 'us']"
check "kv: decimal 1.5 = 1.50" "$(code GET "$B/v1/datasets/kv/records?amount=1.5" && jq_ "sorted((r['region'], r['num'], r['amount']) for r in d['records'])" <"$T/body")" "200[('eu', 7, '1.50'), ('us', 7, '1.50')]"
check "kv: decimal 0 = 0.00" "$(code GET "$B/v1/datasets/kv/records?amount=0" && jq_ "[r['num'] for r in d['records']]" <"$T/body")" "200[42]"
check "kv: boolean yes = true" "$(code GET "$B/v1/datasets/kv/records?flag=yes" && jq_ "sorted(r['num'] for r in d['records']), set(r['flag'] for r in d['records'])" <"$T/body")" "200[7, 7, 43] {True}"
check "kv: boolean N = false" "$(code GET "$B/v1/datasets/kv/records?flag=N" && jq_ "sorted(r['num'] for r in d['records']), set(r['flag'] for r in d['records'])" <"$T/body")" "200[8, 42] {False}"
check "kv: date in the file's format" "$(code GET "$B/v1/datasets/kv/records?day=1/2/2024" && jq_ "len(d['records']), d['records'][0]['day']" <"$T/body")" "2002 2024-02-01"
check "kv: JSON types and NULL" "$(code GET "$B/v1/datasets/kv/records?region=eu&num=8" && jq_ "d['records'][0]" <"$T/body")" \
	"200{'_job_id': '$JK', 'region': 'eu', 'num': 8, 'flag': False, 'amount': '-0.25', 'day': '2024-02-02', 'note': None, 'size': 11}"
check "kv: an integer too big is 400" "$(code GET "$B/v1/datasets/kv/records?num=99999999999999999999")" 400
check "kv: not an integer is 400" "$(code GET "$B/v1/datasets/kv/records?num=4x")" 400
grep -q 'num' "$T/body" && ok || bad "kv: the 400 names the column ($(cat "$T/body"))"
check "kv: a decimal with more digits than the scale is 400" "$(code GET "$B/v1/datasets/kv/records?amount=1.234")" 400
check "kv: not a date is 400" "$(code GET "$B/v1/datasets/kv/records?day=31/02/2024")" 400
check "kv: not a boolean is 400" "$(code GET "$B/v1/datasets/kv/records?flag=maybe" && jq_ "d['error']['code']" <"$T/body")" "400BAD_REQUEST"
check "kv: empty value = NULL; a required column holds none" "$(code GET "$B/v1/datasets/kv/records?region=" && jq_ "len(d['records'])" <"$T/body")" "2000"

# composite key: values joined by ','
check "kv: records/{a,b}" "$(code GET "$B/v1/datasets/kv/records/us,0042" && jq_ "d['region'], d['num'], d['day']" <"$T/body")" "200us 42 2024-02-29"
check "kv: records/{a,b} with a space" "$(code GET "$B/v1/datasets/kv/records/eu,%207" && jq_ "d['error']['code']" <"$T/body")" "400BAD_REQUEST"
check "kv: records/{a,b} not found" "$(code GET "$B/v1/datasets/kv/records/eu,9")" 404
check "kv: records/{a} lacks a column" "$(code GET "$B/v1/datasets/kv/records/eu")" 400
grep -q 'region,num' "$T/body" && ok || bad "kv: the 400 says how to write the key ($(cat "$T/body"))"
check "kv: the last value keeps its commas" "$(code GET "$B/v1/datasets/kv/records/eu,7,1")" 400

# --- errors ---------------------------------------------------------------------------------
check "not filterable: 400" "$(code GET "$B/v1/datasets/cdr/records?duration=5")" 400
check "not filterable: the message" "$(jq_ "d['error']['code'], d['error']['message']" <"$T/body")" \
	"BAD_REQUEST column duration is not the key or indexed; filterable: reference, caller_id, recipient"
check "unknown parameter: 400" "$(code GET "$B/v1/datasets/cdr/records?colour=red")" 400
grep -q 'filterable: reference, caller_id, recipient' "$T/body" && ok || bad "unknown parameter: lists the filterable columns"
check "a NUL in a value does not cut it short" "$(code GET "$B/v1/datasets/cdr/records?reference=$REF%00")" 400
check "a NUL in the cursor" "$(code GET "$B/v1/datasets/cdr/records?cursor=5%00x")" 400
check "column names are case-sensitive" "$(code GET "$B/v1/datasets/cdr/records?Caller_ID=1")" 400
for cur in abc -1 01 1.5 ' 5' 99999999999999999999 0x10 '+5'; do
	check "bad cursor '$cur'" "$(code GET "$B/v1/datasets/cdr/records" -G --data-urlencode "cursor=$cur")" 400
done
check "cursor 0 is the start" "$(code GET "$B/v1/datasets/cdr/records?cursor=0&limit=1" && jq_ "len(d['records'])" <"$T/body")" "2001"
for lim in 0 1001 x -1 '' 10a 00010; do
	check "bad limit '$lim'" "$(code GET "$B/v1/datasets/cdr/records?limit=$lim")" 400
done
check "limit 1000" "$(code GET "$B/v1/datasets/cdr/records?limit=1000" && jq_ "len(d['records'])" <"$T/body")" "2001000"
check "limit twice" "$(code GET "$B/v1/datasets/cdr/records?limit=1&limit=2")" 400
check "bad job_id" "$(code GET "$B/v1/datasets/cdr/records?job_id=a/b")" 400
check "unknown dataset: 404" "$(code GET "$B/v1/datasets/nope/records")" 404
check "unknown dataset, by key: 404" "$(code GET "$B/v1/datasets/nope/records/x")" 404
check "no key: records/{key} 404" "$(code GET "$B/v1/datasets/bare/records/x")" 404
grep -q 'has no key' "$T/body" && ok || bad "no key: says so ($(cat "$T/body"))"
check "no key, no table: an indexed filter is an empty page" "$(code GET "$B/v1/datasets/bare/records?a=1" && jq_ "d['records']" <"$T/body")" "200[]"
check "POST: 405" "$(code POST "$B/v1/datasets/cdr/records")" 405

stop_server
check "SIGTERM: exit 0" "$STOPPED" 0
if grep -q 'Sanitizer\|runtime error' "$T/log"; then bad "sanitizer report: $(grep -m3 'Sanitizer\|runtime error' "$T/log")"; else ok; fi
finish test_records
