/*
 * Private to sluice: the store, where jobs, chunks, rejected rows, audit
 * events and the loaded rows themselves live. A backend is an ops table
 * (SQLite now, PostgreSQL later; fault injection wraps one), so the engine
 * never asks which database it talks to.
 *
 * Transactions: begin() takes the write lock. Everything a chunk commits
 * (its rows, its rejects, its status, the job's counters, its end event)
 * goes between one begin() and one commit(): that is the checkpoint. A
 * failed call leaves the transaction to be rolled back by the caller.
 *
 * Errors: every call returns 0 or an SL_* code; DB_BUSY, DB_FULL and DB_IO
 * are transient (the engine retries the chunk), others are fatal.
 * sl_store_errmsg() has the database's own words for the last failure.
 *
 * A store handle belongs to one thread (the writer).
 */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include "sluice/job.h"
#include "sluice/records.h"
#include "sluice/schema.h"

typedef struct sl_store sl_store;

typedef struct sl_event {
	const char *job_id;
	int64_t chunk; /* -1 for job events */
	const char *kind; /* "chunk_start", "chunk_end", "chunk_failed", "job_end", ... */
	uint64_t rows_read, rows_loaded, rows_rejected;
	int64_t duration_ms;
	const char *message;
} sl_event;


/* An idempotency key of an accepted upload and what it was used with. */
typedef struct sl_idem {
	const char *key;
	char job_id[SL_JOB_ID_LEN];
	char dataset[128];
	uint64_t size, hash;
} sl_idem;

/* A chunk's lease: who holds it, until when, and the epoch that fences a
   holder that lost it (every claim bumps it). */
typedef struct sl_lease {
	char job_id[SL_JOB_ID_LEN];
	uint32_t seq;
	int64_t epoch;
	int64_t expires_ms;
	uint32_t attempts; /* the chunk's, counting this claim */
	char owner[160];
} sl_lease;

/* Whether the owner named in a lease is gone for sure (a process of this
   host that no longer exists), so its lease need not run out first. */
typedef bool (*sl_owner_dead_fn)(const char *owner);

/* Increments of a job's counters (negative for a retried chunk). */
typedef struct sl_job_delta {
	int64_t rows_read, rows_loaded, rows_rejected, records_padded, records_truncated;
	int64_t chunks_processed, chunks_succeeded, chunks_failed, bytes_done;
	int64_t by_code[SL_ERROR_COUNT];
} sl_job_delta;

typedef struct sl_store_ops {
	const char *name;
	int (*open)(const char *target, int busy_timeout_ms, sl_store **out);
	void (*close)(sl_store *s);
	const char *(*errmsg)(sl_store *s);

	int (*begin)(sl_store *s);
	int (*commit)(sl_store *s);
	void (*rollback)(sl_store *s);

	/* The target table: create it (and its unique key index) when missing,
	   check its columns when present, prepare the insert for `job_id`. */
	int (*target_prepare)(sl_store *s, const sl_schema *schema, const char *job_id);
	/* Insert one row (values in schema column order) of record `rec` of
	   the file (kept with the row: provenance). *dup: the key was already
	   there (nothing written; with on_duplicate: update the row is updated
	   instead when it holds an earlier record of this job, or another
	   job's). Any other conflict is an error, never a silent skip. */
	int (*target_insert)(sl_store *s, const sl_value *vals, uint64_t rec, bool *dup);
	/* Insert n rows of a table without a key (nothing can clash): several
	   per statement, which saves most of SQLite's per-statement work. */
	int (*target_insert_many)(sl_store *s, const sl_value *const *vals, const uint64_t *recs,
	                          size_t n);
	/* Which job and record loaded the row with the key of `vals` (values in
	   schema column order): its id in job, or "" when no row has that key. */
	int (*target_key_owner)(sl_store *s, const sl_value *vals, char job[SL_JOB_ID_LEN],
	                        uint64_t *rec);
	/* The row of this job with the key of `vals` takes vals and record
	   `rec` (an earlier record displacing a later one committed first). */
	int (*target_replace)(sl_store *s, const sl_value *vals, uint64_t rec);
	int (*target_delete_job)(sl_store *s, const char *table, const char *job_id, uint64_t *rows);

	/* Insert a new job; assigns j->seq (1, 2, ... per database). */
	int (*job_insert)(sl_store *s, sl_job *j);
	int (*job_update)(sl_store *s, const sl_job *j); /* status, counters, error, times */
	/* 1 found (*j filled), 0 not found */
	int (*job_get)(sl_store *s, const char *id, sl_job *j);
	/* The newest unfinished job for this file, schema and table: 1 found, 0 none. */
	int (*job_find_open)(sl_store *s, const char *file, const char *table, uint64_t schema_hash,
			     sl_job *j);
	/* The newest finished job (Succeeded, PartiallySucceeded, Failed,
	   Cancelled; not one that only pointed at another) that read a file of
	   this size and content hash (any hash when `hash` is NULL) with this
	   schema, dialect (its text, NULL-safe) and table: 1 found, 0 none. */
	int (*job_find_loaded)(sl_store *s, const char *table, uint64_t schema_hash, uint64_t size,
	                       const uint64_t *hash, const char *dialect, sl_job *j);
	int (*job_list)(sl_store *s, int status /* -1: all */, sl_job_cb cb, void *ctx);

	int (*chunks_replace)(sl_store *s, const char *job_id, const sl_chunk *c, size_t n);
	int (*chunks_get)(sl_store *s, const char *job_id, sl_chunk **out, size_t *n);
	int (*chunk_update)(sl_store *s, const char *job_id, const sl_chunk *c);

	int (*reject_insert)(sl_store *s, const char *job_id, uint32_t chunk, const sl_reject *r,
			     const char *column);
	int (*rejects_each)(sl_store *s, const char *job_id, int code /* 0: all */, sl_reject_cb cb,
			    void *ctx);
	int (*event_insert)(sl_store *s, const sl_event *e);
	/* Delete rejects and events of finished jobs last updated before `before_ms`. */
	int (*gc)(sl_store *s, int64_t before_ms, uint64_t *jobs);

	/* Idempotency keys: 1 found (*e filled, e->key as given), 0 none. */
	int (*idem_get)(sl_store *s, sl_idem *e);
	int (*idem_put)(sl_store *s, const sl_idem *e);
	/* Cancel requests, a row per job asked to stop (job_update rewrites
	   the job's row whole, so the request cannot live there): set or clear
	   it; get: 1 asked, 0 not. */
	int (*cancel_set)(sl_store *s, const char *job_id, bool on);
	int (*cancel_get)(sl_store *s, const char *job_id);
	/* Chunks of every job by status (out[SL_CHUNK_NSTATUS]). */
	int (*chunk_counts)(sl_store *s, uint64_t *out);
	/* --- records --- */
	/* Rows of sc's target table with rowid > after, in rowid order, at most
	   `limit`: those whose column cols[k] equals vals[k] for every k
	   (values already converted as stored; SL_VALUE_NULL means IS NULL)
	   and, when job_id is not NULL, that job's rows. A table not created
	   yet has none. Stops at the first non-zero callback value and returns
	   it. Reads only (no write lock). */
	int (*records_each)(sl_store *s, const sl_schema *sc, const size_t *cols, const sl_value *vals,
			    size_t nf, const char *job_id, int64_t after, size_t limit, sl_record_cb cb,
			    void *ctx);

	/* --- leases (store_sqlite_lease.c; docs/ingest.md "Workers and
	   leases"). All of them inside a transaction the caller opened. --- */
	/* Claim one chunk: a Queued one, or a Processing one whose lease
	   expired (or whose owner `dead` says is gone), of job `job_id` (NULL:
	   of any job that is ChunksQueued or Processing and not asked to
	   stop), earliest job and chunk first. The chunk becomes Processing,
	   attempts + 1, owner and expiry set, epoch + 1; a ChunksQueued job
	   becomes Processing. 1 and *l filled, 0 nothing to claim. */
	int (*chunk_claim)(sl_store *s, const char *job_id, const char *owner, int64_t ttl_ms,
	                   sl_owner_dead_fn dead, sl_lease *l);
	/* Extend a lease held (owner and epoch still ours, chunk Processing):
	   0, or SL_LEASE_LOST. */
	int (*lease_renew)(sl_store *s, const sl_lease *l, int64_t ttl_ms);
	/* The fence: the first statement of a chunk's commit transaction; 0
	   when the chunk's row still has our owner and epoch, else
	   SL_LEASE_LOST and the caller rolls the whole transaction back. */
	int (*lease_fence)(sl_store *s, const sl_lease *l);
	/* Give a claimed chunk back (Queued, lease cleared) if it is still
	   ours and Processing; 0 either way. */
	int (*lease_release)(sl_store *s, const sl_lease *l);
	/* Add deltas to a job's counters (never a whole-row rewrite, so the
	   processes committing chunks of one job do not undo each other). */
	int (*job_add)(sl_store *s, const char *job_id, const sl_job_delta *d);
	/* Chunks of a job not final (Queued or Processing): *open; of those,
	   Processing under a lease that has not expired and whose owner is not
	   `dead` (others run them now): *live. */
	int (*chunks_open)(sl_store *s, const char *job_id, sl_owner_dead_fn dead, uint64_t *open,
	                   uint64_t *live);
	/* Move rows between a committed chunk's counters (a row it loaded
	   displaced by an earlier record: loaded - 1, rejected + 1). */
	int (*chunk_add)(sl_store *s, const char *job_id, uint32_t seq, int64_t loaded,
	                 int64_t rejected);
	/* The DUP_KEY reject just inserted was held by record `holder` of the
	   same job; and, when that row is displaced by an earlier record, its
	   rejects name record `to` instead (`from_text` becomes `to_text` in
	   their messages), so the messages are those of a load in file order. */
	int (*reject_holder)(sl_store *s, uint64_t holder);
	int (*rejects_rehold)(sl_store *s, const char *job_id, uint64_t from, uint64_t to,
	                      const char *from_text, const char *to_text);
} sl_store_ops;

extern const sl_store_ops sl__store_sqlite;

/* Open the store at `db` (an SQLite file now). With SLUICE_FAULTS set, the
   store is wrapped by fault injection (store_faults.c, for tests). On
   failure *out may still be set: read sl_store_errmsg(), then close it. */
int sl__store_open(const char *db, int busy_timeout_ms, sl_store **out);
/* The same at `db` (NULL: ./sluice.db) with a 5 s busy timeout, or say why
   not in msg ("database PATH: ...") and leave *st NULL: every one-shot
   reader and writer of the job store outside a run opens it this way. */
int sl__store_open_msg(const char *db, sl_store **st, char *msg, size_t msglen);

/* Helpers that dispatch through a handle's ops. */
struct sl_store {
	const sl_store_ops *ops;
};
static inline const char *sl_store_errmsg(sl_store *s)
{
	return s->ops->errmsg(s);
}



#endif
