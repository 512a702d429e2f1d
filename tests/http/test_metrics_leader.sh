#!/usr/bin/env bash
# The leases and the leader in `sluice serve`'s /metrics (docs/scaling.md):
# a service alone leads its store (sluice_leader 1, term 1, one takeover);
# after an upload's job, its claims are counted in the claim latency
# histogram (one claim per chunk), no lease is held any more; a second
# service on the same store does not lead, and takes over (term 2) when the
# first is killed with -9; its takeover and term are in its metrics. States
# are polled, never slept for.
# Usage: test_metrics_leader.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
sl gen cdr --rows 20000 --seed 32 -o "$T/in.csv"
check "gen: exit" "$?" 0
# val URL NAME: a metric's value at URL/metrics (0 when absent)
val() { curl -s "$1/metrics" | awk -v n="$2" 'index($0, n " ") == 1 { print $NF; f = 1 } END { if (!f) print 0 }'; }
is() { [ "$(val "$1" "$2")" = "$3" ]; }

serve "$T/a.log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --chunk-size 64K || { finish; exit 1; }
A=$B
wait_for "A to lead" 1500 is "$A" sluice_leader 1
check "A leads term 1" "$(val "$A" sluice_leader_term)" 1
check "A took the lead once" "$(val "$A" sluice_leader_takeovers_total)" 1
check "A: no lease held, no claim yet" "$(val "$A" sluice_leases_held)+$(val "$A" sluice_claim_duration_seconds_count)" "0+0"
id=$(curl -s --data-binary @"$T/in.csv" "$A/v1/datasets/cdr/uploads" | jq_ "d['job_id']")
check "the upload's job finished" "$(wait_final "$id")" Succeeded
chunks=$(curl -s "$A/v1/jobs/$id" | jq_ "d['chunks_total']")
check "several chunks" "$((chunks > 2))" 1
check "one claim per chunk in the claim histogram" "$(val "$A" sluice_claim_duration_seconds_count)" "$chunks"
check "the histogram's +Inf bucket is its count" "$(val "$A" 'sluice_claim_duration_seconds_bucket{le="+Inf"}')" "$chunks"
check "no lease held after the job" "$(val "$A" sluice_leases_held)" 0
check "nothing requeued, nothing refused" "$(val "$A" sluice_chunks_requeued_total)+$(val "$A" sluice_leader_refused_total)" "0+0"

# a second service on the same store
sl_start "$T/b.log" serve --listen 127.0.0.1:0 --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data2" --min-free 1M
BPID=$BG_PID
wait_for "B listening" 1500 grep -q '"msg":"listening on' "$T/b.log"
BP=$(grep -o -m1 '"msg":"listening on [0-9.]*:[0-9]*' "$T/b.log")
BB="http://127.0.0.1:${BP##*:}"
check "B does not lead while A does" "$(val "$BB" sluice_leader)+$(val "$BB" sluice_leader_term)" "0+0"
kill_server # A, with -9
wait_for "B to take over" 1500 is "$BB" sluice_leader 1
check "B leads term 2" "$(val "$BB" sluice_leader_term)" 2
check "B took the lead once" "$(val "$BB" sluice_leader_takeovers_total)" 1
kill -TERM "$BPID"
sl_wait "$BPID" "$T/b.log"
check "B stops on SIGTERM: exit 0" "$?" 0
finish metrics_leader
