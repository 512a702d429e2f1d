#!/usr/bin/env bash
# COPY's two formats give the same table: sluice writes COPY binary where
# the table's columns are its own types (docs/scaling.md "COPY text or
# binary"), and COPY text, which the server converts itself, when
# SLUICE_PG_COPY=text or a column is another type (integer for bigint,
# varchar(n) for text). The same file with every type and values at their
# edges (negative, fraction-only and long decimals, 7 fraction digits of a
# second, the first and last days, NaN and infinities, tabs, newlines and
# backslashes in text) is loaded three ways, keyed and unkeyed: binary,
# text, and binary asked for on a table with an integer column (so text);
# the tables read back by psql are equal value by value, and so are the
# rejects; the server's log shows which format each COPY into the table had.
# Usage: test_pg_copy.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
NS=$(fixture_namespace)
q() { psql -d "$1" -qAtc "$2"; }

cat >"$T/in.csv" <<'CSV'
id,f,d,big,b,dt,tm,ts,tz,s
1,0.1,1234.5,123456789012345678901234.5678,true,2025-02-28,12:34:56.5,2025-01-01T03:30:00,2025-01-01T03:30:00+0200,plain
2,-1e300,-0.005,-1.0000,false,0001-01-01,00:00:00,0001-01-01T00:00:00,1970-01-01T00:00:00+0000,"tab	here"
3,NaN,0.001,0.0001,true,9999-12-31,23:59:59.999999,9999-12-31T23:59:59.999999,2000-01-01T00:00:00-0130,"new
line"
4,inf,99999999.999,99999999999999999999999999.9999,false,2000-01-01,12:00:00.1234565,2000-02-29T12:00:00.0000005,2024-02-29T23:59:59+0000,back\slash
5,-inf,0,0,true,1999-12-31,01:02:03.000001,1999-12-31T23:59:59.9999994,1999-12-31T23:59:59-0000,
6,5e-324,-99999999.999,-0.0001,false,2024-02-29,23:59:59,2024-02-29T00:00:00.5,2024-03-01T00:00:00+1400,ünïcødé
7,abc,1.2.3,x,maybe,2024-02-30,25:00:00,2024-13-01T00:00:00,nope,bad row
1,1,1,1,true,2025-01-01,00:00:00,2025-01-01T00:00:00,2025-01-01T00:00:00+0000,dup
10000,1,10000,10000.0001,true,2025-01-01,00:00:00,2025-01-01T00:00:00,2025-01-01T00:00:00+0000,big
CSV
for k in keyed nokey; do
	{
		echo "name: t"
		echo "table: t"
		[ $k = keyed ] && echo "key: [id]"
		cat <<'YAML'
columns:
  - {name: id, type: integer, required: true}
  - {name: f, type: float, allow_special: true}
  - {name: d, type: decimal, precision: 11, scale: 3}
  - {name: big, type: decimal, precision: 30, scale: 4}
  - {name: b, type: boolean}
  - {name: dt, type: date}
  - {name: tm, type: time}
  - {name: ts, type: timestamp}
  - {name: tz, type: timestamp, format: '%Y-%m-%dT%H:%M:%S%z'}
  - {name: s, type: text}
YAML
	} >"$T/$k.yaml"
	for way in binary text integer; do
		DB=${NS}_${k}_$way
		psql -d postgres -qAtc "CREATE DATABASE $DB" >/dev/null || bad "CREATE DATABASE $DB"
		if [ $way = integer ]; then
			q "$DB" "CREATE TABLE t (id integer $([ $k = keyed ] && echo PRIMARY KEY), f double precision,
				d numeric(11,3), big numeric(30,4), b boolean, dt date, tm time, ts timestamp,
				tz timestamptz, s text, _sluice_job text NOT NULL)" >/dev/null || bad "create $DB"
		fi
		# this database's statements go to the server's log (only its own:
		# the other tests' databases log none), to see which COPY ran
		q "$DB" "ALTER DATABASE $DB SET log_statement = 'all'" >/dev/null
		from=$(($(stat -c %s "$FIXTURE_LOG") + 1))
		SLUICE_PG_COPY=$([ $way = text ] && echo text || echo binary) \
			sl ingest "$T/in.csv" --schema "$T/$k.yaml" --db "postgresql:///$DB" --json >"$T/$k.$way.json"
		check "$k, $way: loaded with rejects" "$?" 3
		copies=$(tail -c +$from "$FIXTURE_LOG" | grep -c 'COPY "t".*FROM STDIN')
		bins=$(tail -c +$from "$FIXTURE_LOG" | grep -c 'COPY "t".*FROM STDIN (FORMAT binary)')
		[ "$copies" -gt 0 ] && ok || bad "$k, $way: no COPY into the table in the server's log"
		check "$k, $way: COPY's format" "$([ "$bins" = 0 ] && echo text || echo binary)" \
			"$([ $way = binary ] && echo binary || echo text)"
		q "$DB" "SET TimeZone = 'UTC'; SET extra_float_digits = 3;
			SELECT id, f, d, big, b, dt, tm, ts, tz, s FROM t ORDER BY id, s" >"$T/$k.$way.rows"
		sl errors "$(python3 -c "import json; print(json.load(open('$T/$k.$way.json'))['job_id'])")" \
			--db "postgresql:///$DB" --format jsonl | python3 -c "
import json, sys
for l in sys.stdin:
    r = json.loads(l); print(r['record'], r['code'])" >"$T/$k.$way.rej"
	done
	rows=$(q "${NS}_${k}_binary" "SELECT count(*) FROM t")
	check "$k: every good row loaded" "$rows" "$([ $k = keyed ] && echo 7 || echo 8)"
	for way in text integer; do
		diff "$T/$k.binary.rows" "$T/$k.$way.rows" >"$T/diff" && ok ||
			bad "$k: binary and $way give different tables: $(cat "$T/diff")"
		diff "$T/$k.binary.rej" "$T/$k.$way.rej" >"$T/diff" && ok ||
			bad "$k: binary and $way give different rejects: $(cat "$T/diff")"
	done
	grep -q '^3|NaN|0.001|0.0001|t|9999-12-31|23:59:59.999999|9999-12-31 23:59:59.999999|2000-01-01 01:30:00+00|new' "$T/$k.binary.rows" &&
		ok || bad "$k: row 3 as written: $(grep '^3|' "$T/$k.binary.rows")"
done
finish pg_copy
