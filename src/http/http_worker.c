/*
 * The job runners of `sluice serve`: a FIFO queue of jobs and a few runner
 * threads (--jobs, default 2) that take jobs from it and run sl_ingest()
 * on each. Every job is already in the store when it is queued (uploads
 * are accepted as jobs, sl_job_accept), so the queue is only a schedule:
 * a restart rebuilds it from the store's unfinished jobs.
 *
 * Fairness: a job that has run for --slice seconds while others wait is
 * paused between two chunks (sl_ingest_opts.pause; its committed chunks
 * stay, the job stays Processing) and goes to the back of the queue; the
 * next run resumes after its last committed chunk. So a 50 GB upload does
 * not hold a runner for an hour while a 10 MB one waits: jobs take turns,
 * a slice at a time, and with two runners a small job starts at once.
 * Several jobs writing to one SQLite file take turns at its write lock,
 * one chunk transaction at a time (the busy timeout waits for it).
 *
 * Runner threads run at nice 10 (and so do the ingest threads they start):
 * the API answers first, jobs take what is left of the CPU.
 *
 * Shared state: the queue, `running`, `busy` and `stop` under s->mu (rules
 * in http_int.h); the metrics counters are atomics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "http/http_reply.h"

#define RUNNER_NICE 10

typedef struct runner {
	http_srv *s;
	unsigned idx;
} runner;

/* Progress of the running job: counts already committed when it started
   (a resumed job) are not counted again by the metrics. */
typedef struct run_ctx {
	http_srv *s;
	bool seen;
	uint64_t loaded, rejected;
	double t0;
	const char *corr;
	uint64_t by_code[SL_ERROR_COUNT]; /* the job's rejects by code at the last chunk */
} run_ctx;

static void count_rows(run_ctx *c, const sl_job *j)
{
	if (!c->seen) {
		c->seen = true;
		c->loaded = j->rows_loaded;
		c->rejected = j->rows_rejected;
		memcpy(c->by_code, j->rejects_by_code, sizeof c->by_code);
		return;
	}
	if (j->rows_loaded > c->loaded) {
		atomic_fetch_add(&c->s->rows_loaded, j->rows_loaded - c->loaded);
		c->loaded = j->rows_loaded;
	}
	if (j->rows_rejected > c->rejected) {
		atomic_fetch_add(&c->s->rows_rejected, j->rows_rejected - c->rejected);
		c->rejected = j->rows_rejected;
	}
}

static void on_progress(void *ctx, const sl_ingest_progress *p)
{
	run_ctx *c = ctx;
	if (!p->chunk) {
		count_rows(c, p->job);
		return;
	}
	/* a chunk is done: its own numbers are committed (or it failed) */
	http_metrics_chunk(c->s, p->chunk);
	if (p->chunk->status == SL_CHUNK_FAILED)
		http_log_chunk(c->s, "error", p->job->id, p->chunk->seq, c->corr, "chunk %s-%u failed after %u attempts: %s",
			       p->job->id, p->chunk->seq, p->chunk->attempts, p->chunk->last_message);
	if (p->chunk->status == SL_CHUNK_SUCCEEDED)
		atomic_fetch_add(&c->s->bytes_ingested, p->chunk->length);
	for (int k = 0; k < SL_ERROR_COUNT; k++) {
		uint64_t v = p->job->rejects_by_code[k];
		if (v > c->by_code[k]) {
			atomic_fetch_add(&c->s->rejected_by_code[k], v - c->by_code[k]);
			c->by_code[k] = v;
		}
	}
}

/* Between two chunks: give way when the slice is used up and a job waits,
   or when the server stops (the job resumes on the next start). */
static int should_pause(void *ctx)
{
	run_ctx *c = ctx;
	http_srv *s = c->s;
	pthread_mutex_lock(&s->mu);
	bool wait = s->stop || (s->qhead && sl_now() - c->t0 >= (double)s->o.slice_s);
	pthread_mutex_unlock(&s->mu);
	return wait;
}

/* Run one job; true when it paused and goes back to the queue. */
static bool run_item(http_srv *s, const http_item *it)
{
	sl_ingest_result res;
	run_ctx c = {.s = s, .t0 = sl_now(), .corr = it->corr[0] ? it->corr : NULL};
	sl_ingest_opts o = {0};
	o.db = s->o.db;
	o.threads = s->o.threads;
	o.chunk_size = s->o.chunk_size;
	o.job_id = it->id;
	o.correlation_id = it->corr;
	o.s3_endpoint = s->o.s3_endpoint; /* uploads kept in a bucket, and s3:// jobs */
	/* several jobs share the write lock: wait for a turn, do not fail */
	o.busy_timeout_ms = 60000;
	o.progress = on_progress;
	o.progress_ctx = &c;
	o.pause = should_pause;
	o.pause_ctx = &c;
	/* the service leads (or not) through its own candidate (http_server.c) */
	o.leader = s->o.leader;
	o.leader.off = true;
	const char *corr = it->corr[0] ? it->corr : NULL;
	http_log_job(s, "info", it->id, corr, "job %s: %s", it->id,
		     it->resumed ? "resumed" : "started");
	int rc = sl_ingest(&o, &res);
	if (res.job.id[0])
		count_rows(&c, &res.job);
	bool paused = rc == 0 && res.paused;
	if (rc < 0)
		http_log_job(s, "error", it->id, corr, "job %s could not run: %s: %s", it->id, sl_error_name(rc),
			     res.message);
	else if (paused)
		http_log_job(s, "info", it->id, corr, "job %s paused after %.1f s to let other jobs run (%llu of %llu chunks done)",
			     it->id, sl_now() - c.t0, (unsigned long long)res.job.chunks_processed,
			     (unsigned long long)res.job.chunks_total);
	else
		http_log_job(s, res.job.status == SL_JOB_FAILED ? "error" : "info", res.job.id, corr,
			     "job %s: %s, %llu rows read, %llu loaded, %llu rejected%s%s", res.job.id,
			     sl_job_status_name(res.job.status), (unsigned long long)res.job.rows_read,
			     (unsigned long long)res.job.rows_loaded, (unsigned long long)res.job.rows_rejected,
			     res.message[0] ? ": " : "", res.message);
	sl_job_clear(&res.job);
	return paused;
}

static void enqueue(http_srv *s, http_item *it)
{
	it->next = NULL;
	if (s->qtail)
		s->qtail->next = it;
	else
		s->qhead = it;
	s->qtail = it;
	s->qlen++;
	pthread_cond_signal(&s->cv);
}

static void *runner_main(void *arg)
{
	runner *me = arg;
	http_srv *s = me->s;
	/* Background work yields the CPU to the API: on Linux the nice value
	   is per thread and the ingest threads a runner starts inherit it, so
	   status requests stay fast while jobs use every core. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), RUNNER_NICE) != 0)
		http_log(s, "warn", "cannot lower the priority of a job runner: jobs compete with requests");
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->qhead && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		http_item *it = s->qhead;
		s->qhead = it->next;
		if (!s->qhead)
			s->qtail = NULL;
		s->qlen--;
		s->busy++;
		snprintf(s->running[me->idx], SL_JOB_ID_LEN, "%s", it->id);
		pthread_mutex_unlock(&s->mu);

		bool again = run_item(s, it);

		pthread_mutex_lock(&s->mu);
		s->running[me->idx][0] = 0;
		s->busy--;
		if (again && !s->stop) {
			it->resumed = true;
			enqueue(s, it);
		} else {
			free(it);
		}
		pthread_cond_broadcast(&s->idle_cv);
	}
	pthread_mutex_unlock(&s->mu);
	free(me);
	return NULL;
}

int http_queue_job(http_srv *s, int kind, const char *id, const char *corr)
{
	http_item *it = calloc(1, sizeof *it);
	if (!it)
		return SL_NOMEM;
	it->kind = kind;
	snprintf(it->id, sizeof it->id, "%s", id);
	snprintf(it->corr, sizeof it->corr, "%s", corr ? corr : "");
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	for (http_item *q = s->qhead; q && !rc; q = q->next)
		rc = !strcmp(q->id, id);
	for (unsigned i = 0; i < s->nrunners && !rc; i++)
		rc = !strcmp(s->running[i], id);
	if (!rc)
		enqueue(s, it);
	pthread_mutex_unlock(&s->mu);
	if (rc)
		free(it);
	return rc;
}

bool http_unqueue_job(http_srv *s, const char *id)
{
	bool found = false;
	pthread_mutex_lock(&s->mu);
	for (http_item **pp = &s->qhead; *pp; pp = &(*pp)->next) {
		http_item *q = *pp;
		if (strcmp(q->id, id))
			continue;
		*pp = q->next;
		if (s->qtail == q) {
			s->qtail = NULL;
			for (http_item *t = s->qhead; t; t = t->next)
				s->qtail = t;
		}
		s->qlen--;
		free(q);
		found = true;
		break;
	}
	pthread_mutex_unlock(&s->mu);
	return found;
}

int http_workers_start(http_srv *s)
{
	unsigned n = s->o.jobs;
	if (n > HTTP_MAX_RUNNERS)
		n = HTTP_MAX_RUNNERS;
	for (unsigned i = 0; i < n; i++) {
		runner *me = malloc(sizeof *me);
		if (!me)
			return SL_NOMEM;
		me->s = s;
		me->idx = i;
		if (pthread_create(&s->runner_tid[i], NULL, runner_main, me) != 0) {
			free(me);
			return SL_NOMEM;
		}
		pthread_mutex_lock(&s->mu);
		s->nrunners = i + 1;
		pthread_mutex_unlock(&s->mu);
	}
	return 0;
}

bool http_workers_stop(http_srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += s->o.grace_s;
	if (s->busy)
		http_log(s, "info", "waiting up to %u s for %u running jobs to reach a chunk boundary",
			 s->o.grace_s, s->busy);
	while (s->busy && pthread_cond_timedwait(&s->idle_cv, &s->mu, &until) == 0)
		;
	bool idle = !s->busy;
	size_t dropped = s->qlen;
	for (http_item *it = s->qhead, *next; it; it = next) {
		next = it->next;
		free(it);
	}
	s->qhead = s->qtail = NULL;
	s->qlen = 0;
	unsigned n = s->nrunners;
	pthread_mutex_unlock(&s->mu);
	if (!idle)
		return false;
	for (unsigned i = 0; i < n; i++)
		pthread_join(s->runner_tid[i], NULL);
	if (dropped)
		http_log(s, "info", "%zu queued jobs not started now: they run after the next start", dropped);
	return true;
}

/* --- resuming after a restart -------------------------------------------------- */

typedef struct unfinished {
	http_srv *s;
	size_t n;
	int err;
} unfinished;

static int queue_unfinished(void *ctx, const sl_job *j)
{
	unfinished *u = ctx;
	if (sl_job_status_final(j->status))
		return 0;
	if (http_queue_job(u->s, Q_RUN, j->id, j->correlation_id) < 0) {
		u->err = SL_NOMEM;
		return 1;
	}
	u->n++;
	return 0;
}

int http_resume_unfinished(http_srv *s)
{
	char msg[512];
	unfinished u = {s, 0, 0};
	/* the store lists newest first; each job resumes on its own, and the
	   slices share the runners between them anyway */
	int rc = sl_jobs_list(s->o.db, -1, queue_unfinished, &u, msg, sizeof msg);
	if (rc < 0)
		http_log(s, "error", "cannot list unfinished jobs: %s", msg);
	else if (u.err)
		http_log(s, "error", "out of memory while queueing unfinished jobs");
	else if (u.n)
		http_log(s, "info", "%zu unfinished jobs queued to resume", u.n);
	return rc < 0 ? rc : u.err;
}
