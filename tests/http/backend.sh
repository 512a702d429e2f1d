# Sourced by the service's tests that run on either job store (after
# tests/http/lib.sh): BACKEND (sqlite, or pg with the `postgres` fixture)
# picks it. newdb NAME: the --db value of a new, empty store; q DB SQL: a
# query through the backend's own shell (sqlite3, psql), DB being that
# --db value; J_JOBS, J_REJ: the job store's tables of jobs and rejects.
BACKEND=${BACKEND:-sqlite}
if [ "$BACKEND" = pg ]; then
	use_fixture postgres
	export PGHOST PGPORT PGUSER
	NS=$(fixture_namespace)
	newdb() { psql -d postgres -qAtc "CREATE DATABASE ${NS}_$1" >/dev/null || bad "CREATE DATABASE ${NS}_$1"; echo "postgresql:///${NS}_$1"; }
	q() { psql -d "${1#postgresql:///}" -qAtc "$2"; }
	J_JOBS=sluice.jobs J_REJ=sluice.rejects
	STAGES="SELECT count(*) FROM pg_tables WHERE tablename LIKE '_sluice_stage%' OR tablename LIKE '_sluice_shadow%'"
else
	newdb() { echo "$T/$1.db"; }
	q() { sqlite3 -batch "$1" "$2"; }
	J_JOBS=sluice_jobs J_REJ=sluice_rejects
	STAGES="SELECT count(*) FROM sqlite_master WHERE name LIKE '_sluice_stage%' OR name LIKE '_sluice_shadow%'"
fi
