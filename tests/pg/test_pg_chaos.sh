#!/usr/bin/env bash
# Chaos on a PostgreSQL job store (issue 12, Tests): three `sluice worker`
# processes on two "machines" plus the planning `sluice ingest`, all on one
# job in the shared server of the `postgres` fixture; one of the four,
# chosen at random, is killed with -9 at least 20 times (each kill after a
# new chunk committed, polled in sluice.chunks, never by a timer) and
# started again, until the job is finished. So that the job cannot end
# before the 20 kills, whatever the machine's speed, chunk HOLD_SEQ is held
# open: every process runs with SLUICE_TEST_PAUSE=HOLD_SEQ:DIR, so whoever
# claims that chunk waits before running it (its lease renewed) until the
# kills are done, and a killed holder's successor waits too; once no chunk
# is left to claim, a round's progress is a new holder of it. Then every row is in the table
# once, every reject is listed once, and the table (with the record each row
# came from), the rejects (with their messages) and the counts (the job's,
# every chunk's) are those of a one-thread load of the same file into SQLite
# (tests/pg/state_lib.sh); every chunk ended once.
# The machines: A runs the ingest and worker a1, B the workers b1 and b2;
# each machine has its own temp dir (TMPDIR) and names, and, run as root
# with unshare(1), B has its own host name (a UTS namespace), so A cannot
# see B's processes die: a lease of a killed B worker is taken over only
# when it expires (--lease-ttl 1), as across real machines. Without
# unshare both share the host name and the test says so.
# Usage: test_pg_chaos.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
. "$SRC/tests/pg/state_lib.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
at_exit() { kill -9 $(jobs -p) 2>/dev/null; }
NS=$(fixture_namespace)
CDR=$SRC/examples/cdr.yaml
ROWS=${ROWS:-12000}
CHUNK=${CHUNK:-2k}
KILLS_WANTED=${KILLS_WANTED:-20}
q() { psql -d "$DB" -qAtc "$1" 2>/dev/null; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
committed() {
	local n
	n=$(q "SELECT count(*) FROM sluice.chunks WHERE status = 'Succeeded'")
	echo "${n:-0}"
}
finished() { q "SELECT status FROM sluice.jobs" | grep -Eq '^(Succeeded|PartiallySucceeded|Failed)$'; }

sl gen cdr --rows "$ROWS" --error-rate 0.03 --seed 17 -o "$T/in.csv" >/dev/null
check "gen" "$?" 0
sl ingest "$T/in.csv" --schema "$CDR" --db "$T/one.db" --threads 1 --chunk-size "$CHUNK" --json >"$T/one.json"
check "the one-thread load into SQLite" "$?" 3

DB=${NS}_c
psql -d postgres -qAtc "CREATE DATABASE $DB" >/dev/null || bad "CREATE DATABASE $DB"
URI="postgresql:///$DB"

# machine B's host name: a UTS namespace of its own when unshare can make one
HOST_A=$(hostname)
HOST_B=$HOST_A
printf '#!/bin/sh\nhostname sluice-machine-b && exec "$@"\n' >"$T/machine_b.sh"
chmod +x "$T/machine_b.sh"
WRAP_B=${SL_WRAP:-}
if [ "$(unshare --uts "$T/machine_b.sh" hostname 2>/dev/null)" = sluice-machine-b ]; then
	HOST_B=sluice-machine-b
	WRAP_B="unshare --uts $T/machine_b.sh ${SL_WRAP:-}"
else
	echo "note: no UTS namespace (not root, or no unshare): both machines have the host name $HOST_A"
fi
mkdir -p "$T/machine_a/tmp" "$T/machine_b/tmp" "$T/hold"
HOLD_SEQ=${HOLD_SEQ:-40}
export SLUICE_TEST_PAUSE=$HOLD_SEQ:$T/hold

: >"$T/kl.err"
declare -a pids
ROLE_NAMES=(ingest a1 b1 b2)
# The held chunk's holder is killed again and again: far more attempts
# than the default 5 (after which the leader's reaper fails a chunk with
# ATTEMPTS, tests/engine/test_leader.sh), since this test wants it loaded.
ATT=(--max-attempts 1000)
start_role() { # 0 the ingest and 1 worker a1 on machine A; 2, 3 workers b1, b2 on machine B
	case $1 in
	0) TMPDIR=$T/machine_a/tmp sl_start "$T/kl.err" ingest "$T/in.csv" --schema "$CDR" --db "$URI" \
		--chunk-size "$CHUNK" --threads 2 --lease-ttl 1 "${ATT[@]}" --quiet ;;
	1) TMPDIR=$T/machine_a/tmp sl_start "$T/kl.err" worker --db "$URI" --name a1 --lease-ttl 1 "${ATT[@]}" \
		--quiet ;;
	*) TMPDIR=$T/machine_b/tmp SL_WRAP=$WRAP_B sl_start "$T/kl.err" worker --db "$URI" \
		--name "${ROLE_NAMES[$1]}" --lease-ttl 1 "${ATT[@]}" --quiet ;;
	esac
	pids[$1]=$BG_PID
}
# the ingest plans the job first: the workers find it in the store
start_role 0
planned() { [ "$(q "SELECT count(*) FROM sluice.chunks")" -gt 0 ] 2>/dev/null; }
wait_for "the ingest to plan the job" 3000 planned
for i in 1 2 3; do start_role "$i"; done
TOTAL=$(q "SELECT count(*) FROM sluice.chunks")
[ "$TOTAL" -gt $((HOLD_SEQ + 20)) ] && ok || bad "the job has $TOTAL chunks: too few for chunk $HOLD_SEQ to be held"
# the pid of chunk HOLD_SEQ's holder (owners are "NAME HOST PID START RANDOM")
holder() { q "SELECT split_part(owner, ' ', 3) FROM sluice.chunks WHERE seq = $HOLD_SEQ AND status = 'Processing'"; }
# a round's progress: a chunk committed, or, when none is left to claim
# (the held chunk's holder may hold others: the ingest claims ahead), a
# holder waiting in the held chunk
progress() {
	local n
	n=$(committed)
	[ "$n" -gt "$prev" ] ||
		{ [ -e "$T/hold/paused" ] && [ "$(q "SELECT count(*) FROM sluice.chunks WHERE status = 'Queued'")" = 0 ]; }
}
KILLS=0 prev=0 ITER=0 T0=$SECONDS
declare -a killed=(0 0 0 0)
for _ in $(seq 1 200); do
	ITER=$((ITER + 1))
	until progress || finished; do sleep 0.01; done
	finished && break
	[ "$KILLS" -ge "$KILLS_WANTED" ] && break
	victim=$((RANDOM % 4))
	# its successor in the held chunk says so anew
	[ "$(holder)" = "${pids[$victim]}" ] && rm -f "$T/hold/paused"
	kill -9 "${pids[$victim]}" 2>/dev/null
	wait "${pids[$victim]}" 2>/dev/null
	st=$?
	sanitizer_scan "$st" "$T/kl.err" "kill loop, ${ROLE_NAMES[$victim]}"
	if [ "$st" = 137 ]; then
		KILLS=$((KILLS + 1))
		killed[$victim]=$((killed[victim] + 1))
	else
		echo "${ROLE_NAMES[$victim]} had ended before the kill: exit $st"
	fi
	now=$(committed)
	[ "$now" -ge "$prev" ] || bad "kill $KILLS: fewer chunks committed than before ($prev, then $now)"
	prev=$now
	start_role "$victim"
done
echo "kills: $KILLS in $ITER rounds, $((SECONDS - T0)) s (ingest, a1, b1, b2: ${killed[*]}) of a job of $TOTAL chunks; $prev committed when the kills ended"
[ "$KILLS" -ge "$KILLS_WANTED" ] && ok || bad "only $KILLS kills landed before the job ended (want $KILLS_WANTED)"
# the held chunk goes on, the last ones run to the end
echo "chunk $HOLD_SEQ: claimed $(q "SELECT lease_epoch FROM sluice.chunks WHERE seq = $HOLD_SEQ") times"
: >"$T/hold/go"
wait_for "the job to finish" 6000 finished
sl_wait "${pids[0]}" "$T/kl.err"
st=$?
{ [ "$st" = 3 ] || [ "$st" = 0 ]; } && ok || bad "the last ingest: exit $st"
for i in 1 2 3; do
	kill -TERM "${pids[$i]}" 2>/dev/null
	sl_wait "${pids[$i]}" "$T/kl.err"
	check "worker ${ROLE_NAMES[$i]} stops on SIGTERM" "$?" 0
done

J=$(q "SELECT id FROM sluice.jobs")
check "one job, PartiallySucceeded" "$(q "SELECT count(*) || ' ' || max(status) FROM sluice.jobs")" "1 PartiallySucceeded"
sl status "$J" --db "$URI" --json >"$T/st.json"
check "status on the URI" "$?" 0
for f in rows_read rows_loaded rows_rejected rejects_by_code; do
	check "$f: the one-thread SQLite load's" "$(jget "$T/st.json" "d['$f']")" "$(jget "$T/one.json" "d['$f']")"
done
check "the counts add up: read = loaded + rejected = the file's rows" \
	"$(jget "$T/st.json" "(d['rows_read'] == d['rows_loaded'] + d['rows_rejected'], d['rows_read'])")" "(True, $ROWS)"
check "every row once: the table's count is rows loaded, its keys distinct" \
	"$(q "SELECT count(*) || ' ' || count(DISTINCT reference) || ' ' || count(DISTINCT _sluice_rec) FROM call_detail_records")" \
	"$(jget "$T/one.json" "d['rows_loaded']") $(jget "$T/one.json" "d['rows_loaded']") $(jget "$T/one.json" "d['rows_loaded']")"
check "every reject once: one per record, as many as rows rejected" \
	"$(q "SELECT count(*) || ' ' || count(DISTINCT record) FROM sluice.rejects")" \
	"$(jget "$T/one.json" "d['rows_rejected']") $(jget "$T/one.json" "d['rows_rejected']")"
check "every chunk ended once" \
	"$(q "SELECT count(*) FROM (SELECT chunk FROM sluice.events WHERE kind = 'chunk_end' GROUP BY chunk HAVING count(*) <> 1) t")/$(q "SELECT count(DISTINCT chunk) FROM sluice.events WHERE kind = 'chunk_end'")" \
	"0/$TOTAL"
check "no chunk left open" "$(q "SELECT count(*) FROM sluice.chunks WHERE status IN ('Queued', 'Processing')")" 0
state sqlite "$T/one.db" "$(jget "$T/one.json" "d['job_id']")" "$T/one"
state pg "$DB" "$J" "$T/pg"
same "after $KILLS kills" "$T/one" "$T/pg"
# both machines ran chunks (owners are "NAME HOST PID START RANDOM")
check "chunks committed on machine A and on machine B" \
	"$(q "SELECT count(*) FILTER (WHERE split_part(owner, ' ', 2) = '$HOST_A') > 0
		AND count(*) FILTER (WHERE split_part(owner, ' ', 1) IN ('b1', 'b2') AND split_part(owner, ' ', 2) = '$HOST_B') > 0
		FROM sluice.chunks")" t
echo "chunk owners: $(q "SELECT string_agg(n || ' ' || c, ', ') FROM (SELECT split_part(owner, ' ', 1) || '@' || split_part(owner, ' ', 2) AS n, count(*) AS c FROM sluice.chunks GROUP BY 1 ORDER BY 1) t")"
finish pg_chaos
