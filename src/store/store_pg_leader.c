/*
 * The PostgreSQL job store's leader lease and reaper: the same ops, with
 * the same meaning, as the SQLite store's (store_sqlite_leader.c), so both
 * pass the leader conformance suite (tests/store/leader_suite.c). The
 * lease is the one row of sluice.leader (migration 8 of src/pg/pg_migrate.c).
 *
 * PostgreSQL lets several processes write at once, so the row lock does
 * what SQLite's write lock does there: a takeover reads the row FOR UPDATE
 * (it waits for a leader's open transaction, whose fence renewed the lease,
 * and then sees the renewal), and the fence is one UPDATE ... WHERE term =
 * mine AND owner = me that holds the row until the leader's transaction
 * ends: a takeover either came first (the fence then matches nothing:
 * SL_TERM_LOST, the whole transaction rolls back) or waits for it.
 *
 * The reaper reads expired leases FOR NO KEY UPDATE SKIP LOCKED: a chunk
 * whose holder is committing right now (its fence holds the row) is passed
 * over, never requeued under it; the requeue itself is keyed on the epoch
 * read. `dead` is a C callback, so the owners are judged here, not in SQL.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_int.h"

static long changed(const PGresult *r)
{
	return r ? strtol(PQcmdTuples((PGresult *)r), NULL, 10) : 0;
}

/* The row of sluice.leader (FOR UPDATE when `lock`): 1 and *l, 0 none. */
/* The leader row, and the database's clock when now is not NULL. */
static int read_leader(pq_store *q, bool lock, sl_leader *l, int64_t *now)
{
	int rc;
	memset(l, 0, sizeof *l);
	PGresult *r = sl__pq_run(
	    q,
	    lock ? "SELECT term, coalesce(owner, ''), coalesce(expires_ms, 0), " PQ_NOW_MS
	           " FROM sluice.leader WHERE id = 1 FOR UPDATE"
	         : "SELECT term, coalesce(owner, ''), coalesce(expires_ms, 0), " PQ_NOW_MS
	           " FROM sluice.leader WHERE id = 1",
	    NULL, &rc);
	if (rc == 0 && PQntuples(r) == 1) {
		l->term = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		snprintf(l->owner, sizeof l->owner, "%s", PQgetvalue(r, 0, 1));
		l->expires_ms = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
		if (now)
			*now = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
		rc = 1;
	}
	PQclear(r);
	return rc;
}

int sl__pq_leader_get(sl_jobstore *s, sl_leader *l)
{
	return read_leader(pq_of_js(s), false, l, NULL);
}

int sl__pq_leader_acquire(sl_jobstore *s, const char *owner, int64_t ttl_ms, sl_owner_dead_fn dead,
                          sl_leader *l)
{
	pq_store *q = pq_of_js(s);
	int64_t now = 0; /* the database's clock, read with the row */
	sl_leader cur;
	int rc;
	/* the row exists from the first acquire on (term 0: nobody led yet) */
	PQclear(sl__pq_run(q,
	                   "INSERT INTO sluice.leader(id, term, expires_ms) VALUES(1, 0, 0) ON "
	                   "CONFLICT (id) DO NOTHING",
	                   NULL, &rc));
	if (rc < 0 || (rc = read_leader(q, true, &cur, &now)) < 0)
		return rc;
	bool mine = !strcmp(cur.owner, owner);
	bool vacant = cur.expires_ms <= now || !cur.owner[0] || (dead && dead(cur.owner));
	if (!mine && !vacant) {
		*l = cur;
		return 0;
	}
	int64_t term = mine ? cur.term : cur.term + 1;
	pq_params p = {.n = 0};
	sl__pq_int(&p, term);
	sl__pq_str(&p, owner);
	sl__pq_int(&p, now + ttl_ms);
	sl__pq_int(&p, now);
	PQclear(sl__pq_run(q,
	                   "UPDATE sluice.leader SET acquired_ms = CASE WHEN term = $1::bigint THEN"
	                   " acquired_ms ELSE $4::bigint END, term = $1::bigint, owner = $2,"
	                   " expires_ms = $3::bigint WHERE id = 1",
	                   &p, &rc));
	if (rc < 0)
		return rc;
	l->term = term;
	l->expires_ms = now + ttl_ms;
	snprintf(l->owner, sizeof l->owner, "%s", owner);
	return 1;
}

int sl__pq_leader_fence(sl_jobstore *s, sl_leader *l, int64_t ttl_ms)
{
	pq_store *q = pq_of_js(s);
	pq_params p = {.n = 0};
	int rc;
	sl__pq_int(&p, l->term);
	sl__pq_str(&p, l->owner);
	sl__pq_int(&p, ttl_ms);
	PGresult *r = sl__pq_run(q,
	                         "UPDATE sluice.leader SET expires_ms = " PQ_NOW_MS
	                         " + $3::bigint WHERE id = 1 AND term = $1::bigint AND owner = $2"
	                         " RETURNING expires_ms",
	                         &p, &rc);
	int64_t until = r && PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
	long n = changed(r);
	PQclear(r);
	if (rc < 0)
		return rc;
	if (n == 0) {
		sl_leader now;
		if (read_leader(q, false, &now, NULL) < 0)
			memset(&now, 0, sizeof now);
		return sl__pg_seterr(
		    q->pg, SL_TERM_LOST,
		    "term %lld of %s is over: the store is in term %lld, led by %s",
		    (long long)l->term, l->owner, (long long)now.term,
		    now.owner[0] ? now.owner : "nobody");
	}
	l->expires_ms = until;
	return 0;
}

int sl__pq_leader_release(sl_jobstore *s, const sl_leader *l)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_int(&p, l->term);
	sl__pq_str(&p, l->owner);
	PQclear(sl__pq_run(pq_of_js(s),
	                   "UPDATE sluice.leader SET expires_ms = 0 WHERE id = 1 AND term = "
	                   "$1::bigint AND owner = $2",
	                   &p, &rc));
	return rc;
}

int sl__pq_chunks_reap(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, int max_attempts,
                       int64_t backoff_ms, uint32_t limit, uint64_t *n)
{
	pq_store *q = pq_of_js(s);
	pq_params p = {.n = 0};
	int rc;
	*n = 0;
	if (!limit)
		return 0;
	(void)now_ms; /* leases run out on the database's clock (PQ_NOW_MS) */
	sl__pq_str(&p, dead ? "t" : "f");
	sl__pq_int(&p, limit);
	/* with `dead`, live leases are read (and locked briefly) too: the
	   Processing chunks of unfinished jobs are few, one per runner */
	PGresult *r = sl__pq_run(
	    q,
	    "SELECT c.job_id, c.seq, coalesce(c.lease_epoch, 0), coalesce(c.attempts, 0),"
	    " coalesce(c.owner, ''), coalesce(c.lease_expiry_ms, 0) > " PQ_NOW_MS
	    " FROM sluice.chunks c"
	    " JOIN sluice.jobs j ON j.id = c.job_id WHERE c.status = 'Processing'"
	    " AND j.status IN ('ChunksQueued', 'Processing')"
	    " AND ($1::boolean OR coalesce(c.lease_expiry_ms, 0) <= " PQ_NOW_MS ")"
	    " ORDER BY j.created_ms, c.job_id, c.seq LIMIT $2::bigint"
	    " FOR NO KEY UPDATE OF c SKIP LOCKED",
	    &p, &rc);
	for (int i = 0; rc == 0 && r && i < PQntuples(r); i++) {
		const char *owner = PQgetvalue(r, i, 4);
		if (PQgetvalue(r, i, 5)[0] == 't' && !(owner[0] && dead(owner)))
			continue; /* a live lease */
		uint32_t attempts = (uint32_t)strtoll(PQgetvalue(r, i, 3), NULL, 10);
		int64_t wait = sl__js_backoff_ms(backoff_ms, attempts, max_attempts);
		char msg[400];
		sl__js_reap_message(msg, sizeof msg, attempts, owner, max_attempts, wait);
		pq_params u = {.n = 0};
		sl__pq_str(&u, PQgetvalue(r, i, 0));
		sl__pq_str(&u, PQgetvalue(r, i, 1));
		sl__pq_str(&u, PQgetvalue(r, i, 2));
		sl__pq_int(&u, wait);
		sl__pq_str(&u, sl_error_name(SL_LEASE_LOST));
		sl__pq_str(&u, msg);
		PGresult *w = sl__pq_run(
		    q,
		    "UPDATE sluice.chunks SET status = 'Queued', lease_expiry_ms = NULL,"
		    " not_before_ms = " PQ_NOW_MS
		    " + $4::bigint, last_error = $5, last_message = $6"
		    " WHERE job_id "
		    "= $1"
		    " AND seq = $2::bigint AND coalesce(lease_epoch, 0) = $3::bigint AND status = "
		    "'Processing'",
		    &u, &rc);
		long moved = changed(w);
		PQclear(w);
		if (rc == 0 && moved) {
			sl_event ev = {PQgetvalue(r, i, 0),
			               strtoll(PQgetvalue(r, i, 1), NULL, 10),
			               "chunk_requeued",
			               0,
			               0,
			               0,
			               0,
			               msg};
			rc = sl_js_event_insert(s, &ev);
			(*n)++;
		}
	}
	PQclear(r);
	return rc;
}

int sl__pq_chunks_due(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, uint64_t *n)
{
	int rc;
	*n = 0;
	(void)now_ms; /* the database's clock (PQ_NOW_MS) */
	PGresult *r =
	    sl__pq_run(pq_of_js(s),
	               "SELECT c.status = 'Queued' OR coalesce(c.lease_expiry_ms, 0) <= " PQ_NOW_MS
	               ", coalesce(c.owner, '') FROM sluice.chunks c JOIN"
	               " sluice.jobs j ON j.id = c.job_id WHERE c.status IN ('Queued',"
	               " 'Processing') AND j.status IN ('ChunksQueued', 'Processing')"
	               " AND NOT EXISTS (SELECT 1 FROM sluice.cancels x WHERE x.job_id ="
	               " c.job_id)",
	               NULL, &rc);
	for (int i = 0; rc == 0 && r && i < PQntuples(r); i++) {
		const char *owner = PQgetvalue(r, i, 1);
		if (PQgetvalue(r, i, 0)[0] == 't' || (owner[0] && dead && dead(owner)))
			(*n)++;
	}
	PQclear(r);
	return rc;
}
