#!/usr/bin/env bash
# tus 1.0 resumable uploads of `sluice serve` (src/http/http_tus.c), against
# the real server on a free loopback port: whole uploads and an interrupted
# one resumed through the real client (tus-js-client, tests/js/tus_upload.mjs)
# reach jobs with every row loaded once; the protocol edges with curl
# (versions, offsets, content type, checksums, limits, locks, unknown ids,
# path tricks, termination); state kept across a restart; expiry; API keys.
# Skips (exit 77) only when node is missing (a failure under
# SLUICE_REQUIRE_ALL: make deps installs it).
# Usage: test_tus.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
JS=$SRC/tests/js
command -v node >/dev/null 2>&1 || skip "node is not installed (tus-js-client needs it)" installable
if [ ! -d "$JS/node_modules/tus-js-client" ]; then
	npm ci --prefix "$JS" >/dev/null 2>&1 || { echo "FAIL: npm ci --prefix $JS"; exit 1; }
fi
SLOW=
# on exit, a slow PATCH still running in the background goes too
at_exit() { [ -z "$SLOW" ] || kill "$SLOW" 2>/dev/null; }
# start_server LOG [extra options...]: serve with this test's store and limits; E the creation URL
start_server() {
	local log=$1
	shift
	serve "$log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" \
		--min-free 1M --max-upload 8M --threads 2 "$@" || return 1
	E="$B/v1/tus/"
}
TR=(-H 'Tus-Resumable: 1.0.0')
OS=(-H 'Content-Type: application/offset+octet-stream')
# curl args sent with the requests of create, offset, patch, wait_final and
# job_counts (the key, once the server wants one)
AUTH=()
hdr() { grep -i "^$1:" "$T/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
b64() { printf '%s' "$1" | base64 -w0; }
# create LENGTH [curl args]: a new upload's id (from Location)
create() {
	local len=$1
	shift
	code POST "$E" "${AUTH[@]}" "${TR[@]}" -H "Upload-Length: $len" -H "Upload-Metadata: dataset $(b64 cdr),filename $(b64 x.csv)" "$@" >/dev/null
	hdr Location | sed 's,.*/,,'
}
offset() { code HEAD "$B/v1/tus/$1" "${AUTH[@]}" "${TR[@]}" >/dev/null; hdr Upload-Offset; }
# patch ID OFFSET FILE [curl args]: PATCH FILE's bytes at OFFSET
patch() {
	local id=$1 off=$2 f=$3
	shift 3
	code PATCH "$B/v1/tus/$id" "${AUTH[@]}" "${TR[@]}" "${OS[@]}" -H "Upload-Offset: $off" --data-binary @"$f" "$@"
}
# job_counts JOB: "status rows_read rows_loaded rows_rejected"
job_counts() { curl -s "${AUTH[@]}" "$B/v1/jobs/$1" | jq_ "d['status'], d['rows_read'], d['rows_loaded'], d['rows_rejected']"; }
# kept FILE: is a byte-for-byte copy of FILE among the uploads handed to jobs?
kept() {
	for f in "$T"/data/uploads/*.csv; do cmp -s "$1" "$f" && { echo same; return; }; done
	echo missing
}
# settle: wait until no upload body is streaming in (a killed client's PATCH
# has been noticed and settled by the server)
none_in_flight() { curl -s "$B/metrics" | grep -qx 'sluice_uploads_in_flight 0'; }
settle() { wait_for "no upload in flight (an upload stayed in flight)" 250 none_in_flight; }
tusjs() { (cd "$JS" && node tus_upload.mjs "$@") 2>>"$T/node.err"; }
# streaming N: N upload bodies are streaming in now
streaming() { [ "$(metric sluice_uploads_in_flight)" = "$1" ]; }
# has_bytes ID: the server holds some bytes of upload ID (a PATCH got going)
has_bytes() { [ "$(offset "$1")" -gt 0 ] 2>/dev/null; }

mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
N=40000
sl gen cdr --rows $N --seed 5 -o "$T/a.csv" || bad "gen a"
sl gen cdr --rows $N --seed 9 -o "$T/b.csv" || bad "gen b"
sl gen cdr --rows 500 --seed 6 -o "$T/c.csv" || bad "gen c"
sl gen cdr --rows 300 --seed 11 -o "$T/d.csv" || bad "gen d"
sl gen cdr --rows 20000 --seed 12 -o "$T/e.csv" || bad "gen e"
sl gen cdr --rows 200 --seed 13 -o "$T/f.csv" || bad "gen f"
SIZE_A=$(stat -c %s "$T/a.csv")
SIZE_C=$(stat -c %s "$T/c.csv")

start_server "$T/log" || exit 1

# --- OPTIONS: what the server speaks, no key needed ---------------------------------------
check "OPTIONS: 204" "$(code OPTIONS "$E")" 204
check "OPTIONS: Tus-Version" "$(hdr Tus-Version)" 1.0.0
check "OPTIONS: Tus-Resumable" "$(hdr Tus-Resumable)" 1.0.0
check "OPTIONS: extensions" "$(hdr Tus-Extension)" "creation,termination,checksum,expiration"
check "OPTIONS: checksum algorithms" "$(hdr Tus-Checksum-Algorithm)" "sha1,md5"
check "OPTIONS: Tus-Max-Size = --max-upload" "$(hdr Tus-Max-Size)" $((8 * 1024 * 1024))
check "OPTIONS on an upload URL: 204" "$(code OPTIONS "$B/v1/tus/t0")" 204
check "creation endpoint without the slash" "$(code OPTIONS "$B/v1/tus")" 204

# --- the real client: a whole upload in several PATCHes ------------------------------------
out=$(tusjs whole "$E" "$T/a.csv")
JOB_A=$(echo "$out" | jq_ "d['job']")
URL_A=$(echo "$out" | jq_ "d['url']")
check "tus-js-client: several PATCHes" "$(echo "$out" | jq_ "d['patches'] >= 4")" True
check "tus-js-client: every answer had Tus-Resumable" "$(echo "$out" | jq_ "d['missing_tus_resumable']")" 0
check "whole upload: job Succeeded, every row once" "$(wait_final "$JOB_A" "${AUTH[@]}" >/dev/null; job_counts "$JOB_A")" "Succeeded $N $N 0"
check "whole upload: the same bytes reached the job" "$(kept "$T/a.csv")" same
ID_A=${URL_A##*/}
check "complete upload: HEAD 200" "$(code HEAD "$URL_A" "${TR[@]}")" 200
check "complete upload: offset = length" "$(hdr Upload-Offset) $(hdr Upload-Length)" "$SIZE_A $SIZE_A"
check "complete upload: HEAD names the job" "$(hdr X-Job-Id)" "$JOB_A"
check "complete upload: Cache-Control no-store" "$(hdr Cache-Control)" no-store
check "complete upload: PATCH 409" "$(patch "$ID_A" "$SIZE_A" "$T/c.csv")" 409
check "complete upload: 409 code" "$(jq_ "d['error']['code']" <"$T/body")" UPLOAD_COMPLETE
check "complete upload: DELETE 409" "$(code DELETE "$URL_A" "${TR[@]}")" 409
check "complete upload: no data left in the tus dir" "$(ls "$T/data/tus" | grep -c '\.part$')" 0

# --- the real client: interrupted mid-PATCH, then resumed (findPreviousUploads) -----------
out=$(tusjs interrupt "$E" "$T/b.csv" "$T/urls.json")
URL_B=$(echo "$out" | jq_ "d['url']")
SENT=$(echo "$out" | jq_ "d['sent']")
settle
check "interrupted after some progress" "$([ -n "$SENT" ] && [ "$SENT" -gt 0 ] 2>/dev/null && echo yes)" yes
OFF_B=$(offset "${URL_B##*/}")
SIZE_B=$(stat -c %s "$T/b.csv")
check "interrupted: the server kept part of it" "$([ "$OFF_B" -gt 0 ] && [ "$OFF_B" -lt "$SIZE_B" ] && echo yes)" yes
check "interrupted: no job yet" "$(hdr X-Job-Id)" ""
check "interrupted: the offset is stable" "$(offset "${URL_B##*/}")" "$OFF_B"
out=$(tusjs resume "$E" "$T/b.csv" "$T/urls.json")
check "resumed the same URL" "$(echo "$out" | jq_ "d['url']")" "$URL_B"
check "resumed from the server's offset" "$(echo "$out" | jq_ "d['resumed_from']")" "$OFF_B"
JOB_B=$(echo "$out" | jq_ "d['job']")
check "resumed upload: job Succeeded, every row once" "$(wait_final "$JOB_B" "${AUTH[@]}" >/dev/null; job_counts "$JOB_B")" "Succeeded $N $N 0"
check "resumed upload: the same bytes reached the job" "$(kept "$T/b.csv")" same
check "the job keeps the upload's correlation id" "$(curl -s "$B/v1/jobs/$JOB_B" | jq_ "d['correlation_id']")" "${URL_B##*/}"

# --- protocol edges with curl --------------------------------------------------------------
check "POST without Tus-Resumable: 412" "$(code POST "$E" -H 'Upload-Length: 10' -H "Upload-Metadata: dataset $(b64 cdr)")" 412
check "412 says Tus-Version" "$(hdr Tus-Version)" 1.0.0
check "412 has Tus-Resumable" "$(hdr Tus-Resumable)" 1.0.0
check "412 body" "$(jq_ "d['error']['code']" <"$T/body")" PRECONDITION_FAILED
check "wrong Tus-Resumable: 412" "$(code POST "$E" -H 'Tus-Resumable: 0.2.2' -H 'Upload-Length: 10' -H "Upload-Metadata: dataset $(b64 cdr)")" 412
check "no Upload-Length: 400" "$(code POST "$E" "${TR[@]}" -H "Upload-Metadata: dataset $(b64 cdr)")" 400
check "bad Upload-Length: 400" "$(code POST "$E" "${TR[@]}" -H 'Upload-Length: -5' -H "Upload-Metadata: dataset $(b64 cdr)")" 400
check "Upload-Length 0: 400" "$(code POST "$E" "${TR[@]}" -H 'Upload-Length: 0' -H "Upload-Metadata: dataset $(b64 cdr)")" 400
check "Upload-Defer-Length: 400" "$(code POST "$E" "${TR[@]}" -H 'Upload-Defer-Length: 1' -H "Upload-Metadata: dataset $(b64 cdr)")" 400
check "over --max-upload: 413" "$(code POST "$E" "${TR[@]}" -H "Upload-Length: $((8 * 1024 * 1024 + 1))" -H "Upload-Metadata: dataset $(b64 cdr)")" 413
check "413 body" "$(jq_ "d['error']['code']" <"$T/body")" TOO_LARGE
check "no dataset in the metadata: 400" "$(code POST "$E" "${TR[@]}" -H 'Upload-Length: 10' -H "Upload-Metadata: filename $(b64 x.csv)")" 400
check "bad base64 in the metadata: 400" "$(code POST "$E" "${TR[@]}" -H 'Upload-Length: 10' -H 'Upload-Metadata: dataset !!!')" 400
check "unknown dataset: 404" "$(code POST "$E" "${TR[@]}" -H 'Upload-Length: 10' -H "Upload-Metadata: dataset $(b64 nope)")" 404
check "a file name is never a path" "$(code POST "$E" "${TR[@]}" -H 'Upload-Length: 10' -H "Upload-Metadata: dataset $(b64 cdr),filename $(b64 ../../../../tmp/evil)")" 201
check "refused creations left no file" "$(ls "$T/data/tus" | grep -c '\.part$')" 1
ls "$T/data/tus" | grep -q evil && bad "the file name reached the disk" || ok

ID=$(create "$SIZE_C")
check "create: 201" "$(grep -c '^HTTP/1.1 201' "$T/hdr")" 1
check "create: Location" "$(hdr Location)" "/v1/tus/$ID"
check "create: Tus-Resumable" "$(hdr Tus-Resumable)" 1.0.0
check "new upload: HEAD offset 0" "$(offset "$ID")" 0
check "new upload: HEAD length" "$(hdr Upload-Length)" "$SIZE_C"
check "new upload: HEAD echoes the metadata" "$(hdr Upload-Metadata)" "dataset $(b64 cdr),filename $(b64 x.csv)"
check "new upload: Cache-Control no-store" "$(hdr Cache-Control)" no-store
head -c 1000 "$T/c.csv" >"$T/p1"
tail -c +1001 "$T/c.csv" | head -c 1000 >"$T/p2"
tail -c +2001 "$T/c.csv" >"$T/p3"
check "PATCH without Tus-Resumable: 412" "$(code PATCH "$B/v1/tus/$ID" "${OS[@]}" -H 'Upload-Offset: 0' --data-binary @"$T/p1")" 412
check "PATCH wrong content type: 415" "$(code PATCH "$B/v1/tus/$ID" "${TR[@]}" -H 'Content-Type: application/octet-stream' -H 'Upload-Offset: 0' --data-binary @"$T/p1")" 415
check "PATCH without a content type: 415" "$(code PATCH "$B/v1/tus/$ID" "${TR[@]}" -H 'Upload-Offset: 0' -H 'Content-Type:' --data-binary @"$T/p1")" 415
check "415 has Tus-Resumable" "$(hdr Tus-Resumable)" 1.0.0
check "PATCH without Upload-Offset: 400" "$(code PATCH "$B/v1/tus/$ID" "${TR[@]}" "${OS[@]}" --data-binary @"$T/p1")" 400
check "PATCH wrong offset: 409" "$(patch "$ID" 5 "$T/p1")" 409
check "409 body" "$(jq_ "d['error']['code']" <"$T/body")" OFFSET_MISMATCH
check "after refusals: offset still 0" "$(offset "$ID")" 0
SHA1_P1=$(openssl dgst -sha1 -binary "$T/p1" | base64 -w0)
MD5_P2=$(openssl dgst -md5 -binary "$T/p2" | base64 -w0)
check "checksum mismatch: 460" "$(patch "$ID" 0 "$T/p1" -H "Upload-Checksum: md5 $MD5_P2")" 460
check "460 body" "$(jq_ "d['error']['code']" <"$T/body")" CHECKSUM_MISMATCH
check "checksum mismatch: offset unchanged" "$(offset "$ID")" 0
check "checksum of the wrong bytes: 460" "$(patch "$ID" 0 "$T/p1" -H "Upload-Checksum: sha1 $(openssl dgst -sha1 -binary "$T/p2" | base64 -w0)")" 460
check "wrong-bytes checksum: offset unchanged" "$(offset "$ID")" 0
check "a digest of the wrong size: 400" "$(patch "$ID" 0 "$T/p1" -H "Upload-Checksum: sha1 $MD5_P2")" 400
check "unsupported algorithm: 400" "$(patch "$ID" 0 "$T/p1" -H "Upload-Checksum: crc32 AAAAAA==")" 400
check "400 code" "$(jq_ "d['error']['code']" <"$T/body")" CHECKSUM_ALGORITHM
check "good sha1: 204" "$(patch "$ID" 0 "$T/p1" -H "Upload-Checksum: sha1 $SHA1_P1")" 204
check "good sha1: new offset" "$(hdr Upload-Offset)" 1000
check "good md5: 204" "$(patch "$ID" 1000 "$T/p2" -H "Upload-Checksum: md5 $MD5_P2")" 204
check "good md5: new offset" "$(offset "$ID")" 2000
cat "$T/p3" "$T/p1" >"$T/p3x"
check "body past Upload-Length: 413" "$(patch "$ID" 2000 "$T/p3x")" 413
check "past the length: offset unchanged" "$(offset "$ID")" 2000
check "past the length, chunked: 413" "$(patch "$ID" 2000 "$T/p3x" -H 'Transfer-Encoding: chunked')" 413
check "chunked past the length: offset unchanged" "$(offset "$ID")" 2000
check "last PATCH: 204" "$(patch "$ID" 2000 "$T/p3")" 204
check "last PATCH: offset = length" "$(hdr Upload-Offset)" "$SIZE_C"
JOB_C=$(hdr X-Job-Id)
check "last PATCH: X-Job-Id" "$([ -n "$JOB_C" ] && echo set)" set
check "curl upload: job Succeeded, every row once" "$(wait_final "$JOB_C" "${AUTH[@]}" >/dev/null; job_counts "$JOB_C")" "Succeeded 500 500 0"
check "curl upload: the same bytes reached the job" "$(kept "$T/c.csv")" same

# unknown ids and path tricks: 404, and nothing written outside the data dir
for m in HEAD PATCH DELETE; do
	check "unknown id: $m 404" "$(code $m "$B/v1/tus/t1a2b3c4d5e6f7a8b9" "${TR[@]}" "${OS[@]}" -H 'Upload-Offset: 0')" 404
done
check "unknown id: 404 has Tus-Resumable" "$(hdr Tus-Resumable)" 1.0.0
check "an id that is not ours (no t): 404" "$(code HEAD "$B/v1/tus/$(echo "$ID" | sed 's/^t/u/')" "${TR[@]}")" 404
touch "$T/outside"
for p in "/v1/tus/..%2f..%2fetc" "/v1/tus/..%2f..%2fetc%2fpasswd" "/v1/tus/%2e%2e" "/v1/tus/../../etc/passwd" \
	"/v1/tus/t..%2fs.db" "/v1/tus/$ID%2f..%2f..%2fs.db" "/v1/tus/$ID/x" "/v1/tus/t%00" "/v1/tus/$(printf 't%.0s' $(seq 1 60))"; do
	for m in HEAD PATCH DELETE; do
		if [ "$m" = PATCH ]; then
			st=$(code PATCH "$B$p" --path-as-is "${TR[@]}" "${OS[@]}" -H 'Upload-Offset: 0' --data-binary @"$T/p1")
		else
			st=$(code $m "$B$p" --path-as-is "${TR[@]}")
		fi
		# no route matches any of them: 404, one answer for every method; a
		# control byte (%00) in a path segment is refused first: 400
		case "$p" in *%00*) want=400 ;; *) want=404 ;; esac
		check "path trick $m $p" "$st" "$want"
	done
done
check "path tricks wrote nothing outside the data dir" "$(find "$T" -newer "$T/outside" -type f ! -path "$T/data/*" ! -name body ! -name hdr ! -name 'log*' ! -name 's.db*' ! -name node.err | wc -l)" 0
check "the database is untouched by path tricks" "$([ -s "$T/s.db" ] && echo there)" there

# termination
ID=$(create "$SIZE_C")
check "a PATCH before DELETE" "$(patch "$ID" 0 "$T/p1")" 204
check "DELETE: 204" "$(code DELETE "$B/v1/tus/$ID" "${TR[@]}")" 204
check "DELETE: Tus-Resumable" "$(hdr Tus-Resumable)" 1.0.0
check "DELETE then HEAD: 404" "$(code HEAD "$B/v1/tus/$ID" "${TR[@]}")" 404
check "DELETE then PATCH: 404" "$(patch "$ID" 1000 "$T/p2")" 404
check "DELETE again: 404" "$(code DELETE "$B/v1/tus/$ID" "${TR[@]}")" 404
check "DELETE removed its files" "$(ls "$T/data/tus" | grep -c "^$ID")" 0
check "DELETE without Tus-Resumable: 412" "$(code DELETE "$B/v1/tus/$ID")" 412

# one PATCH at a time: a slow one holds the upload (423 for the next; DELETE too)
SIZE_E=$(stat -c %s "$T/e.csv")
ID=$(create "$SIZE_E")
curl -s -o /dev/null -X PATCH "${TR[@]}" "${OS[@]}" -H 'Upload-Offset: 0' --limit-rate 200K \
	--data-binary @"$T/e.csv" "$B/v1/tus/$ID" &
SLOW=$!
wait_for "the slow PATCH to get going" 1500 has_bytes "$ID"
check "a second PATCH meanwhile: 423" "$(patch "$ID" 0 "$T/p1")" 423
check "423 body" "$(jq_ "d['error']['code']" <"$T/body")" LOCKED
check "DELETE meanwhile: 423" "$(code DELETE "$B/v1/tus/$ID" "${TR[@]}")" 423
check "HEAD meanwhile shows progress" "$(o=$(offset "$ID"); [ "$o" -gt 0 ] && [ "$o" -lt "$SIZE_E" ] && echo yes)" yes
# a checksum PATCH cut mid-body: the piece cannot be verified, so nothing is kept
kill "$SLOW"
wait "$SLOW" 2>/dev/null
SLOW=
settle
OFF_E=$(offset "$ID")
check "client killed mid-PATCH (no checksum): bytes kept" "$([ "$OFF_E" -gt 0 ] && [ "$OFF_E" -lt "$SIZE_E" ] && echo yes)" yes
tail -c +$((OFF_E + 1)) "$T/e.csv" >"$T/e.rest"
curl -s -o /dev/null -X PATCH "${TR[@]}" "${OS[@]}" -H "Upload-Offset: $OFF_E" --limit-rate 100K \
	-H "Upload-Checksum: sha1 $(openssl dgst -sha1 -binary "$T/e.rest" | base64 -w0)" \
	--data-binary @"$T/e.rest" "$B/v1/tus/$ID" &
SLOW=$!
wait_for "the checksum PATCH to stream in" 1500 streaming 1
kill "$SLOW"
wait "$SLOW" 2>/dev/null
SLOW=
settle
check "client killed mid-PATCH with a checksum: cut back" "$(offset "$ID")" "$OFF_E"
check "the rest with its checksum: 204" "$(patch "$ID" "$OFF_E" "$T/e.rest" -H "Upload-Checksum: sha1 $(openssl dgst -sha1 -binary "$T/e.rest" | base64 -w0)")" 204
JOB_E=$(hdr X-Job-Id)
check "cut and resumed: job Succeeded, every row once" "$(wait_final "$JOB_E" "${AUTH[@]}" >/dev/null; job_counts "$JOB_E")" "Succeeded 20000 20000 0"

# an upload left half done, for the restart below
SIZE_D=$(stat -c %s "$T/d.csv")
ID_D=$(create "$SIZE_D")
head -c 3000 "$T/d.csv" >"$T/d1"
check "half an upload" "$(patch "$ID_D" 0 "$T/d1")" 204
ID_OLD=$(create "$SIZE_D")

# metrics: the tus routes are counted; nothing in flight
M409='sluice_http_requests_total{method="PATCH",route="/v1/tus/{id}",status="409"}'
before=$(metric "$M409")
check "one more PATCH on the complete upload: 409" "$(patch "$ID_A" "$SIZE_A" "$T/c.csv")" 409
check "metrics: the tus 409s moved by one" "$(($(metric "$M409") - before))" 1
curl -s "$B/metrics" >"$T/metrics"
grep -qF 'sluice_uploads_in_flight 0' "$T/metrics" && ok || bad "metrics: uploads in flight not back to 0"
stop_server
check "SIGTERM: exit 0" "$STOPPED" 0

# --- restart: the state is on disk; uploads untouched for 24 h expire ----------------------
touch -d '2 days ago' "$T/data/tus/$ID_OLD".*
start_server "$T/log" || exit 1
check "after a restart: HEAD still knows the offset" "$(offset "$ID_D")" 3000
check "after a restart: completed uploads still answer complete" "$(code HEAD "$B/v1/tus/$ID_A" "${TR[@]}"; echo " $(hdr X-Job-Id)")" "200 $JOB_A"
check "the old upload is there until a creation sweeps" "$(code HEAD "$B/v1/tus/$ID_OLD" "${TR[@]}")" 200
ID=$(create 10)
check "after the sweep: the old upload is gone (404)" "$(code HEAD "$B/v1/tus/$ID_OLD" "${TR[@]}")" 404
check "the sweep removed its files" "$(ls "$T/data/tus" | grep -c "^$ID_OLD")" 0
check "the sweep kept the fresh ones" "$(code HEAD "$B/v1/tus/$ID_D" "${TR[@]}")" 200
tail -c +3001 "$T/d.csv" >"$T/d2"
check "finish after the restart: 204" "$(patch "$ID_D" 3000 "$T/d2")" 204
JOB_D=$(hdr X-Job-Id)
check "finished after a restart: job Succeeded" "$(wait_final "$JOB_D" "${AUTH[@]}" >/dev/null; job_counts "$JOB_D")" "Succeeded 300 300 0"
stop_server
check "SIGTERM after the restart: exit 0" "$STOPPED" 0

# --- API keys, and the in-flight limit ---------------------------------------------------
SLUICE_API_KEYS='kw:read+write,kr:read' start_server "$T/log" --max-uploads 1 || exit 1
check "keys: POST without a key: 401" "$(code POST "$E" "${TR[@]}" -H 'Upload-Length: 10' -H "Upload-Metadata: dataset $(b64 cdr)")" 401
check "keys: HEAD without a key: 401" "$(code HEAD "$B/v1/tus/$ID_D" "${TR[@]}")" 401
check "keys: PATCH without a key: 401" "$(patch "$ID" 0 "$T/p1")" 401
check "keys: DELETE without a key: 401" "$(code DELETE "$B/v1/tus/$ID" "${TR[@]}")" 401
check "keys: read key cannot create (403)" "$(code POST "$E" "${TR[@]}" -H 'Authorization: Bearer kr' -H 'Upload-Length: 10' -H "Upload-Metadata: dataset $(b64 cdr)")" 403
check "keys: OPTIONS needs no key" "$(code OPTIONS "$E")" 204
AUTH=(-H 'Authorization: Bearer kw')
out=$(SLUICE_KEY=kw tusjs whole "$E" "$T/f.csv")
JOB=$(echo "$out" | jq_ "d['job']")
check "keys: tus-js-client with a key" "$(wait_final "$JOB" "${AUTH[@]}" >/dev/null; job_counts "$JOB")" "Succeeded 200 200 0"
ID=$(create "$SIZE_E")
ID2=$(create "$SIZE_C")
curl -s -o /dev/null -X PATCH "${AUTH[@]}" "${TR[@]}" "${OS[@]}" -H 'Upload-Offset: 0' --limit-rate 200K \
	--data-binary @"$T/e.csv" "$B/v1/tus/$ID" &
SLOW=$!
wait_for "the slow PATCH to stream in" 1500 streaming 1
check "--max-uploads 1: a second upload's PATCH gets 429" "$(patch "$ID2" 0 "$T/p1")" 429
check "429 has Retry-After" "$(hdr Retry-After)" 1
kill "$SLOW"
wait "$SLOW" 2>/dev/null
SLOW=
settle
check "after it: 204" "$(patch "$ID2" 0 "$T/p1")" 204
grep -q 'Bearer kw\|"kw"' "$T/log" && bad "a key appears in the log" || ok
stop_server
check "SIGTERM with keys: exit 0" "$STOPPED" 0

# (sanitizer reports in the server's log are checked by stop_server)
# logs: JSON lines
python3 - "$T/log" <<'PY' && ok || bad "logs are not JSON lines"
import json, sys
for line in open(sys.argv[1]):
    json.loads(line)
PY
[ -s "$T/node.err" ] && echo "node stderr: $(head -c 2000 "$T/node.err")"
finish tus
