/*
 * The PostgreSQL job store's chunk leases: the same ops, with the same
 * meaning, as the SQLite store's (store_sqlite_lease.c), so both pass the
 * lease conformance suite (tests/store/lease_suite.c). The lease lives on
 * the chunk's row: owner, lease_expiry_ms, lease_epoch (migration 3 of
 * src/pg/pg_migrate.c, with rejects.holder).
 *
 * Unlike SQLite, PostgreSQL lets several processes write at once, so the
 * claim cannot rely on a database-wide write lock: it is ONE statement that
 * picks the first claimable chunk FOR NO KEY UPDATE SKIP LOCKED (a chunk
 * another claimer or a committing holder has locked is passed over, not
 * waited for), bumps its epoch and marks its job Processing (issue 12).
 * That last is SKIP LOCKED too: a job row locked by another claim being
 * made is being marked by it, and waiting for it would make the first
 * claims of a new job queue up behind each other.
 * The fence is one UPDATE ... WHERE lease_epoch = mine AND owner = me: it
 * row-locks the chunk until the commit, so a claim that comes later skips
 * it, and one that came first (a new epoch, committed or not) makes it
 * match nothing once its lock is released: SL_LEASE_LOST, and the caller
 * rolls the whole transaction back.
 *
 * A claim takes Queued chunks only (their backoff passed): an expired
 * lease is the reaper's (store_pg_leader.c), which queues the chunk again.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_int.h"

/* Rows a command changed (its PQcmdTuples). */
static long changed(const PGresult *r)
{
	return r ? strtol(PQcmdTuples((PGresult *)r), NULL, 10) : 0;
}

/* The lease's key as $1..$4: job, chunk, epoch, owner. */
static void bind_lease_key(pq_params *p, const sl_lease *l)
{
	sl__pq_str(p, l->job_id);
	sl__pq_int(p, l->seq);
	sl__pq_int(p, l->epoch);
	sl__pq_str(p, l->owner);
}

/* Run an UPDATE keyed on a lease: 0 when it changed a row, SL_LEASE_LOST
   when none, or the failure's code. */
static int run_changed(pq_store *q, const char *sql, const pq_params *p)
{
	int rc;
	PGresult *r = sl__pq_run(q, sql, p, &rc);
	if (rc == 0 && changed(r) == 0)
		rc = SL_LEASE_LOST;
	PQclear(r);
	return rc;
}

int sl__pq_chunk_claim(sl_jobstore *s, const char *job_id, const char *owner, int64_t ttl_ms,
                       sl_lease *l)
{
	pq_store *q = pq_of_js(s);
	pq_params p = {.n = 0};
	int64_t now = sl_now_ms();
	int rc = 0;
	PGresult *r = NULL;
	/* Test only: SLUICE_TEST_CLAIM_ORDER=M, as in the SQLite store (claims
	   in the order of (seq * M) mod 1000003; docs/ingest.md, Faults). */
	const char *perm = getenv("SLUICE_TEST_CLAIM_ORDER");
	long m = perm ? strtol(perm, NULL, 10) % 1000003 : 1;
	sl__pq_str(&p, job_id);
	sl__pq_int(&p, now);
	sl__pq_int(&p, m > 0 ? m : 1);
	sl__pq_str(&p, owner);
	sl__pq_int(&p, ttl_ms);
	r = sl__pq_run(
	    q,
	    "WITH pick AS (SELECT c.job_id, c.seq FROM sluice.chunks c JOIN sluice.jobs j ON j.id "
	    "= c.job_id"
	    " WHERE ($1::text IS NULL OR c.job_id = $1::text)"
	    " AND c.status = 'Queued' AND coalesce(c.not_before_ms, 0) <= " PQ_NOW_MS
	    " AND (j.status IN ('ChunksQueued', 'Processing')"
	    " OR ($1::text IS NOT NULL AND j.status = 'Chunking'))"
	    " AND NOT EXISTS (SELECT 1 FROM sluice.cancels x WHERE x.job_id = c.job_id)"
	    " ORDER BY j.created_ms, j.id, (c.seq * $3::bigint) % 1000003 LIMIT 1"
	    " FOR NO KEY UPDATE OF c SKIP LOCKED),"
	    " took AS (UPDATE sluice.chunks k SET status = 'Processing', attempts = "
	    "coalesce(k.attempts, 0) + 1, owner = $4::text, lease_expiry_ms = " PQ_NOW_MS
	    " + $5::bigint,"
	    " lease_epoch = coalesce(k.lease_epoch, 0) + 1 FROM pick WHERE k.job_id = pick.job_id"
	    " AND k.seq = pick.seq RETURNING k.job_id, k.seq, k.lease_epoch, k.attempts,"
	    " k.lease_expiry_ms),"
	    " job AS (UPDATE sluice.jobs SET status = 'Processing', started_ms = CASE WHEN"
	    " coalesce(started_ms, 0) = 0 THEN $2::bigint ELSE started_ms END, updated_ms = "
	    "$2::bigint WHERE id = (SELECT j.id FROM sluice.jobs j, took WHERE j.id = took.job_id"
	    " AND j.status = 'ChunksQueued' FOR NO KEY UPDATE OF j SKIP LOCKED))"
	    " SELECT job_id, seq, lease_epoch, attempts, lease_expiry_ms FROM took",
	    &p, &rc);
	if (rc < 0 || PQntuples(r) == 0)
		goto out;
	memset(l, 0, sizeof *l);
	snprintf(l->job_id, sizeof l->job_id, "%s", PQgetvalue(r, 0, 0));
	l->seq = (uint32_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	l->epoch = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	l->expires_ms = strtoll(PQgetvalue(r, 0, 4), NULL, 10); /* the database's clock */
	l->attempts = (uint32_t)strtoll(PQgetvalue(r, 0, 3), NULL, 10);
	snprintf(l->owner, sizeof l->owner, "%s", owner);
	rc = 1;
out:
	PQclear(r);
	return rc;
}

int sl__pq_lease_renew(sl_jobstore *s, const sl_lease *l, int64_t ttl_ms)
{
	pq_params p = {.n = 0};
	bind_lease_key(&p, l);
	sl__pq_int(&p, ttl_ms);
	return run_changed(pq_of_js(s),
	                   "UPDATE sluice.chunks SET lease_expiry_ms = " PQ_NOW_MS
	                   " + $5::bigint WHERE job_id = $1"
	                   " AND seq = $2::bigint AND lease_epoch = $3::bigint AND owner = $4 AND "
	                   "status = 'Processing'",
	                   &p);
}

int sl__pq_lease_fence(sl_jobstore *s, const sl_lease *l)
{
	pq_store *q = pq_of_js(s);
	pq_params p = {.n = 0};
	bind_lease_key(&p, l);
	/* a write, not a read: it row-locks the chunk until our commit */
	int rc = run_changed(
	    q,
	    "UPDATE sluice.chunks SET owner = owner WHERE job_id = $1 AND seq = $2::bigint AND "
	    "lease_epoch = $3::bigint AND owner = $4 AND status = 'Processing' AND NOT EXISTS "
	    "(SELECT 1 FROM sluice.jobs j WHERE j.id = $1 AND j.status IN ('Succeeded', "
	    "'PartiallySucceeded', 'Failed', 'RolledBack', 'Cancelled'))",
	    &p);
	if (rc == SL_LEASE_LOST)
		sl__pg_seterr(q->pg, SL_LEASE_LOST,
		              "chunk %u of job %s: the lease of epoch %lld held by %s was taken "
		              "over, or the job finished",
		              l->seq, l->job_id, (long long)l->epoch, l->owner);
	return rc;
}

int sl__pq_lease_release(sl_jobstore *s, const sl_lease *l)
{
	pq_params p = {.n = 0};
	bind_lease_key(&p, l);
	int rc = run_changed(pq_of_js(s),
	                     "UPDATE sluice.chunks SET status = 'Queued', lease_expiry_ms = NULL, "
	                     "attempts = greatest(attempts - 1, 0)"
	                     " WHERE job_id = $1 AND seq = $2::bigint AND lease_epoch = $3::bigint"
	                     " AND owner = $4 AND status = 'Processing'",
	                     &p);
	return rc == SL_LEASE_LOST ? 0 : rc; /* not ours any more: nothing to give back */
}

int sl__pq_chunks_open(sl_jobstore *s, const char *job_id, sl_owner_dead_fn dead, uint64_t *open,
                       uint64_t *live)
{
	pq_params p = {.n = 0};
	int rc;
	*open = *live = 0;
	sl__pq_str(&p, job_id);
	PGresult *r = sl__pq_run(pq_of_js(s),
	                         "SELECT status, owner, coalesce(lease_expiry_ms, 0) > " PQ_NOW_MS
	                         " FROM sluice.chunks WHERE "
	                         "job_id = $1 AND status IN ('Queued', 'Processing')",
	                         &p, &rc);
	for (int i = 0; r && i < PQntuples(r); i++) {
		(*open)++;
		const char *owner = PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1);
		if (!strcmp(PQgetvalue(r, i, 0), "Processing") && PQgetvalue(r, i, 2)[0] == 't' &&
		    !(owner && dead && dead(owner)))
			(*live)++;
	}
	PQclear(r);
	return rc;
}

int sl__pq_chunk_add(sl_jobstore *s, const char *job_id, uint32_t seq, int64_t loaded,
                     int64_t rejected)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, job_id);
	sl__pq_int(&p, seq);
	sl__pq_int(&p, loaded);
	sl__pq_int(&p, rejected);
	PQclear(sl__pq_run(pq_of_js(s),
	                   "UPDATE sluice.chunks SET rows_loaded = rows_loaded + $3::bigint, "
	                   "rows_inserted = rows_inserted + $3::bigint, "
	                   "rows_rejected = rows_rejected + $4::bigint WHERE job_id = $1 AND seq = "
	                   "$2::bigint",
	                   &p, &rc));
	return rc;
}

int sl__pq_reject_holder(sl_jobstore *s, uint64_t holder)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_int(&p, (int64_t)holder);
	/* currval: the id this session's last reject_insert took */
	PQclear(sl__pq_run(pq_of_js(s),
	                   "UPDATE sluice.rejects SET holder = $1::bigint WHERE id = "
	                   "currval(pg_get_serial_sequence('sluice.rejects', 'id'))",
	                   &p, &rc));
	return rc;
}

int sl__pq_rejects_rehold(sl_jobstore *s, const char *job_id, uint64_t from, uint64_t to,
                          const char *from_text, const char *to_text)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, job_id);
	sl__pq_int(&p, (int64_t)from);
	sl__pq_int(&p, (int64_t)to);
	sl__pq_str(&p, from_text);
	sl__pq_str(&p, to_text);
	PQclear(sl__pq_run(pq_of_js(s),
	                   "UPDATE sluice.rejects SET holder = $3::bigint, message = "
	                   "replace(message, $4::text, $5::text) WHERE job_id = $1 AND holder = "
	                   "$2::bigint",
	                   &p, &rc));
	return rc;
}
