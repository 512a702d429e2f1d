/*
 * Fault injection: a store that wraps another and fails where it is told,
 * for tests of the retry and failure paths (in the way SQLite's test_vfs.c
 * wraps a VFS). Off unless the environment sets SLUICE_FAULTS, e.g.
 *
 *   SLUICE_FAULTS="chunk=2,times=5,code=DB_BUSY"
 *
 * makes the first 5 attempts to commit chunk 2 fail with DB_BUSY (before
 * anything of it is committed, so the engine's rollback and retry run as
 * for a real fault), and
 *
 *   SLUICE_FAULTS="crash=2"
 *
 * kills the process with SIGKILL right after the transaction that commits
 * chunk 2 commits: a kill -9 at a known point, so a test gets an unfinished
 * job to resume without racing a timer. Also sl__store_open(), the one way
 * the engine and the front ends open a store.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "store/store.h"

typedef struct faulty {
	sl_store base;
	sl_store *in;
	long chunk, crash; /* crash: the chunk after whose commit to die, or -1 */
	bool crash_armed;  /* that chunk is in the open transaction */
	int times, code;
	char err[128];
} faulty;

#define IN(s) (((faulty *)(s))->in)

static void f_close(sl_store *s)
{
	IN(s)->ops->close(IN(s));
	free(s);
}
static const char *f_errmsg(sl_store *s)
{
	faulty *f = (faulty *)s;
	return f->err[0] ? f->err : IN(s)->ops->errmsg(IN(s));
}
static int f_begin(sl_store *s)
{
	((faulty *)s)->err[0] = 0;
	((faulty *)s)->crash_armed = false;
	return IN(s)->ops->begin(IN(s));
}
static int f_commit(sl_store *s)
{
	int rc = IN(s)->ops->commit(IN(s));
	if (rc == 0 && ((faulty *)s)->crash_armed)
		raise(SIGKILL); /* as kill -9 would: no cleanup, no exit handlers */
	return rc;
}
static void f_rollback(sl_store *s)
{
	((faulty *)s)->crash_armed = false;
	IN(s)->ops->rollback(IN(s));
}
static int f_target_prepare(sl_store *s, const sl_schema *sc, const char *job)
{
	return IN(s)->ops->target_prepare(IN(s), sc, job);
}
static int f_target_insert(sl_store *s, const sl_value *v, uint64_t rec, bool *dup)
{
	return IN(s)->ops->target_insert(IN(s), v, rec, dup);
}
static int f_target_insert_many(sl_store *s, const sl_value *const *v, const uint64_t *recs,
                                size_t n)
{
	return IN(s)->ops->target_insert_many(IN(s), v, recs, n);
}
static int f_target_replace(sl_store *s, const sl_value *v, uint64_t rec)
{
	return IN(s)->ops->target_replace(IN(s), v, rec);
}
static int f_target_delete_job(sl_store *s, const char *t, const char *j, uint64_t *rows)
{
	return IN(s)->ops->target_delete_job(IN(s), t, j, rows);
}
static int f_job_insert(sl_store *s, sl_job *j)
{
	return IN(s)->ops->job_insert(IN(s), j);
}
static int f_job_update(sl_store *s, const sl_job *j)
{
	return IN(s)->ops->job_update(IN(s), j);
}
static int f_job_get(sl_store *s, const char *id, sl_job *j)
{
	return IN(s)->ops->job_get(IN(s), id, j);
}
static int f_job_find_loaded(sl_store *s, const char *t, uint64_t sh, uint64_t size,
                             const uint64_t *h, const char *d, sl_job *j)
{
	return IN(s)->ops->job_find_loaded(IN(s), t, sh, size, h, d, j);
}
static int f_target_key_owner(sl_store *s, const sl_value *v, char job[SL_JOB_ID_LEN],
                              uint64_t *rec)
{
	return IN(s)->ops->target_key_owner(IN(s), v, job, rec);
}
static int f_job_find_open(sl_store *s, const char *f, const char *t, uint64_t h, sl_job *j)
{
	return IN(s)->ops->job_find_open(IN(s), f, t, h, j);
}
static int f_job_list(sl_store *s, int st, sl_job_cb cb, void *ctx)
{
	return IN(s)->ops->job_list(IN(s), st, cb, ctx);
}
static int f_chunks_replace(sl_store *s, const char *j, const sl_chunk *c, size_t n)
{
	return IN(s)->ops->chunks_replace(IN(s), j, c, n);
}
static int f_chunks_get(sl_store *s, const char *j, sl_chunk **c, size_t *n)
{
	return IN(s)->ops->chunks_get(IN(s), j, c, n);
}
static int f_chunk_update(sl_store *s, const char *j, const sl_chunk *c)
{
	faulty *f = (faulty *)s;
	if (c->status == SL_CHUNK_SUCCEEDED && (long)c->seq == f->chunk && f->times > 0) {
		f->times--;
		snprintf(f->err, sizeof f->err, "injected fault (SLUICE_FAULTS): %s",
		         sl_error_name(f->code));
		return f->code;
	}
	int rc = IN(s)->ops->chunk_update(IN(s), j, c);
	if (rc == 0 && c->status == SL_CHUNK_SUCCEEDED && (long)c->seq == f->crash)
		f->crash_armed = true;
	return rc;
}
static int f_reject_insert(sl_store *s, const char *j, uint32_t ch, const sl_reject *r,
                           const char *col)
{
	return IN(s)->ops->reject_insert(IN(s), j, ch, r, col);
}
static int f_rejects_each(sl_store *s, const char *j, int code, sl_reject_cb cb, void *ctx)
{
	return IN(s)->ops->rejects_each(IN(s), j, code, cb, ctx);
}
static int f_event_insert(sl_store *s, const sl_event *e)
{
	return IN(s)->ops->event_insert(IN(s), e);
}
static int f_gc(sl_store *s, int64_t before, uint64_t *jobs)
{
	return IN(s)->ops->gc(IN(s), before, jobs);
}

static int f_idem_get(sl_store *s, sl_idem *e)
{
	return IN(s)->ops->idem_get(IN(s), e);
}
static int f_idem_put(sl_store *s, const sl_idem *e)
{
	return IN(s)->ops->idem_put(IN(s), e);
}
static int f_cancel_set(sl_store *s, const char *j, bool on)
{
	return IN(s)->ops->cancel_set(IN(s), j, on);
}
static int f_cancel_get(sl_store *s, const char *j)
{
	return IN(s)->ops->cancel_get(IN(s), j);
}
static int f_chunk_counts(sl_store *s, uint64_t *out)
{
	return IN(s)->ops->chunk_counts(IN(s), out);
}
/* --- records --- */
static int f_records_each(sl_store *s, const sl_schema *sc, const size_t *cols,
                          const sl_value *vals, size_t nf, const char *job, int64_t after,
                          size_t limit, sl_record_cb cb, void *ctx)
{
	return IN(s)->ops->records_each(IN(s), sc, cols, vals, nf, job, after, limit, cb, ctx);
}

/* --- leases --- */
static int f_chunk_claim(sl_store *s, const char *j, const char *owner, int64_t ttl,
                         sl_owner_dead_fn dead, sl_lease *l)
{
	return IN(s)->ops->chunk_claim(IN(s), j, owner, ttl, dead, l);
}
static int f_lease_renew(sl_store *s, const sl_lease *l, int64_t ttl)
{
	return IN(s)->ops->lease_renew(IN(s), l, ttl);
}
static int f_lease_fence(sl_store *s, const sl_lease *l)
{
	return IN(s)->ops->lease_fence(IN(s), l);
}
static int f_lease_release(sl_store *s, const sl_lease *l)
{
	return IN(s)->ops->lease_release(IN(s), l);
}
static int f_job_add(sl_store *s, const char *j, const sl_job_delta *d)
{
	return IN(s)->ops->job_add(IN(s), j, d);
}
static int f_chunk_add(sl_store *s, const char *j, uint32_t seq, int64_t loaded, int64_t rejected)
{
	return IN(s)->ops->chunk_add(IN(s), j, seq, loaded, rejected);
}
static int f_reject_holder(sl_store *s, uint64_t holder)
{
	return IN(s)->ops->reject_holder(IN(s), holder);
}
static int f_rejects_rehold(sl_store *s, const char *j, uint64_t from, uint64_t to,
                            const char *ft, const char *tt)
{
	return IN(s)->ops->rejects_rehold(IN(s), j, from, to, ft, tt);
}
static int f_chunks_open(sl_store *s, const char *j, sl_owner_dead_fn dead, uint64_t *open,
                         uint64_t *live)
{
	return IN(s)->ops->chunks_open(IN(s), j, dead, open, live);
}

static const sl_store_ops faulty_ops = {
	.name = "faults",
	.close = f_close,
	.errmsg = f_errmsg,
	.begin = f_begin,
	.commit = f_commit,
	.rollback = f_rollback,
	.target_prepare = f_target_prepare,
	.target_insert = f_target_insert,
	.target_insert_many = f_target_insert_many,
	.target_delete_job = f_target_delete_job,
	.job_insert = f_job_insert,
	.job_update = f_job_update,
	.job_get = f_job_get,
	.job_find_open = f_job_find_open,
	.job_find_loaded = f_job_find_loaded,
	.target_key_owner = f_target_key_owner,
	.job_list = f_job_list,
	.chunks_replace = f_chunks_replace,
	.chunks_get = f_chunks_get,
	.chunk_update = f_chunk_update,
	.reject_insert = f_reject_insert,
	.rejects_each = f_rejects_each,
	.event_insert = f_event_insert,
	.gc = f_gc,
	.idem_get = f_idem_get,
	.idem_put = f_idem_put,
	.cancel_set = f_cancel_set,
	.cancel_get = f_cancel_get,
	.chunk_counts = f_chunk_counts,
	.records_each = f_records_each,
	.chunk_claim = f_chunk_claim,
	.lease_renew = f_lease_renew,
	.lease_fence = f_lease_fence,
	.lease_release = f_lease_release,
	.job_add = f_job_add,
	.chunks_open = f_chunks_open,
	.chunk_add = f_chunk_add,
	.target_replace = f_target_replace,
	.reject_holder = f_reject_holder,
	.rejects_rehold = f_rejects_rehold,
};

int sl__store_open(const char *db, int busy_timeout_ms, sl_store **out)
{
	int rc = sl__store_sqlite.open(db, busy_timeout_ms, out);
	const char *spec = getenv("SLUICE_FAULTS");
	if (rc < 0 || !spec || !*spec)
		return rc;
	faulty *f = calloc(1, sizeof *f);
	if (!f)
		return SL_NOMEM;
	f->base.ops = &faulty_ops;
	f->in = *out;
	f->chunk = -1;
	f->crash = -1;
	f->code = SL_DB_BUSY;
	char name[32] = "";
	/* chunk=N,times=N,code=NAME,crash=N in any order */
	for (const char *p = spec; *p;) {
		long v;
		if (sscanf(p, "chunk=%ld", &v) == 1)
			f->chunk = v;
		else if (sscanf(p, "crash=%ld", &v) == 1)
			f->crash = v;
		else if (sscanf(p, "times=%ld", &v) == 1)
			f->times = (int)v;
		else if (sscanf(p, "code=%31[A-Z_]", name) == 1 && sl_error_from_name(name) < 0)
			f->code = sl_error_from_name(name);
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	*out = &f->base;
	return 0;
}

/* Open the store at `db`, or say why not in msg (and leave *st NULL).
   Every reader of the job store opens it this way. */
int sl__store_open_msg(const char *db, sl_store **st, char *msg, size_t msglen)
{
	int rc = sl__store_open(db ? db : "sluice.db", 5000, st);
	if (rc < 0) {
		snprintf(msg, msglen, "database %s: %s", db ? db : "sluice.db",
			 *st ? sl_store_errmsg(*st) : sl_error_message(rc));
		if (*st)
			(*st)->ops->close(*st);
		*st = NULL;
	}
	return rc;
}
