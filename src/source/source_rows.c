/*
 * A source of rows served by a provider (source.h, sl_source_rows_new):
 * the bytes are a fixed header, then each row's raw bytes and a line feed,
 * every row at an offset the provider knows. The refeed's input is one
 * (refeed.c: the rejected rows a refeed job holds, read from the job
 * store), so a refeed is planned, split into chunks and resumed as any
 * file is, with no copy of the rows on disk.
 *
 * This module knows nothing of where the rows live: the provider (ops and
 * ctx, from the engine) hands over the rows from the one holding a given
 * offset, in offset order, in batches. A reader keeps one batch (at most
 * BATCH bytes plus one row) and asks for the next from where it stopped,
 * so a ranged reader of a chunk costs about the chunk's length, and
 * memory stays bounded whatever the number of rows.
 *
 * What the provider hands over is checked against the layout: the first
 * row of a batch must hold the offset asked for, and each next row must
 * start where the one before ended. A row missing (no longer held) or
 * out of place is SL_IO_CHANGED, as a file that shrank is: the engine
 * fails the job or the chunk with it instead of reading other bytes.
 *
 * stat answers from what the source was made with (the claim's size, time
 * and fingerprint: the set of rows the input was planned on), so a resume
 * or a retry compares the job's fingerprint with the claim's.
 *
 * Threads: readers on several threads call the provider at once; its
 * read op must allow that (the engine's takes a lock around its own
 * connection to the store).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source/source.h"

#define BATCH   (256u << 10) /* bytes asked of the provider per call */
#define ROW_MAX (256u << 20) /* one row longer than this is refused (SL_LIMIT) */

typedef struct rows_source {
	sl_source s;
	sl_rows_desc d; /* name and header copied */
	const sl_rows_ops *ops;
	void *ctx;
} rows_source;

typedef struct rows_reader {
	sl_source_reader r;
	uint64_t pos, end; /* the next byte to yield; where the reader stops */
	bool bounded;      /* a range's end, not the source's */
	sl_buf buf;        /* the bytes [bstart, bstart + buf.len) of the input */
	uint64_t bstart;
	int bad; /* what the batch's emit found wrong (SL_IO_CHANGED, SL_LIMIT) */
} rows_reader;

static int rows_stat(sl_source *base, sl_source_stat *st)
{
	rows_source *s = (rows_source *)base;
	memset(st, 0, sizeof *st);
	st->size = st->raw_size = s->d.size;
	st->size_known = true;
	st->mtime_ns = s->d.mtime_ns;
	snprintf(st->etag, sizeof st->etag, "%016llx", (unsigned long long)s->d.fingerprint);
	st->ranges_cheap = true;
	return 0;
}

/* One row of the batch: appended when it is where the layout says. */
static int emit(void *ctx, uint64_t off, sl_str raw)
{
	rows_reader *r = ctx;
	uint64_t at = r->bstart + r->buf.len; /* where this row must start */
	bool first = r->buf.len == 0;
	if (raw.n > ROW_MAX) {
		r->bad = SL_LIMIT;
		snprintf(r->r.msg, sizeof r->r.msg, "%.200s: a row of %zu bytes at byte %llu",
		         r->r.src->uri, raw.n, (unsigned long long)off);
		return 1;
	}
	if (first ? off > r->pos || off + raw.n + 1 <= r->pos : off != at) {
		r->bad = SL_IO_CHANGED;
		snprintf(r->r.msg, sizeof r->r.msg,
		         "%.200s: the row at byte %llu is not there any more (a row at byte %llu "
		         "came instead): the rows changed since the job was planned",
		         r->r.src->uri, (unsigned long long)(first ? r->pos : at),
		         (unsigned long long)off);
		return 1;
	}
	if (first)
		r->bstart = off;
	int rc = sl_buf_reserve(&r->buf, raw.n + 1);
	if (rc < 0) {
		r->bad = rc;
		snprintf(r->r.msg, sizeof r->r.msg, "%.200s: %s", r->r.src->uri,
		         sl_error_message(rc));
		return 1;
	}
	if (raw.n)
		memcpy(r->buf.p + r->buf.len, raw.p, raw.n);
	r->buf.p[r->buf.len + raw.n] = '\n';
	r->buf.len += raw.n + 1;
	return r->buf.len >= BATCH ? 1 : 0;
}

/* The batch holding r->pos, from the provider. */
static int refill(rows_reader *r)
{
	rows_source *s = (rows_source *)r->r.src;
	sl_buf_reset(&r->buf);
	r->bstart = r->pos;
	r->bad = 0;
	int rc = s->ops->read(s->ctx, r->pos, emit, r, r->r.msg, sizeof r->r.msg);
	if (rc < 0)
		return rc;
	if (r->bad)
		return r->bad;
	if (r->buf.len == 0) {
		snprintf(r->r.msg, sizeof r->r.msg,
		         "%.200s ends at byte %llu, before its %llu bytes: rows are missing since "
		         "the job was planned",
		         s->s.uri, (unsigned long long)r->pos, (unsigned long long)s->d.size);
		return SL_IO_CHANGED;
	}
	return 0;
}

static ssize_t rows_read(sl_source_reader *base, char *buf, size_t cap)
{
	rows_reader *r = (rows_reader *)base;
	rows_source *s = (rows_source *)base->src;
	if (r->pos >= r->end)
		return 0;
	if (cap > r->end - r->pos)
		cap = (size_t)(r->end - r->pos);
	if (r->pos < s->d.header.n) {
		size_t n = (size_t)(s->d.header.n - r->pos);
		n = n < cap ? n : cap;
		memcpy(buf, s->d.header.p + r->pos, n);
		r->pos += n;
		return (ssize_t)n;
	}
	if (r->pos < r->bstart || r->pos >= r->bstart + r->buf.len) {
		int rc = refill(r);
		if (rc < 0)
			return rc;
	}
	size_t n = (size_t)(r->bstart + r->buf.len - r->pos);
	n = n < cap ? n : cap;
	memcpy(buf, r->buf.p + (r->pos - r->bstart), n);
	r->pos += n;
	return (ssize_t)n;
}

static void rows_reader_close(sl_source_reader *base)
{
	rows_reader *r = (rows_reader *)base;
	if (!r)
		return;
	sl_buf_free(&r->buf);
	free(r);
}

static const sl_reader_ops rows_reader_ops = {rows_read, NULL, rows_reader_close};

static int rows_open_range(sl_source *base, uint64_t off, uint64_t len, const void *at,
                           size_t atlen, sl_source_reader **out)
{
	(void)at;
	(void)atlen;
	rows_source *s = (rows_source *)base;
	rows_reader *r = calloc(1, sizeof *r);
	*out = NULL;
	if (!r)
		return SL_NOMEM;
	sl__reader_init(&r->r, &rows_reader_ops, base);
	sl_buf_init(&r->buf, BATCH + ROW_MAX + 1);
	r->pos = off;
	r->bounded = len != SL_SOURCE_TO_END;
	r->end = r->bounded ? off + len : s->d.size;
	if (r->bounded && r->end > s->d.size) {
		snprintf(base->msg, sizeof base->msg,
		         "%.200s: bytes %llu..%llu are past its end (%llu)", base->uri,
		         (unsigned long long)off, (unsigned long long)r->end,
		         (unsigned long long)s->d.size);
		rows_reader_close(&r->r);
		return SL_IO_CHANGED;
	}
	*out = &r->r;
	return 0;
}

static int rows_open_seq(sl_source *base, sl_source_reader **out)
{
	return rows_open_range(base, 0, SL_SOURCE_TO_END, NULL, 0, out);
}

static void rows_close(sl_source *base)
{
	rows_source *s = (rows_source *)base;
	if (s->ops && s->ops->close)
		s->ops->close(s->ctx);
	free((char *)s->d.header.p);
	sl__source_fini(base);
	free(s);
}

static const sl_source_ops rows_ops = {
    .name = "rows",
    .stat = rows_stat,
    .open_seq = rows_open_seq,
    .open_range = rows_open_range,
    .close = rows_close,
};

int sl_source_rows_new(const sl_rows_desc *d, const sl_rows_ops *ops, void *ctx, sl_source **out)
{
	rows_source *s = calloc(1, sizeof *s);
	char *h = malloc(d->header.n + 1);
	int rc;
	*out = NULL;
	if (!s || !h) {
		free(s);
		free(h);
		if (ops->close)
			ops->close(ctx);
		return SL_NOMEM;
	}
	if (d->header.n)
		memcpy(h, d->header.p, d->header.n);
	s->d = *d;
	s->d.header = sl_str_make(h, d->header.n);
	s->ops = ops;
	s->ctx = ctx;
	if ((rc = sl__source_init(&s->s, &rows_ops, d->name, NULL)) < 0) {
		rows_close(&s->s);
		return rc;
	}
	*out = &s->s;
	return 0;
}
