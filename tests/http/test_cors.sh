#!/usr/bin/env bash
# Browsers and tus clients behind picky proxies (issue 10, "Integrators'
# conventions"), against the real `sluice serve` on loopback:
# - CORS is opt-in: without --cors-origin no Access-Control-* header; with
#   it, a preflight (OPTIONS + Access-Control-Request-Method) of the upload,
#   signed-URL and tus routes from an allowed origin is 204 with the methods
#   and headers, answers expose Location, Upload-Offset, Upload-Length and
#   Tus-*, and another origin gets nothing;
# - tus X-HTTP-Method-Override (POST standing for PATCH, HEAD, DELETE);
# - Upload-Expires on creation, HEAD and PATCH, 24 h after the last touch.
# Usage: test_cors.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
sl gen cdr --rows 300 --seed 31 -o "$T/small.csv"
check "gen: exit" "$?" 0
SIZE=$(stat -c %s "$T/small.csv")
hdr() { grep -i "^$1:" "$T/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
TR=(-H 'Tus-Resumable: 1.0.0')
DS="dataset $(printf cdr | base64 -w0)"
PRE=(-H 'Origin: https://app.example' -H 'Access-Control-Request-Method: POST')

serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M || { finish; exit 1; }
check "no --cors-origin: a preflight of uploads is 405" "$(code OPTIONS "$B/v1/datasets/cdr/uploads" "${PRE[@]}")" 405
check "no --cors-origin: no Access-Control-Allow-Origin" "$(code GET "$B/healthz/live" -H 'Origin: https://app.example'; hdr access-control-allow-origin)" 200
stop_server

serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M \
	--cors-origin 'https://app.example, https://other.example' || { finish; exit 1; }
for p in /v1/datasets/cdr/uploads /v1/datasets/cdr/upload-urls /v1/tus/ /v1/tus/t123; do
	check "preflight $p: 204" "$(code OPTIONS "$B$p" "${PRE[@]}")" 204
	check "preflight $p: the origin allowed" "$(hdr access-control-allow-origin)" https://app.example
	check "preflight $p: the methods" "$(hdr access-control-allow-methods | grep -c POST\\\|PATCH)" 1
	check "preflight $p: Authorization and Upload-Offset may be sent" \
		"$(hdr access-control-allow-headers | grep -o 'Authorization\|Upload-Offset' | sort -u | wc -l)" 2
done
check "preflight from an origin not allowed: 405, no CORS header" \
	"$(code OPTIONS "$B/v1/datasets/cdr/uploads" -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: POST') $(hdr access-control-allow-origin)" "405 "
check "a preflight of a route that is not for browsers: 405" "$(code OPTIONS "$B/v1/jobs" "${PRE[@]}")" 405
check "tus creation from the origin: 201" "$(code POST "$B/v1/tus/" "${TR[@]}" -H "Upload-Length: $SIZE" -H "Upload-Metadata: $DS" -H 'Origin: https://app.example')" 201
check "... with Access-Control-Allow-Origin" "$(hdr access-control-allow-origin)" https://app.example
check "... exposing Location, Upload-Offset, Upload-Length, Tus-*" \
	"$(hdr access-control-expose-headers | tr ',' '\n' | tr -d ' ' | grep -cx 'Location\|Upload-Offset\|Upload-Length\|Tus-Resumable\|Tus-Version')" 5
L=$(hdr location)
ID=${L##*/}
EXP=$(hdr upload-expires)
check "creation: Upload-Expires about 24 h ahead" "$(python3 -c "
import email.utils, sys, time
t = email.utils.parsedate_to_datetime(sys.argv[1]).timestamp()
print('yes' if abs(t - time.time() - 86400) < 120 else 'no: ' + sys.argv[1])" "$EXP")" yes
# tus through X-HTTP-Method-Override: POST standing for HEAD, PATCH and DELETE
check "POST + X-HTTP-Method-Override: HEAD: 200" "$(code POST "$B/v1/tus/$ID" "${TR[@]}" -H 'X-HTTP-Method-Override: HEAD')" 200
check "... Upload-Offset 0 and Upload-Expires" "$(hdr upload-offset) $([ -n "$(hdr upload-expires)" ] && echo set)" "0 set"
head -c 100 "$T/small.csv" >"$T/part1"
check "POST + X-HTTP-Method-Override: PATCH: 204" "$(code POST "$B/v1/tus/$ID" "${TR[@]}" -H 'X-HTTP-Method-Override: PATCH' \
	-H 'Content-Type: application/offset+octet-stream' -H 'Upload-Offset: 0' --data-binary @"$T/part1")" 204
check "... at offset 100, with Upload-Expires" "$(hdr upload-offset) $([ -n "$(hdr upload-expires)" ] && echo set)" "100 set"
check "POST + X-HTTP-Method-Override: DELETE: 204" "$(code POST "$B/v1/tus/$ID" "${TR[@]}" -H 'X-HTTP-Method-Override: DELETE')" 204
check "gone after the DELETE" "$(code HEAD "$B/v1/tus/$ID" "${TR[@]}")" 404
check "a POST without the override on an upload: 405" "$(code POST "$B/v1/tus/$ID" "${TR[@]}")" 405
check "Tus-Extension names expiration" "$(code OPTIONS "$B/v1/tus/" "${TR[@]}"; hdr tus-extension | grep -c expiration)" "2041"
stop_server
finish
