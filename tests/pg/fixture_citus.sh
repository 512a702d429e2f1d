#!/usr/bin/env bash
# The Citus cluster of the tests (a CTest fixture, docs/testing.md "Shared
# servers"): a coordinator and two workers, each a PostgreSQL 15 cluster
# made by initdb in a temp dir outside the build tree, with
# shared_preload_libraries = 'citus'. Citus is not packaged in Debian: when
# Debian's PostgreSQL has no citus.so, `start` builds and installs it with
# ../shared/deps/citus/build.sh (once per machine, about a minute; a lock
# keeps two runs from building at once; SLUICE_CITUS_BUILD names another
# script). Without that script, or when the build fails, the fixture says
# so and every test that needs it is skipped (an installable skip: a
# failure under CI=true).
#
# The nodes talk to each other over TCP on 127.0.0.1 (Citus's node names
# are host and port), on three free ports found at start; sluice and psql
# reach them on a unix socket in the fixture's own directory. Each test
# makes its own database on every node (tests/pg/citus_lib.sh,
# citus_newdb). fsync is off (a machine crash is not under test; commits
# stay synchronous, so an immediate restart of a node keeps every commit).
# max_prepared_transactions is set: Citus commits a transaction that wrote
# to several nodes by two-phase commit. Run as root, the servers run as the
# `postgres` user.
# Usage: fixture_citus.sh start|stop SLUICE SOURCE_DIR (SLUICE is not run: "-" will do)
set -u
STEP=$1
S=$2
SRC=$3
. "$SRC/tests/lib/harness.sh"

NAME=citus
BIN=${SLUICE_PG_BIN:-/usr/lib/postgresql/15/bin}
BUILD=${SLUICE_CITUS_BUILD:-$SRC/../shared/deps/citus/build.sh}
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# three consecutive free TCP ports on 127.0.0.1, the first printed
free_ports() {
	python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randrange(20000, 60000)
    try:
        for q in (p, p + 1, p + 2):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
    except OSError:
        continue
    print(p); break
PY
}

# build Citus when it is not installed
install_citus() {
	local libdir
	libdir=$("$BIN/pg_config" --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)
	[ -f "$libdir/citus.so" ] && return 0
	[ -f "$BUILD" ] || fixture_skipped $NAME "Citus is not installed ($libdir/citus.so) and its build script $BUILD is missing (../shared/deps/citus)" installable
	echo "building Citus with $BUILD (once per machine)"
	(
		flock 9
		PG_CONFIG=$BIN/pg_config bash "$BUILD"
	) 9>/tmp/sluice-citus-build.lock >"$SLUICE_FIXTURES/citus-build.log" 2>&1 ||
		fixture_skipped $NAME "building Citus failed: $(tail -3 "$SLUICE_FIXTURES/citus-build.log" | tr '\n' ' ')" installable
	[ -f "$libdir/citus.so" ] || fixture_skipped $NAME "the Citus build installed no $libdir/citus.so" installable
}

# node DIR PORT: initdb and start one node
node() {
	local d=$1 p=$2
	as_pg "$BIN/initdb" -D "$d" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$d.initdb.log" 2>&1 ||
		{ bad "initdb $d failed: $(tail -5 "$d.initdb.log")"; return 1; }
	cat >>"$d/postgresql.conf" <<CONF
shared_preload_libraries = 'citus'
port = $p
listen_addresses = '127.0.0.1'
unix_socket_directories = '$(dirname "$d")/sock'
max_prepared_transactions = 100
max_connections = 100
# Citus runs a maintenance daemon per database, and every test makes some
max_worker_processes = 64
fsync = off
full_page_writes = off
citus.recover_2pc_interval = '2s'
CONF
	: >"$d.log"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$d.log"
	# detached from CTest's pipes: no fd 8 (the harness's stderr), no stdin
	as_pg "$BIN/pg_ctl" -D "$d" -l "$d.log" -w -t 60 start >/dev/null 2>&1 </dev/null 8>&- ||
		{ echo "node $d (port $p) did not start: $(tail -5 "$d.log")"; return 1; }
}

start() {
	[ -x "$BIN/initdb" ] && [ -x "$BIN/pg_ctl" ] ||
		fixture_skipped $NAME "PostgreSQL 15 server binaries are not installed ($BIN; Debian package postgresql-15)" installable
	command -v psql >/dev/null || fixture_skipped $NAME "psql is not installed (postgresql-client-15)" installable
	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		fixture_skipped $NAME "running as root without a postgres user to run the servers as" installable
	fi
	mkdir -p "$SLUICE_FIXTURES"
	install_citus
	local dir p try
	for try in 1 2 3; do
		dir=$(mktemp -d /tmp/sluice-citus.XXXXXX) || { bad "mktemp"; exit 1; }
		mkdir -p "$dir/sock"
		[ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
		p=$(free_ports)
		# a port taken between the probe and the start: another triple
		if node "$dir/c" "$p" && node "$dir/w1" $((p + 1)) && node "$dir/w2" $((p + 2)); then
			break
		fi
		for n in c w1 w2; do as_pg "$BIN/pg_ctl" -D "$dir/$n" -m immediate -w stop >/dev/null 2>&1; done
		rm -rf "$dir"
		dir=
	done
	[ -n "$dir" ] || { bad "the Citus cluster did not start"; exit 1; }
	local pid
	pid=$(head -1 "$dir/c/postmaster.pid")
	fixture_started $NAME "$pid" "$dir/c.log" CITUS_HOST="$dir/sock" CITUS_PORT="$p" \
		CITUS_WORKER_PORTS="$((p + 1)) $((p + 2))" CITUS_DIR="$dir" PG_BIN="$BIN"
	echo "Citus $(psql -h "$dir/sock" -p "$p" -U postgres -d postgres -Atqc "SELECT default_version FROM pg_available_extensions WHERE name = 'citus'") cluster in $dir: coordinator on port $p, workers on $((p + 1)) and $((p + 2))"
	finish fixture_citus_start
}

stop() {
	local f dir
	f=$(fixture_file $NAME)
	[ -e "$f" ] || exit 0
	dir=$(. "$f"; echo "${CITUS_DIR:-}")
	if [ -n "$dir" ]; then
		for n in c w1 w2; do
			[ -d "$dir/$n" ] && as_pg "$BIN/pg_ctl" -D "$dir/$n" -m fast -w stop >/dev/null 2>&1
		done
	fi
	fixture_stop $NAME
	[ -n "$dir" ] && case "$dir" in /tmp/sluice-citus.*) rm -rf "$dir" ;; esac
	finish fixture_citus_stop
}

case "$STEP" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop SLUICE SOURCE_DIR" >&2; exit 2 ;;
esac
