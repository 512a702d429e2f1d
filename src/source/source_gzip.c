/*
 * The gzip filter: a source whose bytes are the inflated members of its
 * inner source (single or multi-member, as gzip, pigz and bgzip write).
 *
 * Two decoders sit behind one small ops table (gz_decoder): ISA-L's igzip
 * (isal_inflate, when the build found libisal: SLUICE_HAVE_ISAL) and zlib.
 * ISA-L inflates about three times as fast (docs/benchmarks.md) and is the
 * default; zlib is the fallback of a build without it, and is forced with
 * SLUICE_GZIP_DECODER=zlib (a diagnostic: docs/sources.md). Both give the
 * same bytes, the same access points (one blob format: a point one decoder
 * wrote, the other resumes from) and the same errors.
 *
 * The sequential reader inflates from the start and keeps access points on
 * the way, as zlib's zran example does: about every SPAN decompressed
 * bytes, at the end of a deflate block, the compressed offset, the bits of
 * the last byte not yet consumed and the 32 KiB window; a member's start
 * is a point too, and a free one (no window). Only the last RING points are
 * kept: the engine asks for the point of each chunk start soon after the
 * reader passed it (source.h).
 *
 * zlib stops at a block's end when asked (Z_BLOCK) and hands out its window
 * (inflateGetDictionary). ISA-L has neither, so when a point is due the
 * ISA-L reader feeds its input in STEP-byte pieces: a piece that ends
 * inside a block header leaves isal_inflate in ISAL_BLOCK_HDR with its bit
 * buffer rewound to the header's first bit (igzip_inflate.c,
 * read_header_stateful), which is the block boundary, and the window is the
 * last 32 KiB it yielded (kept in `hist`). A 3-bit static header is seldom
 * hit that way: after SEARCH_MAX compressed bytes without a boundary the
 * reader gives up until the next SPAN (a later ranged read starts at an
 * earlier point: slower, never wrong).
 *
 * A ranged reader starts at a point (raw inflate primed with the bits and
 * the window: zlib's inflatePrime and inflateSetDictionary, or ISA-L's bit
 * buffer and isal_inflate_set_dict), inflates and discards up to its
 * offset, then yields its range; past the member the point was in it reads
 * the trailer and the next members as the sequential reader does. Without
 * a point it starts at byte 0. The CRC of a member is checked only when it
 * was inflated from its start; the engine's chunk hashes cover the
 * decompressed bytes.
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
#ifdef SLUICE_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "source/source.h"

#define IN_BUF     (256u << 10)
#define WINDOW     32768u
#define SPAN       (1u << 20)
#define RING       48
#define POINT_HDR  32
#define STEP       64u          /* ISA-L: input piece while a point is due */
#define SEARCH_MAX (512u << 10) /* ISA-L: compressed bytes searched for one */

typedef struct point {
	uint64_t coff, dpos;
	uint8_t kind, bits, prime;
	uint32_t wlen;
	unsigned char *window; /* WINDOW bytes, allocated once per ring slot */
} point;

enum { M_HEADER, M_GZIP, M_RAW, M_TRAILER };

typedef struct gz_run gz_run;

/* A decoder: inflate up to cap bytes (0 at the end of the last member),
   from a member start or from a point (raw deflate). */
typedef struct gz_decoder {
	const char *name;
	int (*init)(gz_run *g);
	int (*start_raw)(gz_run *g, const point *p);
	int (*member)(gz_run *g); /* reset for a member's start: 1, or a code */
	ssize_t (*inflate)(gz_run *g, unsigned char *out, size_t cap, bool points);
	void (*end)(gz_run *g);
} gz_decoder;

/* One inflating pass over the inner source, shared by both readers. */
struct gz_run {
	sl_source_reader r;
	sl_source_reader *in;
	const gz_decoder *dec;
	z_stream z;
	bool zinit;
#ifdef SLUICE_HAVE_ISAL
	struct inflate_state *st;    /* about 100 KiB: allocated */
	struct isal_gzip_header gzh; /* kept across calls: a header may span refills */
#endif
	unsigned char *buf;
	unsigned char *nin, *in_end; /* the unread input: [nin, in_end) of buf */
	uint64_t in_off;             /* compressed offset of buf[0] */
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
	/* ISA-L sequential reader: the last bytes yielded (windows), the
	   member's start, where the search for a boundary began */
	unsigned char *hist;
	size_t hist_len;
	uint64_t member_d0, search_from;
	bool searching;
	/* ranged reader */
	uint64_t skip, left;
	bool bounded, done;
};

static uint64_t coff_now(const gz_run *g)
{
	return g->in_off + (uint64_t)(g->nin - g->buf);
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
	g->in_off += (uint64_t)(g->nin - g->buf);
	ssize_t n = sl_source_read(g->in, (char *)g->buf, IN_BUF);
	if (n < 0) {
		snprintf(g->r.msg, sizeof g->r.msg, "%s", g->in->msg);
		return (int)n;
	}
	if (n == 0)
		g->in_eof = true;
	else if (g->xx)
		XXH3_64bits_update(g->xx, g->buf, (size_t)n);
	g->nin = g->buf;
	g->in_end = g->buf + n;
	return 0;
}

/* The next ring slot (its window allocated), or NULL: no point then, a
   later ranged read starts earlier. */
static point *point_slot(gz_run *g)
{
	point *p = &g->ring[g->head];
	if (!p->window && !(p->window = malloc(WINDOW)))
		return NULL;
	p->coff = coff_now(g);
	p->kind = 1;
	p->bits = 0;
	p->prime = 0;
	p->wlen = 0;
	return p;
}

static void point_keep(gz_run *g, point *p, uint64_t dpos)
{
	p->dpos = dpos;
	g->head = (g->head + 1) % RING;
	if (g->nring < RING)
		g->nring++;
	g->last_point = dpos;
}

static void member_point(gz_run *g)
{
	point *p = point_slot(g);
	if (p)
		point_keep(g, p, g->dabs);
}

/* After a trailer: the next member, or the end. 1: go on inflating a
   member; 0: the end; <0 a code. */
static int next_member(gz_run *g, bool points)
{
	while (g->mode == M_TRAILER || g->mode == M_HEADER) {
		if (g->nin == g->in_end && !g->in_eof) {
			int rc = refill(g);
			if (rc < 0)
				return rc;
			continue;
		}
		if (g->mode == M_TRAILER) {
			/* after a member inflated raw from a point: its CRC and size */
			if (g->nin == g->in_end)
				return corrupt(g,
				               "truncated gzip stream (it ends inside a trailer)");
			size_t have = (size_t)(g->in_end - g->nin);
			size_t k = have < g->trailer_left ? have : g->trailer_left;
			g->nin += k;
			if ((g->trailer_left -= (unsigned)k) == 0)
				g->mode = M_HEADER;
			continue;
		}
		if (g->nin == g->in_end) {
			if (!g->members)
				return corrupt(g, "empty gzip stream");
			return 0; /* the end, after a whole member */
		}
		if (points && g->dabs - g->last_point >= SPAN)
			member_point(g);
		g->mode = M_GZIP;
		g->members++;
		g->member_d0 = g->dabs;
		return 2; /* a member starts: the decoder resets (feed) */
	}
	return 1;
}

/* Input for the next inflate call: refilled when used up, and between
   members the trailer and the next header. <0 a code, 0 the end, 1 go on
   inflating (also when a member starts: the decoder was reset). */
static int feed(gz_run *g, bool points)
{
	if (g->nin == g->in_end && !g->in_eof) {
		int rc = refill(g);
		if (rc < 0)
			return rc;
	}
	if (g->mode == M_TRAILER || g->mode == M_HEADER) {
		int rc = next_member(g, points);
		return rc == 2 ? g->dec->member(g) : rc;
	}
	return 1;
}

/* --- zlib ----------------------------------------------------------------- */

static int zlib_init(gz_run *g)
{
	if (inflateInit2(&g->z, 16 + 15) != Z_OK)
		return SL_NOMEM;
	g->zinit = true;
	return 0;
}

static int zlib_member(gz_run *g)
{
	return inflateReset2(&g->z, 16 + 15) == Z_OK ? 1 : corrupt(g, "cannot reset the inflater");
}

static void zlib_end(gz_run *g)
{
	if (g->zinit)
		inflateEnd(&g->z);
}

static int zlib_start_raw(gz_run *g, const point *p)
{
	if (inflateReset2(&g->z, -15) != Z_OK ||
	    (p->bits && inflatePrime(&g->z, p->bits, p->prime) != Z_OK) ||
	    (p->wlen && inflateSetDictionary(&g->z, p->window, p->wlen) != Z_OK))
		return corrupt(g, "unusable access point");
	return 0;
}

static void zlib_point(gz_run *g, uint64_t dpos)
{
	point *p = point_slot(g);
	if (!p)
		return;
	p->kind = 0;
	p->bits = (uint8_t)(g->z.data_type & 7);
	if (p->bits)
		p->prime = (uint8_t)(g->nin[-1] >> (8 - p->bits));
	uInt wl = WINDOW;
	if (inflateGetDictionary(&g->z, p->window, &wl) != Z_OK)
		return;
	p->wlen = wl;
	point_keep(g, p, dpos);
}

static ssize_t zlib_inflate(gz_run *g, unsigned char *out, size_t cap, bool points)
{
	size_t got = 0;
	while (got < cap) {
		int rc = feed(g, points);
		if (rc <= 0) {
			if (rc < 0)
				return rc;
			break;
		}
		bool want = points && g->mode == M_GZIP && g->dabs - g->last_point >= SPAN;
		g->z.next_in = g->nin;
		g->z.avail_in = (uInt)(g->in_end - g->nin);
		g->z.next_out = out + got;
		g->z.avail_out = (uInt)((cap - got) > (1u << 30) ? (1u << 30) : cap - got);
		uInt before = g->z.avail_out;
		int zr = inflate(&g->z, want ? Z_BLOCK : Z_NO_FLUSH);
		g->nin = g->z.next_in;
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
		if (zr == Z_BUF_ERROR && g->nin == g->in_end && g->in_eof)
			return corrupt(g, "truncated gzip stream (it ends inside a member)");
		if (want && (g->z.data_type & 128) && !(g->z.data_type & 64))
			zlib_point(g, g->dabs);
	}
	return (ssize_t)got;
}

static const gz_decoder dec_zlib = {"zlib",      zlib_init,    zlib_start_raw,
                                    zlib_member, zlib_inflate, zlib_end};

/* --- ISA-L ---------------------------------------------------------------- */

#ifdef SLUICE_HAVE_ISAL
static int isal_init(gz_run *g)
{
	if (!(g->st = malloc(sizeof *g->st)))
		return SL_NOMEM;
	isal_inflate_init(g->st);
	g->st->crc_flag = ISAL_GZIP;
	return 0;
}

static int isal_member(gz_run *g)
{
	isal_inflate_reset(g->st);
	g->st->crc_flag = ISAL_GZIP;
	memset(&g->gzh, 0, sizeof g->gzh);
	isal_gzip_header_init(&g->gzh);
	g->searching = false;
	return 1;
}

static void isal_end(gz_run *g)
{
	free(g->st);
	free(g->hist);
}

static int isal_start_raw(gz_run *g, const point *p)
{
	struct inflate_state *st = g->st;
	isal_inflate_reset(st);
	st->crc_flag = ISAL_DEFLATE;
	st->read_in = p->prime; /* the next bits to read sit at the bottom */
	st->read_in_length = p->bits;
	if (p->wlen && isal_inflate_set_dict(st, p->window, p->wlen) != COMP_OK)
		return corrupt(g, "unusable access point");
	return 0;
}

static const char *isal_error(int rc)
{
	switch (rc) {
	case ISAL_INVALID_BLOCK:
		return "invalid block type";
	case ISAL_INVALID_SYMBOL:
		return "invalid code";
	case ISAL_INVALID_LOOKBACK:
		return "invalid distance too far back";
	case ISAL_INVALID_WRAPPER:
		return "incorrect header check";
	case ISAL_UNSUPPORTED_METHOD:
		return "unknown compression method";
	case ISAL_INCORRECT_CHECKSUM:
		return "incorrect data check";
	default:
		return "bad data";
	}
}

/* Keep the last WINDOW bytes yielded (out[0, got) follows hist). */
static void hist_keep(gz_run *g, const unsigned char *out, size_t got)
{
	if (got >= WINDOW) {
		memcpy(g->hist, out + got - WINDOW, WINDOW);
		g->hist_len = WINDOW;
		return;
	}
	size_t keep = WINDOW - got < g->hist_len ? WINDOW - got : g->hist_len;
	memmove(g->hist, g->hist + g->hist_len - keep, keep);
	memcpy(g->hist + keep, out, got);
	g->hist_len = keep + got;
}

/* isal_inflate stopped between two blocks with everything it inflated
   handed out: in a header (ISAL_BLOCK_HDR: its bit buffer rewound to the
   header's start, the header's bytes so far in tmp_in_buffer) or before
   one. Not inside the gzip header (wrapper_flag), nor with output held. */
static bool isal_between_blocks(const struct inflate_state *st)
{
	return st->wrapper_flag &&
	       (st->block_state == ISAL_BLOCK_HDR ||
	        (st->block_state == ISAL_BLOCK_NEW_HDR && st->tmp_in_size == 0)) &&
	       st->tmp_out_valid == st->tmp_out_processed && st->write_overflow_len == 0 &&
	       st->copy_overflow_length == 0;
}

static void isal_point(gz_run *g, const unsigned char *out, size_t got)
{
	const struct inflate_state *st = g->st;
	point *p = point_slot(g);
	if (!p)
		return;
	/* the header's first bit: before the bytes held for it, and before
	   the bits still in the bit buffer (whole bytes, then the rest of a
	   partly read byte at the bottom) */
	uint32_t rl = (uint32_t)st->read_in_length;
	p->coff = coff_now(g) - (uint64_t)st->tmp_in_size - rl / 8;
	p->kind = 0;
	p->bits = (uint8_t)(rl % 8);
	p->prime = (uint8_t)(st->read_in & ((1u << p->bits) - 1));
	/* the window: the member's last WINDOW bytes, out[0, got) after hist */
	uint64_t in_member = g->dabs - g->member_d0;
	size_t want = in_member < WINDOW ? (size_t)in_member : WINDOW;
	size_t from_out = got < want ? got : want;
	size_t from_hist = want - from_out < g->hist_len ? want - from_out : g->hist_len;
	memcpy(p->window, g->hist + g->hist_len - from_hist, from_hist);
	memcpy(p->window + from_hist, out + got - from_out, from_out);
	p->wlen = (uint32_t)(from_hist + from_out);
	point_keep(g, p, g->dabs);
}

static ssize_t isal_inflate_run(gz_run *g, unsigned char *out, size_t cap, bool points)
{
	struct inflate_state *st = g->st;
	size_t got = 0;
	if (points && !g->hist && !(g->hist = malloc(WINDOW)))
		return SL_NOMEM;
	while (got < cap) {
		int rc = feed(g, points);
		if (rc == 0)
			break;
		if (rc < 0)
			return rc;
		if (g->mode == M_GZIP && !st->wrapper_flag) {
			/* the member's header, read here: isal_inflate would read it
			   with a fresh isal_gzip_header each call, losing a header's
			   flags when it spans two reads */
			st->next_in = g->nin;
			st->avail_in = (uint32_t)(g->in_end - g->nin);
			int hr = isal_read_gzip_header(st, &g->gzh);
			g->nin = st->next_in;
			if (hr < 0) {
				char w[200];
				snprintf(w, sizeof w, "corrupt gzip stream (%s)", isal_error(hr));
				return corrupt(g, w);
			}
			if (!st->wrapper_flag) {
				if (g->nin != g->in_end) /* not a short read: no progress */
					return corrupt(g, "corrupt gzip stream (bad header)");
				if (g->in_eof)
					return corrupt(
					    g, "truncated gzip stream (it ends inside a member)");
				continue;
			}
			if (g->gzh.flags & 0xe0) /* reserved: zlib refuses them too */
				return corrupt(g, "corrupt gzip stream (unknown header flags set)");
		}
		/* a point is due: search for a block boundary in small pieces */
		bool want = points && g->mode == M_GZIP && g->dabs - g->last_point >= SPAN;
		if (want && !g->searching) {
			g->searching = true;
			g->search_from = coff_now(g);
		}
		if (want && coff_now(g) - g->search_from > SEARCH_MAX) {
			g->last_point = g->dabs; /* none here: try again a SPAN on */
			g->searching = want = false;
		}
		size_t avail = (size_t)(g->in_end - g->nin);
		st->next_in = g->nin;
		st->avail_in = (uint32_t)(want && avail > STEP ? STEP : avail);
		st->next_out = out + got;
		st->avail_out = (uint32_t)((cap - got) > (1u << 30) ? (1u << 30) : cap - got);
		uint32_t before = st->avail_out;
		const unsigned char *was = g->nin;
		rc = isal_inflate(st);
		size_t made = before - st->avail_out;
		g->nin = st->next_in;
		got += made;
		g->dabs += made;
		if (rc < 0) {
			char w[200];
			snprintf(w, sizeof w, "corrupt gzip stream (%s)", isal_error(rc));
			return corrupt(g, w);
		}
		if (st->block_state == ISAL_BLOCK_FINISH) {
			if (g->mode == M_RAW) {
				/* raw: the bit buffer may hold the trailer's first bytes
				   (after the last block's padding bits) */
				g->trailer_left = 8 - (unsigned)st->read_in_length / 8;
				g->mode = g->trailer_left ? M_TRAILER : M_HEADER;
			} else {
				g->mode = M_HEADER; /* ISAL_GZIP read the trailer */
			}
			continue;
		}
		if (want && isal_between_blocks(st)) {
			isal_point(g, out, got);
			g->searching = false;
		}
		if (made == 0 && g->nin == was) {
			if (g->nin == g->in_end && g->in_eof)
				return corrupt(g,
				               "truncated gzip stream (it ends inside a member)");
			if (g->nin != g->in_end)
				return corrupt(g, "corrupt gzip stream (no progress)");
		}
	}
	if (points)
		hist_keep(g, out, got);
	return (ssize_t)got;
}

static const gz_decoder dec_isal = {"isal",      isal_init,        isal_start_raw,
                                    isal_member, isal_inflate_run, isal_end};
#endif

/* ISA-L when built with it, unless SLUICE_GZIP_DECODER=zlib. */
static const gz_decoder *decoder(void)
{
#ifdef SLUICE_HAVE_ISAL
	const char *e = getenv("SLUICE_GZIP_DECODER");
	if (!e || strcmp(e, "zlib") != 0)
		return &dec_isal;
#endif
	return &dec_zlib;
}

const char *sl__source_gzip_decoder(void)
{
	return decoder()->name;
}

/* Inflate up to cap bytes into out; 0 at the end of the last member. */
static ssize_t gz_inflate(gz_run *g, unsigned char *out, size_t cap, bool points)
{
	return g->dec->inflate(g, out, cap, points);
}

static int run_init(gz_run *g, sl_source *s, const sl_reader_ops *ops)
{
	sl__reader_init(&g->r, ops, s);
	g->dec = decoder();
	if (!(g->buf = malloc(IN_BUF)))
		return SL_NOMEM;
	g->nin = g->in_end = g->buf;
	g->mode = M_HEADER;
	return g->dec->init(g);
}

static void run_free(gz_run *g)
{
	if (!g)
		return;
	g->dec->end(g);
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
			if (g->nin == g->in_end) {
				rc = corrupt(g, "truncated gzip stream at an access point");
				goto out;
			}
			g->nin++;
		}
		if ((rc = g->dec->start_raw(g, &p)) < 0)
			goto out;
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
