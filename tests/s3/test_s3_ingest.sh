#!/usr/bin/env bash
# `sluice ingest s3://bucket/key` end to end (issue 13, "Object storage"),
# against s3rver on loopback (the s3rver fixture): the same rows, rejects
# and counts as the plain local file (the oracle: tests/lib/oracle.py and
# the generator's manifest) at several chunk sizes and thread counts, a
# gzip object through the same filter as a .gz file, each byte downloaded
# once (the planning pass's spool; a GET per chunk without it), a kill -9
# mid-load resumed exactly once (by URI and by `sluice resume JOB`), an
# object replaced while a job reads it and before
# a resume refused (IO_CHANGED), and the storage errors as users meet them:
# a wrong secret (S3_AUTH with the server's message), a missing key
# (S3_NOT_FOUND), throttling and 5xx retried (the fault proxy of
# tests/s3/s3rver.cjs) and reported when they do not stop, an endpoint that
# does not answer (S3_NETWORK), a request refused (S3_REQUEST).
# Objects are put with curl's own SigV4 signing (curl --aws-sigv4), not
# with sluice. The kill lands at an exact place: SLUICE_TEST_PAUSE holds the
# writer before a chunk (no sleeps).
# Usage: test_s3_ingest.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
use_fixture s3rver
q() { sqlite3 -batch "$1" "$2"; }

export AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=$S3_ENDPOINT SLUICE_S3_BACKOFF_MS=2
unset AWS_SESSION_TOKEN SLUICE_S3_STYLE
B=$(fixture_namespace | tr '_' '-')
# s3 METHOD PATH [FILE]: a request signed by curl itself; the HTTP status on stdout
s3() {
	local args=(-s -o "$T/s3.body" -w '%{http_code}' -X "$1" --aws-sigv4 "aws:amz:us-east-1:s3"
		--user "$S3_KEY:$S3_SECRET" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
	[ -n "${3:-}" ] && args+=(-T "$3")
	curl "${args[@]}" "$S3_ENDPOINT/$2"
}
arm() { curl -s -o /dev/null -w '%{http_code}' -X POST --data "$1" "$S3_PROXY/__faults"; }

check "create the bucket" "$(s3 PUT "$B")" 200
ROWS=15000
sl_run gen cdr --rows $ROWS --error-rate 0.02 --seed 31 --manifest "$T/man.tsv" -o "$T/cdr.csv"
check "gen: exit" "$(rc)" 0
BAD=$(wc -l <"$T/man.tsv")
PLAIN=$(stat -c %s "$T/cdr.csv")
gzip -c "$T/cdr.csv" >"$T/cdr.csv.gz"
check "put cdr.csv" "$(s3 PUT "$B/in/cdr.csv" "$T/cdr.csv")" 200
check "put cdr.csv.gz" "$(s3 PUT "$B/in/cdr.csv.gz" "$T/cdr.csv.gz")" 200
rejects_of() { q "$1" "SELECT record, line, code FROM sluice_rejects ORDER BY record"; }
cdr_rejects "$T/man.tsv" | tr '\t' '|' >"$T/want_rejects"
ETAG=$(md5sum "$T/cdr.csv" | cut -d' ' -f1)

# --- the same as the plain file --------------------------------------------------------
load() {
	local name=$1 uri=$2 cs=$3 th=$4 db=$T/$1-$3-$4.db
	sl_run ingest "$uri" --schema "$SCHEMA" --db "$db" --chunk-size "$cs" --threads "$th" --json
	check "$name $cs x$th: exit 3" "$(rc)" 3
	check "$name $cs x$th: counts" "$(json "$T/out" "d['rows_read'], d['rows_loaded'], d['rows_rejected'], d['bytes']")" "$ROWS $((ROWS - BAD)) $BAD $PLAIN"
	check "$name $cs x$th: the job names the object" "$(q "$db" 'SELECT file FROM sluice_jobs')" "$uri"
	table_is "$db" "$T/cdr.csv" && ok || bad "$name $cs x$th: the table differs from the oracle's rows"
	rejects_of "$db" >"$T/got_rejects"
	cmp -s "$T/want_rejects" "$T/got_rejects" && ok || bad "$name $cs x$th: rejects differ from the manifest: $(diff "$T/want_rejects" "$T/got_rejects" | head -3)"
}
load plain "s3://$B/in/cdr.csv" 48k 3
load plain "s3://$B/in/cdr.csv" 700k 1
load gzip "s3://$B/in/cdr.csv.gz" 64k 2
check "gzip: the decoder recorded" "$(json "$T/out" "d['dialect'].split()[-1]")" "compression=gzip"
# the same object again is loaded already (same size, time and ETag)
sl_run ingest "s3://$B/in/cdr.csv" --schema "$SCHEMA" --db "$T/plain-48k-3.db" --json
check "the same object again: reported as loaded" "$(json "$T/out" "d['already_loaded']")" True
# --s3-endpoint overrides the environment
AWS_ENDPOINT_URL=http://127.0.0.1:1 sl_run ingest "s3://$B/in/cdr.csv" --schema "$SCHEMA" \
	--db "$T/ep.db" --s3-endpoint "$S3_ENDPOINT" --quiet
check "--s3-endpoint: exit 3" "$(rc)" 3

# a single-process load downloads each byte once: the chunks are read from
# the planning pass's spool, not with a GET each (counted by the proxy)
seen() { curl -s "$S3_PROXY/__faults?match=$1&method=GET" | python3 -c "import json,sys; print(json.load(sys.stdin)['seen'])"; }
check "put once.csv" "$(s3 PUT "$B/in/once.csv" "$T/cdr.csv")" 200
sl_run ingest "s3://$B/in/once.csv" --schema "$SCHEMA" --db "$T/once.db" --chunk-size 48k --threads 2 \
	--s3-endpoint "$S3_PROXY" --quiet
check "once: exit 3" "$(rc)" 3
table_is "$T/once.db" "$T/cdr.csv" && ok || bad "once: the table differs from the oracle's rows"
CHUNKS=$(q "$T/once.db" 'SELECT count(*) FROM sluice_chunks')
n=$(seen "/$B/in/once.csv")
[ "$CHUNKS" -gt 20 ] && [ "$n" -lt 10 ] && ok || bad "once: $n GETs for $CHUNKS chunks"
SLUICE_S3_SPOOL=off sl_run ingest "s3://$B/in/once.csv" --schema "$SCHEMA" --db "$T/once-off.db" \
	--chunk-size 48k --threads 2 --s3-endpoint "$S3_PROXY" --quiet
check "no spool: exit 3" "$(rc)" 3
table_is "$T/once-off.db" "$T/cdr.csv" && ok || bad "no spool: the table differs from the oracle's rows"
m=$(($(seen "/$B/in/once.csv") - n))
[ "$m" -gt "$CHUNKS" ] && ok || bad "no spool: $m GETs for $CHUNKS chunks (one per chunk expected)"

# --- kill -9 in the middle, resume exactly once ------------------------------------------
# paused NAME URI: an ingest held before chunk 4 (chunks 0..3 committed); its pid in PID
paused() {
	rm -rf "$T/p" && mkdir "$T/p"
	SLUICE_TEST_PAUSE="4:$T/p" sl_start "$T/$1.err" ingest "$2" --schema "$SCHEMA" --db "$T/k-$1.db" \
		--chunk-size 40k --threads 2 --json >"$T/$1.json"
	PID=$BG_PID
	wait_for "$1: the ingest to pause before chunk 4" 3000 test -e "$T/p/paused"
	check "$1: 4 chunks committed" "$(q "$T/k-$1.db" "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'")" 4
}
paused kill "s3://$B/in/cdr.csv"
sl_kill9 "$PID" "$T/kill.err"
sl_run ingest "s3://$B/in/cdr.csv" --schema "$SCHEMA" --db "$T/k-kill.db" --chunk-size 40k --threads 2 --json
check "kill: resume: exit 3" "$(rc)" 3
check "kill: resumed, one job" "$(json "$T/out" "d['resumed']")+$(q "$T/k-kill.db" 'SELECT count(*) FROM sluice_jobs')" "True+1"
table_is "$T/k-kill.db" "$T/cdr.csv" && ok || bad "kill: after the kill: the table differs from the oracle's rows"
rejects_of "$T/k-kill.db" >"$T/got_rejects"
cmp -s "$T/want_rejects" "$T/got_rejects" && ok || bad "kill: rejects differ: $(diff "$T/want_rejects" "$T/got_rejects" | head -3)"
check "kill: no key twice" "$(q "$T/k-kill.db" 'SELECT count(*) - count(DISTINCT reference) FROM call_detail_records')" 0

# the same by job id (`sluice resume JOB`: the URI comes from the job)
paused byid "s3://$B/in/cdr.csv"
JOB=$(cat "$T/p/paused")
sl_kill9 "$PID" "$T/byid.err"
sl_run resume "$JOB" --db "$T/k-byid.db" --json
check "resume JOB: exit 3" "$(rc)" 3
table_is "$T/k-byid.db" "$T/cdr.csv" && ok || bad "resume JOB: the table differs from the oracle's rows"
check "resume JOB: one job" "$(q "$T/k-byid.db" 'SELECT count(*) FROM sluice_jobs')" 1

# --- an object replaced -------------------------------------------------------------------
# while the job reads it: the job stops at a chunk boundary, IO_CHANGED
check "put moving.csv" "$(s3 PUT "$B/in/moving.csv" "$T/cdr.csv")" 200
paused moving "s3://$B/in/moving.csv"
# the same size, other bytes: only the ETag (and maybe the time) tells
sed '2s/./X/' "$T/cdr.csv" >"$T/other.csv"
check "replace moving.csv (same size)" "$(s3 PUT "$B/in/moving.csv" "$T/other.csv")" 200
touch "$T/p/go"
sl_wait "$PID" "$T/moving.err"
check "replaced while read: exit 4" "$?" 4
check "replaced while read: IO_CHANGED" "$(json "$T/moving.json" "d['error']['code']")" IO_CHANGED
# the chunks read before the PUT (4, and those the workers had read ahead)
# are of the old version and stay; none after it
done=$(q "$T/k-moving.db" "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'")
total=$(q "$T/k-moving.db" "SELECT count(*) FROM sluice_chunks")
[ "$done" -ge 4 ] && [ "$done" -lt "$total" ] && ok || bad "replaced while read: $done of $total chunks committed"
table_is "$T/k-moving.db" "$T/cdr.csv" "reference IN (SELECT reference FROM call_detail_records)" >/dev/null
check "replaced while read: no row of the new version" "$(q "$T/k-moving.db" "SELECT count(*) FROM call_detail_records WHERE caller_id LIKE 'X%'")" 0
# after a kill, before the resume: the resume refuses
check "put later.csv" "$(s3 PUT "$B/in/later.csv" "$T/cdr.csv")" 200
paused later "s3://$B/in/later.csv"
sl_kill9 "$PID" "$T/later.err"
check "replace later.csv (same size)" "$(s3 PUT "$B/in/later.csv" "$T/other.csv")" 200
sl_run ingest "s3://$B/in/later.csv" --schema "$SCHEMA" --db "$T/k-later.db" --chunk-size 40k --threads 2 --json
check "replaced before the resume: exit 4" "$(rc)" 4
grep -q "(IO_CHANGED)" "$T/err" || [ "$(json "$T/out" "d['error']['code']" 2>/dev/null)" = IO_CHANGED ] && ok || bad "replaced before the resume: not IO_CHANGED: $(cat "$T/err" "$T/out")"

# --- storage errors as users meet them ------------------------------------------------------
# err_is NAME CODE [TEXT]: the last run could not open the object: exit 4,
# "MESSAGE (CODE)" on stderr, and the message has TEXT
err_is() {
	check "$1: exit 4" "$(rc)" 4
	grep -q "($2)\$" "$T/err" && ok || bad "$1: not $2: $(cat "$T/err")"
	[ -z "${3:-}" ] || { grep -qF -- "$3" "$T/err" && ok || bad "$1: '$3' not in $(cat "$T/err")"; }
}
AWS_SECRET_ACCESS_KEY=wrong sl_run ingest "s3://$B/in/cdr.csv" --schema "$SCHEMA" --db "$T/e.db" --json
err_is "wrong secret" S3_AUTH "SignatureDoesNotMatch"
grep -qF "s3://$B/in/cdr.csv" "$T/err" && ok || bad "wrong secret: the bucket and key not named"
sl_run ingest "s3://$B/in/none.csv" --schema "$SCHEMA" --db "$T/e.db" --json
err_is "missing key" S3_NOT_FOUND "s3://$B/in/none.csv"
AWS_ACCESS_KEY_ID= sl_run ingest "s3://$B/in/cdr.csv" --schema "$SCHEMA" --db "$T/e.db" --json
check "no credentials: a configuration error" "$(rc)" 2
grep -q "AWS_ACCESS_KEY_ID.*(CONFIG)" "$T/err" && ok || bad "no credentials: not said: $(cat "$T/err")"
# through the fault proxy: two SlowDowns and two 500s on the data are retried
check "arm throttling" "$(arm "{\"match\":\"/$B/in/cdr.csv\",\"status\":503,\"code\":\"SlowDown\",\"count\":2}")" 204
check "arm 500s" "$(arm "{\"match\":\"/$B/in/cdr.csv\",\"status\":500,\"count\":2}")" 204
sl_run ingest "s3://$B/in/cdr.csv" --schema "$SCHEMA" --db "$T/proxy.db" --s3-endpoint "$S3_PROXY" --json
check "throttled and 500s, retried: exit 3" "$(rc)" 3
table_is "$T/proxy.db" "$T/cdr.csv" && ok || bad "through the faults: the table differs from the oracle's rows"
check "arm lasting throttling" "$(arm "{\"match\":\"/$B/in/cdr.csv\",\"status\":503,\"code\":\"SlowDown\",\"count\":6}")" 204
sl_run ingest "s3://$B/in/cdr.csv" --schema "$SCHEMA" --db "$T/p2.db" --s3-endpoint "$S3_PROXY" --json
err_is "throttled past the retries" S3_THROTTLED "after 6 attempts"
check "arm lasting 5xx" "$(arm "{\"match\":\"/$B/in/cdr.csv\",\"status\":500,\"code\":\"InternalError\",\"count\":6}")" 204
sl_run ingest "s3://$B/in/cdr.csv" --schema "$SCHEMA" --db "$T/p3.db" --s3-endpoint "$S3_PROXY" --json
err_is "5xx past the retries" S3_SERVER "HTTP 500"
check "arm a refusal" "$(arm "{\"match\":\"/$B/in/cdr.csv\",\"status\":400,\"code\":\"InvalidRequest\",\"count\":1}")" 204
sl_run ingest "s3://$B/in/cdr.csv" --schema "$SCHEMA" --db "$T/p4.db" --s3-endpoint "$S3_PROXY" --json
err_is "a 400" S3_REQUEST "HTTP 400"
# nothing listens on port 1 of loopback
sl_run ingest "s3://$B/in/cdr.csv" --schema "$SCHEMA" --db "$T/p5.db" --s3-endpoint http://127.0.0.1:1 --json
err_is "no server" S3_NETWORK "after 6 attempts"
finish
