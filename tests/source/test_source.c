/*
 * Unit tests of src/source/: every source through the interface only
 * (source.h), on real files in a temporary directory, compressed here with
 * zlib and libzstd the way gzip, pigz, bgzip and zstd write them:
 *
 *   - the sequential reader gives the original bytes; stat then knows the
 *     decompressed size and the compressed file's hash (XXH3 of the file);
 *   - detection by magic bytes (and none for a plain file);
 *   - ranged readers, from the access points the sequential reader handed
 *     out and without any, give exactly the original slice, on several
 *     threads at once over one source (the thread rule);
 *   - a stream truncated at every 4 KiB, or with a flipped byte, is
 *     SL_IO_CORRUPT with both offsets in the message (or, cut exactly at a
 *     member or frame boundary, a clean prefix), never a crash.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>

#include "source/source.h"

#define DATA_LEN (6u << 20)

static char *data;    /* the plain bytes */
static char dir[256]; /* temporary directory */

/* CSV-like lines of varying length, not too compressible. */
static void make_data(void)
{
	data = malloc(DATA_LEN);
	uint64_t x = 88172645463325252ull;
	size_t i = 0;
	while (i < DATA_LEN) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int n = snprintf(data + i, DATA_LEN - i, "%llu,name%llu,%llu\n",
		                 (unsigned long long)(x % 1000000007),
		                 (unsigned long long)(x >> 40), (unsigned long long)(x % 977));
		if (n <= 0 || (size_t)n >= DATA_LEN - i)
			break;
		i += (size_t)n;
	}
	memset(data + i, '\n', DATA_LEN - i);
}

typedef struct blob {
	unsigned char *p;
	size_t n, cap;
} blob;

static void put(blob *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* gzip members of `member` input bytes each (0: one member) */
static blob gzip_of(const char *in, size_t n, size_t member, int level)
{
	blob b = {0};
	for (size_t at = 0; at < n || (at == 0 && n == 0);) {
		size_t len = member && n - at > member ? member : n - at;
		z_stream z = {0};
		assert_int_equal(
		    deflateInit2(&z, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
		uLong bound = deflateBound(&z, (uLong)len);
		unsigned char *out = malloc(bound);
		z.next_in = (unsigned char *)in + at;
		z.avail_in = (uInt)len;
		z.next_out = out;
		z.avail_out = (uInt)bound;
		assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
		put(&b, out, bound - z.avail_out);
		deflateEnd(&z);
		free(out);
		at += len;
		if (n == 0)
			break;
	}
	return b;
}

/* zstd frames of `frame` input bytes each (0: one frame), with checksums */
static blob zstd_of(const char *in, size_t n, size_t frame)
{
	blob b = {0};
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	for (size_t at = 0; at < n;) {
		size_t len = frame && n - at > frame ? frame : n - at;
		size_t bound = ZSTD_compressBound(len);
		unsigned char *out = malloc(bound);
		size_t r = ZSTD_compress2(c, out, bound, in + at, len);
		assert_false(ZSTD_isError(r));
		put(&b, out, r);
		free(out);
		at += len;
	}
	ZSTD_freeCCtx(c);
	return b;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static sl_source *open_file(const char *path, sl_compression want, sl_compression c)
{
	sl_source *s = NULL;
	sl_source_opts o = {.compression = c};
	sl_compression got;
	char msg[400];
	int rc = sl_source_open_uri(path, &o, &s, &got, msg, sizeof msg);
	if (rc < 0)
		fail_msg("%s: %s", path, msg);
	assert_int_equal(got, want);
	return s;
}

/* Read a reader to its end into out (cap bytes at most): 0 or the code. */
static int read_all(sl_source_reader *r, char *out, size_t cap, size_t *got)
{
	*got = 0;
	for (;;) {
		size_t want = cap - *got < 65536 ? cap - *got : 65536;
		if (want == 0) {
			char c;
			ssize_t n = sl_source_read(r, &c, 1);
			return n < 0 ? (int)n : n == 0 ? 0 : SL_LIMIT;
		}
		ssize_t n = sl_source_read(r, out + *got, want);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		*got += (size_t)n;
	}
}

typedef struct saved_point {
	uint64_t off;
	sl_buf b;
} saved_point;

#define NPOINTS 24

/* Sequential read, asking for a point every 256 KiB of offsets a little
   behind the reader (as the split asks). */
static void check_sequential(sl_source *s, const blob *file, saved_point *pts, size_t *npts,
                             size_t *nonempty)
{
	sl_source_reader *r = NULL;
	char *out = malloc(DATA_LEN + 1);
	size_t got = 0;
	assert_int_equal(sl_source_open_seq(s, &r), 0);
	*npts = 0;
	*nonempty = 0;
	uint64_t next = 256u << 10;
	for (;;) {
		ssize_t n = sl_source_read(r, out + got, 100000);
		if (n < 0)
			fail_msg("read: %s", r->msg);
		if (n == 0)
			break;
		got += (size_t)n;
		assert_true(got <= DATA_LEN);
		while (got >= next + (200u << 10) && *npts < NPOINTS) {
			saved_point *p = &pts[(*npts)++];
			p->off = next;
			sl_buf_init(&p->b, 1u << 20);
			assert_int_equal(sl_source_reader_point(r, next, &p->b), 0);
			*nonempty += p->b.len > 0;
			next += 256u << 10;
		}
	}
	assert_int_equal(got, DATA_LEN);
	assert_memory_equal(out, data, DATA_LEN);
	sl_source_reader_close(r);
	free(out);
	sl_source_stat st;
	assert_int_equal(sl_source_stat_get(s, &st), 0);
	assert_true(st.size_known);
	assert_int_equal(st.size, DATA_LEN);
	assert_int_equal(st.raw_size, file->n);
	if (s->inner) { /* a decoder: the hash of the compressed file */
		assert_true(st.has_raw_hash);
		assert_int_equal(st.raw_hash, XXH3_64bits(file->p, file->n));
		assert_false(st.ranges_cheap);
	} else {
		assert_true(st.ranges_cheap);
	}
}

typedef struct range_job {
	sl_source *s;
	saved_point *pts;
	size_t npts, first, step;
	int failures;
} range_job;

/* Each saved point's range [off, off + 150 KiB), from the point and
   without one; and one range crossing the end. */
static void *ranges(void *arg)
{
	range_job *j = arg;
	char *out = malloc(200u << 10);
	for (size_t i = j->first; i < j->npts; i += j->step) {
		for (int with = 0; with < 2; with++) {
			saved_point *p = &j->pts[i];
			sl_source_reader *r = NULL;
			size_t got, len = 150u << 10;
			if (sl_source_open_range(j->s, p->off, len, with ? p->b.p : NULL,
			                         with ? p->b.len : 0, &r) < 0 ||
			    read_all(r, out, 200u << 10, &got) != 0 || got != len ||
			    memcmp(out, data + p->off, len))
				j->failures++;
			sl_source_reader_close(r);
		}
	}
	free(out);
	return NULL;
}

static void check_ranges(sl_source *s, saved_point *pts, size_t npts)
{
	pthread_t t[3];
	range_job j[3];
	for (int i = 0; i < 3; i++) {
		j[i] = (range_job){s, pts, npts, (size_t)i, 3, 0};
		assert_int_equal(pthread_create(&t[i], NULL, ranges, &j[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(j[i].failures, 0);
	}
	/* the tail, to the end, and a range past the end is IO_CHANGED */
	sl_source_reader *r = NULL;
	char *out = malloc(1u << 20);
	size_t got;
	assert_int_equal(sl_source_open_range(s, DATA_LEN - 1000, SL_SOURCE_TO_END, NULL, 0, &r),
	                 0);
	assert_int_equal(read_all(r, out, 1u << 20, &got), 0);
	assert_int_equal(got, 1000);
	assert_memory_equal(out, data + DATA_LEN - 1000, 1000);
	sl_source_reader_close(r);
	assert_int_equal(sl_source_open_range(s, DATA_LEN - 1000, 2000, NULL, 0, &r), 0);
	assert_int_equal(read_all(r, out, 1u << 20, &got), SL_IO_CHANGED);
	sl_source_reader_close(r);
	free(out);
	for (size_t i = 0; i < npts; i++)
		sl_buf_free(&pts[i].b);
}

static void roundtrip(const char *name, const blob *file, sl_compression kind, size_t min_points)
{
	char path[400];
	saved_point pts[NPOINTS];
	size_t npts, nonempty;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	write_file(path, file->p, file->n);
	sl_source *s = open_file(path, kind, SL_COMPRESSION_AUTO);
	check_sequential(s, file, pts, &npts, &nonempty);
	assert_true(npts >= 20);
	if (nonempty < min_points)
		fail_msg("%s: %zu access points, expected at least %zu", name, nonempty,
		         min_points);
	check_ranges(s, pts, npts);
	sl_source_close(s);
	/* forced: the same file read as what it is, also by file:// */
	char uri[420];
	snprintf(uri, sizeof uri, "file://%s", path);
	s = open_file(uri, kind == SL_COMPRESSION_NONE ? SL_COMPRESSION_NONE : kind,
	              kind == SL_COMPRESSION_NONE ? SL_COMPRESSION_NONE : kind);
	sl_source_close(s);
}

static void test_plain(void **state)
{
	(void)state;
	blob b = {(unsigned char *)data, DATA_LEN, DATA_LEN};
	roundtrip("plain.csv", &b, SL_COMPRESSION_NONE, 0);
}

static void test_gzip_single(void **state)
{
	(void)state;
	blob b = gzip_of(data, DATA_LEN, 0, 6);
	/* one member: points mid-stream, windows and bit offsets (most of
	   the 24 asked are past the first 1 MiB span) */
	roundtrip("single.csv.gz", &b, SL_COMPRESSION_GZIP, 15);
	free(b.p);
}

static void test_gzip_members(void **state)
{
	(void)state;
	blob b = gzip_of(data, DATA_LEN, 1500000, 6); /* pigz -i / cat a.gz b.gz */
	roundtrip("multi.csv.gz", &b, SL_COMPRESSION_GZIP, 15);
	free(b.p);
	b = gzip_of(data, DATA_LEN, 65280, 1); /* bgzip: members of 64 KiB at most */
	roundtrip("bgzf.csv.gz", &b, SL_COMPRESSION_GZIP, 15);
	free(b.p);
}

static void test_zstd(void **state)
{
	(void)state;
	blob b = zstd_of(data, DATA_LEN, 0);
	/* one frame: no point but its start; ranges decode from 0 */
	roundtrip("single.csv.zst", &b, SL_COMPRESSION_ZSTD, 0);
	free(b.p);
	b = zstd_of(data, DATA_LEN, 1u << 20);
	roundtrip("frames.csv.zst", &b, SL_COMPRESSION_ZSTD, 15);
	free(b.p);
}

/* Read a damaged stream to the end: 0 with a prefix of the data (cut at a
   boundary), or IO_CORRUPT naming both offsets. */
static int read_damaged(const char *path, sl_compression kind, size_t *got, char *msg, size_t n)
{
	sl_source *s = NULL;
	sl_source_opts o = {.compression = kind};
	sl_compression det;
	int rc = sl_source_open_uri(path, &o, &s, &det, msg, n);
	if (rc < 0)
		return rc;
	sl_source_reader *r = NULL;
	char *out = malloc(DATA_LEN + 1);
	rc = sl_source_open_seq(s, &r);
	if (rc == 0)
		rc = read_all(r, out, DATA_LEN + 1, got);
	if (rc < 0)
		snprintf(msg, n, "%s", r->msg);
	else if (*got > DATA_LEN || memcmp(out, data, *got))
		rc = 1; /* decoded to other bytes */
	free(out);
	sl_source_reader_close(r);
	sl_source_close(s);
	return rc;
}

static void damage(const blob *file, sl_compression kind, bool boundaries)
{
	char path[400], msg[400];
	size_t got;
	snprintf(path, sizeof path, "%s/damaged", dir);
	for (size_t cut = 0; cut < file->n; cut += 4096) {
		write_file(path, file->p, cut);
		int rc = read_damaged(path, kind, &got, msg, sizeof msg);
		if (rc == 0 && boundaries && got < DATA_LEN)
			continue; /* cut at a member or frame end: a shorter, valid stream */
		if (rc != SL_IO_CORRUPT)
			fail_msg("cut at %zu: %d (%zu bytes) %s", cut, rc, got, msg);
		assert_non_null(strstr(msg, "compressed byte"));
		assert_non_null(strstr(msg, "decompressed byte"));
	}
	unsigned char *copy = malloc(file->n);
	for (size_t at = 10; at < file->n; at += 37 * 1024 + 11) {
		memcpy(copy, file->p, file->n);
		copy[at] ^= 0x5a;
		write_file(path, copy, file->n);
		int rc = read_damaged(path, kind, &got, msg, sizeof msg);
		/* gzip's CRC and zstd's checksum catch what decoding does not */
		if (rc != SL_IO_CORRUPT)
			fail_msg("byte %zu flipped: %d (%zu bytes) %s", at, rc, got, msg);
	}
	free(copy);
}

static void test_damaged(void **state)
{
	(void)state;
	blob b = gzip_of(data, 1u << 20, 0, 6);
	damage(&b, SL_COMPRESSION_GZIP, false);
	free(b.p);
	b = gzip_of(data, 1u << 20, 200000, 6);
	damage(&b, SL_COMPRESSION_GZIP, true);
	free(b.p);
	b = zstd_of(data, 1u << 20, 0);
	damage(&b, SL_COMPRESSION_ZSTD, false);
	free(b.p);
	b = zstd_of(data, 1u << 20, 200000);
	damage(&b, SL_COMPRESSION_ZSTD, true);
	free(b.p);
	/* an empty file forced as gzip or zstd is corrupt; auto reads it as none */
	char path[400], msg[400];
	size_t got;
	snprintf(path, sizeof path, "%s/empty", dir);
	write_file(path, "", 0);
	assert_int_equal(read_damaged(path, SL_COMPRESSION_GZIP, &got, msg, sizeof msg),
	                 SL_IO_CORRUPT);
	assert_int_equal(read_damaged(path, SL_COMPRESSION_ZSTD, &got, msg, sizeof msg),
	                 SL_IO_CORRUPT);
	assert_int_equal(read_damaged(path, SL_COMPRESSION_AUTO, &got, msg, sizeof msg), 0);
	assert_int_equal(got, 0);
	/* a damaged access point is no point: the range decodes from the start */
	blob g = gzip_of(data, DATA_LEN, 0, 6);
	snprintf(path, sizeof path, "%s/p.gz", dir);
	write_file(path, g.p, g.n);
	sl_source *s = open_file(path, SL_COMPRESSION_GZIP, SL_COMPRESSION_AUTO);
	unsigned char junk[40] = "SLGZ\1\0\7";
	sl_source_reader *r = NULL;
	char *out = malloc(1u << 20);
	assert_int_equal(sl_source_open_range(s, 3u << 20, 5000, junk, sizeof junk, &r), 0);
	assert_int_equal(read_all(r, out, 1u << 20, &got), 0);
	assert_int_equal(got, 5000);
	assert_memory_equal(out, data + (3u << 20), 5000);
	sl_source_reader_close(r);
	sl_source_close(s);
	free(out);
	free(g.p);
}

static void test_registry(void **state)
{
	(void)state;
	sl_source *s = NULL;
	char msg[400];
	sl_compression c;
	assert_int_equal(sl_source_open("nosuch://x/y", NULL, &s, msg, sizeof msg), SL_INVAL);
	assert_non_null(strstr(msg, "nosuch://"));
	assert_int_equal(sl_source_open("/nonexistent/file.csv", NULL, &s, msg, sizeof msg),
	                 SL_IO_OPEN);
	assert_non_null(strstr(msg, "/nonexistent/file.csv"));
	assert_int_equal(sl_source_open(dir, NULL, &s, msg, sizeof msg), SL_IO_OPEN);
	assert_non_null(strstr(msg, "not a regular file"));
	assert_null(s);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(sl_compression_parse(sl_compression_name((sl_compression)i), &c),
		                 0);
		assert_int_equal(c, i);
	}
	assert_int_equal(sl_compression_parse("lz4", &c), SL_INVAL);
}

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/sluice-source-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	make_data();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	free(data);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry),    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_gzip_single), cmocka_unit_test(test_gzip_members),
	    cmocka_unit_test(test_zstd),        cmocka_unit_test(test_damaged),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
