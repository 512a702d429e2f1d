#!/usr/bin/env bash
# The pipelined plan over S3 (issue 13, "Object storage": the planning pass
# hands the chunks it finds to the local workers from that stream), against
# s3rver on loopback (the s3rver fixture): a plain and a gzip object load
# exactly the rows, rejects and counts of the plain local file (the oracle)
# at several chunk sizes and thread counts; chunks commit while the plan is
# still being made (the job Chunking); each byte is downloaded once (the
# proxy counts the GETs: far fewer than the chunks); a kill -9 in the
# middle of the pipelined plan resumes exactly once. Places are exact:
# SLUICE_TEST_PAUSE holds the writer before a chunk (no sleeps).
# Usage: test_s3_pipeline.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
use_fixture s3rver
q() { sqlite3 -batch "$1" "$2"; }
unset SLUICE_PIPELINE SLUICE_S3_SPOOL

export AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=$S3_ENDPOINT SLUICE_S3_BACKOFF_MS=2
unset AWS_SESSION_TOKEN SLUICE_S3_STYLE
B=$(fixture_namespace | tr '_' '-')p
s3() {
	local args=(-s -o "$T/s3.body" -w '%{http_code}' -X "$1" --aws-sigv4 "aws:amz:us-east-1:s3"
		--user "$S3_KEY:$S3_SECRET" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
	[ -n "${3:-}" ] && args+=(-T "$3")
	curl "${args[@]}" "$S3_ENDPOINT/$2"
}
seen() { curl -s "$S3_PROXY/__faults?match=$1&method=GET" | python3 -c "import json,sys; print(json.load(sys.stdin)['seen'])"; }

check "create the bucket" "$(s3 PUT "$B")" 200
ROWS=30000
sl_run gen cdr --rows $ROWS --error-rate 0.02 --seed 37 --manifest "$T/man.tsv" -o "$T/cdr.csv"
check "gen: exit" "$(rc)" 0
BAD=$(wc -l <"$T/man.tsv")
PLAIN=$(stat -c %s "$T/cdr.csv")
gzip -c "$T/cdr.csv" >"$T/cdr.csv.gz"
check "put cdr.csv" "$(s3 PUT "$B/in/cdr.csv" "$T/cdr.csv")" 200
check "put cdr.csv.gz" "$(s3 PUT "$B/in/cdr.csv.gz" "$T/cdr.csv.gz")" 200
rejects_of() { q "$1" "SELECT record, line, code FROM sluice_rejects ORDER BY record"; }
cdr_rejects "$T/man.tsv" | tr '\t' '|' >"$T/want_rejects"
same() {
	table_is "$1" "$T/cdr.csv" && ok || bad "$2: the table differs from the oracle's rows"
	rejects_of "$1" >"$T/got_rejects"
	cmp -s "$T/want_rejects" "$T/got_rejects" && ok ||
		bad "$2: rejects differ from the manifest: $(diff "$T/want_rejects" "$T/got_rejects" | head -3)"
	check "$2: the job's counters" \
		"$(q "$1" 'SELECT status, rows_read, rows_loaded, rows_rejected, bytes_total, chunks_total = chunks_succeeded FROM sluice_jobs')" \
		"PartiallySucceeded|$ROWS|$((ROWS - BAD))|$BAD|$PLAIN|1"
	check "$2: no key twice" "$(q "$1" 'SELECT count(*) - count(DISTINCT reference) FROM call_detail_records')" 0
}

# --- the same rows as the plain file; each byte downloaded once ---------------------------------
load() {
	local name=$1 key=$2 cs=$3 th=$4 db=$T/$1-$3-$4.db
	local n0
	n0=$(seen "/$B/in/$key")
	sl_run ingest "s3://$B/in/$key" --schema "$SCHEMA" --db "$db" --chunk-size "$cs" --threads "$th" \
		--s3-endpoint "$S3_PROXY" --json
	check "$name $cs x$th: exit 3" "$(rc)" 3
	check "$name $cs x$th: counts" "$(json "$T/out" "d['rows_read'], d['rows_loaded'], d['rows_rejected'], d['bytes']")" \
		"$ROWS $((ROWS - BAD)) $BAD $PLAIN"
	same "$db" "$name $cs x$th"
	local chunks gets
	chunks=$(q "$db" 'SELECT count(*) FROM sluice_chunks')
	gets=$(($(seen "/$B/in/$key") - n0))
	# the header is read apart (a GET or two), the planner's stream is GETs of 8 MiB blocks
	[ "$gets" -lt 10 ] && ok || bad "$name $cs x$th: $gets GETs for $chunks chunks"
}
load plain cdr.csv 48k 3
load plain cdr.csv 700k 1
load plain cdr.csv 9k 2
load gzip cdr.csv.gz 48k 3
load gzip cdr.csv.gz 9k 2

# --- pipelined: chunks commit while the plan is made; kill -9 there, resume exactly once ----------
paused() {
	rm -rf "$T/p" && mkdir "$T/p"
	SLUICE_TEST_PAUSE="4:$T/p" sl_start "$T/$1.err" ingest "$2" --schema "$SCHEMA" --db "$T/k-$1.db" \
		--chunk-size 40k --threads 2 --json >"$T/$1.json"
	PID=$BG_PID
	wait_for "$1: the ingest to pause before chunk 4" 3000 test -e "$T/p/paused"
	check "$1: 4 chunks committed while the job is Chunking" \
		"$(q "$T/k-$1.db" "SELECT status, chunks_total, (SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded') FROM sluice_jobs")" \
		"Chunking|0|4"
}
for v in plain:cdr.csv gzip:cdr.csv.gz; do
	name=${v%%:*} key=${v##*:} db=$T/k-${v%%:*}.db
	paused "$name" "s3://$B/in/$key"
	sl_kill9 "$PID" "$T/$name.err"
	sl_run ingest "s3://$B/in/$key" --schema "$SCHEMA" --db "$db" --chunk-size 40k --threads 2 --json
	check "$name kill: resume: exit 3" "$(rc)" 3
	check "$name kill: resumed, one job" "$(json "$T/out" "d['resumed']")+$(q "$db" 'SELECT count(*) FROM sluice_jobs')" "True+1"
	same "$db" "$name kill"
	check "$name kill: each chunk committed once" \
		"$(q "$db" "SELECT count(*) = count(DISTINCT chunk) FROM sluice_events WHERE kind = 'chunk_end'")" 1
done

finish
