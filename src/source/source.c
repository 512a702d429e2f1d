/*
 * The source registry and what every backend shares: opening a URI by its
 * scheme, stacking a decoder on a byte source (detected by magic bytes),
 * the headers of sources and readers, and the default ranged reader (read
 * from the start and skip) for sources that cannot seek. The registry is a
 * constant table: no global mutable state, nothing to lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source/source.h"

/* The URI schemes of this build; a scheme adds its line here. */
static const sl_source_scheme *const schemes[] = {
    &sl__source_file_scheme,
    &sl__source_s3_scheme,
};

static const char *const comp_names[] = {"auto", "none", "gzip", "zstd"};

const char *sl_compression_name(sl_compression c)
{
	return (unsigned)c < sizeof comp_names / sizeof *comp_names ? comp_names[c] : "?";
}

int sl_compression_parse(const char *s, sl_compression *out)
{
	for (size_t i = 0; s && i < sizeof comp_names / sizeof *comp_names; i++) {
		if (!strcmp(s, comp_names[i])) {
			*out = (sl_compression)i;
			return 0;
		}
	}
	return SL_INVAL;
}

int sl_source_open(const char *uri, const sl_source_opts *o, sl_source **out, char *msg,
                   size_t msglen)
{
	*out = NULL;
	const char *colon = strstr(uri, "://");
	/* a scheme is letters, digits, + - . before "://"; anything else is a path */
	bool has_scheme = colon && colon > uri;
	for (const char *p = uri; has_scheme && p < colon; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789+-.", *p))
			has_scheme = false;
	for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
		const char *pre = schemes[i]->prefix;
		if (has_scheme ? !strncmp(uri, pre, strlen(pre)) : !strcmp(pre, "file://"))
			return schemes[i]->open(uri, o, out, msg, msglen);
	}
	snprintf(msg, msglen, "%.200s: no source for the scheme '%.*s://' in this build", uri,
	         (int)(colon - uri), uri);
	return SL_INVAL;
}

/* The first bytes of inner: 0..4 of them in *n. */
static int magic(sl_source *inner, unsigned char m[4], size_t *n, char *msg, size_t msglen)
{
	sl_source_reader *r = NULL;
	int rc = sl_source_open_range(inner, 0, SL_SOURCE_TO_END, NULL, 0, &r);
	*n = 0;
	while (rc == 0 && *n < 4) {
		ssize_t k = sl_source_read(r, (char *)m + *n, 4 - *n);
		if (k <= 0) {
			rc = (int)k;
			break;
		}
		*n += (size_t)k;
	}
	if (rc < 0)
		snprintf(msg, msglen, "%s", r && r->msg[0] ? r->msg : inner->msg);
	sl_source_reader_close(r);
	return rc;
}

int sl_source_filter(sl_source *inner, sl_compression c, sl_source **out, sl_compression *detected,
                     char *msg, size_t msglen)
{
	int rc = 0;
	*out = NULL;
	if (c == SL_COMPRESSION_AUTO) {
		unsigned char m[4];
		size_t n;
		if ((rc = magic(inner, m, &n, msg, msglen)) < 0)
			goto out;
		c = SL_COMPRESSION_NONE;
		if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
			c = SL_COMPRESSION_GZIP;
		/* a zstd frame, or a skippable frame (pzstd writes one first) */
		else if (n == 4 &&
		         ((m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) ||
		          ((m[0] & 0xf0) == 0x50 && m[1] == 0x2a && m[2] == 0x4d && m[3] == 0x18)))
			c = SL_COMPRESSION_ZSTD;
	}
	if (detected)
		*detected = c;
	switch (c) {
	case SL_COMPRESSION_GZIP:
		return sl__source_gzip_new(inner, out, msg, msglen);
	case SL_COMPRESSION_ZSTD:
		return sl__source_zstd_new(inner, out, msg, msglen);
	default:
		*out = inner;
		return 0;
	}
out:
	sl_source_close(inner);
	return rc;
}

int sl_source_open_uri(const char *uri, const sl_source_opts *o, sl_source **out,
                       sl_compression *detected, char *msg, size_t msglen)
{
	sl_source *raw = NULL;
	int rc = sl_source_open(uri, o, &raw, msg, msglen);
	if (rc < 0)
		return rc;
	return sl_source_filter(raw, o ? o->compression : SL_COMPRESSION_AUTO, out, detected, msg,
	                        msglen);
}

sl_source *sl_source_raw(sl_source *s)
{
	while (s && s->inner)
		s = s->inner;
	return s;
}

int sl__source_init(sl_source *s, const sl_source_ops *ops, const char *uri, sl_source *inner)
{
	s->ops = ops;
	s->inner = inner;
	s->msg[0] = '\0';
	s->uri = strdup(uri ? uri : "");
	return s->uri ? 0 : SL_NOMEM;
}

void sl__source_fini(sl_source *s)
{
	free(s->uri);
	s->uri = NULL;
	sl_source_close(s->inner);
	s->inner = NULL;
}

void sl__reader_init(sl_source_reader *r, const sl_reader_ops *ops, sl_source *s)
{
	r->ops = ops;
	r->src = s;
	r->pos = 0;
	r->msg[0] = '\0';
}

ssize_t sl_source_read_fn(void *ctx, char *buf, size_t cap)
{
	return sl_source_read(ctx, buf, cap);
}

/* --- decoders' sources -------------------------------------------------- */

typedef struct filter_source {
	sl_source s;
	pthread_mutex_t mu;
	bool size_known; /* learned by a sequential reader that reached the end */
	uint64_t size, raw_size, raw_hash;
} filter_source;

void sl__filter_learned(sl_source *base, uint64_t size, uint64_t raw_size, uint64_t raw_hash)
{
	filter_source *f = (filter_source *)base;
	pthread_mutex_lock(&f->mu);
	f->size_known = true;
	f->size = size;
	f->raw_size = raw_size;
	f->raw_hash = raw_hash;
	pthread_mutex_unlock(&f->mu);
}

int sl__filter_stat(sl_source *base, sl_source_stat *st)
{
	filter_source *f = (filter_source *)base;
	sl_source_stat in;
	int rc = sl_source_stat_get(base->inner, &in);
	if (rc < 0) {
		snprintf(base->msg, sizeof base->msg, "%s", base->inner->msg);
		return rc;
	}
	*st = in;
	st->raw_size = in.size;
	st->ranges_cheap = false; /* cheap from an access point only */
	pthread_mutex_lock(&f->mu);
	st->size_known = f->size_known;
	st->size = f->size_known ? f->size : 0;
	/* the hash of what was read, as long as the file is still that size */
	st->has_raw_hash = f->size_known && f->raw_size == in.size;
	st->raw_hash = f->raw_hash;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

void sl__filter_close(sl_source *base)
{
	filter_source *f = (filter_source *)base;
	pthread_mutex_destroy(&f->mu);
	sl__source_fini(base);
	free(f);
}

int sl__filter_new(const sl_source_ops *ops, sl_source *inner, sl_source **out, char *msg,
                   size_t msglen)
{
	filter_source *f = calloc(1, sizeof *f);
	*out = NULL;
	if (!f) {
		sl_source_close(inner);
		snprintf(msg, msglen, "out of memory");
		return SL_NOMEM;
	}
	pthread_mutex_init(&f->mu, NULL);
	int rc = sl__source_init(&f->s, ops, inner->uri, inner);
	if (rc < 0) {
		sl__filter_close(&f->s);
		return rc;
	}
	*out = &f->s;
	return 0;
}

/* --- the default ranged reader: from the start, skipping ------------------ */

typedef struct skip_reader {
	sl_source_reader r;
	sl_source_reader *seq;
	uint64_t skip, left;
	bool bounded;
} skip_reader;

static ssize_t skip_read(sl_source_reader *base, char *buf, size_t cap)
{
	skip_reader *k = (skip_reader *)base;
	ssize_t n = 0;
	while (k->skip) {
		size_t want = k->skip < cap ? (size_t)k->skip : cap;
		if ((n = sl_source_read(k->seq, buf, want)) <= 0)
			goto end;
		k->skip -= (uint64_t)n;
	}
	if (k->left == 0)
		return 0;
	if (cap > k->left)
		cap = (size_t)k->left;
	if ((n = sl_source_read(k->seq, buf, cap)) > 0) {
		if (k->bounded)
			k->left -= (uint64_t)n;
		return n;
	}
end:
	if (n == 0) {
		/* the end before the range's end */
		if (!k->bounded)
			return 0;
		snprintf(base->msg, sizeof base->msg, "%.200s ends before byte %llu",
		         base->src->uri, (unsigned long long)(k->seq->pos + k->skip + k->left));
		return SL_IO_CHANGED;
	}
	snprintf(base->msg, sizeof base->msg, "%s", k->seq->msg);
	return n;
}

static void skip_close(sl_source_reader *base)
{
	skip_reader *k = (skip_reader *)base;
	if (!k)
		return;
	sl_source_reader_close(k->seq);
	free(k);
}

static const sl_reader_ops skip_ops = {skip_read, NULL, skip_close};

int sl__source_range_by_skip(sl_source *s, uint64_t off, uint64_t len, sl_source_reader **out)
{
	skip_reader *k = calloc(1, sizeof *k);
	*out = NULL;
	if (!k)
		return SL_NOMEM;
	sl__reader_init(&k->r, &skip_ops, s);
	int rc = sl_source_open_seq(s, &k->seq);
	if (rc < 0) {
		free(k);
		return rc;
	}
	k->skip = off;
	k->bounded = len != SL_SOURCE_TO_END;
	k->left = k->bounded ? len : UINT64_MAX;
	*out = &k->r;
	return 0;
}
