#!/usr/bin/env bash
# The shared PostgreSQL server of the tests (a CTest fixture, docs/testing.md
# "Shared servers"): `start` makes a new cluster with Debian's postgresql-15
# (initdb in a temp dir outside the build tree, trust authentication, UTF-8,
# the C locale), starts it on a unix socket in its own directory (no TCP
# listener, so no port can clash with another run or another helper's
# server) and writes PGHOST, PGPORT, PGUSER for the tests; `stop` shuts it
# down fast and removes the cluster. Run as root, the server runs as the
# `postgres` user (PostgreSQL refuses to run as root): the directory is
# chowned to it and every server command goes through `runuser`.
# fsync is off: only a crash of the machine could lose what the OS holds,
# and that is not under test; a crash of the server (pg_ctl's immediate
# mode, tests/pg/test_pg_restart.sh) keeps every commit, because commits
# stay synchronous (synchronous_commit=off would lose the last ones).
# Usage: fixture_postgres.sh start|stop SLUICE SOURCE_DIR (SLUICE is not run: "-" will do)
set -u
STEP=$1
S=$2
SRC=$3
. "$SRC/tests/lib/harness.sh"

NAME=postgres
BIN=${SLUICE_PG_BIN:-/usr/lib/postgresql/15/bin}
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start() {
	[ -x "$BIN/initdb" ] && [ -x "$BIN/postgres" ] && [ -x "$BIN/pg_ctl" ] ||
		fixture_skipped $NAME "PostgreSQL 15 server binaries are not installed ($BIN; Debian package postgresql-15)" installable
	command -v psql >/dev/null || fixture_skipped $NAME "psql is not installed (postgresql-client-15)" installable
	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		fixture_skipped $NAME "running as root without a postgres user to run the server as" installable
	fi
	local dir
	dir=$(mktemp -d /tmp/sluice-pg.XXXXXX) || { bad "mktemp"; exit 1; }
	mkdir -p "$dir/data" "$dir/sock"
	[ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
	chmod 700 "$dir/data"
	as_pg "$BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
		{ bad "initdb failed: $(tail -5 "$dir/initdb.log")"; exit 1; }
	# the log is kept outside $T (which goes when this script exits)
	local log=$SLUICE_FIXTURES/$NAME.log
	mkdir -p "$SLUICE_FIXTURES"
	: >"$log"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$log"
	setsid bash -c 'if [ "$(id -u)" -eq 0 ]; then exec runuser -u postgres -- "$@"; else exec "$@"; fi' _ \
		"$BIN/postgres" -D "$dir/data" -k "$dir/sock" -p 5432 -c listen_addresses= \
		-c fsync=off -c full_page_writes=off -c max_connections=${SLUICE_PG_MAX_CONNECTIONS:-60} \
		>"$log" 2>&1 </dev/null 8>&- &
	# the server is ready when it accepts a query on its socket
	wait_for "PostgreSQL to accept connections" 1500 \
		psql -h "$dir/sock" -p 5432 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1 ||
		{ echo "server log:"; tail -20 "$log"; exit 1; }
	local pid
	pid=$(head -1 "$dir/data/postmaster.pid")
	fixture_started $NAME "$pid" "$log" PGHOST="$dir/sock" PGPORT=5432 PGUSER=postgres \
		PG_FIXTURE_DIR="$dir" PG_BIN="$BIN"
	echo "PostgreSQL $(psql -h "$dir/sock" -U postgres -d postgres -Atqc 'SHOW server_version') on $dir/sock, pid $pid"
	finish fixture_postgres_start
}

stop() {
	local f dir
	f=$(fixture_file $NAME)
	[ -e "$f" ] || exit 0
	dir=$(. "$f"; echo "${PG_FIXTURE_DIR:-}")
	# a fast shutdown ends the tests' sessions (a smart one, SIGTERM's, would
	# wait for them); fixture_stop then finds the server gone and scans its log
	[ -n "$dir" ] && [ -d "$dir/data" ] && as_pg "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
	fixture_stop $NAME
	[ -n "$dir" ] && case "$dir" in /tmp/sluice-pg.*) rm -rf "$dir" ;; esac
	finish fixture_postgres_stop
}

case "$STEP" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop SLUICE SOURCE_DIR" >&2; exit 2 ;;
esac
