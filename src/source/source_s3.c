/*
 * The S3 source: `s3://bucket/key` (src/s3/ is the client). Opening HEADs
 * the object: its size, Last-Modified and ETag are the fingerprint, and
 * every read is pinned to that ETag (If-Match, and the ETag of each answer
 * compared), so an object replaced while a job reads it fails with
 * IO_CHANGED instead of mixing two versions' bytes.
 *
 * A reader is a ranged GET per block (BLOCK bytes), fetched by a thread of
 * the reader's own one block ahead of what is read, so the download of the
 * next block overlaps the parsing of this one; each byte is downloaded
 * once. A sequential reader is the range [0, size). Each reader has its
 * own client (connection), so workers read their chunks in parallel.
 *
 * The sequential reader (planning) also writes what it downloaded to a
 * spool, an unlinked temporary file (SLUICE_S3_SPOOL: its directory, else
 * TMPDIR, else /tmp; "off": none), and a ranged reader whose range the
 * spool holds reads it from there: a single-process load downloads each
 * byte once. The spool holds the pinned version only; a spool that cannot
 * be written (a full disk) is dropped and the ranges are GETs again. A
 * resume in a new process, or a worker elsewhere, has no spool: GETs.
 *
 * The engine's fingerprint is (size, mtime_ns); S3's Last-Modified has
 * whole seconds, so stat folds a hash of the ETag into mtime_ns's
 * nanoseconds: an object rewritten within the same second with the same
 * size is still a changed file to the engine's checks (resume, and the
 * check between chunks). stat HEADs again each time (live, as fstat is).
 *
 * Threads: stat may run on any thread (its client is under a mutex);
 * readers are one thread's each, plus their prefetch thread, which hands
 * blocks over under the reader's mutex.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "s3/s3.h"
#include "source/source.h"

#define BLOCK       (8u << 20)
#define FIRST_BLOCK (1u << 20) /* a reader closed early (the header's) costs little */

typedef struct s3_source {
	sl_source s;
	sl_s3_config cfg;
	char *bucket, *key;
	sl_s3_stat at_open; /* the version every reader is pinned to */
	pthread_mutex_t mu; /* the stat client */
	sl_s3 *head;
	pthread_mutex_t spool_mu; /* spooled, spool_fd's life */
	int spool_fd;             /* -1: none (off, failed) */
	uint64_t spooled;         /* [0, spooled) of the object is in the spool */
} s3_source;

/* one block, filled by the prefetch thread, emptied by read */
typedef struct block {
	char *p;
	size_t n, pos;
	bool full;
} block;

typedef struct s3_reader {
	sl_source_reader r;
	sl_s3 *c;
	uint64_t start, next, end; /* the range's start, the next byte to fetch, its end */
	bool seq;                  /* the sequential reader: fills the spool */
	int spool_fd;              /* >= 0: this reader preads the spool, no GETs */
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	block b[2];  /* the reader's and the fetcher's */
	unsigned rd; /* the block read from */
	bool stop, done;
	atomic_bool cancel; /* close: the GET in flight stops at its next bytes */
	int rc;             /* the fetcher's failure, once the blocks before it are read */
	char err[SL_SOURCE_MSG];
} s3_reader;

static int64_t fold_mtime(const sl_s3_stat *st)
{
	uint64_t h = XXH3_64bits(st->etag, strlen(st->etag));
	return (int64_t)st->mtime * 1000000000 + (int64_t)(h % 1000000000u);
}

static int s3_stat(sl_source *base, sl_source_stat *st)
{
	s3_source *s = (s3_source *)base;
	sl_s3_stat h;
	char err[SL_SOURCE_MSG];
	memset(st, 0, sizeof *st);
	pthread_mutex_lock(&s->mu);
	int rc = sl__s3_head(s->head, s->bucket, s->key, &h, err, sizeof err);
	if (rc < 0)
		snprintf(base->msg, sizeof base->msg, "%s", err);
	pthread_mutex_unlock(&s->mu);
	if (rc < 0)
		return rc;
	st->size = st->raw_size = h.size;
	st->size_known = true;
	st->mtime_ns = fold_mtime(&h);
	memcpy(st->etag, h.etag, sizeof st->etag < sizeof h.etag ? sizeof st->etag : sizeof h.etag);
	st->etag[sizeof st->etag - 1] = '\0';
	st->ranges_cheap = true;
	return 0;
}

struct fill {
	block *b;
	atomic_bool *cancel;
};
static int fill_block(void *ctx, const char *p, size_t n)
{
	struct fill *f = ctx;
	block *b = f->b;
	if (atomic_load(f->cancel))
		return SL_IO_READ; /* the reader is being closed: nobody wants these */
	if (n > BLOCK - b->n)
		return SL_INTERNAL; /* more than the range asked: the client checks first */
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

/* the block [off, off+n) downloaded by the sequential reader, appended to
 * the spool (blocks come in order); a failed write drops the spool */
static void spool_put(s3_source *s, uint64_t off, const char *p, size_t n)
{
	pthread_mutex_lock(&s->spool_mu);
	int fd = s->spool_fd;
	bool next = fd >= 0 && off == s->spooled;
	pthread_mutex_unlock(&s->spool_mu);
	if (!next)
		return;
	size_t done = 0;
	while (done < n) {
		ssize_t w = pwrite(fd, p + done, n - done, (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	pthread_mutex_lock(&s->spool_mu);
	if (done == n)
		s->spooled = off + n;
	else
		s->spooled = 0; /* nothing is read from it any more; closed with the source */
	pthread_mutex_unlock(&s->spool_mu);
}

static void *fetcher(void *arg)
{
	s3_reader *r = arg;
	s3_source *s = (s3_source *)r->r.src;
	char err[SL_SOURCE_MSG];
	pthread_mutex_lock(&r->mu);
	for (unsigned w = 0;; w ^= 1) {
		while (r->b[w].full && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop || r->next >= r->end)
			break;
		block *b = &r->b[w];
		uint64_t off = r->next, bl = off == r->start ? FIRST_BLOCK : BLOCK;
		uint64_t len = r->end - off < bl ? r->end - off : bl;
		pthread_mutex_unlock(&r->mu);
		b->n = b->pos = 0;
		struct fill f = {b, &r->cancel};
		int rc = sl__s3_get(r->c, s->bucket, s->key, off, len, s->at_open.etag, fill_block,
		                    &f, err, sizeof err);
		if (rc == 0 && r->seq) /* outside the lock: the reader goes on meanwhile */
			spool_put(s, off, b->p, b->n);
		pthread_mutex_lock(&r->mu);
		if (rc < 0) {
			r->rc = rc;
			snprintf(r->err, sizeof r->err, "%s", err);
			break;
		}
		r->next += len;
		b->full = true;
		pthread_cond_broadcast(&r->cv);
	}
	r->done = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* a HEAD: 0 when the object is still the version opened, else IO_CHANGED
 * (or the HEAD's failure), said in the source's msg */
static int still_pinned(s3_source *s)
{
	sl_s3_stat h;
	char err[SL_SOURCE_MSG];
	pthread_mutex_lock(&s->mu);
	int rc = sl__s3_head(s->head, s->bucket, s->key, &h, err, sizeof err);
	if (rc == 0 && strcmp(h.etag, s->at_open.etag) != 0) {
		rc = SL_IO_CHANGED;
		snprintf(err, sizeof err, "s3://%.80s/%.80s: the object is now %.60s, not %.60s",
		         s->bucket, s->key, h.etag, s->at_open.etag);
	}
	/* workers open ranges at once: the shared msg is written under the lock */
	if (rc < 0)
		snprintf(s->s.msg, sizeof s->s.msg, "%s", err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static ssize_t spool_read(s3_reader *r, char *buf, size_t cap)
{
	if (r->next >= r->end)
		return 0;
	if (cap > r->end - r->next)
		cap = (size_t)(r->end - r->next);
	ssize_t n;
	do
		n = pread(r->spool_fd, buf, cap, (off_t)r->next);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		snprintf(r->r.msg, sizeof r->r.msg, "the spool of %.200s: %s at byte %llu",
		         r->r.src->uri, n < 0 ? strerror(errno) : "ends early",
		         (unsigned long long)r->next);
		return SL_IO_READ;
	}
	r->next += (uint64_t)n;
	return n;
}

static ssize_t s3_read(sl_source_reader *base, char *buf, size_t cap)
{
	s3_reader *r = (s3_reader *)base;
	if (r->spool_fd >= 0)
		return spool_read(r, buf, cap);
	pthread_mutex_lock(&r->mu);
	block *b = &r->b[r->rd];
	while (!b->full && !r->done)
		pthread_cond_wait(&r->cv, &r->mu);
	ssize_t n = 0;
	if (b->full) {
		size_t k = b->n - b->pos < cap ? b->n - b->pos : cap;
		memcpy(buf, b->p + b->pos, k);
		b->pos += k;
		n = (ssize_t)k;
		if (b->pos == b->n) {
			b->full = false;
			r->rd ^= 1;
			pthread_cond_broadcast(&r->cv);
		}
	} else if (r->rc < 0) {
		snprintf(base->msg, sizeof base->msg, "%s", r->err);
		n = r->rc;
	}
	pthread_mutex_unlock(&r->mu);
	return n;
}

static void s3_reader_close(sl_source_reader *base)
{
	s3_reader *r = (s3_reader *)base;
	if (r->started) {
		pthread_mutex_lock(&r->mu);
		r->stop = true;
		atomic_store(&r->cancel, true);
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->th, NULL);
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->b[0].p);
	free(r->b[1].p);
	sl__s3_close(r->c);
	free(r);
}

static const sl_reader_ops s3_reader_ops = {s3_read, NULL, s3_reader_close};

static int open_reader(sl_source *base, uint64_t off, uint64_t len, bool seq,
                       sl_source_reader **out)
{
	s3_source *s = (s3_source *)base;
	uint64_t size = s->at_open.size;
	*out = NULL;
	if (off > size || (len != SL_SOURCE_TO_END && len > size - off)) {
		pthread_mutex_lock(&s->mu);
		snprintf(base->msg, sizeof base->msg,
		         "s3://%.100s/%.100s has %llu bytes, shorter than when it was planned",
		         s->bucket, s->key, (unsigned long long)size);
		pthread_mutex_unlock(&s->mu);
		return SL_IO_CHANGED;
	}
	s3_reader *r = calloc(1, sizeof *r);
	if (!r)
		return SL_NOMEM;
	sl__reader_init(&r->r, &s3_reader_ops, base);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	atomic_init(&r->cancel, false);
	r->start = r->next = off;
	r->end = len == SL_SOURCE_TO_END ? size : off + len;
	r->seq = seq;
	r->spool_fd = -1;
	pthread_mutex_lock(&s->spool_mu);
	if (!seq && s->spool_fd >= 0 && r->end <= s->spooled)
		r->spool_fd = s->spool_fd;
	pthread_mutex_unlock(&s->spool_mu);
	if (r->spool_fd >= 0) {
		/* the spool is the planned version: the object must still be it, or
		 * the job would finish on a version that is gone (a GET would tell) */
		int rc = still_pinned(s);
		if (rc < 0) {
			s3_reader_close(&r->r);
			return rc;
		}
		*out = &r->r;
		return 0;
	}
	int rc = SL_NOMEM;
	if (!(r->b[0].p = malloc(BLOCK)) || !(r->b[1].p = malloc(BLOCK)) ||
	    sl__s3_open(&r->c, &s->cfg) < 0)
		goto out;
	if (r->next < r->end) {
		if (pthread_create(&r->th, NULL, fetcher, r) != 0)
			goto out;
		r->started = true;
	} else {
		r->done = true;
	}
	*out = &r->r;
	return 0;
out:
	s3_reader_close(&r->r);
	return rc;
}

static int s3_open_range(sl_source *base, uint64_t off, uint64_t len, const void *at, size_t atlen,
                         sl_source_reader **out)
{
	(void)at;
	(void)atlen;
	return open_reader(base, off, len, false, out);
}

static int s3_open_seq(sl_source *base, sl_source_reader **out)
{
	return open_reader(base, 0, SL_SOURCE_TO_END, true, out);
}

static void s3_close(sl_source *base)
{
	s3_source *s = (s3_source *)base;
	sl__s3_close(s->head);
	if (s->spool_fd >= 0)
		close(s->spool_fd);
	pthread_mutex_destroy(&s->spool_mu);
	pthread_mutex_destroy(&s->mu);
	sl__s3_config_free(&s->cfg);
	free(s->bucket);
	free(s->key);
	sl__source_fini(base);
	free(s);
}

static const sl_source_ops s3_ops = {
    .name = "s3",
    .stat = s3_stat,
    .open_seq = s3_open_seq,
    .open_range = s3_open_range,
    .close = s3_close,
};

/* an unlinked file in SLUICE_S3_SPOOL, TMPDIR or /tmp; -1 when off or
 * impossible (the loads still work, with a GET per range) */
static int spool_open(void)
{
	const char *d = getenv("SLUICE_S3_SPOOL");
	if (d && !strcmp(d, "off"))
		return -1;
	if (!d || !*d)
		d = getenv("TMPDIR");
	if (!d || !*d)
		d = "/tmp";
	int fd = open(d, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) { /* a file system without O_TMPFILE */
		char path[4096];
		snprintf(path, sizeof path, "%s/sluice-s3-XXXXXX", d);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			unlink(path);
	}
	return fd;
}

static int s3_open(const char *uri, const sl_source_opts *o, sl_source **out, char *msg,
                   size_t msglen)
{
	int rc;
	s3_source *s = calloc(1, sizeof *s);
	*out = NULL;
	if (!s)
		return SL_NOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->spool_mu, NULL);
	s->spool_fd = -1;
	if ((rc = sl__source_init(&s->s, &s3_ops, uri, NULL)) < 0)
		goto out;
	if ((rc = sl__s3_uri_parse(uri, &s->bucket, &s->key, msg, msglen)) < 0)
		goto out;
	if (!*s->key) {
		rc = SL_IO_OPEN;
		snprintf(msg, msglen, "%.200s: an object's key is needed (s3://bucket/key)", uri);
		goto out;
	}
	if ((rc = sl__s3_config_env(&s->cfg, o ? o->s3_endpoint : NULL, msg, msglen)) < 0)
		goto out;
	if ((rc = sl__s3_open(&s->head, &s->cfg)) < 0)
		goto out;
	if ((rc = sl__s3_head(s->head, s->bucket, s->key, &s->at_open, msg, msglen)) < 0)
		goto out;
	s->spool_fd = spool_open();
	*out = &s->s;
	return 0;
out:
	s3_close(&s->s);
	return rc;
}

const sl_source_scheme sl__source_s3_scheme = {"s3://", s3_open};
