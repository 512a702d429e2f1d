#!/usr/bin/env bash
# What belongs to an API key (issue 10, "Denial of service", second point),
# against the real `sluice serve` on loopback:
# - a tus upload belongs to the key that created it: another key's HEAD,
#   PATCH and DELETE are 404, the owner's work;
# - an Idempotency-Key is scoped to its API key: the same key and body is
#   the same job (200), another API key with the same Idempotency-Key gets
#   its own job (202);
# - pending tus uploads are capped by count (429 TOO_MANY_PENDING_UPLOADS)
#   and by declared bytes (507 PENDING_BYTES_LIMIT), per key and in all;
# - a bearer token with a NUL or bytes after the key is not the key (401;
#   raw sockets, curl cannot send a NUL).
# Usage: test_owners.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
sl gen cdr --rows 500 --seed 5 -o "$T/small.csv"
check "gen: exit" "$?" 0
export SLUICE_API_KEYS="keyA-0123456789:read+write,keyB-0123456789:read+write"
KA=(-H 'Authorization: Bearer keyA-0123456789')
KB=(-H 'Authorization: Bearer keyB-0123456789')
TR=(-H 'Tus-Resumable: 1.0.0')
OS=(-H 'Content-Type: application/offset+octet-stream')
hdr() { grep -i "^$1:" "$T/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
DS="dataset $(printf cdr | base64 -w0)"
create() { # create LENGTH KEYARGS...: the new upload's id, "" when refused
	local len=$1
	shift
	code POST "$B/v1/tus/" "${TR[@]}" -H "Upload-Length: $len" -H "Upload-Metadata: $DS" "$@" >"$T/st"
	local l
	l=$(hdr location)
	echo "${l##*/}"
}

serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M \
	--max-tus-pending-per-key 2 --max-tus-pending 3 --max-tus-pending-bytes-per-key 1M \
	--max-tus-pending-bytes 2M || { finish; exit 1; }

# --- ownership --------------------------------------------------------------------------------------
SIZE=$(stat -c %s "$T/small.csv")
ID=$(create "$SIZE" "${KA[@]}")
check "key A creates an upload" "$(cat "$T/st")" 201
check "key B: HEAD is 404" "$(code HEAD "$B/v1/tus/$ID" "${TR[@]}" "${KB[@]}")" 404
check "key B: PATCH is 404" "$(code PATCH "$B/v1/tus/$ID" "${TR[@]}" "${OS[@]}" "${KB[@]}" \
	-H 'Upload-Offset: 0' --data-binary @"$T/small.csv")" 404
check "key B: DELETE is 404" "$(code DELETE "$B/v1/tus/$ID" "${TR[@]}" "${KB[@]}")" 404
check "key A: HEAD is 200" "$(code HEAD "$B/v1/tus/$ID" "${TR[@]}" "${KA[@]}")" 200
check "key A: at offset 0 (B wrote nothing)" "$(hdr upload-offset)" 0
check "key A: PATCH completes it" "$(code PATCH "$B/v1/tus/$ID" "${TR[@]}" "${OS[@]}" "${KA[@]}" \
	-H 'Upload-Offset: 0' --data-binary @"$T/small.csv")" 204
JT=$(hdr x-job-id)
check "its job runs" "$(wait_final "$JT" "${KA[@]}")" Succeeded

# --- idempotency keys per API key --------------------------------------------------------------------
up() { code POST "$B/v1/datasets/cdr/uploads" -H 'Idempotency-Key: same-key-1' --data-binary @"$T/small.csv" "$@"; }
check "key A, Idempotency-Key k: 202" "$(up "${KA[@]}")" 202
JA=$(jq_ "d['job_id']" <"$T/body")
check "key A again: 200, same job" "$(up "${KA[@]}") $(jq_ "d['job_id']" <"$T/body")" "200 $JA"
check "key B, same Idempotency-Key: 202, its own job" "$(up "${KB[@]}")" 202
JB=$(jq_ "d['job_id']" <"$T/body")
check "key B's job is another job" "$([ "$JA" != "$JB" ] && echo yes)" yes

# --- caps on pending tus uploads ------------------------------------------------------------------------
A1=$(create 1000 "${KA[@]}")
check "key A: first pending upload" "$(cat "$T/st")" 201
A2=$(create 1000 "${KA[@]}")
check "key A: second pending upload" "$(cat "$T/st")" 201
create 1000 "${KA[@]}" >/dev/null
check "key A: a third pending upload is 429 (per key 2)" "$(cat "$T/st")" 429
check "429 says TOO_MANY_PENDING_UPLOADS" "$(jq_ "d['error']['code']" <"$T/body")" TOO_MANY_PENDING_UPLOADS
check "with Retry-After" "$(hdr retry-after)" 1
create 2000000 "${KB[@]}" >/dev/null
check "key B: declaring 2 MB (per key 1M) is 507" "$(cat "$T/st")" 507
check "507 says PENDING_BYTES_LIMIT" "$(jq_ "d['error']['code']" <"$T/body")" PENDING_BYTES_LIMIT
B1=$(create 1000 "${KB[@]}")
check "key B: one pending upload" "$(cat "$T/st")" 201
create 1000 "${KB[@]}" >/dev/null
check "key B: a fourth pending upload in all is 429 (in all 3)" "$(cat "$T/st")" 429
check "key A: DELETE frees a slot" "$(code DELETE "$B/v1/tus/$A1" "${TR[@]}" "${KA[@]}")" 204
create 1000 "${KB[@]}" >/dev/null
check "key B: now a second one fits" "$(cat "$T/st")" 201
: "$A2" "$B1"

# --- a bearer token is the whole header value ------------------------------------------------------------
raw() { # raw AUTH_BYTES (printf format): the status of GET /v1/jobs with that Authorization value
	printf "GET /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $1\r\nConnection: close\r\n\r\n" >"$T/req"
	python3 "$SRC/tests/http/dos.py" raw "$PORT" "$T/req" | head -1 | cut -d' ' -f2
}
check "the key itself: 200" "$(raw 'keyA-0123456789')" 200
check "the key, a NUL, more bytes: 401" "$(raw 'keyA-0123456789\0junk')" 401
check "the key and trailing bytes: 401" "$(raw 'keyA-0123456789 junk')" 401
check "the key and a trailing NUL: 401" "$(raw 'keyA-0123456789\0')" 401
stop_server
finish
