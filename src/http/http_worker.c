/*
 * The ingest worker of `sluice serve`: one background thread that takes
 * items from a FIFO queue (uploads to load, unfinished jobs to resume,
 * failed jobs to retry) and runs sl_ingest() on each, one job at a time.
 * One at a time is the simple first step: the engine already spreads a job
 * over all cores, and a fair scheduler across jobs comes with the shared
 * worker pool of issue 4.
 *
 * An upload's job id is only known once sl_ingest() has recorded the job,
 * after the 202 answer. The progress callback (first called when the job
 * is planned) and the result store it in the upload table, so
 * GET /v1/jobs/UPLOAD_ID can follow the upload to its job; after the entry
 * left the table (or a restart), the job is found by its file name, which
 * is the upload id (http_server.c).
 *
 * Shared state: the queue, the upload table and `current`/`busy`/`stop`
 * under s->mu (rules in http_int.h); the metrics counters are atomics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "http/http_int.h"

/* Progress of the running job: counts already committed when it started
   (a resumed job) are not counted again by the metrics. */
typedef struct run_ctx {
	http_srv *s;
	const char *uid; /* upload id, or NULL */
	bool seen;
	uint64_t loaded, rejected;
} run_ctx;

int http_upload_find(http_srv *s, const char *uid, http_upload **out)
{
	for (size_t i = 0; i < HTTP_UPLOADS_KEPT; i++)
		if (s->uploads[i].id[0] && !strcmp(s->uploads[i].id, uid)) {
			*out = &s->uploads[i];
			return 1;
		}
	return 0;
}

static void set_upload_job(http_srv *s, const char *uid, const char *job, bool done,
			   const char *err)
{
	http_upload *u;
	pthread_mutex_lock(&s->mu);
	if (http_upload_find(s, uid, &u)) {
		if (job && job[0])
			snprintf(u->job, sizeof u->job, "%s", job);
		if (done)
			u->done = true;
		if (err)
			snprintf(u->err, sizeof u->err, "%s", err);
	}
	if (job && job[0])
		snprintf(s->current, sizeof s->current, "%s", job);
	pthread_mutex_unlock(&s->mu);
}

static void on_progress(void *ctx, const sl_ingest_progress *p)
{
	run_ctx *c = ctx;
	const sl_job *j = p->job;
	if (!c->seen) {
		c->seen = true;
		c->loaded = j->rows_loaded;
		c->rejected = j->rows_rejected;
		if (c->uid)
			set_upload_job(c->s, c->uid, j->id, false, NULL);
		return;
	}
	if (j->rows_loaded > c->loaded)
		atomic_fetch_add(&c->s->rows_loaded, j->rows_loaded - c->loaded);
	if (j->rows_rejected > c->rejected)
		atomic_fetch_add(&c->s->rows_rejected, j->rows_rejected - c->rejected);
	c->loaded = j->rows_loaded > c->loaded ? j->rows_loaded : c->loaded;
	c->rejected = j->rows_rejected > c->rejected ? j->rows_rejected : c->rejected;
}

static void run_item(http_srv *s, const http_item *it)
{
	char file[4096];
	sl_ingest_result res;
	run_ctx c = {s, it->kind == Q_UPLOAD ? it->id : NULL, false, 0, 0};
	sl_ingest_opts o = {0};
	o.db = s->o.db;
	o.threads = s->o.threads;
	o.chunk_size = s->o.chunk_size;
	o.progress = on_progress;
	o.progress_ctx = &c;
	if (it->kind == Q_UPLOAD) {
		snprintf(file, sizeof file, "%s/%s.csv", s->uploads_dir, it->id);
		o.file = file;
		o.schema_path = s->ds[it->ds].schema->path;
		o.new_job = true; /* each upload is a file of its own */
		o.correlation_id = it->corr;
	} else {
		o.job_id = it->id;
		o.retry = it->kind == Q_RETRY;
	}
	http_log_job(s, "info", it->kind == Q_UPLOAD ? NULL : it->id, it->corr[0] ? it->corr : NULL,
		     "ingest %s %s", it->kind == Q_UPLOAD ? "upload" : it->kind == Q_RETRY ? "retry" : "resume",
		     it->id);
	int rc = sl_ingest(&o, &res);
	if (it->kind == Q_UPLOAD)
		set_upload_job(s, it->id, res.job.id, true, rc < 0 ? res.message : NULL);
	/* counts the progress callback has not seen yet (the last chunk) */
	if (c.seen) {
		if (res.job.rows_loaded > c.loaded)
			atomic_fetch_add(&s->rows_loaded, res.job.rows_loaded - c.loaded);
		if (res.job.rows_rejected > c.rejected)
			atomic_fetch_add(&s->rows_rejected, res.job.rows_rejected - c.rejected);
	}
	if (rc < 0)
		http_log_job(s, "error", res.job.id[0] ? res.job.id : NULL, it->corr[0] ? it->corr : NULL,
			     "ingest of %s could not run: %s: %s", it->id, sl_error_name(rc), res.message);
	else
		http_log_job(s, "info", res.job.id, it->corr[0] ? it->corr : NULL,
			     "job %s: %s, %llu rows read, %llu loaded, %llu rejected", res.job.id,
			     sl_job_status_name(res.job.status), (unsigned long long)res.job.rows_read,
			     (unsigned long long)res.job.rows_loaded,
			     (unsigned long long)res.job.rows_rejected);
	sl_job_clear(&res.job);
}

static void *worker_main(void *arg)
{
	http_srv *s = arg;
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
		s->busy = true;
		snprintf(s->current, sizeof s->current, "%s", it->id);
		pthread_mutex_unlock(&s->mu);

		run_item(s, it);
		free(it);

		pthread_mutex_lock(&s->mu);
		s->busy = false;
		s->current[0] = 0;
		pthread_cond_broadcast(&s->idle_cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

void http_enqueue(http_srv *s, http_item *it)
{
	it->next = NULL;
	if (s->qtail)
		s->qtail->next = it;
	else
		s->qhead = it;
	s->qtail = it;
	pthread_cond_signal(&s->cv);
}

int http_worker_start(http_srv *s, pthread_t *tid)
{
	return pthread_create(tid, NULL, worker_main, s) ? SL_NOMEM : 0;
}

/* --- resuming after a restart -------------------------------------------------- */

typedef struct unfinished {
	http_srv *s;
	size_t n;
} unfinished;

static int queue_unfinished(void *ctx, const sl_job *j)
{
	unfinished *u = ctx;
	if (sl_job_status_final(j->status))
		return 0;
	http_item *it = calloc(1, sizeof *it);
	if (!it)
		return SL_NOMEM;
	it->kind = Q_RESUME;
	snprintf(it->id, sizeof it->id, "%s", j->id);
	snprintf(it->corr, sizeof it->corr, "%s", j->correlation_id ? j->correlation_id : "");
	pthread_mutex_lock(&u->s->mu);
	http_enqueue(u->s, it);
	pthread_mutex_unlock(&u->s->mu);
	u->n++;
	return 0;
}

int http_resume_unfinished(http_srv *s)
{
	char msg[512];
	unfinished u = {s, 0};
	/* the store lists newest first; the queue runs them in that order, which
	   is fine: each job resumes independently */
	int rc = sl_jobs_list(s->o.db, -1, queue_unfinished, &u, msg, sizeof msg);
	if (rc < 0)
		http_log(s, "error", "cannot list unfinished jobs: %s", msg);
	else if (u.n)
		http_log(s, "info", "%zu unfinished jobs queued to resume", u.n);
	return rc < 0 ? rc : 0;
}
