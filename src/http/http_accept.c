/*
 * Taking uploads in: from a file received in full to a job in the store.
 * An upload kept in a bucket (--upload-store, http_s3store.c) takes the
 * same way, with its object in place of the file: no rename (its name,
 * and so its job id, was chosen when it started) and "store s3" in the
 * sidecar.
 *
 * The answer to an upload must not wait for the database. Running jobs
 * hold SQLite's write lock for one chunk transaction at a time (seconds
 * for a large chunk), back to back, and SQLite's busy handler polls, so a
 * request that needs the lock can wait many chunks. So the request makes
 * the upload durable on its own and answers 202 at once:
 *
 *   1. (idempotency key only, under idem_mu) look for the key among the
 *      pending uploads and in the store (a read, no lock needed in WAL);
 *   2. give the upload a job id, rename the body to DATA_DIR/uploads/UID.csv
 *      (UID = 'u' + the job id's digits) and write UID.accept beside it
 *      (dataset, key, size, hash, time, correlation id), synced with the
 *      directory;
 *   3. append it to the pending list and answer 202 with the job id.
 *
 * The acceptor thread takes pending uploads in order and records each job
 * (sl_job_accept with that id: status Accepted, the key in the same
 * transaction), waiting as long as it takes for the lock, then removes the
 * sidecar and queues the job. Meanwhile the job routes answer from the
 * pending entry (status Accepted). At start, sidecars left by a previous
 * run are taken over: their jobs are recorded (or found recorded) and run.
 *
 * Locking: the pending list lives under s->mu (with the queue); idem_mu
 * makes one key's check-and-claim atomic between requests of this process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "http/http_reply.h"

#define SIDECAR_MAX 4096

static void paths(const http_srv *s, const char *uid, char *csv, char *side, size_t n)
{
	snprintf(csv, n, "%s/%s.csv", s->uploads_dir, uid);
	snprintf(side, n, "%s/%s.accept", s->uploads_dir, uid);
}

/* The job's file: the upload's file, or its object's URI. */
static void job_file(const http_srv *s, const http_pending *p, char *out, size_t n)
{
	if (p->s3)
		http_store_uri(s, p->uid, out, n);
	else
		snprintf(out, n, "%s/%s.csv", s->uploads_dir, p->uid);
}

/* The sidecar: "key value" lines; values are tokens we checked (no spaces
   in ids, keys are printable ASCII and written last on their line). */
static int sidecar_write(const http_srv *s, const http_pending *p, const char *side)
{
	char buf[SIDECAR_MAX];
	/* mode: "default" (the schema's), or the upload's */
	int n = snprintf(buf, sizeof buf,
	                 "job %s\ndataset %s\nsize %llu\nhash %llu\ncreated %lld\ncorr %s\n%sidem %s\n"
	                 "mode %s\n",
	                 p->job, s->ds[p->ds].schema->name, (unsigned long long)p->size,
	                 (unsigned long long)p->hash, (long long)p->created_ms, p->corr,
	                 p->s3 ? "store s3\n" : "", p->idem,
	                 p->mode == SL_MODE_DEFAULT ? "default" : sl_load_mode_name(p->mode));
	if (n < 0 || (size_t)n >= sizeof buf)
		return ENAMETOOLONG;
	return sl_write_file_durable(side, buf, (size_t)n);
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int e = fsync(fd) != 0 ? errno : 0;
	close(fd);
	return e;
}

/* The pending entry with this job id, or with this key. Caller holds s->mu. */
static http_pending *find(http_srv *s, const char *job, const char *idem)
{
	for (http_pending *p = s->pend; p; p = p->next)
		if ((job && !strcmp(p->job, job)) || (idem && idem[0] && !strcmp(p->idem, idem)))
			return p;
	return NULL;
}

/* To the end of the pending list, for the acceptor. */
static void append(http_srv *s, http_pending *p)
{
	pthread_mutex_lock(&s->mu);
	http_pending **tail = &s->pend;
	while (*tail)
		tail = &(*tail)->next;
	*tail = p;
	s->npend++;
	pthread_cond_signal(&s->pend_cv);
	pthread_mutex_unlock(&s->mu);
}

/* Both kinds of upload: a file at path (taken by a rename), or the object
   of upload uid in the store (path NULL; deleted when not taken and own). */
static unsigned accept_any(http_srv *s, size_t ds, const char *path, const char *uid, bool own,
                           uint64_t size, uint64_t hash, const char *idem, const char *corr,
                           sl_load_mode mode, char *job_id, char *msg, size_t msglen)
{
	unsigned status = 0;
	bool keyed = idem && idem[0], locked = false;
	char csv[4200], side[4200];
	http_pending *p = NULL;
	job_id[0] = msg[0] = 0;
	if (keyed) {
		pthread_mutex_lock(&s->idem_mu);
		locked = true;
		/* pending here first, then recorded in the store */
		char other[SL_JOB_ID_LEN] = "", ods[128] = "", err[512];
		uint64_t osize = 0, ohash = 0;
		bool same_ds = true;
		pthread_mutex_lock(&s->mu);
		http_pending *q = find(s, NULL, idem);
		if (q) {
			snprintf(other, sizeof other, "%s", q->job);
			osize = q->size;
			ohash = q->hash;
			same_ds = q->ds == ds;
		}
		pthread_mutex_unlock(&s->mu);
		if (!other[0]) {
			int rc = sl_idem_lookup(s->o.db, idem, other, ods, sizeof ods, &osize, &ohash, err, sizeof err);
			if (rc < 0) {
				snprintf(msg, msglen, "%s", err);
				status = 503;
				goto out;
			}
			same_ds = rc == 0 || !strcmp(ods, s->ds[ds].schema->name);
		}
		if (other[0]) {
			bool same = osize == size && ohash == hash && same_ds;
			if (same)
				snprintf(job_id, SL_JOB_ID_LEN, "%s", other);
			status = same ? 200 : 409;
			goto out;
		}
	}
	if (!(p = calloc(1, sizeof *p))) {
		snprintf(msg, msglen, "out of memory");
		status = 503;
		goto out;
	}
	if (uid) {
		/* the object's name was given when it was started: its job id */
		snprintf(p->uid, sizeof p->uid, "%s", uid);
		snprintf(p->job, sizeof p->job, "j%s", uid + 1);
		p->s3 = true;
		pthread_mutex_lock(&s->mu);
		bool twice = find(s, p->job, NULL) != NULL;
		pthread_mutex_unlock(&s->mu);
		if (twice) { /* confirmed again while its first confirmation is pending */
			snprintf(job_id, SL_JOB_ID_LEN, "%s", p->job);
			status = 200;
			goto out;
		}
	} else {
		sl_job_new_id(p->job);
		snprintf(p->uid, sizeof p->uid, "u%s", p->job + 1);
	}
	p->ds = ds;
	snprintf(p->idem, sizeof p->idem, "%s", keyed ? idem : "");
	p->size = size;
	p->hash = hash;
	p->created_ms = sl_now_ms();
	snprintf(p->corr, sizeof p->corr, "%s", corr ? corr : "");
	p->mode = mode;
	paths(s, p->uid, csv, side, sizeof csv);
	int e = 0;
	if (!uid && rename(path, csv) != 0)
		e = errno;
	else if ((e = sidecar_write(s, p, side)) != 0) {
		if (!uid)
			unlink(csv);
	} else if ((e = sync_dir(s->uploads_dir)) != 0) {
		unlink(side);
		if (!uid)
			unlink(csv);
	}
	if (e) {
		snprintf(msg, msglen, "cannot store the upload: %s", strerror(e));
		status = e == ENOSPC || e == EDQUOT ? 507 : 503;
		goto out;
	}
	if (uid)
		http_store_settled(s, uid); /* the sidecar stands for it now */
	snprintf(job_id, SL_JOB_ID_LEN, "%s", p->job);
	atomic_fetch_add(&s->uploads_done, 1);
	http_log_job(s, "info", p->job, corr, "upload %s: %llu bytes for dataset %s, job %s accepted", p->uid,
		     (unsigned long long)size, s->ds[ds].schema->name, p->job);
	append(s, p); /* the acceptor's from here on: it may free it at once */
	p = NULL;
	status = 202;
out:
	if (locked)
		pthread_mutex_unlock(&s->idem_mu);
	free(p);
	if (status != 202 && path)
		unlink(path); /* not taken: a repeat, a conflict or a failure */
	if (status != 202 && uid && own) {
		char key[1100];
		http_store_key(s, uid, key, sizeof key);
		http_store_delete(s, key);
		http_store_settled(s, uid);
	}
	return status;
}

unsigned http_accept_file(http_srv *s, size_t ds, const char *path, uint64_t size, uint64_t hash,
                          const char *idem, const char *corr, sl_load_mode mode, char *job_id,
                          char *msg, size_t msglen)
{
	return accept_any(s, ds, path, NULL, false, size, hash, idem, corr, mode, job_id, msg,
	                  msglen);
}

unsigned http_accept_object(http_srv *s, size_t ds, const char *uid, bool own, uint64_t size,
                            uint64_t hash, const char *idem, const char *corr, sl_load_mode mode,
                            char *job_id, char *msg, size_t msglen)
{
	return accept_any(s, ds, NULL, uid, own, size, hash, idem, corr, mode, job_id, msg, msglen);
}

/* --- the acceptor ------------------------------------------------------------------------- */

/* Record one pending job; 0 done (or failed for good: p->failed), <0 try again. */
static int record(http_srv *s, http_pending *p)
{
	char csv[4200], side[4200], msg[512];
	paths(s, p->uid, csv, side, sizeof csv);
	job_file(s, p, csv, sizeof csv);
	sl_accept_opts a = {csv,
	                    s->ds[p->ds].schema->path,
	                    s->o.db,
	                    p->corr[0] ? p->corr : NULL,
	                    p->idem[0] ? p->idem : NULL,
	                    p->hash,
	                    p->job,
	                    p->created_ms,
	                    s->o.s3_endpoint,
	                    p->mode};
	sl_job j;
	int rc = sl_job_accept(&a, &j, msg, sizeof msg);
	if (rc >= 0 && strcmp(j.id, p->job)) {
		/* the key was recorded for another job meanwhile (another server
		   on this store), of the same content (sl_job_accept checked):
		   this upload is a repeat of that job, and its id leads there */
		http_log_job(s, "info", p->job, p->corr[0] ? p->corr : NULL,
		             "upload %s: its idempotency key was recorded for job %s (another"
		             " server): job %s is that job",
		             p->uid, j.id, p->job);
		pthread_mutex_lock(&s->mu);
		snprintf(p->alias, sizeof p->alias, "%s", j.id);
		snprintf(p->err, sizeof p->err, "the upload is job %s", j.id);
		p->failed = true;
		pthread_mutex_unlock(&s->mu);
		sl_job_clear(&j);
		unlink(csv);
		unlink(side);
		return 0;
	}
	sl_job_clear(&j);
	if (rc >= 0) {
		unlink(side);
		return 0;
	}
	if (sl_error_class(rc) == SL_CLASS_RETRY || rc == SL_DB_ERROR)
		return rc; /* the lock, a busy disk: again in a moment */
	http_log_job(s, "error", p->job, p->corr[0] ? p->corr : NULL, "upload %s: job %s cannot be recorded: %s",
		     p->uid, p->job, msg);
	pthread_mutex_lock(&s->mu); /* the job routes read it */
	p->failed = true;
	snprintf(p->err, sizeof p->err, "%s", msg);
	pthread_mutex_unlock(&s->mu);
	char failed[4300];
	snprintf(failed, sizeof failed, "%s/%s.failed", s->uploads_dir, p->uid);
	rename(side, failed);
	return 0;
}

static void *acceptor_main(void *arg)
{
	http_srv *s = arg;
	int backoff_ms = 50;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		http_pending *p = s->pend;
		while (p && p->failed)
			p = p->next;
		if (s->stop)
			break;
		if (!p) {
			pthread_cond_wait(&s->pend_cv, &s->mu);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		int rc = record(s, p);
		pthread_mutex_lock(&s->mu);
		if (rc < 0) {
			/* wait, then again; a stop ends the wait */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += (long)backoff_ms * 1000000;
			until.tv_sec += until.tv_nsec / 1000000000;
			until.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&s->pend_cv, &s->mu, &until);
			backoff_ms = backoff_ms < 1000 ? backoff_ms * 2 : 1000;
			continue;
		}
		backoff_ms = 50;
		if (!p->failed) {
			/* recorded: out of the list, into the queue */
			for (http_pending **pp = &s->pend; *pp; pp = &(*pp)->next)
				if (*pp == p) {
					*pp = p->next;
					break;
				}
			s->npend--;
			pthread_mutex_unlock(&s->mu);
			if (http_queue_job(s, Q_RUN, p->job, p->corr) < 0)
				http_log_job(s, "error", p->job, NULL, "out of memory: job %s runs after a restart", p->job);
			free(p);
			pthread_mutex_lock(&s->mu);
		}
		pthread_cond_broadcast(&s->stored_cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* A sidecar of a previous run: its job is recorded by the acceptor (or was
   already, in which case the recording finds it). */
static void take_over(http_srv *s, const char *name)
{
	char path[4300], buf[SIDECAR_MAX + 1];
	snprintf(path, sizeof path, "%s/%s", s->uploads_dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, SIDECAR_MAX) : -1;
	if (fd >= 0)
		close(fd);
	http_pending *p = calloc(1, sizeof *p);
	if (n <= 0 || !p) {
		free(p);
		http_log(s, "error", "cannot read %s: left alone", path);
		return;
	}
	buf[n] = 0;
	char dataset[128] = "";
	bool ok = true;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *v = strchr(line, ' ');
		if (!v)
			continue;
		*v++ = 0;
		if (!strcmp(line, "job"))
			ok = ok && snprintf(p->job, sizeof p->job, "%s", v) < (int)sizeof p->job;
		else if (!strcmp(line, "dataset"))
			snprintf(dataset, sizeof dataset, "%s", v);
		else if (!strcmp(line, "size"))
			p->size = strtoull(v, NULL, 10);
		else if (!strcmp(line, "hash"))
			p->hash = strtoull(v, NULL, 10);
		else if (!strcmp(line, "created"))
			p->created_ms = strtoll(v, NULL, 10);
		else if (!strcmp(line, "corr"))
			snprintf(p->corr, sizeof p->corr, "%s", v);
		else if (!strcmp(line, "idem"))
			snprintf(p->idem, sizeof p->idem, "%s", v);
		else if (!strcmp(line, "store"))
			p->s3 = !strcmp(v, "s3");
		else if (!strcmp(line, "mode") && strcmp(v, "default")) /* none: an older sidecar */
			ok = ok && sl_load_mode_parse(v, &p->mode) == 0;
	}
	int ds = http_dataset_find(s, dataset);
	size_t ul = strlen(name) - strlen(".accept");
	if (!ok || p->job[0] != 'j' || ds < 0 || ul >= sizeof p->uid) {
		http_log(s, "error", "%s: not a sidecar this server can take over (dataset %s%s): left alone", path,
			 dataset, ds < 0 ? " is not loaded" : "");
		free(p);
		return;
	}
	if (p->s3 && !http_store_on(s)) {
		http_log(s, "error", "%s: an upload kept in a bucket, and this server has no --upload-store: left alone",
			 path);
		free(p);
		return;
	}
	memcpy(p->uid, name, ul);
	p->uid[ul] = 0;
	p->ds = (size_t)ds;
	http_log_job(s, "info", p->job, NULL, "upload %s of a previous run: job %s to be recorded", p->uid, p->job);
	append(s, p);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int http_acceptor_start(http_srv *s)
{
	/* the sidecars of a previous run, oldest first (ids sort by time) */
	DIR *d = opendir(s->uploads_dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		size_t l = strlen(e->d_name);
		if (l <= 7 || strcmp(e->d_name + l - 7, ".accept"))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
			if (!nn)
				break;
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_name);
	for (size_t i = 0; i < n; i++) {
		take_over(s, names[i]);
		free(names[i]);
	}
	free(names);
	if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0)
		return SL_NOMEM;
	s->acceptor_up = true;
	return 0;
}

void http_acceptor_stop(http_srv *s)
{
	if (!s->acceptor_up)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->pend_cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->acceptor, NULL);
	s->acceptor_up = false;
	/* what is left stays durable in its sidecar for the next start */
	for (http_pending *p = s->pend, *next; p; p = next) {
		next = p->next;
		free(p);
	}
	s->pend = NULL;
	s->npend = 0;
}

/* --- answering for pending jobs -------------------------------------------------------------- */

static void fill(const http_srv *s, const http_pending *p, sl_job *j)
{
	char csv[4200];
	memset(j, 0, sizeof *j);
	job_file(s, p, csv, sizeof csv);
	snprintf(j->id, sizeof j->id, "%s", p->job);
	j->status = p->failed ? SL_JOB_FAILED : SL_JOB_ACCEPTED;
	j->file = strdup(csv);
	j->schema_path = strdup(s->ds[p->ds].schema->path);
	j->dataset = strdup(s->ds[p->ds].schema->name);
	j->table = strdup(s->ds[p->ds].schema->table);
	j->file_size = p->size;
	j->file_hash = p->hash;
	j->bytes_total = p->size;
	j->created_ms = j->updated_ms = p->created_ms;
	j->correlation_id = p->corr[0] ? strdup(p->corr) : NULL;
	snprintf(
	    j->mode, sizeof j->mode, "%s",
	    sl_load_mode_name(p->mode != SL_MODE_DEFAULT ? p->mode : s->ds[p->ds].schema->mode));
	if (p->failed) {
		j->error_code = SL_INTERNAL;
		j->error_message = strdup(p->err);
		j->finished_ms = p->created_ms;
	}
}

int http_pending_job(http_srv *s, const char *id, sl_job *j)
{
	pthread_mutex_lock(&s->mu);
	http_pending *p = find(s, id, NULL);
	if (p)
		fill(s, p, j);
	pthread_mutex_unlock(&s->mu);
	return p ? 1 : 0;
}

int http_pending_alias(http_srv *s, const char *id, char *job)
{
	pthread_mutex_lock(&s->mu);
	http_pending *p = find(s, id, NULL);
	int have = p && p->alias[0];
	if (have)
		snprintf(job, SL_JOB_ID_LEN, "%s", p->alias);
	pthread_mutex_unlock(&s->mu);
	return have;
}

bool http_pending_wait(http_srv *s, const char *id, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	until.tv_sec += until.tv_nsec / 1000000000;
	until.tv_nsec %= 1000000000;
	pthread_mutex_lock(&s->mu);
	http_pending *p;
	while ((p = find(s, id, NULL)) && !p->failed &&
	       pthread_cond_timedwait(&s->stored_cv, &s->mu, &until) == 0)
		;
	p = find(s, id, NULL);
	pthread_mutex_unlock(&s->mu);
	return !p;
}

size_t http_pending_list(http_srv *s, FILE *f, int status, const char *dataset, const char *prefix,
			 size_t limit, bool first)
{
	size_t n = 0;
	pthread_mutex_lock(&s->mu);
	/* newest first, like the store's list */
	size_t total = s->npend;
	http_pending **v = total ? calloc(total, sizeof *v) : NULL;
	size_t k = 0;
	for (http_pending *p = s->pend; p && v && k < total; p = p->next)
		v[k++] = p;
	for (size_t i = k; i-- > 0 && n < limit;) {
		http_pending *p = v[i];
		if (p->alias[0])
			continue; /* that job is the store's: listed from there */
		sl_job j;
		fill(s, p, &j);
		bool pass = (status < 0 || (int)j.status == status) &&
			    (!dataset || !strcmp(j.dataset ? j.dataset : "", dataset)) &&
			    (!prefix || !strncmp(j.id, prefix, strlen(prefix)) ||
			     (j.correlation_id && !strncmp(j.correlation_id, prefix, strlen(prefix))));
		if (pass) {
			fputs(first || n ? "," : "", f);
			http_json_job(f, &j, p->uid);
			n++;
		}
		sl_job_clear(&j);
	}
	free(v);
	pthread_mutex_unlock(&s->mu);
	return n;
}
