/*
 * Private to sluice: the sink, where loaded rows go (a target table). One
 * interface, several backends: SQLite (store_sqlite_target.c,
 * store_sqlite_spill.c), the null sink of dry runs (store_null.c), fault
 * injection around either (store_faults.c); PostgreSQL registers later
 * (store.h). The engine calls only the inline wrappers below.
 *
 * A chunk's life in a sink: prepare() once per run (the table created or
 * checked), then for each chunk any number of write() calls with its good
 * rows in file order, then flush() before the commit of the sl_txn the
 * sink shares with the job store (txn.h), or discard() after a rollback. A
 * backend may write at once or defer to flush() (the SQLite sink of a keyed
 * table spills sorted runs and merges them into its key index at flush:
 * B-tree tuning that is the sink's business, not the engine's); either way
 * it tells the caller, through sl_sink_cb, how many rows went into the
 * table and which were duplicates of a key already there.
 *
 * Adding an op: a field in sl_sink_ops with its comment, a wrapper below
 * (SL__LAYER first, then the call; an optional op falls back to its shared
 * default sl__sink_def_OP in store_defaults.c), the implementation in each
 * backend, a test in tests/store/sink_suite.c. A wrapper backend (faults)
 * leaves the op NULL unless it changes it.
 */
#ifndef SLUICE_STORE_SINK_H
#define SLUICE_STORE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/job.h"
#include "sluice/records.h"
#include "sluice/schema.h"
#include "store/txn.h"

typedef struct sl_sink sl_sink;

/* A converted row and where it came from (for its reject if it turns out a
   duplicate). Views valid during the call only: a sink that defers a row
   copies what it keeps. */
typedef struct sl_sink_row {
	uint64_t record, line, offset;
	sl_str raw;
	const sl_value *vals; /* schema column order */
} sl_sink_row;

/* What a sink tells the caller about the rows it was given. */
typedef struct sl_sink_cb {
	/* n more rows are in the table (inserted, or updated with
	   on_duplicate: update). Non-zero stops the write and is returned. */
	int (*loaded)(void *ctx, size_t n);
	/* r's key was in the table already: nothing written for r. The caller
	   may call sl_sink_key_owner() from here. Non-zero stops the write. */
	int (*dup)(void *ctx, const sl_sink_row *r);
	void *ctx;
	/* Optional: the database refused r for a reason the schema does not
	   know (a CHECK, a foreign key, NOT NULL, a unique index on another
	   column; a value too long for its column): code DB_CONSTRAINT or
	   DB_VALUE, msg the database's words (SQLSTATE, constraint, message).
	   Nothing written for r; the other rows go on. NULL: such a row fails
	   the write with that code. Non-zero stops the write. */
	int (*refused)(void *ctx, const sl_sink_row *r, int code, const char *msg);
	/* Optional: n of the rows told loaded were updates of the row of their
	   key (on_duplicate: update; also a row whose key a later record of
	   the same job holds: the update that record overwrote), the others
	   inserts. Told after (or with) the loaded() that counted them.
	   Non-zero stops the write. */
	int (*updated)(void *ctx, size_t n);
} sl_sink_cb;

typedef struct sl_sink_ops {
	const char *name;

	/* The target table: create it (and its unique key index) when missing,
	   check its columns when present, prepare to write rows of `job_id`. */
	int (*prepare)(sl_sink *k, const sl_schema *schema, const char *job_id);
	/* Write n good rows of the chunk under way, given in file order (the
	   sink may reorder the array, never the values: the SQLite sink sorts
	   it by key in place). Every row is reported through cb exactly once,
	   by this call or by flush(): loaded or dup. Any other conflict is an
	   error, never a silent skip. */
	int (*write)(sl_sink *k, sl_sink_row *rows, size_t n, const sl_sink_cb *cb);
	/* Optional (default: nothing is deferred): write what write() deferred
	   for the chunk under way, before its commit. */
	int (*flush)(sl_sink *k, const sl_sink_cb *cb);
	/* Optional (default: nothing): forget what the chunk deferred (its
	   transaction was rolled back). */
	void (*discard)(sl_sink *k);
	/* Optional (default: nothing): the prepared job finishes, in the
	   transaction that finishes it, before its commit. The engine calls it
	   for a job that keeps its rows (Succeeded or PartiallySucceeded) and,
	   in append mode, for any end: a backend that wrote the rows aside
	   (schema->mode replace or atomic) makes them the table's here, so
	   readers see all of them or none; and what prepare() left for the end
	   is built, e.g. the SQLite sink's lookup indexes of a table that
	   lacked them (store_sqlite_index.c), so they commit with the rows. */
	int (*finish)(sl_sink *k);
	/* Which job and record loaded the row with the key of `vals` (schema
	   column order): its id in job, or "" when no row has that key; *rec 0
	   when the row has no record (loaded by an older sluice). */
	int (*key_owner)(sl_sink *k, const sl_value *vals, char job[SL_JOB_ID_LEN], uint64_t *rec);
	/* The row of the prepared job with the key of r->vals takes r's values
	   and record: an earlier record displacing a later one whose chunk
	   committed first (determinism without ordered commits, chunk_write.c).
	   Optional: a sink that never reports duplicates needs none; without it
	   a displacement is refused (CONFIG, sl__sink_def_replace). */
	int (*replace)(sl_sink *k, const sl_sink_row *r);
	/* Delete the rows job_id loaded into `table`; *rows: how many. */
	int (*delete_job)(sl_sink *k, const char *table, const char *job_id, uint64_t *rows);
	/* Rows of sc's target table with rowid > after, in rowid order, at most
	   `limit`: those whose column cols[k] equals vals[k] for every k
	   (values already converted as stored; SL_VALUE_NULL means IS NULL)
	   and, when job_id is not NULL, that job's rows. A table not created
	   yet has none. Stops at the first non-zero callback value and returns
	   it. Reads only (no write lock). */
	int (*records_each)(sl_sink *k, const sl_schema *sc, const size_t *cols,
	                    const sl_value *vals, size_t nf, const char *job_id, int64_t after,
	                    size_t limit, sl_record_cb cb, void *ctx);
} sl_sink_ops;

struct sl_sink {
	const sl_sink_ops *ops;
	sl_sink *next; /* the sink a wrapper wraps; NULL at the bottom */
	sl_txn *txn;   /* the connection (and transaction) it writes in */
};

/* shared defaults of the optional ops (store_defaults.c) */
int sl__sink_def_flush(sl_sink *k, const sl_sink_cb *cb);
void sl__sink_def_discard(sl_sink *k);
int sl__sink_def_finish(sl_sink *k);
int sl__sink_def_replace(sl_sink *k, const sl_sink_row *r);

/* The sink's transaction handle (shared with a job store opened with it). */
static inline sl_txn *sl_sink_txn(const sl_sink *k)
{
	return k->txn;
}

/* The database's words for the sink's last failure. */
static inline const char *sl_sink_errmsg(sl_sink *k)
{
	return sl_txn_errmsg(k->txn);
}

/* Create or check the target table of `schema` and prepare for job_id. */
static inline int sl_sink_prepare(sl_sink *k, const sl_schema *schema, const char *job_id)
{
	SL__LAYER(k, prepare);
	return k->ops->prepare(k, schema, job_id);
}

/* Write n good rows of the chunk under way (file order; the array may be
   reordered); see sl_sink_cb. */
static inline int sl_sink_write(sl_sink *k, sl_sink_row *rows, size_t n, const sl_sink_cb *cb)
{
	SL__LAYER(k, write);
	return k->ops->write(k, rows, n, cb);
}

/* Finish the chunk's deferred rows, before its commit. */
static inline int sl_sink_flush(sl_sink *k, const sl_sink_cb *cb)
{
	sl_sink *l = k; /* the default runs on the top layer: a wrapper sees its parts */
	SL__LAYER(l, flush);
	return l->ops->flush ? l->ops->flush(l, cb) : sl__sink_def_flush(k, cb);
}

/* Drop the chunk's deferred rows (after a rollback). */
static inline void sl_sink_discard(sl_sink *k)
{
	sl_sink *l = k;
	SL__LAYER(l, discard);
	if (l->ops->discard)
		l->ops->discard(l);
	else
		sl__sink_def_discard(k);
}

/* Make the finishing job's rows the table's (load modes); see ops.finish. */
static inline int sl_sink_finish(sl_sink *k)
{
	sl_sink *l = k;
	SL__LAYER(l, finish);
	return l->ops->finish ? l->ops->finish(l) : sl__sink_def_finish(k);
}

/* Which job and record loaded the key of `vals` ("" when none). */
static inline int sl_sink_key_owner(sl_sink *k, const sl_value *vals, char job[SL_JOB_ID_LEN],
                                    uint64_t *rec)
{
	SL__LAYER(k, key_owner);
	return k->ops->key_owner(k, vals, job, rec);
}

/* This job's row with r's key takes r's values and record. A backend
   without the op refuses (sl__sink_def_replace): CONFIG, it cannot keep a
   key's earliest record once a later record's chunk committed first; the
   engine says so in the job's message (sl_sink_can_replace). */
static inline int sl_sink_replace(sl_sink *k, const sl_sink_row *r)
{
	SL__LAYER(k, replace);
	return k->ops->replace ? k->ops->replace(k, r) : sl__sink_def_replace(k, r);
}

/* Whether the sink has the replace op (in any of its layers). */
static inline bool sl_sink_can_replace(sl_sink *k)
{
	SL__LAYER(k, replace);
	return k->ops->replace != NULL;
}

/* Delete job_id's rows from `table` (rollback of a job). */
static inline int sl_sink_delete_job(sl_sink *k, const char *table, const char *job_id,
                                     uint64_t *rows)
{
	SL__LAYER(k, delete_job);
	return k->ops->delete_job(k, table, job_id, rows);
}

/* Walk loaded rows (the records API); see sl_sink_ops.records_each. */
static inline int sl_sink_records_each(sl_sink *k, const sl_schema *sc, const size_t *cols,
                                       const sl_value *vals, size_t nf, const char *job_id,
                                       int64_t after, size_t limit, sl_record_cb cb, void *ctx)
{
	SL__LAYER(k, records_each);
	return k->ops->records_each(k, sc, cols, vals, nf, job_id, after, limit, cb, ctx);
}

/* Close the sink: its connection closes when nothing else uses it (a sink
   lives as long as its connection: sl_txn.close frees both). */
static inline void sl_sink_close(sl_sink *k)
{
	if (k)
		sl_txn_unref(k->txn);
}

/* The null sink: takes every row (all loaded, no duplicates), keeps
   nothing; for dry runs and `validate`. Its transaction does nothing. */
int sl_sink_null(sl_sink **out);

#endif
