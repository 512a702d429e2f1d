/*
 * Unit tests of the request parsers that are ours (src/http/http_parse.c):
 * header numbers, several Content-Length headers, strict base64, tus
 * Upload-Metadata, control bytes in the raw target, query names counted as
 * libmicrohttpd decodes them (a signed URL's parameters), and streaming
 * multipart/form-data (whole and byte by byte alike). The
 * same functions are fuzzed by fuzz/fuzz_http.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http/http_parse.h"

static void test_u64(void **state)
{
	(void)state;
	uint64_t v = 0;
	assert_true(http_parse_u64("0", &v));
	assert_int_equal(v, 0);
	assert_true(http_parse_u64("18446744073709551615", &v));
	assert_true(v == UINT64_MAX);
	assert_false(http_parse_u64("18446744073709551616", &v)); /* overflow */
	assert_false(http_parse_u64("", &v));
	assert_false(http_parse_u64(NULL, &v));
	assert_false(http_parse_u64("-1", &v));
	assert_false(http_parse_u64("+1", &v));
	assert_false(http_parse_u64(" 1", &v));
	assert_false(http_parse_u64("1 ", &v));
	assert_false(http_parse_u64("1x", &v));
	assert_false(http_parse_u64("0x10", &v));
}

static void test_content_length(void **state)
{
	(void)state;
	uint64_t n = 0;
	const char *one[] = {"42"}, *same[] = {"42", "42"}, *differ[] = {"5", "6"},
	           *bad[] = {"abc"}, *bad2[] = {"5", "5x"}, *neg[] = {"-5"};
	assert_int_equal(http_content_length(one, 1, &n), 0);
	assert_int_equal(n, 42);
	assert_int_equal(http_content_length(same, 2, &n), 0);
	assert_int_equal(http_content_length(differ, 2, &n), -1);
	assert_int_equal(http_content_length(bad, 1, &n), -2);
	assert_int_equal(http_content_length(bad2, 2, &n), -2);
	assert_int_equal(http_content_length(neg, 1, &n), -2);
}

static void test_base64(void **state)
{
	(void)state;
	unsigned char out[64];
	char enc[64];
	assert_int_equal(http_b64_decode("Y2Ry", 4, out, sizeof out), 3);
	assert_memory_equal(out, "cdr", 3);
	assert_int_equal(http_b64_decode("eA==", 4, out, sizeof out), 1);
	assert_int_equal(http_b64_decode("eA", 2, out, sizeof out), 1); /* padding optional */
	assert_int_equal(http_b64_decode("", 0, out, sizeof out), 0);
	assert_int_equal(http_b64_decode("e", 1, out, sizeof out), -1);    /* a lone character */
	assert_int_equal(http_b64_decode("Y2R!", 4, out, sizeof out), -1); /* not the alphabet */
	assert_int_equal(http_b64_decode("Y2-y", 4, out, sizeof out),
	                 -1); /* url-safe is not standard */
	assert_int_equal(http_b64_decode("Y2 y", 4, out, sizeof out), -1);
	assert_int_equal(http_b64_decode("Y2Ry", 4, out, 2), -1); /* over max */
	http_b64_encode((const unsigned char *)"x.csv", 5, enc);
	assert_string_equal(enc, "eC5jc3Y=");
}

static void test_tus_metadata(void **state)
{
	(void)state;
	char ds[TUS_DATASET_MAX + 1], fn[TUS_B64_MAX + 1];
	assert_null(http_tus_metadata("dataset Y2Ry", ds, fn));
	assert_string_equal(ds, "cdr");
	assert_string_equal(fn, "");
	assert_null(http_tus_metadata("filename eC5jc3Y,dataset Y2Ry", ds, fn));
	assert_string_equal(fn, "eC5jc3Y="); /* re-encoded canonically */
	assert_null(http_tus_metadata(" dataset Y2Ry , note aGk= ", ds, fn));
	assert_null(http_tus_metadata("dataset Y2Ry,flag", ds, fn)); /* a key without a value */
	assert_non_null(http_tus_metadata("note aGk=", ds, fn));     /* no dataset */
	assert_non_null(http_tus_metadata("dataset", ds, fn));       /* empty dataset */
	assert_non_null(http_tus_metadata("dataset Y2Ry,dataset Y2Ry", ds, fn));
	assert_non_null(http_tus_metadata("dataset Y2R!", ds, fn));
	assert_non_null(
	    http_tus_metadata("dataset Y2Ry,note !!", ds, fn)); /* another key's value */
	assert_non_null(http_tus_metadata("dataset Y2Ry,,note aGk=", ds, fn));
	assert_non_null(http_tus_metadata("dataset AA==", ds, fn));    /* a NUL byte */
	assert_non_null(http_tus_metadata("dat\x01set Y2Ry", ds, fn)); /* a control byte in a key */
}

static void test_target(void **state)
{
	(void)state;
	assert_false(http_target_bad("/healthz/live"));
	assert_false(http_target_bad("/v1/jobs?limit=5&status=Failed"));
	assert_false(http_target_bad("/v1/jobs?x=%00")); /* a value: the route's business */
	assert_false(http_target_bad("/a%2fb%20c"));
	assert_false(http_target_bad("/a%zz")); /* not an escape: a plain % */
	assert_true(http_target_bad("/healthz/live%00"));
	assert_true(http_target_bad("/healthz/live%00/x"));
	assert_true(http_target_bad("/v1/jobs/j%1F"));
	assert_true(http_target_bad("/v1/jobs/j%7f"));
	assert_true(http_target_bad("/v1/\x01jobs"));
	assert_true(http_target_bad("/v1/jobs?li%0amit=1"));
	assert_true(http_target_bad("/v1/jobs?a=1&%00=2"));
}

static void test_query_count(void **state)
{
	(void)state;
	const char *u = "/v1/datasets/cdr/uploads?expires=1&nonce=ab&signature=cd";
	assert_int_equal(http_query_count(u, "expires"), 1);
	assert_int_equal(http_query_count(u, "nonce"), 1);
	assert_int_equal(http_query_count(u, "signature"), 1);
	assert_int_equal(http_query_count(u, "sig"), 0);
	assert_int_equal(http_query_count("/x?signature=1&signature=2", "signature"), 2);
	/* names are compared decoded, as libmicrohttpd reads them */
	assert_int_equal(http_query_count("/x?signature=1&signatur%65=2", "signature"), 2);
	assert_int_equal(http_query_count("/x?signature&signature=", "signature"), 2);
	assert_int_equal(http_query_count("/x?a+b=1", "a b"), 1);
	assert_int_equal(http_query_count("/x", "signature"), 0);
	assert_int_equal(http_query_count("/x?", "signature"), 0);
	assert_int_equal(http_query_count("/x?&&signature=1&", "signature"), 1);
	assert_int_equal(http_query_count("/x?signatures=1", "signature"), 0);
}

/* multipart: what the parts named file carry, fed whole and byte by byte */
typedef struct got {
	char buf[512];
	size_t n;
	unsigned starts;
} got;

static void collect(void *ctx, const char *p, size_t n)
{
	got *g = ctx;
	if (!p) {
		g->starts++;
		return;
	}
	assert_true(g->n + n < sizeof g->buf);
	memcpy(g->buf + g->n, p, n);
	g->n += n;
}

/* the parse of body under ct, whole and then one byte at a time: the same */
static int mp_parse(const char *ct, const char *body, got *g)
{
	http_mp m;
	got one = {{0}, 0, 0};
	memset(g, 0, sizeof *g);
	if (http_mp_init(&m, ct, collect, g) < 0)
		return -2;
	int rc = http_mp_feed(&m, body, strlen(body)) < 0 ? -1 : http_mp_end(&m);
	if (http_mp_init(&m, ct, collect, &one) < 0)
		return -2;
	int rc1 = 0;
	for (size_t i = 0; body[i] && rc1 == 0; i++)
		rc1 = http_mp_feed(&m, body + i, 1);
	if (rc1 == 0)
		rc1 = http_mp_end(&m);
	assert_int_equal(rc, rc1);
	assert_int_equal(g->n, one.n);
	assert_memory_equal(g->buf, one.buf, g->n);
	assert_int_equal(g->starts, one.starts);
	return rc;
}

static void test_multipart(void **state)
{
	(void)state;
	got g;
	/* a one-character boundary is valid (RFC 2046: 1 to 70 characters) */
	assert_int_equal(
	    mp_parse("multipart/form-data; boundary=a",
	             "--a\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n"
	             "\r\nid,v\r\n1,2\r\n--a--\r\n",
	             &g),
	    0);
	assert_int_equal(g.n, 9);
	assert_memory_equal(g.buf, "id,v\r\n1,2", 9);
	assert_int_equal(g.starts, 1);
	/* other parts skipped, a quoted boundary, preamble and epilogue ignored,
	   a CR LF - that is not the delimiter kept as data */
	assert_int_equal(
	    mp_parse("multipart/form-data; charset=x; boundary=\"b c\"",
	             "preamble\r\n--b c\r\nContent-Disposition: form-data; name=note\r\n\r\n"
	             "hello\r\n--b c  \r\ncontent-disposition: form-data; name=file\r\n\r\n"
	             "x\r\n-y\r\n--b\r\n--b c--epilogue",
	             &g),
	    0);
	assert_int_equal(g.n, 10);
	assert_memory_equal(g.buf, "x\r\n-y\r\n--b", 10);
	/* filename="file" is not name=file */
	assert_int_equal(
	    mp_parse("multipart/form-data; boundary=q",
	             "--q\r\nContent-Disposition: form-data; name=\"f\"; filename=\"file\"\r\n\r\n"
	             "data\r\n--q--",
	             &g),
	    0);
	assert_int_equal(g.starts, 0);
	/* ends inside a part; bytes after a delimiter that are no line end */
	assert_int_equal(mp_parse("multipart/form-data; boundary=a", "--a\r\n\r\nabc", &g), -1);
	assert_int_equal(
	    mp_parse("multipart/form-data; boundary=a", "--ax\r\n\r\nabc\r\n--a--", &g), -1);
	/* boundaries that are not: none, empty, too long, a character not allowed */
	assert_int_equal(mp_parse("multipart/form-data", "", &g), -2);
	assert_int_equal(mp_parse("multipart/form-data; boundary=", "", &g), -2);
	assert_int_equal(mp_parse("multipart/form-data; boundary=\"\"", "", &g), -2);
	assert_int_equal(mp_parse("multipart/form-data; boundary=ab\x01", "", &g), -2);
	char ct[200];
	snprintf(ct, sizeof ct, "multipart/form-data; boundary=%071d", 0);
	assert_int_equal(mp_parse(ct, "", &g), -2);
	snprintf(ct, sizeof ct, "multipart/form-data; boundary=%070d", 0);
	assert_int_equal(mp_parse(ct, "", &g), -1); /* 70 is allowed; the empty body is not whole */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_u64),       cmocka_unit_test(test_content_length),
	    cmocka_unit_test(test_base64),    cmocka_unit_test(test_tus_metadata),
	    cmocka_unit_test(test_target),    cmocka_unit_test(test_query_count),
	    cmocka_unit_test(test_multipart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
