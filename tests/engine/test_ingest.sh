#!/usr/bin/env bash
# End-to-end tests of `sluice ingest` and the job commands against a real
# SQLite file: the table value by value against an independent oracle
# (tests/lib/oracle.py), counts, codes and positions against the
# generator's manifest, identical results for any thread count, chunk size,
# line ending and number of kill -9 interruptions, and the faults a user
# meets (a locked database, a full disk, a changed, missing or malformed
# input, a bad schema). Every run of sluice goes through `sl`
# (tests/lib/harness.sh).
# Usage: test_ingest.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
at_exit() { kill $(jobs -p) 2>/dev/null; }
json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }
q() { sqlite3 -batch "$1" "$2"; }
# the loaded table and the error table, as text, for comparing runs
snapshot() {
	q "$1" "SELECT caller_id,recipient,call_date,end_time,duration,cost,reference,currency FROM call_detail_records ORDER BY reference" | md5sum | cut -c1-32
	q "$1" "SELECT record,line,offset,column_name,code,message,hex(raw) FROM sluice_rejects ORDER BY record" | md5sum | cut -c1-32
}
ingest() { sl ingest "$@" >"$T/out.json"; echo $? >"$T/rc"; }
# rejects_are DB MANIFEST WHAT: the error table holds the manifest's bad
# rows, with the codes docs/gen.md gives
rejects_are() {
	cdr_rejects "$2" >"$T/want_rejects"
	q "$1" "SELECT record, line, code FROM sluice_rejects ORDER BY record" | tr '|' '\t' >"$T/got_rejects"
	cmp -s "$T/want_rejects" "$T/got_rejects" && ok || bad "$3: rejects (record, line, code) differ from the manifest: $(diff "$T/want_rejects" "$T/got_rejects" | head -4)"
}
# committed DB: its chunks committed so far (0 before the store exists)
committed() {
	local n=
	[ -s "$1" ] && n=$(q "$1" "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'" 2>/dev/null)
	echo "${n:-0}"
}
# at_least DB N: N chunks of DB committed
at_least() { [ "$(committed "$1")" -ge "$2" ]; }

ROWS=${ROWS:-30000}
sl gen cdr --rows "$ROWS" --error-rate 0.05 --seed 11 --quoted-rate 0.05 --manifest "$T/man.tsv" -o "$T/cdr.csv" || bad "gen cdr"

# --- counts per code and positions match the manifest ----------------------------
ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/a.db" --json --chunk-size 64k
check "exit status (some rows rejected)" "$(cat "$T/rc")" 3
check "status" "$(json "$T/out.json" "d['status']")" PartiallySucceeded
check "rows_read" "$(json "$T/out.json" "d['rows_read']")" "$ROWS"
bad_rows=$(wc -l <"$T/man.tsv")
check "rows_rejected = manifest" "$(json "$T/out.json" "d['rows_rejected']")" "$bad_rows"
check "rows_loaded" "$(json "$T/out.json" "d['rows_loaded']")" $((ROWS - bad_rows))
check "rows in the table" "$(q "$T/a.db" 'SELECT count(*) FROM call_detail_records')" $((ROWS - bad_rows))
rejects_are "$T/a.db" "$T/man.tsv" "first load"
table_is "$T/a.db" "$T/cdr.csv" && ok || bad "the table differs from the oracle's rows (Python's csv + the schema's conversions)"
check "the file has every kind of defect (9 codes)" "$(cut -f3 "$T/want_rejects" | sort -u | grep -c .)" 9
# the raw record kept is the line in the file (single-line rows)
rec=$(awk -F'\t' '$3=="BAD_DATE"{print $2; exit}' "$T/man.tsv")
want_raw=$(sed -n "${rec}p" "$T/cdr.csv")
got_raw=$(q "$T/a.db" "SELECT raw FROM sluice_rejects WHERE line=$rec")
check "raw record of a rejected row" "$got_raw" "$want_raw"
check "offset is where the record starts" "$(q "$T/a.db" "SELECT offset FROM sluice_rejects WHERE line=$rec")" "$(head -n $((rec - 1)) "$T/cdr.csv" | wc -c)"
check "counts add up in every chunk" "$(q "$T/a.db" 'SELECT count(*) FROM sluice_chunks WHERE rows_read != rows_loaded + rows_rejected')" 0
check "audit events: start and end per chunk" "$(q "$T/a.db" "SELECT count(*) FROM sluice_events WHERE kind IN ('chunk_start','chunk_end')")" $((2 * $(json "$T/out.json" "d['chunks_total']")))
check "every row carries its job id" "$(q "$T/a.db" "SELECT count(DISTINCT _sluice_job) FROM call_detail_records")" 1
# the reference of the runs below: this first run, which the oracle and the
# manifest have just checked value by value
REF=$(snapshot "$T/a.db")

# --- the same tables whatever the threads and chunk sizes ----------------------------
for args in "--threads 1 --chunk-size 1G" "--threads 2 --chunk-size 4k" "--threads 2 --chunk-size 100000"; do
	rm -f "$T/b.db"*
	# shellcheck disable=SC2086
	ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/b.db" --json $args
	check "same table and rejects with $args" "$(snapshot "$T/b.db")" "$REF"
done

# --- CRLF line endings and a byte-order mark: same rows, same codes ----------------
sl gen cdr --rows "$ROWS" --error-rate 0.05 --seed 11 --quoted-rate 0.05 --crlf --bom -o "$T/crlf.csv" || bad "gen cdr --crlf"
rm -f "$T/b.db"*
ingest "$T/crlf.csv" --schema "$SCHEMA" --db "$T/b.db" --json --chunk-size 32k
# the line breaks inside quoted recipients are the file's own (CRLF)
table_is "$T/b.db" "$T/crlf.csv" && ok || bad "CRLF+BOM: the table differs from the oracle's rows"
want=$(q "$T/a.db" "SELECT replace(recipient, char(10), '') || reference FROM call_detail_records ORDER BY reference" | md5sum)
got=$(q "$T/b.db" "SELECT replace(replace(recipient, char(13), ''), char(10), '') || reference FROM call_detail_records ORDER BY reference" | md5sum)
check "CRLF+BOM file loads the same rows" "$got" "$want"
check "CRLF+BOM rejects: same records and codes" "$(q "$T/b.db" 'SELECT record, line, code FROM sluice_rejects ORDER BY record' | md5sum)" "$(q "$T/a.db" 'SELECT record, line, code FROM sluice_rejects ORDER BY record' | md5sum)"

# --- kill -9 between commits, resume each time: same result, nothing twice -------
# Each run is killed once it has committed 1 to 3 more chunks than the run
# before (polled in the store), so the kills land in chunks in flight at
# varied points, every kill is after progress, and the loop cannot spin.
sl gen cdr --rows $((ROWS * 4)) --error-rate 0.05 --seed 12 --quoted-rate 0.05 --manifest "$T/bigman.tsv" -o "$T/big.csv" || bad "gen cdr (big)"
rm -f "$T/k.db"*
kills=0
prev=0
: >"$T/k.err"
for i in $(seq 1 60); do
	sl_start "$T/k.err" ingest "$T/big.csv" --schema "$SCHEMA" --db "$T/k.db" --chunk-size 64k --quiet >/dev/null
	pid=$BG_PID
	want=$((prev + 1 + RANDOM % 3))
	# poll until the run has committed enough, or ended by itself
	while [ "$(committed "$T/k.db")" -lt "$want" ] && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.005
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	st=$?
	sanitizer_scan "$st" "$T/k.err" "ingest in the kill loop (run $i)"
	now=$(committed "$T/k.db")
	if [ "$st" = 137 ]; then
		kills=$((kills + 1))
		[ "$now" -gt "$prev" ] || bad "kill $kills: no chunk committed since the last kill ($prev, then $now)"
	else
		check "the run not killed ends PartiallySucceeded (exit 3)" "$st" 3
		break
	fi
	prev=$now
	[ $kills -ge 25 ] && break
done
st=$(q "$T/k.db" "SELECT status FROM sluice_jobs" 2>/dev/null | tail -1)
case "$st" in PartiallySucceeded | Succeeded | Failed) ;; *)
	sl ingest "$T/big.csv" --schema "$SCHEMA" --db "$T/k.db" --chunk-size 64k --quiet >/dev/null
	check "the resume after the last kill: exit 3" "$?" 3
	;;
esac
[ $kills -ge 20 ] && ok || bad "only $kills kills landed"
check "one job after $kills kills" "$(q "$T/k.db" 'SELECT count(*) FROM sluice_jobs')" 1
table_is "$T/k.db" "$T/big.csv" && ok || bad "after $kills kills: the table differs from the oracle's rows"
rejects_are "$T/k.db" "$T/bigman.tsv" "after $kills kills"
check "after kills: job counters add up" "$(q "$T/k.db" 'SELECT rows_read = rows_loaded + rows_rejected AND rows_read = '$((ROWS * 4))' FROM sluice_jobs')" 1
check "after kills: no key loaded twice" "$(q "$T/k.db" 'SELECT count(*) - count(DISTINCT reference) FROM call_detail_records')" 0

# --- resume skips finished chunks; a changed file refuses to resume --------------------
rm -f "$T/r.db"*
cp "$T/cdr.csv" "$T/chg.csv"
sl_start "$T/r.err" ingest "$T/chg.csv" --schema "$SCHEMA" --db "$T/r.db" --chunk-size 16k --quiet >/dev/null
pid=$BG_PID
wait_for "a committed chunk of r.db" 1500 at_least "$T/r.db" 1
sl_kill9 $pid "$T/r.err"
check "the job was interrupted, unfinished" "$(q "$T/r.db" "SELECT status FROM sluice_jobs")" Processing
echo "1,2,3" >>"$T/chg.csv"
ingest "$T/chg.csv" --schema "$SCHEMA" --db "$T/r.db" --json
check "changed file: exit 4" "$(cat "$T/rc")" 4
grep -q IO_CHANGED "$T/err" && ok || bad "changed file: IO_CHANGED in the message ($(cat "$T/err"))"

# --- a second ingest of a running job shares it (leased chunks, not a second load) ----------
rm -f "$T/two.db"*
sl_start "$T/two.err" ingest "$T/big.csv" --schema "$SCHEMA" --db "$T/two.db" --chunk-size 64k --quiet >/dev/null
pid=$BG_PID
wait_for "a committed chunk of two.db" 1500 at_least "$T/two.db" 1
ingest "$T/big.csv" --schema "$SCHEMA" --db "$T/two.db" --chunk-size 64k
check "second process on a running job: it joins, exit 3" "$(cat "$T/rc")" 3
sl_wait $pid "$T/two.err"
check "the first process: exit 3" "$?" 3
check "the two processes share one job" "$(q "$T/two.db" 'SELECT count(*) FROM sluice_jobs')" 1
check "every chunk committed once" "$(q "$T/two.db" "SELECT count(*) = sum(status = 'Succeeded') FROM sluice_chunks")" 1
table_is "$T/two.db" "$T/big.csv" && ok || bad "two processes on one job: the table differs from the oracle's rows"

# --- faults ----------------------------------------------------------------------
ingest "$T/nope.csv" --schema "$SCHEMA" --db "$T/f.db"
check "missing file: exit 4" "$(cat "$T/rc")" 4
grep -q "nope.csv" "$T/err" && ok || bad "missing file: message names the file"
ingest "$T" --schema "$SCHEMA" --db "$T/f.db"
check "a directory: exit 4" "$(cat "$T/rc")" 4
printf 'name: x\ntable: t\ncolumns:\n  - {name: a, type: nonsense}\n' >"$T/bad.yaml"
ingest "$T/cdr.csv" --schema "$T/bad.yaml" --db "$T/f.db"
check "bad schema: exit 2" "$(cat "$T/rc")" 2
grep -q "bad.yaml:4:" "$T/err" && ok || bad "bad schema: file and line in the message ($(cat "$T/err"))"
printf 'caller_id,recipient\n123456,x\n' >"$T/cols.csv"
ingest "$T/cols.csv" --schema "$SCHEMA" --db "$T/f.db" --json
check "missing columns: exit 4" "$(cat "$T/rc")" 4
check "missing columns: FATAL_HEADER" "$(json "$T/out.json" "d['error']['code']")" FATAL_HEADER
check "missing columns: nothing loaded" "$(json "$T/out.json" "d['rows_loaded']")" 0
: >"$T/empty.csv"
ingest "$T/empty.csv" --schema "$SCHEMA" --db "$T/f.db" --json
check "empty file: Failed" "$(json "$T/out.json" "d['status']")" Failed
head -1 "$T/cdr.csv" >"$T/header.csv"
ingest "$T/header.csv" --schema "$SCHEMA" --db "$T/f.db" --json
check "header-only file: Succeeded" "$(json "$T/out.json" "d['status']")+$(json "$T/out.json" "d['rows_read']")" "Succeeded+0"

# another process holds the database lock: the chunk waits, retries, and loads
rm -f "$T/l.db"*
sl gen cdr --rows 2000 --error-rate 0.05 --seed 13 -o "$T/small.csv" || bad "gen cdr (small)"
sl ingest "$T/header.csv" --schema "$SCHEMA" --db "$T/l.db" --quiet >/dev/null # create it
check "an empty store made" "$?" 0
lock_db "$T/l.db"
sl_start "$T/l.err" ingest "$T/small.csv" --schema "$SCHEMA" --db "$T/l.db" --json >"$T/out.json"
pid=$BG_PID
# release the lock once the load has opened the database (and so meets the lock)
opened() { ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "$T/l.db"; }
wait_for "the load to open the locked database" 1500 opened
check "the load waits while the lock is held" "$(kill -0 $pid 2>/dev/null && [ ! -s "$T/out.json" ] && echo waits)" waits
unlock_db
sl_wait $pid "$T/l.err"
check "locked database: exit 3" "$?" 3
check "locked database: the load finishes" "$(json "$T/out.json" "d['rows_read']")" 2000
check "locked database: no chunk failed" "$(json "$T/out.json" "d['chunks_failed']")" 0
# a transient fault on one chunk: retried (with backoff) and loaded on the third attempt
rm -f "$T/l.db"*
SLUICE_FAULTS="chunk=1,times=2,code=DB_BUSY" sl ingest "$T/small.csv" --schema "$SCHEMA" --db "$T/l.db" --chunk-size 32k --json >"$T/out.json"
check "transient fault: no chunk failed" "$(json "$T/out.json" "d['chunks_failed']")+$(json "$T/out.json" "d['rows_read']")" "0+2000"
check "transient fault: chunk 1 took 3 attempts" "$(q "$T/l.db" "SELECT attempts FROM sluice_chunks WHERE seq=1")" 3
# a fault that does not go away: the chunk is Failed with its reason, the rest loads, retry finishes it
rm -f "$T/l.db"*
SLUICE_FAULTS="chunk=1,times=99,code=DB_BUSY" ingest "$T/small.csv" --schema "$SCHEMA" --db "$T/l.db" --chunk-size 32k --json
check "lasting fault: exit 3" "$(cat "$T/rc")" 3
check "lasting fault: one chunk failed" "$(json "$T/out.json" "d['chunks_failed']")+$(json "$T/out.json" "d['status']")" "1+PartiallySucceeded"
check "lasting fault: reason kept" "$(q "$T/l.db" "SELECT status, attempts, last_error FROM sluice_chunks WHERE seq=1")" "Failed|3|DB_BUSY"
job=$(json "$T/out.json" "d['job_id']")
sl retry "$job" --db "$T/l.db" --json >"$T/out.json"
check "retry after the fault: every row" "$(json "$T/out.json" "d['chunks_failed']")+$(json "$T/out.json" "d['rows_read']")" "0+2000"

# a full disk (a file size limit): chunks fail cleanly, nothing half-written, retry loads them
rm -f "$T/d.db"*
sl ingest "$T/header.csv" --schema "$SCHEMA" --db "$T/d.db" --quiet >/dev/null
(ulimit -f 1200; ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/d.db" --json --chunk-size 256k)
check "full disk: the job stops (exit 4)" "$(cat "$T/rc")" 4
check "full disk: says DB_FULL" "$(json "$T/out.json" "d['error']['code']")" DB_FULL
loaded=$(q "$T/d.db" "SELECT count(*) FROM call_detail_records")
check "full disk: what is committed adds up" "$(q "$T/d.db" "SELECT sum(rows_loaded) FROM sluice_chunks WHERE status='Succeeded'")" "$loaded"
job=$(json "$T/out.json" "d['job_id']")
sl retry "$job" --db "$T/d.db" --json >"$T/out.json"
check "full disk: retry after space returns" "$(json "$T/out.json" "d['chunks_failed']")+$(json "$T/out.json" "d['rows_read']")" "0+$ROWS"
check "full disk: same table after retry" "$(snapshot "$T/d.db")" "$REF"
table_is "$T/d.db" "$T/cdr.csv" && ok || bad "full disk, retried: the table differs from the oracle's rows"

# --- on_duplicate: reject keeps the first, ignore does not make the job partial,
#     update keeps the last -------------------------------------------------------
head -1 "$T/cdr.csv" >"$T/dups.csv"
for i in 1 2 3; do
	echo "4412345678$i,4420000000,01/02/2025,10:00:0$i,6$i,1.00$i,CDUPKEY00000000000000000000000001,GBP" >>"$T/dups.csv"
	echo "4412345679$i,4420000000,01/02/2025,10:00:0$i,6$i,2.00$i,CUNIQUE0000000000000000000000000$i,EUR" >>"$T/dups.csv"
done
for mode in reject ignore update; do
	sed "s/^on_duplicate: .*/on_duplicate: $mode/; /^limits:/,/max_error_ratio/d" "$SCHEMA" >"$T/dup_$mode.yaml"
	rm -f "$T/u.db"*
	ingest "$T/dups.csv" --schema "$T/dup_$mode.yaml" --db "$T/u.db" --json
	got="$(json "$T/out.json" "d['status']")+$(json "$T/out.json" "d['rows_loaded']")+$(json "$T/out.json" "d['rejects_by_code'].get('DUP_KEY',0)")"
	dur=$(q "$T/u.db" "SELECT duration FROM call_detail_records WHERE reference='CDUPKEY00000000000000000000000001'")
	case $mode in
	reject) check "on_duplicate reject: first wins, the rest rejected" "$got+$dur" "PartiallySucceeded+4+2+61" ;;
	ignore) check "on_duplicate ignore: first wins, job not partial" "$got+$dur" "Succeeded+4+2+61" ;;
	update) check "on_duplicate update: the last wins" "$got+$dur" "Succeeded+6+0+63" ;;
	esac
done

# --- error budget, rollback, errors, jobs, status, validate, gc --------------------
rm -f "$T/e.db"*
ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/e.db" --json --chunk-size 64k --max-errors 100
check "budget exceeded: Failed" "$(json "$T/out.json" "d['status']")+$(cat "$T/rc")" "Failed+4"
check "budget exceeded: says why" "$(json "$T/out.json" "d['error']['code']")" LIMIT
loaded=$(json "$T/out.json" "d['rows_loaded']")
check "budget exceeded: committed rows kept" "$(q "$T/e.db" 'SELECT count(*) FROM call_detail_records')" "$loaded"
job=$(json "$T/out.json" "d['job_id']")
sl rollback "$job" --db "$T/e.db" --quiet
check "rollback: exit 0" "$?" 0
check "rollback removes the job's rows" "$(q "$T/e.db" 'SELECT count(*) FROM call_detail_records')" 0
check "rollback: status" "$(q "$T/e.db" "SELECT status FROM sluice_jobs WHERE id='$job'")" RolledBack

job=$(json "$T/out.json" "d['job_id']")
ajob=$(q "$T/a.db" "SELECT id FROM sluice_jobs")
sl errors "$ajob" --db "$T/a.db" --format jsonl >"$T/errs.jsonl" || bad "errors --format jsonl: exit $?"
check "errors jsonl: one line per reject" "$(wc -l <"$T/errs.jsonl")" "$bad_rows"
sl errors "$ajob" --db "$T/a.db" --code VAL_ENUM >"$T/errs.csv" || bad "errors --code: exit $?"
check "errors csv --code: header + rows" "$(($(python3 -c "import csv; print(len(list(csv.reader(open('$T/errs.csv')))))") - 1))" "$(grep -c BAD_CURRENCY "$T/man.tsv")"
# the raw form is the bad records with the file's header: fixed, it loads again
sl errors "$ajob" --db "$T/a.db" --format raw --code VAL_ENUM >"$T/fix.csv" || bad "errors --format raw: exit $?"
sed -i 's/,gbp$/,GBP/; s/,eur$/,EUR/; s/,usd$/,USD/; s/,JPY$/,GBP/; s/,CHF$/,GBP/; s/,AUD$/,GBP/; s/,XXX$/,GBP/' "$T/fix.csv"
ingest "$T/fix.csv" --schema "$SCHEMA" --db "$T/a.db" --json
check "fixed rejects load again" "$(json "$T/out.json" "d['rows_loaded']")+$(json "$T/out.json" "d['rows_rejected']")" "$(grep -c BAD_CURRENCY "$T/man.tsv")+0"
sl jobs --db "$T/a.db" --json >"$T/jobs.json" || bad "jobs --json: exit $?"
check "jobs --json, newest first" "$(json "$T/jobs.json" "d['jobs'][1]['job_id']")" "$ajob"
sl status "$ajob" --db "$T/a.db" --json >"$T/st.json" || bad "status --json: exit $?"
check "status --json counts" "$(json "$T/st.json" "d['rows_rejected']")" "$bad_rows"
sl status "$ajob" --db "$T/a.db" --chunks --json >"$T/st.json" || bad "status --chunks: exit $?"
check "status --chunks --json: one object, every chunk" "$(json "$T/st.json" "len(d['chunks'])")" "$(json "$T/st.json" "d['chunks_total']")"
sl validate "$T/cdr.csv" --schema "$SCHEMA" --json >"$T/v.json"
check "validate: exit 3 (rows rejected)" "$?" 3
check "validate: rejects all but duplicates" "$(json "$T/v.json" "d['rows_rejected']")" $((bad_rows - $(grep -c DUP_REFERENCE "$T/man.tsv")))
[ ! -e sluice.db ] && ok || bad "validate created a database"
rows_before=$(q "$T/a.db" 'SELECT count(*) FROM call_detail_records')
sl gc --older-than 0s --db "$T/a.db" >/dev/null || bad "gc: exit $?"
check "gc removes old rejects" "$(q "$T/a.db" 'SELECT count(*) FROM sluice_rejects')" 0
check "gc keeps the rows" "$(q "$T/a.db" 'SELECT count(*) FROM call_detail_records')" "$rows_before"

# --- cancel from another process: the run stops at a chunk boundary, retry finishes ---
# (the run held before its chunk 5 while the cancel comes: a fast run
# could otherwise end before it)
mkdir -p "$T/cz"
SLUICE_TEST_PAUSE=5:$T/cz sl_start "$T/c.err" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/x.db" --json --chunk-size 8k --threads 1 >"$T/c.json"
cpid=$BG_PID
wait_for "the run held before chunk 5 of x.db" 1500 test -e "$T/cz/paused"
cjob=$(q "$T/x.db" "SELECT id FROM sluice_jobs")
sl cancel "$cjob" --db "$T/x.db" >"$T/cancel.out"
check "cancel a running job: exit 0" "$?" 0
: >"$T/cz/go"
sl_wait $cpid "$T/c.err"
check "the cancelled run: exit 4" "$?" 4
check "cancel: the run ends Cancelled" "$(json "$T/c.json" "d['status']")" Cancelled
check "cancel: counts add up" "$(json "$T/c.json" "d['rows_read'] == d['rows_loaded'] + d['rows_rejected'] and d['chunks_processed'] < d['chunks_total']")" True
check "cancel: rows in the table = rows_loaded" "$(q "$T/x.db" 'SELECT count(*) FROM call_detail_records')" "$(json "$T/c.json" "d['rows_loaded']")"
check "cancel a finished job: refused" "$(sl cancel "$cjob" --db "$T/x.db" >/dev/null; echo $?)" 2
sl retry "$cjob" --db "$T/x.db" --json >"$T/c.json"
check "retry after cancel: exit 3" "$?" 3
check "retry after cancel: every row once" "$(json "$T/c.json" "d['status'], d['rows_read'], d['rows_rejected']") $(q "$T/x.db" 'SELECT count(*) FROM call_detail_records')" "PartiallySucceeded $ROWS $bad_rows $((ROWS - bad_rows))"
# a job nobody runs is cancelled at once
sl_start "$T/cn.err" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/cn.db" --json --chunk-size 8k --threads 1 >/dev/null
dpid=$BG_PID
wait_for "2 committed chunks of cn.db" 1500 at_least "$T/cn.db" 2
djob=$(q "$T/cn.db" "SELECT id FROM sluice_jobs")
sl_kill9 $dpid "$T/cn.err"
sl cancel "$djob" --db "$T/cn.db" --json >"$T/dc.json" || cat "$T/err"
check "cancel a job nobody runs: at once" "$(json "$T/dc.json" "d['status']")" Cancelled
check "... and a resume does not run it" "$(sl resume "$djob" --db "$T/cn.db" >/dev/null; echo $?)" 2

finish ingest
