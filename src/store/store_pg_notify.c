/*
 * News of work for idle workers on PostgreSQL (jobstore.h idle_wait;
 * docs/scaling.md): triggers of migration 9 NOTIFY channel `sluice` when a
 * chunk is queued (planned, requeued by the reaper, given back, retried),
 * a job becomes ready to claim, or a job ends; an idle runner LISTENs on
 * its own connection and waits on the connection's socket, so it claims a
 * new job's chunks at once instead of at its next poll. The caller keeps a
 * polling fallback (chunks whose backoff ran out send no news) and adds
 * jitter, so the workers one NOTIFY wakes do not claim all at once.
 *
 * LISTEN is part of the session's settings (sl__pg_session_sql), so a
 * reconnect (a server restart) listens again; news sent while the
 * connection was down is lost, which the polling fallback covers.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/store_pg_int.h"

/* Drop the notifications libpq holds; how many there were. */
static int drain(PGconn *cn)
{
	int n = 0;
	PGnotify *m;
	while ((m = PQnotifies(cn))) {
		n++;
		PQfreemem(m);
	}
	return n;
}

int sl__pq_idle_wait(sl_jobstore *s, int64_t timeout_ms)
{
	pq_store *q = pq_of_js(s);
	int rc;
	if (!q->listening) {
		char sql[sizeof q->session + 32];
		snprintf(sql, sizeof sql, "%s; LISTEN sluice", q->session);
		if ((rc = sl__pg_session_sql(q->pg, sql)) < 0)
			return rc;
		q->listening = true;
		return 0; /* the caller looks for work now: news from here on wakes it */
	}
	PGconn *cn = sl__pg_conn(q->pg);
	if (!cn || PQstatus(cn) != CONNECTION_OK) {
		/* lost: the next statement reconnects (and listens again); wait
		   as a poll would */
		struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
		return 0;
	}
	if (PQconsumeInput(cn) && drain(cn))
		return 1; /* arrived during the last statements */
	struct pollfd p = {.fd = PQsocket(cn), .events = POLLIN};
	int64_t until = sl_now_ms() + timeout_ms;
	for (;;) {
		int64_t left = until - sl_now_ms();
		if (left <= 0)
			return 0;
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		/* readable: news, or the connection closed (the next statement
		   finds out and reconnects) */
		if (!PQconsumeInput(cn))
			return 0;
		if (drain(cn))
			return 1;
	}
}
