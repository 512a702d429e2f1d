/*
 * Retention for the upload store (--upload-store with --retention;
 * docs/serve.md, "Uploads into object storage"). An upload's object is its
 * job's file: a resume, a retry and a worker on another machine read it,
 * so it stays while the job may run again. Once the job is final and was
 * last updated longer ago than --retention (when the leader deletes its
 * rejects and events too), the object goes. The sweeper lists the prefix
 * every minute (or every --retention when that is shorter) in the keys'
 * order, which is the jobs' creation order (a job id begins with its
 * creation time in ms, in hex), and stops at the first key created after
 * the cutoff: a job created after it cannot have finished before it, so a
 * sweep reads only the old keys. A key is deleted only when it is a key
 * this service gave (PREFIX/uHEX.csv), its job exists, is final and old
 * enough, and its file is that very object; a presigned URL's object whose
 * upload was never confirmed has no job and stays (a bucket lifecycle rule
 * can expire those). Several instances on one store sweep alike: a DELETE
 * of a key gone already is harmless.
 *
 * Its own file, not http_s3store.c's: it reads jobs (http_jobs.c), whose
 * file calls the store. The thread's state is s->sweep's; stop is told
 * under its mutex.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "http/http_int.h"
#include "s3/s3.h"

#define SWEEP_MAX   1000 /* keys deleted by one sweep at most; the next goes on */
#define SWEEP_MAX_S 60

#define KEY_MAX 1024

struct http_sweep {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t tid;
	bool stop;
};

typedef struct sweep_ctx {
	http_srv *s;
	int64_t cutoff_ms;
	char (*keys)[KEY_MAX];
	size_t n;
} sweep_ctx;

/* the creation time in a key's upload id: 'u', then 11 hex digits of ms */
static int64_t uid_ms(const char *uid)
{
	int64_t ms = 0;
	for (int i = 1; i <= 11; i++) {
		char c = uid[i];
		ms = ms * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
	}
	return ms;
}

static int sweep_each(void *ctx, const char *key, uint64_t size, const char *etag)
{
	sweep_ctx *c = ctx;
	http_srv *s = c->s;
	char uid[SL_JOB_ID_LEN], id[SL_JOB_ID_LEN], uri[KEY_MAX + 300], msg[512];
	(void)size, (void)etag;
	if (http_store_uid_of_key(s, key, uid, sizeof uid) < 0)
		return 0; /* not one of ours */
	if (uid_ms(uid) >= c->cutoff_ms || c->n == SWEEP_MAX)
		return 1; /* this one and every later key: too new (or enough for now) */
	sl_job j;
	snprintf(id, sizeof id, "j%s", uid + 1);
	if (http_job_load(s, id, &j, NULL, NULL, msg, sizeof msg) < 0)
		return 0; /* no such job (a direct upload never confirmed), or no store now */
	http_store_uri(s, uid, uri, sizeof uri);
	if (sl_job_status_final(j.status) && j.updated_ms < c->cutoff_ms && j.file &&
	    !strcmp(j.file, uri))
		snprintf(c->keys[c->n++], KEY_MAX, "%s", key);
	sl_job_clear(&j);
	return 0;
}

static void sweep(http_srv *s)
{
	const char *bucket = http_store_bucket(s), *prefix = http_store_prefix(s);
	sweep_ctx c = {s, sl_now_ms() - s->o.leader.retention_ms, NULL, 0};
	sl_s3 *cli = NULL;
	char err[512] = "";
	if (!(c.keys = malloc(SWEEP_MAX * sizeof *c.keys)) ||
	    sl__s3_open(&cli, http_store_config(s)) < 0)
		goto out;
	int rc = sl__s3_list(cli, bucket, prefix, 0, sweep_each, &c, err, sizeof err);
	if (rc < 0) {
		http_log(s, "warn", "retention: cannot list s3://%s/%s: %s (%s); tried again later",
		         bucket, prefix, err, sl_error_name(rc));
		goto out;
	}
	for (size_t i = 0; i < c.n; i++) {
		rc = sl__s3_delete(cli, bucket, c.keys[i], err, sizeof err);
		if (rc == 0 || rc == SL_S3_NOT_FOUND)
			http_log(s, "info",
			         "retention: s3://%s/%s deleted (its job finished more than %lld s "
			         "ago)",
			         bucket, c.keys[i], (long long)(s->o.leader.retention_ms / 1000));
		else
			http_log(s, "warn", "retention: cannot delete s3://%s/%s: %s (%s)", bucket,
			         c.keys[i], err, sl_error_name(rc));
	}
out:
	sl__s3_close(cli);
	free(c.keys);
}

static void *sweep_main(void *arg)
{
	http_srv *s = arg;
	struct http_sweep *st = s->sweep;
	int64_t every = s->o.leader.retention_ms;
	if (every > SWEEP_MAX_S * 1000)
		every = SWEEP_MAX_S * 1000;
	pthread_mutex_lock(&st->mu);
	while (!st->stop) {
		pthread_mutex_unlock(&st->mu);
		sweep(s);
		pthread_mutex_lock(&st->mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += every / 1000;
		until.tv_nsec += (every % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!st->stop && pthread_cond_timedwait(&st->cv, &st->mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

int http_store_sweep_start(http_srv *s)
{
	struct http_sweep *st;
	if (!http_store_on(s) || s->o.leader.retention_ms <= 0)
		return 0;
	if (!(st = calloc(1, sizeof *st)))
		return SL_NOMEM;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	s->sweep = st;
	if (pthread_create(&st->tid, NULL, sweep_main, s) != 0) {
		http_log(s, "error", "cannot start the upload store's sweeper: %s",
		         strerror(errno));
		s->sweep = NULL;
		pthread_cond_destroy(&st->cv);
		pthread_mutex_destroy(&st->mu);
		free(st);
		return SL_NOMEM;
	}
	return 0;
}

void http_store_sweep_stop(http_srv *s)
{
	struct http_sweep *st = s->sweep;
	if (!st)
		return;
	pthread_mutex_lock(&st->mu);
	st->stop = true;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	pthread_join(st->tid, NULL);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	free(st);
	s->sweep = NULL;
}
