/*
 * Private to sluice: the job store, where jobs live: jobs with their
 * counters, chunks, rejected rows, audit events, idempotency keys, cancel
 * requests, garbage collection, chunk counts and the job listing. One
 * interface, several backends: SQLite (store_sqlite_jobs.c), fault
 * injection around it (store_faults.c); PostgreSQL registers later
 * (store.h). The engine and the front ends call only the inline wrappers
 * below.
 *
 * Counters: a job's counters (rows, chunks done, bytes done, rejects by
 * code) change only by increments (sl_js_counts_add, sl_js_chunk_commit:
 * `rows_loaded = rows_loaded + ?`), never by writing the row back whole, so
 * processes that commit chunks of one job do not overwrite each other.
 * sl_js_job_update() writes the job's other fields and leaves them alone.
 *
 * Final states: a job whose row is final already (Succeeded, Partially
 * Succeeded, Failed, Cancelled, RolledBack) is not overwritten by
 * sl_js_job_update(): CONFLICT, the store keeps whoever finished it first
 * (a cancel while the job was planned, another process's fan-in), so every
 * writer of a job row is fenced the same way. sl_js_job_rewrite() is for
 * the writers that turn a finished job into another state on purpose: a
 * retry, a rollback.
 *
 * Transactions: a job store shares its sl_txn with the sink opened with it
 * (txn.h); writes go between sl_txn_begin() and sl_txn_commit() on it.
 *
 * Adding an op: a field in sl_jobstore_ops with its comment, a wrapper
 * below (SL__LAYER first; an optional op falls back to its shared default
 * sl__js_def_OP in store_defaults.c, written with the other ops), the
 * implementation in each backend, a test in tests/store/js_suite.c. A
 * wrapper backend (faults) leaves the op NULL unless it changes it.
 * (Leases on chunks come as ops of their own, beside chunk_commit.)
 */
#ifndef SLUICE_STORE_JOBSTORE_H
#define SLUICE_STORE_JOBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sluice/job.h"
#include "store/txn.h"

typedef struct sl_jobstore sl_jobstore;

typedef struct sl_event {
	const char *job_id;
	int64_t chunk;    /* -1 for job events */
	const char *kind; /* "chunk_start", "chunk_end", "chunk_failed", "job_end", ... */
	uint64_t rows_read, rows_loaded, rows_rejected;
	int64_t duration_ms;
	const char *message;
} sl_event;

/* A refeed job's input (docs/ingest.md, Fix and refeed): the header its
   claim recorded, the rows it took, the input's size in bytes (header,
   then each row and a line feed), XXH3-64 of those bytes, and when. A
   refeed claimed before inputs were read from the store has no offsets
   (bytes 0 with rows): its input is the file the job names. */
typedef struct sl_refeed_input {
	char *header;
	size_t header_len;
	uint64_t rows, bytes, hash;
	int64_t created_ms;
} sl_refeed_input;

static inline void sl_refeed_input_clear(sl_refeed_input *in)
{
	free(in->header);
	in->header = NULL;
	in->header_len = 0;
}

/* An idempotency key of an accepted upload and what it was used with. */
typedef struct sl_idem {
	const char *key;
	char job_id[SL_JOB_ID_LEN];
	char dataset[128];
	uint64_t size, hash;
} sl_idem;

/* Increments of a job's counters (negative to take back: a retry requeues
   failed chunks). */
typedef struct sl_job_counts {
	int64_t rows_read, rows_loaded, rows_rejected;
	int64_t rows_inserted, rows_updated; /* rows_loaded split */
	int64_t records_padded, records_truncated;
	int64_t chunks_processed, chunks_succeeded, chunks_failed;
	int64_t bytes_done;
	int64_t by_code[SL_ERROR_COUNT]; /* indexed by sl_error_index() */
} sl_job_counts;

/* The same increments applied to a job in memory (the engine's copy). */
static inline void sl_job_counts_apply(sl_job *j, const sl_job_counts *d)
{
	j->rows_read += (uint64_t)d->rows_read;
	j->rows_loaded += (uint64_t)d->rows_loaded;
	j->rows_rejected += (uint64_t)d->rows_rejected;
	j->rows_inserted += (uint64_t)d->rows_inserted;
	j->rows_updated += (uint64_t)d->rows_updated;
	j->records_padded += (uint64_t)d->records_padded;
	j->records_truncated += (uint64_t)d->records_truncated;
	j->chunks_processed += (uint64_t)d->chunks_processed;
	j->chunks_succeeded += (uint64_t)d->chunks_succeeded;
	j->chunks_failed += (uint64_t)d->chunks_failed;
	j->bytes_done += (uint64_t)d->bytes_done;
	for (int k = 0; k < SL_ERROR_COUNT; k++)
		j->rejects_by_code[k] += (uint64_t)d->by_code[k];
}

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

/* The store's leader lease (one row per store; docs/scaling.md): the term
   counts takeovers, so a leader that lost the lease (paused past it) is
   told apart from the one that holds it now. */
typedef struct sl_leader {
	int64_t term; /* 0: nobody has led this store yet */
	int64_t expires_ms;
	char owner[160];
} sl_leader;

/* Whether the owner named in a lease is gone for sure (a process of this
   host that no longer exists), so its lease need not run out first. */
typedef bool (*sl_owner_dead_fn)(const char *owner);

typedef struct sl_jobstore_ops {
	const char *name;

	/* Insert a new job, counters included; assigns j->seq (1, 2, ... per
	   database). */
	int (*job_insert)(sl_jobstore *s, sl_job *j);
	/* Write the job's status, error, times, texts and plan (chunks_total,
	   bytes_total, chunk_size); NOT its counters (see above). Unless
	   over_final, a row in a final status stays as it is: CONFLICT (with
	   errmsg naming the job and its status); NOT_FOUND: no such job. */
	int (*job_update)(sl_jobstore *s, const sl_job *j, bool over_final);
	/* Add d to the job's counters. */
	int (*counts_add)(sl_jobstore *s, const char *job_id, const sl_job_counts *d);
	/* 1 found (*j filled), 0 not found */
	int (*job_get)(sl_jobstore *s, const char *id, sl_job *j);
	/* The newest unfinished job for this file, schema and table: 1 found, 0 none. */
	int (*job_find_open)(sl_jobstore *s, const char *file, const char *table,
	                     uint64_t schema_hash, sl_job *j);
	/* The newest finished job (Succeeded, PartiallySucceeded, Failed,
	   Cancelled; not one that only pointed at another) that read a file of
	   this size and content hash (any hash when `hash` is NULL) with this
	   schema, dialect (its text, NULL-safe) and table: 1 found, 0 none. */
	int (*job_find_loaded)(sl_jobstore *s, const char *table, uint64_t schema_hash,
	                       uint64_t size, const uint64_t *hash, const char *dialect, sl_job *j);
	/* The jobs `f` selects, in its order, to cb (a non-zero return stops
	   the listing and is returned). A keyset walk: no page costs more than
	   its rows. */
	int (*job_list)(sl_jobstore *s, const sl_job_filter *f, sl_job_cb cb, void *ctx);

	/* A job's plan: its chunks replaced by these n. */
	int (*chunks_replace)(sl_jobstore *s, const char *job_id, const sl_chunk *c, size_t n);
	/* All chunks of a job in seq order (*out malloc'ed; n may be 0). */
	int (*chunks_get)(sl_jobstore *s, const char *job_id, sl_chunk **out, size_t *n);
	/* Write one chunk's row (status, attempts, counters, error). */
	int (*chunk_update)(sl_jobstore *s, const char *job_id, const sl_chunk *c);
	/* Optional (default: chunk_update, then counts_add): a chunk done
	   (Succeeded or Failed): its row, and d added to its job's counters. */
	int (*chunk_commit)(sl_jobstore *s, const char *job_id, const sl_chunk *c,
	                    const sl_job_counts *d);

	int (*reject_insert)(sl_jobstore *s, const char *job_id, uint32_t chunk, const sl_reject *r,
	                     const char *column);
	/* A job's rejects in record order (code 0: all, else that code's). */
	int (*rejects_each)(sl_jobstore *s, const char *job_id, int code, sl_reject_cb cb,
	                    void *ctx);
	int (*event_insert)(sl_jobstore *s, const sl_event *e);
	/* Delete rejects and events of finished jobs last updated before
	   `before_ms`; *jobs: how many jobs. */
	int (*gc)(sl_jobstore *s, int64_t before_ms, uint64_t *jobs);

	/* Idempotency keys: 1 found (*e filled, e->key as given), 0 none. put:
	   a key used already is an error. */
	int (*idem_get)(sl_jobstore *s, sl_idem *e);
	int (*idem_put)(sl_jobstore *s, const sl_idem *e);
	/* Cancel requests, a row per job asked to stop (apart from the job's
	   row, which its runner writes): set or clear; get: 1 asked, 0 not. */
	int (*cancel_set)(sl_jobstore *s, const char *job_id, bool on);
	int (*cancel_get)(sl_jobstore *s, const char *job_id);
	/* Chunks of every job by status (out[SL_CHUNK_NSTATUS]). */
	int (*chunk_counts)(sl_jobstore *s, uint64_t *out);

	/* --- fix and refeed (store_sqlite_refeed.c; docs/ingest.md) --- */
	/* In the open transaction: give refeed job new_id the open rejected
	   rows of job_id (no refeed loaded them or holds them or a copy of
	   them; not cut short, as CSV_ROW_TOO_LONG rows are), numbered 1.. in
	   record order, each with its byte offset in the refeed's input (the
	   header bytes, then each row's raw bytes and a line feed); record
	   that new_id refeeds job_id with that header. *out: the rows taken
	   (0: nothing changed), the input's size and its fingerprint (XXH3-64
	   of the input's bytes), the claim's time; out->header is not set. */
	int (*refeed_claim)(sl_jobstore *s, const char *job_id, const char *new_id, sl_str header,
	                    sl_refeed_input *out);
	/* Refeed job job_id's input as its claim recorded it: 1 and *out
	   (out->header malloc'ed, NUL after header_len bytes; free with
	   sl_refeed_input_clear), or 0 when it is not a refeed. */
	int (*refeed_input)(sl_jobstore *s, const char *job_id, sl_refeed_input *out);
	/* The rows refeed job job_id still holds, from the one holding byte
	   `off` of its input (or the first after it) in offset order: cb(ctx,
	   row offset, raw bytes) for each, until cb returns >0 or `max` bytes
	   were handed over (at least one row). Outside a transaction is fine
	   (a source's read, on a connection of its own). */
	int (*refeed_read)(sl_jobstore *s, const char *job_id, uint64_t off, size_t max,
	                   int (*cb)(void *ctx, uint64_t off, sl_str raw), void *ctx);
	/* In the open transaction, after job_id's final status (or its
	   rollback) is written: mark what a refeed job loaded resolved and free
	   the rows it read; nothing for another job. */
	int (*refeed_settle)(sl_jobstore *s, const char *job_id);
	/* --- leases (store_sqlite_lease.c; docs/ingest.md "Workers and
	   leases"). All of them inside a transaction the caller opened. --- */
	/* Claim one chunk: a Queued one whose backoff has passed (a chunk
	   whose lease expired is the reaper's, chunks_reap, which queues it
	   again), of job `job_id` (NULL: of any job that is ChunksQueued or
	   Processing and not asked to stop; a named job may also be Chunking:
	   the chunks its own pipelined plan stores as it finds them, which
	   no other process takes), earliest job and chunk first. The chunk becomes
	   Processing, attempts + 1, owner and expiry set, epoch + 1; a ChunksQueued job becomes
	   Processing. 1 and *l filled, 0 nothing to claim. */
	int (*chunk_claim)(sl_jobstore *s, const char *job_id, const char *owner, int64_t ttl_ms,
	                   sl_lease *l);
	/* Extend a lease held (owner and epoch still ours, chunk Processing):
	   0, or SL_LEASE_LOST. */
	int (*lease_renew)(sl_jobstore *s, const sl_lease *l, int64_t ttl_ms);
	/* The fence: the first statement of a chunk's commit transaction; 0
	   when the chunk's row still has our owner and epoch and its job is not
	   finished, else SL_LEASE_LOST and the caller rolls the whole
	   transaction back. */
	int (*lease_fence)(sl_jobstore *s, const sl_lease *l);
	/* Give a claimed chunk back (Queued, lease cleared, the claim's
	   attempt taken back: it was not run to an end) if it is still ours
	   and Processing; 0 either way. */
	int (*lease_release)(sl_jobstore *s, const sl_lease *l);
	/* Chunks of a job not final (Queued or Processing): *open; of those,
	   Processing under a lease that has not expired and whose owner is not
	   `dead` (others run them now): *live. */
	int (*chunks_open)(sl_jobstore *s, const char *job_id, sl_owner_dead_fn dead,
	                   uint64_t *open, uint64_t *live);
	/* Move rows between a committed chunk's counters (a row it loaded
	   displaced by an earlier record: loaded - 1, rejected + 1). Such a
	   row was an insert (displacement is on_duplicate reject or ignore,
	   where nothing is updated): rows_inserted moves with loaded. */
	int (*chunk_add)(sl_jobstore *s, const char *job_id, uint32_t seq, int64_t loaded,
	                 int64_t rejected);
	/* The DUP_KEY reject just inserted was held by record `holder` of the
	   same job; and, when that row is displaced by an earlier record, its
	   rejects name record `to` instead (`from_text` becomes `to_text` in
	   their messages), so the messages are those of a load in file order. */
	int (*reject_holder)(sl_jobstore *s, uint64_t holder);
	int (*rejects_rehold)(sl_jobstore *s, const char *job_id, uint64_t from, uint64_t to,
	                      const char *from_text, const char *to_text);
	/* Optional (default: 0 and 0, a store without versions, brought up to
	   date when it is opened: SQLite): the version of the store's tables
	   (*have: its migrations applied) and the one this build writes
	   (*want). Readiness checks them (/healthz/ready). */
	int (*version)(sl_jobstore *s, int *have, int *want);
	/* --- the leader and the reaper (store_sqlite_leader.c,
	   store_pg_leader.c; docs/scaling.md). Optional: a backend without
	   them has no leader (acquire says 0) and nothing to reap. All of them
	   inside a transaction the caller opened. --- */
	/* Lead the store: take the lease when nobody holds it (no row yet, its
	   expiry passed, or its holder `dead` says is gone): term + 1, owner,
	   expiry now + ttl; 1 and *l ours. When `owner` holds it already: 1,
	   renewed, same term. Else 0 and *l the holder's. */
	int (*leader_acquire)(sl_jobstore *s, const char *owner, int64_t ttl_ms,
	                      sl_owner_dead_fn dead, sl_leader *l);
	/* The fence of a leader-only transaction, its first statement: when
	   term and owner are still l's, the lease is renewed to now + ttl
	   (l->expires_ms too) and 0; else SL_TERM_LOST and the caller rolls
	   the whole transaction back. */
	int (*leader_fence)(sl_jobstore *s, sl_leader *l, int64_t ttl_ms);
	/* Step down: the lease expires now if it is still l's (term kept, so
	   the next leader's is l->term + 1); 0 either way. */
	int (*leader_release)(sl_jobstore *s, const sl_leader *l);
	/* Who leads: 1 and *l (perhaps expired), 0 nobody ever did. */
	int (*leader_get)(sl_jobstore *s, sl_leader *l);
	/* The reaper, after the leader's fence: each Processing chunk of a
	   ChunksQueued or Processing job whose lease expired before now_ms (or
	   whose owner `dead` says is gone) is Queued again, its lease cleared,
	   its attempts kept, not claimable before now_ms +
	   sl__js_backoff_ms(backoff_ms, attempts, max_attempts), its last
	   error LEASE_LOST with a message naming the holder and the attempt,
	   and a `chunk_requeued` event of its job. At most `limit` chunks a
	   call; *n: how many. now_ms is the caller's clock; a backend whose
	   processes may run on several machines (PostgreSQL) uses its
	   database's clock instead, for expiries and backoffs alike, as its
	   claims and renewals do (store_pg_int.h, PQ_NOW_MS); so does
	   chunks_due. */
	int (*chunks_reap)(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, int max_attempts,
	                   int64_t backoff_ms, uint32_t limit, uint64_t *n);
	/* Chunks a claim will get without waiting for anyone's commit, of
	   jobs a claim may take (ChunksQueued or Processing, no cancel
	   request): Queued ones (due or in their backoff), and Processing ones
	   whose lease ran out before now_ms (or whose owner `dead` says is
	   gone), which the reaper queues again. A worker with --once stops
	   only when there are none. */
	int (*chunks_due)(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, uint64_t *n);
	/* Optional (default: sleep timeout_ms). Outside any transaction: wait
	   up to timeout_ms for news of work, chunks queued or a job's end
	   (PostgreSQL: LISTEN sluice, NOTIFYed by triggers of migration 9):
	   1 woken by news, 0 the time passed. The first call only starts
	   listening and returns 0 at once, so a caller that looks for work
	   after it misses no news sent before. */
	int (*idle_wait)(sl_jobstore *s, int64_t timeout_ms);
} sl_jobstore_ops;

struct sl_jobstore {
	const sl_jobstore_ops *ops;
	sl_jobstore *next; /* the job store a wrapper wraps; NULL at the bottom */
	sl_txn *txn;       /* the connection (and transaction) it writes in */
};

/* shared defaults of the optional ops (store_defaults.c) */
int sl__js_def_chunk_commit(sl_jobstore *s, const char *job_id, const sl_chunk *c,
                            const sl_job_counts *d);
/* A backend without refeed (the refeed ops NULL): claiming is refused with
   CONFIG (no refeed job can exist there), so no job is a refeed and
   settling has nothing to do. */
int sl__js_def_refeed_claim(sl_jobstore *s, const char *job_id, const char *new_id, sl_str header,
                            sl_refeed_input *out);
int sl__js_def_refeed_input(sl_jobstore *s, const char *job_id, sl_refeed_input *out);
int sl__js_def_refeed_read(sl_jobstore *s, const char *job_id, uint64_t off, size_t max,
                           int (*cb)(void *ctx, uint64_t off, sl_str raw), void *ctx);
int sl__js_def_refeed_settle(sl_jobstore *s, const char *job_id);
/* A refeed input's size and fingerprint as a backend's claim reads its
   rows (store_defaults.c): begin with the header (SL_NOMEM), add each row
   (its raw bytes and a line feed) in offset order, end (out->hash set;
   also frees after a failure). */
typedef struct sl_refeed_fp {
	void *state;
} sl_refeed_fp;
int sl__refeed_fp_begin(sl_refeed_fp *f, sl_str header, sl_refeed_input *out);
void sl__refeed_fp_row(sl_refeed_fp *f, sl_refeed_input *out, const void *raw, size_t n);
void sl__refeed_fp_end(sl_refeed_fp *f, sl_refeed_input *out);

/* No leader ops: nobody leads (0, *l zeroed), nothing to fence or reap. */
int sl__js_def_leader_acquire(sl_jobstore *s, const char *owner, int64_t ttl_ms,
                              sl_owner_dead_fn dead, sl_leader *l);
int sl__js_def_leader_fence(sl_jobstore *s, sl_leader *l, int64_t ttl_ms);
int sl__js_def_leader_release(sl_jobstore *s, const sl_leader *l);
int sl__js_def_leader_get(sl_jobstore *s, sl_leader *l);
int sl__js_def_chunks_reap(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, int max_attempts,
                           int64_t backoff_ms, uint32_t limit, uint64_t *n);
int sl__js_def_chunks_due(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, uint64_t *n);
int sl__js_def_idle_wait(sl_jobstore *s, int64_t timeout_ms); /* sleeps: polling */
/* How long a requeued chunk waits before it may be claimed again, shared by
   the backends' reapers: none after its first attempt (the lease's TTL, or
   its holder's death, was the wait: a worker killed once, by a deploy or
   the OOM killer, is the common case), then base * 2^(attempts - 2):
   base, 2 base, 4 base ... (capped at 5 minutes), times a random factor in
   [0.5, 1) so chunks requeued together do not come due together. 0 when
   base <= 0, and 0 once the attempts are used up (max_attempts > 0 and
   attempts >= max_attempts: its next claim fails it, nothing is gained by
   waiting). */
int64_t sl__js_backoff_ms(int64_t base_ms, uint32_t attempts, int max_attempts);
/* The last message of a chunk the reaper queues again (both backends'):
   the attempt, the holder, whether its attempts are used up, its wait. */
void sl__js_reap_message(char *out, size_t n, uint32_t attempts, const char *owner,
                         int max_attempts, int64_t wait_ms);

/* The job store's transaction handle (shared with a sink opened with it). */
static inline sl_txn *sl_js_txn(const sl_jobstore *s)
{
	return s->txn;
}

/* The database's words for the last failure. */
static inline const char *sl_js_errmsg(sl_jobstore *s)
{
	return sl_txn_errmsg(s->txn);
}

/* Insert a new job (counters as they are); assigns j->seq. */
static inline int sl_js_job_insert(sl_jobstore *s, sl_job *j)
{
	SL__LAYER(s, job_insert);
	return s->ops->job_insert(s, j);
}

/* Write a job's fields but its counters; a job final in the store
   already is left as it is (CONFLICT). */
static inline int sl_js_job_update(sl_jobstore *s, const sl_job *j)
{
	SL__LAYER(s, job_update);
	return s->ops->job_update(s, j, false);
}

/* The same over a final row too: a retry or a rollback of a finished job. */
static inline int sl_js_job_rewrite(sl_jobstore *s, const sl_job *j)
{
	SL__LAYER(s, job_update);
	return s->ops->job_update(s, j, true);
}

/* Add d to job_id's counters. */
static inline int sl_js_counts_add(sl_jobstore *s, const char *job_id, const sl_job_counts *d)
{
	SL__LAYER(s, counts_add);
	return s->ops->counts_add(s, job_id, d);
}

/* Read one job: 1 found, 0 not. */
static inline int sl_js_job_get(sl_jobstore *s, const char *id, sl_job *j)
{
	SL__LAYER(s, job_get);
	return s->ops->job_get(s, id, j);
}

/* The newest unfinished job of file, table and schema: 1 found, 0 not. */
static inline int sl_js_job_find_open(sl_jobstore *s, const char *file, const char *table,
                                      uint64_t schema_hash, sl_job *j)
{
	SL__LAYER(s, job_find_open);
	return s->ops->job_find_open(s, file, table, schema_hash, j);
}

/* The newest finished job that loaded this content: 1 found, 0 not. */
static inline int sl_js_job_find_loaded(sl_jobstore *s, const char *table, uint64_t schema_hash,
                                        uint64_t size, const uint64_t *hash, const char *dialect,
                                        sl_job *j)
{
	SL__LAYER(s, job_find_loaded);
	return s->ops->job_find_loaded(s, table, schema_hash, size, hash, dialect, j);
}

/* List the jobs f selects (NULL: all), newest first. */
static inline int sl_js_job_list(sl_jobstore *s, const sl_job_filter *f, sl_job_cb cb, void *ctx)
{
	sl_job_filter all = SL_JOB_FILTER_ALL;
	SL__LAYER(s, job_list);
	return s->ops->job_list(s, f ? f : &all, cb, ctx);
}

/* Replace a job's chunks (its plan). */
static inline int sl_js_chunks_replace(sl_jobstore *s, const char *job_id, const sl_chunk *c,
                                       size_t n)
{
	SL__LAYER(s, chunks_replace);
	return s->ops->chunks_replace(s, job_id, c, n);
}

/* Read a job's chunks (*out malloc'ed). */
static inline int sl_js_chunks_get(sl_jobstore *s, const char *job_id, sl_chunk **out, size_t *n)
{
	SL__LAYER(s, chunks_get);
	return s->ops->chunks_get(s, job_id, out, n);
}

/* Write one chunk's row. */
static inline int sl_js_chunk_update(sl_jobstore *s, const char *job_id, const sl_chunk *c)
{
	SL__LAYER(s, chunk_update);
	return s->ops->chunk_update(s, job_id, c);
}

/* A chunk done: its row, and d added to its job's counters. */
static inline int sl_js_chunk_commit(sl_jobstore *s, const char *job_id, const sl_chunk *c,
                                     const sl_job_counts *d)
{
	sl_jobstore *l = s; /* the default runs on the top layer: a wrapper sees its parts */
	SL__LAYER(l, chunk_commit);
	return l->ops->chunk_commit ? l->ops->chunk_commit(l, job_id, c, d)
	                            : sl__js_def_chunk_commit(s, job_id, c, d);
}

/* Keep a rejected row of chunk `chunk` (column: its name, or NULL). */
static inline int sl_js_reject_insert(sl_jobstore *s, const char *job_id, uint32_t chunk,
                                      const sl_reject *r, const char *column)
{
	SL__LAYER(s, reject_insert);
	return s->ops->reject_insert(s, job_id, chunk, r, column);
}

/* A job's rejects in record order (code 0: all). */
static inline int sl_js_rejects_each(sl_jobstore *s, const char *job_id, int code, sl_reject_cb cb,
                                     void *ctx)
{
	SL__LAYER(s, rejects_each);
	return s->ops->rejects_each(s, job_id, code, cb, ctx);
}

/* Append an audit event. */
static inline int sl_js_event_insert(sl_jobstore *s, const sl_event *e)
{
	SL__LAYER(s, event_insert);
	return s->ops->event_insert(s, e);
}

/* Delete the rejects and events of jobs finished before before_ms. */
static inline int sl_js_gc(sl_jobstore *s, int64_t before_ms, uint64_t *jobs)
{
	SL__LAYER(s, gc);
	return s->ops->gc(s, before_ms, jobs);
}

/* Look up an idempotency key: 1 found, 0 not. */
static inline int sl_js_idem_get(sl_jobstore *s, sl_idem *e)
{
	SL__LAYER(s, idem_get);
	return s->ops->idem_get(s, e);
}

/* Record an idempotency key (used already: an error). */
static inline int sl_js_idem_put(sl_jobstore *s, const sl_idem *e)
{
	SL__LAYER(s, idem_put);
	return s->ops->idem_put(s, e);
}

/* File (on) or clear a cancel request. */
static inline int sl_js_cancel_set(sl_jobstore *s, const char *job_id, bool on)
{
	SL__LAYER(s, cancel_set);
	return s->ops->cancel_set(s, job_id, on);
}

/* Is job_id asked to stop: 1 yes, 0 no. */
static inline int sl_js_cancel_get(sl_jobstore *s, const char *job_id)
{
	SL__LAYER(s, cancel_get);
	return s->ops->cancel_get(s, job_id);
}

/* Chunks of every job by status (out[SL_CHUNK_NSTATUS]). */
static inline int sl_js_chunk_counts(sl_jobstore *s, uint64_t *out)
{
	SL__LAYER(s, chunk_counts);
	return s->ops->chunk_counts(s, out);
}

/* The store's version and the one this build writes (see the op). */
static inline int sl_js_version(sl_jobstore *s, int *have, int *want)
{
	sl_jobstore *l = s;
	SL__LAYER(l, version);
	if (l->ops->version)
		return l->ops->version(l, have, want);
	*have = *want = 0;
	return 0;
}

/* Give refeed job new_id the open rejected rows of job_id (see the op). */
static inline int sl_js_refeed_claim(sl_jobstore *s, const char *job_id, const char *new_id,
                                     sl_str header, sl_refeed_input *out)
{
	sl_jobstore *l = s;
	SL__LAYER(l, refeed_claim);
	return l->ops->refeed_claim ? l->ops->refeed_claim(l, job_id, new_id, header, out)
	                            : sl__js_def_refeed_claim(s, job_id, new_id, header, out);
}

/* A refeed job's input as claimed: 1 (and *out), 0 not a refeed. */
static inline int sl_js_refeed_input(sl_jobstore *s, const char *job_id, sl_refeed_input *out)
{
	sl_jobstore *l = s;
	SL__LAYER(l, refeed_input);
	return l->ops->refeed_input ? l->ops->refeed_input(l, job_id, out)
	                            : sl__js_def_refeed_input(s, job_id, out);
}

/* The rows a refeed job holds, from byte off of its input (see the op). */
static inline int sl_js_refeed_read(sl_jobstore *s, const char *job_id, uint64_t off, size_t max,
                                    int (*cb)(void *ctx, uint64_t off, sl_str raw), void *ctx)
{
	sl_jobstore *l = s;
	SL__LAYER(l, refeed_read);
	return l->ops->refeed_read ? l->ops->refeed_read(l, job_id, off, max, cb, ctx)
	                           : sl__js_def_refeed_read(s, job_id, off, max, cb, ctx);
}

/* Settle refeed job job_id after its end or rollback (nothing for another job). */
static inline int sl_js_refeed_settle(sl_jobstore *s, const char *job_id)
{
	sl_jobstore *l = s;
	SL__LAYER(l, refeed_settle);
	return l->ops->refeed_settle ? l->ops->refeed_settle(l, job_id)
	                             : sl__js_def_refeed_settle(s, job_id);
}

/* Claim a chunk of job_id (NULL: any job): 1 and *l, 0 none. */
static inline int sl_js_chunk_claim(sl_jobstore *s, const char *job_id, const char *owner,
                                    int64_t ttl_ms, sl_lease *l)
{
	SL__LAYER(s, chunk_claim);
	return s->ops->chunk_claim(s, job_id, owner, ttl_ms, l);
}

/* Extend a lease: 0, or SL_LEASE_LOST. */
static inline int sl_js_lease_renew(sl_jobstore *s, const sl_lease *l, int64_t ttl_ms)
{
	SL__LAYER(s, lease_renew);
	return s->ops->lease_renew(s, l, ttl_ms);
}

/* The fence of a chunk's commit: 0, or SL_LEASE_LOST (roll back). */
static inline int sl_js_lease_fence(sl_jobstore *s, const sl_lease *l)
{
	SL__LAYER(s, lease_fence);
	return s->ops->lease_fence(s, l);
}

/* Give a claimed chunk back to the queue (if still ours). */
static inline int sl_js_lease_release(sl_jobstore *s, const sl_lease *l)
{
	SL__LAYER(s, lease_release);
	return s->ops->lease_release(s, l);
}

/* A job's chunks not final, and those others run now. */
static inline int sl_js_chunks_open(sl_jobstore *s, const char *job_id, sl_owner_dead_fn dead,
                                    uint64_t *open, uint64_t *live)
{
	SL__LAYER(s, chunks_open);
	return s->ops->chunks_open(s, job_id, dead, open, live);
}

/* Move rows between a committed chunk's loaded and rejected counters. */
static inline int sl_js_chunk_add(sl_jobstore *s, const char *job_id, uint32_t seq, int64_t loaded,
                                  int64_t rejected)
{
	SL__LAYER(s, chunk_add);
	return s->ops->chunk_add(s, job_id, seq, loaded, rejected);
}

/* The DUP_KEY reject just inserted was held by record `holder` of its job. */
static inline int sl_js_reject_holder(sl_jobstore *s, uint64_t holder)
{
	SL__LAYER(s, reject_holder);
	return s->ops->reject_holder(s, holder);
}

/* Rejects held by record `from` are held by `to` now (message texts too). */
static inline int sl_js_rejects_rehold(sl_jobstore *s, const char *job_id, uint64_t from,
                                       uint64_t to, const char *from_text, const char *to_text)
{
	SL__LAYER(s, rejects_rehold);
	return s->ops->rejects_rehold(s, job_id, from, to, from_text, to_text);
}

/* Lead the store if nobody does: 1 (ours, *l), 0 (*l the holder's). */
static inline int sl_js_leader_acquire(sl_jobstore *s, const char *owner, int64_t ttl_ms,
                                       sl_owner_dead_fn dead, sl_leader *l)
{
	sl_jobstore *t = s;
	SL__LAYER(t, leader_acquire);
	return t->ops->leader_acquire ? t->ops->leader_acquire(t, owner, ttl_ms, dead, l)
	                              : sl__js_def_leader_acquire(s, owner, ttl_ms, dead, l);
}

/* The fence of a leader-only transaction (renews): 0, or SL_TERM_LOST. */
static inline int sl_js_leader_fence(sl_jobstore *s, sl_leader *l, int64_t ttl_ms)
{
	sl_jobstore *t = s;
	SL__LAYER(t, leader_fence);
	return t->ops->leader_fence ? t->ops->leader_fence(t, l, ttl_ms)
	                            : sl__js_def_leader_fence(s, l, ttl_ms);
}

/* Step down (the lease expires now if still ours). */
static inline int sl_js_leader_release(sl_jobstore *s, const sl_leader *l)
{
	sl_jobstore *t = s;
	SL__LAYER(t, leader_release);
	return t->ops->leader_release ? t->ops->leader_release(t, l)
	                              : sl__js_def_leader_release(s, l);
}

/* Who leads the store: 1 and *l, 0 nobody ever did. */
static inline int sl_js_leader_get(sl_jobstore *s, sl_leader *l)
{
	sl_jobstore *t = s;
	SL__LAYER(t, leader_get);
	return t->ops->leader_get ? t->ops->leader_get(t, l) : sl__js_def_leader_get(s, l);
}

/* Requeue the chunks whose leases ran out (after the leader's fence). */
static inline int sl_js_chunks_reap(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead,
                                    int max_attempts, int64_t backoff_ms, uint32_t limit,
                                    uint64_t *n)
{
	sl_jobstore *t = s;
	SL__LAYER(t, chunks_reap);
	return t->ops->chunks_reap
	           ? t->ops->chunks_reap(t, now_ms, dead, max_attempts, backoff_ms, limit, n)
	           : sl__js_def_chunks_reap(s, now_ms, dead, max_attempts, backoff_ms, limit, n);
}

/* Chunks a claim will get without waiting for another's commit. */
static inline int sl_js_chunks_due(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead,
                                   uint64_t *n)
{
	sl_jobstore *t = s;
	SL__LAYER(t, chunks_due);
	return t->ops->chunks_due ? t->ops->chunks_due(t, now_ms, dead, n)
	                          : sl__js_def_chunks_due(s, now_ms, dead, n);
}

/* Wait (outside a transaction) up to timeout_ms for news of work: 1 news, 0 none. */
static inline int sl_js_idle_wait(sl_jobstore *s, int64_t timeout_ms)
{
	sl_jobstore *t = s;
	SL__LAYER(t, idle_wait);
	return t->ops->idle_wait ? t->ops->idle_wait(t, timeout_ms)
	                         : sl__js_def_idle_wait(s, timeout_ms);
}

/* Close the job store: its connection closes when nothing else uses it. */
static inline void sl_js_close(sl_jobstore *s)
{
	if (s)
		sl_txn_unref(s->txn);
}

#endif
