/*
 * Unit tests of the gate's request framing (src/http/http_frame.c): heads
 * judged one by one on a kept-alive stream, Content-Length and chunked
 * bodies skipped (a body that looks like a bad head is not one), heads and
 * chunk lines cut at any byte, over-long heads and unknown codings passed
 * unchecked. fuzz/fuzz_http.c checks that any stream fed whole and in
 * pieces gets the same verdict at the same byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http/http_frame.h"

/* Feed s in pieces of `step` bytes the way the gate does (what was not
   passed comes again with the next piece): the verdict (0 or the refusal)
   and *at, the bytes passed before it. */
static int feed(const char *s, size_t step, size_t *at, uint64_t *heads)
{
	http_framer f;
	http_frame_init(&f);
	size_t n = strlen(s), ok = 0, have = 0;
	int v = 0;
	for (;;) {
		have = have + step < n ? have + step : n;
		size_t pass = 0, hl = 0;
		v = http_frame_scan(&f, s + ok, have - ok, &pass, &hl);
		ok += pass;
		if (v)
			break;
		if (have == n)
			break;
	}
	*at = ok;
	if (heads)
		*heads = f.heads;
	return v;
}

#define GET "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"

static void test_kept_alive(void **state)
{
	(void)state;
	size_t at;
	uint64_t heads;
	const char *s = GET GET "POST /b HTTP/1.1\r\nContent-Length: x\r\n\r\n";
	for (size_t step = 1; step < 80; step++) {
		assert_int_equal(feed(s, step, &at, &heads), -2);
		assert_int_equal(at, 2 * strlen(GET)); /* both GETs pass, not the third */
		assert_int_equal(heads, 2);
	}
	s = GET "POST /b HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\nab";
	assert_int_equal(feed(s, 7, &at, NULL), -1);
	assert_int_equal(at, strlen(GET));
	/* good heads only: all of it passes, the verdict 0 */
	s = GET "\r\n" GET;
	assert_int_equal(feed(s, 3, &at, &heads), 0);
	assert_int_equal(at, strlen(s));
	assert_int_equal(heads, 2);
}

static void test_bodies(void **state)
{
	(void)state;
	size_t at;
	uint64_t heads;
	/* a Content-Length body holding what looks like a bad head */
	const char *bad = "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"; /* 37 bytes */
	char s[512];
	snprintf(s, sizeof s, "POST /u HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s" GET, strlen(bad),
	         bad);
	for (size_t step = 1; step < 64; step++) {
		assert_int_equal(feed(s, step, &at, &heads), 0);
		assert_int_equal(at, strlen(s));
		assert_int_equal(heads, 2);
	}
	/* chunked, with an extension and a trailer, then a bad head */
	snprintf(s, sizeof s,
	         "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	         "11;x=y\r\nContent-Length: q\r\n0\r\nX-T: 1\r\n\r\n%s",
	         bad);
	const char *tail = strstr(s, "0\r\nX-T");
	for (size_t step = 1; step < 64; step++) {
		assert_int_equal(feed(s, step, &at, &heads), -2);
		assert_int_equal(at, (size_t)(tail - s) + strlen("0\r\nX-T: 1\r\n\r\n"));
		assert_int_equal(heads, 1);
	}
}

static void test_chunked_exact(void **state)
{
	(void)state;
	size_t at;
	uint64_t heads;
	const char *s = "POST /u HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
	                "a\r\n0123456789\r\n0\r\n\r\n"
	                "POST /v HTTP/1.1\r\nContent-Length: 9x\r\n\r\n";
	const char *second = strstr(s, "POST /v");
	for (size_t step = 1; step < 40; step++) {
		assert_int_equal(feed(s, step, &at, &heads), -2);
		assert_int_equal(at, (size_t)(second - s));
		assert_int_equal(heads, 1);
	}
}

static void test_unchecked(void **state)
{
	(void)state;
	size_t at;
	/* an unknown coding: its framing is libmicrohttpd's, all passes */
	const char *s = "POST /u HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxx"
	                "POST /v HTTP/1.1\r\nContent-Length: q\r\n\r\n";
	assert_int_equal(feed(s, 5, &at, NULL), 0);
	assert_int_equal(at, strlen(s));
	/* a broken chunk-size line: the same */
	s = "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
	    "POST /v HTTP/1.1\r\nContent-Length: q\r\n\r\n";
	assert_int_equal(feed(s, 5, &at, NULL), 0);
	assert_int_equal(at, strlen(s));
	/* an over-long head passes unchecked (libmicrohttpd refuses it) */
	static char big[HTTP_FRAME_HEAD_MAX + 200];
	memset(big, 'a', sizeof big - 1);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	assert_int_equal(feed(big, 4096, &at, NULL), 0);
	assert_int_equal(at, strlen(big));
	/* a head not complete yet: nothing of it passes */
	s = GET "GET / HTTP/1.1\r\nHost";
	assert_int_equal(feed(s, 1000, &at, NULL), 0);
	assert_int_equal(at, strlen(GET));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kept_alive),
	    cmocka_unit_test(test_bodies),
	    cmocka_unit_test(test_chunked_exact),
	    cmocka_unit_test(test_unchecked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
