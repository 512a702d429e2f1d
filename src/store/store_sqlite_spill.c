/*
 * Sorted runs on disk, merged: how the writer puts a whole chunk of a keyed
 * table into the key index in one left-to-right pass with bounded memory.
 *
 * Each group of rows (sorted by key, see chunk_write.c) is appended to a
 * temporary file as one run. At the chunk's commit the runs are merged by
 * key (then record number, so the earliest row of a key comes first) and
 * inserted in that order. The index of a large table does not fit in the
 * page cache; one sorted pass per chunk fetches each leaf once, where one
 * pass per group fetched it once per group.
 *
 * Format of a row: u64 record, line, offset; u32 raw length, raw bytes;
 * then per column u8 kind and an i64 (INT) or a u32 length and bytes (TEXT).
 * Memory: one read buffer per run (grown only for a row larger than it).
 * Shared by the SQLite sink and the PostgreSQL sink (store/spill.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "store/spill.h"

#define RUN_BUF (64u << 10)

typedef struct run_reader {
	uint64_t pos, end; /* file range left */
	char *buf;
	size_t cap, len, at; /* buffered [at, len) */
	sl_sink_row row;
	sl_value *vals;
} run_reader;

struct spill {
	const sl_schema *sc;
	int fd;
	uint64_t size;
	uint64_t *runs; /* start offsets; run i is [runs[i], runs[i+1] or size) */
	size_t nruns, runs_cap;
	size_t rows; /* spilled since the last reset */
	sl_buf w;    /* write buffer */
	run_reader *rd;
	size_t rd_cap;
	size_t *heap;
};

int sl__spill_open(const sl_schema *sc, spill **out)
{
	spill *s = calloc(1, sizeof *s);
	*out = NULL;
	if (!s)
		return SL_NOMEM;
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/sluice-spill-XXXXXX", dir && *dir ? dir : "/tmp");
	s->fd = mkstemp(path);
	if (s->fd < 0) {
		free(s);
		return SL_IO_WRITE;
	}
	unlink(path); /* gone when closed, kill -9 included */
	s->sc = sc;
	sl_buf_init(&s->w, 64u << 20);
	*out = s;
	return 0;
}

void sl__spill_close(spill *s)
{
	if (!s)
		return;
	close(s->fd);
	for (size_t i = 0; i < s->rd_cap; i++) {
		free(s->rd[i].buf);
		free(s->rd[i].vals);
	}
	free(s->rd);
	free(s->heap);
	free(s->runs);
	sl_buf_free(&s->w);
	free(s);
}

void sl__spill_reset(spill *s)
{
	s->nruns = 0;
	s->rows = 0;
	s->size = 0;
	sl_buf_reset(&s->w);
	if (ftruncate(s->fd, 0) < 0) {
		/* harmless: the next runs overwrite from offset 0 */
	}
}

static int flush_w(spill *s)
{
	size_t off = 0;
	while (off < s->w.len) {
		ssize_t n = pwrite(s->fd, s->w.p + off, s->w.len - off, (off_t)(s->size + off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SL_IO_WRITE;
		off += (size_t)n;
	}
	s->size += s->w.len;
	sl_buf_reset(&s->w);
	return 0;
}

static int put(spill *s, const void *p, size_t n)
{
	if (s->w.len + n > (4u << 20) && s->w.len) {
		int rc = flush_w(s);
		if (rc < 0)
			return rc;
	}
	return sl_buf_append(&s->w, p, n) < 0 ? SL_NOMEM : 0;
}

int sl__spill_run(spill *s, const sl_sink_row *rows, size_t n)
{
	int rc = 0;
	if (s->nruns == s->runs_cap) {
		size_t cap = s->runs_cap ? s->runs_cap * 2 : 16;
		uint64_t *r = realloc(s->runs, cap * sizeof *r);
		if (!r)
			return SL_NOMEM;
		s->runs = r;
		s->runs_cap = cap;
	}
	s->runs[s->nruns++] = s->size + s->w.len;
	s->rows += n;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const sl_sink_row *r = &rows[i];
		uint64_t h[3] = {r->record, r->line, r->offset};
		uint32_t rl = (uint32_t)r->raw.n;
		rc = put(s, h, sizeof h) | put(s, &rl, 4) | put(s, r->raw.p, r->raw.n);
		for (size_t c = 0; c < s->sc->ncols && rc == 0; c++) {
			const sl_value *v = &r->vals[c];
			uint8_t k = (uint8_t)v->kind;
			rc = put(s, &k, 1);
			if (v->kind == SL_VALUE_INT) {
				rc |= put(s, &v->i, 8);
			} else if (v->kind == SL_VALUE_REAL) {
				rc |= put(s, &v->d, 8);
			} else if (v->kind == SL_VALUE_TEXT) {
				uint32_t l = (uint32_t)v->s.n;
				rc |= put(s, &l, 4) | put(s, v->s.p, v->s.n);
			}
		}
	}
	if (rc == 0)
		rc = flush_w(s);
	return rc < 0 ? (rc == SL_NOMEM ? SL_NOMEM : SL_IO_WRITE) : 0;
}

size_t sl__spill_rows(const spill *s)
{
	return s->rows;
}

static int cmp_rows(const void *x, const void *y, void *ctx)
{
	const sl_schema *sc = ctx;
	const sl_sink_row *a = x, *b = y;
	for (size_t k = 0; k < sc->nkey; k++) {
		int c = sl_value_cmp(&a->vals[sc->key[k]], &b->vals[sc->key[k]]);
		if (c)
			return c;
	}
	return (a->record > b->record) - (a->record < b->record);
}

void sl__spill_sort(const sl_schema *sc, sl_sink_row *rows, size_t n)
{
	if (n > 1)
		qsort_r(rows, n, sizeof *rows, cmp_rows, (void *)sc);
}

/* Make [at, at+need) of the reader's buffer hold file bytes. */
static int fill(spill *s, run_reader *r, size_t need)
{
	if (r->len - r->at >= need)
		return 0;
	memmove(r->buf, r->buf + r->at, r->len - r->at);
	r->len -= r->at;
	r->at = 0;
	if (need > r->cap) {
		char *b = realloc(r->buf, need);
		if (!b)
			return SL_NOMEM;
		r->buf = b;
		r->cap = need;
	}
	while (r->len < need) {
		size_t want = r->cap - r->len;
		if (want > r->end - r->pos)
			want = (size_t)(r->end - r->pos);
		if (want == 0)
			return SL_INTERNAL; /* a row cut short: cannot happen */
		ssize_t n = pread(s->fd, r->buf + r->len, want, (off_t)r->pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SL_IO_READ;
		r->len += (size_t)n;
		r->pos += (uint64_t)n;
	}
	return 0;
}

/* Decode the next row of a run. 1 row, 0 run done, <0 error. */
static int next_row(spill *s, run_reader *r)
{
	if (r->pos == r->end && r->at == r->len)
		return 0;
	int rc;
	size_t need = 28;
	if ((rc = fill(s, r, need)) < 0)
		return rc;
	/* find the row's length by walking its fields, filling as needed */
	uint32_t rl;
	memcpy(&rl, r->buf + r->at + 24, 4);
	need = 28 + rl;
	for (size_t c = 0; c < s->sc->ncols; c++) {
		if ((rc = fill(s, r, need + 1)) < 0)
			return rc;
		uint8_t k = (uint8_t)r->buf[r->at + need];
		need += 1;
		if (k == SL_VALUE_INT || k == SL_VALUE_REAL) {
			need += 8;
		} else if (k == SL_VALUE_TEXT) {
			if ((rc = fill(s, r, need + 4)) < 0)
				return rc;
			uint32_t l;
			memcpy(&l, r->buf + r->at + need, 4);
			need += 4 + l;
		}
	}
	if ((rc = fill(s, r, need)) < 0)
		return rc;
	/* now decode in place: views into the buffer, valid until the next fill */
	const char *p = r->buf + r->at;
	memcpy(&r->row.record, p, 8);
	memcpy(&r->row.line, p + 8, 8);
	memcpy(&r->row.offset, p + 16, 8);
	r->row.raw = sl_str_make(p + 28, rl);
	size_t o = 28 + rl;
	for (size_t c = 0; c < s->sc->ncols; c++) {
		sl_value *v = &r->vals[c];
		v->kind = (sl_value_kind)(uint8_t)p[o++];
		if (v->kind == SL_VALUE_INT) {
			memcpy(&v->i, p + o, 8);
			o += 8;
		} else if (v->kind == SL_VALUE_REAL) {
			memcpy(&v->d, p + o, 8);
			o += 8;
		} else if (v->kind == SL_VALUE_TEXT) {
			uint32_t l;
			memcpy(&l, p + o, 4);
			v->s = sl_str_make(p + o + 4, l);
			o += 4 + l;
		}
	}
	r->row.vals = r->vals;
	r->at += need;
	return 1;
}

static int cmp_key(const sl_schema *sc, const sl_sink_row *a, const sl_sink_row *b)
{
	for (size_t k = 0; k < sc->nkey; k++) {
		int c = sl_value_cmp(&a->vals[sc->key[k]], &b->vals[sc->key[k]]);
		if (c)
			return c;
	}
	return (a->record > b->record) - (a->record < b->record);
}

static bool less(spill *s, size_t a, size_t b)
{
	return cmp_key(s->sc, &s->rd[a].row, &s->rd[b].row) < 0;
}

static void sift_down(spill *s, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && less(s, s->heap[l], s->heap[m]))
			m = l;
		if (l + 1 < n && less(s, s->heap[l + 1], s->heap[m]))
			m = l + 1;
		if (m == i)
			return;
		size_t t = s->heap[i];
		s->heap[i] = s->heap[m];
		s->heap[m] = t;
		i = m;
	}
}

int sl__spill_merge(spill *s, int (*fn)(void *ctx, const sl_sink_row *r), void *ctx)
{
	int rc = 0;
	if (!s->nruns)
		return 0;
	if (s->nruns > s->rd_cap) {
		run_reader *rd = realloc(s->rd, s->nruns * sizeof *rd);
		size_t *heap = rd ? realloc(s->heap, s->nruns * sizeof *heap) : NULL;
		if (rd)
			s->rd = rd;
		if (!rd || !heap)
			return SL_NOMEM;
		s->heap = heap;
		for (size_t i = s->rd_cap; i < s->nruns; i++)
			memset(&s->rd[i], 0, sizeof s->rd[i]);
		s->rd_cap = s->nruns;
	}
	size_t n = 0;
	for (size_t i = 0; i < s->nruns; i++) {
		run_reader *r = &s->rd[i];
		r->pos = s->runs[i];
		r->end = i + 1 < s->nruns ? s->runs[i + 1] : s->size;
		r->len = r->at = 0;
		if (!r->buf) {
			r->buf = malloc(RUN_BUF);
			r->cap = RUN_BUF;
		}
		if (!r->vals)
			r->vals = calloc(s->sc->ncols + 1, sizeof *r->vals);
		if (!r->buf || !r->vals)
			return SL_NOMEM;
		rc = next_row(s, r);
		if (rc < 0)
			return rc;
		if (rc == 1)
			s->heap[n++] = i;
	}
	for (size_t i = n / 2; i-- > 0;)
		sift_down(s, n, i);
	rc = 0;
	while (n && rc == 0) {
		run_reader *r = &s->rd[s->heap[0]];
		rc = fn(ctx, &r->row);
		if (rc < 0)
			break;
		rc = next_row(s, r);
		if (rc < 0)
			break;
		if (rc == 0)
			s->heap[0] = s->heap[--n];
		rc = 0;
		sift_down(s, n, 0);
	}
	return rc;
}
