/*
 * The reader: records from any byte source through one bounded buffer.
 *
 * It keeps the bytes the parser has not consumed (at most one partial
 * record), moves them to the front, and reads more behind them. The buffer
 * grows only while a partial record does not fit, and never past the row
 * limit plus one read: a longer record is skipped by the parser without
 * being held (CSV_ROW_TOO_LONG).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv/csv_int.h"

#define READER_DEFAULT (1u << 20)

struct sl_csv_reader {
	sl_csv_parser *p;
	sl_read_fn fn;
	void *ctx;
	sl_buf buf;
	size_t chunk; /* bytes asked for per read */
	bool eof;
	bool fed;
	int err;
};

int sl_csv_reader_new(const sl_csv_dialect *d, sl_csv_scanner s, sl_read_fn fn, void *ctx,
		      size_t bufsize, sl_csv_reader **out)
{
	int rc;
	sl_csv_reader *r = calloc(1, sizeof *r);
	*out = NULL;
	if (!r)
		return SL_NOMEM;
	if ((rc = sl_csv_parser_new(d, s, &r->p)) < 0) {
		free(r);
		return rc;
	}
	r->fn = fn;
	r->ctx = ctx;
	r->chunk = bufsize ? bufsize : READER_DEFAULT;
	sl_buf_init(&r->buf, 2 * (d->max_row_bytes + r->chunk) + 64);
	*out = r;
	return 0;
}

void sl_csv_reader_free(sl_csv_reader *r)
{
	if (!r)
		return;
	sl_csv_parser_free(r->p);
	sl_buf_free(&r->buf);
	free(r);
}

sl_csv_parser *sl_csv_reader_parser(sl_csv_reader *r)
{
	return r->p;
}

/* Drop what the parser consumed, read more behind the rest, feed it. */
static int refill(sl_csv_reader *r)
{
	size_t used = r->fed ? sl_csv_consumed(r->p) : 0;
	size_t keep = r->buf.len - used;
	if (used && keep)
		memmove(r->buf.p, r->buf.p + used, keep);
	r->buf.len = keep;
	/* Read at least as much as the partial record we hold, so a record far
	   longer than one read is scanned O(log) times, not once per read. */
	size_t want = keep > r->chunk ? keep : r->chunk;
	if (want > r->buf.max - keep)
		want = r->buf.max - keep;
	int rc = sl_buf_reserve(&r->buf, want);
	if (rc < 0)
		return rc;
	size_t got = 0;
	while (!r->eof && got < want) {
		ssize_t n = r->fn(r->ctx, r->buf.p + r->buf.len, want - got);
		if (n < 0)
			return (int)n;
		if (n == 0)
			r->eof = true;
		r->buf.len += (size_t)n;
		got += (size_t)n;
		if (keep <= r->chunk)
			break; /* one read is a step; a pipe is not waited on for more */
	}
	sl_csv_feed(r->p, r->buf.p, r->buf.len, r->eof);
	r->fed = true;
	return 0;
}

int sl_csv_reader_next(sl_csv_reader *r, sl_csv_record *rec)
{
	if (r->err)
		return r->err;
	for (;;) {
		if (r->fed) {
			int rc = sl_csv_next(r->p, rec);
			if (rc != 0)
				return rc < 0 ? (r->err = rc) : rc;
			if (r->eof)
				return 0;
		}
		int rc = refill(r);
		if (rc < 0)
			return r->err = rc;
	}
}

ssize_t sl_fd_range_read(void *ctx, char *buf, size_t cap)
{
	sl_fd_range *g = ctx;
	if (g->length == 0)
		return 0;
	if (cap > g->length)
		cap = (size_t)g->length;
	ssize_t n;
	do
		n = pread(g->fd, buf, cap, (off_t)g->offset);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return SL_IO_READ;
	if (n == 0)
		return SL_IO_CHANGED; /* shorter than planned: the file shrank */
	g->offset += (uint64_t)n;
	g->length -= (uint64_t)n;
	return n;
}
