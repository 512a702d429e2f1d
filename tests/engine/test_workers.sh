#!/usr/bin/env bash
# Chunks committed in any order, by one process or several (issue 11):
#   - shuffled commit orders (SLUICE_TEST_CLAIM_ORDER, a test-only knob:
#     one writer claims the chunks in a permutation) give the table, the
#     rejects and the counts of a one-thread load in file order, for
#     on_duplicate reject, ignore and update, on a file whose keys repeat
#     across chunks; the table also equals the oracle's (tests/lib/oracle.py,
#     which keeps the first occurrence, or the last with update);
#   - two and three `sluice worker`s plus `sluice ingest` on one job, each
#     killed with -9 at random (20 kills landed per setting, each after
#     progress polled in the store, none by a timer; one chunk held open
#     until then, so the job cannot end first) and started again: every row
#     once, the table the oracle's, the rejects and counts those of the
#     one-thread load.
# Usage: test_workers.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
at_exit() { kill -9 $(jobs -p) 2>/dev/null; }
q() { sqlite3 -batch -cmd ".timeout 2000" "$1" "$2"; }
COLS="caller_id,recipient,call_date,end_time,duration,cost,reference,currency"
committed() {
	local n=
	[ -s "$1" ] && n=$(q "$1" "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'" 2>/dev/null | tail -1)
	echo "${n:-0}"
}
finished() { q "$1" "SELECT status FROM sluice_jobs" 2>/dev/null | grep -Eq '^(Succeeded|PartiallySucceeded|Failed)$'; }
# what must be equal between two loads of one file: the table (values and
# the record each row came from), the rejects, the counts of the job, its
# codes and its chunks
state() {
	q "$1" "SELECT $COLS, _sluice_rec FROM call_detail_records ORDER BY reference" | md5sum | cut -c1-32
	q "$1" "SELECT chunk, record, line, offset, column_name, code, message, hex(raw) FROM sluice_rejects ORDER BY record" | md5sum | cut -c1-32
	q "$1" "SELECT status, rows_read, rows_loaded, rows_rejected, chunks_total, chunks_succeeded, chunks_failed, bytes_done FROM sluice_jobs"
	q "$1" "SELECT code, count FROM sluice_job_codes WHERE count > 0 ORDER BY code" | tr '\n' ' '
	echo
	q "$1" "SELECT seq, rows_read, rows_loaded, rows_rejected FROM sluice_chunks ORDER BY seq" | md5sum | cut -c1-32
}
# oracle_is DB CSV SCHEMA: the table holds the oracle's rows for SCHEMA
oracle_is() {
	sqlite3 -batch -json "$1" "SELECT $COLS FROM call_detail_records ORDER BY reference" >"$H/got.json" &&
		python3 "$ORACLE" compare "$2" "$H/got.json" --schema "$3"
}

ROWS=${ROWS:-40000}
sl gen cdr --rows "$ROWS" --error-rate 0.03 --seed 31 --manifest "$T/man.tsv" -o "$T/cdr.csv" || bad "gen cdr"
# keys that repeat across chunks (tests/lib/dup_keys.py)
python3 "$SRC/tests/lib/dup_keys.py" "$T/cdr.csv" "$T/man.tsv" "$T/dup.csv" >"$T/ndup"
check "the file has keys repeated across chunks" "$([ "$(cat "$T/ndup")" -gt 20 ] && echo yes)" yes

# --- shuffled commit orders = a one-thread load in file order -------------------------
for mode in reject ignore update; do
	sed "s/^on_duplicate: .*/on_duplicate: $mode/" "$SCHEMA" >"$T/$mode.yaml"
	sl ingest "$T/dup.csv" --schema "$T/$mode.yaml" --db "$T/one-$mode.db" --chunk-size 16k --threads 1 --quiet
	check "$mode, one thread: exit 3" "$?" 3
	state "$T/one-$mode.db" >"$T/one-$mode.state"
	oracle_is "$T/one-$mode.db" "$T/dup.csv" "$T/$mode.yaml" && ok || bad "$mode, one thread: the table differs from the oracle's"
	for m in 500009 333337; do
		SLUICE_TEST_CLAIM_ORDER=$m sl ingest "$T/dup.csv" --schema "$T/$mode.yaml" --db "$T/sh-$mode-$m.db" --chunk-size 16k --threads 1 --quiet
		check "$mode, order $m: exit 3" "$?" 3
		order=$(q "$T/sh-$mode-$m.db" "SELECT group_concat(chunk) FROM (SELECT chunk FROM sluice_events WHERE kind = 'chunk_end' ORDER BY id)")
		sorted=$(q "$T/sh-$mode-$m.db" "SELECT group_concat(seq) FROM (SELECT seq FROM sluice_chunks ORDER BY seq)")
		check "$mode, order $m: chunks committed out of file order" "$([ "$order" != "$sorted" ] && echo yes)" yes
		state "$T/sh-$mode-$m.db" >"$T/sh.state"
		cmp -s "$T/one-$mode.state" "$T/sh.state" && ok || bad "$mode, order $m: table, rejects or counts differ from the one-thread load: $(diff "$T/one-$mode.state" "$T/sh.state" | head -6)"
		oracle_is "$T/sh-$mode-$m.db" "$T/dup.csv" "$T/$mode.yaml" && ok || bad "$mode, order $m: the table differs from the oracle's"
	done
done
check "reject: every repeated key a DUP_KEY reject" "$(q "$T/one-reject.db" "SELECT count(*) FROM sluice_rejects WHERE code = 'DUP_KEY'") >= $(cat "$T/ndup")" "$(q "$T/one-reject.db" "SELECT count(*) FROM sluice_rejects WHERE code = 'DUP_KEY'") >= $(cat "$T/ndup")"
check "reject: messages name the record that holds the key" \
	"$(q "$T/sh-reject-500009.db" "SELECT count(*) FROM sluice_rejects r WHERE code = 'DUP_KEY' AND CAST(substr(message, instr(message, 'by record ') + 10) AS INTEGER) <> (SELECT _sluice_rec FROM call_detail_records c WHERE instr(CAST(r.raw AS TEXT), c.reference) > 0)")" 0

# --- N workers + ingest on one job, kill -9 at random ------------------------------------
# kill_loop N NAME: ingest and N workers on dup.csv (reject); at each round
# one of them, at random, is killed with -9 once the store shows progress
# since the last kill, and started again, until KILLS_WANTED kills have
# landed (a kill lands when the process it hit was alive: exit 137). So
# that the job cannot end before, whatever the machine's speed, chunk
# HOLD_SEQ is held open: every process runs with SLUICE_TEST_PAUSE=
# HOLD_SEQ:DIR, so whoever claims that chunk waits before running it (its
# lease renewed) until the kills are done, and a killed holder's successor
# waits too; once no chunk is left to claim, a round's progress is a new
# holder of it. (The others are not SIGSTOPped meanwhile: a process stopped
# inside SQLite's WAL locking makes readers fail with SQLITE_PROTOCOL.)
# Then the hold ends and the job runs to its end. Leaves the number of
# kills in KILLS.
KILLS_WANTED=${KILLS_WANTED:-20}
HOLD_SEQ=${HOLD_SEQ:-40}
TOTAL=$(q "$T/one-reject.db" "SELECT chunks_total FROM sluice_jobs")
check "the job has chunks after the held one for the kills" "$([ "$TOTAL" -gt $((HOLD_SEQ + KILLS_WANTED)) ] && echo yes)" yes
kill_loop() {
	local n=$1 db=$2 i k now victim st prev=0
	local -a pids
	: >"$T/kl.err"
	rm -rf "$T/hold" && mkdir "$T/hold"
	# the held chunk's holder is killed again and again: far more attempts
	# than the default 5, after which the leader's reaper fails a chunk
	start_role() { # role index: 0 is the ingest
		if [ "$1" = 0 ]; then
			SLUICE_TEST_PAUSE=$HOLD_SEQ:$T/hold sl_start "$T/kl.err" ingest "$T/dup.csv" --schema "$T/reject.yaml" \
				--db "$db" --chunk-size 16k --threads 2 --max-attempts 1000 --quiet
		else
			SLUICE_TEST_PAUSE=$HOLD_SEQ:$T/hold sl_start "$T/kl.err" worker --db "$db" --name "w$1" \
				--max-attempts 1000 --quiet
		fi
		pids[$1]=$BG_PID
	}
	# the pid of the held chunk's holder (owners are "NAME HOST PID START RANDOM")
	holder() { q "$db" "SELECT owner FROM sluice_chunks WHERE seq = $HOLD_SEQ AND status = 'Processing'" | cut -d' ' -f3; }
	# a round's progress: a chunk committed, or, when none is left to claim
	# (the held chunk's holder may hold others: the ingest claims ahead), a
	# holder waiting in the held chunk
	progress() {
		[ "$(committed "$db")" -gt "$prev" ] ||
			{ [ -e "$T/hold/paused" ] && [ "$(q "$db" "SELECT count(*) FROM sluice_chunks WHERE status = 'Queued'")" = 0 ]; }
	}
	for ((i = 0; i <= n; i++)); do start_role $i; done
	KILLS=0 t0=$SECONDS
	for k in $(seq 1 200); do
		until progress || finished "$db"; do sleep 0.005; done
		finished "$db" && break
		[ "$KILLS" -ge "$KILLS_WANTED" ] && break
		victim=$((RANDOM % (n + 1)))
		# its successor in the held chunk says so anew
		[ "$(holder)" = "${pids[$victim]}" ] && rm -f "$T/hold/paused"
		kill -9 "${pids[$victim]}" 2>/dev/null
		wait "${pids[$victim]}" 2>/dev/null
		st=$?
		sanitizer_scan "$st" "$T/kl.err" "kill loop, role $victim"
		if [ "$st" = 137 ]; then
			KILLS=$((KILLS + 1))
		else
			echo "role $victim had ended before the kill: exit $st"
		fi
		now=$(committed "$db")
		[ "$now" -ge "$prev" ] || bad "kill $KILLS: fewer chunks committed than before ($prev, then $now)"
		prev=$now
		start_role "$victim"
	done
	echo "$n workers + ingest: $KILLS kills in $k rounds, $((SECONDS - t0)) s; $prev of $TOTAL chunks committed, the held one claimed $(q "$db" "SELECT lease_epoch FROM sluice_chunks WHERE seq = $HOLD_SEQ") times"
	check "$n workers + ingest: the job was held until the kills were done" "$(finished "$db" && echo finished)" ""
	: >"$T/hold/go"
	t0=$SECONDS
	wait_for "the job to finish" 6000 finished "$db"
	echo "$n workers + ingest: the rest in $((SECONDS - t0)) s"
	# the ingest ends with the job; workers wait for more: SIGTERM stops them (exit 0)
	sl_wait "${pids[0]}" "$T/kl.err"
	st=$?
	[ "$st" = 3 ] && ok || bad "the last ingest: exit $st, want 3"
	for ((i = 1; i <= n; i++)); do
		kill -TERM "${pids[$i]}"
		sl_wait "${pids[$i]}" "$T/kl.err"
		check "worker $i stops on SIGTERM: exit 0" "$?" 0
	done
}
for n in 2 3; do
	db=$T/kl$n.db
	rm -f "$db"*
	kill_loop $n "$db"
	check "$n workers + ingest: kills that landed" "$KILLS" "$KILLS_WANTED"
	check "$n workers + ingest: one job" "$(q "$db" 'SELECT count(*) FROM sluice_jobs')" 1
	check "$n workers + ingest: every chunk committed, once" "$(q "$db" "SELECT sum(status = 'Succeeded') = count(*) FROM sluice_chunks")+$(q "$db" "SELECT count(*) FROM (SELECT chunk FROM sluice_events WHERE kind = 'chunk_end' GROUP BY chunk HAVING count(*) > 1)")" "1+0"
	check "$n workers + ingest: no key twice" "$(q "$db" 'SELECT count(*) - count(DISTINCT reference) FROM call_detail_records')" 0
	check "$n workers + ingest: the chunks were run by several processes" "$([ "$(q "$db" 'SELECT count(DISTINCT owner) FROM sluice_chunks')" -ge 3 ] && echo yes)" yes
	state "$db" >"$T/kl.state"
	cmp -s "$T/one-reject.state" "$T/kl.state" && ok || bad "$n workers + ingest after $KILLS kills: table, rejects or counts differ from the one-thread load: $(diff "$T/one-reject.state" "$T/kl.state" | head -6)"
	oracle_is "$db" "$T/dup.csv" "$T/reject.yaml" && ok || bad "$n workers + ingest after $KILLS kills: the table differs from the oracle's"
done

finish workers
