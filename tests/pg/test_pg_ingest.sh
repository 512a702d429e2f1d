#!/usr/bin/env bash
# `sluice ingest --db postgres://...` end to end, on the shared server of the
# `postgres` fixture, each run in a database of its own: the same CDR file
# loaded into PostgreSQL and into SQLite gives the same counts and the same
# rejects (record, line, code and message), both equal to the generator's
# manifest; the PostgreSQL table read with psql holds exactly the rows the
# oracle (tests/lib/oracle.py) expects, value by value; the readers (jobs,
# status, errors) work on the URI; the same file again is loaded already.
# Then what only a server database has: a CHECK constraint the schema does
# not know (DB_CONSTRAINT rejects, the rest loads), a value too long for a
# varchar column (DB_VALUE), an existing table with a column of the wrong
# type (DB_SCHEMA, naming the column) and no server at all (DB_CONN).
# Usage: test_pg_ingest.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
NS=$(fixture_namespace)
ORACLE=$SRC/tests/lib/oracle.py
CDR=$SRC/examples/cdr.yaml

newdb() { psql -d postgres -qAtc "CREATE DATABASE $1" >/dev/null || bad "CREATE DATABASE $1"; }
q() { psql -d "$1" -qAtc "$2"; }
# the CDR table of database $1 as the sqlite3 shell's -json would give it
pg_json() {
	q "$1" "SELECT coalesce(json_agg(t ORDER BY reference), '[]') FROM (SELECT caller_id, recipient,
		to_char(call_date, 'YYYY-MM-DD') AS call_date, end_time::text AS end_time, duration, cost,
		reference, currency FROM call_detail_records ${2:+WHERE $2}) t"
}
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

sl gen cdr --rows 20000 --error-rate 0.02 --seed 7 --manifest "$T/man.tsv" -o "$T/in.csv" >/dev/null
check "gen" "$?" 0

# --- the same file into PostgreSQL and SQLite ------------------------------------
DB=${NS}_cdr
newdb "$DB"
URI="postgresql:///$DB"
sl ingest "$T/in.csv" --schema "$CDR" --db "$URI" --json >"$T/pg.json"
check "ingest into PostgreSQL: some rows rejected" "$?" 3
sl ingest "$T/in.csv" --schema "$CDR" --db "$T/a.db" --json >"$T/sq.json"
check "ingest into SQLite" "$?" 3
for f in status rows_read rows_loaded rows_rejected chunks_total rejects_by_code; do
	check "$f: PostgreSQL as SQLite" "$(jget "$T/pg.json" "d['$f']")" "$(jget "$T/sq.json" "d['$f']")"
done
check "rejects by code: the manifest's" "$(jget "$T/pg.json" "dict(sorted(d['rejects_by_code'].items()))")" \
	"$(cdr_by_code "$T/man.tsv")"
check "rows loaded: the table's count" "$(q "$DB" "SELECT count(*) FROM call_detail_records")" \
	"$(jget "$T/pg.json" "d['rows_loaded']")"
pg_json "$DB" >"$T/got.json" || bad "psql"
python3 "$ORACLE" compare "$T/in.csv" "$T/got.json" && ok || bad "the PostgreSQL table differs from the oracle"
check "every row carries its job" "$(q "$DB" "SELECT count(DISTINCT _sluice_job) || ' ' || min(_sluice_job) FROM call_detail_records")" \
	"1 $(jget "$T/pg.json" "d['job_id']")"

# the job store in the sluice schema of the same database
J=$(jget "$T/pg.json" "d['job_id']")
JS=$(jget "$T/sq.json" "d['job_id']")
check "the job's row in sluice.jobs" "$(q "$DB" "SELECT status || ' ' || rows_loaded FROM sluice.jobs WHERE id = '$J'")" \
	"PartiallySucceeded $(jget "$T/pg.json" "d['rows_loaded']")"
sl errors "$J" --db "$URI" >"$T/pg_err.csv"
check "errors on the URI" "$?" 0
sl errors "$JS" --db "$T/a.db" >"$T/sq_err.csv"
check "errors on SQLite" "$?" 0
# byte for byte, DUP_KEY messages naming the earlier record included (provenance)
cmp -s "$T/pg_err.csv" "$T/sq_err.csv" && ok || bad "rejects differ between PostgreSQL and SQLite: $(diff "$T/pg_err.csv" "$T/sq_err.csv" | head -8)"
check "rejects: the manifest's records, lines and codes" \
	"$(tail -n +2 "$T/pg_err.csv" | python3 -c "import csv,sys; [print(r[0], r[1], r[5], sep='\t') for r in csv.reader(sys.stdin)]")" \
	"$(cdr_rejects "$T/man.tsv")"
sl status "$J" --db "$URI" --json >"$T/st.json"
check "status on the URI" "$?" 0
check "status: the job's counts" "$(jget "$T/st.json" "d['rows_rejected']")" "$(jget "$T/pg.json" "d['rows_rejected']")"
sl jobs --db "$URI" --json >"$T/jobs.json"
check "jobs on the URI" "$?" 0
check "jobs: one" "$(jget "$T/jobs.json" "len(d['jobs'])")" 1

# the same file again: loaded already, nothing doubled
sl ingest "$T/in.csv" --schema "$CDR" --db "$URI" --json >"$T/again.json"
check "again: the same outcome" "$?" 3
check "again: nothing doubled" "$(q "$DB" "SELECT count(*) FROM call_detail_records")" "$(jget "$T/pg.json" "d['rows_loaded']")"

# rollback deletes the job's rows (and only them), gc its rejects, on the URI
DB5=${NS}_rollback
newdb "$DB5"
q "$DB5" "CREATE TABLE call_detail_records(caller_id text NOT NULL, recipient text, call_date date,
	end_time time, duration bigint, cost numeric(12,3), reference text PRIMARY KEY, currency text,
	_sluice_job text NOT NULL); INSERT INTO call_detail_records(caller_id, reference, _sluice_job)
	VALUES ('1', 'mine-not', 'someone-else')" >/dev/null || bad "create"
sl ingest "$T/in.csv" --schema "$CDR" --db "postgresql:///$DB5" --json >"$T/r.json"
check "load to roll back" "$?" 3
JR=$(jget "$T/r.json" "d['job_id']")
sl rollback "$JR" --db "postgresql:///$DB5" --json >"$T/rb.json"
check "rollback on the URI" "$?" 0
check "rollback: the job's rows removed" "$(jget "$T/rb.json" "d['rows_removed']")" "$(jget "$T/r.json" "d['rows_loaded']")"
check "rollback: only the job's rows" "$(q "$DB5" "SELECT string_agg(reference, ',') FROM call_detail_records")" "mine-not"
check "rollback: the job is RolledBack" "$(q "$DB5" "SELECT status FROM sluice.jobs WHERE id = '$JR'")" RolledBack
sl gc --older-than 0s --db "postgresql:///$DB5" >/dev/null
check "gc on the URI" "$?" 0
check "gc: the rolled back job's rejects gone" "$(q "$DB5" "SELECT count(*) FROM sluice.rejects WHERE job_id = '$JR'")" 0

# --- a CHECK constraint the schema does not know: DB_CONSTRAINT, the rest loads ---
DB2=${NS}_check
newdb "$DB2"
q "$DB2" "CREATE TABLE call_detail_records(caller_id text NOT NULL, recipient text, call_date date,
	end_time time, duration bigint, cost numeric(12,3) CONSTRAINT cost_below_99 CHECK (cost < 99),
	reference text PRIMARY KEY, currency text, _sluice_job text NOT NULL)" >/dev/null || bad "create"
sl ingest "$T/in.csv" --schema "$CDR" --db "postgresql:///$DB2" --json >"$T/c.json"
check "with a CHECK: some rows rejected" "$?" 3
REFUSE="r['cost'] is not None and r['cost'] >= 99"
over=$(python3 "$ORACLE" refused "$T/in.csv" --refuse "$REFUSE")
[ "$over" -gt 0 ] && ok || bad "the file has no cost of 99 or more: the check tests nothing"
check "DB_CONSTRAINT rejects: the rows with cost >= 99" "$(jget "$T/c.json" "d['rejects_by_code'].get('DB_CONSTRAINT', 0)")" "$over"
pg_json "$DB2" >"$T/got2.json"
python3 "$ORACLE" compare "$T/in.csv" "$T/got2.json" --refuse "$REFUSE" && ok ||
	bad "with a CHECK: the table differs from the oracle's (a refused row leaves its key to a later one)"
check "rows loaded: the table's count" "$(jget "$T/c.json" "d['rows_loaded']")" "$(q "$DB2" "SELECT count(*) FROM call_detail_records")"
J2=$(jget "$T/c.json" "d['job_id']")
sl errors "$J2" --db "postgresql:///$DB2" --code DB_CONSTRAINT --format jsonl >"$T/c_err.jsonl"
check "errors --code DB_CONSTRAINT" "$?" 0
check "DB_CONSTRAINT messages name the SQLSTATE and the constraint" \
	"$(grep -c 'SQLSTATE 23514, constraint cost_below_99' "$T/c_err.jsonl")" "$over"

# --- a value too long for its column: DB_VALUE ------------------------------------
DB3=${NS}_value
newdb "$DB3"
q "$DB3" "CREATE TABLE people(id bigint PRIMARY KEY, name varchar(5), _sluice_job text NOT NULL)" >/dev/null
cat >"$T/people.yaml" <<'EOF'
name: people
table: people
key: [id]
columns:
  - {name: id, type: integer, required: true}
  - {name: name, type: text}
EOF
printf 'id,name\n1,ann\n2,bartholomew\n3,cy\n' >"$T/people.csv"
sl ingest "$T/people.csv" --schema "$T/people.yaml" --db "postgresql:///$DB3" --json >"$T/v.json"
check "a long value: some rows rejected" "$?" 3
check "DB_VALUE for the long name" "$(jget "$T/v.json" "d['rejects_by_code']")" "{'DB_VALUE': 1}"
check "the others loaded" "$(q "$DB3" "SELECT string_agg(id || name, ',' ORDER BY id) FROM people")" "1ann,3cy"

# --- a table whose column does not fit: DB_SCHEMA naming it ---------------------------
DB4=${NS}_schema
newdb "$DB4"
q "$DB4" "CREATE TABLE people(id bigint PRIMARY KEY, name boolean, _sluice_job text)" >/dev/null
sl_run ingest "$T/people.csv" --schema "$T/people.yaml" --db "postgresql:///$DB4"
check "a column of the wrong type: the job fails" "$RC" 4
grep -q "DB_SCHEMA: target table people: table people: column name is boolean, but a text column needs text" "$T/out" && ok ||
	bad "DB_SCHEMA naming the column: $(cat "$T/out" "$T/err")"

# --- no server: DB_CONN ------------------------------------------------------------------
sl_run ingest "$T/people.csv" --schema "$T/people.yaml" --db "postgresql:///x?host=$T/nowhere"
check "no server: the job fails" "$RC" 4
grep -q "cannot connect to PostgreSQL" "$T/err" && grep -q DB_CONN "$T/err" && ok || bad "DB_CONN: $(cat "$T/err")"
finish pg_ingest
