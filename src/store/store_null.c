/*
 * The null sink (sink.h): where the rows of a dry run go. It takes every
 * row (all of them loaded, none a duplicate: nothing is there to clash
 * with) and keeps nothing; its transaction handle does nothing either. The
 * engine calls it as any sink, so it has no "is there a store?" branches.
 */
#include <stdlib.h>

#include "store/store.h"

typedef struct null_store {
	sl_txn txn;
	sl_sink sink;
} null_store;

static void n_close(sl_txn *t)
{
	free((null_store *)(void *)t); /* txn is the first member */
}
static const char *n_errmsg(sl_txn *t)
{
	(void)t;
	return "";
}
static int n_begin(sl_txn *t)
{
	(void)t;
	return 0;
}
static void n_rollback(sl_txn *t)
{
	(void)t;
}

static const sl_txn_ops null_txn_ops = {
	.name = "null",
	.close = n_close,
	.errmsg = n_errmsg,
	.begin = n_begin,
	.commit = n_begin,
	.rollback = n_rollback,
};

static int n_prepare(sl_sink *k, const sl_schema *sc, const char *job_id)
{
	(void)k;
	(void)sc;
	(void)job_id;
	return 0;
}
static int n_write(sl_sink *k, sl_sink_row *rows, size_t n, const sl_sink_cb *cb)
{
	(void)k;
	(void)rows;
	return n ? cb->loaded(cb->ctx, n) : 0;
}
static int n_key_owner(sl_sink *k, const sl_value *vals, char job[SL_JOB_ID_LEN], uint64_t *rec)
{
	(void)k;
	(void)vals;
	job[0] = 0;
	*rec = 0;
	return 0;
}
static int n_delete_job(sl_sink *k, const char *table, const char *job_id, uint64_t *rows)
{
	(void)k;
	(void)table;
	(void)job_id;
	*rows = 0;
	return 0;
}
static int n_records_each(sl_sink *k, const sl_schema *sc, const size_t *cols,
                          const sl_value *vals, size_t nf, const char *job_id, int64_t after,
                          size_t limit, sl_record_cb cb, void *ctx)
{
	(void)k, (void)sc, (void)cols, (void)vals, (void)nf, (void)job_id, (void)after;
	(void)limit, (void)cb, (void)ctx;
	return 0; /* no rows */
}

static const sl_sink_ops null_sink_ops = {
	.name = "null",
	.prepare = n_prepare,
	.write = n_write,
	.key_owner = n_key_owner,
	.delete_job = n_delete_job,
	.records_each = n_records_each,
};

int sl_sink_null(sl_sink **out)
{
	null_store *n = calloc(1, sizeof *n);
	*out = NULL;
	if (!n)
		return SL_NOMEM;
	n->txn = (sl_txn){.ops = &null_txn_ops, .refs = 1};
	n->sink = (sl_sink){.ops = &null_sink_ops, .txn = &n->txn};
	*out = &n->sink;
	return 0;
}

/* Here because the null sink is the one exception: it has nothing to commit,
   so any job store (or none) goes with it. */
bool sl_store_shared(const sl_sink *k, const sl_jobstore *js)
{
	return k->ops == &null_sink_ops || (js && k->txn == js->txn);
}
