/*
 * Unit tests of the CSV engine: dialect options, values, positions, every
 * structural error, the row limit, streaming across windows, and the
 * exhaustive chunking test (every chunk size and window split of small
 * inputs full of quoted newlines, CRLFs and errors gives what one pass gives,
 * with every scanner).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "csv/oracle.h"

static const sl_csv_scanner all_scanners[] = {SL_CSV_SCAN_SCALAR, SL_CSV_SCAN_GENERIC,
                                              SL_CSV_SCAN_SSE2, SL_CSV_SCAN_AVX2};

static char *render(const char *in, size_t n, const sl_csv_dialect *d, sl_csv_scanner s)
{
	return oracle_render(in, n, d, s, false);
}

/* Render with every scanner, check they agree, return the result. */
static char *R(const char *in, const sl_csv_dialect *d)
{
	static char first[1 << 16];
	size_t n = strlen(in);
	strcpy(first, render(in, n, d, SL_CSV_SCAN_SCALAR));
	for (size_t s = 1; s < SL_ARRAY_LEN(all_scanners); s++)
		assert_string_equal(render(in, n, d, all_scanners[s]), first);
	return first;
}

static sl_csv_dialect D(void)
{
	sl_csv_dialect d;
	sl_csv_dialect_init(&d);
	return d;
}

static void test_basic_values(void **state)
{
	(void)state;
	sl_csv_dialect d = D();
	assert_string_equal(R("a,b\n1,2\n", &d), "Ha|b;1|2;");
	assert_string_equal(R("a,b\n1,2", &d), "Ha|b;1|2;");       /* no final newline */
	assert_string_equal(R("a,b\r\n1,2\r\n", &d), "Ha|b;1|2;"); /* CRLF */
	assert_string_equal(R("a,b\r1,2\r", &d), "Ha|b;1|2;");     /* CR */
	assert_string_equal(R("a,b\n1,2\r\n3,4\r5,6", &d), "Ha|b;1|2;3|4;5|6;"); /* mixed */
	assert_string_equal(R("a,b\n\"x,y\",\"\"\n", &d), "Ha|b;x,y|;");
	assert_string_equal(R("a,b\n\"x\"\"y\",\"l1\nl2\"\n", &d), "Ha|b;x\"y|l1\nl2;");
	assert_string_equal(R("a,b\n,\n", &d), "Ha|b;|;");
	assert_string_equal(R("\xEF\xBB\xBF"
	                      "a,b\n1,2\n",
	                      &d),
	                    "Ha|b;1|2;"); /* BOM skipped */
	assert_string_equal(R("", &d), "");
	assert_string_equal(R("a,b\n", &d), "Ha|b;");
	assert_string_equal(R("\n\n", &d), "");
}

static void test_dialects(void **state)
{
	(void)state;
	sl_csv_dialect d = D();
	d.delimiter = ';';
	assert_string_equal(R("a;b\n1,5;2\n", &d), "Ha|b;1,5|2;");
	d = D();
	d.delimiter = '\t';
	d.header = false;
	assert_string_equal(R("1\t2\n3\t4\n", &d), "1|2;3|4;");
	d = D();
	d.quote = '\'';
	d.escape = '\'';
	assert_string_equal(R("a,b\n'x,''y',\"q\"\n", &d), "Ha|b;x,'y|\"q\";");
	d = D();
	d.escape = '\\';
	assert_string_equal(R("a,b\n\"x\\\"y\",\"p\\\\q\\n\"\n", &d), "Ha|b;x\"y|p\\q\\n;");
	/* with a distinct escape, a doubled quote is not an escape */
	assert_string_equal(R("a,b\n\"x\"\"y\",2\n", &d), "Ha|b;!STRAY_QUOTE@1:2:4;");
	d = D();
	d.quote = SL_CSV_NONE;
	d.escape = SL_CSV_NONE;
	assert_string_equal(R("a,b\n\"x,y\"\n", &d), "Ha|b;\"x|y\";");
	d = D();
	d.comment = '#';
	assert_string_equal(R("# note \"open\na,b\n#x\n1,2\n", &d), "Ha|b;1|2;");
	d = D();
	d.skip_empty_lines = false;
	d.header = false;
	assert_string_equal(R("a\n\nb\n", &d), "a;;b;");
}

static void test_nul_bytes_are_data(void **state)
{
	(void)state;
	sl_csv_dialect d = D();
	d.header = false;
	static const char in[] = "x\0y,\"a\0\"\n";
	for (size_t s = 0; s < SL_ARRAY_LEN(all_scanners); s++) {
		char *r = render(in, sizeof in - 1, &d, all_scanners[s]);
		assert_memory_equal(r, "x\0y|a\0;", 8);
	}
}

static void test_errors_and_positions(void **state)
{
	(void)state;
	sl_csv_dialect d = D();
	/* record, line and offset of each error; parsing goes on */
	assert_string_equal(R("a,b\n1\n2,3,4\n5,6\n", &d),
	                    "Ha|b;!TOO_FEW_FIELDS@1:2:4;!TOO_MANY_FIELDS@2:3:6;5|6;");
	assert_string_equal(R("a,b\nx\"y,1\n2,3\n", &d), "Ha|b;!STRAY_QUOTE@1:2:4;2|3;");
	assert_string_equal(R("a,b\n\"x\"y,1\n2,3\n", &d), "Ha|b;!STRAY_QUOTE@1:2:4;2|3;");
	assert_string_equal(R("a,b\n\"x\" ,1\n2,3\n", &d), "Ha|b;!STRAY_QUOTE@1:2:4;2|3;");
	/* a stray quote never moves the end of the record */
	assert_string_equal(R("a,b\n5'11\",x\n2,3\n", &d), "Ha|b;!STRAY_QUOTE@1:2:4;2|3;");
	assert_string_equal(R("a,b\n1,\"open\n2,3\n", &d), "Ha|b;!UNTERMINATED_QUOTE@1:2:4;");
	/* quoted newlines move the lines of later records */
	assert_string_equal(R("a,b\n\"1\n\n\",2\r\n\r\nx\n", &d),
	                    "Ha|b;1\n\n|2;!TOO_FEW_FIELDS@2:6:15;");
	/* lenient keeps the text */
	d.lenient_quotes = true;
	assert_string_equal(R("a,b\nx\"y,1\n\"x\"y,2\n", &d), "Ha|b;x\"y|1;xy|2;");
	d = D();
	d.validate_utf8 = true;
	assert_string_equal(R("a,b\n\xC3\xA9,\xFF\n\xE2\x82\xAC,2\n", &d),
	                    "Ha|b;!INVALID_UTF8@1:2:4;\xE2\x82\xAC|2;");
	d.validate_utf8 = false;
	assert_string_equal(R("a,b\n\xC3\xA9,\xFF\n", &d), "Ha|b;\xC3\xA9|\xFF;");
	/* the first record without a header sets the field count */
	d.header = false;
	assert_string_equal(R("1,2,3\n4,5\n", &d), "1|2|3;!TOO_FEW_FIELDS@2:2:6;");
}

static void test_row_limit(void **state)
{
	(void)state;
	sl_csv_dialect d = D();
	d.max_row_bytes = 64;
	char in[4096];
	char longf[201];
	memset(longf, 'x', 200);
	longf[200] = 0;
	snprintf(in, sizeof in, "a,b\n1,%s\n\"q\n%s\",2\n3,4\n", longf, longf);
	assert_string_equal(R(in, &d), "Ha|b;!ROW_TOO_LONG@1:2:4;!ROW_TOO_LONG@2:3:207;3|4;");
	/* the same through windows much smaller than the record: bounded memory,
	   same result, and the raw prefix is kept */
	for (size_t s = 0; s < SL_ARRAY_LEN(all_scanners); s++) {
		oracle_opts a = {.d = d, .scanner = SL_CSV_SCAN_SCALAR};
		oracle_opts b = {.d = d, .scanner = all_scanners[s], .window = 7};
		sl_buf x, y;
		sl_buf_init(&x, 1 << 20);
		sl_buf_init(&y, 1 << 20);
		assert_int_equal(oracle_run(in, strlen(in), &a, &x), 0);
		assert_int_equal(oracle_run(in, strlen(in), &b, &y), 0);
		assert_int_equal(x.len, y.len);
		assert_memory_equal(x.p, y.p, x.len);
		assert_non_null(memmem(x.p, x.len, "raw202/202:1,xxx", 16));
		sl_buf_free(&x);
		sl_buf_free(&y);
	}
}

static void test_header_and_dialect_check(void **state)
{
	(void)state;
	sl_csv_dialect d = D();
	const char *why;
	assert_int_equal(sl_csv_dialect_check(&d, &why), 0);
	d.delimiter = '\n';
	assert_int_equal(sl_csv_dialect_check(&d, &why), SL_CONFIG);
	assert_non_null(why);
	d = D();
	d.quote = ',';
	assert_int_equal(sl_csv_dialect_check(&d, &why), SL_CONFIG);
	d = D();
	d.comment = '"';
	assert_int_equal(sl_csv_dialect_check(&d, &why), SL_CONFIG);

	d = D();
	sl_csv_parser *p;
	assert_int_equal(sl_csv_parser_new(&d, SL_CSV_SCAN_AUTO, &p), 0);
	const char in[] = "id,\"na,me\"\n1,x\n";
	sl_csv_feed(p, in, sizeof in - 1, true);
	sl_csv_record rec;
	assert_int_equal(sl_csv_next(p, &rec), 1);
	assert_true(rec.is_header);
	size_t n;
	const sl_str *h = sl_csv_header(p, &n);
	assert_int_equal(n, 2);
	assert_true(sl_str_eq_cstr(h[1], "na,me"));
	assert_int_equal(sl_csv_next(p, &rec), 1);
	assert_int_equal(rec.record, 1);
	assert_int_equal(rec.line, 2);
	assert_int_equal(rec.offset, 11);
	assert_true(sl_str_eq_cstr(rec.raw, "1,x"));
	assert_int_equal(sl_csv_next(p, &rec), 0);
	assert_int_equal(sl_csv_counts_get(p)->records, 1);
	assert_int_equal(sl_csv_counts_get(p)->lines, 2);
	sl_csv_parser_free(p);
}

/* Small inputs full of what makes chunking hard. */
static const char *const hard[] = {
    "h1,h2\n\"a\nb\",1\r\n\"c\r\nd\",\"\"\"\"\r\n\r\n\"e,\n\",2\n\n3,4",
    "\"q\"\"\n\"\"\",x\r\r\n\n\"\n\",\"\r\"\ry,z\n",
    "a,b\n1,\"x\"y\n2,3\n\"4\n5\",6\n7,\"8\n",
    "a\n\"\"\"\"\"\"\n\"\n\n\n\"\n\r\n\"x\"\n",
    "\xEF\xBB\xBF"
    "a,b\r\n\"1\",\"2\"\r\n3,\"4\r\n5\"\r\nx,\"y\"z\r\n6,7",
    "a,b\n1,2\"\n3,\"\"\n\"4\",5\n\"\"\"\",\"\n\"\n",
};

static void exhaustive(const sl_csv_dialect *d)
{
	sl_buf want, got;
	sl_buf_init(&want, 1 << 24);
	sl_buf_init(&got, 1 << 24);
	for (size_t h = 0; h < SL_ARRAY_LEN(hard); h++) {
		const char *in = hard[h];
		size_t n = strlen(in);
		oracle_opts ref = {.d = *d, .scanner = SL_CSV_SCAN_SCALAR};
		assert_int_equal(oracle_run(in, n, &ref, &want), 0);
		for (size_t s = 0; s < SL_ARRAY_LEN(all_scanners); s++) {
			for (size_t k = 0; k <= n + 1; k++) {
				oracle_opts o = ref;
				o.scanner = all_scanners[s];
				o.window = k;
				assert_int_equal(oracle_run(in, n, &o, &got), 0);
				if (got.len != want.len || memcmp(got.p, want.p, got.len))
					fail_msg("input %zu scanner %s window %zu:\n%.*s\nvs\n%.*s",
					         h, sl_csv_scanner_name(o.scanner), k,
					         (int)want.len, want.p, (int)got.len, got.p);
				o.window = 0;
				o.chunk = k ? k : 1;
				assert_int_equal(oracle_run(in, n, &o, &got), 0);
				if (got.len != want.len || memcmp(got.p, want.p, got.len))
					fail_msg("input %zu scanner %s chunk %zu:\n%.*s\nvs\n%.*s",
					         h, sl_csv_scanner_name(o.scanner), k,
					         (int)want.len, want.p, (int)got.len, got.p);
			}
		}
	}
	sl_buf_free(&want);
	sl_buf_free(&got);
}

static void test_exhaustive_chunking(void **state)
{
	(void)state;
	sl_csv_dialect d = D();
	exhaustive(&d);
	d.header = false;
	d.skip_empty_lines = false;
	exhaustive(&d);
	d = D();
	d.lenient_quotes = true;
	d.max_row_bytes = 64;
	exhaustive(&d);
	d = D();
	d.escape = '\\';
	d.comment = 'x';
	exhaustive(&d);
}

/* Random inputs from a small alphabet: every scanner agrees with the state
   machine, whole, windowed and chunked. Deterministic (fixed seed). */
static void test_random_agreement(void **state)
{
	(void)state;
	static const char alpha[] = "ab,\"\"\n\r;\\#\t \xC3\xA9";
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	sl_buf want, got;
	sl_buf_init(&want, 1 << 24);
	sl_buf_init(&got, 1 << 24);
	char in[600];
	for (int iter = 0; iter < 1500; iter++) {
		size_t n = 0;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t len = x % sizeof in;
		for (; n < len; n++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			in[n] = alpha[x % (sizeof alpha - 1)];
		}
		sl_csv_dialect d = D();
		d.header = x & 1;
		d.escape = (x & 2) ? '\\' : '"';
		d.comment = (x & 4) ? '#' : SL_CSV_NONE;
		d.lenient_quotes = x & 8;
		d.skip_empty_lines = x & 16;
		d.max_row_bytes = (x & 32) ? 64 : 4096;
		d.validate_utf8 = x & 64;
		oracle_opts ref = {.d = d, .scanner = SL_CSV_SCAN_SCALAR};
		assert_int_equal(oracle_run(in, n, &ref, &want), 0);
		for (size_t s = 1; s < SL_ARRAY_LEN(all_scanners); s++) {
			oracle_opts o = ref;
			o.scanner = all_scanners[s];
			o.window = iter % 3 ? 0 : 1 + (x >> 8) % 70;
			o.chunk = iter % 3 == 2 ? 1 + (x >> 16) % 90 : 0;
			assert_int_equal(oracle_run(in, n, &o, &got), 0);
			if (got.len != want.len || memcmp(got.p, want.p, got.len))
				fail_msg("iter %d scanner %s", iter,
				         sl_csv_scanner_name(o.scanner));
		}
	}
	sl_buf_free(&want);
	sl_buf_free(&got);
}

static void test_split_positions(void **state)
{
	(void)state;
	/* 1000 records of 10 bytes with a quoted newline every 7th: chunk starts
	   carry exact record and line numbers */
	sl_buf in;
	sl_buf_init(&in, 1 << 20);
	sl_buf_append(&in, "a,b\n", 4);
	uint64_t lines = 1;
	for (int i = 1; i <= 1000; i++) {
		char r[32];
		int k = i % 7 ? snprintf(r, sizeof r, "%05d,xyz\n", i)
		              : snprintf(r, sizeof r, "%05d,\"x\ny\"\n", i);
		sl_buf_append(&in, r, (size_t)k);
		lines += i % 7 ? 1 : 2;
	}
	int fd = memfd_create("split", 0);
	assert_true(write(fd, in.p, in.len) == (ssize_t)in.len);
	sl_csv_dialect d = D();
	sl_csv_plan plan;
	assert_int_equal(sl_csv_split(fd, &d, SL_CSV_SCAN_AUTO, 1000, &plan), 0);
	assert_int_equal(plan.counts.records, 1000);
	assert_int_equal(plan.counts.lines, lines);
	assert_int_equal(plan.nheader, 2);
	assert_string_equal(plan.header[1], "b");
	assert_true(plan.nchunks >= 10);
	uint64_t sum = 0;
	for (size_t i = 0; i < plan.nchunks; i++) {
		sl_csv_chunk *c = &plan.chunks[i];
		sum += c->records;
		if (i == 0)
			continue;
		/* a chunk starts at the beginning of a record: its number is there */
		char want[8];
		snprintf(want, sizeof want, "%05llu", (unsigned long long)c->start.records + 1);
		assert_memory_equal(in.p + c->offset, want, 5);
		assert_true(c->offset >= plan.chunks[i - 1].offset + 1000);
	}
	assert_int_equal(sum, 1000);
	sl_csv_plan_free(&plan);
	close(fd);
	sl_buf_free(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_values),
	    cmocka_unit_test(test_dialects),
	    cmocka_unit_test(test_nul_bytes_are_data),
	    cmocka_unit_test(test_errors_and_positions),
	    cmocka_unit_test(test_row_limit),
	    cmocka_unit_test(test_header_and_dialect_check),
	    cmocka_unit_test(test_exhaustive_chunking),
	    cmocka_unit_test(test_random_agreement),
	    cmocka_unit_test(test_split_positions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
