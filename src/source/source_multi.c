/*
 * A set of files as one source (a glob, several paths, a drop-folder
 * batch): the parts, each a source of its own (a file
 * under its own decoder), yield one byte stream in their order, so the
 * engine plans, chunks, fingerprints and resumes a set as it does one file.
 *
 *   - The header of every part after the first is left out (its length,
 *     `skip`, is found by the engine, which also checks that it matches
 *     the first part's): the stream has one header, as a single file has.
 *   - A part whose last record has no line terminator gets a newline, so
 *     its last record does not run into the next part's first.
 *
 * The layout (where each part starts in the stream, its length there,
 * whether a newline was added, the XXH3-64 of its decoded bytes) is
 * learned by a sequential reader that reads the part to its end (planning)
 * or set from the job's manifest (a resume). The engine cuts a chunk at
 * every part's start (sl_source_multi_cut), so a chunk lies in one part,
 * names one file, and its ranged reader reads that part alone: a pread of
 * a plain file, a decoder from its access point (a point of the set is the
 * part's index, u32 little-endian, then that part's own point).
 *
 * Threads: the layout is written by the one sequential reader and read by
 * ranged readers on other threads; a mutex guards it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "source/source.h"

typedef struct part {
	sl_source *src;
	uint64_t skip;
	sl_multi_layout lay;
} part;

typedef struct multi_source {
	sl_source s;
	pthread_mutex_t mu;
	part *parts;
	size_t n;
} multi_source;

/* A reader over the stream from part k on: the sequential reader (from 0)
   and a ranged one (from an offset inside part k) are the same machine. */
typedef struct multi_reader {
	sl_source_reader r;
	bool seq; /* learns the layout */
	size_t k; /* the current part */
	sl_source_reader *in;
	uint64_t first_off; /* the offset of the first part's inner read (skip included) */
	const void *at;     /* the first part's access point (the caller's, for open only) */
	size_t atlen;
	uint64_t skipleft; /* header bytes of the current part still to drop */
	uint64_t left;     /* bytes the range still yields (UINT64_MAX: to the end) */
	bool any;          /* the current part yielded data */
	char last;         /* its last byte yielded */
	bool done;         /* every part read */
	XXH3_state_t *xx;  /* the current part's decoded bytes (seq) */
} multi_reader;

static multi_source *ms_of(sl_source *s)
{
	return (multi_source *)s;
}

static int multi_stat(sl_source *base, sl_source_stat *st)
{
	multi_source *m = ms_of(base);
	bool known = true, cheap = true;
	uint64_t size = 0, raw = 0;
	int64_t mtime = 0;
	memset(st, 0, sizeof *st);
	for (size_t i = 0; i < m->n; i++) {
		sl_source_stat ps;
		int rc = sl_source_stat_get(m->parts[i].src, &ps);
		if (rc < 0) {
			snprintf(base->msg, sizeof base->msg, "%s", m->parts[i].src->msg);
			return rc;
		}
		raw += ps.raw_size;
		mtime = ps.mtime_ns > mtime ? ps.mtime_ns : mtime;
		cheap = cheap && ps.ranges_cheap;
		pthread_mutex_lock(&m->mu);
		known = known && m->parts[i].lay.known;
		size += m->parts[i].lay.vlen;
		pthread_mutex_unlock(&m->mu);
	}
	st->size_known = known;
	st->size = known ? size : 0;
	st->raw_size = raw;
	st->mtime_ns = mtime;
	st->ranges_cheap = cheap;
	return 0;
}

/* Open part k's inner reader from inner offset off (a ranged reader of its
   source to its end; the first part of a range from its access point). */
static int open_part(multi_reader *r, uint64_t off, const void *at, size_t atlen)
{
	multi_source *m = ms_of(r->r.src);
	part *p = &m->parts[r->k];
	int rc = r->seq && off == 0
	             ? sl_source_open_seq(p->src, &r->in)
	             : sl_source_open_range(p->src, off, SL_SOURCE_TO_END, at, atlen, &r->in);
	if (rc < 0) {
		snprintf(r->r.msg, sizeof r->r.msg, "%s",
		         p->src->msg[0] ? p->src->msg : p->src->uri);
		return rc;
	}
	r->skipleft = off < p->skip ? p->skip - off : 0;
	r->any = false;
	r->last = '\n';
	if (r->seq) {
		XXH3_64bits_reset(r->xx);
		pthread_mutex_lock(&m->mu);
		p->lay.vbase = r->r.pos;
		pthread_mutex_unlock(&m->mu);
	}
	return 0;
}

/* Part k read to its end: learn its layout (seq), move to the next. */
static void end_part(multi_reader *r, bool nl)
{
	multi_source *m = ms_of(r->r.src);
	part *p = &m->parts[r->k];
	sl_source_reader_close(r->in);
	r->in = NULL;
	if (r->seq) {
		pthread_mutex_lock(&m->mu);
		p->lay.vlen = r->r.pos - p->lay.vbase + (nl ? 1 : 0);
		p->lay.nl = nl;
		p->lay.hash = XXH3_64bits_digest(r->xx);
		p->lay.known = true;
		pthread_mutex_unlock(&m->mu);
	}
	r->k++;
	r->done = r->k >= m->n;
}

static ssize_t multi_read(sl_source_reader *base, char *buf, size_t cap)
{
	multi_reader *r = (multi_reader *)base;
	int rc;
	if (cap > r->left)
		cap = (size_t)r->left;
	while (!r->done && cap) {
		if (!r->in && (rc = open_part(r, r->seq ? 0 : ms_of(base->src)->parts[r->k].skip,
		                              NULL, 0)) < 0)
			return rc;
		ssize_t n = sl_source_read(r->in, buf, cap);
		if (n < 0) {
			snprintf(base->msg, sizeof base->msg, "%s", r->in->msg);
			return n;
		}
		if (n == 0) {
			/* a last record without its terminator gets one */
			bool nl = r->any && r->last != '\n';
			end_part(r, nl);
			if (nl) {
				buf[0] = '\n';
				if (r->left != UINT64_MAX)
					r->left--;
				return 1;
			}
			continue;
		}
		if (r->seq)
			XXH3_64bits_update(r->xx, buf, (size_t)n);
		size_t drop = r->skipleft < (uint64_t)n ? (size_t)r->skipleft : (size_t)n;
		r->skipleft -= drop;
		if (drop == (size_t)n)
			continue;
		if (drop)
			memmove(buf, buf + drop, (size_t)n - drop);
		n -= (ssize_t)drop;
		r->any = true;
		r->last = buf[n - 1];
		if (r->left != UINT64_MAX)
			r->left -= (uint64_t)n;
		return n;
	}
	return 0;
}

/* The sequential reader's point at off: the current part's, prefixed by
   its index; none for an offset in a part already left. */
static int multi_point(sl_source_reader *base, uint64_t off, sl_buf *out)
{
	multi_reader *r = (multi_reader *)base;
	multi_source *m = ms_of(base->src);
	if (!r->in || r->done)
		return 0;
	part *p = &m->parts[r->k];
	pthread_mutex_lock(&m->mu);
	uint64_t vbase = p->lay.vbase;
	pthread_mutex_unlock(&m->mu);
	if (off < vbase)
		return 0;
	unsigned char h[4];
	for (int i = 0; i < 4; i++)
		h[i] = (unsigned char)(r->k >> (8 * i));
	size_t mark = out->len;
	int rc = sl_buf_append(out, (const char *)h, 4);
	if (rc == 0)
		rc = sl_source_reader_point(r->in, off - vbase + p->skip, out);
	if (rc < 0)
		out->len = mark;
	return rc;
}

static void multi_reader_close(sl_source_reader *base)
{
	multi_reader *r = (multi_reader *)base;
	if (!r)
		return;
	sl_source_reader_close(r->in);
	XXH3_freeState(r->xx);
	free(r);
}

static const sl_reader_ops seq_ops = {multi_read, multi_point, multi_reader_close};
static const sl_reader_ops range_ops = {multi_read, NULL, multi_reader_close};

static int multi_open_seq(sl_source *s, sl_source_reader **out)
{
	multi_reader *r = calloc(1, sizeof *r);
	*out = NULL;
	if (!r || !(r->xx = XXH3_createState())) {
		free(r);
		return SL_NOMEM;
	}
	sl__reader_init(&r->r, &seq_ops, s);
	r->seq = true;
	r->left = UINT64_MAX;
	r->done = ms_of(s)->n == 0;
	*out = &r->r;
	return 0;
}

int sl_source_multi_part_at(sl_source *s, uint64_t off)
{
	multi_source *m = ms_of(s);
	int k = -1;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n && k < 0; i++) {
		const sl_multi_layout *l = &m->parts[i].lay;
		if (l->known && off >= l->vbase && off < l->vbase + l->vlen)
			k = (int)i;
	}
	pthread_mutex_unlock(&m->mu);
	return k;
}

static int multi_open_range(sl_source *s, uint64_t off, uint64_t len, const void *at, size_t atlen,
                            sl_source_reader **out)
{
	multi_source *m = ms_of(s);
	multi_reader *r = NULL;
	int rc = 0;
	*out = NULL;
	/* from 0 the parts' layout need not be known yet (the header, the
	   magic bytes before planning); elsewhere it must be */
	int k = off == 0 ? 0 : sl_source_multi_part_at(s, off);
	if (k < 0 || (size_t)k >= m->n) {
		if (len == 0 || (m->n && off == 0))
			k = 0;
		else {
			snprintf(s->msg, sizeof s->msg,
			         "%.200s: byte %llu is in none of the set's files as planned",
			         s->uri, (unsigned long long)off);
			return SL_IO_CHANGED;
		}
	}
	if (!(r = calloc(1, sizeof *r)))
		return SL_NOMEM;
	sl__reader_init(&r->r, &range_ops, s);
	r->left = len;
	r->k = (size_t)k;
	r->done = m->n == 0;
	if (!r->done) {
		pthread_mutex_lock(&m->mu);
		uint64_t inner = off - m->parts[k].lay.vbase + m->parts[k].skip;
		pthread_mutex_unlock(&m->mu);
		/* the point is this part's when its index says so */
		const unsigned char *a = at;
		bool mine = at && atlen > 4 &&
		            ((uint32_t)a[0] | (uint32_t)a[1] << 8 | (uint32_t)a[2] << 16 |
		             (uint32_t)a[3] << 24) == (uint32_t)k;
		if ((rc = open_part(r, inner, mine ? a + 4 : NULL, mine ? atlen - 4 : 0)) < 0) {
			snprintf(s->msg, sizeof s->msg, "%s", r->r.msg);
			free(r);
			return rc;
		}
	}
	*out = &r->r;
	return 0;
}

static void multi_close(sl_source *s)
{
	multi_source *m = ms_of(s);
	for (size_t i = 0; i < m->n; i++)
		sl_source_close(m->parts[i].src);
	free(m->parts);
	pthread_mutex_destroy(&m->mu);
	sl__source_fini(s);
	free(m);
}

static const sl_source_ops multi_ops = {"multi", multi_stat, multi_open_seq, multi_open_range,
                                        multi_close};

int sl_source_multi_new(const char *name, sl_source **parts, const uint64_t *skip, size_t n,
                        sl_source **out)
{
	multi_source *m = calloc(1, sizeof *m);
	*out = NULL;
	if (!m || !(m->parts = calloc(n ? n : 1, sizeof *m->parts))) {
		free(m);
		for (size_t i = 0; i < n; i++)
			sl_source_close(parts[i]);
		return SL_NOMEM;
	}
	pthread_mutex_init(&m->mu, NULL);
	m->n = n;
	for (size_t i = 0; i < n; i++) {
		m->parts[i].src = parts[i];
		m->parts[i].skip = skip ? skip[i] : 0;
	}
	if (sl__source_init(&m->s, &multi_ops, name, NULL) < 0) {
		multi_close(&m->s);
		return SL_NOMEM;
	}
	*out = &m->s;
	return 0;
}

bool sl_source_is_multi(const sl_source *s)
{
	return s && s->ops == &multi_ops;
}

int sl_source_multi_layout(sl_source *s, size_t k, sl_multi_layout *out)
{
	multi_source *m = ms_of(s);
	if (k >= m->n)
		return SL_INVAL;
	pthread_mutex_lock(&m->mu);
	*out = m->parts[k].lay;
	pthread_mutex_unlock(&m->mu);
	return 0;
}

int sl_source_multi_set_layout(sl_source *s, size_t k, const sl_multi_layout *l)
{
	multi_source *m = ms_of(s);
	if (k >= m->n)
		return SL_INVAL;
	pthread_mutex_lock(&m->mu);
	m->parts[k].lay = *l;
	m->parts[k].lay.known = true;
	pthread_mutex_unlock(&m->mu);
	return 0;
}

uint64_t sl_source_multi_cut(sl_source *s, uint64_t from)
{
	multi_source *m = ms_of(s);
	uint64_t c = UINT64_MAX;
	pthread_mutex_lock(&m->mu);
	/* a part's start is known once the reader has begun it (vbase set
	   before its first byte is yielded); the first part starts at 0 */
	for (size_t i = 1; i < m->n; i++) {
		const sl_multi_layout *l = &m->parts[i].lay;
		if ((l->vbase || l->known) && l->vbase > from && l->vbase < c)
			c = l->vbase;
	}
	pthread_mutex_unlock(&m->mu);
	return c;
}
