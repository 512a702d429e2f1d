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

#include "sluice/ingest.h"
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
	/* Insert one row (values in schema column order). *dup: the key was
	   already there (nothing written, or the row updated with on_duplicate:
	   update). Any other conflict is an error, never a silent skip. */
	int (*target_insert)(sl_store *s, const sl_value *vals, bool *dup);
	/* Insert n rows of a table without a key (nothing can clash): several
	   per statement, which saves most of SQLite's per-statement work. */
	int (*target_insert_many)(sl_store *s, const sl_value *const *vals, size_t n);
	int (*target_delete_job)(sl_store *s, const char *table, const char *job_id, uint64_t *rows);

	/* Insert a new job; assigns j->seq (1, 2, ... per database). */
	int (*job_insert)(sl_store *s, sl_job *j);
	int (*job_update)(sl_store *s, const sl_job *j); /* status, counters, error, times */
	/* 1 found (*j filled), 0 not found */
	int (*job_get)(sl_store *s, const char *id, sl_job *j);
	/* The newest unfinished job for this file, schema and table: 1 found, 0 none. */
	int (*job_find_open)(sl_store *s, const char *file, const char *table, uint64_t schema_hash,
			     sl_job *j);
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
} sl_store_ops;

extern const sl_store_ops sl__store_sqlite;

/* Open the store at `db` (an SQLite file now). With SLUICE_FAULTS set, the
   store is wrapped by fault injection (store_faults.c, for tests). On
   failure *out may still be set: read sl_store_errmsg(), then close it. */
int sl__store_open(const char *db, int busy_timeout_ms, sl_store **out);

/* Helpers that dispatch through a handle's ops. */
struct sl_store {
	const sl_store_ops *ops;
};
static inline const char *sl_store_errmsg(sl_store *s)
{
	return s->ops->errmsg(s);
}



#endif
