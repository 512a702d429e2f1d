#!/usr/bin/env bash
# Drop folders in object storage (issue 13): `sluice watch s3://BUCKET/PREFIX/`
# against s3rver on loopback (the s3rver fixture). Objects under the prefix,
# listed a page of one key at a time (continuation tokens, counted by the
# fault proxy), are each loaded once: the table holds exactly the oracle's
# rows (tests/lib/oracle.py) of the file they were cut from, the rejects
# are the generator's manifest; a second run takes nothing (no GET of an
# object); the same bytes under another key are one job (duplicate_of);
# --marker waits for KEY.done; a new version of a key is a new job, a bad
# object fails once; an object replaced under its unfinished job: the old
# job cancelled, the new version loaded; a kill -9 mid-load (held at a
# chunk boundary by SLUICE_TEST_PAUSE, no sleeps), after the job finished
# but before the state file's line, and after it: the restart loads every
# row once; a line cut short is not read; throttling and 500s (the fault
# proxy) retried, lasting ones leave the object for the next run, a 400
# records it failed; a missing bucket; a running watcher (not --once)
# takes an object put while it polls and ends on SIGTERM; a second watcher
# of the same prefix and database is refused.
# Objects are put with curl's own SigV4 signing, not with sluice.
# Usage: test_watch_s3.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
use_fixture s3rver
at_exit() {
	[ -d "$T/p" ] && touch "$T/p/go"
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
}

export AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=$S3_ENDPOINT SLUICE_S3_BACKOFF_MS=2
unset AWS_SESSION_TOKEN SLUICE_S3_STYLE
B=$(fixture_namespace | tr '_' '-')
s3() {
	local args=(-s -o "$T/s3.body" -w '%{http_code}' -X "$1" --aws-sigv4 "aws:amz:us-east-1:s3"
		--user "$S3_KEY:$S3_SECRET" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
	case ${3:-} in
	'') ;;
	EMPTY) args+=(--data-binary "") ;;
	*) args+=(-T "$3") ;;
	esac
	curl "${args[@]}" "$S3_ENDPOINT/$2"
}
arm() { curl -s -o /dev/null -w '%{http_code}' -X POST --data "$1" "$S3_PROXY/__faults"; }
seen() { curl -s "$S3_PROXY/__faults?match=$1&method=GET" | python3 -c "import json,sys; print(json.load(sys.stdin)['seen'])"; }
rejects_of() { sql "$1" "SELECT record, line, code FROM sluice_rejects ORDER BY job_id, record"; }
lines() { grep -c . "$1"; }

check "create the bucket" "$(s3 PUT "$B")" 200
ROWS=3000
sl_run gen cdr --rows $ROWS --error-rate 0.02 --seed 41 --manifest "$T/man.tsv" -o "$T/all.csv"
check "gen: exit" "$(rc)" 0
BAD=$(wc -l <"$T/man.tsv")
# three objects of their own (other seeds), and the file they make together
# (one header), whose oracle is the table's after all three
for i in 0 1 2; do
	sl_run gen cdr --rows 1000 --error-rate 0.02 --seed $((50 + i)) --manifest "$T/m$i.tsv" -o "$T/p$i.csv"
	check "gen p$i: exit" "$(rc)" 0
done
{ cat "$T/p0.csv"; tail -n +2 "$T/p1.csv"; tail -n +2 "$T/p2.csv"; } >"$T/parts.csv"
PBAD=$(cat "$T"/m[012].tsv | wc -l)
P=in$$
for i in 0 1 2; do check "put p$i.csv" "$(s3 PUT "$B/$P/p$i.csv" "$T/p$i.csv")" 200; done
check "put a folder placeholder" "$(s3 PUT "$B/$P/sub/" EMPTY)" 200
check "put an object outside the prefix" "$(s3 PUT "$B/other/x.csv" "$T/p0.csv")" 200

# --- every object once, listed a key per page ----------------------------------------------
DB=$T/w.db
lists0=$(seen "prefix=$P")
SLUICE_TEST_WATCH_S3_PAGE=1 sl_run watch "s3://$B/$P/" --schema "$SCHEMA" --db "$DB" --once --json \
	--chunk-size 16k --threads 2 --s3-endpoint "$S3_PROXY"
check "first run: exit 3 (rows rejected)" "$(rc)" 3
check "first run: a JSON line per object" "$(lines "$T/out")" 3
check "first run: the objects, in the listing's order" "$(python3 -c "import json,sys; print(' '.join(json.loads(l)['drop']['name'] for l in open(sys.argv[1])))" "$T/out")" "$P/p0.csv $P/p1.csv $P/p2.csv"
check "first run: path and how" "$(head -1 "$T/out" | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['drop']['path'], d['drop']['taken'], d['status'])")" "s3://$B/$P/p0.csv listed PartiallySucceeded"
lists=$(($(seen "prefix=$P") - lists0))
[ "$lists" -ge 4 ] && ok || bad "a key per page: $lists listing requests, want 4 or more (continuation)"
check "first run: one job per object" "$(sql "$DB" 'SELECT count(*) FROM sluice_jobs')" 3
check "first run: the jobs name the objects" "$(sql "$DB" 'SELECT file FROM sluice_jobs ORDER BY file' | tr '\n' ' ')" "s3://$B/$P/p0.csv s3://$B/$P/p1.csv s3://$B/$P/p2.csv "
table_is "$DB" "$T/parts.csv" && ok || bad "first run: the table is not the oracle's"
check "first run: rows read, rejected" "$(sql "$DB" 'SELECT sum(rows_read), sum(rows_rejected) FROM sluice_jobs')" "3000|$PBAD"
STATE=$(ls "$T"/w.db.s3watch-* 2>/dev/null)
check "the state file: a line per object" "$(lines "$STATE")" 3

# --- again: nothing taken, no object read ---------------------------------------------------
gets0=$(seen "$P/p")
sl_run watch "s3://$B/$P/" --schema "$SCHEMA" --db "$DB" --once --json --s3-endpoint "$S3_PROXY"
check "second run: exit 0" "$(rc)" 0
check "second run: nothing printed" "$(lines "$T/out")" 0
check "second run: no object read" "$(($(seen "$P/p") - gets0))" 0
check "second run: still three jobs" "$(sql "$DB" 'SELECT count(*) FROM sluice_jobs')" 3

# --- the same bytes under another key: one job ----------------------------------------------
J0=$(sql "$DB" "SELECT id FROM sluice_jobs WHERE file = 's3://$B/$P/p0.csv'")
check "put the copy" "$(s3 PUT "$B/$P/q-copy.csv" "$T/p0.csv")" 200
sl_run watch "s3://$B/$P/" --schema "$SCHEMA" --db "$DB" --once --json
check "copy: exit 3 (the earlier job's status)" "$(rc)" 3
check "copy: reported as the earlier job's" "$(json "$T/out" "d['already_loaded'], d['duplicate_of'], d['drop']['name']")" "True $J0 $P/q-copy.csv"
check "copy: no new job" "$(sql "$DB" 'SELECT count(*) FROM sluice_jobs')" 3
table_is "$DB" "$T/parts.csv" && ok || bad "copy: the table changed"

# --- --marker: KEY.done first ------------------------------------------------------------------
M=m$$
check "put m/a.csv" "$(s3 PUT "$B/$M/a.csv" "$T/all.csv")" 200
sl_run watch "s3://$B/$M/" --schema "$SCHEMA" --db "$T/m.db" --once --json --marker
check "no marker: exit 0" "$(rc)" 0
check "no marker: nothing loaded" "$(lines "$T/out")+$(sql "$T/m.db" 'SELECT count(*) FROM sluice_jobs' 2>/dev/null || echo 0)" "0+0"
check "put the marker" "$(s3 PUT "$B/$M/a.csv.done" EMPTY)" 200
sl_run watch "s3://$B/$M/" --schema "$SCHEMA" --db "$T/m.db" --once --json --marker
check "marker: exit 3" "$(rc)" 3
check "marker: taken by its marker, the marker not loaded" "$(json "$T/out" "d['drop']['taken'], d['rows_read']")+$(sql "$T/m.db" 'SELECT count(*) FROM sluice_jobs')" "marker $ROWS+1"
table_is "$T/m.db" "$T/all.csv" && ok || bad "marker: the table is not the oracle's"

# --- kill -9 mid-load, at a chunk boundary; the restart resumes the job ----------------------
K=k$$
check "put k/f.csv" "$(s3 PUT "$B/$K/f.csv" "$T/all.csv")" 200
mkdir -p "$T/p"
SLUICE_TEST_PAUSE=3:$T/p sl_start "$T/k.err" watch "s3://$B/$K/" --schema "$SCHEMA" --db "$T/k.db" --json --threads 1 --chunk-size 16k --interval 0.2
WPID=$BG_PID
wait_for "the job held before chunk 3" 1500 test -e "$T/p/paused"
sl_kill9 "$WPID" "$T/k.err"
# unfinished: Chunking while its pipelined plan is made (an S3 object's), Processing after
check "killed mid-load: three chunks committed, the job unfinished" "$(sql "$T/k.db" "SELECT status IN ('Chunking', 'Processing'), (SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded') FROM sluice_jobs")" "1|3"
check "killed mid-load: the state file has no line" "$(cat "$T"/k.db.s3watch-*)" ""
J=$(cat "$T/p/paused")
sl_run watch "s3://$B/$K/" --schema "$SCHEMA" --db "$T/k.db" --once --json --threads 2 --chunk-size 16k
check "restart: exit 3" "$(rc)" 3
check "restart: the same job resumed, every row" "$(json "$T/out" "d['job_id'], d['resumed'], d['rows_read'], d['rows_rejected']")" "$J True $ROWS $BAD"
check "restart: one job" "$(sql "$T/k.db" 'SELECT count(*) FROM sluice_jobs')" 1
table_is "$T/k.db" "$T/all.csv" && ok || bad "restart: the table is not the oracle's (rows lost or loaded twice)"
cdr_rejects "$T/man.tsv" | tr '\t' '|' >"$T/want_rejects"
sql "$T/k.db" "SELECT record, line, code FROM sluice_rejects ORDER BY record" >"$T/got_rejects"
cmp -s "$T/want_rejects" "$T/got_rejects" && ok || bad "restart: rejects differ from the manifest: $(diff "$T/want_rejects" "$T/got_rejects" | head -3)"

# --- a new version of a key is a new drop; a bad object fails once -----------------------------
V=v$$
check "put v/f.csv" "$(s3 PUT "$B/$V/f.csv" "$T/p0.csv")" 200
sl_run watch "s3://$B/$V/" --schema "$SCHEMA" --db "$T/v.db" --once --json
check "version 1: exit 3" "$(rc)" 3
check "put v/f.csv again, other bytes" "$(s3 PUT "$B/$V/f.csv" "$T/p1.csv")" 200
printf 'a,b\n1,2\n' >"$T/bad.csv"
check "put v/g.csv (not a CDR file)" "$(s3 PUT "$B/$V/g.csv" "$T/bad.csv")" 200
sl_run watch "s3://$B/$V/" --schema "$SCHEMA" --db "$T/v.db" --once --json
check "version 2 and a bad object: exit 4" "$(rc)" 4
check "version 2: a new job; the bad object Failed" "$(python3 -c "import json,sys; print(' '.join('%s:%s:%s' % (d['drop']['name'], d['status'], d['rows_read']) for d in map(json.loads, open(sys.argv[1]))))" "$T/out")" "$V/f.csv:PartiallySucceeded:1000 $V/g.csv:Failed:0"
{ cat "$T/p0.csv"; tail -n +2 "$T/p1.csv"; } >"$T/v01.csv"
table_is "$T/v.db" "$T/v01.csv" && ok || bad "versions: the table is not the oracle's of both"
sl_run watch "s3://$B/$V/" --schema "$SCHEMA" --db "$T/v.db" --once --json
check "the failed object is not taken again" "$(rc)+$(lines "$T/out")+$(sql "$T/v.db" 'SELECT count(*) FROM sluice_jobs')" "0+0+3"

# --- replaced while its job was unfinished: the old job cancelled, the new version loaded ------
X=x$$
check "put x/f.csv" "$(s3 PUT "$B/$X/f.csv" "$T/all.csv")" 200
rm -rf "$T/p" && mkdir -p "$T/p"
SLUICE_TEST_PAUSE=3:$T/p sl_start "$T/x.err" watch "s3://$B/$X/" --schema "$SCHEMA" --db "$T/x.db" --json --threads 1 --chunk-size 16k
WPID=$BG_PID
wait_for "the job held before chunk 3" 1500 test -e "$T/p/paused"
sl_kill9 "$WPID" "$T/x.err"
J=$(cat "$T/p/paused")
check "put x/f.csv again, other bytes" "$(s3 PUT "$B/$X/f.csv" "$T/p2.csv")" 200
sl_run watch "s3://$B/$X/" --schema "$SCHEMA" --db "$T/x.db" --once --json
check "replaced: exit 3" "$(rc)" 3
check "replaced: the new version's job, not the old" "$(json "$T/out" "d['job_id'] != '$J', d['rows_read'], d['resumed']")" "True 1000 False"
check "replaced: the old job Cancelled" "$(sql "$T/x.db" "SELECT status FROM sluice_jobs WHERE id = '$J'")" Cancelled
NEW=$(json "$T/out" "d['job_id']")
check "replaced: the table holds the old job's committed rows and the new version's" "$(sql "$T/x.db" 'SELECT count(*) FROM call_detail_records')" "$(sql "$T/x.db" 'SELECT sum(rows_loaded) FROM sluice_jobs')"
table_is "$T/x.db" "$T/p2.csv" "_sluice_job = '$NEW'" && ok || bad "replaced: the new job's rows are not the oracle's of the new version"

# --- kill -9 after the job finished, before its line in the state file -----------------------
L=l$$
check "put l/f.csv" "$(s3 PUT "$B/$L/f.csv" "$T/all.csv")" 200
(
	export SLUICE_TEST_WATCH_KILL=s3-loaded
	sl_as kl watch "s3://$B/$L/" --schema "$SCHEMA" --db "$T/l.db" --once --chunk-size 16k
)
check "killed after the load: SIGKILL" "$(rc kl)" 137
check "killed after the load: the job finished, no state line" "$(sql "$T/l.db" 'SELECT status FROM sluice_jobs')|$(cat "$T"/l.db.s3watch-*)" "PartiallySucceeded|"
sl_run watch "s3://$B/$L/" --schema "$SCHEMA" --db "$T/l.db" --once --json
check "restart: exit 3" "$(rc)" 3
check "restart: its own job, not a duplicate" "$(json "$T/out" "d['duplicate_of'], d['rows_read']")" "None $ROWS"
check "restart: one job, recorded" "$(sql "$T/l.db" 'SELECT count(*) FROM sluice_jobs')+$(lines "$(ls "$T"/l.db.s3watch-*)")" "1+1"
table_is "$T/l.db" "$T/all.csv" && ok || bad "restart after the load: the table is not the oracle's"

# a line cut short (a power cut in its write): not read, ended before the next line
printf 'Succeeded\txcut\t"abc' >>"$(ls "$T"/l.db.s3watch-*)"
# kill -9 right after the state line: the restart has nothing to do
(
	export SLUICE_TEST_WATCH_KILL=s3-recorded
	check "put l/g.csv" "$(s3 PUT "$B/$L/g.csv" "$T/p0.csv")" 200
	sl_as kr watch "s3://$B/$L/" --schema "$SCHEMA" --db "$T/l.db" --once
)
check "killed after the state line: SIGKILL" "$(rc kr)" 137
sl_run watch "s3://$B/$L/" --schema "$SCHEMA" --db "$T/l.db" --once --json
check "restart after the state line: nothing to do" "$(rc)+$(lines "$T/out")+$(sql "$T/l.db" 'SELECT count(*) FROM sluice_jobs')" "0+0+2"
check "the cut line ended, the lines after it whole" "$(cut -f2 "$(ls "$T"/l.db.s3watch-*)" | tr '\n' ' ' | sed 's/j[0-9a-f]*/J/g')" "J xcut J "

# --- a running watcher takes what is put while it polls; one per prefix and db --------------
R=r$$
: >"$T/r.err"
sl_start "$T/r.err" watch "s3://$B/$R/" --schema "$SCHEMA" --db "$T/r.db" --json --interval 0.2 >"$T/r.out"
WPID=$BG_PID
wait_for "the first listing" 1500 grep -q "listed the folder (start)" "$T/r.err"
sl_run watch "s3://$B/$R/" --schema "$SCHEMA" --db "$T/r.db" --once
check "a second watcher of the prefix: exit 4" "$(rc)" 4
grep -q "another watcher of s3://$B/$R/ runs on this database" "$T/err" && ok || bad "second watcher: no message ($(cat "$T/err"))"
check "put r/f.csv" "$(s3 PUT "$B/$R/f.csv" "$T/all.csv")" 200
wait_for "the object taken" 1500 grep -q '"rows_read"' "$T/r.out"
kill -TERM "$WPID"
sl_wait "$WPID" "$T/r.err"
check "running watcher: exit 0 on SIGTERM" "$?" 0
check "running watcher: the object once" "$(json "$T/r.out" "d['rows_read'], d['drop']['name']")+$(sql "$T/r.db" 'SELECT count(*) FROM sluice_jobs')" "$ROWS $R/f.csv+1"
table_is "$T/r.db" "$T/all.csv" && ok || bad "running watcher: the table is not the oracle's"

# --- throttling and 500s: retried; lasting ones leave the object for the next run -------------
F=f$$
check "put f/f.csv" "$(s3 PUT "$B/$F/f.csv" "$T/p0.csv")" 200
check "arm throttling on the listing" "$(arm "{\"match\":\"prefix=$F\",\"status\":503,\"code\":\"SlowDown\",\"count\":2}")" 204
check "arm lasting 500s on the object" "$(arm "{\"match\":\"/$B/$F/f.csv\",\"status\":500,\"code\":\"InternalError\",\"count\":6}")" 204
sl_run watch "s3://$B/$F/" --schema "$SCHEMA" --db "$T/f.db" --once --json --s3-endpoint "$S3_PROXY"
check "lasting 500s: exit 4" "$(rc)" 4
grep -q "$F/f.csv: cannot run now: .*(S3_SERVER); tried again later" "$T/err" && ok || bad "lasting 500s: no 'cannot run now' ($(cat "$T/err"))"
check "lasting 500s: not recorded, no rows" "$(lines "$(ls "$T"/f.db.s3watch-*)")+$(sql "$T/f.db" 'SELECT count(*) FROM call_detail_records' 2>/dev/null || echo 0)" "0+0"
check "arm 500s on the object" "$(arm "{\"match\":\"/$B/$F/f.csv\",\"status\":500,\"count\":2}")" 204
sl_run watch "s3://$B/$F/" --schema "$SCHEMA" --db "$T/f.db" --once --json --s3-endpoint "$S3_PROXY"
check "500s retried: exit 3" "$(rc)" 3
check "500s retried: the object once" "$(json "$T/out" "d['rows_read']")+$(lines "$(ls "$T"/f.db.s3watch-*)")" "1000+1"
table_is "$T/f.db" "$T/p0.csv" && ok || bad "500s retried: the table is not the oracle's"

# a request the storage refuses (400): the object recorded as failed, the error naming it
check "put f/g.csv" "$(s3 PUT "$B/$F/g.csv" "$T/p1.csv")" 200
check "arm a refusal" "$(arm "{\"match\":\"/$B/$F/g.csv\",\"status\":400,\"code\":\"InvalidRequest\",\"count\":1}")" 204
sl_run watch "s3://$B/$F/" --schema "$SCHEMA" --db "$T/f.db" --once --json --s3-endpoint "$S3_PROXY"
check "refused: exit 4" "$(rc)" 4
check "refused: Failed, S3_REQUEST, the object named" "$(json "$T/out" "d['status'], d['file'], 'S3_REQUEST' in d['drop']['error'], 'g.csv' in d['drop']['error']")" "Failed s3://$B/$F/g.csv True True"
check "refused: recorded, not taken again" "$(lines "$(ls "$T"/f.db.s3watch-*)")" 2

# --- a bucket that is not there: the first listing fails, said with the bucket ----------------
sl_run watch "s3://$B-none/in/" --schema "$SCHEMA" --db "$T/none.db" --once
check "no such bucket: exit 4" "$(rc)" 4
grep -q "S3_NOT_FOUND" "$T/err" && grep -q "$B-none" "$T/err" && ok || bad "no such bucket: the message ($(cat "$T/err"))"

# --- usage -------------------------------------------------------------------------------------
sl_run watch "s3://$B/$P/" --schema "$SCHEMA" --db "$DB" --settle 3
check "--settle with a bucket: usage" "$(rc)" 2
sl_run watch "$T" --schema "$SCHEMA" --db "$DB" --marker
check "--marker with a folder: usage" "$(rc)" 2
sl_run watch "s3://$B/$P/" --schema "$SCHEMA" --db "$DB" --interval x
check "--interval x: usage" "$(rc)" 2

finish
