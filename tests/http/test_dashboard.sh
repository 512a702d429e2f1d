#!/usr/bin/env bash
# The dashboard (GET /) in a real browser: start `sluice serve` with an API
# key on a free loopback port, generate a CSV with defects, and run
# tests/js/dashboard.mjs, which drives headless Chromium through
# playwright-core: key prompt, upload through the page, the job watched to
# its end, and every number on the page compared with the API's.
# Without node or Chromium it prints SKIP and passes (scripts/deps.sh
# installs both, so CI runs it).
# Usage: test_dashboard.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
KEY=dash-$RANDOM$RANDOM

if ! command -v node >/dev/null 2>&1; then
	echo "SKIP: node is not installed"
	exit 0
fi
if [ ! -x "$CHROMIUM" ]; then
	echo "SKIP: no Chromium at $CHROMIUM (sudo apt-get install -y chromium)"
	exit 0
fi
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
"$S" gen cdr --rows 100000 --error-rate 0.005 --seed 11 -o "$T/calls.csv" 2>/dev/null &&
	"$S" gen cdr --rows 2000 --error-rate 0.01 --seed 12 -o "$T/small.csv" 2>/dev/null || {
	echo "FAIL: sluice gen"
	exit 1
}

# the page's checks are counted by dashboard.mjs, which prints the summary line
SLUICE_API_KEYS="$KEY:read+write+admin" serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" \
	--data-dir "$T/data" --min-free 1M --threads 2 --chunk-size 1M || exit 1

node "$SRC/tests/js/dashboard.mjs" "$B" "$KEY" "$T/calls.csv" "$T/small.csv"
rc=$?
if [ $rc -ne 0 ]; then
	echo "--- server log (last 20 lines)"
	tail -20 "$T/log"
fi
exit $rc
