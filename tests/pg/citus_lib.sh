# What the Citus tests and bench/citus.sh share (sourced after the fixture's
# variables, tests/pg/fixture_citus.sh: CITUS_HOST, CITUS_PORT,
# CITUS_WORKER_PORTS, CITUS_DIR, PG_BIN). Sets PGHOST, PGPORT and PGUSER to
# the coordinator's; Citus's notices ("Citus partially supports CREATE
# DATABASE") are not printed.
export PGHOST=$CITUS_HOST PGPORT=$CITUS_PORT PGUSER=postgres PGOPTIONS="-c client_min_messages=warning"
citus_as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# citus_newdb DB: a database of the caller's own on every node, with the
# citus extension, and the coordinator's metadata naming itself and the two
# workers (Citus keeps its nodes per database)
citus_newdb() {
	local db=$1 p
	for p in $CITUS_PORT $CITUS_WORKER_PORTS; do
		psql -p "$p" -d postgres -qc "CREATE DATABASE $db" >/dev/null &&
			psql -p "$p" -d "$db" -qc "CREATE EXTENSION citus" >/dev/null || return 1
	done
	psql -d "$db" -qAt -c "SELECT citus_set_coordinator_host('127.0.0.1', $CITUS_PORT)" >/dev/null || return 1
	for p in $CITUS_WORKER_PORTS; do
		psql -d "$db" -qAtc "SELECT citus_add_node('127.0.0.1', $p)" >/dev/null || return 1
	done
}

# citus_restart_worker N MODE: restart worker node N (1 or 2), pg_ctl's
# shutdown MODE (fast, immediate), waiting until it accepts connections
# (detached from the caller's fd 8, as the fixture starts it)
citus_restart_worker() {
	citus_as_pg "$PG_BIN/pg_ctl" -D "$CITUS_DIR/w$1" -m "$2" -w -t 60 -l "$CITUS_DIR/w$1.log" restart >/dev/null 2>&1 </dev/null 8>&-
}

# citus_rows_per_node DB TABLE: "PORT ROWS" per worker node, by port
citus_rows_per_node() {
	psql -d "$1" -qAt -F ' ' -c "SELECT s.nodeport, sum(r.result::bigint) FROM run_command_on_shards('$2',
		'SELECT count(*) FROM %s') r JOIN citus_shards s USING (shardid) GROUP BY 1 ORDER BY 1"
}
