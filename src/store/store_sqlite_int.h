/*
 * Private to src/store/store_sqlite*.c: what the SQLite store's files share
 * (the connection in store_sqlite.c; the target, job and records parts):
 * the store's state, the helpers every part calls, and each part's
 * operations, which the ops table in store_sqlite.c names.
 */
#ifndef SLUICE_STORE_SQLITE_INT_H
#define SLUICE_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "store/spill.h"
#include "store/store.h"

#define SL_MODE_TABLE_MAX 320 /* a shadow or stage table's name (store_sqlite_modes.c) */

/* One connection: the transaction handle, the sink and the job store that
   share it (store.h), and their statements. */
typedef struct sq_ckpt sq_ckpt; /* store_sqlite_ckpt.c */

typedef struct sq_store {
	sl_txn txn;
	sl_sink sink;
	sl_jobstore js;
	sqlite3 *db;
	sqlite3_stmt *ins_row, *ins_many, *ins_reject, *ins_event, *upd_job, *upd_chunk,
	    *add_counts, *add_code;
	sqlite3_stmt *key_owner; /* which job loaded a key (DUP_KEY messages) */
	sqlite3_stmt *lease_fence, *chunk_add, *reject_holder,
	    *rejects_rehold; /* store_sqlite_lease.c */
	sqlite3_stmt *claim_sel, *claim_upd, *claim_job, *chunks_open;
	sqlite3_stmt *replace_row; /* an earlier record's row displacing a later one's */
	sqlite3_stmt *in_target;   /* atomic: is a key in the target already */
	bool has_rec;              /* the target table has _sluice_rec */
	const sl_schema *schema;
	bool *real_as_text; /* per column: a REAL value goes into a TEXT column of an
	                       older table (see sl__sq_check_columns) */
	char job_id[SL_JOB_ID_LEN];
	bool upsert;
	/* the sink's chunk under way (store_sqlite_sink.c) */
	spill *sp;              /* keyed, not update: sorted runs merged at flush */
	const sl_value **vptrs; /* a write's rows without a key, for INSERT_MANY */
	uint64_t *recs;         /* their records */
	size_t vptrs_cap;
	bool index_pending; /* lookup indexes left for target_finish (store_sqlite_index.c) */
	/* the table the prepared job writes: the target (append), its shadow
	   (replace) or its stage (atomic); store_sqlite_modes.c */
	char wtable[SL_MODE_TABLE_MAX];
	/* a sink's WAL checkpoints, on a thread of their own (store_sqlite_ckpt.c) */
	sq_ckpt *ckpt;
	bool ckpt_failed; /* no thread: the commit checkpoints, as SQLite's default */
	char path[4096];
	char err[4096 + 512];
} sq_store;

static inline sq_store *sq_of_txn(sl_txn *t)
{
	return (sq_store *)(void *)((char *)t - offsetof(sq_store, txn));
}
static inline sq_store *sq_of_sink(sl_sink *k)
{
	return (sq_store *)(void *)((char *)k - offsetof(sq_store, sink));
}
static inline sq_store *sq_of_js(sl_jobstore *s)
{
	return (sq_store *)(void *)((char *)s - offsetof(sq_store, js));
}

/* store_sqlite.c: the connection */
int sl__sq_map_rc(sq_store *q, int rc);
int sl__sq_exec(sq_store *q, const char *sql);
int sl__sq_prep(sq_store *q, const char *sql, sqlite3_stmt **st);
int sl__sq_step_done(sq_store *q, sqlite3_stmt *st);
/* The first column of a one-row query as a number (0 when it fails). */
int sl__sq_count(sq_store *q, const char *sql);
/* ALTER TABLE table ADD COLUMN each of cols ("name TYPE"), in the caller's
   transaction; one another process added meanwhile is no error. */
int sl__sq_add_columns(sq_store *q, const char *table, const char *const *cols, size_t n);

/* store_sqlite_target.c: target tables */
int sl__sq_add_ident(sl_buf *b, const char *name);
int sl__sq_add(sl_buf *b, const char *s);
int sl__sq_check_columns(sq_store *q, const sl_schema *sc, const char *table, char *missing,
                         size_t n, bool *as_text);
/* Prepare `what` TABLE WHERE key = ?1 ... [UNION ALL `what` TABLE2 WHERE
   key = ?1 ...] LIMIT 1 (the key bound once for both) */
int sl__sq_key_select(sq_store *q, const char *what, const char *table, const char *table2,
                      sqlite3_stmt **out);
int sl__sq_target_prepare(sl_sink *s, const sl_schema *sc, const char *job_id);
void sl__sq_bind_real(sqlite3_stmt *st, int p, const sl_column *c, double d, bool as_text);
/* One row into the table the job writes: *dup when its key was there
   (reject, ignore), *updated when it updated the row of its key (update). */
int sl__sq_target_insert(sq_store *q, const sl_value *v, uint64_t rec, bool *dup, bool *updated);
int sl__sq_target_key_owner(sl_sink *s, const sl_value *v, char job[SL_JOB_ID_LEN], uint64_t *rec);
int sl__sq_target_insert_many(sq_store *q, const sl_value *const *vals, const uint64_t *recs,
                              size_t n);
int sl__sq_target_replace(sl_sink *s, const sl_sink_row *r);
int sl__sq_target_delete_job(sl_sink *s, const char *table, const char *job_id, uint64_t *rows);

/* store_sqlite_jobs.c: job tables */
int sl__sq_job_insert(sl_jobstore *s, sl_job *j);
int sl__sq_job_update(sl_jobstore *s, const sl_job *j, bool over_final);
int sl__sq_job_get(sl_jobstore *s, const char *id, sl_job *j);
int sl__sq_job_find_open(sl_jobstore *s, const char *file, const char *table, uint64_t schema_hash,
                         sl_job *j);
int sl__sq_job_find_loaded(sl_jobstore *s, const char *table, uint64_t schema_hash, uint64_t size,
                           const uint64_t *hash, const char *dialect, sl_job *j);
int sl__sq_job_list(sl_jobstore *s, const sl_job_filter *f, sl_job_cb cb, void *ctx);
int sl__sq_counts_add(sl_jobstore *s, const char *job_id, const sl_job_counts *d);
int sl__sq_chunk_update(sl_jobstore *s, const char *job_id, const sl_chunk *c);
int sl__sq_chunks_replace(sl_jobstore *s, const char *job_id, const sl_chunk *c, size_t n);
int sl__sq_chunks_get(sl_jobstore *s, const char *job_id, sl_chunk **out, size_t *n);
int sl__sq_reject_insert(sl_jobstore *s, const char *job_id, uint32_t chunk, const sl_reject *r,
                         const char *column);
int sl__sq_rejects_each(sl_jobstore *s, const char *job_id, int code, sl_reject_cb cb, void *ctx);
int sl__sq_event_insert(sl_jobstore *s, const sl_event *e);
int sl__sq_gc(sl_jobstore *s, int64_t before_ms, uint64_t *jobs);
int sl__sq_idem_get(sl_jobstore *s, sl_idem *e);
int sl__sq_idem_put(sl_jobstore *s, const sl_idem *e);
int sl__sq_cancel_set(sl_jobstore *s, const char *job_id, bool on);
int sl__sq_cancel_get(sl_jobstore *s, const char *job_id);
int sl__sq_chunk_counts(sl_jobstore *s, uint64_t *out);

/* store_sqlite_refeed.c: fix and refeed */
int sl__sq_files_schema(sq_store *q);           /* jobs.files, rejects.file, when missing */
int sl__sq_refeed_schema(sq_store *q);          /* its tables and columns, when missing */
int sl__sq_refeed_fill(sq_store *q, sl_job *j); /* j->refeed_of, j->rejects_resolved */
int sl__sq_refeed_claim(sl_jobstore *s, const char *job_id, const char *new_id, sl_str header,
                        sl_refeed_input *out);
int sl__sq_refeed_input(sl_jobstore *s, const char *job_id, sl_refeed_input *out);
int sl__sq_refeed_read(sl_jobstore *s, const char *job_id, uint64_t off, size_t max,
                       int (*cb)(void *ctx, uint64_t off, sl_str raw), void *ctx);
int sl__sq_refeed_settle(sl_jobstore *s, const char *job_id);
/* store_sqlite_lease.c: chunk leases; moving rows between chunks' counters */
int sl__sq_lease_upgrade(sq_store *q);
int sl__sq_chunk_claim(sl_jobstore *s, const char *job_id, const char *owner, int64_t ttl_ms,
                       sl_lease *l);
int sl__sq_lease_renew(sl_jobstore *s, const sl_lease *l, int64_t ttl_ms);
int sl__sq_lease_fence(sl_jobstore *s, const sl_lease *l);
int sl__sq_lease_release(sl_jobstore *s, const sl_lease *l);
int sl__sq_chunks_open(sl_jobstore *s, const char *job_id, sl_owner_dead_fn dead, uint64_t *open,
                       uint64_t *live);
int sl__sq_chunk_add(sl_jobstore *s, const char *job_id, uint32_t seq, int64_t loaded,
                     int64_t rejected);
int sl__sq_reject_holder(sl_jobstore *s, uint64_t holder);
int sl__sq_rejects_rehold(sl_jobstore *s, const char *job_id, uint64_t from, uint64_t to,
                          const char *from_text, const char *to_text);

/* store_sqlite_leader.c: the leader lease and the reaper */
int sl__sq_leader_upgrade(sq_store *q); /* its table and column, when missing */
int sl__sq_leader_acquire(sl_jobstore *s, const char *owner, int64_t ttl_ms, sl_owner_dead_fn dead,
                          sl_leader *l);
int sl__sq_leader_fence(sl_jobstore *s, sl_leader *l, int64_t ttl_ms);
int sl__sq_leader_release(sl_jobstore *s, const sl_leader *l);
int sl__sq_leader_get(sl_jobstore *s, sl_leader *l);
int sl__sq_chunks_reap(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, int max_attempts,
                       int64_t backoff_ms, uint32_t limit, uint64_t *n);
int sl__sq_chunks_due(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, uint64_t *n);

/* store_sqlite_records.c: records */
int sl__sq_records_indexes(sq_store *q, const sl_schema *sc);
int sl__sq_records_each(sl_sink *s, const sl_schema *sc, const size_t *cols, const sl_value *vals,
                        size_t nf, const char *job_id, int64_t after, size_t limit, sl_record_cb cb,
                        void *ctx);

/* store_sqlite_modes.c: load modes (docs/ingest.md, Load modes) */
int sl__sq_mode_table(const char *table, sl_load_mode mode, const char *job_id, char *out,
                      size_t n);
int sl__sq_sink_finish(sl_sink *k);
int sl__sq_mode_drop(sq_store *q, const char *table, const char *job_id, uint64_t *rows);

/* store_sqlite_sink.c: the sink's ops over the target's inserts */
extern const sl_sink_ops sl__sq_sink_ops;
void sl__sq_sink_free(sq_store *q);

/* store_sqlite_index.c: lookup indexes left out while a job loads */
void sl__sq_index_name(char *out, size_t n, const char *kind, const char *table, const char *col);
int sl__sq_index_prepare(sq_store *q, const sl_schema *sc);
int sl__sq_target_finish(sl_sink *s);

/* store_sqlite_ckpt.c: the connection's WAL checkpoints on a thread of
   its own (a sink's, from its prepare); stopped (joined) before it closes */
void sl__sq_ckpt_enable(sq_store *q);
void sl__sq_ckpt_stop(sq_store *q);

#endif
