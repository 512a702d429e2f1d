#!/usr/bin/env bash
# Serve benchmark (issue 4), in one run; writes bench/out/serve.md
# (bench/run.sh puts it into docs/benchmarks.md).
#   bench/serve.sh                  (also `bench/run.sh ROWS serve`; ROWS is
#                                   not used here: the sizes are its own)
#   REPEAT=3      rounds of the upload and the latency measurements (default 3)
#   N=10          concurrent uploads (default 10)
#   SERVE_ROWS=1054000   rows of the small upload (about 100 MB)
#   BIGX=10       the large upload has BIGX times as many rows (about 1 GB)
#   SLUICE=build/sluice  the binary (copied into bench/out/serve/ first, so
#                 a rebuild of build/ during the run cannot swap it)
#   KEEPALIVE=SECONDS  only the short keep-alive measurement (issue 10): on an
#                 idle server, wrk -t2 -c10 --latency on GET /v1/jobs/{id} for
#                 SECONDS with its connections kept (as wrk does), then as long
#                 with `Connection: close` on every request (a new connection
#                 each, as every answer forced before); writes
#                 bench/out/serve_keepalive.md and stops
# Parts, each on a fresh server (fresh database and data dir in
# bench/out/serve/run, on the same file system as everything else here):
#   A  N concurrent uploads of the ~100 MB file (curl, POST, raw body)
#      against N concurrent `cp` + `sync -d` (fdatasync) of the same file
#      into the same file system; best of REPEAT, as MB/s and their ratio.
#      The server's VmHWM when the uploads are answered, and after its
#      first ingest job finished.
#   L  status latency: wrk (2 threads, 10 connections, --latency) on
#      GET /v1/jobs/{id} of one finished job, for exactly as long as N
#      uploads of the ~100 MB file take (REPEAT rounds; the median round by
#      p99 is reported), and for 5 s on the idle server for comparison.
#   B  memory of the uploads themselves: N concurrent uploads of the ~100 MB
#      file, then (a fresh server) of the ~1 GB file, each while another
#      process holds the database's write lock, so that no job can start
#      before the VmHWM is read (the server answers uploads without the
#      database; the jobs are recorded and run once the lock is released);
#      then the VmHWM again when the 1 GB jobs are done.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
REPEAT=${REPEAT:-3}
N=${N:-10}
ROWS=${SERVE_ROWS:-1054000}
BIGX=${BIGX:-10}
SRC=${SLUICE:-build/sluice}
W=$OUT/serve
RUN=$W/run
CPD=$W/cp
mkdir -p "$W"
rm -rf "$RUN" "$CPD" "$W/failed"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# The binary, as it is now
cp "$SRC" "$W/sluice"
SL=$W/sluice
B=$W # gen (bench/lib.sh) runs this binary
BINTIME=$(date -u -r "$SRC" '+%Y-%m-%d %H:%M UTC')
BINSUM=$(md5sum <"$SL" | cut -c1-12)
COMMIT=$(git log -1 --format='%h %s' 2>/dev/null | cut -c1-72 || echo unknown)
DIRTY=""
if [ "$SRC" = build/sluice ] && [ -n "$(git status --porcelain --untracked-files=no -- src include 2>/dev/null)" ]; then
	DIRTY="; the work tree had uncommitted changes in src/ or include/"
fi

# wrk, or a python fallback
if ! command -v wrk >/dev/null; then
	if [ "$(id -u)" = 0 ]; then AG=(apt-get); else AG=(sudo -n apt-get); fi
	"${AG[@]}" install -y -qq wrk >&2 2>/dev/null ||
		{ "${AG[@]}" update -qq >&2 && "${AG[@]}" install -y -qq wrk >&2; } || true
fi
if command -v wrk >/dev/null; then
	LOADTOOL="wrk $( (wrk -v 2>&1 || true) | awk 'NR==1 {print $2}')"
else
	LOADTOOL=python
	cat >"$W/lat.py" <<'EOF'
# Closed-loop GETs on one URL from 10 keep-alive connections (threads) until
# the stop file exists; prints the latency percentiles.
import http.client, os, sys, threading, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); stop = sys.argv[2]
lat, bad, lock = [], [0], threading.Lock()
def conn(): return http.client.HTTPConnection(u.hostname, u.port, timeout=10)
def worker():
    c, mine = conn(), []
    while not os.path.exists(stop):
        t = time.perf_counter()
        try:
            c.request("GET", u.path); r = c.getresponse(); r.read()
            if r.status != 200: bad[0] += 1
        except Exception:
            bad[0] += 1; c.close(); c = conn(); continue
        mine.append(time.perf_counter() - t)
    with lock: lat.extend(mine)
ths = [threading.Thread(target=worker) for _ in range(10)]
t0 = time.perf_counter()
for t in ths: t.start()
for t in ths: t.join()
dt = time.perf_counter() - t0
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0
print("p50 %.3f p99 %.3f reqs %d rps %.0f non2xx %d" % (q(.5), q(.99), len(lat), len(lat) / dt, bad[0]))
EOF
fi

mbs() { echo "$1 $2" | awk '{printf "%.0f", $1/$2/1e6}'; }


SPID="" LPID=""
cleanup() {
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null
	true
}
trap cleanup EXIT

free_port() {
	local p
	for p in $(seq 18480 18580); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	echo "no free port in 18480-18580" >&2
	exit 1
}
start_server() { # a fresh server on a fresh database and data dir
	rm -rf "$RUN"
	mkdir -p "$RUN/schemas" "$RUN/data"
	cp examples/cdr.yaml "$RUN/schemas/"
	PORT=$(free_port)
	URL=http://127.0.0.1:$PORT
	"$SL" serve --db "$RUN/s.db" --schemas "$RUN/schemas" --data-dir "$RUN/data" \
		--listen "127.0.0.1:$PORT" --min-free 1M --max-uploads 16 --max-upload 4G \
		--grace 1 2>"$RUN/server.log" &
	SPID=$!
	for _ in $(seq 100); do
		curl -sf "$URL/healthz/live" >/dev/null 2>&1 && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "the server did not start:" >&2
	cat "$RUN/server.log" >&2
	exit 1
}
stop_server() {
	kill -TERM "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
	SPID=""
}
hwm() { awk '/^VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SPID/status"; } # MB
# lock_db / unlock_db: another process holds the write lock of the server's
# database meanwhile (after one small job made its tables)
lock_db() {
	rm -f "$RUN/unlock"
	(echo "BEGIN IMMEDIATE;"; while [ ! -e "$RUN/unlock" ]; do sleep 0.1; done; echo "COMMIT;") |
		sqlite3 "$RUN/s.db" &
	LOCKER=$!
	sleep 0.5
}
unlock_db() {
	touch "$RUN/unlock"
	wait "$LOCKER" 2>/dev/null || true
}
warm_tables() {
	head -1001 "$F" >"$SMALL"
	curl -sS -o /dev/null -X POST -T "$SMALL" -H 'Content-Type: text/csv' -H 'Expect:' \
		"$URL/v1/datasets/cdr/uploads"
	jobs_done
}
cpu() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$SPID/stat"; }

# upload_all FILE TAG: N uploads at once; sets UP_S (wall seconds), UP_CPU
# (user+sys seconds of the curls), UP_SRV (CPU seconds of the server
# meanwhile, ingest included) and UP_OK (how many got 202).
upload_all() {
	local f=$1 tag=$2 c0 tf
	tf=$RUN/$tag.time
	sync
	c0=$(cpu)
	TIMEFORMAT='%R %U %S'
	{ time (
		for i in $(seq "$N"); do
			${CLIENT_NICE:+nice -n "$CLIENT_NICE"} curl -sS -o "$RUN/$tag.$i.json" -w '%{http_code}\n' -X POST -T "$f" \
				-H 'Content-Type: text/csv' -H 'Expect:' \
				"$URL/v1/datasets/cdr/uploads" >"$RUN/$tag.$i.code" 2>>"$RUN/curl.err" &
		done
		wait
	); } 2>"$tf"
	UP_SRV=$(echo "$(cpu) $c0" | awk '{printf "%.2f", $1-$2}')
	UP_S=$(awk '{printf "%.3f", $1}' "$tf")
	UP_CPU=$(awk '{printf "%.2f", $2+$3}' "$tf")
	UP_OK=$(cat "$RUN/$tag".*.code | grep -c '^202$' || true)
	UP_CODES=$(cat "$RUN/$tag".*.code | sort | uniq -c | awk '{printf "%s%s× %s", sep, $1, $2; sep=", "}')
	if [ "$UP_OK" != "$N" ]; then # keep the answers for a look
		mkdir -p "$W/failed"
		for i in $(seq "$N"); do
			{ echo "$tag.$i: $(cat "$RUN/$tag.$i.code")"; cat "$RUN/$tag.$i.json" 2>/dev/null; echo; } >>"$W/failed/answers.txt"
		done
		cp "$RUN/server.log" "$W/failed/server.$tag.log" 2>/dev/null || true
		cat "$RUN/curl.err" >>"$W/failed/curl.err" 2>/dev/null || true
	fi
}
# cp_all FILE: N times cp + fdatasync of the copy, at once; sets CP_S
cp_all() {
	local f=$1 tf=$W/cp.time
	rm -rf "$CPD"
	mkdir -p "$CPD"
	sync
	TIMEFORMAT='%R'
	{ time (
		for i in $(seq "$N"); do
			(cp "$f" "$CPD/$i" && sync -d "$CPD/$i") &
		done
		wait
	); } 2>"$tf"
	CP_S=$(awk '{printf "%.3f", $1}' "$tf")
	rm -rf "$CPD"
}
# jobs_done: wait (up to 15 min) until no job is waiting or running; sets
# FJ_S (seconds waited), FJ (the job that loaded the most rows) and JOBS
# (jobs by status)
jobs_done() {
	local t0 l st q
	t0=$(now)
	for _ in $(seq 4500); do
		l=$(curl -sf "$URL/v1/jobs?limit=1000" | sed 's/"job_id"/\n&/g' || true)
		st=$(echo "$l" | sed -n 's/^"job_id":"[^"]*","status":"\([A-Za-z]*\)".*/\1/p')
		q=$(curl -sf "$URL/metrics" | awk '/^sluice_ingest_queue_length / {print $2}' || true)
		[ -n "$st" ] && [ "${q:-0}" = 0 ] &&
			! echo "$st" | grep -qx 'Accepted\|Chunking\|ChunksQueued\|Processing' && break
		sleep 0.2
	done
	FJ_S=$(echo "$(now) $t0" | awk '{printf "%.1f", $1-$2}')
	JOBS=$(echo "$st" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')
	FJ=$(echo "$l" | grep '"finished_ms":[1-9]' |
		sed -n 's/.*"status":"\([A-Za-z]*\)".*"bytes":\([0-9]*\).*"rows_loaded":\([0-9]*\),"rows_rejected":\([0-9]*\).*"duration_s":\([0-9.]*\).*/\3 \1, \2 bytes, \3 rows loaded, \4 rejected, \5 s/p' |
		sort -n | tail -1 | cut -d' ' -f2-)
}

# load_start URL / load_stop: closed-loop GETs from 10 connections; load_stop
# sets P50 and P99 (ms), RQ (requests), RPS and BAD (non-2xx and errors)
load_start() {
	rm -f "$RUN/stop"
	if [ "$LOADTOOL" = python ]; then
		python3 "$W/lat.py" "$1" "$RUN/stop" >"$RUN/load.out" 2>&1 &
	else
		wrk -t2 -c10 -d3600s --timeout 10s --latency "$1" >"$RUN/load.out" 2>&1 &
	fi
	LPID=$!
	sleep 0.2
}
ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}'; }
load_stop() {
	local o=$RUN/load.out
	if [ "$LOADTOOL" = python ]; then touch "$RUN/stop"; else kill -INT "$LPID"; fi
	wait "$LPID" || true
	LPID=""
	if [ "$LOADTOOL" = python ]; then
		read -r _ P50 _ P99 _ RQ _ RPS _ BAD <"$o"
	else
		P50=$(awk '$1=="50%" {print $2}' "$o" | ms)
		P99=$(awk '$1=="99%" {print $2}' "$o" | ms)
		RQ=$(awk '/requests in/ {print $1}' "$o")
		RPS=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$o")
		BAD=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(",",""); n+=$4+$6+$8+$10} END {print n+0}' "$o")
	fi
}

if [ -n "${KEEPALIVE:-}" ]; then
	[ "$LOADTOOL" != python ] || { echo "KEEPALIVE needs wrk" >&2; exit 1; }
	start_server
	F=$(gen 1000)
	JOB=$(curl -sS -X POST -T "$F" -H 'Content-Type: text/csv' -H 'Expect:' \
		"$URL/v1/datasets/cdr/uploads" | sed -n 's/.*"job_id":"\([^"]*\)".*/\1/p')
	jobs_done
	wrk -t2 -c10 -d"${KEEPALIVE}s" --timeout 10s --latency "$URL/v1/jobs/$JOB" >"$RUN/load.out" 2>&1
	K50=$(awk '$1=="50%" {print $2}' "$RUN/load.out" | ms)
	K99=$(awk '$1=="99%" {print $2}' "$RUN/load.out" | ms)
	KRPS=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$RUN/load.out")
	wrk -t2 -c10 -d"${KEEPALIVE}s" --timeout 10s --latency -H 'Connection: close' \
		"$URL/v1/jobs/$JOB" >"$RUN/load.out" 2>&1
	C50=$(awk '$1=="50%" {print $2}' "$RUN/load.out" | ms)
	C99=$(awk '$1=="99%" {print $2}' "$RUN/load.out" | ms)
	CRPS=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$RUN/load.out")
	KA=$(curl -sS -o /dev/null -D - "$URL/healthz/live" | tr -d '\r' | awk 'tolower($1)=="connection:" {print $2}')
	stop_server
	{
		echo "Status latency with keep-alive: \`wrk -t2 -c10 -d${KEEPALIVE}s --latency\` on"
		echo "\`GET /v1/jobs/{id}\` of a finished job, idle server, binary $BINSUM ($COMMIT), load"
		echo "average $LOAD0 at the start."
		echo
		echo "| connections | p50, ms | p99, ms | requests/s |"
		echo "|---|---:|---:|---:|"
		echo "| kept (wrk's default; the server no longer closes after a GET) | $K50 | $K99 | $KRPS |"
		echo "| a new one per request (\`Connection: close\`) | $C50 | $C99 | $CRPS |"
		echo
		echo "A GET's answer carries Connection: ${KA:-(none, kept)}."
	} >"$OUT/serve_keepalive.md"
	cat "$OUT/serve_keepalive.md"
	exit 0
fi

# Inputs and disk
F=$(gen "$ROWS")
SIZE=$(stat -c %s "$F")
FSTYPE=$(df --output=fstype "$W" | tail -1 | tr -d " ")
TMPFS_NOTE=""
case $FSTYPE in tmpfs | ramfs) TMPFS_NOTE=" **$W is on $FSTYPE, not a disk: the disk numbers mean nothing.**" ;; esac
AVAIL=$(df -B1 --output=avail "$W" | tail -1 | tr -d ' ')
# part B needs N uploads, the file, the database (about 1.3 times the rows
# loaded by the first job) and 1 GB to spare
need() { echo $((($1 * SIZE) * (N + 3) + 1000000000)); }
BIGX0=$BIGX
while [ "$BIGX" -gt 1 ] && [ "$(need "$BIGX")" -gt "$AVAIL" ]; do BIGX=$((BIGX - 1)); done
SCALE_NOTE=""
if [ "$BIGX" != "$BIGX0" ]; then
	SCALE_NOTE="Only $((AVAIL / 1000000)) MB were free in $W, so the large uploads were scaled down from $BIGX0 to $BIGX times the small one."
fi
DOB=1
[ "$BIGX" -le 1 ] && { DOB=0; SCALE_NOTE="Only $((AVAIL / 1000000)) MB were free in $W: part B (the large uploads) was skipped."; }
SMALL=$RUN/small.csv
cat "$F" >/dev/null

# A: upload speed against cp, memory at 100 MB
T_UP=999999 T_CP=999999 H_A=0 H_A2=0 UPS="" CPS="" A_OK=1 A_CODES=""
for r in $(seq "$REPEAT"); do
	cp_all "$F"
	T_CP=$(min "$CP_S" "$T_CP")
	CPS="$CPS $CP_S"
	start_server
	upload_all "$F" a
	[ "$UP_OK" = "$N" ] || A_OK=0
	lt "$UP_S" "$T_UP" && { A_CPU=$UP_CPU A_SRV=$UP_SRV; }
	T_UP=$(min "$UP_S" "$T_UP")
	UPS="$UPS $UP_S"
	h=$(hwm)
	H_A=$(max "$h" "$H_A")
	A_CODES="$A_CODES${A_CODES:+; }$UP_CODES"
	jobs_done
	A_FJ=$FJ A_FJS=$FJ_S A_JOBS=$JOBS
	H_A2=$(max "$(hwm)" "$H_A2")
	echo "A $r: cp $CP_S s, uploads $UP_S s ($UP_CODES), VmHWM $h MB, $(hwm) MB after the jobs ($FJ_S s; $JOBS; most rows: $FJ)" >&2
	stop_server
done
TOT=$((N * SIZE))
MB_UP=$(mbs "$TOT" "$T_UP")
MB_CP=$(mbs "$TOT" "$T_CP")
R_UP=$(ratio "$MB_UP" "$MB_CP")

# L: status latency, idle and under N uploads
L_ROUNDS="" L_OK=1 L_CODES="" N_ROUNDS=""
for r in $(seq "$REPEAT"); do
	start_server
	head -1001 "$F" >"$SMALL"
	JOB=$(curl -sS -X POST -T "$SMALL" -H 'Content-Type: text/csv' -H 'Expect:' \
		"$URL/v1/datasets/cdr/uploads" | sed -n 's/.*"job_id":"\([^"]*\)".*/\1/p')
	jobs_done
	if [ "$r" = 1 ]; then
		load_start "$URL/v1/jobs/$JOB"
		sleep 5
		load_stop
		I50=$P50 I99=$P99 IRQ=$RQ IRPS=$RPS IBAD=$BAD
		echo "L idle: p50 $P50 ms, p99 $P99 ms, $RQ requests, $BAD bad" >&2
	fi
	load_start "$URL/v1/jobs/$JOB"
	upload_all "$F" l
	load_stop
	[ "$UP_OK" = "$N" ] || L_OK=0
	L_ROUNDS="$L_ROUNDS$P99 $P50 $RQ $RPS $BAD $UP_S"$'\n'
	L_CODES="$L_CODES${L_CODES:+; }$UP_CODES"
	echo "L $r: p50 $P50 ms, p99 $P99 ms, $RQ requests ($RPS/s, $BAD bad) during uploads of $UP_S s ($UP_CODES)" >&2
	# the same with the upload clients at nice 10: they stand for clients on
	# other machines, whose CPU is not the server's
	load_start "$URL/v1/jobs/$JOB"
	CLIENT_NICE=10 upload_all "$F" ln
	load_stop
	N_ROUNDS="$N_ROUNDS$P99 $P50"$'\n'
	echo "L $r (clients at nice 10): p50 $P50 ms, p99 $P99 ms during uploads of $UP_S s ($UP_CODES)" >&2
	stop_server
done
# the median round by p99
read -r L99 L50 LRQ LRPS LBAD LUP < <(echo -n "$L_ROUNDS" | sort -g | sed -n "$(((REPEAT + 1) / 2))p")
ALL99=$(echo -n "$L_ROUNDS" | awk '{printf "%s%s", sep, $1; sep=", "}')
read -r N99 N50 < <(echo -n "$N_ROUNDS" | sort -g | sed -n "$(((REPEAT + 1) / 2))p")
NALL99=$(echo -n "$N_ROUNDS" | awk '{printf "%s%s", sep, $1; sep=", "}')

# B: memory at 1 GB
if [ "$DOB" = 1 ]; then
	FB=$(gen $((ROWS * BIGX)))
	SIZEB=$(stat -c %s "$FB")
	cat "$FB" >/dev/null
	start_server
	warm_tables
	lock_db
	upload_all "$F" b1
	H_B1=$(hwm)
	B1_CODES=$UP_CODES
	unlock_db
	echo "B: $N x $SIZE bytes with the database locked: $UP_S s ($UP_CODES), VmHWM $H_B1 MB" >&2
	stop_server
	start_server
	warm_tables
	lock_db
	upload_all "$FB" b
	B_OK=$UP_OK B_S=$UP_S
	[ "$UP_OK" = "$N" ] || B_OK=0
	H_B=$(hwm)
	B_CODES=$UP_CODES
	unlock_db
	echo "B: $N x $SIZEB bytes with the database locked: $UP_S s ($UP_CODES), VmHWM $H_B MB" >&2
	jobs_done
	B_FJ=$FJ B_FJS=$FJ_S B_JOBS=$JOBS
	H_B2=$(hwm)
	echo "B: VmHWM $H_B2 MB after the jobs ($FJ_S s; $JOBS; most rows: $FJ)" >&2
	stop_server
	MB_B=$(mbs $((N * SIZEB)) "$B_S")
	G=$(ratio "$H_B" "$H_B1")
	G2=$(ratio "$H_B2" "$H_A2")
fi
rm -rf "$RUN" "$W/cp.time" "$W/sluice"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# The report
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
NPROC=$(nproc)
MEMGB=$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo)
DEV=$(df --output=source "$W" | tail -1)
CURLV=$(curl --version | head -1 | cut -d' ' -f2)
MBF=$(echo "$SIZE" | awk '{printf "%.0f", $1/1e6}')
[ "$A_OK" = 1 ] && [ "$L_OK" = 1 ] && [ "${B_OK:-$N}" = "$N" ] ||
	FAILNOTE=" **Not every upload was accepted** (answers in the speed rounds: $A_CODES; latency rounds: $L_CODES; large uploads: ${B_CODES:-none}; kept in \`$W/failed/\`): a refused upload is a failure of the server, and the round that had it measures that."
{
	echo "## Serve ($(date -u +%Y-%m-%d))"
	echo
	echo "Command: \`bench/serve.sh\`$([ "$REPEAT" != 3 ] && echo " with REPEAT=$REPEAT") (also \`bench/run.sh ROWS serve\`). Binary: \`$SRC\` of $BINTIME"
	echo "(md5 $BINSUM…); HEAD was \`$COMMIT\`$DIRTY. Machine: $CPU, $NPROC cores, $MEMGB GB;"
	echo "data dir, database and copies on $DEV ($FSTYPE).$TMPFS_NOTE Load tool: $LOADTOOL; curl $CURLV."
	echo "Load average $LOAD0 at the start, $LOAD1 at the end.${FAILNOTE:-}"
	echo
	echo "Upload file: $ROWS generated CDR rows (\`sluice gen cdr --error-rate 0.001 --seed 1\`), $SIZE bytes,"
	echo "sent $N times at once as the raw body of \`POST /v1/datasets/cdr/uploads\`"
	echo "(\`curl -sS -X POST -T FILE -H 'Content-Type: text/csv' -H 'Expect:'\`) to a fresh"
	echo "\`sluice serve --min-free 1M --max-uploads 16 --max-upload 4G --grace 1\` (other options"
	echo "at their defaults) with \`examples/cdr.yaml\` as its one dataset."
	echo
	echo "| measure | value | goal | met? |"
	echo "|---|---:|---|---|"
	echo "| $N uploads of $MBF MB at once, MB/s (best of $REPEAT; seconds:$UPS) | $MB_UP | | |"
	echo "| $N \`cp\` + \`sync -d\` of the same file at once, MB/s (best of $REPEAT; seconds:$CPS) | $MB_CP | | |"
	echo "| upload speed / disk speed | $R_UP | ≥ 0.8 | $(met le 0.8 "$R_UP") |"
	echo "| \`GET /v1/jobs/{id}\` p50 during the $N uploads, ms | $L50 | | |"
	echo "| \`GET /v1/jobs/{id}\` p99 during the $N uploads, ms (median of $REPEAT rounds: $ALL99) | $L99 | < 10 ms | $(met lt "$L99" 10) |"
	echo "| the same with the $N upload clients at nice 10 (standing for clients on other machines; each round right after the one above, on the same server, while its jobs run): p50 / p99, ms (p99 of the rounds: $NALL99) | $N50 / $N99 | | |"
	echo "| the same on the idle server: p50 / p99, ms | $I50 / $I99 | | |"
	if [ "$DOB" = 1 ]; then
		echo "| server peak memory (VmHWM) while $N uploads of $(echo "$SIZEB" | awk '{printf "%.0f", $1/1e6}') MB stream in, MB | $H_B | < 256 MB | $(met lt "$H_B" 256) |"
		echo "| the same with $N uploads of $MBF MB, MB | $H_B1 | | |"
		echo "| ratio of the two ($BIGX times larger uploads) | $G | not growing | $(met le "$G" 1.10) (taken as: at most 1.10) |"
		echo "| peak memory once all $N jobs are done too (ingest included), ${BIGX}x / 1x uploads, MB | $H_B2 / $H_A2 | | |"
	else
		echo "| server peak memory (VmHWM) after $N uploads of $MBF MB, MB | $H_A | < 256 MB | $(met lt "$H_A" 256) |"
		echo "| peak memory with larger uploads | not measured (no disk space) | not growing | — |"
	fi
	echo
	echo "- Upload MB/s = $N × $SIZE bytes / wall seconds from starting the $N curls to the"
	echo "  last answer (the server answers once the file and its sidecar are written and"
	echo "  fdatasync'ed; the job is recorded right after, in the background). Disk MB/s ="
	echo "  the same bytes / wall seconds of $N"
	echo "  \`cp FILE DIR/i && sync -d DIR/i\` at once (a write, then an fdatasync of each copy,"
	echo "  as the server does) into \`$W\`. The file is in the page cache for both."
	echo "  Fastest upload round: the curls used ${A_CPU} s of CPU, the server ${A_SRV} s (its ingest"
	echo "  included), in $T_UP s of wall time on $NPROC cores. Answers: $A_CODES."
	echo "  Why uploads stay under the copy's speed here: the clients run on the same $NPROC"
	echo "  cores. Per byte, an upload costs the client a read and a send, the kernel the"
	echo "  loopback TCP path, and the server a receive and a write (plus a hash), about"
	echo "  twice the work of \`cp\`'s read and write, and the cores are saturated (see the"
	echo "  CPU seconds above). The server's own part is a receive and a write per byte,"
	echo "  what \`cp\` does; whether it keeps up with the disk when the clients are on other"
	echo "  machines is not measured here (one machine). On this machine: not met."
	echo "- Every accepted upload becomes an ingest job, which runs in the server while the"
	echo "  other uploads still stream in: the ingest competes with them for the cores and"
	echo "  the database (real use, but it weighs on both speed and latency). The same file"
	echo "  $N times: all jobs but one find the keys taken (DUP_KEY) and fail on the error"
	echo "  ratio. Jobs when all were done (small uploads, last round): $A_JOBS, after"
	echo "  $A_FJS s; the one that loaded most: $A_FJ."
	echo "- Latency: \`wrk -t2 -c10 --latency\` (closed loop: each connection sends its next"
	echo "  request when the last is answered, so it measures a saturated server) on"
	echo "  \`GET /v1/jobs/{id}\` of a finished 1,000-row job, from just before the $N uploads"
	echo "  start until the last is answered; a fresh server each round. Median round:"
	echo "  $LRQ requests ($LRPS/s, $LBAD not 2xx or failed) during uploads of $LUP s. Idle: 5 s,"
	echo "  $IRQ requests ($IRPS/s, $IBAD not 2xx or failed). wrk, curl, the server and its ingest"
	echo "  share the $NPROC cores. Upload answers in these rounds: $L_CODES."
	if [ "$DOB" = 1 ]; then
		echo "- Memory: VmHWM (peak resident set) from \`/proc/PID/status\` of the server, read when"
		echo "  the last upload is answered. For these two rows another process (\`sqlite3\`) held"
		echo "  the database's write lock while the uploads streamed in, so no job could start"
		echo "  before the reading: the server answers uploads without the database, and records"
		echo "  and runs their jobs once the lock is released; the numbers are the uploads' own."
		echo "  The last row is read again when every job is done: ingest included (two jobs at"
		echo "  a time, each with its SQLite page cache of 48 MiB, its batches and its sort runs)."
		echo "  Large uploads: $BIGX × $ROWS rows, $SIZEB bytes (generated, not"
		echo "  concatenated, so that one job is a real load of that size), $N at once in $B_S s"
		echo "  ($MB_B MB/s; answers: $B_CODES). Jobs: $B_JOBS, all done $B_FJS s after the last"
		echo "  answer; the one that loaded most: $B_FJ."
	fi
	[ -n "$SCALE_NOTE" ] && echo "- $SCALE_NOTE"
	true
} >"$OUT/serve.md"
cat "$OUT/serve.md"
