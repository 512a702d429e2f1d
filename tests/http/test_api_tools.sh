#!/usr/bin/env bash
# docs/api.yaml through real tools (issue 10, "Integrators' conventions"):
# Redocly's lint with its recommended rules (no error; the one warning
# allowed is info-license: the project has chosen no license yet) and
# TypeScript generation with openapi-typescript, whose output must name
# every path of the route table (HTTP_ROUTES in src/http/http_routes.h).
# Both come from npm (tests/js/package.json, installed with npm ci when
# missing); without node the test is skipped (exit 77).
# Usage: test_api_tools.sh SOURCE_DIR
set -u
SRC=$1
JS=$SRC/tests/js
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
command -v node >/dev/null 2>&1 || { echo "SKIP: node is not installed"; exit 77; }
if [ ! -x "$JS/node_modules/.bin/redocly" ] || [ ! -x "$JS/node_modules/.bin/openapi-typescript" ]; then
	npm ci --prefix "$JS" >/dev/null 2>&1 || { echo "FAIL: npm ci --prefix $JS"; exit 1; }
fi
fail=0
if ! "$JS/node_modules/.bin/redocly" lint --extends recommended --format stylish "$SRC/docs/api.yaml" >"$T/lint" 2>&1; then
	echo "FAIL: redocly lint --extends recommended docs/api.yaml"
	grep -E ' error ' "$T/lint" | head -20
	fail=1
fi
warn=$(grep -E ' warning ' "$T/lint" | grep -v 'info-license' | head -20)
[ -z "$warn" ] || { echo "FAIL: redocly warnings:"; echo "$warn"; fail=1; }
if ! "$JS/node_modules/.bin/openapi-typescript" "$SRC/docs/api.yaml" -o "$T/api.d.ts" >"$T/gen" 2>&1; then
	echo "FAIL: openapi-typescript docs/api.yaml"
	tail -5 "$T/gen"
	fail=1
else
	for p in $(grep -o 'X(RT_[A-Z_]*, "[^"]*"' "$SRC/src/http/http_routes.h" | cut -d'"' -f2 | grep -v '^other$'); do
		grep -qF "\"$p\": {" "$T/api.d.ts" || { echo "FAIL: the generated types have no path $p"; fail=1; }
	done
fi
[ "$fail" = 0 ] && echo "api tools: redocly lint and openapi-typescript pass"
exit "$fail"
