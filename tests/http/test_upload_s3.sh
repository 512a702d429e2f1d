#!/usr/bin/env bash
# Uploads kept in object storage (issue 13): `sluice serve --upload-store
# s3://BUCKET/PREFIX` against s3rver on loopback (the s3rver fixture).
#   - a raw upload streams into the bucket as a multipart upload (parts of
#     64 KiB here: about ten of them), a small one as one PUT; the job's
#     file is the object, read through the s3:// source; nothing of it is
#     kept in the data dir;
#   - the same body again with its Idempotency-Key is the same job, and its
#     second copy is removed from the bucket;
#   - upload-urls gives a presigned S3 PUT of a key the service picks; curl
#     PUTs the file there with no credentials, and {"s3_key": KEY} confirms
#     it: its job (the key's id) loads it; a second confirmation is the same
#     job; a tampered signature is refused by s3rver; a missing key is 404,
#     a key outside the prefix or not one the service gave is 403, a body
#     that is not {"s3_key": ...} is 400;
#   - a tus upload: each PATCH's whole parts go into the bucket as it ends
#     (recorded in DATA_DIR/tus/ID.mpu); after a kill -9 between PATCHes the
#     upload resumes with no part sent twice; a DELETE aborts what is there;
#   - a `watch:` entry for a bucket's prefix loads an object put there;
#   - a kill -9 of the server in the middle of a multipart upload: the next
#     start aborts it and deletes what there is of the object;
#   - with API keys: upload-urls and the confirmation want the write scope
#     (401, 403); an Idempotency-Key reused for another object is 409; the
#     same bytes as an earlier upload are a duplicate job (same_as).
# Each job's rows (tests/lib/oracle.py), rejects and counts are those of
# the same file ingested from a local path.
# Usage: test_upload_s3.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/http/lib.sh"
. "$SRC/tests/http/s3lib.sh" # the fixture, BK, s3, keys, arm, seen
at_exit() { for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done; }
rejects_of() { sql "$1" "SELECT record, line, code FROM sluice_rejects WHERE ${2:-1} ORDER BY record"; }
job_json() { curl -s "$B/v1/jobs/$1" | jq_ "$2"; }

check "create the bucket" "$(s3 PUT "$BK")" 200
mkdir -p "$T/schemas" "$T/data"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
# four files of their own (seeds), each also loaded from a local path: the reference
for f in a:6000:61 b:3000:62 c:300:63 d:2000:64 e:4000:65; do
	IFS=: read -r n rows seed <<<"$f"
	sl_run gen cdr --rows "$rows" --error-rate 0.02 --seed "$seed" -o "$T/$n.csv"
	check "gen $n: exit" "$(rc)" 0
	sl_run ingest "$T/$n.csv" --schema "$T/schemas/cdr.yaml" --db "$T/local-$n.db" --json --chunk-size 32k
	check "local $n: exit 3 (rows rejected)" "$(rc)" 3
	json "$T/out" "d['rows_read'], d['rows_loaded'], d['rows_rejected']" >"$T/want-$n.counts"
	rejects_of "$T/local-$n.db" >"$T/want-$n.rejects"
done
[ "$(stat -c %s "$T/a.csv")" -gt $((5 * 65536)) ] && ok || bad "a.csv is several parts long"
[ "$(stat -c %s "$T/c.csv")" -lt 65536 ] && ok || bad "c.csv fits in one part"

cat >"$T/cfg.yaml" <<EOF
schemas: $T/schemas
data-dir: $T/data
db: $T/s.db
threads: 2
chunk-size: 32k
upload-store: s3://$BK/up
s3-endpoint: $S3_PROXY
upload-part-size: 64k
max-upload: 64M
watch:
  cdr: {dir: "s3://$BK/drop/", interval: 0.2}
EOF

# same_as_local NAME JOB: the job's counts, rejects and rows are the local load's
same_as_local() {
	check "$1: counts as the local load" "$(job_json "$2" "d['rows_read'], d['rows_loaded'], d['rows_rejected']")" "$(cat "$T/want-$1.counts")"
	check "$1: rejects as the local load" "$(rejects_of "$T/s.db" "job_id = '$2'")" "$(cat "$T/want-$1.rejects")"
	table_is "$T/s.db" "$T/$1.csv" "_sluice_job = '$2'" && ok || bad "$1: the table's rows of job $2 are not the oracle's"
}
object_is() { # KEY FILE: the object holds exactly FILE's bytes
	check "s3://$BK/$1: GET" "$(s3 GET "$BK/$1")" 200
	cmp -s "$T/s3.body" "$2" && ok || bad "s3://$BK/$1 differs from $2"
}

serve "$T/serve.log" --config "$T/cfg.yaml" || exit 1
grep -q "uploads are kept in s3://$BK/up/ (parts of 65536 bytes)" "$T/serve.log" && ok || bad "the start says where uploads go"

# --- a raw upload: multipart into the bucket (a part throttled twice: retried) -------------
check "arm: part 3 throttled twice" "$(arm '{"match": "partNumber=3&", "status": 503, "code": "SlowDown", "count": 2}')" 204
check "upload a.csv" "$(code POST "$B/v1/datasets/cdr/uploads" --data-binary "@$T/a.csv" -H 'Idempotency-Key: a-1')" 202
JA=$(jq_ "d['job_id']" <"$T/body")
NPARTS=$((($(stat -c %s "$T/a.csv") + 65535) / 65536))
check "a.csv: a PUT per part, the throttled one three times" "$(seen "u${JA#j}.csv?partNumber=" PUT)" $((NPARTS + 2))
check "a.csv: one multipart upload, completed" "$(seen "u${JA#j}.csv?uploads" POST)+$(seen "u${JA#j}.csv?uploadId=" POST)" "1+1"
check "a.csv: final" "$(wait_final "$JA")" PartiallySucceeded
UA=u${JA#j}
check "a.csv: the job's file is the object" "$(sql "$T/s.db" "SELECT file FROM sluice_jobs WHERE id = '$JA'")" "s3://$BK/up/$UA.csv"
check "a.csv: the job names its upload" "$(job_json "$JA" "d['upload_id']")" "$UA"
object_is "up/$UA.csv" "$T/a.csv"
same_as_local a "$JA"
check "a.csv: nothing of it in the data dir" "$(ls "$T/data/uploads" | grep -v '^secret$')" ""
grep -q "\"upload $UA: [0-9]* bytes for dataset cdr" "$T/serve.log" && ok || bad "the upload's log line"
# the same body with the same key: the same job; the second copy is gone
check "a.csv again, same key: 200" "$(code POST "$B/v1/datasets/cdr/uploads" --data-binary "@$T/a.csv" -H 'Idempotency-Key: a-1')" 200
check "a.csv again: the same job" "$(jq_ "d['job_id']" <"$T/body")" "$JA"
check "a.csv again: one object in the bucket" "$(keys up/)" "up/$UA.csv"

# --- a small upload: one PUT -------------------------------------------------------------
check "upload c.csv" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Content-Type: text/csv' --data-binary "@$T/c.csv")" 202
JC=$(jq_ "d['job_id']" <"$T/body")
check "c.csv: final" "$(wait_final "$JC")" PartiallySucceeded
object_is "up/u${JC#j}.csv" "$T/c.csv"
same_as_local c "$JC"

# --- a presigned PUT, then the confirmation -------------------------------------------
t0=$(date +%s)
check "upload-urls" "$(code POST "$B/v1/datasets/cdr/upload-urls?expires_in=120")" 201
cp "$T/body" "$T/url.json"
t1=$(date +%s)
check "upload-urls: a PUT" "$(json "$T/url.json" "d['method'], d['dataset'], d['confirm_path']")" "PUT cdr /v1/datasets/cdr/uploads"
URL=$(json "$T/url.json" "d['url']")
KEY=$(json "$T/url.json" "d['s3_key']")
EXP=$(json "$T/url.json" "d['expires_at']")
[[ $KEY =~ ^up/u[0-9a-f]{17}\.csv$ ]] && ok || bad "the key is the service's, under the prefix: $KEY"
[ "$EXP" -ge $((t0 + 120)) ] && [ "$EXP" -le $((t1 + 120)) ] && ok || bad "expires_at $EXP is not 120 s from now ($t0)"
case $URL in "$S3_PROXY/$BK/$KEY?"*X-Amz-Expires=120*X-Amz-Signature=*) ok ;; *) bad "not a presigned URL of the key: $URL" ;; esac
check "confirm before the PUT: 404" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Content-Type: application/json' --data "{\"s3_key\": \"$KEY\"}")" 404
# a signature changed in its last digit: s3rver refuses it
BADURL=${URL%?}$([ "${URL: -1}" = 0 ] && echo 1 || echo 0)
check "a tampered presigned URL: 403 from s3rver" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -T "$T/b.csv" "$BADURL")" 403
check "PUT b.csv to the presigned URL (no credentials)" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -T "$T/b.csv" "$URL")" 200
check "confirm" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Content-Type: application/json' --data "{\"s3_key\": \"$KEY\"}")" 202
JB=$(jq_ "d['job_id']" <"$T/body")
U=${KEY#up/}
check "the confirmed job's id is the key's" "$JB" "j${U:1:17}"
check "b.csv: final" "$(wait_final "$JB")" PartiallySucceeded
check "b.csv: the job's file is the client's object" "$(sql "$T/s.db" "SELECT file FROM sluice_jobs WHERE id = '$JB'")" "s3://$BK/$KEY"
same_as_local b "$JB"
check "confirm again: 200" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Content-Type: application/json' --data "{\"s3_key\": \"$KEY\"}")" 200
check "confirm again: the same job" "$(jq_ "d['job_id']" <"$T/body")" "$JB"
check "confirmed object kept" "$(s3 HEAD "$BK/$KEY")" 200
# keys the service did not give, and bodies that are not a confirmation
check "put an object outside the prefix" "$(s3 PUT "$BK/other/x.csv" "$T/b.csv")" 200
check "put a foreign object inside the prefix" "$(s3 PUT "$BK/up/mine.csv" "$T/b.csv")" 200
for k in other/x.csv up/mine.csv "up/../other/x.csv" "${KEY/up\//other/}" "up/u0000000000000000.csv.csv"; do
	check "confirm $k: 403" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Content-Type: application/json' --data "{\"s3_key\": \"$k\"}")" 403
	check "confirm $k: the code" "$(jq_ "d['error']['code']" <"$T/body")" FORBIDDEN
done
check "confirm a key never PUT: 404" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Content-Type: application/json' --data '{"s3_key": "up/u0000000000000000a.csv"}')" 404
for body in '' '{}' '{"s3_key": 7}' '{"key": "x"}' "{\"s3_key\": \"$KEY\", \"x\": 1}" "[\"$KEY\"]"; do
	check "confirm body '$body': 400" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Content-Type: application/json' --data "$body")" 400
done
check "confirm for no such dataset: 404" "$(code POST "$B/v1/datasets/nosuch/uploads" -H 'Content-Type: application/json' --data "{\"s3_key\": \"$KEY\"}")" 404

# --- tus: each PATCH's whole parts go into the bucket; a kill -9 between PATCHes resumes ------
TR=(-H 'Tus-Resumable: 1.0.0')
OS=(-H 'Content-Type: application/offset+octet-stream')
hdr() { grep -i "^$1:" "$T/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
tus_create() { code POST "$B/v1/tus/" "${TR[@]}" -H "Upload-Length: $1" -H "Upload-Metadata: dataset $(printf cdr | base64 -w0)" >/dev/null; hdr Location | sed 's,.*/,,'; }
ESIZE=$(stat -c %s "$T/e.csv")
TID=$(tus_create "$ESIZE")
[ -n "$TID" ] && ok || bad "tus: created"
head -c 100000 "$T/e.csv" >"$T/e1"
tail -c +100001 "$T/e.csv" >"$T/e2"
check "tus: PATCH 1" "$(code PATCH "$B/v1/tus/$TID" "${TR[@]}" "${OS[@]}" -H 'Upload-Offset: 0' --data-binary "@$T/e1")" 204
check "tus: after PATCH 1, its whole part is in the bucket" "$(grep -c '^part ' "$T/data/tus/$TID.mpu")+$(sed -n 's/^part 1 \([0-9]*\) .*/\1/p' "$T/data/tus/$TID.mpu")" "1+65536"
TKEY=$(sed -n 's/^key //p' "$T/data/tus/$TID.mpu")
check "tus: one part PUT so far" "$(seen "$TKEY?partNumber=" PUT)" 1
kill_server
serve "$T/serve.log" --config "$T/cfg.yaml" || exit 1
check "tus after kill -9: HEAD" "$(code HEAD "$B/v1/tus/$TID" "${TR[@]}")+$(hdr Upload-Offset)" "200+100000"
check "tus: PATCH 2, the last" "$(code PATCH "$B/v1/tus/$TID" "${TR[@]}" "${OS[@]}" -H 'Upload-Offset: 100000' --data-binary "@$T/e2")" 204
JE=$(hdr X-Job-Id)
check "tus: final" "$(wait_final "$JE")" PartiallySucceeded
check "tus: the job's file is the object" "$(sql "$T/s.db" "SELECT file FROM sluice_jobs WHERE id = '$JE'")" "s3://$BK/$TKEY"
check "tus: the key is the job's" "$TKEY" "up/u${JE#j}.csv"
object_is "$TKEY" "$T/e.csv"
check "tus: each part PUT once (none again after the restart)" "$(seen "$TKEY?partNumber=" PUT)" $(((ESIZE + 65535) / 65536))
check "tus: its bytes and parts left the data dir (the info stays, naming the job)" "$(ls "$T/data/tus" | grep "^$TID")" "$TID.info"
same_as_local e "$JE"
# termination of an upload with parts in the bucket: they go
FID=$(tus_create 200000)
head -c 70000 "$T/a.csv" >"$T/f1"
check "tus f: PATCH" "$(code PATCH "$B/v1/tus/$FID" "${TR[@]}" "${OS[@]}" -H 'Upload-Offset: 0' --data-binary "@$T/f1")" 204
FKEY=$(sed -n 's/^key //p' "$T/data/tus/$FID.mpu")
FUP=$(sed -n 's/^upload //p' "$T/data/tus/$FID.mpu")
[ -n "$FKEY" ] && [ -n "$FUP" ] && ok || bad "tus f: a multipart upload recorded"
check "tus f: DELETE" "$(code DELETE "$B/v1/tus/$FID" "${TR[@]}")" 204
check "tus f: its multipart upload: the abort was sent" "$(seen "$FKEY?uploadId=$FUP" DELETE)" 1
check "tus f: its record is gone" "$(ls "$T/data/tus" | grep -c "^$FID")" 0

# --- a watch: entry for a bucket's prefix -------------------------------------------------
grep -q "\"watch cdr: s3://$BK/drop/\"" "$T/serve.log" && ok || bad "the watcher of the bucket started"
check "drop d.csv into the bucket" "$(s3 PUT "$BK/drop/d.csv" "$T/d.csv")" 200
drop_done() { [ "$(sql "$T/s.db" "SELECT status FROM sluice_jobs WHERE file = 's3://$BK/drop/d.csv'")" = PartiallySucceeded ]; }
wait_for "the drop's job" 3000 drop_done
JD=$(sql "$T/s.db" "SELECT id FROM sluice_jobs WHERE file = 's3://$BK/drop/d.csv'")
same_as_local d "$JD"
check "the drop's job in the API" "$(job_json "$JD" "d['dataset'], d['status']")" "cdr PartiallySucceeded"

# every row of the table is one of these jobs', once
check "the table: every load's rows, once" "$(sql "$T/s.db" 'SELECT count(*) FROM call_detail_records')" \
	"$(cat "$T"/want-[abcde].counts | awk '{ n += $2 } END { print n }')"
stop_server
check "SIGTERM: exit 0" "$STOPPED" 0

# --- kill -9 in the middle of a multipart upload: the next start undoes it ------------------
serve "$T/serve.log" --config "$T/cfg.yaml" || exit 1
# a slow body (above --min-rate): parts go up while the rest trickles in
curl -s -o /dev/null --limit-rate 256k -X POST --data-binary "@$T/a.csv" "$B/v1/datasets/cdr/uploads" &
CURL=$!
mpu_started() { grep -qs '^upload .' "$T"/data/uploads/u*.s3; }
wait_for "a multipart upload under way" 1500 mpu_started
M=$(ls "$T"/data/uploads/u*.s3)
MU=$(basename "$M" .s3)
MUID=$(sed -n 's/^upload //p' "$M")
kill_server
wait "$CURL" 2>/dev/null
check "the cut upload's object is not there" "$(s3 HEAD "$BK/up/$MU.csv")" 404
serve "$T/serve.log" --config "$T/cfg.yaml" || exit 1
grep -q "\"upload $MU of a previous run was cut before its answer: s3://$BK/up/$MU.csv removed\"" "$T/serve.log" && ok || bad "the restart says it undid the cut upload: $(grep "$MU" "$T/serve.log" | tail -2)"
check "its marker is gone" "$(ls "$T/data/uploads" | grep -c '\.s3$')" 0
# s3rver has no AbortMultipartUpload (405): the request was sent, and the refusal said
check "its multipart upload: the abort was sent" "$(seen "up/$MU.csv?uploadId=$MUID" DELETE)" 1
grep -q "the server refused to abort multipart upload $MUID" "$T/serve.log" && ok || bad "the refused abort is in the log"
check "no job for it" "$(sql "$T/s.db" "SELECT count(*) FROM sluice_jobs WHERE id = 'j${MU#u}'")" 0
check "the bucket holds the finished uploads only" "$(keys up/ | sort)" "$(printf '%s\n' "up/$UA.csv" "up/u${JC#j}.csv" "$KEY" "up/u${JE#j}.csv" up/mine.csv | sort)"
stop_server
check "SIGTERM: exit 0" "$STOPPED" 0

# --- API keys: the scopes of the other upload routes; Idempotency-Key on a confirmation -------
SLUICE_API_KEYS='kw:write+read,kr:read' serve "$T/serve.log" --config "$T/cfg.yaml" || exit 1
W=(-H 'Authorization: Bearer kw')
R=(-H 'Authorization: Bearer kr')
J=(-H 'Content-Type: application/json')
check "keys: upload-urls without a key: 401" "$(code POST "$B/v1/datasets/cdr/upload-urls")" 401
check "keys: upload-urls with a read key: 403" "$(code POST "$B/v1/datasets/cdr/upload-urls" "${R[@]}")" 403
check "keys: upload-urls with a write key: 201" "$(code POST "$B/v1/datasets/cdr/upload-urls" "${W[@]}")" 201
K2=$(jq_ "d['s3_key']" <"$T/body")
check "keys: PUT to it" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -T "$T/c.csv" "$(jq_ "d['url']" <"$T/body")")" 200
check "keys: confirm without a key: 401" "$(code POST "$B/v1/datasets/cdr/uploads" "${J[@]}" --data "{\"s3_key\": \"$K2\"}")" 401
check "keys: confirm with a read key: 403" "$(code POST "$B/v1/datasets/cdr/uploads" "${R[@]}" "${J[@]}" --data "{\"s3_key\": \"$K2\"}")" 403
check "keys: confirm with a write key and an Idempotency-Key: 202" "$(code POST "$B/v1/datasets/cdr/uploads" "${W[@]}" "${J[@]}" -H 'Idempotency-Key: k2' --data "{\"s3_key\": \"$K2\"}")" 202
J2=$(jq_ "d['job_id']" <"$T/body")
# the same Idempotency-Key for another object (other bytes: another ETag) is a conflict
check "keys: another key's object" "$(code POST "$B/v1/datasets/cdr/upload-urls" "${W[@]}")" 201
K3=$(jq_ "d['s3_key']" <"$T/body")
check "keys: PUT other bytes" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -T "$T/d.csv" "$(jq_ "d['url']" <"$T/body")")" 200
check "keys: the same Idempotency-Key for it: 409" "$(code POST "$B/v1/datasets/cdr/uploads" "${W[@]}" "${J[@]}" -H 'Idempotency-Key: k2' --data "{\"s3_key\": \"$K3\"}")" 409
check "keys: the code" "$(jq_ "d['error']['code']" <"$T/body")" IDEMPOTENCY_CONFLICT
# c.csv's bytes were loaded by job JC already: this job is its duplicate
check "keys: the first confirmation's job ends" "$(wait_final "$J2" "${R[@]}")" PartiallySucceeded
check "keys: the same bytes as c.csv's upload: a duplicate of its job" "$(curl -s "${R[@]}" "$B/v1/jobs/$J2" | jq_ "d['same_as'], d['rows_loaded']")" "$JC 0"
stop_server
check "SIGTERM: exit 0" "$STOPPED" 0

# --- a server without a store refuses a confirmation -------------------------------------
sed '/^upload-store:/d' "$T/cfg.yaml" | sed '/^watch:/,$d' >"$T/plain.yaml"
serve "$T/serve.log" --config "$T/plain.yaml" || exit 1
check "no --upload-store: a confirmation is 409" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Content-Type: application/json' --data "{\"s3_key\": \"$KEY\"}")" 409
stop_server
# a store whose bucket is not there stops the start
sl_run serve --config "$T/cfg.yaml" --listen 127.0.0.1:0 --upload-store "s3://$BK-none/up"
check "a missing bucket: the start fails" "$(rc)" 2
grep -q "upload-store s3://$BK-none/up" "$T/err" && ok || bad "the start names the store: $(tail -2 "$T/err")"

finish
