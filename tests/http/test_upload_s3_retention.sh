#!/usr/bin/env bash
# What happens to an upload's object after its job (docs/serve.md, "Uploads
# into object storage"), against the s3rver fixture:
#   - with --retention 5s, the objects of finished jobs (a one-PUT upload
#     and a multipart one) are still there when the jobs end, and are
#     deleted once the jobs have been final for 5 s (logged); the jobs stay
#     readable; a presigned URL's object that was never confirmed (no job)
#     stays;
#   - with --retention 0 nothing is deleted;
#   - a body whose part fails for good mid-upload is answered 503, its
#     multipart upload is aborted (s3rver has no AbortMultipartUpload: the
#     fault proxy answers the DELETE ?uploadId= with 204 here, as S3 would),
#     the object is not there and its crash marker is gone; the abort runs
#     on the upload's sender thread, so this is polled.
# Usage: test_upload_s3_retention.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/http/lib.sh"
. "$SRC/tests/http/s3lib.sh"

check "create the bucket" "$(s3 PUT "$BK")" 200
mkdir -p "$T/schemas" "$T/data"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
sl gen cdr --rows 3000 --seed 81 -o "$T/a.csv"
check "gen a: exit" "$?" 0
sl gen cdr --rows 200 --seed 82 -o "$T/c.csv"
check "gen c: exit" "$?" 0
[ "$(stat -c %s "$T/a.csv")" -gt $((3 * 65536)) ] && ok || bad "a.csv is several parts long"
[ "$(stat -c %s "$T/c.csv")" -lt 65536 ] && ok || bad "c.csv fits in one part"
start() { # start PREFIX RETENTION
	serve "$T/serve.log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" \
		--upload-store "s3://$BK/$1" --s3-endpoint "$S3_PROXY" --upload-part-size 64k \
		--max-upload 64M --retention "$2" --min-free 1M
}

# --- --retention 5s -----------------------------------------------------------------------
start ret 5s || { finish; exit 1; }
check "a presigned URL" "$(code POST "$B/v1/datasets/cdr/upload-urls")" 201
KU=$(jq_ "d['s3_key']" <"$T/body")
check "PUT to it (never confirmed)" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -T "$T/c.csv" "$(jq_ "d['url']" <"$T/body")")" 200
check "upload c.csv (one PUT)" "$(code POST "$B/v1/datasets/cdr/uploads" --data-binary "@$T/c.csv")" 202
JC=$(jq_ "d['job_id']" <"$T/body")
check "upload a.csv (multipart)" "$(code POST "$B/v1/datasets/cdr/uploads" --data-binary "@$T/a.csv")" 202
JA=$(jq_ "d['job_id']" <"$T/body")
check "c.csv: final" "$(wait_final "$JC")" Succeeded
check "a.csv: final" "$(wait_final "$JA")" Succeeded
check "a.csv went in parts" "$(seen "u${JA#j}.csv?partNumber=" PUT)" $((($(stat -c %s "$T/a.csv") + 65535) / 65536))
KC=ret/u${JC#j}.csv
KA=ret/u${JA#j}.csv
# the jobs ended a moment ago: 5 s are not over
check "the objects are there when their jobs end" "$(keys ret/)" "$(printf '%s\n' "$KC" "$KA" "$KU" | sort)"
wait_for "the finished jobs' objects to go" 1500 keys_are ret/ "$KU"
check "what stays: the unconfirmed presigned upload's object" "$(keys ret/)" "$KU"
for k in "$KC" "$KA"; do
	grep -q "\"retention: s3://$BK/$k deleted (its job finished more than 5 s ago)\"" "$T/serve.log" && ok || bad "the deletion of $k is not logged"
done
check "the jobs stay readable" "$(curl -s "$B/v1/jobs/$JC" | jq_ "d['status']") $(curl -s "$B/v1/jobs/$JA" | jq_ "d['status']")" "Succeeded Succeeded"
stop_server
check "SIGTERM: exit 0" "$STOPPED" 0

# --- --retention 0: kept -------------------------------------------------------------------
start kept 0 || { finish; exit 1; }
check "upload c.csv" "$(code POST "$B/v1/datasets/cdr/uploads" --data-binary "@$T/c.csv" -H 'Idempotency-Key: kept-1')" 202
JK=$(jq_ "d['job_id']" <"$T/body")
check "its job: final" "$(wait_final "$JK")" Succeeded
# the same bytes again, another job: it lasts at least as long as a sweep would take
check "upload a.csv" "$(code POST "$B/v1/datasets/cdr/uploads" --data-binary "@$T/a.csv")" 202
check "a.csv: final" "$(wait_final "$(jq_ "d['job_id']" <"$T/body")")" Succeeded
server_log | grep -q '"retention: '
check "no sweep without retention" "$?" 1
check "the object stays" "$(keys kept/ | grep -c "u${JK#j}.csv")" 1

# --- a part that fails for good: the multipart upload is aborted -----------------------------
check "arm: part 2 of kept/ answers 500 (every try)" "$(arm "{\"match\": [\"/$BK/kept/\", \"partNumber=2&\"], \"status\": 500, \"count\": 6}")" 204
check "arm: the abort succeeds (s3rver has none)" "$(arm "{\"match\": [\"/$BK/kept/\", \"uploadId=\"], \"method\": \"DELETE\", \"status\": 204, \"count\": 1}")" 204
before=$(keys kept/)
check "upload a.csv: 503" "$(code POST "$B/v1/datasets/cdr/uploads" --data-binary "@$T/a.csv")" 503
grep -q '"code":"S3_' "$T/body" && ok || bad "the 503 names the S3 code: $(cat "$T/body")"
markers_gone() { ! ls "$T/data/uploads" | grep -q '\.s3$'; }
wait_for "the failed upload's marker to go" 1500 markers_gone
check "the abort was sent" "$(seen "/$BK/kept/" DELETE)" 2
check "nothing new in the bucket" "$(keys kept/)" "$before"
grep -q "refused to abort" "$T/serve.log"
check "the abort was not refused" "$?" 1
stop_server
check "SIGTERM: exit 0" "$STOPPED" 0
finish
