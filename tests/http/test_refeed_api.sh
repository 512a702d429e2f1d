#!/usr/bin/env bash
# POST /v1/jobs/{id}/refeed against the real server (docs/serve.md,
# "Refeed"): a job's rejected rows loaded again through a fixed schema, sent
# in the body or named as a dataset, as a new job the runners run; the
# first job's rejects_open in its JSON; keys and scopes as for the other job
# routes (admin); the refusals (no open rows, unknown job or dataset, a
# schema for another table, a body that is not YAML or too large). The bad
# rows are made here (ISO dates for VAL_TYPE, the currency XXX for
# VAL_ENUM), so the counts come from the script that made them.
# Usage: test_refeed_api.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
export SLUICE_API_KEYS="r-0123456789abcdef:read,w-0123456789abcdef:read+write,a-0123456789abcdef:read+write+admin"
KR=(-H 'Authorization: Bearer r-0123456789abcdef')
KW=(-H 'Authorization: Bearer w-0123456789abcdef')
KA=(-H 'Authorization: Bearer a-0123456789abcdef')
mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
sed -e "s|    format: '%d/%m/%Y'|    format: ['%d/%m/%Y', '%Y-%m-%d']|" -e 's/^name: cdr/name: cdr_fixed/' \
	"$SRC/examples/cdr.yaml" >"$T/fixed_ds.yaml"
sed -e 's/^name: cdr_fixed/name: cdr_fixed/' -e 's|enum: \[GBP, EUR, USD\]|enum: [GBP, EUR, USD, XXX]|' "$T/fixed_ds.yaml" >"$T/schemas/cdr_fixed2.yaml"
sed -i 's/^name: cdr_fixed$/name: cdr_fixed2/' "$T/schemas/cdr_fixed2.yaml"
sed "s|    format: '%d/%m/%Y'|    format: ['%d/%m/%Y', '%Y-%m-%d']|" "$SRC/examples/cdr.yaml" >"$T/fixed.yaml"
sed 's/^table: .*/table: elsewhere/' "$T/fixed.yaml" >"$T/other.yaml"
check "three schemas differ as meant" "$(grep -c "'%Y-%m-%d'" "$T/fixed.yaml" "$T/schemas/cdr_fixed2.yaml" | grep -c ':1')" 2
check "cdr_fixed2 allows XXX and is its own dataset" "$(grep -c -e 'USD, XXX' -e '^name: cdr_fixed2$' "$T/schemas/cdr_fixed2.yaml")" 2

sl gen cdr --rows 1200 --seed 3 -o "$T/gen.csv"
check "gen: exit" "$?" 0
python3 - "$T/gen.csv" "$T/in.csv" <<'PY' >"$T/counts"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
iso = xxx = 0
for i, r in enumerate(rows[1:], start=1):
    if i % 7 == 0:
        d, m, y = r[2].split("/")
        r[2] = "%s-%s-%s" % (y, m, d)
        iso += 1
    elif i % 31 == 0:
        r[7] = "XXX"
        xxx += 1
with open(sys.argv[2], "w", newline="") as f:
    csv.writer(f, lineterminator="\n").writerows(rows)
print(iso, xxx)
PY
read -r NISO NXXX <"$T/counts"
# cdr.yaml fails a job with more than 10 % bad rows: 1/7 + 1/31 is more
sed -i 's/max_error_ratio: 0.10/max_error_ratio: 0.5/' "$T/schemas/cdr.yaml"

serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M || { finish; exit 1; }
check "upload: 202" "$(code POST "$B/v1/datasets/cdr/uploads" "${KW[@]}" --data-binary @"$T/in.csv")" 202
J=$(jq_ "d['job_id']" <"$T/body")
check "the upload's job: PartiallySucceeded" "$(wait_final "$J" "${KR[@]}")" PartiallySucceeded
code GET "$B/v1/jobs/$J" "${KR[@]}" >/dev/null
check "its rejects: the ISO dates and the XXX currencies, all open" \
	"$(jq_ "(sorted(d['rejects_by_code'].items()), d['rejects_open'], d['rejects_resolved'], d['refeed_of'])" <"$T/body")" \
	"([('VAL_ENUM', $NXXX), ('VAL_TYPE', $NISO)], $((NISO + NXXX)), 0, None)"

# keys and scopes: admin, as retry, cancel and rollback
check "refeed without a key: 401" "$(code POST "$B/v1/jobs/$J/refeed")" 401
check "refeed with a read key: 403" "$(code POST "$B/v1/jobs/$J/refeed" "${KR[@]}")" 403
check "refeed with a write key: 403" "$(code POST "$B/v1/jobs/$J/refeed" "${KW[@]}")" 403
check "GET on the refeed route: 405" "$(code GET "$B/v1/jobs/$J/refeed" "${KA[@]}")" 405

# refused before anything is taken
check "unknown job: 404" "$(code POST "$B/v1/jobs/jnosuchjob/refeed" "${KA[@]}")" 404
check "unknown dataset: 404" "$(code POST "$B/v1/jobs/$J/refeed?dataset=nope" "${KA[@]}")" 404
check "a body that is not YAML: 415" "$(code POST "$B/v1/jobs/$J/refeed" "${KA[@]}" -H 'Content-Type: text/csv' --data-binary @"$T/fixed.yaml")" 415
check "a schema that does not parse: 400 CONFIG" \
	"$(code POST "$B/v1/jobs/$J/refeed" "${KA[@]}" -H 'Content-Type: application/yaml' --data-binary 'name: [oops'; jq_ "' ' + d['error']['code']" <"$T/body")" "400 CONFIG"
check "a schema of another table: 400 CONFIG" \
	"$(code POST "$B/v1/jobs/$J/refeed" "${KA[@]}" -H 'Content-Type: application/yaml' --data-binary @"$T/other.yaml"; jq_ "' ' + d['error']['code']" <"$T/body")" "400 CONFIG"
head -c 1100000 /dev/zero | tr '\0' '#' >"$T/big.yaml"
check "a schema over 1 MiB: 413" "$(code POST "$B/v1/jobs/$J/refeed" "${KA[@]}" -H 'Content-Type: application/yaml' --data-binary @"$T/big.yaml")" 413
check "a body and ?dataset= at once: 400" "$(code POST "$B/v1/jobs/$J/refeed?dataset=cdr_fixed2" "${KA[@]}" -H 'Content-Type: application/yaml' --data-binary @"$T/fixed.yaml")" 400
code GET "$B/v1/jobs/$J" "${KR[@]}" >/dev/null
check "the refusals left every row open" "$(jq_ "d['rejects_open']" <"$T/body")" $((NISO + NXXX))

# the fixed schema in the body: the ISO dates load
check "refeed, schema in the body: 202" "$(code POST "$B/v1/jobs/$J/refeed" "${KA[@]}" -H 'Content-Type: application/yaml' --data-binary @"$T/fixed.yaml")" 202
R1=$(jq_ "d['job_id']" <"$T/body")
check "the answer's Location is the new job" "$(grep -i '^location:' "$T/hdr" | tr -d '\r' | awk '{print $2}')" "/v1/jobs/$R1"
check "the refeed job: PartiallySucceeded (the XXX rows again)" "$(wait_final "$R1" "${KR[@]}")" PartiallySucceeded
code GET "$B/v1/jobs/$R1" "${KR[@]}" >/dev/null
check "the refeed job: linked, read, loaded" "$(jq_ "(d['refeed_of'], d['rows_read'], d['rows_loaded'], d['rejects_by_code'])" <"$T/body")" \
	"('$J', $((NISO + NXXX)), $NISO, {'VAL_ENUM': $NXXX})"
code GET "$B/v1/jobs/$J" "${KR[@]}" >/dev/null
check "the first job: the ISO rows resolved" "$(jq_ "(d['rejects_open'], d['rejects_resolved'])" <"$T/body")" "($NXXX, $NISO)"
check "errors?open=true: only the open rows" "$(code GET "$B/v1/jobs/$J/errors?open=true&format=jsonl" "${KR[@]}"; echo " $(grep -c '"code":"VAL_ENUM"' "$T/body") $(grep -c . "$T/body")")" "200 $NXXX $NXXX"
check "errors?open=false: every row" "$(code GET "$B/v1/jobs/$J/errors?open=false&format=jsonl" "${KR[@]}"; echo " $(grep -c . "$T/body")")" "200 $((NISO + NXXX))"
check "errors?open=maybe: 400" "$(code GET "$B/v1/jobs/$J/errors?open=maybe" "${KR[@]}")" 400
check "its refeed's schema is kept in the data dir" "$(ls "$T/data/refeeds" | grep -c "^$R1.yaml$")" 1

# a dataset's schema, on the refeed job (a refeed of a refeed): the rest loads
check "refeed of the refeed, ?dataset=cdr_fixed2: 202" "$(code POST "$B/v1/jobs/$R1/refeed?dataset=cdr_fixed2" "${KA[@]}")" 202
R2=$(jq_ "d['job_id']" <"$T/body")
check "... Succeeded" "$(wait_final "$R2" "${KR[@]}")" Succeeded
code GET "$B/v1/jobs/$J" "${KR[@]}" >/dev/null
check "the first job: nothing open" "$(jq_ "(d['rejects_open'], d['rejects_resolved'])" <"$T/body")" "(0, $((NISO + NXXX)))"
check "no open rows left: 409 NO_OPEN_REJECTS" \
	"$(code POST "$B/v1/jobs/$J/refeed" "${KA[@]}"; jq_ "' ' + d['error']['code']" <"$T/body")" "409 NO_OPEN_REJECTS"
check "every row of the file once in the table" \
	"$(sqlite3 "$T/s.db" "SELECT count(*), count(DISTINCT reference) FROM call_detail_records")" "1200|1200"
check "the jobs list shows the links" \
	"$(code GET "$B/v1/jobs" "${KR[@]}" >/dev/null; jq_ "sorted((j['job_id'], j['refeed_of']) for j in d['jobs'])" <"$T/body")" \
	"$(python3 -c "print(sorted([('$J', None), ('$R1', '$J'), ('$R2', '$R1')]))")"
check "a refeed is logged with the new job" "$(server_log | grep -c "refeed of job $J as job $R1")" 1
stop_server
finish
