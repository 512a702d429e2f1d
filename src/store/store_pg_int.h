/*
 * Private to src/store/store_pg*.c: the PostgreSQL store (a sink and a job
 * store on one connection, registered for postgres:// and postgresql://
 * URIs), built on src/pg/. store_pg.c is the connection and the sink,
 * store_pg_jobs.c the job store; they share this state and the parameter
 * helper below.
 */
#ifndef SLUICE_STORE_PG_INT_H
#define SLUICE_STORE_PG_INT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "pg/pg.h"
#include "store/spill.h"
#include "store/store.h"

/* a shadow or stage table's name, NUL included (store_pg_modes.c) */
#define SL_PQ_MODE_TABLE_MAX 80

typedef struct pq_store {
	sl_txn txn;
	sl_sink sink;
	sl_jobstore js;
	sl_pg *pg;
	/* the sink */
	const sl_schema *schema;
	sl_pg_writer *w;
	char job_id[SL_JOB_ID_LEN];
	char *key_owner_sql, *key_lock_sql, *replace_sql;
	/* a replace or atomic job's shadow or stage (store_pg_modes.c): its
	   name ("" in append mode) and the writer's schema, which names it */
	char wtable[SL_PQ_MODE_TABLE_MAX];
	sl_schema wsc;
	/* a write's row pointers, records and outcomes */
	const sl_value **vals;
	uint64_t *recs;
	uint8_t *out;
	size_t cap;
	const sl_sink_row *rows; /* the write under way, for the refusal callback */
	const sl_sink_cb *cb;
	/* a keyed chunk (reject, ignore): its sorted runs, merged and COPYed at
	   flush; rows copied for the exact way when that COPY is refused */
	spill *sp;
	sl_buf prev;       /* the key of the row merged last (its text bytes) */
	sl_value *prevkey; /* schema column order, key columns set */
	bool have_prev;
	sl_sink_row *grows; /* the exact way's group: rows, values, bytes */
	sl_value *gvals;
	size_t gn, gcap;
	char *gbytes;
	size_t gused, gbcap;
	/* the session's own settings (a lock timeout, the idle-in-transaction
	   limit), re-run after each reconnect, and whether LISTEN sluice is
	   among them (store_pg_notify.c) */
	char session[128];
	int lock_ms, hold_ms;
	bool listening;
} pq_store;

static inline pq_store *pq_of_txn(sl_txn *t)
{
	return (pq_store *)(void *)((char *)t - offsetof(pq_store, txn));
}
static inline pq_store *pq_of_sink(sl_sink *k)
{
	return (pq_store *)(void *)((char *)k - offsetof(pq_store, sink));
}
static inline pq_store *pq_of_js(sl_jobstore *s)
{
	return (pq_store *)(void *)((char *)s - offsetof(pq_store, js));
}

/* The database's clock, in ms since the epoch, as SQL: every lease and
   backoff (chunks, the leader) is set and compared on it, never on a
   process's clock, so processes on machines whose clocks disagree agree
   on when a lease runs out (docs/scaling.md, Clocks). clock_timestamp(),
   not now(): the time of the statement, not of its transaction's start. */
#define PQ_NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

/* Text parameters of one statement ($1, $2, ...): strings as given (NULL
   is SQL NULL), numbers printed into the struct; one binary parameter
   (bytea) at most. */
#define PQ_MAX_PARAMS 40
typedef struct pq_params {
	const char *v[PQ_MAX_PARAMS];
	int len[PQ_MAX_PARAMS], fmt[PQ_MAX_PARAMS];
	char num[PQ_MAX_PARAMS][24];
	int n;
} pq_params;
void sl__pq_str(pq_params *p, const char *s);
void sl__pq_int(pq_params *p, int64_t x);
void sl__pq_bytes(pq_params *p, const char *b, size_t n);
/* Run sql with p (NULL: none); the result when it is rows or done, else
   NULL with *rc the failure's code (the caller PQclear()s). */
PGresult *sl__pq_run(pq_store *q, const char *sql, const pq_params *p, int *rc);

extern const sl_jobstore_ops sl__pq_js_ops;

/* The lease ops of the job store (store_pg_lease.c; their meaning is in
   sl_jobstore_ops, store/jobstore.h). */
int sl__pq_chunk_claim(sl_jobstore *s, const char *job_id, const char *owner, int64_t ttl_ms,
                       sl_lease *l);
int sl__pq_lease_renew(sl_jobstore *s, const sl_lease *l, int64_t ttl_ms);
int sl__pq_lease_fence(sl_jobstore *s, const sl_lease *l);
int sl__pq_lease_release(sl_jobstore *s, const sl_lease *l);
/* The leader lease and the reaper (store_pg_leader.c; jobstore.h). */
int sl__pq_leader_acquire(sl_jobstore *s, const char *owner, int64_t ttl_ms, sl_owner_dead_fn dead,
                          sl_leader *l);
int sl__pq_leader_fence(sl_jobstore *s, sl_leader *l, int64_t ttl_ms);
int sl__pq_leader_release(sl_jobstore *s, const sl_leader *l);
int sl__pq_leader_get(sl_jobstore *s, sl_leader *l);
int sl__pq_chunks_reap(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, int max_attempts,
                       int64_t backoff_ms, uint32_t limit, uint64_t *n);
int sl__pq_chunks_due(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, uint64_t *n);
/* Idle waits woken by NOTIFY (store_pg_notify.c; jobstore.h). */
int sl__pq_idle_wait(sl_jobstore *s, int64_t timeout_ms);
int sl__pq_chunks_open(sl_jobstore *s, const char *job_id, sl_owner_dead_fn dead, uint64_t *open,
                       uint64_t *live);
int sl__pq_chunk_add(sl_jobstore *s, const char *job_id, uint32_t seq, int64_t loaded,
                     int64_t rejected);
int sl__pq_reject_holder(sl_jobstore *s, uint64_t holder);
int sl__pq_rejects_rehold(sl_jobstore *s, const char *job_id, uint64_t from, uint64_t to,
                          const char *from_text, const char *to_text);

/* Fix and refeed (store_pg_refeed.c; the ops' meaning is in
   sl_jobstore_ops): and the refeed fields of a job read (refeed_of,
   rejects_resolved). */
int sl__pq_refeed_claim(sl_jobstore *s, const char *job_id, const char *new_id, sl_str header,
                        sl_refeed_input *out);
int sl__pq_refeed_input(sl_jobstore *s, const char *job_id, sl_refeed_input *out);
int sl__pq_refeed_read(sl_jobstore *s, const char *job_id, uint64_t off, size_t max,
                       int (*cb)(void *ctx, uint64_t off, sl_str raw), void *ctx);
int sl__pq_refeed_settle(sl_jobstore *s, const char *job_id);
int sl__pq_refeed_fill(pq_store *q, sl_job *j);

/* The load modes of the sink (store_pg_modes.c): the name of a job's
   shadow (replace) or stage (atomic) table; preparing it (q->wtable,
   q->wsc: the writer writes there); the finish that swaps or merges it in;
   dropping a rolled back job's, its rows counted into *rows. */
int sl__pq_mode_table(const char *table, sl_load_mode mode, const char *job_id,
                      char out[SL_PQ_MODE_TABLE_MAX]);
int sl__pq_mode_prepare(pq_store *q, const sl_schema *sc, const char *job_id);
int sl__pq_sink_finish(sl_sink *k);
int sl__pq_mode_drop(pq_store *q, const char *table, const char *job_id, uint64_t *rows);

#endif
