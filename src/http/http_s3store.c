/*
 * The upload store in object storage (--upload-store s3://BUCKET/PREFIX,
 * docs/serve.md "Uploads into object storage"): uploads are kept as
 * objects PREFIX/UID.csv instead of DATA_DIR/uploads/UID.csv, and their
 * jobs read them through the s3:// source, so a `sluice worker` on another
 * machine reads the same bytes.
 *
 * A body streams into a writer (http_s3w): bytes gather in one part buffer
 * of --upload-part-size (bounded memory: a buffer per upload in flight);
 * each full buffer is a part of a multipart upload, created with the first
 * one; a body smaller than a part is one PUT at its end. The job id (and
 * so the key) is chosen when the upload starts, since an object cannot be
 * renamed as a file is.
 *
 * Crashes: before its first request to the bucket a writer writes a
 * marker DATA_DIR/uploads/UID.s3 (the key, then the multipart upload's id
 * once it has one), synced; the acceptor's sidecar (UID.accept) is written
 * once the object is complete, and the marker is removed after it. At
 * start every marker left is looked at: with its sidecar the upload was
 * accepted (the marker goes); without, the client was never answered, so
 * the multipart upload is aborted and the object deleted (the client
 * sends again). No half-written object is ever a job.
 *
 * Retention: http_sweep.c deletes the objects of jobs finished longer ago
 * than --retention.
 *
 * Presigned uploads (POST /v1/datasets/{name}/upload-urls) are given keys
 * PREFIX/UID.csv too, with a job id made at that time: confirming one
 * (POST .../uploads {"s3_key": KEY}) accepts that very job id, so a second
 * confirmation of the key finds the same job.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "http/http_int.h"
#include "s3/s3.h"

#define PART_DEFAULT (8u << 20)
#define PART_MIN     (64u << 10)
#define MAX_PARTS    10000u
#define KEY_MAX      1024

struct http_s3store {
	sl_s3_config cfg;
	char *bucket, *prefix; /* prefix "" or ending in '/' */
	size_t part;           /* bytes per part */
	pthread_mutex_t mu;    /* nthreads: abandoned writers' senders still undoing */
	pthread_cond_t cv;
	unsigned nthreads;
	bool locks; /* mu and cv are made */
};

/* the multipart parser may hand over the bytes of a delimiter it held
   back (at most a delimiter's length) beyond what it was fed */
#define SLACK 128

struct http_s3w {
	http_srv *s;
	sl_s3 *cli;
	char uid[SL_JOB_ID_LEN];
	char key[KEY_MAX];
	char marker[4200];
	char *upload_id; /* NULL until the first full part */
	char *buf[2];    /* part + SLACK bytes each */
	int cur;         /* the loop fills buf[cur] */
	size_t n;        /* bytes in buf[cur] */
	size_t out_n;    /* bytes in buf[!cur] while sending */
	unsigned nparts;
	char (*etags)[SL__S3_ETAG_MAX];
	bool marked;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t tid;
	bool thread_up, sending, full, quit, abandon;
	int err;
	char err_msg[512];
	struct MHD_Connection *waiting; /* suspended for room */
};

bool http_store_on(const http_srv *s)
{
	return s->store != NULL;
}

void http_store_key(const http_srv *s, const char *uid, char *out, size_t n)
{
	snprintf(out, n, "%s%s.csv", s->store->prefix, uid);
}

void http_store_uri(const http_srv *s, const char *uid, char *out, size_t n)
{
	snprintf(out, n, "s3://%s/%s%s.csv", s->store->bucket, s->store->prefix, uid);
}

const char *http_store_prefix(const http_srv *s)
{
	return s->store->prefix;
}

const char *http_store_bucket(const http_srv *s)
{
	return s->store->bucket;
}

const sl_s3_config *http_store_config(const http_srv *s)
{
	return &s->store->cfg;
}

int http_store_uid_of_key(const http_srv *s, const char *key, char *uid, size_t n)
{
	const char *pre = s->store->prefix;
	size_t pl = strlen(pre), kl = strlen(key);
	/* PREFIX + 'u' + 17 hex digits + ".csv": only keys this service gives */
	if (kl != pl + 1 + 17 + 4 || strncmp(key, pre, pl) || key[pl] != 'u' ||
	    strcmp(key + kl - 4, ".csv") || n < 19)
		return -1;
	for (size_t i = pl + 1; i < pl + 18; i++)
		if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
			return -1;
	memcpy(uid, key + pl, 18);
	uid[18] = 0;
	return 0;
}

static void marker_path(const http_srv *s, const char *uid, char *out, size_t n)
{
	snprintf(out, n, "%s/%s.s3", s->uploads_dir, uid);
}

/* "key K\nupload U\n", written whole (tmp, sync, rename): a marker is
   either the old or the new one after a crash, never half of one. */
static int marker_write(const http_s3w *w)
{
	char buf[KEY_MAX + 1200];
	int n = snprintf(buf, sizeof buf, "key %s\nupload %s\n", w->key,
	                 w->upload_id ? w->upload_id : "");
	if (n < 0 || (size_t)n >= sizeof buf)
		return ENAMETOOLONG;
	return sl_write_file_durable(w->marker, buf, (size_t)n);
}

/* Abort a multipart upload: 0 when it is gone or the server refuses the
   request for good (a 4xx: some S3-protocol servers, s3rver among them,
   have no AbortMultipartUpload; the parts then wait for the bucket's
   lifecycle rule, said in the log); <0 a failure worth another try. */
static int abort_mpu(http_srv *s, sl_s3 *cli, const char *key, const char *upload_id)
{
	char err[512] = "";
	int rc = sl__s3_mpu_abort(cli, s->store->bucket, key, upload_id, err, sizeof err);
	if (rc == SL_S3_NOT_FOUND)
		return 0; /* aborted already (or completed: the object goes next) */
	if (rc == SL_S3_REQUEST) {
		http_log(
		    s, "warn",
		    "s3://%s/%s: the server refused to abort multipart upload %s: %s; its parts "
		    "stay until a lifecycle rule (AbortIncompleteMultipartUpload) removes them",
		    s->store->bucket, key, upload_id, err);
		return 0;
	}
	if (rc < 0)
		http_log(s, "warn", "s3://%s/%s: cannot abort multipart upload %s: %s (%s)",
		         s->store->bucket, key, upload_id, err, sl_error_name(rc));
	return rc;
}

/* A marker of a previous run (see the top): settled or undone. */
static void recover(http_srv *s, const char *name)
{
	char path[4300], side[4300], buf[KEY_MAX + 1200];
	snprintf(path, sizeof path, "%s/%s", s->uploads_dir, name);
	size_t ul = strlen(name) - 3;
	snprintf(side, sizeof side, "%s/%.*s.accept", s->uploads_dir, (int)ul, name);
	if (access(side, F_OK) == 0) {
		unlink(path); /* accepted: the acceptor has it */
		return;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		http_log(s, "error", "cannot read %s: left alone", path);
		return;
	}
	buf[n] = 0;
	char *key = NULL, *upload = NULL;
	for (char *line = buf, *next; line && *line; line = next) {
		if ((next = strchr(line, '\n')))
			*next++ = 0;
		if (!strncmp(line, "key ", 4))
			key = line + 4;
		else if (!strncmp(line, "upload ", 7))
			upload = line + 7;
	}
	if (!key || !*key) {
		http_log(s, "error", "%s: no key in it: left alone", path);
		return;
	}
	sl_s3 *cli = NULL;
	char err[512] = "";
	int rc = sl__s3_open(&cli, &s->store->cfg);
	if (!rc && upload && *upload)
		rc = abort_mpu(s, cli, key, upload);
	if (!rc)
		rc = sl__s3_delete(cli, s->store->bucket, key, err, sizeof err);
	if (rc == SL_S3_NOT_FOUND)
		rc = 0;
	sl__s3_close(cli);
	if (rc < 0) {
		http_log(s, "error",
		         "upload %.*s of a previous run, s3://%s/%s: cannot undo it: %s (%s); "
		         "tried again next start",
		         (int)ul, name, s->store->bucket, key, err, sl_error_name(rc));
		return;
	}
	http_log(s, "info",
	         "upload %.*s of a previous run was cut before its answer: s3://%s/%s removed",
	         (int)ul, name, s->store->bucket, key);
	unlink(path);
}

static int first_only(void *ctx, const char *key, uint64_t size, const char *etag)
{
	(void)ctx, (void)key, (void)size, (void)etag;
	return 1; /* one page is enough to know the bucket answers */
}

int http_store_init(http_srv *s)
{
	if (!s->o.upload_store)
		return 0;
	struct http_s3store *st = calloc(1, sizeof *st);
	char err[512] = "";
	int rc = SL_NOMEM;
	if (!st)
		goto out;
	s->store = st;
	if ((rc = sl__s3_uri_parse(s->o.upload_store, &st->bucket, &st->prefix, err, sizeof err)) <
	    0) {
		http_log(s, "error", "--upload-store %s: %s", s->o.upload_store, err);
		rc = SL_CONFIG;
		goto out;
	}
	size_t pl = strlen(st->prefix);
	if (pl && st->prefix[pl - 1] != '/') {
		char *p = malloc(pl + 2);
		if (!p)
			goto out;
		memcpy(p, st->prefix, pl);
		memcpy(p + pl, "/", 2);
		free(st->prefix);
		st->prefix = p;
	}
	if ((rc = sl__s3_config_env(&st->cfg, s->o.s3_endpoint, err, sizeof err)) < 0) {
		http_log(s, "error", "--upload-store %s: %s", s->o.upload_store, err);
		goto out;
	}
	/* a part per buffer; 10,000 parts must hold the largest upload */
	uint64_t part = s->o.upload_part_size ? s->o.upload_part_size : PART_DEFAULT;
	if (part < PART_MIN)
		part = PART_MIN;
	uint64_t need = (s->o.max_upload + MAX_PARTS - 1) / MAX_PARTS;
	if (part < need)
		part = need;
	if (part > (1u << 30)) {
		http_log(s, "error",
		         "--upload-part-size: at most 1G (--max-upload / 10000 is %llu)",
		         (unsigned long long)need);
		rc = SL_CONFIG;
		goto out;
	}
	st->part = (size_t)part;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->locks = true;
	if (asprintf(&s->store_uri, "s3://%s/%s", st->bucket, st->prefix) < 0) {
		s->store_uri = NULL;
		rc = SL_NOMEM;
		goto out;
	}
	/* the bucket must be there: a HEAD of the prefix's marker key would
	   not say, a listing of one key does */
	sl_s3 *cli = NULL;
	if ((rc = sl__s3_open(&cli, &st->cfg)) < 0)
		goto out;
	rc = sl__s3_list(cli, st->bucket, st->prefix, 1, first_only, NULL, err, sizeof err);
	sl__s3_close(cli);
	if (rc < 0) {
		http_log(s, "error", "--upload-store %s: %s (%s)", s->o.upload_store, err,
		         sl_error_name(rc));
		/* no such bucket, or not ours: the setting is wrong */
		if (rc == SL_S3_NOT_FOUND || rc == SL_S3_AUTH)
			rc = SL_CONFIG;
		goto out;
	}
	DIR *d = opendir(s->uploads_dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		size_t l = strlen(e->d_name);
		if (l > 3 && e->d_name[0] == 'u' && !strcmp(e->d_name + l - 3, ".s3"))
			recover(s, e->d_name);
	}
	if (d)
		closedir(d);
	http_log(s, "info", "uploads are kept in s3://%s/%s (parts of %zu bytes)", st->bucket,
	         st->prefix, st->part);
	rc = 0;
out:
	return rc;
}

void http_store_free(http_srv *s)
{
	struct http_s3store *st = s->store;
	if (!st)
		return;
	if (st->locks) {
		/* the senders of aborted uploads, still undoing theirs */
		pthread_mutex_lock(&st->mu);
		while (st->nthreads)
			pthread_cond_wait(&st->cv, &st->mu);
		pthread_mutex_unlock(&st->mu);
		pthread_cond_destroy(&st->cv);
		pthread_mutex_destroy(&st->mu);
	}
	sl__s3_config_free(&st->cfg);
	free(st->bucket);
	free(st->prefix);
	free(st);
	s->store = NULL;
	free(s->store_uri);
	s->store_uri = NULL;
}

int http_store_head(http_srv *s, const char *key, uint64_t *size, char *etag, char *msg,
                    size_t msglen)
{
	sl_s3 *cli = NULL;
	sl_s3_stat st;
	int rc = sl__s3_open(&cli, &s->store->cfg);
	if (rc < 0) {
		snprintf(msg, msglen, "out of memory");
		return rc;
	}
	rc = sl__s3_head(cli, s->store->bucket, key, &st, msg, msglen);
	sl__s3_close(cli);
	if (rc == 0) {
		*size = st.size;
		snprintf(etag, SL__S3_ETAG_MAX, "%s", st.etag);
	}
	return rc;
}

int http_store_delete(http_srv *s, const char *key)
{
	sl_s3 *cli = NULL;
	char err[512] = "";
	int rc = sl__s3_open(&cli, &s->store->cfg);
	if (!rc)
		rc = sl__s3_delete(cli, s->store->bucket, key, err, sizeof err);
	sl__s3_close(cli);
	if (rc < 0 && rc != SL_S3_NOT_FOUND)
		http_log(s, "warn", "cannot delete s3://%s/%s: %s (%s)", s->store->bucket, key, err,
		         sl_error_name(rc));
	return rc;
}

void http_store_settled(http_srv *s, const char *uid)
{
	char m[4200];
	marker_path(s, uid, m, sizeof m);
	unlink(m);
}

/* --- the writer ---------------------------------------------------------------------------
 *
 * The event loop only copies: bytes fill the writer's current buffer; a
 * full one is handed to the writer's sender thread (started with the first
 * full part), which creates the multipart upload and PUTs the part while
 * the other buffer fills. When both are full the loop has no room: the
 * router's on_room asks first (http_s3w_room), and the connection is
 * suspended (counted with the pool's deferred handlers, so a stop waits
 * for it) until the sender frees a buffer and resumes it; the body waits
 * in the client's socket meanwhile. So an upload holds two buffers at
 * most, and no request to the bucket ever runs on the loop.
 *
 * Under mu: sending (the other buffer holds a part being sent), full (the
 * current one waits for the sender), the error the sender met, the
 * suspended connection, quit and abandon. The loop writes into the current
 * buffer without the lock only while it is not full, and the sender swaps
 * the buffers only while it is, so they never touch the same one. The
 * sender alone touches upload_id, nparts, etags and the marker while it
 * runs; finish joins it before it goes on with them. An abort on the loop
 * (a body refused midway) does not wait: the sender is told to undo the
 * upload itself and free the writer (store->nthreads counts such threads,
 * and http_store_free waits for them).
 */

int http_s3w_open(http_srv *s, const char *uid, http_s3w **out, char *msg, size_t msglen)
{
	size_t cap = s->store->part + SLACK;
	http_s3w *w = calloc(1, sizeof *w);
	*out = NULL;
	if (!w || !(w->buf[0] = malloc(cap)) || !(w->buf[1] = malloc(cap)) ||
	    sl__s3_open(&w->cli, &s->store->cfg) < 0) {
		if (w) {
			free(w->buf[0]);
			free(w->buf[1]);
		}
		free(w);
		snprintf(msg, msglen, "out of memory");
		return SL_NOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->s = s;
	snprintf(w->uid, sizeof w->uid, "%s", uid);
	http_store_key(s, uid, w->key, sizeof w->key);
	marker_path(s, uid, w->marker, sizeof w->marker);
	*out = w;
	return 0;
}

/* The marker first, then the bucket: a crash between them leaves a marker
   whose key does not exist, which recovery deletes harmlessly. */
static int mark(http_s3w *w, char *msg, size_t msglen)
{
	int e = marker_write(w);
	if (e) {
		snprintf(msg, msglen, "cannot write %s: %s", w->marker, strerror(e));
		return SL_IO_WRITE;
	}
	w->marked = true;
	return 0;
}

/* One part (p, n) into the bucket, the multipart upload created first. */
static int send_part(http_s3w *w, const char *p, size_t n, char *msg, size_t msglen)
{
	struct http_s3store *st = w->s->store;
	int rc;
	if (w->nparts == MAX_PARTS) {
		snprintf(msg, msglen, "more than %u parts", MAX_PARTS);
		return SL_INVAL;
	}
	if (!w->upload_id) {
		if ((rc = mark(w, msg, msglen)) < 0 ||
		    (rc = sl__s3_mpu_create(w->cli, st->bucket, w->key, &w->upload_id, msg,
		                            msglen)) < 0 ||
		    (rc = mark(w, msg, msglen)) < 0)
			return rc;
		if (!(w->etags = calloc(MAX_PARTS, sizeof *w->etags))) {
			snprintf(msg, msglen, "out of memory");
			return SL_NOMEM;
		}
	}
	rc = sl__s3_mpu_part(w->cli, st->bucket, w->key, w->upload_id, w->nparts + 1, p, n,
	                     w->etags[w->nparts], msg, msglen);
	if (rc < 0)
		return rc;
	w->nparts++;
	return 0;
}

static void writer_free(http_s3w *w)
{
	sl__s3_close(w->cli);
	free(w->upload_id);
	free(w->etags);
	free(w->buf[0]);
	free(w->buf[1]);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* What the bucket holds of the upload goes (the parts, or the object),
   then its marker. */
static void undo(http_s3w *w)
{
	http_srv *s = w->s;
	char err[512] = "";
	int rc = 0;
	if (!w->marked)
		return;
	if (w->upload_id)
		rc = abort_mpu(s, w->cli, w->key, w->upload_id);
	if (!rc && (rc = sl__s3_delete(w->cli, s->store->bucket, w->key, err, sizeof err)) ==
	               SL_S3_NOT_FOUND)
		rc = 0;
	if (rc < 0)
		http_log(s, "warn",
		         "upload %s: cannot remove s3://%s/%s: %s (%s); the next start tries again",
		         w->uid, s->store->bucket, w->key, err, sl_error_name(rc));
	else
		unlink(w->marker);
}

/* A connection suspended for room goes on (under w->mu). */
static void wake_waiting(http_s3w *w)
{
	if (w->waiting) {
		http_pool_unhold(w->s, w->waiting);
		w->waiting = NULL;
	}
}

static void *sender_main(void *arg)
{
	http_s3w *w = arg;
	struct http_s3store *st = w->s->store;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->sending && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->sending && !w->err && !w->abandon) {
			const char *p = w->buf[!w->cur];
			size_t n = w->out_n;
			char msg[512] = "";
			pthread_mutex_unlock(&w->mu);
			int rc = send_part(w, p, n, msg, sizeof msg);
			pthread_mutex_lock(&w->mu);
			if (rc < 0) {
				w->err = rc;
				snprintf(w->err_msg, sizeof w->err_msg, "%s", msg);
			}
		}
		w->sending = false;
		if (w->full && !w->err && !w->abandon) {
			/* the current buffer waited: it is the next part */
			w->out_n = w->n;
			w->cur = !w->cur;
			w->n = 0;
			w->full = false;
			w->sending = true;
		}
		/* room again, or an error the loop reads at its next call */
		wake_waiting(w);
		pthread_cond_broadcast(&w->cv);
		if (w->quit && !w->sending)
			break;
	}
	bool abandon = w->abandon;
	pthread_mutex_unlock(&w->mu);
	if (abandon) {
		undo(w);
		writer_free(w);
		pthread_mutex_lock(&st->mu);
		st->nthreads--;
		pthread_cond_broadcast(&st->cv);
		pthread_mutex_unlock(&st->mu);
	}
	return NULL;
}

size_t http_s3w_room(http_s3w *w, struct MHD_Connection *c, size_t n)
{
	size_t part = w->s->store->part, k = n;
	pthread_mutex_lock(&w->mu);
	if (w->err)
		; /* everything: the write says why it fails */
	else if (!w->full)
		k = part - w->n < n ? part - w->n : n;
	else if (http_pool_hold(w->s, c)) {
		w->waiting = c; /* the sender resumes it (wake_waiting) */
		k = 0;
	} else {
		/* stopping: nothing may be suspended now; wait here */
		while (w->full && !w->err)
			pthread_cond_wait(&w->cv, &w->mu);
		k = w->err ? n : (part - w->n < n ? part - w->n : n);
	}
	pthread_mutex_unlock(&w->mu);
	return k;
}

int http_s3w_write(http_s3w *w, const char *p, size_t n, char *msg, size_t msglen)
{
	struct http_s3store *st = w->s->store;
	int rc = 0;
	pthread_mutex_lock(&w->mu);
	if (w->err) {
		snprintf(msg, msglen, "%s", w->err_msg);
		rc = w->err;
	} else if (w->full || w->n + n > st->part + SLACK) {
		/* more than http_s3w_room gave: a caller's bug, not the client's */
		snprintf(msg, msglen, "%zu bytes written with no room for them", n);
		rc = SL_INTERNAL;
	}
	pthread_mutex_unlock(&w->mu);
	if (rc < 0)
		return rc;
	memcpy(w->buf[w->cur] + w->n, p, n);
	w->n += n;
	if (w->n < st->part)
		return 0;
	pthread_mutex_lock(&w->mu);
	if (!w->thread_up) {
		if (pthread_create(&w->tid, NULL, sender_main, w) != 0) {
			snprintf(msg, msglen, "cannot start the upload's sender: %s",
			         strerror(errno));
			rc = w->err = SL_NOMEM;
			snprintf(w->err_msg, sizeof w->err_msg, "%s", msg);
			goto out;
		}
		w->thread_up = true;
	}
	if (w->sending) {
		w->full = true; /* the loop stops here: the sender takes it next */
	} else {
		w->out_n = w->n;
		w->cur = !w->cur;
		w->n = 0;
		w->sending = true;
		pthread_cond_broadcast(&w->cv);
	}
out:
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* The sender's parts are all sent: join it. 0, or the error it met. */
static int sender_join(http_s3w *w, char *msg, size_t msglen)
{
	int rc;
	if (!w->thread_up)
		return 0;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->tid, NULL);
	w->thread_up = false;
	if ((rc = w->err) < 0)
		snprintf(msg, msglen, "%s", w->err_msg);
	return rc;
}

int http_s3w_finish(http_s3w *w, char *msg, size_t msglen)
{
	struct http_s3store *st = w->s->store;
	int rc;
	if ((rc = sender_join(w, msg, msglen)) < 0)
		return rc;
	if (!w->upload_id) { /* smaller than a part: one PUT */
		if ((rc = mark(w, msg, msglen)) < 0)
			return rc;
		return sl__s3_put(w->cli, st->bucket, w->key, w->buf[w->cur], w->n, NULL, msg,
		                  msglen);
	}
	if (w->n && (rc = send_part(w, w->buf[w->cur], w->n, msg, msglen)) < 0)
		return rc;
	w->n = 0;
	return sl__s3_mpu_complete(w->cli, st->bucket, w->key, w->upload_id, w->etags, w->nparts,
	                           msg, msglen);
}

void http_s3w_abort(http_s3w *w)
{
	if (!w)
		return;
	if (w->thread_up) {
		/* the sender undoes it once its part in flight is done, and frees w */
		struct http_s3store *st = w->s->store;
		pthread_mutex_lock(&st->mu);
		st->nthreads++;
		pthread_mutex_unlock(&st->mu);
		pthread_detach(w->tid);
		pthread_mutex_lock(&w->mu);
		w->abandon = w->quit = true;
		wake_waiting(w);
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		return;
	}
	undo(w);
	writer_free(w);
}

void http_s3w_close(http_s3w *w)
{
	if (w) {
		char msg[sizeof w->err_msg];
		(void)sender_join(w, msg, sizeof msg); /* finish joined it: nothing left */
		writer_free(w);
	}
}

/* --- tus uploads: a part per --upload-part-size as PATCHes bring them -------------------------
 *
 * The bytes of a tus upload arrive in DATA_DIR/tus/ID.part (the tus code,
 * resumable as without a store); after each PATCH every whole part not
 * sent yet goes into the bucket as a part of the upload's multipart
 * upload, and its range of the local file is freed (a hole punched: the
 * file keeps its size, the offsets stay). ID.mpu records it: "key K",
 * "upload U" once created, then a line "part N LENGTH ETAG" per part sent,
 * each synced before the next request. A crash leaves a state to go on
 * from (the next PATCH sends the parts not recorded, a part sent but not
 * recorded again under its number) or to abort (tus DELETE, the expiry
 * sweep: http_store_tus_abort). The caller holds the PATCH lock.
 */

typedef struct tus_mpu {
	char key[KEY_MAX];
	char *upload_id;
	unsigned nparts;
	uint64_t sent;
	char (*etags)[SL__S3_ETAG_MAX];
} tus_mpu;

static void mpu_clear(tus_mpu *m)
{
	free(m->upload_id);
	free(m->etags);
	memset(m, 0, sizeof *m);
}

/* 0 read (or none: m empty), <0 a file that is not one of ours */
static int mpu_read(const char *path, tus_mpu *m)
{
	memset(m, 0, sizeof *m);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : SL_IO_READ;
	char line[KEY_MAX + 256];
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f)) {
		size_t l = strlen(line);
		if (!l || line[l - 1] != '\n')
			break; /* a line cut by a crash: not recorded */
		line[l - 1] = 0;
		unsigned n = 0;
		unsigned long long len = 0;
		char etag[SL__S3_ETAG_MAX];
		if (!strncmp(line, "key ", 4) && l - 5 < sizeof m->key) {
			memcpy(m->key, line + 4, l - 4); /* with its NUL */
		} else if (!strncmp(line, "upload ", 7)) {
			free(m->upload_id);
			if (!(m->upload_id = strdup(line + 7)))
				rc = SL_NOMEM;
		} else if (sscanf(line, "part %u %llu %127s", &n, &len, etag) == 3 &&
		           n == m->nparts + 1 && n <= MAX_PARTS) {
			if (!m->etags && !(m->etags = calloc(MAX_PARTS, sizeof *m->etags))) {
				rc = SL_NOMEM;
				break;
			}
			snprintf(m->etags[m->nparts++], SL__S3_ETAG_MAX, "%s", etag);
			m->sent += len;
		}
	}
	fclose(f);
	if (rc == 0 && !m->key[0] && (m->upload_id || m->nparts))
		rc = SL_IO_CORRUPT;
	return rc;
}

static int mpu_append(const char *path, const char *line)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	int e = sl_write_all(fd, line, strlen(line), NULL);
	if (!e && fdatasync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && !e)
		e = errno;
	return e;
}

static int pread_full(int fd, char *buf, size_t n, uint64_t off)
{
	for (size_t got = 0; got < n;) {
		ssize_t k = pread(fd, buf + got, n - got, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? errno : EIO;
		got += (size_t)k;
	}
	return 0;
}

int http_store_tus_flush(http_srv *s, const char *mpu_path, const char *part_path, uint64_t have,
                         bool last, char *uid, size_t uidlen, char *msg, size_t msglen)
{
	struct http_s3store *st = s->store;
	tus_mpu m;
	sl_s3 *cli = NULL;
	char *buf = NULL, line[KEY_MAX + 256];
	int fd = -1, rc = mpu_read(mpu_path, &m), e;
	if (rc < 0) {
		snprintf(msg, msglen, "%s: not a record of parts this server can read", mpu_path);
		goto out;
	}
	if (m.sent > have) {
		snprintf(msg, msglen, "%s: %llu bytes sent, more than the upload's %llu", mpu_path,
		         (unsigned long long)m.sent, (unsigned long long)have);
		rc = SL_INTERNAL;
		goto out;
	}
	if (!last && have - m.sent < st->part) {
		rc = 0; /* not a whole part yet */
		goto out;
	}
	if (!m.key[0]) {
		/* the object's name, chosen once: its job id's digits */
		char job[SL_JOB_ID_LEN], u[SL_JOB_ID_LEN];
		sl_job_new_id(job);
		snprintf(u, sizeof u, "u%s", job + 1);
		http_store_key(s, u, m.key, sizeof m.key);
		snprintf(line, sizeof line, "key %s\n", m.key);
		if ((e = mpu_append(mpu_path, line)) != 0) {
			snprintf(msg, msglen, "cannot write %s: %s", mpu_path, strerror(e));
			rc = SL_IO_WRITE;
			goto out;
		}
	}
	if ((rc = sl__s3_open(&cli, &st->cfg)) < 0 || !(buf = malloc(st->part)) ||
	    (!m.etags && !(m.etags = calloc(MAX_PARTS, sizeof *m.etags)))) {
		snprintf(msg, msglen, "out of memory");
		rc = SL_NOMEM;
		goto out;
	}
	if ((fd = open(part_path, O_RDWR | O_CLOEXEC)) < 0) {
		snprintf(msg, msglen, "%s: %s", part_path, strerror(errno));
		rc = SL_IO_OPEN;
		goto out;
	}
	if (last && !m.upload_id && have <= st->part) {
		/* all of it in one part: one PUT */
		if ((e = pread_full(fd, buf, (size_t)have, 0)) != 0) {
			snprintf(msg, msglen, "%s: %s", part_path, strerror(e));
			rc = SL_IO_READ;
			goto out;
		}
		rc = sl__s3_put(cli, st->bucket, m.key, buf, (size_t)have, NULL, msg, msglen);
		goto done;
	}
	if (!m.upload_id) {
		if ((rc = sl__s3_mpu_create(cli, st->bucket, m.key, &m.upload_id, msg, msglen)) < 0)
			goto out;
		snprintf(line, sizeof line, "upload %s\n", m.upload_id);
		if ((e = mpu_append(mpu_path, line)) != 0) {
			snprintf(msg, msglen, "cannot write %s: %s", mpu_path, strerror(e));
			rc = SL_IO_WRITE;
			goto out;
		}
	}
	while (m.sent < have && (last || have - m.sent >= st->part)) {
		size_t n = have - m.sent < st->part ? (size_t)(have - m.sent) : st->part;
		if (m.nparts == MAX_PARTS) {
			snprintf(msg, msglen, "more than %u parts", MAX_PARTS);
			rc = SL_INVAL;
			goto out;
		}
		if ((e = pread_full(fd, buf, n, m.sent)) != 0) {
			snprintf(msg, msglen, "%s: %s", part_path, strerror(e));
			rc = SL_IO_READ;
			goto out;
		}
		if ((rc = sl__s3_mpu_part(cli, st->bucket, m.key, m.upload_id, m.nparts + 1, buf, n,
		                          m.etags[m.nparts], msg, msglen)) < 0)
			goto out;
		snprintf(line, sizeof line, "part %u %zu %s\n", m.nparts + 1, n, m.etags[m.nparts]);
		if ((e = mpu_append(mpu_path, line)) != 0) {
			snprintf(msg, msglen, "cannot write %s: %s", mpu_path, strerror(e));
			rc = SL_IO_WRITE;
			goto out;
		}
		/* in the bucket now: its disk space is of no more use (a
		   filesystem without holes keeps it; nothing else changes) */
		(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)m.sent,
		                (off_t)n);
		m.nparts++;
		m.sent += n;
	}
	if (!last) {
		rc = 0;
		goto out;
	}
	rc = sl__s3_mpu_complete(cli, st->bucket, m.key, m.upload_id, m.etags, m.nparts, msg,
	                         msglen);
	if (rc == SL_S3_NOT_FOUND) {
		/* completed before a crash, whose hand-over never happened */
		sl_s3_stat hs;
		char m2[256];
		if (sl__s3_head(cli, st->bucket, m.key, &hs, m2, sizeof m2) == 0 && hs.size == have)
			rc = 0;
	}
done:
	if (rc == 0 && http_store_uid_of_key(s, m.key, uid, uidlen) < 0) {
		snprintf(msg, msglen, "%s: the key %s is not an upload's", mpu_path, m.key);
		rc = SL_INTERNAL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	sl__s3_close(cli);
	mpu_clear(&m);
	return rc;
}

void http_store_tus_abort(http_srv *s, const char *mpu_path)
{
	tus_mpu m;
	if (!s->store || mpu_read(mpu_path, &m) < 0 || !m.key[0]) {
		if (!s->store || access(mpu_path, F_OK) != 0)
			return;
		unlink(mpu_path);
		return;
	}
	sl_s3 *cli = NULL;
	char err[512] = "";
	int rc = sl__s3_open(&cli, &s->store->cfg);
	if (!rc && m.upload_id)
		rc = abort_mpu(s, cli, m.key, m.upload_id);
	if (!rc &&
	    (rc = sl__s3_delete(cli, s->store->bucket, m.key, err, sizeof err)) == SL_S3_NOT_FOUND)
		rc = 0;
	sl__s3_close(cli);
	if (rc < 0)
		http_log(s, "warn", "tus: cannot remove s3://%s/%s: %s (%s)", s->store->bucket,
		         m.key, err, sl_error_name(rc));
	else
		unlink(mpu_path);
	mpu_clear(&m);
}
