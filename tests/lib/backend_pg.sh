# The PostgreSQL side of the engine tests written once and run per backend
# (tests/engine/*_body.sh; tests/lib/backend_sqlite.sh is the SQLite side,
# whose list of functions this one gives too). Sourced after harness.sh:
# the shared server of the `postgres` fixture, one database a name (in this
# test's namespace), read with psql. A refeed's input file goes into the
# current directory (a URI is no place for a file): this file makes the
# test one of its own (SRC made absolute first).
use_fixture postgres
export PGHOST PGPORT PGUSER
BACKEND=postgres
META=sluice.
PG_NS=$(fixture_namespace)
SRC=$(cd "$SRC" && pwd)
ORACLE=$SRC/tests/lib/oracle.py
mkdir -p "$T/cwd" && cd "$T/cwd" || exit 1
db() { echo "postgresql:///${PG_NS}_$1"; }
db_new() { psql -d postgres -qAtc "CREATE DATABASE ${PG_NS}_$1" >/dev/null || bad "CREATE DATABASE ${PG_NS}_$1"; }
db_copy() { psql -d postgres -qAtc "CREATE DATABASE ${PG_NS}_$1 TEMPLATE ${PG_NS}_$2" >/dev/null || bad "copy $2 into $1"; }
q() { psql -d "${PG_NS}_$1" -qAtc "$2"; }
# the CDR table as the sqlite3 shell's -json gives it
db_json() {
	q "$1" "SELECT coalesce(json_agg(t ORDER BY reference), '[]') FROM (SELECT caller_id, recipient,
		to_char(call_date, 'YYYY-MM-DD') AS call_date, end_time::text AS end_time, duration, cost,
		reference, currency FROM call_detail_records) t"
}
STAGED_WHERE="schemaname = 'public' AND tablename LIKE '\\_sluice\\_%'"
staged() { q "$1" "SELECT count(*) FROM pg_tables WHERE $STAGED_WHERE"; }
aside() { q "$1" "SELECT count(*) FROM $(q "$1" "SELECT quote_ident(tablename) FROM pg_tables WHERE $STAGED_WHERE")"; }
refeed_dir() { echo .; }
