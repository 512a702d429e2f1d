/*
 * Unit tests of the set source (src/source/source_multi.c) through the
 * interface only (source.h), on real files in a temporary directory: a
 * plain part, a gzip part of many members without its last newline, a
 * header-only part and a zstd part of many frames, read as one stream.
 *
 *   - the sequential reader gives the first part whole, then every other
 *     part without its header, a newline added where a part lacks its last
 *     one; it learns each part's layout (offset, length, newline, XXH3 of
 *     its decoded bytes) and stat then knows the stream's size;
 *   - the forced cuts are the parts' starts; part_at maps an offset to its
 *     part and never to an empty one;
 *   - ranged readers inside one part, from the points the sequential
 *     reader handed out and without any, give exactly the stream's slice,
 *     on several threads at once over one source;
 *   - a second source with the layout set (a resume: no sequential read)
 *     gives the same slices, and an offset past every part is IO_CHANGED.
 */
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

#define NPARTS   4
#define HEADER   "a,b,c\n"
#define PART_LEN (700u << 10)

static char dir[256];
static char *plain[NPARTS]; /* each part's decoded bytes */
static size_t plen[NPARTS];
static char *stream; /* what the set must yield */
static size_t slen;
static uint64_t vbase[NPARTS], vlen[NPARTS];

static size_t lines(char *p, size_t cap, uint64_t seed)
{
	size_t i = 0;
	uint64_t x = seed;
	while (i + 64 < cap) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		i += (size_t)snprintf(p + i, cap - i, "%llu,v%llu,%llu\n",
		                      (unsigned long long)(x % 1000003),
		                      (unsigned long long)(x >> 44), (unsigned long long)(x % 31));
	}
	return i;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* gzip members of 100 KiB input each */
static void write_gzip(const char *path, const char *in, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t at = 0; at < n;) {
		size_t len = n - at > (100u << 10) ? (100u << 10) : n - at;
		z_stream z = {0};
		assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY),
		                 Z_OK);
		uLong bound = deflateBound(&z, (uLong)len);
		unsigned char *out = malloc(bound);
		z.next_in = (unsigned char *)in + at;
		z.avail_in = (uInt)len;
		z.next_out = out;
		z.avail_out = (uInt)bound;
		assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
		fwrite(out, 1, bound - z.avail_out, f);
		deflateEnd(&z);
		free(out);
		at += len;
	}
	fclose(f);
}

/* zstd frames of 128 KiB input each */
static void write_zstd(const char *path, const char *in, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t at = 0; at < n;) {
		size_t len = n - at > (128u << 10) ? (128u << 10) : n - at;
		size_t bound = ZSTD_compressBound(len);
		char *out = malloc(bound);
		size_t r = ZSTD_compress(out, bound, in + at, len, 3);
		assert_false(ZSTD_isError(r));
		fwrite(out, 1, r, f);
		free(out);
		at += len;
	}
	fclose(f);
}

static char path[NPARTS][400];

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/sluice-multi-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	for (int k = 0; k < NPARTS; k++) {
		plain[k] = malloc(PART_LEN + 64);
		memcpy(plain[k], HEADER, sizeof HEADER - 1);
		plen[k] = sizeof HEADER - 1;
		if (k != 2) /* part 2: its header only */
			plen[k] += lines(plain[k] + plen[k], PART_LEN - plen[k],
			                 88172645463325252ull + (uint64_t)k);
		snprintf(path[k], sizeof path[k], "%s/part%d", dir, k);
	}
	plen[1]--; /* part 1 ends without its newline */
	write_file(path[0], plain[0], plen[0]);
	write_gzip(path[1], plain[1], plen[1]);
	write_file(path[2], plain[2], plen[2]);
	write_zstd(path[3], plain[3], plen[3]);
	/* the stream: part 0 whole, the others without their header */
	stream = malloc(NPARTS * PART_LEN + 64);
	for (int k = 0; k < NPARTS; k++) {
		size_t skip = k ? sizeof HEADER - 1 : 0;
		vbase[k] = slen;
		memcpy(stream + slen, plain[k] + skip, plen[k] - skip);
		slen += plen[k] - skip;
		if (plen[k] > skip && plain[k][plen[k] - 1] != '\n')
			stream[slen++] = '\n';
		vlen[k] = slen - vbase[k];
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	for (int k = 0; k < NPARTS; k++)
		free(plain[k]);
	free(stream);
	return system(cmd) == 0 ? 0 : -1;
}

static sl_source *open_set(void)
{
	sl_source *parts[NPARTS], *s = NULL;
	uint64_t skip[NPARTS];
	char msg[400];
	for (int k = 0; k < NPARTS; k++) {
		sl_source_opts o = {.compression = SL_COMPRESSION_AUTO};
		if (sl_source_open_uri(path[k], &o, &parts[k], NULL, msg, sizeof msg) < 0)
			fail_msg("%s: %s", path[k], msg);
		skip[k] = k ? sizeof HEADER - 1 : 0;
	}
	assert_int_equal(sl_source_multi_new("files:test", parts, skip, NPARTS, &s), 0);
	assert_true(sl_source_is_multi(s));
	return s;
}

/* the slice [off, off + len) through a ranged reader */
static void check_range(sl_source *s, uint64_t off, uint64_t len, const sl_buf *at)
{
	sl_source_reader *r = NULL;
	char *got = malloc(len + 1);
	size_t n = 0;
	assert_int_equal(sl_source_open_range(s, off, len, at ? at->p : NULL, at ? at->len : 0, &r),
	                 0);
	for (;;) {
		ssize_t k = sl_source_read(r, got + n, len + 1 - n < 8192 ? len + 1 - n : 8192);
		assert_true(k >= 0);
		if (k == 0)
			break;
		n += (size_t)k;
		assert_true(n <= len);
	}
	sl_source_reader_close(r);
	if (n != len || memcmp(got, stream + off, len))
		fail_msg("range %llu+%llu: %zu bytes, %s", (unsigned long long)off,
		         (unsigned long long)len, n, n == len ? "other bytes" : "another length");
	free(got);
}

typedef struct pt {
	uint64_t off;
	sl_buf b;
} pt;

#define NPT 32
static pt pts[NPT];
static size_t npts;

static void test_sequential(void **state)
{
	(void)state;
	sl_source *s = open_set();
	sl_source_reader *r = NULL;
	sl_source_stat st;
	assert_int_equal(sl_source_stat_get(s, &st), 0);
	assert_false(st.size_known); /* compressed parts: not before a read */
	assert_int_equal(sl_source_open_seq(s, &r), 0);
	char *got = malloc(slen + 1);
	size_t n = 0;
	uint64_t next = 0;
	for (;;) {
		ssize_t k = sl_source_read(r, got + n, slen + 1 - n < 65536 ? slen + 1 - n : 65536);
		assert_true(k >= 0);
		if (k == 0)
			break;
		n += (size_t)k;
		/* a point a little behind the reader, as the split asks */
		if (n > 70000 && n - 70000 >= next && npts < NPT) {
			uint64_t off = n - 70000;
			sl_buf_init(&pts[npts].b, 1u << 20);
			assert_int_equal(sl_source_reader_point(r, off, &pts[npts].b), 0);
			if (pts[npts].b.len) {
				pts[npts].off = off;
				npts++;
			} else {
				sl_buf_free(&pts[npts].b);
			}
			next = off + 150000;
		}
	}
	sl_source_reader_close(r);
	assert_int_equal(n, slen);
	assert_memory_equal(got, stream, slen);
	free(got);
	assert_true(npts >= 8);
	/* the layout learned */
	for (int k = 0; k < NPARTS; k++) {
		sl_multi_layout l;
		assert_int_equal(sl_source_multi_layout(s, (size_t)k, &l), 0);
		assert_true(l.known);
		assert_int_equal(l.vbase, vbase[k]);
		assert_int_equal(l.vlen, vlen[k]);
		assert_int_equal(l.nl, k == 1);
		assert_int_equal(l.hash, XXH3_64bits(plain[k], plen[k]));
	}
	assert_int_equal(sl_source_stat_get(s, &st), 0);
	assert_true(st.size_known);
	assert_int_equal(st.size, slen);
	/* the cuts: every part's start after `from` (the empty part 2 shares
	   part 3's start) */
	assert_int_equal(sl_source_multi_cut(s, 0), vbase[1]);
	assert_int_equal(sl_source_multi_cut(s, vbase[1]), vbase[3]);
	assert_int_equal(sl_source_multi_cut(s, vbase[3]), UINT64_MAX);
	assert_int_equal(sl_source_multi_part_at(s, 0), 0);
	assert_int_equal(sl_source_multi_part_at(s, vbase[1]), 1);
	assert_int_equal(sl_source_multi_part_at(s, vbase[3]), 3); /* never the empty part 2 */
	assert_int_equal(sl_source_multi_part_at(s, slen), -1);
	sl_source_close(s);
}

typedef struct job {
	sl_source *s;
	unsigned seed;
} job;

/* ranges inside one part, from a point when one is at or before their start */
static void *ranges(void *arg)
{
	job *j = arg;
	unsigned x = j->seed;
	for (int i = 0; i < 24; i++) {
		x = x * 1103515245u + 12345u;
		int k = (int)(x % NPARTS);
		if (!vlen[k])
			continue;
		x = x * 1103515245u + 12345u;
		uint64_t off = vbase[k] + x % vlen[k];
		x = x * 1103515245u + 12345u;
		uint64_t len = 1 + x % (vbase[k] + vlen[k] - off);
		const sl_buf *at = NULL;
		for (size_t p = 0; p < npts && (i & 1); p++)
			if (pts[p].off <= off && pts[p].off >= vbase[k])
				at = &pts[p].b;
		check_range(j->s, off, len, at);
	}
	return NULL;
}

static void test_ranges(void **state)
{
	(void)state;
	sl_source *s = open_set();
	sl_source_reader *r = NULL;
	char buf[65536];
	assert_int_equal(sl_source_open_seq(s, &r), 0);
	while (sl_source_read(r, buf, sizeof buf) > 0)
		;
	sl_source_reader_close(r);
	/* every part whole, and the added newline's chunk */
	for (int k = 0; k < NPARTS; k++)
		if (vlen[k])
			check_range(s, vbase[k], vlen[k], NULL);
	check_range(s, vbase[1] + vlen[1] - 10, 10, NULL);
	pthread_t t[3];
	job jobs[3];
	for (int i = 0; i < 3; i++) {
		jobs[i] = (job){s, 7u + (unsigned)i};
		assert_int_equal(pthread_create(&t[i], NULL, ranges, &jobs[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	sl_source_close(s);
}

/* a resume: the layout from the manifest, no sequential read */
static void test_layout_set(void **state)
{
	(void)state;
	sl_source *s = open_set();
	for (int k = 0; k < NPARTS; k++) {
		sl_multi_layout l = {vbase[k], vlen[k], k == 1, XXH3_64bits(plain[k], plen[k]),
		                     true};
		assert_int_equal(sl_source_multi_set_layout(s, (size_t)k, &l), 0);
	}
	sl_source_stat st;
	assert_int_equal(sl_source_stat_get(s, &st), 0);
	assert_true(st.size_known);
	assert_int_equal(st.size, slen);
	job j = {s, 99};
	ranges(&j);
	check_range(s, vbase[3] + 5, vlen[3] - 5, NULL);
	sl_source_reader *r = NULL;
	assert_int_equal(sl_source_open_range(s, slen + 10, 5, NULL, 0, &r), SL_IO_CHANGED);
	assert_null(r);
	sl_source_close(s);
	for (size_t p = 0; p < npts; p++)
		sl_buf_free(&pts[p].b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sequential),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_layout_set),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
