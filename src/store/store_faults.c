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
 * job to resume without racing a timer.
 *
 *   SLUICE_FAULTS="flush=3,times=2,code=DB_IO"
 *
 * makes the sink's 3rd and 4th flush (the writes a sink deferred to the end
 * of a chunk: the SQLite sink's merge of a keyed chunk's runs) fail, so the
 * engine's rollback, discard and retry of a chunk whose rows were half
 * written run as for a real fault. One fault kind per spec (times is
 * shared).
 *
 * It wraps all three parts of a store (txn.h, sink.h, jobstore.h) as one
 * layer over them: its ops tables name only what it changes; every other op
 * goes to the layer below through the inline wrappers (no pass-throughs).
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "store/store.h"

typedef struct faulty {
	sl_txn txn;
	sl_sink sink;
	sl_jobstore js;
	long chunk, crash; /* crash: the chunk after whose commit to die, or -1 */
	long flush_at, flushes; /* the sink's flush calls: the first to fail, and so far */
	bool crash_armed;  /* that chunk is in the open transaction */
	int times, code;
	char err[128];
} faulty;

static faulty *of_txn(sl_txn *t)
{
	return (faulty *)(void *)((char *)t - offsetof(faulty, txn));
}
static faulty *of_sink(sl_sink *k)
{
	return (faulty *)(void *)((char *)k - offsetof(faulty, sink));
}
static faulty *of_js(sl_jobstore *s)
{
	return (faulty *)(void *)((char *)s - offsetof(faulty, js));
}

static void f_close(sl_txn *t)
{
	t->next->ops->close(t->next);
	free(of_txn(t));
}
static const char *f_errmsg(sl_txn *t)
{
	faulty *f = of_txn(t);
	return f->err[0] ? f->err : sl_txn_errmsg(t->next);
}
static int f_begin(sl_txn *t)
{
	of_txn(t)->err[0] = 0;
	of_txn(t)->crash_armed = false;
	return sl_txn_begin(t->next);
}
static int f_commit(sl_txn *t)
{
	int rc = sl_txn_commit(t->next);
	if (rc == 0 && of_txn(t)->crash_armed)
		raise(SIGKILL); /* as kill -9 would: no cleanup, no exit handlers */
	return rc;
}
static void f_rollback(sl_txn *t)
{
	of_txn(t)->crash_armed = false;
	sl_txn_rollback(t->next);
}

/* The commit of chunk `c` is where faults strike: 1 when it must fail. */
static int strike(faulty *f, const sl_chunk *c)
{
	if (c->status == SL_CHUNK_SUCCEEDED && (long)c->seq == f->chunk && f->times > 0) {
		f->times--;
		snprintf(f->err, sizeof f->err, "injected fault (SLUICE_FAULTS): %s",
		         sl_error_name(f->code));
		return 1;
	}
	return 0;
}
static void arm(faulty *f, const sl_chunk *c)
{
	if (c->status == SL_CHUNK_SUCCEEDED && (long)c->seq == f->crash)
		f->crash_armed = true;
}
static int f_chunk_update(sl_jobstore *s, const char *j, const sl_chunk *c)
{
	faulty *f = of_js(s);
	if (strike(f, c))
		return f->code;
	int rc = sl_js_chunk_update(s->next, j, c);
	if (rc == 0)
		arm(f, c);
	return rc;
}
static int f_chunk_commit(sl_jobstore *s, const char *j, const sl_chunk *c,
                          const sl_job_counts *d)
{
	faulty *f = of_js(s);
	if (strike(f, c))
		return f->code;
	int rc = sl_js_chunk_commit(s->next, j, c, d);
	if (rc == 0)
		arm(f, c);
	return rc;
}

static int f_sink_flush(sl_sink *k, const sl_sink_cb *cb)
{
	faulty *f = of_sink(k);
	if (f->flush_at > 0 && ++f->flushes >= f->flush_at && f->times > 0) {
		f->times--;
		snprintf(f->err, sizeof f->err, "injected fault (SLUICE_FAULTS) in the sink's flush: %s",
		         sl_error_name(f->code));
		return f->code;
	}
	return sl_sink_flush(k->next, cb);
}

static const sl_txn_ops faulty_txn_ops = {
	.name = "faults",
	.close = f_close,
	.errmsg = f_errmsg,
	.begin = f_begin,
	.commit = f_commit,
	.rollback = f_rollback,
};
static const sl_sink_ops faulty_sink_ops = {.name = "faults", .flush = f_sink_flush};
static const sl_jobstore_ops faulty_js_ops = {
	.name = "faults",
	.chunk_update = f_chunk_update,
	.chunk_commit = f_chunk_commit,
};

int sl__store_faults_wrap(sl_store *s)
{
	const char *spec = getenv("SLUICE_FAULTS");
	if (!spec || !*spec)
		return 0;
	faulty *f = calloc(1, sizeof *f);
	if (!f)
		return SL_NOMEM;
	f->txn = (sl_txn){.ops = &faulty_txn_ops, .next = s->txn, .refs = s->txn->refs};
	f->sink = (sl_sink){.ops = &faulty_sink_ops, .next = s->sink, .txn = &f->txn};
	f->js = (sl_jobstore){.ops = &faulty_js_ops, .next = s->js, .txn = &f->txn};
	f->chunk = -1;
	f->crash = -1;
	f->code = SL_DB_BUSY;
	char name[32] = "";
	/* chunk=N,times=N,code=NAME,crash=N,flush=N in any order */
	for (const char *p = spec; *p;) {
		long v;
		if (sscanf(p, "chunk=%ld", &v) == 1)
			f->chunk = v;
		else if (sscanf(p, "crash=%ld", &v) == 1)
			f->crash = v;
		else if (sscanf(p, "flush=%ld", &v) == 1)
			f->flush_at = v;
		else if (sscanf(p, "times=%ld", &v) == 1)
			f->times = (int)v;
		else if (sscanf(p, "code=%31[A-Z_]", name) == 1 && sl_error_from_name(name) < 0)
			f->code = sl_error_from_name(name);
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	s->txn = &f->txn;
	s->sink = &f->sink;
	s->js = &f->js;
	return 0;
}
