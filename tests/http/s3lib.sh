# Helpers of the tests of the service's upload store against the s3rver
# fixture (sourced after tests/http/lib.sh): the fixture's variables and
# credentials, a bucket of the test's own (BK), and requests to s3rver and
# its fault proxy (tests/s3/s3rver.cjs).
use_fixture s3rver
export AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET AWS_REGION=us-east-1
export SLUICE_S3_BACKOFF_MS=2
unset AWS_SESSION_TOKEN SLUICE_S3_STYLE AWS_ENDPOINT_URL
BK=$(fixture_namespace | tr '_' '-')
# s3 METHOD PATH [FILE]: a request signed by curl itself; the HTTP status (the body in $T/s3.body)
s3() {
	local args=(-s -o "$T/s3.body" -w '%{http_code}' -X "$1" --aws-sigv4 "aws:amz:us-east-1:s3"
		--user "$S3_KEY:$S3_SECRET" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
	[ -n "${3:-}" ] && args+=(-T "$3")
	curl "${args[@]}" "$S3_ENDPOINT/$2"
}
# the keys under a prefix of BK, sorted, one a line (ListObjectsV2)
keys() {
	s3 GET "$BK?list-type=2&prefix=${1//\//%2F}" >/dev/null
	python3 -c "import re,sys; print('\n'.join(sorted(re.findall(r'<Key>([^<]*)</Key>', open(sys.argv[1]).read()))))" "$T/s3.body"
}
keys_are() { [ "$(keys "$1")" = "$2" ]; }
# the fault proxy: arm a fault (its JSON); how many requests (of a method) had S in their path
arm() { curl -s -o /dev/null -w '%{http_code}' -X POST --data "$1" "$S3_PROXY/__faults"; }
seen() { curl -s "$S3_PROXY/__faults?match=$1&method=$2" | jq_ "d['seen']"; }
