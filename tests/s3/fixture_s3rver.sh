#!/usr/bin/env bash
# The shared S3-protocol server of the S3 tests (a CTest fixture:
# tests/tests.cmake, sluice_shared_server): s3rver and its fault proxy
# (tests/s3/s3rver.cjs) on loopback, once per CTest run.
#   bash fixture_s3rver.sh start|stop SLUICE SOURCE_DIR
# Tests read S3_ENDPOINT, S3_PROXY (the proxy's endpoint), S3_KEY and
# S3_SECRET (s3rver's built-in account) with `use_fixture s3rver`.
S=$2
SRC=$3
. "$SRC/tests/lib/harness.sh"
JS=$SRC/tests/js
case "$1" in
stop)
	fixture_stop s3rver
	rm -rf "$SLUICE_FIXTURES/s3rver.data"
	finish fixture_s3rver
	exit
	;;
start) ;;
*) echo "usage: $0 start|stop SLUICE SOURCE_DIR"; exit 2 ;;
esac
command -v node >/dev/null 2>&1 || fixture_skipped s3rver "node is not installed (make deps installs it)" installable
if [ ! -d "$JS/node_modules/@20minutes/s3rver" ]; then
	echo "installing tests/js dependencies (npm ci)"
	npm ci --prefix "$JS" --no-audit --no-fund >/dev/null 2>&1 || { echo "FAIL: npm ci --prefix $JS"; exit 1; }
fi
fixture_stop s3rver # one left by an interrupted run
D=$SLUICE_FIXTURES/s3rver.data
ENV=$SLUICE_FIXTURES/s3rver.ports
LOG=$SLUICE_FIXTURES/s3rver.log
rm -rf "$D" "$ENV"
mkdir -p "$D"
# fd 8 (the harness's stderr) closed too, or CTest waits on its pipe;
# s3rver's continuation tokens are DES-encrypted, which OpenSSL 3 keeps in
# its legacy provider
setsid node --openssl-legacy-provider "$SRC/tests/s3/s3rver.cjs" "$JS" "$D" "$ENV" >"$LOG" 2>&1 </dev/null 8>&- &
pid=$!
if ! wait_for "s3rver to listen" 1500 test -s "$ENV"; then
	cat "$LOG"
	kill "$pid" 2>/dev/null
	finish fixture_s3rver
	exit 1
fi
. "$ENV"
fixture_started s3rver "$pid" "$LOG" \
	"S3_ENDPOINT=http://127.0.0.1:$S3_PORT" "S3_PROXY=http://127.0.0.1:$S3_PROXY_PORT" \
	"S3_VHOST=http://s3.localhost:$S3_PORT" S3_KEY=S3RVER S3_SECRET=S3RVER
ok
finish fixture_s3rver
