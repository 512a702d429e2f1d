#!/usr/bin/env bash
# A schema with `distribution:` (a Citus distributed table) loaded into
# plain PostgreSQL, the shared server of the `postgres` fixture: the job
# fails with CONFIG saying Citus is needed, and no table is made (the check
# comes before CREATE TABLE, in its transaction); the same schema without
# the key loads normally.
# Usage: test_pg_distribution.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
NS=$(fixture_namespace)
DB=${NS}_d
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
psql -d postgres -qAtc "CREATE DATABASE $DB" >/dev/null || bad "CREATE DATABASE $DB"
sed 's/^key: \[reference\]/key: [reference]\ndistribution: {column: reference, shard_count: 8}/' \
	"$SRC/examples/cdr.yaml" >"$T/dist.yaml"
sl gen cdr --rows 2000 --seed 5 -o "$T/in.csv" >/dev/null
check "gen" "$?" 0
sl ingest "$T/in.csv" --schema "$T/dist.yaml" --db "postgresql:///$DB" --json >"$T/d.json"
check "distribution on plain PostgreSQL: the job fails" "$(jget "$T/d.json" "d['status']")" Failed
check "distribution on plain PostgreSQL: CONFIG" "$(jget "$T/d.json" "d['error']['code']")" CONFIG
jget "$T/d.json" "d['error']['message']" | grep -q "needs a Citus coordinator, and this database has no citus extension" &&
	ok || bad "the message: $(jget "$T/d.json" "d['error']['message']")"
check "no table made" "$(psql -d "$DB" -qAtc "SELECT to_regclass('call_detail_records') IS NULL")" t
sl ingest "$T/in.csv" --schema "$SRC/examples/cdr.yaml" --db "postgresql:///$DB" --json >"$T/p.json"
check "without distribution: loaded" "$(jget "$T/p.json" "d['status']")" Succeeded
finish pg_distribution
