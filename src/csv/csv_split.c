/*
 * Chunking: one sequential read of the file that finds record boundaries
 * about every chunk_size bytes, counts records and lines before each, and
 * hashes the content (XXH3-64) on the way.
 *
 * The boundaries come from the same grammar as the parse (the quote-aware
 * counting fast path, with the state machine for what it does not decide),
 * so a boundary is never inside a quoted field and the records a chunk
 * worker finds are exactly those a single pass finds there. Memory is one
 * read buffer plus at most one partial record, whatever the file's size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "csv/csv_int.h"

#define SPLIT_READ (4u << 20)

typedef struct split_io {
	sl_read_fn fn; /* the bytes: a file range, or any source */
	void *ctx;
	bool sized; /* size known up front (a file): else read to the end */
	uint64_t off, size;
	sl_buf buf;
	bool fed, eof;
	XXH3_state_t *xx;  /* the whole file */
	XXH3_state_t *cxx; /* the current chunk */
	size_t hmark;      /* window bytes before this are in cxx already */
} split_io;

/* Feed the current chunk's hash the window bytes [hmark, upto). */
static void chunk_hash_upto(split_io *io, size_t upto)
{
	if (upto > io->hmark)
		XXH3_64bits_update(io->cxx, io->buf.p + io->hmark, upto - io->hmark);
	io->hmark = upto;
}

static int split_refill(split_io *io, sl_csv_parser *p)
{
	size_t used = io->fed ? sl_csv_consumed(p) : 0;
	size_t keep = io->buf.len - used;
	chunk_hash_upto(io, used);
	if (used && keep)
		memmove(io->buf.p, io->buf.p + used, keep);
	io->buf.len = keep;
	io->hmark = 0;
	/* no bigger reads than the file needs: small files stay cheap */
	size_t want = io->sized && io->size - io->off < SPLIT_READ
	                  ? (size_t)(io->size - io->off) + 1
	                  : SPLIT_READ;
	int rc = sl_buf_reserve(&io->buf, want);
	if (rc < 0)
		return rc;
	ssize_t n = io->fn(io->ctx, io->buf.p + io->buf.len, want);
	if (n < 0)
		return (int)n;
	if (n == 0)
		io->eof = true;
	XXH3_64bits_update(io->xx, io->buf.p + io->buf.len, (size_t)n);
	io->off += (uint64_t)n;
	io->buf.len += (size_t)n;
	sl_csv_feed(p, io->buf.p, io->buf.len, io->eof);
	io->fed = true;
	return 0;
}

static int add_chunk(sl_csv_plan *plan, size_t *cap, const sl_csv_pos *start)
{
	if (plan->nchunks == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		sl_csv_chunk *c = realloc(plan->chunks, ncap * sizeof *c);
		if (!c)
			return SL_NOMEM;
		plan->chunks = c;
		*cap = ncap;
	}
	sl_csv_chunk *c = &plan->chunks[plan->nchunks++];
	memset(c, 0, sizeof *c);
	c->offset = start->offset;
	c->start = *start;
	return 0;
}

static int keep_header(sl_csv_plan *plan, const sl_csv_parser *p)
{
	size_t n;
	const sl_str *h = sl_csv_header(p, &n);
	if (!n)
		return 0;
	plan->header = calloc(n, sizeof *plan->header);
	if (!plan->header)
		return SL_NOMEM;
	plan->nheader = n;
	for (size_t i = 0; i < n; i++) {
		plan->header[i] = strndup(h[i].p, h[i].n);
		if (!plan->header[i])
			return SL_NOMEM;
	}
	return 0;
}

/* A read function over the whole file from 0, reading to its end (the
   split compares what it read with the size it started with). */
static ssize_t fd_read_all(void *ctx, char *buf, size_t cap)
{
	sl_fd_range *r = ctx;
	ssize_t n;
	do
		n = pread(r->fd, buf, cap, (off_t)r->offset);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return SL_IO_READ;
	r->offset += (uint64_t)n;
	return n;
}

int sl_csv_split(int fd, const sl_csv_dialect *d, sl_csv_scanner s, uint64_t chunk_size,
                 sl_csv_plan *plan)
{
	return sl__csv_split_check(fd, d, s, chunk_size, plan, NULL);
}

static int split_core(split_io *io, const sl_csv_dialect *d, sl_csv_scanner s, uint64_t chunk_size,
                      sl_csv_chunk_fn on_chunk, sl_csv_cut_fn cut, void *cbctx, sl_csv_plan *plan,
                      csv_check *chk);

int sl__csv_split_check(int fd, const sl_csv_dialect *d, sl_csv_scanner s, uint64_t chunk_size,
                        sl_csv_plan *plan, csv_check *chk)
{
	struct stat st;
	sl_fd_range r = {fd, 0, 0};
	split_io io = {.fn = fd_read_all, .ctx = &r, .sized = true};
	memset(plan, 0, sizeof *plan);
	if (fstat(fd, &st) < 0)
		return SL_IO_OPEN;
	io.size = (uint64_t)st.st_size;
	return split_core(&io, d, s, chunk_size, NULL, NULL, NULL, plan, chk);
}

int sl_csv_split_read(sl_read_fn fn, void *ctx, const sl_csv_dialect *d, sl_csv_scanner s,
                      uint64_t chunk_size, sl_csv_chunk_fn on_chunk, void *cbctx, sl_csv_plan *plan)
{
	return sl_csv_split_read_cut(fn, ctx, d, s, chunk_size, on_chunk, NULL, cbctx, plan);
}

int sl_csv_split_read_cut(sl_read_fn fn, void *ctx, const sl_csv_dialect *d, sl_csv_scanner s,
                          uint64_t chunk_size, sl_csv_chunk_fn on_chunk, sl_csv_cut_fn cut,
                          void *cbctx, sl_csv_plan *plan)
{
	split_io io = {.fn = fn, .ctx = ctx, .sized = false, .size = UINT64_MAX};
	memset(plan, 0, sizeof *plan);
	return split_core(&io, d, s, chunk_size, on_chunk, cut, cbctx, plan, NULL);
}

/* Where the skip stops next: chunk_size past the chunk's start, or the
   caller's next forced cut before that (asked again before every skip:
   the cuts are learned as the input is read). */
static uint64_t next_stop(uint64_t start, uint64_t chunk_size, sl_csv_cut_fn cut, void *cbctx)
{
	uint64_t stop = start + chunk_size;
	if (cut) {
		uint64_t c = cut(cbctx, start);
		if (c > start && c < stop)
			stop = c;
	}
	return stop;
}

static int split_core(split_io *iop, const sl_csv_dialect *d, sl_csv_scanner s, uint64_t chunk_size,
                      sl_csv_chunk_fn on_chunk, sl_csv_cut_fn cut, void *cbctx, sl_csv_plan *plan,
                      csv_check *chk)
{
	int rc;
	sl_csv_parser *p = NULL;
	split_io io = *iop;
	size_t cap = 0;
	bool first_done = false;
	uint64_t stop = 0, start = 0;

	sl_buf_init(&io.buf, d->max_row_bytes + 2 * SPLIT_READ + 64);
	if (chunk_size == 0)
		chunk_size = 64u << 20;
	plan->bytes = io.size;
	if (!(io.xx = XXH3_createState()) || !(io.cxx = XXH3_createState())) {
		rc = SL_NOMEM;
		goto out;
	}
	XXH3_64bits_reset(io.xx);
	XXH3_64bits_reset(io.cxx);
	if ((rc = sl_csv_parser_new(d, s, &p)) < 0)
		goto out;
	p->check = chk;

	sl_csv_pos origin = {0, 0, 1};
	/* an unsized input gets its first chunk now; dropped at the end if empty */
	if (plan->bytes > 0 && (rc = add_chunk(plan, &cap, &origin)) < 0)
		goto out;
	stop = chunk_size;
	start = 0;

	for (;;) {
		if (io.fed) {
			if (!first_done) {
				/* The header, or the first record, sets the field count. */
				sl_csv_record rec;
				rc = sl_csv_next(p, &rec);
				if (rc < 0)
					goto out;
				if (rc == 1) {
					first_done = true;
					if (chk)
						sl__csv_check_record(p, &rec);
					if (rec.is_header) {
						plan->header_line = rec.line;
						plan->header_error = rec.error;
						if ((rc = keep_header(plan, p)) < 0)
							goto out;
					}
					continue;
				}
			} else {
				stop = next_stop(start, chunk_size, cut, cbctx);
				rc = sl_csv_skip(p, stop);
				if (rc < 0)
					goto out;
				if (rc == 1) {
					sl_csv_pos at = sl_csv_position(p);
					if (at.offset >= plan->bytes)
						break;
					chunk_hash_upto(&io, sl_csv_consumed(p));
					plan->chunks[plan->nchunks - 1].hash =
					    XXH3_64bits_digest(io.cxx);
					XXH3_64bits_reset(io.cxx);
					if ((rc = add_chunk(plan, &cap, &at)) < 0)
						goto out;
					if (on_chunk && (rc = on_chunk(cbctx, at.offset)) < 0)
						goto out;
					start = at.offset;
					stop = at.offset + chunk_size;
					continue;
				}
			}
			if (io.eof)
				break;
		}
		if ((rc = split_refill(&io, p)) < 0)
			goto out;
	}
	if (!io.sized) {
		plan->bytes = io.off;
	} else if (io.off != plan->bytes) {
		rc = SL_IO_CHANGED; /* the file grew or shrank while we read it */
		goto out;
	}
	plan->hash = XXH3_64bits_digest(io.xx);
	chunk_hash_upto(&io, io.buf.len);
	if (plan->nchunks)
		plan->chunks[plan->nchunks - 1].hash = XXH3_64bits_digest(io.cxx);
	/* unsized: the chunk opened at the very end, or the only one of an
	   empty input, holds nothing (its predecessor's hash is final) */
	if (!io.sized && plan->nchunks && plan->chunks[plan->nchunks - 1].offset >= plan->bytes)
		plan->nchunks--;
	plan->counts = *sl_csv_counts_get(p);
	plan->expected_fields = sl_csv_expected_fields(p);
	for (size_t i = 0; i < plan->nchunks; i++) {
		sl_csv_chunk *c = &plan->chunks[i];
		bool last = i + 1 == plan->nchunks;
		c->length = (last ? plan->bytes : plan->chunks[i + 1].offset) - c->offset;
		c->records = (last ? plan->counts.records : plan->chunks[i + 1].start.records) -
		             c->start.records;
	}
	rc = 0;
out:
	if (rc < 0)
		sl_csv_plan_free(plan);
	sl_csv_parser_free(p);
	sl_buf_free(&io.buf);
	XXH3_freeState(io.xx);
	XXH3_freeState(io.cxx);
	return rc;
}

void sl_csv_plan_free(sl_csv_plan *plan)
{
	for (size_t i = 0; i < plan->nheader; i++)
		free(plan->header[i]);
	free(plan->header);
	free(plan->chunks);
	memset(plan, 0, sizeof *plan);
}

int sl_csv_chunk_reader_new(const sl_csv_plan *plan, size_t i, int fd, const sl_csv_dialect *d,
                            sl_csv_scanner s, sl_fd_range *range, sl_csv_reader **out)
{
	const sl_csv_chunk *c = &plan->chunks[i];
	range->fd = fd;
	range->offset = c->offset;
	range->length = c->length;
	size_t bufsize = c->length < (1u << 20) ? (size_t)c->length + 64 : 0;
	int rc = sl_csv_reader_new(d, s, sl_fd_range_read, range, bufsize, out);
	if (rc == 0 && i > 0)
		sl_csv_parser_start_at(sl_csv_reader_parser(*out), &c->start,
		                       plan->expected_fields);
	return rc;
}
