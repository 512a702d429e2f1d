#!/usr/bin/env bash
# HTTP/1.1 correctness of `sluice serve` against the real server on loopback
# (issue 10, "HTTP correctness"): keep-alive and pipelining, framing errors
# answered with one JSON error (raw sockets: tests/http/http11.py), control
# bytes in the target, a repeated signed-URL parameter, strict base64 in
# Upload-Metadata, and the signed URL's host from --public-url, never Host.
# Usage: test_http11.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
sl gen cdr --rows 200 --seed 9 -o "$T/small.csv"
# other bytes for the multipart upload: the same content twice would be
# reported as loaded already (docs/ingest.md), not read again
sl gen cdr --rows 200 --seed 10 -o "$T/small2.csv"
check "gen: exit" "$?" 0
serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M \
	--public-url https://sluice.example.com/base/ || { finish; exit 1; }
out=$(python3 "$SRC/tests/http/http11.py" "$PORT")
echo "$out" | grep FAIL
check "raw-socket checks (http11.py)" "$(grep -c '^FAIL' <<<"$out")" 0
check "raw-socket checks ran" "$(grep -c '^ok' <<<"$out")" 13

# signed URLs: the host is --public-url's whatever Host says; each parameter once
check "upload URL: 201" "$(code POST "$B/v1/datasets/cdr/upload-urls" -H 'Host: evil.example')" 201
P=$(jq_ "d['path']" <"$T/body")
check "the URL is --public-url + path, not the Host header" "$(jq_ "d['url']" <"$T/body")" \
	"https://sluice.example.com/base$P"
check "a repeated signature: 403" "$(code POST "$B$P&signature=$(printf '0%.0s' $(seq 1 64))" --data-binary @"$T/small.csv")" 403
check "a repeated expires: 403" "$(code POST "$B$P&expires=1" --data-binary @"$T/small.csv")" 403
check "the URL as given: 202" "$(code POST "$B$P" --data-binary @"$T/small.csv")" 202

# a one-character multipart boundary is valid (RFC 2046: 1 to 70 characters)
printf -- '--a\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n' >"$T/mp.body"
cat "$T/small2.csv" >>"$T/mp.body"
printf -- '\r\n--a--\r\n' >>"$T/mp.body"
check "multipart with boundary=a: 202" "$(code POST "$B/v1/datasets/cdr/uploads" -H 'Content-Type: multipart/form-data; boundary=a' --data-binary @"$T/mp.body")" 202
MJ=$(jq_ "d['job_id']" <"$T/body")
check "... its job reads the file's rows (all 200)" "$(wait_final "$MJ" >/dev/null; curl -s "$B/v1/jobs/$MJ" | jq_ "d['rows_read']")" 200
check "a boundary of 71 characters: 400" "$(code POST "$B/v1/datasets/cdr/uploads" -H "Content-Type: multipart/form-data; boundary=$(printf 'b%.0s' $(seq 1 71))" --data-binary @"$T/mp.body")" 400

# Upload-Metadata: every value base64, also of keys the server does not read
TR=(-H 'Tus-Resumable: 1.0.0' -H 'Upload-Length: 100')
DS="dataset $(printf cdr | base64 -w0)"
check "Upload-Metadata with a bad base64 value of another key: 400" \
	"$(code POST "$B/v1/tus/" "${TR[@]}" -H "Upload-Metadata: $DS,note !!notbase64!!")" 400
check "Upload-Metadata: bad base64 in dataset: 400" \
	"$(code POST "$B/v1/tus/" "${TR[@]}" -H "Upload-Metadata: dataset Y2Ry!")" 400
check "Upload-Metadata: another key with good base64: 201" \
	"$(code POST "$B/v1/tus/" "${TR[@]}" -H "Upload-Metadata: $DS,note $(printf hi | base64 -w0)")" 201
stop_server

# without --public-url the URL is the path
serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M || { finish; exit 1; }
code POST "$B/v1/datasets/cdr/upload-urls" -H 'Host: evil.example' >/dev/null
check "no --public-url: the url is the path" "$(jq_ "d['url'] == d['path']" <"$T/body")" True
stop_server
finish
