/*
 * The SQLite store's leader lease and reaper (jobstore.h; docs/scaling.md).
 *
 * The leader lease is the one row of sluice_leader (id 1): its term, owner
 * and expiry. Taking it over bumps the term; every leader-only transaction
 * (the reaper, retention) starts with the fence, an UPDATE ... WHERE term =
 * mine AND owner = me that also renews it, and rolls back whole when that
 * matches nothing: a leader paused past its lease (SIGSTOP, a stall) writes
 * nothing once another took over, as a chunk's holder commits nothing once
 * its chunk's epoch moved (store_sqlite_lease.c).
 *
 * The reaper requeues chunks whose lease ran out (or whose holder is a
 * dead process of this host) with their attempts kept and a backoff in
 * chunks.not_before_ms, which claims honour. The next claim of a chunk
 * whose attempts are used up fails it (the engine does, with the job's
 * context, so the job's counters and fan-in are those of any failed chunk).
 *
 * Everything runs inside the caller's transaction (BEGIN IMMEDIATE).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite_int.h"

int sl__sq_leader_upgrade(sq_store *q)
{
	static const char *const cols[] = {"not_before_ms INTEGER"};
	int rc;
	if (sl__sq_count(q, "SELECT count(*) FROM sqlite_master WHERE name = 'sluice_leader'"))
		return 0;
	if ((rc = sl__sq_exec(q, "BEGIN IMMEDIATE")) < 0)
		return rc;
	if ((rc = sl__sq_add_columns(q, "sluice_chunks", cols, SL_ARRAY_LEN(cols))) < 0 ||
	    (rc = sl__sq_exec(q, "CREATE TABLE IF NOT EXISTS sluice_leader(id INTEGER PRIMARY KEY"
	                         " CHECK (id = 1), term INTEGER NOT NULL, owner TEXT,"
	                         " expires_ms INTEGER, acquired_ms INTEGER)")) < 0) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return sl__sq_exec(q, "COMMIT");
}

/* The row of sluice_leader: 1 and *l, 0 none. */
static int read_leader(sq_store *q, sl_leader *l)
{
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(
	    q, sqlite3_prepare_v2(q->db,
	                          "SELECT term, coalesce(owner, ''), coalesce(expires_ms, 0) FROM "
	                          "sluice_leader WHERE id = 1",
	                          -1, &st, NULL));
	memset(l, 0, sizeof *l);
	if (rc == 0) {
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			l->term = sqlite3_column_int64(st, 0);
			snprintf(l->owner, sizeof l->owner, "%s",
			         (const char *)sqlite3_column_text(st, 1));
			l->expires_ms = sqlite3_column_int64(st, 2);
			rc = 1;
		} else {
			rc = sl__sq_map_rc(q, r);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_leader_get(sl_jobstore *s, sl_leader *l)
{
	return read_leader(sq_of_js(s), l);
}

int sl__sq_leader_acquire(sl_jobstore *s, const char *owner, int64_t ttl_ms, sl_owner_dead_fn dead,
                          sl_leader *l)
{
	sq_store *q = sq_of_js(s);
	int64_t now = sl_now_ms();
	sl_leader cur;
	int rc = read_leader(q, &cur);
	if (rc < 0)
		return rc;
	bool mine = rc == 1 && !strcmp(cur.owner, owner);
	bool vacant =
	    rc == 0 || cur.expires_ms <= now || !cur.owner[0] || (dead && dead(cur.owner));
	if (!mine && !vacant) {
		*l = cur;
		return 0;
	}
	sqlite3_stmt *st = NULL;
	/* we hold the write lock: nobody moves the term between read and write */
	rc = sl__sq_map_rc(
	    q,
	    sqlite3_prepare_v2(q->db,
	                       "INSERT INTO sluice_leader(id, term, owner, expires_ms, acquired_ms)"
	                       " VALUES(1, ?1, ?2, ?3, ?4) ON CONFLICT(id) DO UPDATE SET term ="
	                       " excluded.term, owner = excluded.owner, expires_ms ="
	                       " excluded.expires_ms, acquired_ms = CASE WHEN term ="
	                       " excluded.term THEN acquired_ms ELSE excluded.acquired_ms END",
	                       -1, &st, NULL));
	if (rc == 0) {
		int64_t term = mine ? cur.term : cur.term + 1;
		sqlite3_bind_int64(st, 1, term);
		sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now + ttl_ms);
		sqlite3_bind_int64(st, 4, now);
		rc = sl__sq_map_rc(q, sqlite3_step(st));
		if (rc == 0) {
			l->term = term;
			l->expires_ms = now + ttl_ms;
			snprintf(l->owner, sizeof l->owner, "%s", owner);
			rc = 1;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_leader_fence(sl_jobstore *s, sl_leader *l, int64_t ttl_ms)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int64_t until = sl_now_ms() + ttl_ms;
	int rc =
	    sl__sq_map_rc(q, sqlite3_prepare_v2(q->db,
	                                        "UPDATE sluice_leader SET expires_ms = ?3 WHERE "
	                                        "id = 1 AND term = ?1 AND owner = ?2",
	                                        -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, l->term);
		sqlite3_bind_text(st, 2, l->owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, until);
		rc = sl__sq_map_rc(q, sqlite3_step(st));
		if (rc == 0 && sqlite3_changes(q->db) == 0) {
			sl_leader now;
			rc = SL_TERM_LOST;
			if (read_leader(q, &now) < 0)
				now.term = 0, now.owner[0] = 0;
			snprintf(q->err, sizeof q->err,
			         "term %lld of %s is over: the store is in term %lld, led by %s",
			         (long long)l->term, l->owner, (long long)now.term,
			         now.owner[0] ? now.owner : "nobody");
		} else if (rc == 0) {
			l->expires_ms = until;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_leader_release(sl_jobstore *s, const sl_leader *l)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc =
	    sl__sq_map_rc(q, sqlite3_prepare_v2(q->db,
	                                        "UPDATE sluice_leader SET expires_ms = 0 WHERE "
	                                        "id = 1 AND term = ?1 AND owner = ?2",
	                                        -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, l->term);
		sqlite3_bind_text(st, 2, l->owner, -1, SQLITE_STATIC);
		rc = sl__sq_map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return rc;
}

/* One chunk the reaper takes back. */
typedef struct reaped {
	char job_id[SL_JOB_ID_LEN];
	uint32_t seq, attempts;
	int64_t epoch;
	char owner[160];
} reaped;

int sl__sq_chunks_reap(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, int max_attempts,
                       int64_t backoff_ms, uint32_t limit, uint64_t *n)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *sel = NULL, *upd = NULL;
	reaped *rs = NULL;
	size_t nr = 0;
	*n = 0;
	if (!limit)
		return 0;
	if (!(rs = calloc(limit, sizeof *rs)))
		return SL_NOMEM;
	/* every lease not expired is read too when `dead` may void it; the
	   Processing chunks of unfinished jobs are few (one per runner) */
	int rc = sl__sq_map_rc(
	    q, sqlite3_prepare_v2(
	           q->db,
	           "SELECT c.job_id, c.seq, coalesce(c.lease_epoch, 0), c.attempts,"
	           " coalesce(c.owner, ''), coalesce(c.lease_expiry_ms, 0) FROM sluice_chunks c"
	           " JOIN sluice_jobs j ON j.id = c.job_id WHERE c.status = 'Processing'"
	           " AND j.status IN ('ChunksQueued', 'Processing')"
	           " AND (?1 OR coalesce(c.lease_expiry_ms, 0) <= ?2) ORDER BY j.created_ms, c.seq",
	           -1, &sel, NULL));
	if (rc < 0)
		goto out;
	sqlite3_bind_int(sel, 1, dead != NULL);
	sqlite3_bind_int64(sel, 2, now_ms);
	while (nr < limit) {
		int r = sqlite3_step(sel);
		if (r != SQLITE_ROW) {
			rc = sl__sq_map_rc(q, r);
			break;
		}
		const char *owner = (const char *)sqlite3_column_text(sel, 4);
		if (sqlite3_column_int64(sel, 5) > now_ms && !(owner[0] && dead && dead(owner)))
			continue; /* a live lease */
		reaped *x = &rs[nr++];
		snprintf(x->job_id, sizeof x->job_id, "%s",
		         (const char *)sqlite3_column_text(sel, 0));
		x->seq = (uint32_t)sqlite3_column_int64(sel, 1);
		x->epoch = sqlite3_column_int64(sel, 2);
		x->attempts = (uint32_t)sqlite3_column_int64(sel, 3);
		snprintf(x->owner, sizeof x->owner, "%s", owner);
	}
	sqlite3_finalize(sel);
	sel = NULL;
	if (rc < 0)
		goto out;
	rc = sl__sq_map_rc(
	    q,
	    sqlite3_prepare_v2(q->db,
	                       "UPDATE sluice_chunks SET status = 'Queued', lease_expiry_ms ="
	                       " NULL, not_before_ms = ?4, last_error = ?5, last_message = ?6"
	                       " WHERE job_id = ?1 AND seq = ?2 AND coalesce(lease_epoch, 0) = ?3"
	                       " AND status = 'Processing'",
	                       -1, &upd, NULL));
	for (size_t i = 0; rc == 0 && i < nr; i++) {
		reaped *x = &rs[i];
		int64_t wait = sl__js_backoff_ms(backoff_ms, x->attempts, max_attempts);
		char msg[400];
		sl__js_reap_message(msg, sizeof msg, x->attempts, x->owner, max_attempts, wait);
		sqlite3_bind_text(upd, 1, x->job_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(upd, 2, x->seq);
		sqlite3_bind_int64(upd, 3, x->epoch);
		sqlite3_bind_int64(upd, 4, now_ms + wait);
		sqlite3_bind_text(upd, 5, sl_error_name(SL_LEASE_LOST), -1, SQLITE_STATIC);
		sqlite3_bind_text(upd, 6, msg, -1, SQLITE_TRANSIENT);
		rc = sl__sq_map_rc(q, sqlite3_step(upd));
		bool moved = rc == 0 && sqlite3_changes(q->db) > 0;
		sqlite3_reset(upd);
		if (moved) {
			sl_event ev = {x->job_id, x->seq, "chunk_requeued", 0, 0, 0, 0, msg};
			rc = sl__sq_event_insert(s, &ev);
			(*n)++;
		}
	}
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	free(rs);
	return rc;
}

int sl__sq_chunks_due(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, uint64_t *n)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	*n = 0;
	int rc = sl__sq_map_rc(
	    q, sqlite3_prepare_v2(
	           q->db,
	           "SELECT c.status, coalesce(c.owner, ''), coalesce(c.lease_expiry_ms, 0) FROM"
	           " sluice_chunks c JOIN sluice_jobs j ON j.id = c.job_id"
	           " WHERE c.status IN ('Queued', 'Processing')"
	           " AND j.status IN ('ChunksQueued', 'Processing')"
	           " AND NOT EXISTS (SELECT 1 FROM sluice_cancels x WHERE x.job_id = c.job_id)",
	           -1, &st, NULL));
	while (rc == 0) {
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW) {
			rc = sl__sq_map_rc(q, r);
			break;
		}
		const char *owner = (const char *)sqlite3_column_text(st, 1);
		if (!strcmp((const char *)sqlite3_column_text(st, 0), "Queued") ||
		    sqlite3_column_int64(st, 2) <= now_ms || (owner[0] && dead && dead(owner)))
			(*n)++;
	}
	sqlite3_finalize(st);
	return rc;
}
