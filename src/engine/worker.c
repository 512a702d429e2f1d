/*
 * `sluice worker`: a process that claims queued chunks of any job in the
 * job store, runs them (sl__chunk_run: parse, validate, commit under the
 * chunk's lease) and heartbeats its leases, beside any number of other
 * workers and `sluice ingest`s on the same jobs. With SQLite their commits
 * serialize on its write lock; parsing and validation spread over
 * processes and threads.
 *
 * Each runner thread has its own store connection and the context of the
 * job whose chunk it runs (schema, dialect, file, header map: what
 * sl_ingest sets up for a resume), kept while its chunks keep coming; the
 * process has one heartbeat for the leases of all its runners.
 *
 * Threads: runners share only the heartbeat (its own mutex), the stop
 * flag and the result counters (atomics).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/ingest_int.h"

typedef struct runner {
	const sl_worker_opts *o;
	sl_ingest_opts io; /* what a job's context reads of the options */
	heart *hb;
	atomic_int *stop;
	atomic_ullong *chunks, *lost, *failed;
	char owner[160];
	sl_store s; /* its own connection: sink and job store */
	sl_jobstore *st;
	ingest g; /* the current job's context (g.job.id[0]: none) */
	worker self;
	bool open;
	char msg[512];
	int rc;
} runner;

static void job_close(runner *r)
{
	ingest *g = &r->g;
	if (!r->open)
		return;
	sl__ingest_worker_teardown(&r->self);
	sl__ingest_points_close(g, false); /* the plan's: kept for whoever runs the rest */
	sl_source_close(g->spool);
	sl_source_close(g->src);
	sl_schema_free(g->schema);
	free(g->chunks);
	free(g->map);
	free(g->dialect_text);
	sl__multi_free(g);
	free(g->lease);
	sl_job_clear(&g->job);
	sl__ingest_batches_free(g);
	pthread_mutex_destroy(&g->free_mu);
	memset(g, 0, sizeof *g);
	r->open = false;
}

/* The context of job `id`, as sl_ingest sets it up for a resume. */
static int job_open(runner *r, const char *id)
{
	ingest *g = &r->g;
	char err[512] = "";
	struct stat st;
	int rc;
	memset(g, 0, sizeof *g);
	g->o = &r->io;
	g->msg = r->msg;
	g->msglen = sizeof r->msg;
	r->msg[0] = 0;
	g->pts_fd = -1;
	g->keep_fd = -1;
	g->t0 = sl_now();
	g->st = r->st;
	g->sink = r->s.sink;
	g->txn = sl_sink_txn(g->sink);
	g->hb = r->hb;
	g->ttl_ms = r->io.lease_ttl_ms;
	memcpy(g->owner, r->owner, sizeof g->owner);
	pthread_mutex_init(&g->free_mu, NULL);
	r->open = true;
	if ((rc = sl_js_job_get(g->st, id, &g->job)) <= 0) {
		sl__ingest_say(g, "no job %s", id);
		return rc < 0 ? rc : SL_NOT_FOUND;
	}
	if ((rc = sl_schema_load(g->job.schema_path, &g->schema, err, sizeof err)) < 0) {
		sl__ingest_say(g, "%s", err);
		return rc == SL_IO_OPEN ? SL_CONFIG : rc;
	}
	if ((rc = sl__ingest_effective_dialect(g, true)) < 0)
		return rc;
	g->has_max_errors = g->schema->has_max_errors;
	g->max_errors = g->schema->max_errors;
	g->has_max_ratio = g->schema->has_max_error_ratio;
	g->max_ratio = g->schema->max_error_ratio;
	/* the job's source as it was planned: its file (or object), under the
	   decoder the job recorded, read from the plan's access points */
	sl_source_opts so = {.compression = sl__dialect_compression(g->job.dialect)};
	sl_source *raw = NULL;
	if (sl__refeed_is_source(&g->job)) {
		if ((rc = sl__refeed_source(g)) < 0)
			return rc;
	} else if (sl__multi_spec(g->job.file)) {
		if ((rc = sl__multi_open(g, g->job.file, true, &st)) < 0 ||
		    (rc = sl__multi_check(g)) < 0)
			return rc;
	} else if ((rc = sl_source_open(g->job.file, &so, &raw, g->msg, g->msglen)) < 0 ||
	           (rc = sl_source_filter(raw, so.compression, &g->src, &g->comp, g->msg,
	                                  g->msglen)) < 0) {
		return rc;
	}
	if ((rc = sl__ingest_source_stat(g, &st)) < 0) {
		sl__ingest_say(g, "%s", g->src->msg);
		return rc;
	}
	if ((rc = sl__ingest_fingerprint_ok(g, &st)) < 0 || (rc = sl__ingest_map_header(g)) < 0)
		return rc;
	if ((rc = sl_js_chunks_get(g->st, id, &g->chunks, &g->nchunks)) < 0 ||
	    (rc = sl__multi_lines(g)) < 0 || (rc = sl__ingest_points_load(g)) < 0 ||
	    (rc = sl__ingest_spool_for_resume(g)) < 0)
		return rc;
	if (!(g->lease = calloc(g->nchunks ? g->nchunks : 1, sizeof *g->lease)))
		return SL_NOMEM;
	if ((rc = sl__modes_prepare(g)) < 0)
		return rc;
	if ((rc = sl_sink_prepare(g->sink, g->schema, g->job.id)) < 0) {
		sl__ingest_say(g, "target table %s: %s", g->schema->table, sl_txn_errmsg(g->txn));
		return rc;
	}
	return sl__ingest_worker_setup(&r->self, g);
}

/* One claimed chunk: run it in its job's context; stop the job when the
   run says so (a fatal failure, the error budget, a full disk). */
static int run_one(runner *r, sl_lease *l)
{
	ingest *g = &r->g;
	int rc = 0;
	if (!r->open || strcmp(g->job.id, l->job_id)) {
		job_close(r);
		if ((rc = job_open(r, l->job_id)) < 0 && r->o->job_id) {
			/* a helper of the job's own ingest: that one runs the chunk
			   (and says what is wrong, if anything is) */
			sl__lease_give_back(g, l); /* (g->st is set first thing) */
			job_close(r);
			atomic_store(r->stop, 1);
			return 0;
		}
		if (rc < 0) {
			/* this process cannot run the job (its file or schema is not
			   here, or changed): the job fails with the reason, as a
			   resume by sl_ingest would */
			if (g->job.id[0]) {
				sl__lease_give_back(g, l);
				sl__ingest_finish_job(g, rc);
			}
			job_close(r);
			atomic_fetch_add(r->failed, 1);
			return 0;
		}
	}
	if (l->seq >= g->nchunks) {
		sl__lease_give_back(g, l);
		return SL_INTERNAL;
	}
	sl_chunk *c = &g->chunks[l->seq];
	g->lease[l->seq] = *l;
	g->finished = false;
	g->fatal_rc = 0;
	r->msg[0] = 0;
	sl__heart_add(r->hb, l);
	sl__ingest_test_pause(g, c, "SLUICE_TEST_PAUSE");
	chunk_handles h = sl__chunk_handles(g, &r->self);
	rc = sl__chunk_run(&h, c, &g->lease[l->seq], NULL);
	if (rc == 0)
		sl__heart_drop(r->hb, l);
	else
		sl__lease_give_back(g, l);
	g->lease[l->seq].epoch = 0;
	if (rc == SL_LEASE_LOST) {
		atomic_fetch_add(r->lost, 1);
		if (r->o->chunk_done)
			r->o->chunk_done(r->o->chunk_ctx, &g->job, c, rc, sl_txn_errmsg(g->txn));
		return 0;
	}
	if (rc == 0) {
		atomic_fetch_add(r->chunks, 1);
		rc = sl__ingest_after_chunk(g, c);
		if (rc == 0 && !g->finished && sl_js_cancel_get(g->st, g->job.id) == 1) {
			g->cancelled = true; /* asked to stop: the job ends Cancelled */
			sl__ingest_finish_job(g, 0);
		}
	}
	if (r->o->chunk_done)
		r->o->chunk_done(r->o->chunk_ctx, &g->job, c, rc, r->msg);
	if (rc < 0) {
		atomic_fetch_add(r->failed, 1);
		sl__ingest_finish_job(g, rc);
		job_close(r); /* its state is spent; the next chunk opens afresh */
	}
	return 0;
}

/* ms times a random factor in [lo, hi) percent: idle workers started or
   woken together do not look for work together. */
static int64_t jittered(int64_t ms, unsigned lo, unsigned hi)
{
	unsigned r = 0;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (unsigned)getpid();
	return ms * (int64_t)(lo + r % (hi - lo)) / 100;
}

/* Wait up to ms for news of work, in slices of at most 200 ms so a stop
   is seen soon: true when news came. */
static bool idle(runner *r, int64_t ms)
{
	int64_t until = sl_now_ms() + ms, left;
	while (!atomic_load(r->stop) && !(r->o->stop && r->o->stop(r->o->stop_ctx)) &&
	       (left = until - sl_now_ms()) > 0)
		if (sl_js_idle_wait(r->st, left < 200 ? left : 200) == 1)
			return true;
	return false;
}

/* --once: nothing left that a claim will get without waiting for another
   process's commit (no Queued chunk, in its backoff or not, and no lease
   run out that the leader will queue again). A failure to tell is not
   "nothing": look again. */
static bool nothing_due(runner *r)
{
	uint64_t n = 0;
	/* a read: no transaction (in SQLite one would take the write lock) */
	int rc = sl_js_chunks_due(r->st, sl_now_ms(), sl__lease_owner_dead, &n);
	return rc == 0 && n == 0;
}

static void *runner_main(void *arg)
{
	runner *r = arg;
	ingest bare = {0}; /* claims: the store, the owner, the TTL */
	bare.st = r->st;
	bare.sink = r->s.sink;
	bare.txn = sl_sink_txn(r->s.sink);
	bare.ttl_ms = r->io.lease_ttl_ms;
	bare.msg = r->msg;
	bare.msglen = sizeof r->msg;
	memcpy(bare.owner, r->owner, sizeof bare.owner);
	int64_t poll_ms = r->io.lease_ttl_ms / 10 < 200 ? r->io.lease_ttl_ms / 10 : 200;
	if (poll_ms < 5)
		poll_ms = 5;
	if (r->o->poll_ms > 0)
		poll_ms = r->o->poll_ms;
	while (!atomic_load(r->stop)) {
		if (r->o->stop && r->o->stop(r->o->stop_ctx))
			break;
		sl_lease l;
		int rc = sl__lease_claim(&bare, r->o->job_id, &l);
		if (rc == 1) {
			if ((rc = run_one(r, &l)) < 0) {
				r->rc = rc;
				break;
			}
			continue;
		}
		if (rc < 0 && sl_error_class(rc) != SL_CLASS_RETRY) {
			snprintf(r->msg, sizeof r->msg, "database %s: %s",
			         r->o->db ? r->o->db : "sluice.db", sl_js_errmsg(r->st));
			r->rc = rc;
			break;
		}
		if (rc == 0 && r->o->once && nothing_due(r))
			break;
		/* nothing to claim now: wait for news of work (PostgreSQL's
		   NOTIFY) or the poll, whichever comes first */
		if (idle(r, jittered(poll_ms, 75, 125)) && !atomic_load(r->stop)) {
			/* woken with every idle worker: claim a little apart */
			int64_t ms = jittered(poll_ms < 50 ? poll_ms : 50, 0, 100);
			struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	job_close(r);
	return NULL;
}

int sl_worker_run(const sl_worker_opts *o, sl_worker_result *res)
{
	int n = o->threads > 0 ? o->threads : 1, rc = 0, started = 0;
	const char *db = o->db ? o->db : "sluice.db";
	runner *rs = calloc((size_t)n, sizeof *rs);
	pthread_t *tids = calloc((size_t)n, sizeof *tids);
	heart *hb = NULL;
	sl_candidate *cand = NULL;
	atomic_int stop;
	atomic_ullong chunks, lost, failed;
	atomic_init(&stop, 0);
	atomic_init(&chunks, 0);
	atomic_init(&lost, 0);
	atomic_init(&failed, 0);
	memset(res, 0, sizeof *res);
	if (!rs || !tids) {
		rc = SL_NOMEM;
		goto out;
	}
	int64_t ttl = o->lease_ttl_ms > 0 ? o->lease_ttl_ms : SL_LEASE_TTL_MS;
	if ((rc = sl__heart_start(db, o->busy_timeout_ms, ttl, &hb)) < 0) {
		snprintf(res->message, sizeof res->message, "database %s: %s", db,
		         sl_error_message(rc));
		goto out;
	}
	if (!o->leader.off &&
	    (rc = sl_candidate_start(db, o->busy_timeout_ms, ttl,
	                             o->name && *o->name ? o->name : "worker", &o->leader, &cand,
	                             res->message, sizeof res->message)) < 0)
		goto out;
	for (int i = 0; i < n; i++) {
		runner *r = &rs[i];
		r->o = o;
		r->io.db = db;
		r->io.threads = 1;
		r->io.busy_timeout_ms = o->busy_timeout_ms;
		r->io.lease_ttl_ms = ttl;
		r->io.leader = o->leader;
		r->hb = hb;
		r->stop = &stop;
		r->chunks = &chunks;
		r->lost = &lost;
		r->failed = &failed;
		sl__lease_owner(o->name && *o->name ? o->name : "worker", r->owner,
		                sizeof r->owner);
		if ((rc = sl_store_open(db, o->busy_timeout_ms, SL_STORE_BOTH, &r->s, res->message,
		                        sizeof res->message)) < 0)
			goto out;
		r->st = r->s.js;
		if ((rc = sl__lease_hold_limit(r->s.txn, r->io.lease_ttl_ms)) < 0) {
			snprintf(res->message, sizeof res->message, "database %s: %s", db,
			         sl_txn_errmsg(r->s.txn));
			goto out;
		}
	}
	for (; started < n; started++)
		if (pthread_create(&tids[started], NULL, runner_main, &rs[started]) != 0)
			break;
	if (!started)
		rc = SL_NOMEM;
out:
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	for (int i = 0; rs && i < n; i++) {
		if (rs[i].rc < 0 && rc == 0) {
			rc = rs[i].rc;
			snprintf(res->message, sizeof res->message, "%s", rs[i].msg);
		}
		if (rs[i].st)
			sl_store_close(&rs[i].s);
	}
	sl__heart_stop(hb);
	sl_candidate_stop(cand);
	res->chunks = atomic_load(&chunks);
	res->lost = atomic_load(&lost);
	res->failed = atomic_load(&failed);
	free(rs);
	free(tids);
	return rc;
}
