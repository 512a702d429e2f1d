# Shared by the end-to-end tests of `sluice serve` (sourced, not run), on
# top of tests/lib/harness.sh (T, ok/bad/check/finish, sl, skip): starting
# the real server on a port it chooses itself, stopping it (a crash or a
# sanitizer report on SIGTERM fails the test), status codes with curl,
# waiting for a job to finish. The sourcing script sets S (the sluice
# binary) first.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/harness.sh"
PID=
STOPPED=0
SERVE_LOG=
SERVE_FROM=0
# stop_server: SIGTERM the server and wait; its exit status in STOPPED (0
# when none was running). Any other status is a failed check (a crash, or
# a sanitizer report: the sanitizers exit non-zero), and so is a sanitizer
# banner in what this server wrote to its log.
stop_server() {
	STOPPED=0
	if [ -n "$PID" ]; then
		kill -TERM "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
		STOPPED=$?
		if [ "$STOPPED" != 0 ]; then
			bad "the server exited with status $STOPPED on SIGTERM (a crash or a sanitizer report)"
			[ -n "$SERVE_LOG" ] && server_log | grep -v '^{' | head -60
		fi
		scan_server "stopped"
		PID=
	fi
}
# kill_server: kill -9 on purpose (no report can come at SIGKILL; the log
# of this server is scanned for what came before)
kill_server() {
	if [ -n "$PID" ]; then
		kill -9 "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
		scan_server "killed"
		PID=
	fi
}
# what the current server wrote to its log (a log may hold several starts)
server_log() { tail -c +$((SERVE_FROM + 1)) "$SERVE_LOG" 2>/dev/null; }
scan_server() {
	[ -n "$SERVE_LOG" ] || return 0
	server_log >"$H/server.err"
	sanitizer_scan 0 "$H/server.err" "sluice serve (pid $PID, $1)"
}
harness_hooks() { stop_server; }
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# serve LOG [options...]: start the server on 127.0.0.1, port 0 (the kernel
# chooses), read the port it bound from its "listening on" line (PORT, B),
# and check it answers /healthz/live. Options may include --config (the
# command line's --listen wins over the file's).
serve() {
	local log=$1 i line
	shift
	SERVE_LOG=$log
	touch "$log"
	SERVE_FROM=$(stat -c %s "$log")
	PORT=
	"$S" serve --listen 127.0.0.1:0 "$@" 2>>"$log" &
	PID=$!
	for ((i = 0; i < 1500; i++)); do
		line=$(server_log | grep -o -m1 '"msg":"listening on [0-9.]*:[0-9]*')
		if [ -n "$line" ]; then
			PORT=${line##*:}
			break
		fi
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID"
			STOPPED=$?
			scan_server "exited at start"
			PID=
			bad "the server exited at start with status $STOPPED: $(server_log | tail -5)"
			return 1
		fi
		sleep 0.02
	done
	B="http://127.0.0.1:$PORT"
	if [ -z "$PORT" ] || [ "$(curl -s -o /dev/null -w '%{http_code}' "$B/healthz/live")" != 200 ]; then
		bad "server did not start: $(server_log | tail -5)"
		return 1
	fi
	return 0
}
# code METHOD URL [curl args]: the status code; body in $T/body, headers in $T/hdr
# (HEAD is sent with -I, so curl does not wait for a body)
code() {
	local m=$1 u=$2
	shift 2
	if [ "$m" = HEAD ]; then
		curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -I "$@" "$u"
	else
		curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X "$m" "$@" "$u"
	fi
}
# wait_final JOB [curl args]: its final status (or the last one seen after 60 s)
wait_final() {
	local id=$1 st=
	shift
	for _ in $(seq 1 600); do
		st=$(curl -s "$@" "$B/v1/jobs/$id" | jq_ "d['status']" 2>/dev/null)
		case "$st" in Succeeded | PartiallySucceeded | Failed | Cancelled | RolledBack) echo "$st"; return ;; esac
		sleep 0.1
	done
	echo "$st"
}
# metric NAME: its value in $B/metrics now (NAME with its labels, as written)
metric() { curl -s "$B/metrics" | awk -v n="$1" 'index($0, n " ") == 1 { print $NF; f = 1 } END { if (!f) print 0 }'; }
