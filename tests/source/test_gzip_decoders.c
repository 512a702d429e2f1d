/*
 * The two gzip decoders (src/source/source_gzip.c: ISA-L's igzip and
 * zlib, chosen by SLUICE_GZIP_DECODER at each reader's open) against each
 * other, on files written by the real tools (gzip, pigz, bgzip) and on a
 * hand-made member with every optional header field placed across the
 * decoder's 256 KiB input reads:
 *
 *   - both give the original bytes, and access points (each decoder finds
 *     its own); a ranged read from any point, by either decoder, gives
 *     exactly its slice (one point format);
 *   - the file truncated at every 4 KiB, and with a byte flipped at every
 *     4 KiB (a varying offset inside each), gives the same result with
 *     both: the same code (IO_CORRUPT naming both offsets), or success with
 *     the same bytes (a cut at a member end), never a crash; what each
 *     yielded before failing is a prefix of the original.
 *
 * In a build without libisal both runs are zlib's (the test says so).
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
#include <zlib.h>

#include "source/source.h"

#define PLAIN_LEN (3u << 20)
#define MAXPTS    32

static const char *decoders[2] = {"isal", "zlib"};
static char *plain; /* the data the files hold, concatenated for several members */
static size_t plain_len;
static char tmp[256];

/* Lines of words and numbers (a word list cycled by a LCG), so deflate
   finds matches of every length, in dynamic blocks. */
static void make_plain(void)
{
	static const char *words[] = {"alpha", "bravo", "charlie", "delta", "echo",
	                              "fox",   "golf",  "hotel",   "india", "juliet",
	                              "kilo",  "lima",  "mike",    "nov",   "oscar"};
	plain = malloc(PLAIN_LEN);
	uint32_t x = 12345;
	size_t at = 0;
	for (unsigned row = 0; at + 96 < PLAIN_LEN; row++) {
		x = x * 1103515245u + 12345u;
		at += (size_t)snprintf(plain + at, 96, "%u;%s %s;%u.%02u;%s\n", row,
		                       words[(x >> 8) % 15], words[(x >> 12) % 15], x >> 20,
		                       (x >> 4) % 100, (x & 64) ? "yes" : "no");
	}
	plain_len = at;
}

static void use(int d)
{
	setenv("SLUICE_GZIP_DECODER", decoders[d], 1);
}

static void spit(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	rewind(f);
	unsigned char *p = malloc(*n ? *n : 1);
	assert_int_equal(fread(p, 1, *n, f), *n);
	fclose(f);
	return p;
}

static void sh(const char *cmd)
{
	if (system(cmd) != 0)
		fail_msg("failed: %s", cmd);
}

typedef struct outcome {
	int rc;
	size_t got;
	char *bytes;
	char msg[SL_SOURCE_MSG];
} outcome;

typedef struct pt {
	uint64_t off;
	sl_buf b;
} pt;

/* Read `path` as gzip with the decoder in use, to the end; points asked
   every 128 KiB of offsets, a little behind the reader (as the split). */
static outcome read_seq(const char *path, pt *pts, size_t *npts)
{
	outcome o = {0};
	sl_source *s = NULL;
	sl_source_opts so = {.compression = SL_COMPRESSION_GZIP};
	sl_compression det;
	char m[400];
	assert_int_equal(sl_source_open_uri(path, &so, &s, &det, m, sizeof m), 0);
	sl_source_reader *r = NULL;
	assert_int_equal(sl_source_open_seq(s, &r), 0);
	size_t cap = 4 * plain_len; /* a flipped byte may decode to more */
	o.bytes = malloc(cap);
	uint64_t next = 128u << 10;
	if (npts)
		*npts = 0;
	for (;;) {
		size_t want = cap - o.got < 77777 ? cap - o.got : 77777;
		ssize_t n = want ? sl_source_read(r, o.bytes + o.got, want) : 1;
		if (n <= 0 || !want) {
			o.rc = want ? (int)n : SL_LIMIT;
			break;
		}
		o.got += (size_t)n;
		while (npts && o.got >= next + (100u << 10) && *npts < MAXPTS) {
			pt *p = &pts[(*npts)++];
			p->off = next;
			sl_buf_init(&p->b, 1u << 20);
			assert_int_equal(sl_source_reader_point(r, next, &p->b), 0);
			next += 128u << 10;
		}
	}
	snprintf(o.msg, sizeof o.msg, "%s", r->msg);
	sl_source_reader_close(r);
	sl_source_close(s);
	return o;
}

/* A ranged read of 100 KiB at p with the decoder in use equals the slice. */
static void check_range(const char *path, const pt *p)
{
	sl_source *s = NULL;
	sl_source_opts so = {.compression = SL_COMPRESSION_GZIP};
	sl_compression det;
	char m[400], *out = malloc(200u << 10);
	assert_int_equal(sl_source_open_uri(path, &so, &s, &det, m, sizeof m), 0);
	sl_source_reader *r = NULL;
	size_t len = 100u << 10, got = 0;
	assert_int_equal(sl_source_open_range(s, p->off, len, p->b.p, p->b.len, &r), 0);
	for (;;) {
		ssize_t n = sl_source_read(r, out + got, (200u << 10) - got);
		if (n < 0)
			fail_msg("range at %llu: %s", (unsigned long long)p->off, r->msg);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	assert_int_equal(got, len);
	assert_memory_equal(out, plain + p->off, len);
	sl_source_reader_close(r);
	sl_source_close(s);
	free(out);
}

/* Both decoders on one file: the same bytes; points from each, ranges
   from each decoder's points by both. */
static void agree(const char *name, size_t min_points)
{
	char path[400];
	snprintf(path, sizeof path, "%s/%s", tmp, name);
	pt pts[2][MAXPTS];
	size_t npts[2], nonempty[2] = {0, 0};
	for (int d = 0; d < 2; d++) {
		use(d);
		outcome o = read_seq(path, pts[d], &npts[d]);
		if (o.rc != 0)
			fail_msg("%s with %s: %d %s", name, decoders[d], o.rc, o.msg);
		assert_int_equal(o.got, plain_len);
		assert_memory_equal(o.bytes, plain, plain_len);
		free(o.bytes);
		for (size_t i = 0; i < npts[d]; i++)
			nonempty[d] += pts[d][i].b.len > 0;
		print_message("%s, %s: %zu points of %zu asked\n", name, decoders[d], nonempty[d],
		              npts[d]);
		if (nonempty[d] < min_points)
			fail_msg("%s with %s: %zu points of %zu, expected %zu", name, decoders[d],
			         nonempty[d], npts[d], min_points);
	}
	for (int from = 0; from < 2; from++)
		for (int d = 0; d < 2; d++) {
			use(d);
			for (size_t i = 0; i < npts[from]; i += 3)
				check_range(path, &pts[from][i]);
		}
	for (int d = 0; d < 2; d++)
		for (size_t i = 0; i < npts[d]; i++)
			sl_buf_free(&pts[d][i].b);
}

/* One damaged file through both decoders: the same outcome. */
static void same_outcome(const char *path, const char *what, bool cut)
{
	outcome o[2];
	for (int d = 0; d < 2; d++) {
		use(d);
		o[d] = read_seq(path, NULL, NULL);
		/* a cut yields a prefix; a flip may yield wrong bytes before the
		   trailer's CRC says so (both decoders: checked at a member's end) */
		if (cut && (o[d].got > plain_len || memcmp(o[d].bytes, plain, o[d].got)))
			fail_msg("%s: %s yielded bytes not in the original", what, decoders[d]);
		/* SL_LIMIT: more bytes than 4 times the original (a flip) */
		if (o[d].rc < 0 && o[d].rc != SL_IO_CORRUPT && (cut || o[d].rc != SL_LIMIT))
			fail_msg("%s: %s: %d %s", what, decoders[d], o[d].rc, o[d].msg);
		if (o[d].rc == SL_IO_CORRUPT && (!strstr(o[d].msg, "compressed byte") ||
		                                 !strstr(o[d].msg, "decompressed byte")))
			fail_msg("%s: %s: no offsets in \"%s\"", what, decoders[d], o[d].msg);
	}
	if (o[0].rc != o[1].rc)
		fail_msg("%s: isal %d (%s), zlib %d (%s)", what, o[0].rc, o[0].msg, o[1].rc,
		         o[1].msg);
	if (o[0].rc == 0) {
		assert_int_equal(o[0].got, o[1].got);
		assert_memory_equal(o[0].bytes, o[1].bytes, o[0].got);
		if (!cut && (o[0].got != plain_len || memcmp(o[0].bytes, plain, plain_len)))
			fail_msg("%s: decoded to other bytes without an error", what);
	}
	free(o[0].bytes);
	free(o[1].bytes);
}

static void damage(const char *name)
{
	char path[400], bad[400], what[500];
	size_t n;
	snprintf(path, sizeof path, "%s/%s", tmp, name);
	snprintf(bad, sizeof bad, "%s/damaged.gz", tmp);
	unsigned char *file = slurp(path, &n);
	for (size_t cut = 0; cut < n; cut += 4096) {
		spit(bad, file, cut);
		snprintf(what, sizeof what, "%s cut at %zu", name, cut);
		same_outcome(bad, what, true);
	}
	for (size_t k = 0, at = 0; at < n; k++, at = k * 4096 + (k * 2654435761u) % 4096) {
		file[at] ^= (unsigned char)(1u << (k % 8));
		spit(bad, file, n);
		file[at] ^= (unsigned char)(1u << (k % 8));
		snprintf(what, sizeof what, "%s, byte %zu flipped", name, at);
		same_outcome(bad, what, false);
	}
	free(file);
}

/* plain[0, plain_len) as plain.csv, and written by the tools: gzip -6 with
   the file's name in the header; pigz; bgzip (BGZF blocks); two members
   by gzip -1 and pigz -9 -i. */
static void make_files(void)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "%s/plain.csv", tmp);
	spit(cmd, plain, plain_len);
	snprintf(cmd, sizeof cmd,
	         "cd '%s' && gzip -6 -c plain.csv > single.gz && pigz -p 2 -c plain.csv > pigz.gz"
	         " && bgzip -c plain.csv > bgzf.gz"
	         " && head -c 300000 plain.csv | gzip -1 > multi.gz"
	         " && tail -c +300001 plain.csv | pigz -9 -i -p 2 >> multi.gz",
	         tmp);
	sh(cmd);
}

static void test_tools(void **state)
{
	(void)state;
	make_files();
	/* one member: points from the second SPAN (1 MiB) on */
	agree("single.gz", 6);
	agree("pigz.gz", 6);
	agree("multi.gz", 6);
	agree("bgzf.gz", 12); /* every member start is a point */
}

static void put_le(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A member with FTEXT, FEXTRA, FNAME, FCOMMENT and FHCRC over in[0, n). */
static size_t member(const char *in, size_t n, int level, unsigned char *out, size_t cap)
{
	static const unsigned char head[] = {0x1f, 0x8b, 8, 0x1f, 1,   2, 3, 4,   0,
	                                     3,    6,    0, 'x',  'y', 2, 0, 'h', 'i'};
	size_t at = sizeof head;
	memcpy(out, head, at);
	memcpy(out + at, "name.csv", 9);
	at += 9;
	memcpy(out + at, "a comment", 10);
	at += 10;
	uLong hc = crc32(0, out, (uInt)at);
	out[at++] = (unsigned char)hc;
	out[at++] = (unsigned char)(hc >> 8);
	z_stream z = {0};
	assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)n;
	z.next_out = out + at;
	z.avail_out = (uInt)(cap - at - 8);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	at += z.total_out;
	deflateEnd(&z);
	put_le(out + at, (uint32_t)crc32(0, (const unsigned char *)in, (uInt)n));
	put_le(out + at + 4, (uint32_t)n);
	return at + 8;
}

/* fields.gz: the second member's 41-byte header across the 256 KiB input
   read: a first member stored (level 0: its size follows its length)
   ending 20 bytes before 256 KiB. */
static void make_fields(void)
{
	size_t cap = plain_len + (1u << 20), first = 262144 - 20 - 200;
	unsigned char *f = malloc(cap);
	size_t n = 0;
	for (int tries = 0; tries < 8; tries++) {
		n = member(plain, first, 0, f, cap);
		if (n == 262144 - 20)
			break;
		first += 262144 - 20 - n;
	}
	assert_int_equal(n, 262144 - 20);
	n += member(plain + first, plain_len - first, 6, f + n, cap - n);
	char path[400];
	snprintf(path, sizeof path, "%s/fields.gz", tmp);
	spit(path, f, n);
	free(f);
}

static void test_header_fields(void **state)
{
	(void)state;
	make_fields();
	agree("fields.gz", 4);
}

/* On files of the first 640 KiB (the work is quadratic in the length). */
static void test_damaged(void **state)
{
	(void)state;
	plain_len = 640u << 10;
	make_files();
	make_fields();
	damage("single.gz");
	damage("multi.gz");
	damage("bgzf.gz");
	damage("fields.gz");
}

static void test_choice(void **state)
{
	(void)state;
	use(1);
	assert_string_equal(sl__source_gzip_decoder(), "zlib");
	use(0);
#ifdef SLUICE_HAVE_ISAL
	assert_string_equal(sl__source_gzip_decoder(), "isal");
#else
	assert_string_equal(sl__source_gzip_decoder(), "zlib");
	print_message("built without libisal: both runs are zlib's\n");
#endif
	unsetenv("SLUICE_GZIP_DECODER");
}

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(tmp, sizeof tmp, "%s/sluice-gzdec-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	make_plain();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	free(plain);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_choice),
	    cmocka_unit_test(test_tools),
	    cmocka_unit_test(test_header_fields),
	    cmocka_unit_test(test_damaged),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
