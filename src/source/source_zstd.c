/*
 * The zstd filter: a source whose bytes are the decoded frames of its
 * inner source. A frame's start is an access point (the compressed and the
 * decompressed offset: a frame needs nothing from the frames before it),
 * so a file of several frames (zstd -B / --block-size, pzstd, t2sz, seekable
 * writers) is read from the frame at or before a chunk. A single-frame file
 * (what the `zstd` command writes by default) has one point, its start: a
 * ranged reader decodes from byte 0 and discards up to its offset, so a
 * resume or a remote worker pays the decoding of everything before its
 * chunk (docs/sources.md).
 *
 * Corruption and truncation are SL_IO_CORRUPT with the compressed and the
 * decompressed offset. Threads: as source_gzip.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "source/source.h"

#define SPAN (1u << 20)
#define RING 256

typedef struct zpoint {
	uint64_t coff, dpos;
} zpoint;

typedef struct zs_run {
	sl_source_reader r;
	sl_source_reader *in;
	ZSTD_DStream *ds;
	char *buf;
	size_t bufcap;
	ZSTD_inBuffer ib;
	uint64_t in_off; /* compressed offset of buf[0] */
	bool in_eof;
	bool frame_done; /* between frames (also before the first) */
	uint64_t frames;
	uint64_t dabs;
	XXH3_state_t *xx;
	zpoint ring[RING];
	size_t nring, head;
	uint64_t last_point;
	uint64_t skip, left;
	bool bounded, done;
} zs_run;

static uint64_t coff_now(const zs_run *z)
{
	return z->in_off + z->ib.pos;
}

static int corrupt(zs_run *z, const char *what)
{
	snprintf(z->r.msg, sizeof z->r.msg,
	         "%.120s: %.120s at compressed byte %llu (decompressed byte %llu)", z->r.src->uri,
	         what, (unsigned long long)coff_now(z), (unsigned long long)z->dabs);
	return SL_IO_CORRUPT;
}

static int refill(zs_run *z)
{
	z->in_off += z->ib.pos;
	ssize_t n = sl_source_read(z->in, z->buf, z->bufcap);
	if (n < 0) {
		snprintf(z->r.msg, sizeof z->r.msg, "%s", z->in->msg);
		return (int)n;
	}
	if (n == 0)
		z->in_eof = true;
	else if (z->xx)
		XXH3_64bits_update(z->xx, z->buf, (size_t)n);
	z->ib.src = z->buf;
	z->ib.size = (size_t)n;
	z->ib.pos = 0;
	return 0;
}

static ssize_t zs_decode(zs_run *z, char *out, size_t cap, bool points)
{
	ZSTD_outBuffer ob = {out, cap, 0};
	while (ob.pos < cap) {
		if (z->ib.pos == z->ib.size && !z->in_eof) {
			int rc = refill(z);
			if (rc < 0)
				return rc;
		}
		if (z->ib.pos == z->ib.size && z->in_eof && z->frame_done) {
			if (!z->frames)
				return corrupt(z, "empty zstd stream");
			break;
		}
		if (z->frame_done) {
			if (points && z->dabs - z->last_point >= SPAN) {
				z->ring[z->head] = (zpoint){coff_now(z), z->dabs};
				z->head = (z->head + 1) % RING;
				if (z->nring < RING)
					z->nring++;
				z->last_point = z->dabs;
			}
			z->frame_done = false;
			z->frames++;
		}
		size_t before = ob.pos;
		size_t r = ZSTD_decompressStream(z->ds, &ob, &z->ib);
		z->dabs += ob.pos - before;
		if (ZSTD_isError(r)) {
			char w[200];
			snprintf(w, sizeof w, "corrupt zstd stream (%s)", ZSTD_getErrorName(r));
			return corrupt(z, w);
		}
		if (r == 0)
			z->frame_done = true;
		else if (ob.pos == before && z->ib.pos == z->ib.size && z->in_eof)
			/* no input left, room for output, nothing came: a cut frame */
			return corrupt(z, "truncated zstd stream (it ends inside a frame)");
	}
	return (ssize_t)ob.pos;
}

static int run_init(zs_run *z, sl_source *s, const sl_reader_ops *ops)
{
	sl__reader_init(&z->r, ops, s);
	z->bufcap = ZSTD_DStreamInSize();
	if (!(z->buf = malloc(z->bufcap)) || !(z->ds = ZSTD_createDStream()))
		return SL_NOMEM;
	ZSTD_initDStream(z->ds);
	z->ib.src = z->buf;
	z->frame_done = true;
	return 0;
}

static void run_free(zs_run *z)
{
	if (!z)
		return;
	ZSTD_freeDStream(z->ds);
	sl_source_reader_close(z->in);
	free(z->buf);
	XXH3_freeState(z->xx);
	free(z);
}

static void zs_reader_close(sl_source_reader *r)
{
	run_free((zs_run *)r);
}

static ssize_t seq_read(sl_source_reader *base, char *buf, size_t cap)
{
	zs_run *z = (zs_run *)base;
	if (z->done)
		return 0;
	ssize_t n = zs_decode(z, buf, cap, true);
	if (n == 0) {
		z->done = true;
		sl__filter_learned(base->src, base->pos, coff_now(z), XXH3_64bits_digest(z->xx));
	}
	return n;
}

/* A point as a blob: "SLZS" 1 0 0 0, compressed offset, decompressed offset
   (u64, little-endian). */
static int seq_point(sl_source_reader *base, uint64_t off, sl_buf *out)
{
	zs_run *z = (zs_run *)base;
	const zpoint *best = NULL;
	for (size_t i = 0; i < z->nring; i++)
		if (z->ring[i].dpos <= off && (!best || z->ring[i].dpos > best->dpos))
			best = &z->ring[i];
	if (!best)
		return 0;
	unsigned char h[24] = {'S', 'L', 'Z', 'S', 1};
	for (int i = 0; i < 8; i++) {
		h[8 + i] = (unsigned char)(best->coff >> (8 * i));
		h[16 + i] = (unsigned char)(best->dpos >> (8 * i));
	}
	return sl_buf_append(out, h, sizeof h);
}

static const sl_reader_ops seq_ops = {seq_read, seq_point, zs_reader_close};

static int zs_open_seq(sl_source *s, sl_source_reader **out)
{
	zs_run *z = calloc(1, sizeof *z);
	int rc;
	*out = NULL;
	if (!z)
		return SL_NOMEM;
	if ((rc = run_init(z, s, &seq_ops)) < 0)
		goto out;
	if (!(z->xx = XXH3_createState())) {
		rc = SL_NOMEM;
		goto out;
	}
	XXH3_64bits_reset(z->xx);
	if ((rc = sl_source_open_seq(s->inner, &z->in)) < 0) {
		snprintf(s->msg, sizeof s->msg, "%s", s->inner->msg);
		goto out;
	}
	*out = &z->r;
	return 0;
out:
	run_free(z);
	return rc;
}

static ssize_t range_read(sl_source_reader *base, char *buf, size_t cap)
{
	zs_run *z = (zs_run *)base;
	ssize_t n = 0;
	while (z->skip) {
		size_t want = z->skip < cap ? (size_t)z->skip : cap;
		if ((n = zs_decode(z, buf, want, false)) <= 0)
			goto short_or_err;
		z->skip -= (uint64_t)n;
	}
	if (z->left == 0)
		return 0;
	if (cap > z->left)
		cap = (size_t)z->left;
	if ((n = zs_decode(z, buf, cap, false)) > 0) {
		if (z->bounded)
			z->left -= (uint64_t)n;
		return n;
	}
short_or_err:
	if (n < 0 || !z->bounded)
		return n;
	snprintf(base->msg, sizeof base->msg, "%.200s: the stream ends before the range does",
	         base->src->uri);
	return SL_IO_CHANGED;
}

static const sl_reader_ops range_ops = {range_read, NULL, zs_reader_close};

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int zs_open_range(sl_source *s, uint64_t off, uint64_t len, const void *at, size_t atlen,
                         sl_source_reader **out)
{
	zs_run *z = calloc(1, sizeof *z);
	zpoint p = {0, 0};
	int rc;
	*out = NULL;
	if (!z)
		return SL_NOMEM;
	if ((rc = run_init(z, s, &range_ops)) < 0)
		goto out;
	const unsigned char *h = at;
	if (at && atlen == 24 && !memcmp(h, "SLZS\1", 5)) {
		p.coff = get64(h + 8);
		p.dpos = get64(h + 16);
		if (p.dpos > off)
			p = (zpoint){0, 0}; /* not this chunk's: from the start */
	}
	if ((rc = sl_source_open_range(s->inner, p.coff, SL_SOURCE_TO_END, NULL, 0, &z->in)) < 0) {
		snprintf(s->msg, sizeof s->msg, "%s", s->inner->msg);
		goto out;
	}
	z->in_off = p.coff;
	z->dabs = p.dpos;
	z->skip = off - p.dpos;
	z->bounded = len != SL_SOURCE_TO_END;
	z->left = z->bounded ? len : UINT64_MAX;
	*out = &z->r;
	return 0;
out:
	run_free(z);
	return rc;
}

static const sl_source_ops zs_ops = {
    .name = "zstd",
    .stat = sl__filter_stat,
    .open_seq = zs_open_seq,
    .open_range = zs_open_range,
    .close = sl__filter_close,
};

int sl__source_zstd_new(sl_source *inner, sl_source **out, char *msg, size_t msglen)
{
	return sl__filter_new(&zs_ops, inner, out, msg, msglen);
}
