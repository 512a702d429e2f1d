/*
 * The gzip filter: a source whose bytes are the inflated members of its
 * inner source (single or multi-member, as gzip, pigz and bgzip write).
 *
 * The sequential reader inflates from the start and keeps access points on
 * the way, as zlib's zran example does (our own code on zlib's documented
 * Z_BLOCK, inflateGetDictionary, inflatePrime and inflateSetDictionary):
 * about every SPAN decompressed bytes, at the end of a deflate block, the
 * compressed offset, the bits of the last byte not yet consumed and the
 * 32 KiB window; a member's start is a point too, and a free one (no
 * window). Only the last RING points are kept: the engine asks for the
 * point of each chunk start soon after the reader passed it (source.h).
 *
 * A ranged reader starts at a point (raw inflate primed with the bits and
 * the window), inflates and discards up to its offset, then yields its
 * range; past the member the point was in it reads the trailer and the
 * next members as the sequential reader does. Without a point it starts at
 * byte 0. The CRC of a member is checked only when it was inflated from
 * its start; the engine's chunk hashes cover the decompressed bytes.
 *
 * A point as a blob: "SLGZ" 1, kind (0 block, 1 member start), bits, the
 * prime value, window length (u32), compressed offset and decompressed
 * offset (u64, little-endian), the window.
 *
 * Corruption and truncation are SL_IO_CORRUPT with the compressed and the
 * decompressed offset in the reader's msg. Threads: the source's learned
 * size and hash are written once, under its mutex.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zlib.h>

#include "source/source.h"

#define IN_BUF    (256u << 10)
#define WINDOW    32768u
#define SPAN      (1u << 20)
#define RING      48
#define POINT_HDR 32

typedef struct point {
	uint64_t coff, dpos;
	uint8_t kind, bits, prime;
	uint32_t wlen;
	unsigned char *window; /* WINDOW bytes, allocated once per ring slot */
} point;

enum { M_HEADER, M_GZIP, M_RAW, M_TRAILER };

/* One inflating pass over the inner source, shared by both readers. */
typedef struct gz_run {
	sl_source_reader r;
	sl_source_reader *in;
	z_stream z;
	bool zinit;
	unsigned char *buf;
	uint64_t in_off; /* compressed offset of buf[0] */
	bool in_eof;
	int mode;
	unsigned trailer_left;
	uint64_t members;
	uint64_t dabs;    /* decompressed offset of the next byte inflated */
	XXH3_state_t *xx; /* sequential reader: the compressed bytes */
	/* sequential reader: recent points */
	point ring[RING];
	size_t nring, head; /* head: next slot to write */
	uint64_t last_point;
	/* ranged reader */
	uint64_t skip, left;
	bool bounded, done;
} gz_run;

static uint64_t coff_now(const gz_run *g)
{
	return g->in_off + (uint64_t)(g->z.next_in - g->buf);
}

static int corrupt(gz_run *g, const char *what)
{
	snprintf(g->r.msg, sizeof g->r.msg,
	         "%.120s: %.120s at compressed byte %llu (decompressed byte %llu)", g->r.src->uri,
	         what, (unsigned long long)coff_now(g), (unsigned long long)g->dabs);
	return SL_IO_CORRUPT;
}

static int refill(gz_run *g)
{
	g->in_off += (uint64_t)(g->z.next_in - g->buf);
	ssize_t n = sl_source_read(g->in, (char *)g->buf, IN_BUF);
	if (n < 0) {
		snprintf(g->r.msg, sizeof g->r.msg, "%s", g->in->msg);
		return (int)n;
	}
	if (n == 0)
		g->in_eof = true;
	else if (g->xx)
		XXH3_64bits_update(g->xx, g->buf, (size_t)n);
	g->z.next_in = g->buf;
	g->z.avail_in = (uInt)n;
	return 0;
}

static void add_point(gz_run *g, uint64_t dpos, uint8_t kind)
{
	point *p = &g->ring[g->head];
	if (!p->window && !(p->window = malloc(WINDOW)))
		return; /* no point then: a later ranged read starts earlier */
	p->coff = coff_now(g);
	p->dpos = dpos;
	p->kind = kind;
	p->bits = 0;
	p->prime = 0;
	p->wlen = 0;
	if (kind == 0) {
		p->bits = (uint8_t)(g->z.data_type & 7);
		if (p->bits)
			p->prime = (uint8_t)(g->z.next_in[-1] >> (8 - p->bits));
		uInt wl = WINDOW;
		if (inflateGetDictionary(&g->z, p->window, &wl) != Z_OK)
			return;
		p->wlen = wl;
	}
	g->head = (g->head + 1) % RING;
	if (g->nring < RING)
		g->nring++;
	g->last_point = dpos;
}

/* Inflate up to cap bytes into out; 0 at the end of the last member. */
static ssize_t gz_inflate(gz_run *g, unsigned char *out, size_t cap, bool points)
{
	size_t got = 0;
	while (got < cap) {
		if (g->z.avail_in == 0 && !g->in_eof) {
			int rc = refill(g);
			if (rc < 0)
				return rc;
		}
		if (g->mode == M_TRAILER) {
			/* after a member inflated raw from a point: its CRC and size */
			if (g->z.avail_in == 0)
				return corrupt(g,
				               "truncated gzip stream (it ends inside a trailer)");
			uInt k = g->z.avail_in < g->trailer_left ? g->z.avail_in : g->trailer_left;
			g->z.next_in += k;
			g->z.avail_in -= k;
			if ((g->trailer_left -= k) == 0)
				g->mode = M_HEADER;
			continue;
		}
		if (g->mode == M_HEADER) {
			if (g->z.avail_in == 0) {
				if (!g->in_eof)
					continue;
				if (!g->members)
					return corrupt(g, "empty gzip stream");
				break; /* the end, after a whole member */
			}
			if (points && g->dabs - g->last_point >= SPAN)
				add_point(g, g->dabs, 1);
			if (inflateReset2(&g->z, 16 + 15) != Z_OK)
				return corrupt(g, "cannot reset the inflater");
			g->mode = M_GZIP;
			g->members++;
		}
		bool want = points && g->mode == M_GZIP && g->dabs - g->last_point >= SPAN;
		g->z.next_out = out + got;
		g->z.avail_out = (uInt)((cap - got) > (1u << 30) ? (1u << 30) : cap - got);
		uInt before = g->z.avail_out;
		int zr = inflate(&g->z, want ? Z_BLOCK : Z_NO_FLUSH);
		got += before - g->z.avail_out;
		g->dabs += before - g->z.avail_out;
		if (zr == Z_STREAM_END) {
			if (g->mode == M_RAW) {
				g->mode = M_TRAILER;
				g->trailer_left = 8;
			} else {
				g->mode = M_HEADER;
			}
			continue;
		}
		if (zr == Z_MEM_ERROR)
			return SL_NOMEM;
		if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_STREAM_ERROR) {
			char w[200];
			snprintf(w, sizeof w, "corrupt gzip stream (%s)",
			         g->z.msg ? g->z.msg : "bad data");
			return corrupt(g, w);
		}
		if (zr == Z_BUF_ERROR && g->z.avail_in == 0 && g->in_eof)
			return corrupt(g, "truncated gzip stream (it ends inside a member)");
		if (want && (g->z.data_type & 128) && !(g->z.data_type & 64))
			add_point(g, g->dabs, 0);
	}
	return (ssize_t)got;
}

static int run_init(gz_run *g, sl_source *s, const sl_reader_ops *ops)
{
	sl__reader_init(&g->r, ops, s);
	if (!(g->buf = malloc(IN_BUF)))
		return SL_NOMEM;
	g->z.next_in = g->buf;
	if (inflateInit2(&g->z, 16 + 15) != Z_OK)
		return SL_NOMEM;
	g->zinit = true;
	g->mode = M_HEADER;
	return 0;
}

static void run_free(gz_run *g)
{
	if (!g)
		return;
	if (g->zinit)
		inflateEnd(&g->z);
	sl_source_reader_close(g->in);
	free(g->buf);
	for (size_t i = 0; i < RING; i++)
		free(g->ring[i].window);
	XXH3_freeState(g->xx);
	free(g);
}

static void gz_reader_close(sl_source_reader *r)
{
	run_free((gz_run *)r);
}

/* --- the sequential reader ----------------------------------------------- */

static ssize_t seq_read(sl_source_reader *base, char *buf, size_t cap)
{
	gz_run *g = (gz_run *)base;
	if (g->done)
		return 0;
	ssize_t n = gz_inflate(g, (unsigned char *)buf, cap, true);
	if (n == 0) {
		g->done = true;
		sl__filter_learned(base->src, base->pos, coff_now(g), XXH3_64bits_digest(g->xx));
	}
	return n;
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int seq_point(sl_source_reader *base, uint64_t off, sl_buf *out)
{
	gz_run *g = (gz_run *)base;
	const point *best = NULL;
	for (size_t i = 0; i < g->nring; i++) {
		const point *p = &g->ring[i];
		if (p->dpos <= off && (!best || p->dpos > best->dpos))
			best = p;
	}
	if (!best)
		return 0;
	unsigned char h[POINT_HDR];
	memcpy(h, "SLGZ", 4);
	h[4] = 1;
	h[5] = best->kind;
	h[6] = best->bits;
	h[7] = best->prime;
	for (int i = 0; i < 4; i++)
		h[8 + i] = (unsigned char)(best->wlen >> (8 * i));
	memset(h + 12, 0, 4);
	put64(h + 16, best->coff);
	put64(h + 24, best->dpos);
	int rc = sl_buf_append(out, h, sizeof h);
	return rc < 0 ? rc : sl_buf_append(out, best->window, best->wlen);
}

static const sl_reader_ops seq_ops = {seq_read, seq_point, gz_reader_close};

static int gz_open_seq(sl_source *s, sl_source_reader **out)
{
	gz_run *g = calloc(1, sizeof *g);
	int rc;
	*out = NULL;
	if (!g)
		return SL_NOMEM;
	if ((rc = run_init(g, s, &seq_ops)) < 0)
		goto out;
	if (!(g->xx = XXH3_createState())) {
		rc = SL_NOMEM;
		goto out;
	}
	XXH3_64bits_reset(g->xx);
	if ((rc = sl_source_open_seq(s->inner, &g->in)) < 0) {
		snprintf(s->msg, sizeof s->msg, "%s", s->inner->msg);
		goto out;
	}
	*out = &g->r;
	return 0;
out:
	run_free(g);
	return rc;
}

/* --- the ranged reader ---------------------------------------------------- */

static ssize_t range_read(sl_source_reader *base, char *buf, size_t cap)
{
	gz_run *g = (gz_run *)base;
	ssize_t n = 0;
	while (g->skip) {
		size_t want = g->skip < cap ? (size_t)g->skip : cap;
		if ((n = gz_inflate(g, (unsigned char *)buf, want, false)) <= 0)
			goto short_or_err;
		g->skip -= (uint64_t)n;
		/* what is skipped is not yielded: pos counts the range's bytes */
	}
	if (g->left == 0)
		return 0;
	if (cap > g->left)
		cap = (size_t)g->left;
	if ((n = gz_inflate(g, (unsigned char *)buf, cap, false)) > 0) {
		if (g->bounded)
			g->left -= (uint64_t)n;
		return n;
	}
short_or_err:
	if (n < 0 || !g->bounded)
		return n;
	snprintf(base->msg, sizeof base->msg, "%.200s: the stream ends before the range does",
	         base->src->uri);
	return SL_IO_CHANGED;
}

static const sl_reader_ops range_ops = {range_read, NULL, gz_reader_close};

/* A point blob as seq_point writes it, checked (it comes from a file). */
static bool point_parse(const void *at, size_t atlen, point *p)
{
	const unsigned char *h = at;
	if (!at || atlen < POINT_HDR || memcmp(h, "SLGZ", 4) || h[4] != 1 || h[5] > 1 || h[6] > 7)
		return false;
	p->kind = h[5];
	p->bits = h[6];
	p->prime = h[7];
	p->wlen =
	    (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
	p->coff = get64(h + 16);
	p->dpos = get64(h + 24);
	p->window = (unsigned char *)h + POINT_HDR;
	return p->wlen <= WINDOW && atlen == POINT_HDR + p->wlen && (p->kind == 0 || !p->wlen);
}

static int gz_open_range(sl_source *s, uint64_t off, uint64_t len, const void *at, size_t atlen,
                         sl_source_reader **out)
{
	gz_run *g = calloc(1, sizeof *g);
	point p = {0};
	int rc;
	*out = NULL;
	if (!g)
		return SL_NOMEM;
	if ((rc = run_init(g, s, &range_ops)) < 0)
		goto out;
	/* a point past the offset, or unreadable, is no point: from the start */
	bool have = point_parse(at, atlen, &p) && p.dpos <= off && (p.coff || p.bits == 0);
	if (!have)
		p = (point){0};
	uint64_t start = p.coff - (p.bits ? 1 : 0);
	if ((rc = sl_source_open_range(s->inner, start, SL_SOURCE_TO_END, NULL, 0, &g->in)) < 0) {
		snprintf(s->msg, sizeof s->msg, "%s", s->inner->msg);
		goto out;
	}
	g->in_off = start;
	if (have && p.kind == 0) {
		if (p.bits) { /* the byte the point's bits are in: consumed by the prime */
			if ((rc = refill(g)) < 0)
				goto out;
			if (g->z.avail_in == 0) {
				rc = corrupt(g, "truncated gzip stream at an access point");
				goto out;
			}
			g->z.next_in++;
			g->z.avail_in--;
		}
		if (inflateReset2(&g->z, -15) != Z_OK ||
		    (p.bits && inflatePrime(&g->z, p.bits, p.prime) != Z_OK) ||
		    (p.wlen && inflateSetDictionary(&g->z, p.window, p.wlen) != Z_OK)) {
			rc = corrupt(g, "unusable access point");
			goto out;
		}
		g->mode = M_RAW;
		g->members = 1;
	}
	g->skip = off - p.dpos;
	g->dabs = p.dpos;
	g->bounded = len != SL_SOURCE_TO_END;
	g->left = g->bounded ? len : UINT64_MAX;
	*out = &g->r;
	return 0;
out:
	run_free(g);
	return rc;
}

/* --- the source ----------------------------------------------------------- */

static const sl_source_ops gz_ops = {
    .name = "gzip",
    .stat = sl__filter_stat,
    .open_seq = gz_open_seq,
    .open_range = gz_open_range,
    .close = sl__filter_close,
};

int sl__source_gzip_new(sl_source *inner, sl_source **out, char *msg, size_t msglen)
{
	return sl__filter_new(&gz_ops, inner, out, msg, msglen);
}
