/*
 * The SQLite store's chunk leases: claims, renewals, the fence of a chunk's
 * commit, giving a chunk back, counters as increments, and the count of a
 * job's open and running chunks. Every process that runs chunks (sluice
 * ingest, sluice worker, the service's runners) goes through these, so
 * several of them can share one job.
 *
 * The lease lives on the chunk's row: owner, lease_expiry_ms, lease_epoch
 * (columns added to sluice_chunks by ALTER TABLE when a database lacks
 * them, like the job columns). A claim bumps the epoch; the commit of the
 * chunk first updates the row WHERE lease_epoch = mine AND owner = me, and
 * when that matches nothing the whole transaction (rows, rejects, counters)
 * rolls back: a process paused past its lease can never commit. The fence
 * is on the epoch, not on the clock: a lease that runs out while its chunk
 * commits is still good if nobody claimed the chunk meanwhile (in SQLite
 * nobody can: the commit holds the write lock).
 *
 * Everything here runs inside the caller's transaction (BEGIN IMMEDIATE:
 * the write lock, so two claims never pick the same chunk).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite_int.h"

/* Columns added for leases (sl__sq_lease_upgrade): on sluice_chunks, and
   last, on sluice_rejects, the record of the row that held the key of a
   DUP_KEY reject of the same job (sl__sq_reject_holder); that last one
   tells whether a database has them all. */
static const char *const lease_cols[] = {"owner TEXT", "lease_expiry_ms INTEGER",
                                         "lease_epoch INTEGER", "holder INTEGER"};

int sl__sq_lease_upgrade(sq_store *q)
{
	sqlite3_stmt *st = NULL;
	int have = 0, rc;
	if (sqlite3_prepare_v2(
	        q->db,
	        "SELECT count(*) FROM pragma_table_info('sluice_rejects') WHERE name "
	        "= 'holder'",
	        -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		have = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (have)
		return 0;
	if ((rc = sl__sq_exec(q, "BEGIN IMMEDIATE")) < 0)
		return rc;
	for (size_t i = 0; i < SL_ARRAY_LEN(lease_cols); i++) {
		char sql[128];
		snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s",
		         i + 1 < SL_ARRAY_LEN(lease_cols) ? "sluice_chunks" : "sluice_rejects",
		         lease_cols[i]);
		/* another process may have added it meanwhile */
		if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK &&
		    !strstr(sqlite3_errmsg(q->db), "duplicate column")) {
			rc = sl__sq_map_rc(q, SQLITE_ERROR);
			sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
	}
	if ((rc = sl__sq_exec(q, "CREATE INDEX IF NOT EXISTS sluice_rejects_holder ON "
	                         "sluice_rejects(job_id, holder) WHERE holder IS NOT NULL")) < 0) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return sl__sq_exec(q, "COMMIT");
}

static void bind_lease_key(sqlite3_stmt *st, int p, const sl_lease *l)
{
	sqlite3_bind_text(st, p, l->job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, p + 1, l->seq);
	sqlite3_bind_int64(st, p + 2, l->epoch);
	sqlite3_bind_text(st, p + 3, l->owner, -1, SQLITE_STATIC);
}

/* Run a prepared UPDATE; 0 when it changed a row, SL_LEASE_LOST when none. */
static int step_changed(sq_store *q, sqlite3_stmt *st)
{
	int rc = sl__sq_map_rc(q, sqlite3_step(st));
	if (rc == 0 && sqlite3_changes(q->db) == 0)
		rc = SL_LEASE_LOST;
	return rc;
}

int sl__sq_chunk_claim(sl_jobstore *s, const char *job_id, const char *owner, int64_t ttl_ms,
                       sl_lease *l)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *sel, *upd, *job;
	int64_t now = sl_now_ms();
	/* Queued only, its backoff passed: an expired lease is the reaper's
	   (store_sqlite_leader.c), which queues the chunk again */
	int rc = sl__sq_prep(
	    q,
	    "SELECT c.job_id, c.seq, coalesce(c.lease_epoch, 0), c.attempts FROM sluice_chunks c"
	    " JOIN sluice_jobs j ON j.id = c.job_id"
	    " WHERE (?1 IS NULL OR c.job_id = ?1) AND c.status = 'Queued'"
	    " AND coalesce(c.not_before_ms, 0) <= ?3"
	    " AND (j.status IN ('ChunksQueued', 'Processing')"
	    " OR (?1 IS NOT NULL AND j.status = 'Chunking'))"
	    " AND NOT EXISTS (SELECT 1 FROM sluice_cancels x WHERE x.job_id = c.job_id)"
	    " ORDER BY j.created_ms, j.id, (c.seq * ?2) % 1000003 LIMIT 1",
	    &q->claim_sel);
	if (rc < 0)
		return rc;
	sel = q->claim_sel;
	sqlite3_bind_null(sel, 1);
	if (job_id)
		sqlite3_bind_text(sel, 1, job_id, -1, SQLITE_STATIC);
	/* Test only: SLUICE_TEST_CLAIM_ORDER=M claims a job's chunks in the
	   order of (seq * M) mod 1000003 (a permutation), so chunks commit out
	   of file order in one process (docs/ingest.md, Faults). */
	const char *perm = getenv("SLUICE_TEST_CLAIM_ORDER");
	long m = perm ? strtol(perm, NULL, 10) % 1000003 : 1;
	sqlite3_bind_int64(sel, 2, m > 0 ? m : 1);
	sqlite3_bind_int64(sel, 3, now);
	int r = sqlite3_step(sel);
	rc = r == SQLITE_ROW ? 1 : sl__sq_map_rc(q, r);
	if (rc == 1) {
		memset(l, 0, sizeof *l);
		snprintf(l->job_id, sizeof l->job_id, "%s",
		         (const char *)sqlite3_column_text(sel, 0));
		l->seq = (uint32_t)sqlite3_column_int64(sel, 1);
		l->epoch = sqlite3_column_int64(sel, 2) + 1;
		l->expires_ms = now + ttl_ms;
		l->attempts = (uint32_t)sqlite3_column_int64(sel, 3) + 1;
		snprintf(l->owner, sizeof l->owner, "%s", owner);
	}
	sqlite3_reset(sel); /* done reading before writing the same table */
	if (rc != 1)
		return rc;
	rc = sl__sq_prep(q,
	                 "UPDATE sluice_chunks SET status = 'Processing', attempts = attempts + "
	                 "1, owner = ?5, lease_expiry_ms = ?6, lease_epoch = ?3"
	                 " WHERE job_id = ?1 AND seq = ?2 AND coalesce(lease_epoch, 0) = ?3 - 1",
	                 &q->claim_upd);
	if (rc < 0)
		return rc;
	upd = q->claim_upd;
	sqlite3_bind_text(upd, 1, l->job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(upd, 2, l->seq);
	sqlite3_bind_int64(upd, 3, l->epoch);
	sqlite3_bind_text(upd, 5, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(upd, 6, l->expires_ms);
	rc = step_changed(q, upd); /* cannot fail to match: we hold the write lock */
	sqlite3_reset(upd);
	if (rc < 0)
		return rc;
	rc = sl__sq_prep(q,
	                 "UPDATE sluice_jobs SET status = 'Processing', started_ms = CASE WHEN"
	                 " coalesce(started_ms, 0) = 0 THEN ?2 ELSE started_ms END, updated_ms "
	                 "= ?2 WHERE id = ?1 AND status = 'ChunksQueued'",
	                 &q->claim_job);
	if (rc < 0)
		return rc;
	job = q->claim_job;
	sqlite3_bind_text(job, 1, l->job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(job, 2, now);
	rc = sl__sq_step_done(q, job);
	return rc < 0 ? rc : 1;
}

int sl__sq_lease_renew(sl_jobstore *s, const sl_lease *l, int64_t ttl_ms)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(
	    q, sqlite3_prepare_v2(
	           q->db,
	           "UPDATE sluice_chunks SET lease_expiry_ms = ?5 WHERE job_id = ?1 AND "
	           "seq = ?2 AND lease_epoch = ?3 AND owner = ?4 AND status = 'Processing'",
	           -1, &st, NULL));
	if (rc == 0) {
		bind_lease_key(st, 1, l);
		sqlite3_bind_int64(st, 5, sl_now_ms() + ttl_ms);
		rc = step_changed(q, st);
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_lease_fence(sl_jobstore *s, const sl_lease *l)
{
	sq_store *q = sq_of_js(s);
	/* a write, not a read: in a database with row locks (PostgreSQL) it
	   also locks the row until the commit */
	int rc = sl__sq_prep(
	    q,
	    "UPDATE sluice_chunks SET owner = owner WHERE job_id = ?1 AND seq = ?2 AND "
	    "lease_epoch = ?3 AND owner = ?4 AND status = 'Processing' AND NOT EXISTS "
	    "(SELECT 1 FROM sluice_jobs j WHERE j.id = ?1 AND j.status IN ('Succeeded', "
	    "'PartiallySucceeded', 'Failed', 'RolledBack', 'Cancelled'))",
	    &q->lease_fence);
	if (rc < 0)
		return rc;
	bind_lease_key(q->lease_fence, 1, l);
	rc = step_changed(q, q->lease_fence);
	sqlite3_reset(q->lease_fence);
	if (rc == SL_LEASE_LOST)
		snprintf(
		    q->err, sizeof q->err,
		    "chunk %u of job %s: the lease of epoch %lld held by %s was taken over, or the "
		    "job finished",
		    l->seq, l->job_id, (long long)l->epoch, l->owner);
	return rc;
}

int sl__sq_lease_release(sl_jobstore *s, const sl_lease *l)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(
	    q,
	    sqlite3_prepare_v2(q->db,
	                       "UPDATE sluice_chunks SET status = 'Queued', lease_expiry_ms = "
	                       "NULL, attempts = max(attempts - 1, 0)"
	                       " WHERE job_id = ?1 AND seq = ?2 AND lease_epoch = ?3 AND owner = ?4"
	                       " AND status = 'Processing'",
	                       -1, &st, NULL));
	if (rc == 0) {
		bind_lease_key(st, 1, l);
		rc = sl__sq_map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_chunks_open(sl_jobstore *s, const char *job_id, sl_owner_dead_fn dead, uint64_t *open,
                       uint64_t *live)
{
	sq_store *q = sq_of_js(s);
	int64_t now = sl_now_ms();
	*open = *live = 0;
	int rc =
	    sl__sq_prep(q,
	                "SELECT status, owner, lease_expiry_ms FROM sluice_chunks WHERE job_id "
	                "= ? AND status IN ('Queued', 'Processing')",
	                &q->chunks_open);
	sqlite3_stmt *st = q->chunks_open;
	if (rc == 0)
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	while (rc == 0) {
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW) {
			rc = sl__sq_map_rc(q, r);
			break;
		}
		(*open)++;
		const char *status = (const char *)sqlite3_column_text(st, 0);
		const char *owner = (const char *)sqlite3_column_text(st, 1);
		if (!strcmp(status, "Processing") && sqlite3_column_type(st, 2) != SQLITE_NULL &&
		    sqlite3_column_int64(st, 2) > now && !(owner && dead && dead(owner)))
			(*live)++;
	}
	if (st)
		sqlite3_reset(st);
	return rc;
}

int sl__sq_chunk_add(sl_jobstore *s, const char *job_id, uint32_t seq, int64_t loaded,
                     int64_t rejected)
{
	sq_store *q = sq_of_js(s);
	int rc =
	    sl__sq_prep(q,
	                "UPDATE sluice_chunks SET rows_loaded = rows_loaded + ?3, rows_inserted = "
	                "COALESCE(rows_inserted, 0) + ?3, rows_rejected = rows_rejected + ?4"
	                " WHERE job_id = ?1 AND seq = ?2",
	                &q->chunk_add);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(q->chunk_add, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->chunk_add, 2, seq);
	sqlite3_bind_int64(q->chunk_add, 3, loaded);
	sqlite3_bind_int64(q->chunk_add, 4, rejected);
	return sl__sq_step_done(q, q->chunk_add);
}

int sl__sq_reject_holder(sl_jobstore *s, uint64_t holder)
{
	sq_store *q = sq_of_js(s);
	int rc =
	    sl__sq_prep(q, "UPDATE sluice_rejects SET holder = ? WHERE id = last_insert_rowid()",
	                &q->reject_holder);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(q->reject_holder, 1, (int64_t)holder);
	return sl__sq_step_done(q, q->reject_holder);
}

int sl__sq_rejects_rehold(sl_jobstore *s, const char *job_id, uint64_t from, uint64_t to,
                          const char *from_text, const char *to_text)
{
	sq_store *q = sq_of_js(s);
	int rc =
	    sl__sq_prep(q,
	                "UPDATE sluice_rejects SET holder = ?3, message = replace(message, ?4, ?5)"
	                " WHERE job_id = ?1 AND holder = ?2",
	                &q->rejects_rehold);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = q->rejects_rehold;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)from);
	sqlite3_bind_int64(st, 3, (int64_t)to);
	sqlite3_bind_text(st, 4, from_text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, to_text, -1, SQLITE_STATIC);
	return sl__sq_step_done(q, st);
}
