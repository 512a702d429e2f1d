#!/usr/bin/env bash
# The records API on the value forms of issue 9: filters are converted as
# the loader converts a field, so a float filter written another way
# (`1e-3`, `0.0010`) finds the stored double, a REAL decimal is found by
# `1.5e0` or `1.500` and returned as its canonical text, a boolean by the
# column's own spelling, a date by any of its formats; floats come back as
# the shortest JSON number that reads as the same double.
# Usage: test_records_types.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
DB=$T/s.db
mkdir -p "$T/schemas"
cat >"$T/schemas/m.yaml" <<'EOF'
name: m
table: m_rows
key: id
columns:
  - {name: id, type: integer, required: true}
  - {name: ratio, type: float, index: true}
  - {name: amount, type: decimal, precision: 10, scale: 2, index: true}
  - {name: wide, type: decimal, precision: 20, scale: 19, index: true}
  - {name: flag, type: boolean, true_values: [Yes], false_values: [No], index: true}
  - {name: day, type: date, format: ['%Y-%m-%d', '%d %B %Y'], index: true}
EOF
cat >"$T/m.csv" <<'EOF'
id,ratio,amount,wide,flag,day
1,0.001,1.50,9.579434990882874e-4,Yes,2024-01-05
2,6.0760000000000005,1234.5,0.5,No,6 January 2024
3,-2.5E-7,1e3,1e-19,Yes,7 March 2024
EOF
serve "$T/log" --db "$DB" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --threads 2 || { finish; exit 1; }
st=$(curl -s -o "$T/up" -w '%{http_code}' --data-binary @"$T/m.csv" "$B/v1/datasets/m/uploads")
check "upload" "$st" 202
id=$(jq_ "d['job_id']" <"$T/up")
check "job" "$(wait_final "$id")" Succeeded

ids() { code GET "$B/v1/datasets/m/records?$1" && jq_ "[r['id'] for r in d['records']]" <"$T/body"; }
check "float 1e-3 finds 0.001" "$(ids 'ratio=1e-3')" "200[1]"
check "float 0.0010 finds 0.001" "$(ids 'ratio=0.0010')" "200[1]"
check "float -2.5e-7" "$(ids 'ratio=-0.00000025')" "200[3]"
check "float not a number is 400" "$(code GET "$B/v1/datasets/m/records?ratio=abc")" 400
check "decimal 1.5e0 finds 1.50" "$(ids 'amount=1.5e0')" "200[1]"
check "decimal 1000 finds 1e3" "$(ids 'amount=1000.000')" "200[3]"
check "wide decimal by exponent" "$(ids 'wide=0.0009579434990882874')" "200[1]"
check "boolean by the column's spelling" "$(ids 'flag=No')" "200[2]"
check "boolean default spelling is 400 here" "$(code GET "$B/v1/datasets/m/records?flag=false")" 400
check "date by its second format" "$(ids 'day=7%20March%202024')" "200[3]"
check "date by its first format" "$(ids 'day=2024-01-06')" "200[2]"
# JSON: floats as numbers (shortest round trip), decimals as canonical strings
code GET "$B/v1/datasets/m/records" >/dev/null
check "values as JSON" "$(python3 -c "
import json
d = json.load(open('$T/body'))
print([(r['ratio'], r['amount'], r['wide'], r['flag'], r['day']) for r in d['records']])")" \
	"[(0.001, '1.50', '0.0009579434990882874', True, '2024-01-05'), (6.0760000000000005, '1234.50', '0.5000000000000000000', False, '2024-01-06'), (-2.5e-07, '1000.00', '0.0000000000000000001', True, '2024-03-07')]"
check "float text as sent" "$(grep -o '"ratio":[^,]*' "$T/body" | tr '\n' ' ')" '"ratio":0.001 "ratio":6.0760000000000005 "ratio":-2.5e-07 '
finish
