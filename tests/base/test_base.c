/*
 * Unit tests of src/base: the bounded buffer (its ceiling and its failures),
 * JSON string escaping, UTF-8 validation (against a reference decoder
 * written here from RFC 3629's table, over every 1-, 2- and 3-byte
 * sequence), the write loop (short writes, a full device, a closed pipe),
 * the error table, CPU detection (against /proc/cpuinfo) and the clocks.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <cmocka.h>

#include "base/base.h"
#include "sluice/error.h"

/* A refused allocation must come back as NULL (and so SL_NOMEM) under ASan
   and TSan too, not abort the test: they read these before ASAN_OPTIONS /
   TSAN_OPTIONS, which still win for anything they set. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "allocator_may_return_null=1";
}

/* --- sl_buf ------------------------------------------------------------------ */

static void buf_grows_to_its_ceiling_and_no_further(void **state)
{
	(void)state;
	sl_buf b;
	sl_buf_init(&b, 1000);
	char chunk[300];
	memset(chunk, 'a', sizeof chunk);
	assert_int_equal(sl_buf_append(&b, chunk, 300), 0);
	assert_int_equal(sl_buf_append(&b, chunk, 300), 0);
	assert_int_equal(sl_buf_append(&b, chunk, 300), 0);
	assert_int_equal(b.len, 900);
	assert_true(b.cap <= b.max);
	/* 101 more would be 1001 > 1000: refused, nothing changed */
	size_t cap = b.cap;
	assert_int_equal(sl_buf_append(&b, chunk, 101), SL_LIMIT);
	assert_int_equal(b.len, 900);
	assert_int_equal(b.cap, cap);
	/* exactly to the ceiling is allowed */
	assert_int_equal(sl_buf_append(&b, chunk, 100), 0);
	assert_int_equal(b.len, 1000);
	assert_int_equal(b.cap, 1000);
	assert_int_equal(sl_buf_append(&b, chunk, 1), SL_LIMIT);
	for (size_t i = 0; i < b.len; i++)
		assert_int_equal(b.p[i], 'a');
	/* reset keeps the memory, free gives it back */
	sl_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 1000);
	assert_int_equal(sl_buf_append(&b, "xyz", 3), 0);
	assert_memory_equal(b.p, "xyz", 3);
	sl_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len + b.cap, 0);
}

static void buf_keeps_bytes_in_order_across_growth(void **state)
{
	(void)state;
	sl_buf b;
	sl_buf_init(&b, 1 << 20);
	for (unsigned i = 0; i < 100000; i++) {
		unsigned char c = (unsigned char)(i * 7 + 3);
		assert_int_equal(sl_buf_append(&b, &c, 1), 0);
		assert_true(b.cap <= b.max && b.len <= b.cap);
	}
	for (unsigned i = 0; i < 100000; i++)
		assert_int_equal((unsigned char)b.p[i], (unsigned char)(i * 7 + 3));
	sl_buf_free(&b);
}

static void buf_refuses_sizes_that_overflow(void **state)
{
	(void)state;
	sl_buf b;
	sl_buf_init(&b, SIZE_MAX);
	assert_int_equal(sl_buf_append(&b, "ab", 2), 0);
	/* len + extra wraps around: a limit, not a tiny allocation */
	assert_int_equal(sl_buf_reserve(&b, SIZE_MAX), SL_LIMIT);
	assert_int_equal(sl_buf_reserve(&b, SIZE_MAX - 1), SL_LIMIT);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.p, "ab", 2);
	/* nothing to add: always fine */
	assert_int_equal(sl_buf_reserve(&b, 0), 0);
	assert_int_equal(sl_buf_append(&b, NULL, 0), 0);
	sl_buf_free(&b);
}

static void buf_reports_nomem_when_the_allocator_refuses(void **state)
{
	(void)state;
	sl_buf b;
	sl_buf_init(&b, SIZE_MAX);
	assert_int_equal(sl_buf_append(&b, "ab", 2), 0);
	/* 2^62 bytes: within the ceiling, beyond any machine */
	assert_int_equal(sl_buf_reserve(&b, (size_t)1 << 62), SL_NOMEM);
	/* the buffer is as it was */
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.p, "ab", 2);
	sl_buf_free(&b);
}

/* --- sl_json ------------------------------------------------------------------ */

static char *json_of(const char *p, size_t n)
{
	static char out[1024];
	FILE *f = fmemopen(out, sizeof out, "w");
	assert_non_null(f);
	sl_json_str(f, p, n);
	long len = ftell(f);
	fclose(f);
	assert_true(len >= 0 && (size_t)len < sizeof out);
	out[len] = 0;
	return out;
}
#define J(lit) json_of(lit, sizeof(lit) - 1)

static void json_escapes_what_rfc8259_requires(void **state)
{
	(void)state;
	assert_string_equal(J(""), "\"\"");
	assert_string_equal(J("plain text"), "\"plain text\"");
	assert_string_equal(J("a\"b\\c"), "\"a\\\"b\\\\c\"");
	assert_string_equal(J("\n\r\t"), "\"\\n\\r\\t\"");
	assert_string_equal(J("\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\"");
	assert_string_equal(J("nul\0byte"), "\"nul\\u0000byte\"");
	/* '/' needs no escape */
	assert_string_equal(J("a/b"), "\"a/b\"");
}

static void json_passes_valid_utf8_and_escapes_bad_bytes(void **state)
{
	(void)state;
	assert_string_equal(J("\xc3\xa9t\xc3\xa9"), "\"\xc3\xa9t\xc3\xa9\"");
	assert_string_equal(J("\xe2\x82\xac \xf0\x9f\x98\x80"),
	                    "\"\xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* lone continuation, overlong, surrogate, above U+10FFFF, cut short */
	assert_string_equal(J("\x80"), "\"\\u0080\"");
	assert_string_equal(J("\xc0\x80"), "\"\\u00c0\\u0080\"");
	assert_string_equal(J("\xed\xa0\x80"), "\"\\u00ed\\u00a0\\u0080\"");
	assert_string_equal(J("\xf4\x90\x80\x80"), "\"\\u00f4\\u0090\\u0080\\u0080\"");
	assert_string_equal(J("ab\xe2\x82"), "\"ab\\u00e2\\u0082\"");
	/* the view's length is honoured: a sequence is not completed from
	   bytes past it */
	assert_string_equal(json_of("\xc3\xa9", 1), "\"\\u00c3\"");
}

/* --- UTF-8 -------------------------------------------------------------------- */

/* Reference: 1 + offset of the first bad byte, or 0; written from RFC 3629
   section 4 (the byte ranges), independently of src/base/utf8.c. */
static size_t ref_utf8(const unsigned char *p, size_t n, bool nul_bad, size_t *cps)
{
	size_t i = 0, count = 0;
	while (i < n) {
		unsigned c = p[i];
		size_t len;
		unsigned lo = 0x80, hi = 0xbf;
		if (c == 0 && nul_bad)
			return i + 1;
		if (c <= 0x7f)
			len = 1;
		else if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c == 0xe0)
			len = 3, lo = 0xa0;
		else if (c == 0xed)
			len = 3, hi = 0x9f;
		else if (c >= 0xe1 && c <= 0xef)
			len = 3;
		else if (c == 0xf0)
			len = 4, lo = 0x90;
		else if (c == 0xf4)
			len = 4, hi = 0x8f;
		else if (c >= 0xf1 && c <= 0xf3)
			len = 4;
		else
			return i + 1;
		if (i + len > n)
			return i + 1;
		for (size_t k = 1; k < len; k++) {
			unsigned lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xbf;
			if (p[i + k] < lo_k || p[i + k] > hi_k)
				return i + 1;
		}
		i += len;
		count++;
	}
	*cps = count;
	return 0;
}

static void check_utf8(const unsigned char *p, size_t n)
{
	for (int nb = 0; nb < 2; nb++) {
		size_t want_cps = 0, got_cps = 0;
		bool nul = false;
		size_t want = ref_utf8(p, n, nb, &want_cps);
		size_t got = sl_utf8_scan((const char *)p, n, nb, &got_cps, &nul);
		if (got != want)
			fail_msg("sl_utf8_scan of %zu bytes %02x %02x %02x %02x (nul_bad %d): %zu, "
			         "want %zu",
			         n, n > 0 ? p[0] : 0, n > 1 ? p[1] : 0, n > 2 ? p[2] : 0,
			         n > 3 ? p[3] : 0, nb, got, want);
		if (!want)
			assert_int_equal(got_cps, want_cps);
		if (got)
			assert_int_equal(nul, nb && p[got - 1] == 0);
	}
}

static void utf8_matches_the_rfc_on_every_short_sequence(void **state)
{
	(void)state;
	unsigned char b[4];
	for (unsigned x = 0; x < 256; x++) {
		b[0] = (unsigned char)x;
		check_utf8(b, 1);
	}
	for (unsigned x = 0; x < 65536; x++) {
		b[0] = (unsigned char)(x >> 8);
		b[1] = (unsigned char)x;
		check_utf8(b, 2);
	}
	/* every 3-byte sequence that starts with a lead byte, and a sample of
	   the rest */
	for (unsigned x = 0; x < (1u << 24); x++) {
		b[0] = (unsigned char)(x >> 16);
		if (b[0] < 0xc0 && (x & 0xfff))
			continue;
		b[1] = (unsigned char)(x >> 8);
		b[2] = (unsigned char)x;
		check_utf8(b, 3);
	}
	/* 4-byte leads with boundary continuation bytes */
	static const unsigned char cont[] = {0x00, 0x7f, 0x80, 0x8f, 0x90,
	                                     0x9f, 0xa0, 0xbf, 0xc0, 0xff};
	for (unsigned lead = 0xf0; lead <= 0xf7; lead++)
		for (size_t i = 0; i < sizeof cont; i++)
			for (size_t j = 0; j < sizeof cont; j++)
				for (size_t k = 0; k < sizeof cont; k++) {
					b[0] = (unsigned char)lead;
					b[1] = cont[i];
					b[2] = cont[j];
					b[3] = cont[k];
					check_utf8(b, 4);
				}
}

static void utf8_finds_a_bad_byte_at_every_offset_of_a_long_run(void **state)
{
	(void)state;
	/* the eight-bytes-at-a-time path: a bad byte (or a NUL) at each
	   position of an ASCII run, and a multi-byte char straddling words */
	unsigned char s[64];
	static const unsigned char bad[] = {0x80, 0xff, 0x00, 0xc3};
	for (size_t k = 0; k < sizeof bad; k++)
		for (size_t pos = 0; pos < sizeof s; pos++) {
			memset(s, 'a', sizeof s);
			s[pos] = bad[k];
			check_utf8(s, sizeof s);
			check_utf8(s, pos + 1);
		}
	for (size_t pos = 0; pos + 4 <= sizeof s; pos++) {
		memset(s, 'b', sizeof s);
		memcpy(s + pos, "\xf0\x9f\x98\x80", 4);
		size_t cps = 0;
		assert_int_equal(sl_utf8_scan((const char *)s, sizeof s, true, &cps, NULL), 0);
		assert_int_equal(cps, sizeof s - 3);
	}
	assert_int_equal(sl_utf8_scan("", 0, true, NULL, NULL), 0);
}

/* --- sl_write_all ---------------------------------------------------------------- */

static void write_all_writes_everything(void **state)
{
	(void)state;
	char path[] = "/tmp/sluice_test_base_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	size_t n = 3 << 20;
	unsigned char *p = malloc(n), *q = malloc(n);
	assert_non_null(p);
	assert_non_null(q);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 >> 3);
	size_t done = 0;
	assert_int_equal(sl_write_all(fd, p, n, &done), 0);
	assert_int_equal(done, n);
	assert_int_equal(pread(fd, q, n, 0), (ssize_t)n);
	assert_memory_equal(p, q, n);
	close(fd);
	free(p);
	free(q);
}

static void write_all_reports_a_full_device(void **state)
{
	(void)state;
	int fd = open("/dev/full", O_WRONLY);
	if (fd < 0)
		skip();
	size_t done = 99;
	assert_int_equal(sl_write_all(fd, "abc", 3, &done), ENOSPC);
	assert_int_equal(done, 0);
	close(fd);
}

static void write_all_reports_a_closed_pipe_and_what_went_before(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	/* a pipe holds 64 KiB by default: fill part of it, then close the reader */
	size_t done = 0;
	assert_int_equal(sl_write_all(fds[1], "0123456789", 10, &done), 0);
	assert_int_equal(done, 10);
	close(fds[0]);
	assert_int_equal(sl_write_all(fds[1], "abc", 3, &done), EPIPE);
	assert_int_equal(done, 0);
	close(fds[1]);
	assert_int_equal(sl_write_all(-1, "abc", 3, NULL), EBADF);
	signal(SIGPIPE, old);
}

/* --- the error table ------------------------------------------------------------- */

static void error_table_is_consistent(void **state)
{
	(void)state;
	assert_int_equal(sl_error_at(0), SL_OK);
	for (int i = 0; i < SL_ERROR_COUNT; i++) {
		int c = sl_error_at(i);
		assert_int_equal(sl_error_index(c), i);
		const char *name = sl_error_name(c);
		assert_string_not_equal(name, "UNKNOWN");
		assert_int_equal(sl_error_from_name(name), c);
		assert_true(strlen(sl_error_message(c)) > 0);
		for (int k = 0; k < i; k++) {
			assert_int_not_equal(sl_error_at(k), c);
			assert_string_not_equal(sl_error_name(sl_error_at(k)), name);
		}
		/* the groups of DEVELOPERS.md: row codes are the CSV, validation
		   and duplicate ones, and the rows a database refuses
		   (DB_CONSTRAINT, DB_VALUE), and only they */
		bool row = (c <= -100 && c > -400) || c == SL_DB_CONSTRAINT || c == SL_DB_VALUE;
		assert_int_equal(sl_error_class(c) == SL_CLASS_ROW, row);
		assert_true(c <= 0);
		assert_int_equal(sl_error_class(c) == SL_CLASS_NONE, c == 0);
	}
	assert_int_equal(sl_error_class(SL_DB_BUSY), SL_CLASS_RETRY);
	assert_int_equal(sl_error_class(SL_IO_READ), SL_CLASS_RETRY);
	assert_int_equal(sl_error_class(SL_DB_ERROR), SL_CLASS_FATAL);
	assert_string_equal(sl_error_name(SL_CSV_STRAY_QUOTE), "CSV_STRAY_QUOTE");
	/* what is not in the table */
	assert_string_equal(sl_error_name(-9999), "UNKNOWN");
	assert_string_equal(sl_error_name(5), "UNKNOWN");
	assert_string_equal(sl_error_message(-9999), "unknown error");
	assert_int_equal(sl_error_class(-9999), SL_CLASS_FATAL);
	assert_int_equal(sl_error_index(-9999), -1);
	assert_int_equal(sl_error_at(-1), SL_INTERNAL);
	assert_int_equal(sl_error_at(SL_ERROR_COUNT), SL_INTERNAL);
	assert_int_equal(sl_error_from_name("NOPE"), 1);
	assert_int_equal(sl_error_from_name("db_busy"), 1); /* case-sensitive */
}

/* --- CPU and clocks ---------------------------------------------------------------- */

/* Is `flag` a word of the first "flags" line of /proc/cpuinfo? -1: no file. */
static int cpuinfo_has(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return -1;
	static char line[8192];
	int r = -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		r = 0;
		for (char *w = strtok(strchr(line, ':') + 1, " \t\n"); w; w = strtok(NULL, " \t\n"))
			if (!strcmp(w, flag))
				r = 1;
		break;
	}
	fclose(f);
	return r;
}

static void cpu_detection_agrees_with_the_kernel(void **state)
{
	(void)state;
	const sl_cpu *c = sl_cpu_get();
	assert_ptr_equal(c, sl_cpu_get());
#if defined(__x86_64__)
	if (cpuinfo_has("sse2") < 0)
		skip();
	assert_true(c->sse2); /* part of x86-64 itself */
	assert_int_equal(c->avx2, cpuinfo_has("avx2"));
	assert_int_equal(c->pclmul, cpuinfo_has("pclmulqdq"));
	assert_int_equal(c->bmi1, cpuinfo_has("bmi1"));
	assert_int_equal(c->popcnt, cpuinfo_has("popcnt"));
#else
	assert_false(c->avx2);
#endif
}

static void clocks_move_forward_and_tell_the_time(void **state)
{
	(void)state;
	double a = sl_now();
	int64_t ms = sl_now_ms();
	int64_t wall = (int64_t)time(NULL) * 1000;
	assert_true(ms >= wall - 2000 && ms <= wall + 2000);
	struct timespec ts = {0, 2000000};
	nanosleep(&ts, NULL);
	double b = sl_now();
	assert_true(b - a >= 0.002 && b - a < 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(buf_grows_to_its_ceiling_and_no_further),
	    cmocka_unit_test(buf_keeps_bytes_in_order_across_growth),
	    cmocka_unit_test(buf_refuses_sizes_that_overflow),
	    cmocka_unit_test(buf_reports_nomem_when_the_allocator_refuses),
	    cmocka_unit_test(json_escapes_what_rfc8259_requires),
	    cmocka_unit_test(json_passes_valid_utf8_and_escapes_bad_bytes),
	    cmocka_unit_test(utf8_matches_the_rfc_on_every_short_sequence),
	    cmocka_unit_test(utf8_finds_a_bad_byte_at_every_offset_of_a_long_run),
	    cmocka_unit_test(write_all_writes_everything),
	    cmocka_unit_test(write_all_reports_a_full_device),
	    cmocka_unit_test(write_all_reports_a_closed_pipe_and_what_went_before),
	    cmocka_unit_test(error_table_is_consistent),
	    cmocka_unit_test(cpu_detection_agrees_with_the_kernel),
	    cmocka_unit_test(clocks_move_forward_and_tell_the_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
