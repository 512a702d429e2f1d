/*
 * The ingest engine: plan a job, run its chunks through parallel workers
 * and one ordered writer, checkpoint each chunk in one transaction.
 *
 *   plan     fingerprint the file and the schema, split the file into
 *            chunks (csv_split.c), store the job and its chunks
 *   workers  take chunks in file order, parse and validate them, and hand
 *            batches of converted rows and rejects to the chunk's slot
 *   writer   (the calling thread) takes the slots in file order and, per
 *            chunk, in ONE transaction: inserts the rows (the database
 *            finds duplicate keys), the rejects, the chunk's status, the
 *            job's counters and the end event. That commit is the
 *            checkpoint: a resume skips Succeeded chunks and redoes the rest
 *            from scratch, so every row is loaded exactly once.
 *
 * Determinism: the writer commits in file order whatever the thread count,
 * so "the earliest occurrence wins" for duplicate keys and every table is
 * the same for any thread count and chunk size.
 *
 * Locking: each slot has its own mutex and condition variable, guarding
 * its fields (want, queue, done, result). `next` (the next chunk for a
 * worker) and `abort` are atomics. The free list of batches has its own
 * mutex. Nothing else is shared: the schema is read-only, every worker has
 * its own validator, reader and file offset (pread).
 *
 * This file is the run: which job (new, resumed, retried, or a file loaded
 * already), the workers and the writer started and joined, the job's end,
 * and rollback. The other parts are plan.c (fingerprint, header, split),
 * chunk_read.c (workers: parse and validate a chunk into batches) and
 * chunk_write.c (the writer: one chunk, one transaction); they share
 * ingest_int.h.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "engine/ingest_int.h"

void sl__ingest_say(ingest *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->msg, g->msglen, fmt, ap);
	va_end(ap);
}

/* --- batches ------------------------------------------------------------- */

static void batch_free(batch *b)
{
	if (!b)
		return;
	free(b->e);
	free(b->vals);
	free(b->arena);
	free(b);
}

batch *sl__ingest_batch_get(ingest *g)
{
	batch *b = NULL;
	pthread_mutex_lock(&g->free_mu);
	if (g->free_list) {
		b = g->free_list;
		g->free_list = b->next;
	}
	pthread_mutex_unlock(&g->free_mu);
	if (!b) {
		b = calloc(1, sizeof *b);
		if (!b)
			return NULL;
		b->e = malloc(BATCH_ROWS * sizeof *b->e);
		b->vals_cap = BATCH_ROWS * (g->schema->ncols ? g->schema->ncols : 1);
		b->vals = malloc(b->vals_cap * sizeof *b->vals);
		b->cap = BATCH_ARENA;
		b->arena = malloc(b->cap);
		if (!b->e || !b->vals || !b->arena) {
			batch_free(b);
			return NULL;
		}
	}
	b->next = NULL;
	b->n = b->nvals = b->used = 0;
	b->end_offset = 0;
	return b;
}

/* Free the batches kept for reuse (a run's or a worker's job context ends). */
void sl__ingest_batches_free(ingest *g)
{
	while (g->free_list) {
		batch *b = g->free_list;
		g->free_list = b->next;
		batch_free(b);
	}
}

void sl__ingest_batch_put(ingest *g, batch *b)
{
	if (!b)
		return;
	if (b->cap != BATCH_ARENA) { /* an outsized arena for one huge record: give it back */
		batch_free(b);
		return;
	}
	pthread_mutex_lock(&g->free_mu);
	b->next = g->free_list;
	g->free_list = b;
	pthread_mutex_unlock(&g->free_mu);
}

/* Room for a record of raw length n (its values and message included)? */
/* --- slots ------------------------------------------------------------------ */

void sl__ingest_slot_push(ingest *g, slot *s, batch *b)
{
	pthread_mutex_lock(&s->mu);
	while (s->nq >= SLOT_BATCHES && !atomic_load(&g->abort))
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->tail)
		s->tail->next = b;
	else
		s->head = b;
	s->tail = b;
	s->nq++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Next batch of the slot, or NULL when the chunk is done (or aborted). */
batch *sl__ingest_slot_pop(ingest *g, slot *s)
{
	batch *b = NULL;
	pthread_mutex_lock(&s->mu);
	while (!s->head && !s->done && !atomic_load(&g->abort))
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->head) {
		b = s->head;
		s->head = b->next;
		if (!s->head)
			s->tail = NULL;
		s->nq--;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return b;
}

static void abort_all(ingest *g)
{
	atomic_store(&g->abort, 1);
	for (size_t i = 0; i < g->nslots; i++) {
		pthread_mutex_lock(&g->slots[i].mu);
		pthread_cond_broadcast(&g->slots[i].cv);
		pthread_mutex_unlock(&g->slots[i].mu);
	}
}

/* --- the run -------------------------------------------------------------- */

/*
 * Rows appended while the job runs are not part of it: the job loads the
 * file as it was when it was planned (its chunks end at the planned size).
 * Say so: a warning on the job, or IO_CHANGED with opts.strict_source.
 */
static int source_check(ingest *g)
{
	struct stat st;
	if (!g->src || sl__ingest_source_stat(g, &st) < 0 || (uint64_t)st.st_size <= g->job.file_size)
		return 0;
	char w[512];
	snprintf(
	    w, sizeof w,
	    "the file grew from %llu to %llu bytes while the job ran; the job loads it as it was "
	    "planned (%llu bytes); the bytes appended are not loaded",
	    (unsigned long long)g->job.file_size, (unsigned long long)st.st_size,
	    (unsigned long long)g->job.file_size);
	if (g->o->strict_source) {
		sl__ingest_say(g, "%s (--strict-source)", w);
		return SL_IO_CHANGED;
	}
	if (g->job.warnings && strstr(g->job.warnings, "the file grew"))
		return 0; /* said once */
	size_t have = g->job.warnings ? strlen(g->job.warnings) : 0, n = strlen(w);
	char *all = realloc(g->job.warnings, have + n + 2);
	if (!all)
		return SL_NOMEM;
	memcpy(all + have, w, n);
	all[have + n] = '\n';
	all[have + n + 1] = '\0';
	g->job.warnings = all;
	return 0;
}

/* Asked to stop? A cancel request in the store (any process may file it:
   sl_job_cancel), or the caller's pause (a scheduler sharing the machine). */
static bool stop_requested(ingest *g)
{
	if (g->st && sl_js_cancel_get(g->st, g->job.id) == 1) {
		g->cancelled = true;
		return true;
	}
	if (g->o->pause && g->o->pause(g->o->pause_ctx)) {
		g->paused = true;
		return true;
	}
	return false;
}

#define CLOSED SIZE_MAX /* a slot's `want` when no chunk is coming for it */

/* Room for one more chunk in the arrays indexed by chunk (a pipelined plan
   grows them as the planner finds chunks; only this thread reads them). */
static int grow_chunks(ingest *g)
{
	if (g->nchunks < g->chunks_cap)
		return 0;
	size_t nc = g->chunks_cap ? 2 * g->chunks_cap : 64;
	sl_chunk *c = realloc(g->chunks, nc * sizeof *c);
	if (!c)
		return SL_NOMEM;
	g->chunks = c;
	sl_lease *l = realloc(g->lease, nc * sizeof *l);
	if (!l)
		return SL_NOMEM;
	memset(l + g->chunks_cap, 0, (nc - g->chunks_cap) * sizeof *l);
	g->lease = l;
	size_t *p = realloc(g->pending, nc * sizeof *p);
	if (!p)
		return SL_NOMEM;
	g->pending = p;
	g->chunks_cap = nc;
	return 0;
}

static int tx_chunk_put(ingest *g)
{
	return sl_js_chunk_update(g->st, g->job.id, &g->chunks[g->nchunks - 1]);
}

/* A pipelined plan (plan.c): the next chunk the planner found, stored
   (Queued) for the claim that follows; one an earlier run of the job
   committed (Succeeded or Failed, the same range and hash) is kept as the
   store has it and skipped. 1 stored, 0 the plan is complete, <0. */
static int take_found(ingest *g)
{
	for (;;) {
		sl_chunk c;
		int rc = sl__ingest_pipe_next(g, &c);
		if (rc <= 0 || (rc = grow_chunks(g)) < 0)
			return rc;
		const sl_chunk *o =
		    c.seq < g->nold && g->old[c.seq].seq == c.seq ? &g->old[c.seq] : NULL;
		if (o && (o->offset != c.offset || o->length != c.length || o->hash != c.hash)) {
			sl__ingest_say(
			    g,
			    "%s: chunk %u of job %s was bytes %llu..%llu when an earlier run "
			    "stored it, and reads differently now; start a new job with --new",
			    g->job.file, c.seq, g->job.id, (unsigned long long)o->offset,
			    (unsigned long long)(o->offset + o->length));
			return SL_IO_CHANGED;
		}
		g->rows_planned += c.records_planned;
		if (o && (o->status == SL_CHUNK_SUCCEEDED || o->status == SL_CHUNK_FAILED)) {
			g->chunks[g->nchunks++] = *o; /* committed: never run again */
			continue;
		}
		if (o)
			c.attempts = o->attempts;
		g->chunks[g->nchunks++] = c;
		return (rc = sl__ingest_store_tx(g, tx_chunk_put)) < 0 ? rc : 1;
	}
}

/* Claim the next chunk of the job for pending index k: 1 (pending[k] set,
   its lease held and beating), 0 none left to claim, <0 failure. */
static int claim_pending(ingest *g, size_t k)
{
	sl_lease l;
	if (!g->st) {
		/* a dry run: every chunk in file order, nothing to share */
		size_t i = k ? g->pending[k - 1] + 1 : 0;
		while (i < g->nchunks && g->chunks[i].status != SL_CHUNK_QUEUED &&
		       g->chunks[i].status != SL_CHUNK_PROCESSING)
			i++;
		if (i >= g->nchunks)
			return 0;
		g->pending[k] = i;
		g->npending = k + 1;
		return 1;
	}
	int rc;
	for (;;) {
		if (g->pipe && (rc = take_found(g)) <= 0)
			return rc;
		if ((rc = sl__lease_claim(g, g->job.id, &l)) <= 0)
			return rc;
		if (l.seq >= g->nchunks || g->chunks[l.seq].seq != l.seq ||
		    (g->pipe && g->planning && l.seq + 1 != g->nchunks)) {
			sl__lease_give_back(g, &l);
			sl__ingest_say(g,
			               "internal error: claimed chunk %u of a job with %zu chunks",
			               l.seq, g->nchunks);
			return SL_INTERNAL;
		}
		g->lease[l.seq] = l;
		/* attempts spent: Failed now, before a reader parses it (a chunk
		   that kills its parser would kill this run too); the next one */
		sl_chunk *c = &g->chunks[l.seq];
		worker stub = {.g = g};
		chunk_handles h = sl__chunk_handles(g, &stub);
		int sp = sl__chunk_spent(&h, c, &g->lease[l.seq]);
		if (sp == 0)
			break;
		g->lease[l.seq].epoch = 0;
		if (sp < 0 && sp != SL_LEASE_LOST)
			return sp;
		if (sp == 1) {
			sl__ingest_progress_chunk(g, c);
			if ((rc = sl__ingest_after_chunk(g, c)) < 0)
				return rc;
			if (g->finished)
				return 0;
		}
	}
	g->pending[k] = l.seq;
	g->npending = k + 1;
	return sl__heart_add(g->hb, &l) < 0 ? SL_LIMIT : 1;
}

/* A chunk is done with, committed or not: its lease is no longer beating;
   one not committed (a failure, a stop) goes back to the queue. */
static void drop_lease(ingest *g, size_t idx, bool committed)
{
	sl_lease *l = &g->lease[idx];
	if (!l->epoch)
		return;
	if (committed)
		sl__heart_drop(g->hb, l);
	else
		sl__lease_give_back(g, l);
	l->epoch = 0;
}

/*
 * After a chunk: stop the run? The error budget (SL_LIMIT), a full disk
 * (SL_DB_FULL: the chunks left would fail the same way) or a file that
 * grew under --strict-source; else 0.
 */
int sl__ingest_after_chunk(ingest *g, const sl_chunk *c)
{
	int rc;
	if (sl__ingest_budget_exceeded(g))
		return SL_LIMIT;
	if ((rc = source_check(g)) < 0)
		return rc;
	if (c->status == SL_CHUNK_FAILED && c->last_error == SL_DB_FULL) {
		/* keep what is committed, let the user make room and retry */
		sl__ingest_say(
		    g, "%s; the chunks left stay queued: make room, then run 'sluice retry %s'",
		    c->last_message, g->job.id);
		return SL_DB_FULL;
	}
	return 0;
}

/*
 * The tail of a run: our own chunks are done, but the job is not finished
 * while other processes run its last chunks. Wait for their commits (the
 * last one finishes the job), and take over any chunk whose lease runs
 * out (its holder died or hangs), running it on this thread.
 */
static int run_tail(ingest *g, worker *self)
{
	int64_t poll_ms = g->ttl_ms / 10 < 100 ? (g->ttl_ms / 10 > 5 ? g->ttl_ms / 10 : 5) : 100;
	for (;;) {
		sl_lease l;
		int rc = sl_txn_begin(g->txn);
		if (rc == 0 && (rc = sl__ingest_job_refresh(g)) == 0)
			sl_txn_rollback(g->txn);
		else
			sl_txn_rollback(g->txn);
		if (rc < 0 && sl_error_class(rc) != SL_CLASS_RETRY)
			return rc;
		if (rc == 0 && sl_job_status_final(g->job.status))
			return 0;
		if (rc == 0 && stop_requested(g))
			return 0;
		rc = sl__lease_claim(g, g->job.id, &l);
		if (rc < 0 && sl_error_class(rc) != SL_CLASS_RETRY)
			return rc;
		if (rc == 1) {
			if (l.seq >= g->nchunks) {
				sl__lease_give_back(g, &l);
				return SL_INTERNAL;
			}
			g->lease[l.seq] = l;
			sl__heart_add(g->hb, &l);
			sl_chunk *c = &g->chunks[l.seq];
			/* a chunk taken over is started here, not by the writer: the
			   test pause holds it too (tests/pg/test_pg_chaos.sh) */
			sl__ingest_test_pause(g, c, "SLUICE_TEST_PAUSE");
			chunk_handles h = sl__chunk_handles(g, self);
			rc = sl__chunk_run(&h, c, &g->lease[l.seq], NULL);
			drop_lease(g, l.seq, rc == 0);
			if (rc == SL_LEASE_LOST)
				continue;
			if (rc < 0)
				return rc;
			sl__ingest_progress_chunk(g, c);
			if ((rc = sl__ingest_after_chunk(g, c)) < 0)
				return rc;
			continue;
		}
		/* nothing left open and nobody finished the job (a retry of a job
		   whose chunks were all done: a cancel that came after its last
		   commit): the run's end finishes it (sl__ingest_finish_job) */
		uint64_t open = 0, live = 0;
		rc = sl_js_chunks_open(g->st, g->job.id, sl__lease_owner_dead, &open, &live);
		if (rc < 0 && sl_error_class(rc) != SL_CLASS_RETRY)
			return rc;
		if (rc == 0 && !open)
			return 0;
		/* others hold the rest: look again shortly, or when news comes
		   (PostgreSQL NOTIFYs a chunk queued again and the job's end) */
		sl_js_idle_wait(g->st, poll_ms);
	}
}

/*
 * The writers of a run into PostgreSQL without a key: the server is the
 * writer there and takes several at once (each chunk one transaction of
 * its own backend), where SQLite takes one. Besides this run's writer,
 * `writers - 1` runners of sl_worker_run, each with its own connection,
 * claim and commit the job's chunks beside it (as `sluice worker`s on the
 * same job would: leases, fences and the fan-in are the same), so the
 * server COPYs several chunks at once. Only without a key: a keyed load
 * is faster in one sorted stream (docs/scaling.md), and its rows' order of
 * commits matters to the earliest-record rule. Only in append mode, from
 * a file (a stream is read once, here), and not in a pipelined plan (its
 * chunks are claimed one by one as the planner finds them, by this run:
 * claim_pending). SLUICE_PG_WRITERS=N sets how many
 * (1: none besides this one); the default is 2 with 2 or more threads.
 */
typedef struct lanes {
	sl_worker_opts wo;
	char job[SL_JOB_ID_LEN]; /* the runners' own copy: the run rewrites g->job */
	pthread_t tid;
	bool started;
	atomic_int stop;
	sl_worker_result res;
} lanes;

static bool sink_is(const sl_sink *k, const char *name)
{
	while (k && k->next)
		k = k->next;
	return k && k->ops->name && !strcmp(k->ops->name, name);
}

static int lanes_wanted(const ingest *g, int threads, size_t todo)
{
	const char *e = getenv("SLUICE_PG_WRITERS");
	int n = threads >= 2 ? 2 : 1;
	if (e && *e >= '0' && *e <= '9')
		n = (int)strtol(e, NULL, 10);
	if (n > 16)
		n = 16; /* each one a connection, and a backend */
	if (!g->st || !sink_is(g->sink, "postgres") || g->schema->nkey ||
	    g->schema->mode != SL_MODE_APPEND || g->stream || g->pipe || !g->job.schema_path ||
	    !*g->job.schema_path || todo < 2)
		return 1;
	return n < 1 ? 1 : (size_t)n > todo ? (int)todo : n;
}

static int lanes_stop_cb(void *ctx)
{
	return atomic_load(&((lanes *)ctx)->stop);
}

static void *lanes_main(void *arg)
{
	lanes *w = arg;
	sl_worker_run(&w->wo, &w->res);
	return NULL;
}

static void lanes_start(ingest *g, lanes *w, int n)
{
	atomic_init(&w->stop, 0);
	memcpy(w->job, g->job.id, sizeof w->job);
	w->wo = (sl_worker_opts){.db = g->o->db,
	                         .threads = n,
	                         .name = "ingest",
	                         .lease_ttl_ms = g->ttl_ms,
	                         .leader = {.off = true},
	                         .busy_timeout_ms = g->o->busy_timeout_ms,
	                         .job_id = w->job,
	                         .stop = lanes_stop_cb,
	                         .stop_ctx = w};
	/* none started: this run writes every chunk itself, as it would */
	w->started = pthread_create(&w->tid, NULL, lanes_main, w) == 0;
}

/* Stops the runners between chunks (the one they run commits or goes back
   to the queue) and waits for them. */
static void lanes_join(lanes *w)
{
	if (!w->started)
		return;
	atomic_store(&w->stop, 1);
	pthread_join(w->tid, NULL);
	w->started = false;
}

static int run_chunks(ingest *g)
{
	int rc = 0, threads = g->o->threads > 0 ? g->o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t *tids = NULL;
	int started = 0;
	worker self;
	bool self_ok = false, more = true;
	size_t todo = 0;

	for (size_t i = 0; i < g->nchunks; i++)
		todo += g->chunks[i].status == SL_CHUNK_QUEUED ||
		        g->chunks[i].status == SL_CHUNK_PROCESSING;
	if (threads < 1)
		threads = 1;
	if (!g->pipe && (size_t)threads > todo) /* a pipelined plan: not known yet */
		threads = todo ? (int)todo : 1;
	lanes ln = {.started = false};
	int nlanes = lanes_wanted(g, threads, todo);
	if (nlanes > 1)
		threads = 1; /* a reader for this writer; each runner reads its own */
	/* One slot per worker: the writer is the bottleneck, so a worker that
	   runs ahead by more than one chunk would only hold memory. A slot's
	   chunk is claimed (leased) when the slot is handed to it, so workers
	   parse ahead only what this process holds. */
	g->nslots = (size_t)threads;
	g->slots = calloc(g->nslots, sizeof *g->slots);
	tids = calloc((size_t)threads, sizeof *tids);
	if (!g->slots || !tids) {
		rc = SL_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < g->nslots; i++) {
		pthread_mutex_init(&g->slots[i].mu, NULL);
		pthread_cond_init(&g->slots[i].cv, NULL);
		g->slots[i].want = CLOSED;
	}
	if ((rc = sl__ingest_worker_setup(&self, g)) < 0)
		goto out;
	self_ok = true;
	g->npending = 0;
	for (size_t i = 0; i < g->nslots && more; i++) {
		if ((rc = claim_pending(g, i)) < 0)
			goto out;
		more = rc == 1;
		if (more) {
			g->slots[i].want = i;
			g->slots[i].chunk = g->chunks[g->pending[i]];
		}
	}
	rc = 0;
	/* the runners start after this run's first claim: chunk 0 is ours */
	if (more && nlanes > 1)
		lanes_start(g, &ln, nlanes - 1);
	atomic_init(&g->next, 0);
	atomic_init(&g->abort, 0);
	for (; g->npending && started < threads; started++)
		if (pthread_create(&tids[started], NULL, sl__ingest_worker_main, g) != 0)
			break;
	if (g->npending && started == 0) {
		rc = SL_NOMEM;
		goto out;
	}
	for (size_t k = 0; k < g->npending; k++) {
		slot *s = &g->slots[k % g->nslots];
		size_t idx = g->pending[k];
		/* the slot's next chunk is claimed now, while this one is held:
		   a run between two chunks still holds a live lease, so a cancel
		   sees the job as running (and stops it after this chunk) */
		if (more && !ln.started && k + g->nslots == g->npending) {
			if ((rc = claim_pending(g, k + g->nslots)) < 0)
				break;
			more = rc == 1;
			rc = 0;
		}
		sl_chunk *c = &g->chunks[idx]; /* after the claim: a pipelined plan grows chunks */
		sl__ingest_test_pause(g, c, "SLUICE_TEST_PAUSE");
		chunk_handles h = sl__chunk_handles(g, &self);
		rc = sl__chunk_run(&h, c, &g->lease[idx], s);
		drop_lease(g, idx, rc == 0);
		if (rc < 0 && rc != SL_LEASE_LOST)
			break;
		bool lost = rc == SL_LEASE_LOST;
		rc = 0;
		if (!lost)
			sl__ingest_progress_chunk(g, c);
		/* the chunk is done: wait for its worker to finish, drop what it
		   sent for a chunk the writer redid itself, then hand the slot to
		   chunk k + nslots, claimed now (never drain after that: it is
		   theirs) */
		pthread_mutex_lock(&s->mu);
		while (!s->done)
			pthread_cond_wait(&s->cv, &s->mu);
		pthread_mutex_unlock(&s->mu);
		sl__ingest_slot_drain(g, s);
		if (!lost && (rc = sl__ingest_after_chunk(g, c)) < 0)
			break;
		/* with runners beside it, this run claims its next chunk only
		   now: a chunk claimed ahead would wait here while a runner
		   could write it */
		if (more && ln.started && k + g->nslots == g->npending && !g->finished) {
			if ((rc = claim_pending(g, k + g->nslots)) < 0)
				break;
			more = rc == 1;
			rc = 0;
		}
		/* between chunks, the only place a run may stop cleanly: every
		   committed chunk is whole, the rest go back to the queue */
		if (!g->finished && stop_requested(g))
			break; /* the chunks claimed ahead go back to the queue (out:) */
		pthread_mutex_lock(&s->mu);
		s->done = false;
		s->want = k + g->nslots < g->npending ? k + g->nslots : CLOSED;
		if (s->want != CLOSED)
			s->chunk = g->chunks[g->pending[s->want]];
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	if (rc < 0 || g->paused || g->cancelled)
		lanes_join(&ln); /* no new chunk for them either */
	if (rc == 0 && g->st && !g->finished && !g->paused && !g->cancelled)
		rc = run_tail(g, &self);
out:
	lanes_join(&ln);
	if (started)
		abort_all(g);
	for (int t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	/* chunks claimed but not run (a stop, a failure) go back to the queue */
	for (size_t k = 0; k < g->npending; k++)
		drop_lease(g, g->pending[k], false);
	for (size_t i = 0; g->slots && i < g->nslots; i++) {
		batch *b = g->slots[i].head;
		while (b) {
			batch *n = b->next;
			batch_free(b);
			b = n;
		}
		pthread_mutex_destroy(&g->slots[i].mu);
		pthread_cond_destroy(&g->slots[i].cv);
	}
	free(g->slots);
	g->slots = NULL;
	if (self_ok)
		sl__ingest_worker_teardown(&self);
	free(tids);
	return rc;
}

/* A retry: the job's Failed chunks back to the queue, its counters with
   them (as increments: a worker may be running its other chunks). */
static int tx_requeue_failed(ingest *g)
{
	sl_chunk *ch = NULL;
	size_t n = 0;
	sl_job_counts d = {0};
	int rc = sl_js_chunks_get(g->st, g->job.id, &ch, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (ch[i].status != SL_CHUNK_FAILED)
			continue;
		ch[i].status = SL_CHUNK_QUEUED;
		ch[i].attempts = 0;
		d.chunks_failed--;
		d.chunks_processed--;
		rc = sl_js_chunk_update(g->st, g->job.id, &ch[i]);
	}
	free(ch);
	if (rc == 0 && (d.chunks_failed || d.chunks_processed))
		rc = sl_js_counts_add(g->st, g->job.id, &d);
	return rc == 0 ? sl__ingest_job_refresh(g) : rc;
}

/* The job Processing, over its row as the store has it now (chunks of it
   may be committed by other processes already). */
static int tx_job_start(ingest *g)
{
	if (!g->st)
		return 0;
	sl_job fresh = {0};
	int rc = sl_js_job_get(g->st, g->job.id, &fresh);
	if (rc == 1) {
		sl__ingest_merge_counts(&g->job, &fresh);
		/* finished by another process meanwhile (not a retry, which
		   makes a finished job run again) */
		if (!g->o->retry && sl_job_status_final(fresh.status))
			rc = sl__ingest_job_refresh(g);
		else
			rc = sl__ingest_tx_job_update(g);
	}
	sl_job_clear(&fresh);
	return rc < 0 ? rc : 0;
}

/*
 * The job's source: the file (a path or file://), under the decoder the
 * job recorded (a resume decodes as it was planned) or, for a new job, the
 * one --compression names or the magic bytes say. What it took is a token
 * of the dialect text (compression=gzip; none adds nothing, so a plain
 * file's text is as before), compared as the rest when the file comes
 * again. *st: the raw file's size and time, the fingerprint.
 */
static int open_source(ingest *g, const char *file, bool job_known, struct stat *st)
{
	sl_source_opts so = {.s3_endpoint = g->o->s3_endpoint};
	sl_source *raw = NULL;
	sl_source_stat ss;
	int rc;
	if (job_known && g->job.dialect) {
		so.compression = sl__dialect_compression(g->job.dialect);
	} else if (g->o->compression && sl_compression_parse(g->o->compression, &so.compression) < 0) {
		sl__ingest_say(g, "compression '%.100s': expected none, auto, gzip or zstd", g->o->compression);
		return SL_CONFIG;
	}
	if (job_known && sl__refeed_is_source(&g->job)) {
		/* the rows a refeed job holds, from the job store (refeed.c) */
		if ((rc = sl__refeed_source(g)) < 0)
			return rc;
		if ((rc = sl__ingest_source_stat(g, st)) < 0)
			sl__ingest_say(g, "%s", g->src->msg);
		return rc;
	}
	if (sl__multi_spec(file))
		return sl__multi_open(g, file, job_known, st);
	struct stat fs;
	if (job_known && (!strcmp(file, "-") || !strncmp(file, "program:", 8) ||
	                  (stat(file, &fs) == 0 && S_ISFIFO(fs.st_mode)))) {
		sl__ingest_say(g, "job %s read a stream (%.200s), which cannot be read again: it cannot "
		                  "be resumed; save the stream to a file and load that, or start a new job with --new",
		               g->job.id, file);
		return SL_INVAL;
	}
	if (!job_known && g->o->program)
		rc = sl_source_open_program(g->o->program, &raw, g->msg, g->msglen);
	else
		rc = sl_source_open(file, &so, &raw, g->msg, g->msglen);
	if (rc < 0 || (rc = sl_source_filter(raw, so.compression, &g->src, &g->comp, g->msg, g->msglen)) < 0)
		return rc;
	if ((rc = sl_source_stat_get(g->src, &ss)) < 0 || (rc = sl__ingest_source_stat(g, st)) < 0) {
		sl__ingest_say(g, "%s", g->src->msg);
		return rc;
	}
	g->stream = ss.once;
	if (g->stream && g->o->spool_dir && !job_known) {
		/* a copy of the stream as it is read: the job's file once planned */
		snprintf(g->keep_tmp, sizeof g->keep_tmp, "%s/.sluice-stream-XXXXXX", g->o->spool_dir);
		if ((g->keep_fd = mkostemp(g->keep_tmp, O_CLOEXEC)) < 0) {
			sl__ingest_say(g, "--spool %.200s: %s", g->o->spool_dir, strerror(errno));
			return SL_IO_WRITE;
		}
		sl__source_stream_keep(sl_source_raw(g->src), g->keep_fd);
	}
	if (g->comp != SL_COMPRESSION_NONE) {
		size_t n = strlen(g->dialect_text);
		char *t = realloc(g->dialect_text, n + 32);
		if (!t)
			return SL_NOMEM;
		snprintf(t + n, 32, " compression=%s", sl_compression_name(g->comp));
		g->dialect_text = t;
	}
	return 0;
}

int sl_ingest(const sl_ingest_opts *o, sl_ingest_result *res)
{
	ingest G = {0}, *g = &G;
	int rc = 0;
	char err[512] = "";
	char *path = NULL, *spec = NULL;
	struct stat st;
	bool job_known = false;

	memset(res, 0, sizeof *res);
	g->o = o;
	g->msg = res->message;
	g->msglen = sizeof res->message;
	g->pts_fd = -1;
	g->keep_fd = -1;
	g->t0 = sl_now();
	pthread_mutex_init(&g->free_mu, NULL);

	/* the store (its sink and job store on one connection), unless this is
	   a dry run: then the null sink and no job store */
	if (!o->dry_run) {
		sl_store s;
		if ((rc = sl_store_open(o->db, o->busy_timeout_ms, SL_STORE_BOTH, &s, g->msg, g->msglen)) < 0)
			goto out;
		g->st = s.js;
		g->sink = s.sink;
		sl_trace("store open");
	} else if ((rc = sl_sink_null(&g->sink)) < 0) {
		goto out;
	}
	g->txn = sl_sink_txn(g->sink);
	if (g->st && !sl_store_shared(g->sink, g->st)) {
		rc = SL_CONFIG;
		sl__ingest_say(g, "the sink and the job store must share one transaction");
		goto out;
	}

	/* which job: a named one, an unfinished one for this file, or a new one */
	const char *file = o->file, *schema_path = o->schema_path;
	if (o->nfiles && !o->job_id) {
		/* several files: the job's file is the set's spec (multi.c) */
		if ((rc = sl__multi_spec_make(o->files, o->nfiles, &spec, g->msg, g->msglen)) < 0)
			goto out;
		file = spec;
	}
	if (o->job_id) {
		if (!g->st) {
			rc = SL_INVAL;
			goto out;
		}
		rc = sl_js_job_get(g->st, o->job_id, &g->job);
		if (rc <= 0) {
			if (rc == 0) {
				rc = SL_NOT_FOUND;
				sl__ingest_say(g, "no job %s in %s", o->job_id, o->db ? o->db : "sluice.db");
			}
			goto out;
		}
		job_known = true;
		file = g->job.file;
		schema_path = g->job.schema_path;
	}
	if ((rc = sl_schema_load(schema_path, &g->schema, err, sizeof err)) < 0) {
		sl__ingest_say(g, "%s", err);
		if (rc == SL_IO_OPEN)
			rc =
			    SL_CONFIG; /* a missing or unreadable schema is a configuration error */
		goto out;
	}
	sl_trace("schema loaded");
	if (o->mode != SL_MODE_DEFAULT)
		g->schema->mode = o->mode; /* a new job's; sl__modes_prepare gives a known job its own */
	if ((rc = sl__ingest_effective_dialect(g, job_known)) < 0)
		goto out;
	/* a refeed's input is rows that failed once: the schema's error budget
	   (made for whole files) is not its; only the caller's applies */
	bool refeed = job_known && g->job.refeed_of[0];
	g->has_max_errors = o->has_max_errors || (!refeed && g->schema->has_max_errors);
	g->max_errors = o->has_max_errors ? o->max_errors : g->schema->max_errors;
	g->has_max_ratio = o->has_max_error_ratio || (!refeed && g->schema->has_max_error_ratio);
	g->max_ratio = o->has_max_error_ratio ? o->max_error_ratio : g->schema->max_error_ratio;

	if ((rc = open_source(g, file ? file : "-", job_known, &st)) < 0)
		goto out;
	sl_trace("source open");
	if (g->stream && !strcmp(file ? file : "-", "-") && o->program) {
		/* a program's output: named by its command */
		size_t n = strlen(o->program) + 9;
		if ((path = malloc(n)))
			snprintf(path, n, "program:%s", o->program);
	} else if (g->stream && !strcmp(file ? file : "-", "-")) {
		path = strdup("-");
	} else if (g->nmf) {
		path = strdup(file); /* a set's spec is its name */
	} else if (!strncmp(file, "file://", 7)) {
		path = realpath(file + 7, NULL);
	} else if (job_known && sl__refeed_is_source(&g->job)) {
		path = strdup(file); /* refeed://FIRST: the rows in the job store */
	} else if (strstr(file, "://")) {
		path = strdup(file); /* an object's URI (s3://...) is its name */
	} else {
		path = realpath(file, NULL);
	}
	if (!path) {
		rc = SL_IO_OPEN;
		sl__ingest_say(g, "%s: %s", file, strerror(errno));
		goto out;
	}

	/* a stream is read once: never the continuation of an earlier job, and
	   not hashed ahead to compare with earlier loads */
	if (!job_known && g->st && !o->new_job && !g->stream) {
		rc = sl_js_job_find_open(g->st, path, g->schema->table, g->schema->hash, &g->job);
		if (rc < 0)
			goto out;
		job_known = rc == 1;
		if (job_known && g->job.dialect && !sl__dialect_same(g->job.dialect, g->dialect_text)) {
			rc = SL_INVAL;
			sl__ingest_say(g,
			    "job %s for this file is unfinished and reads it with another dialect "
			    "(%s); "
			    "resume it with the options it was started with ('sluice resume %s'), "
			    "or "
			    "start a new job with --new",
			    g->job.id, g->job.dialect, g->job.id);
			goto out;
		}
	}
	/* the same content loaded already by a finished job: report it, load
	   nothing (a new file, or an upload's job that has not started; never a
	   refeed, whose input is rows left open, whatever an earlier one read) */
	sl_trace("unfinished job looked up");
	if (g->st && !o->new_job && !refeed && !g->stream && (!job_known || g->job.status == SL_JOB_ACCEPTED)) {
		sl_job prev = {0};
		rc = sl__ingest_find_loaded(g, &st, &prev);
		if (rc < 0) {
			sl_job_clear(&prev);
			goto out;
		}
		if (rc == 1) {
			res->already_loaded = true;
			rc = 0;
			if (!job_known) {
				sl_job_clear(&g->job);
				g->job = prev;
				goto out;
			}
			g->job.status = prev.status;
			g->job.error_code = prev.error_code; /* a Failed one says why, as its model */
			memcpy(g->job.same_as, prev.id, sizeof g->job.same_as);
			free(g->job.error_message);
			free(g->job.dialect);
			g->job.dialect = strdup(g->dialect_text);
			g->job.error_message = NULL;
			char m[256];
			snprintf(m, sizeof m,
			         "the same content was loaded by job %s (%s); nothing loaded",
			         prev.id, sl_job_status_name(prev.status));
			g->job.error_message = strdup(m);
			g->job.finished_ms = g->job.updated_ms = sl_now_ms();
			sl_job_clear(&prev);
			if ((rc = sl__ingest_store_tx(g, sl__ingest_tx_same_as)) < 0)
				sl__ingest_say(g, "database: %s", sl_txn_errmsg(g->txn));
			goto out;
		}
	}
	if (job_known) {
		if (g->job.schema_hash != g->schema->hash) {
			rc = SL_IO_CHANGED;
			sl__ingest_say(g, "the schema %s changed since job %s was planned", schema_path, g->job.id);
			goto out;
		}
		if ((rc = sl__multi_check(g)) < 0 || (rc = sl__ingest_fingerprint_ok(g, &st)) < 0)
			goto out;
		if (o->retry) {
			if (g->job.status == SL_JOB_ROLLEDBACK) {
				rc = SL_INVAL;
				sl__ingest_say(g, "job %s was rolled back; run a new job instead", g->job.id);
				goto out;
			}
		} else if (sl_job_status_final(g->job.status)) {
			rc = SL_INVAL;
			sl__ingest_say(g, "job %s is %s already; 'sluice retry %s' runs its failed chunks again",
			    g->job.id, sl_job_status_name(g->job.status), g->job.id);
			goto out;
		}
		res->resumed = true;
	} else {
		if ((rc = sl__job_init(&g->job, path, &st, g->schema, schema_path, o->correlation_id)) < 0)
			goto out;
		if (!(g->job.dialect = strdup(g->dialect_text))) {
			rc = SL_NOMEM;
			goto out;
		}
		if (g->nmf && (rc = sl__multi_manifest(g)) < 0)
			goto out;
		if (g->st && (rc = sl__ingest_store_tx(g, sl__ingest_tx_job_insert)) < 0) {
			sl__ingest_say(g, "database: %s", sl_txn_errmsg(g->txn));
			goto out;
		}
	}

	sl_trace("job %s", job_known ? "read" : "inserted");
	/* Several processes may run the job (other `sluice ingest`s, `sluice
	   worker`s): each chunk is claimed under a lease (lease.c), renewed
	   by a heartbeat thread, and its commit fenced (docs/ingest.md). */
	if (g->st) {
		sl__lease_owner("ingest", g->owner, sizeof g->owner);
		g->ttl_ms = o->lease_ttl_ms > 0 ? o->lease_ttl_ms : SL_LEASE_TTL_MS;
		if ((rc = sl__lease_hold_limit(sl_js_txn(g->st), g->ttl_ms)) < 0) {
			sl__ingest_say(g, "database %s: %s", o->db ? o->db : "sluice.db",
			               sl_txn_errmsg(sl_js_txn(g->st)));
			goto out;
		}
		if ((rc = sl__heart_start(o->db ? o->db : "sluice.db", o->busy_timeout_ms,
		                          g->ttl_ms, &g->hb)) < 0) {
			sl__ingest_say(g, "database %s: cannot open the heartbeat's connection: %s",
			               o->db ? o->db : "sluice.db", sl_error_message(rc));
			goto out;
		}
	}
	if (g->st && res->resumed) {
		/* the job as it is now: a cancel may have finished it meanwhile */
		char id[SL_JOB_ID_LEN];
		memcpy(id, g->job.id, sizeof id);
		sl_job_clear(&g->job);
		if ((rc = sl_js_job_get(g->st, id, &g->job)) <= 0) {
			rc = rc < 0 ? rc : SL_INTERNAL;
			goto out;
		}
		if (!o->retry && sl_job_status_final(g->job.status)) {
			rc = SL_INVAL;
			sl__ingest_say(g, "job %s is %s already", g->job.id, sl_job_status_name(g->job.status));
			goto out;
		}
	}
	if (g->st) {
		/* a retry is the user asking to run it again: an old cancel
		   request is void; otherwise a pending one stops it at once */
		if (o->retry) {
			if ((rc = sl_txn_begin(g->txn)) == 0 && (rc = sl_js_cancel_set(g->st, g->job.id, false)) == 0)
				rc = sl_txn_commit(g->txn);
			if (rc < 0) {
				sl_txn_rollback(g->txn);
				goto out;
			}
		} else if (sl_js_cancel_get(g->st, g->job.id) == 1) {
			g->cancelled = true;
		}
		/* and a leader candidate: chunks whose lease ran out are queued
		   again only by the leader (leader.c). Started here, after the
		   job is read back, so its first beat (which queues again the
		   chunks of a dead run before this one claims) does not widen
		   the window in which another process finishes a joined job */
		if (!o->leader.off &&
		    (rc = sl_candidate_start(o->db, o->busy_timeout_ms, g->ttl_ms, "ingest",
		                             &o->leader, &g->cand, g->msg, g->msglen)) < 0)
			goto out;
	}

	sl_trace("heartbeat and leader candidate started");
	/* from here on the job exists: failures are recorded on it */
	if (!g->job.dialect && !(g->job.dialect = strdup(g->dialect_text))) {
		rc = SL_NOMEM;
		goto fail;
	}
	if ((rc = sl__ingest_map_header(g)) < 0)
		goto fail;
	sl_trace("header mapped");
	if (g->job.status == SL_JOB_ACCEPTED || g->job.status == SL_JOB_CHUNKING) {
		if ((rc = sl__ingest_plan(g)) < 0)
			goto fail;
	} else if (g->st) {
		if (o->retry && (rc = sl__ingest_store_tx(g, tx_requeue_failed)) < 0)
			goto fail;
		if ((rc = sl_js_chunks_get(g->st, g->job.id, &g->chunks, &g->nchunks)) < 0)
			goto fail;
		if (!g->job.chunks_total && g->nchunks) {
			/* a pipelined plan that failed before it was complete (a
			   corrupt stream): a retry plans it again, keeping what
			   committed (plan.c) */
			g->job.status = SL_JOB_CHUNKING;
			if ((rc = sl__ingest_plan(g)) < 0)
				goto fail;
		} else if ((rc = sl__multi_lines(g)) < 0 || (rc = sl__ingest_points_load(g)) < 0 ||
		           (rc = sl__ingest_spool_for_resume(g)) < 0) {
			goto fail;
		}
	}
	if (!(g->lease = calloc(g->nchunks ? g->nchunks : 1, sizeof *g->lease))) {
		rc = SL_NOMEM;
		goto fail;
	}
	sl_trace("planned: %zu chunks", g->nchunks);
	if (g->st && (rc = sl__modes_prepare(g)) < 0)
		goto fail;
	if (g->st && (rc = sl_sink_prepare(g->sink, g->schema, g->job.id)) < 0) {
		sl__ingest_say(g, "target table %s: %s", g->schema->table, sl_txn_errmsg(g->txn));
		goto fail;
	}

	/* a run that continues what an earlier run started (after a kill, a
	   pause, a cancel or a failure) is a resume; the first run of an
	   accepted job is not. Kept on the job, so every reader says so. */
	res->resumed = g->job.started_ms != 0;
	if (res->resumed)
		g->job.resumed = true;

	/* which chunks to run */
	g->pending = calloc(g->nchunks ? g->nchunks : 1, sizeof *g->pending);
	if (!g->pending) {
		rc = SL_NOMEM;
		goto fail;
	}
	for (size_t i = 0; i < g->nchunks; i++)
		g->rows_planned += g->chunks[i].records_planned;
	/* a pipelined plan under way: Chunking until it is complete (plan.c) */
	g->job.status = g->planning ? SL_JOB_CHUNKING : SL_JOB_PROCESSING;
	g->job.error_code = 0;
	free(g->job.error_message);
	g->job.error_message = NULL;
	if (!g->job.started_ms)
		g->job.started_ms = sl_now_ms();
	sl_trace("target prepared");
	if ((rc = sl__ingest_store_tx(g, tx_job_start)) < 0)
		goto fail;
	sl__ingest_progress(g, NULL, 0);
	sl_trace("job started");

	rc = g->cancelled || sl_job_status_final(g->job.status) ? 0 : run_chunks(g);
fail:
	sl__ingest_pipe_stop(g); /* a planner still reading: stopped, joined */
	sl_trace("chunks run");
	sl__ingest_progress(g, NULL, 0);
	if (rc >= 0 && g->paused) {
		/* unfinished on purpose: the job stays Processing, its lock file
		   stays, and the next run resumes after the last committed chunk */
		res->paused = true;
		goto out;
	}
	{
		int fr = sl__ingest_finish_job(g, rc);
		if (rc >= 0 && fr < 0) {
			rc = fr;
			sl__ingest_say(g, "database: %s", sl_txn_errmsg(g->txn));
		}
	}
	/* a job that ran to a final status is a result, not an error (also
	   one another process finished meanwhile: a cancel while it was
	   planned; sl__ingest_finish_job took its state) */
	if (rc < 0 && (g->job.status == SL_JOB_FAILED || g->job.status == SL_JOB_CANCELLED))
		rc = 0;
out:
	sl_trace("job ended");
	res->duration_s = sl_now() - g->t0;
	res->job = g->job;
	memset(&g->job, 0, sizeof g->job);
	if (res->job.id[0] && !res->already_loaded)
		sl__refeed_input_done(&res->job); /* nothing unless a finished refeed job */
	sl__heart_stop(g->hb);
	sl_trace("heartbeat stopped");
	sl_candidate_stop(g->cand);
	sl_trace("leader candidate stopped");
	sl_js_close(g->st);
	sl_sink_close(g->sink);
	sl_trace("store closed");
	/* the access points serve resumes and retries: kept until the job is
	   final with no chunk to run again */
	sl__ingest_points_close(g, sl_job_status_final(res->job.status) && !res->job.chunks_failed &&
	                               res->job.id[0] && !res->already_loaded);
	sl_source_close(g->spool);
	sl_source_close(g->src);
	if (g->keep_fd >= 0) { /* not planned: the copy is of no use */
		close(g->keep_fd);
		unlink(g->keep_tmp);
	}
	sl__ingest_pipe_stop(g); /* (a failure before the job existed) */
	free(g->old);
	free(g->lease);
	sl_schema_free(g->schema);
	free(g->chunks);
	free(g->pending);
	free(g->map);
	free(g->dialect_text);
	free(path);
	free(spec);
	sl__multi_free(g);
	sl__ingest_batches_free(g);
	pthread_mutex_destroy(&g->free_mu);
	return rc;
}

int sl_ingest_rollback(const char *db, const char *id, uint64_t *rows, char *msg, size_t msglen)
{
	sl_store s = {0};
	sl_jobstore *st = NULL;
	sl_job j = {0};
	int rc = sl_store_open(db, 0, SL_STORE_BOTH, &s, msg, msglen);
	*rows = 0;
	if (rc < 0)
		goto out;
	st = s.js;
	rc = sl_js_job_get(st, id, &j);
	if (rc <= 0) {
		if (rc == 0)
			snprintf(msg, msglen, "no job %s", id);
		rc = rc == 0 ? SL_NOT_FOUND : rc;
		goto out;
	}
	if (!sl_job_status_final(j.status) || j.status == SL_JOB_ROLLEDBACK) {
		rc = SL_CONFLICT;
		snprintf(msg, msglen, j.status == SL_JOB_ROLLEDBACK ? "job %s is %s already"
				      : "job %s is %s: let it finish (or cancel it) before rolling it back",
			 id, sl_job_status_name(j.status));
		goto out;
	}
	if ((rc = sl_txn_begin(st->txn)) == 0 &&
	    (rc = sl_sink_delete_job(s.sink, j.table, j.id, rows)) == 0) {
		j.status = SL_JOB_ROLLEDBACK;
		j.updated_ms = sl_now_ms();
		sl_event ev = {j.id, -1, "rollback", 0, *rows, 0, 0, NULL};
		/* a refeed job gives back what it resolved (refeed.c) */
		if ((rc = sl_js_job_rewrite(st, &j)) == 0 &&
		    (rc = sl_js_event_insert(st, &ev)) == 0 &&
		    (rc = sl_js_refeed_settle(st, j.id)) == 0)
			rc = sl_txn_commit(st->txn);
		if (rc == 0)
			sl__refeed_input_done(&j);
	}
	if (rc < 0) {
		snprintf(msg, msglen, "database: %s", sl_js_errmsg(st));
		sl_txn_rollback(st->txn);
	}
out:
	sl_job_clear(&j);
	sl_store_close(&s);
	return rc;
}
