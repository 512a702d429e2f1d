#!/usr/bin/env bash
# The dashboard (GET /) in a real browser: start `sluice serve` with an API
# key on a free loopback port, generate a CSV with defects, and run
# tests/js/dashboard.mjs, which drives headless Chromium through
# playwright-core: key prompt, upload through the page, the job watched to
# its end, and every number on the page compared with the API's.
# Without node or Chromium it skips (exit 77; scripts/deps.sh installs
# both, so under SLUICE_REQUIRE_ALL, as in CI, a skip is a failure). The
# server is stopped and checked before the exit, like every other.
# Usage: test_dashboard.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
KEY=dash-$RANDOM$RANDOM

command -v node >/dev/null 2>&1 || skip "node is not installed" installable
[ -x "$CHROMIUM" ] || skip "no Chromium at $CHROMIUM (sudo apt-get install -y chromium)" installable
if [ ! -d "$SRC/tests/js/node_modules/playwright-core" ]; then
	echo "installing tests/js dependencies (npm ci)"
	if ! npm ci --prefix "$SRC/tests/js" --no-audit --no-fund >/dev/null; then
		echo "FAIL: npm ci in $SRC/tests/js failed"
		exit 1
	fi
fi

mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
# ~9.5 MB: three tus pieces, about ten 1 MiB chunks, a few hundred rejects
sl gen cdr --rows 100000 --error-rate 0.005 --seed 11 -o "$T/calls.csv" &&
	sl gen cdr --rows 2000 --error-rate 0.01 --seed 12 -o "$T/small.csv" || {
	echo "FAIL: sluice gen"
	exit 1
}

# the page's checks are counted by dashboard.mjs, which prints the summary line
SLUICE_API_KEYS="$KEY:read+write+admin" serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" \
	--data-dir "$T/data" --min-free 1M --threads 2 --chunk-size 1M || exit 1

node "$SRC/tests/js/dashboard.mjs" "$B" "$KEY" "$T/calls.csv" "$T/small.csv"
check "dashboard.mjs: every check in the page passed" "$?" 0
stop_server
check "SIGTERM: exit 0" "$STOPPED" 0
if [ "$fail" -ne 0 ]; then
	echo "--- server log (last 20 lines)"
	tail -20 "$T/log"
fi
finish dashboard
