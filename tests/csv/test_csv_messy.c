/*
 * Unit tests of the CSV engine on messy files: multi-byte delimiters,
 * skip_initial_space, and lenient records (field-count and stray-quote
 * warnings, the header read as one physical line). Values are asserted
 * exactly; and every scanner, every window size and every chunk size must
 * give what the reference state machine gives in one pass (oracle.h), the
 * case where a window or a chunk boundary cuts a multi-byte delimiter
 * included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "csv/oracle.h"

static const sl_csv_scanner scanners[] = {SL_CSV_SCAN_SCALAR, SL_CSV_SCAN_GENERIC, SL_CSV_SCAN_SSE2,
                                          SL_CSV_SCAN_AVX2};

static sl_csv_dialect dialect(const char *delim)
{
	sl_csv_dialect d;
	sl_csv_dialect_init(&d);
	assert_int_equal(sl_csv_dialect_set_delimiter(&d, delim, strlen(delim)), 0);
	return d;
}

static const char *show(const char *in, const sl_csv_dialect *d, sl_csv_scanner s)
{
	return oracle_render(in, strlen(in), d, s, true);
}

/* The scalar result, after checking every scanner, window and chunk size
   gives the same observable output. */
static const char *S(const char *in, const sl_csv_dialect *d)
{
	sl_buf want, got;
	sl_buf_init(&want, 1 << 24);
	sl_buf_init(&got, 1 << 24);
	size_t n = strlen(in);
	oracle_opts ref = {.d = *d, .scanner = SL_CSV_SCAN_SCALAR};
	assert_int_equal(oracle_run(in, n, &ref, &want), 0);
	for (size_t s = 0; s < SL_ARRAY_LEN(scanners); s++) {
		for (size_t k = 0; k <= n + 1; k++) {
			for (int chunked = 0; chunked < 2; chunked++) {
				oracle_opts o = ref;
				o.scanner = scanners[s];
				o.window = chunked ? 0 : k;
				o.chunk = chunked ? (k ? k : 1) : 0;
				assert_int_equal(oracle_run(in, n, &o, &got), 0);
				if (got.len != want.len || memcmp(got.p, want.p, got.len))
					fail_msg("%s %s %zu on %s:\n%.*s\nvs\n%.*s",
					         sl_csv_scanner_name(o.scanner),
					         chunked ? "chunk" : "window", k, in, (int)want.len,
					         want.p, (int)got.len, got.p);
			}
		}
	}
	sl_buf_free(&want);
	sl_buf_free(&got);
	static char first[1 << 16];
	strcpy(first, show(in, d, SL_CSV_SCAN_SCALAR));
	for (size_t s = 1; s < SL_ARRAY_LEN(scanners); s++)
		assert_string_equal(show(in, d, scanners[s]), first);
	return first;
}

static void test_multibyte_delimiters(void **state)
{
	(void)state;
	sl_csv_dialect d = dialect("||");
	/* greedy from the left: "|||" is a delimiter then '|' */
	assert_string_equal(S("a||b||c\n1||\"x||y\"||3\n4|||5||6\n", &d),
	                    "Ha|b|c;1|x||y|3;4||5|6;");
	/* a quote after a delimiter opens; one after a lone '|' is stray */
	assert_string_equal(S("a||b\n\"p\"||\"q\"\"r\"\nx|\"y||z\n", &d),
	                    "Ha|b;p|q\"r;!STRAY_QUOTE@2:3:17;");
	d = dialect(", ");
	assert_string_equal(S("a, b, \"c, e\", d\n1,2, 3\n", &d),
	                    "Ha|b|c, e|d;!TOO_FEW_FIELDS@1:2:16;");
	d = dialect("\t|");
	assert_string_equal(S("a\t|b\n\t|\t\n1\t|2\t|\r\n", &d),
	                    "Ha|b;|\t;!TOO_MANY_FIELDS@2:3:9;");
	d = dialect("aba");
	/* overlapping candidates: the leftmost wins */
	assert_string_equal(S("xababa1aba2\n1aba2aba\n", &d), "Hx|ba1|2;1|2|;");
	d = dialect("\xF0\x9F\xA6\x86");
	assert_string_equal(S("1\xF0\x9F\xA6\x86\"a\xF0\x9F\xA6\x86\"\xF0\x9F\xA6\x86z\n", &d),
	                    "H1|a\xF0\x9F\xA6\x86|z;");
	/* a delimiter cut off by the end of the input is data */
	d = dialect("||");
	d.header = false;
	assert_string_equal(S("a||b|", &d), "a|b|;");
	/* long fields: delimiters found across 64-byte blocks */
	char big[600];
	size_t o = 0;
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(big + o, sizeof big - o, "%s%d", i ? ", " : "", i * 1000003);
	big[o++] = '\n';
	big[o] = 0;
	d = dialect(", ");
	d.header = false;
	const char *r = S(big, &d);
	assert_non_null(strstr(r, "0|1000003|2000006|"));
	assert_non_null(strstr(r, "|39000117;"));
}

static void test_skip_initial_space(void **state)
{
	(void)state;
	sl_csv_dialect d = dialect(",");
	d.skip_initial_space = true;
	assert_string_equal(S("  a,  b, \"c, d\",e\n x,,   \n", &d),
	                    "Ha|b|c, d|e;!TOO_FEW_FIELDS@1:2:18;");
	/* a space after a closing quote is still text after it */
	assert_string_equal(S("a,b\n\"x\" ,y\n", &d), "Ha|b;!STRAY_QUOTE@1:2:4;");
	d.lenient_quotes = true;
	d.header = false;
	/* only spaces: a tab and text after a closing quote are data */
	assert_string_equal(S(" \ta, \"q\" x\n   \n", &d),
	                    "~STRAY_QUOTE:\ta|q x;!TOO_FEW_FIELDS@2:2:11;");
	d = dialect(", ");
	d.skip_initial_space = true;
	d.header = false;
	assert_string_equal(S("1,   2, \"x\"\n", &d), "1|2|x;");
	/* the combinations it cannot go with */
	const char *why;
	d = dialect(" ");
	d.skip_initial_space = true;
	assert_int_equal(sl_csv_dialect_check(&d, &why), SL_CONFIG);
	d = dialect(",");
	d.skip_initial_space = true;
	d.quote = d.escape = ' ';
	assert_int_equal(sl_csv_dialect_check(&d, &why), SL_CONFIG);
}

static void test_delimiter_checks(void **state)
{
	(void)state;
	sl_csv_dialect d;
	sl_csv_dialect_init(&d);
	assert_int_equal(sl_csv_dialect_set_delimiter(&d, "abcde", 5), SL_CONFIG);
	assert_int_equal(sl_csv_dialect_set_delimiter(&d, "", 0), SL_CONFIG);
	const char *why;
	d = dialect("a\"");
	assert_int_equal(sl_csv_dialect_check(&d, &why), SL_CONFIG);
	d = dialect("|\n");
	assert_int_equal(sl_csv_dialect_check(&d, &why), SL_CONFIG);
	d = dialect("|\\");
	d.escape = '\\';
	assert_int_equal(sl_csv_dialect_check(&d, &why), SL_CONFIG);
	char b[SL_CSV_MAX_DELIM];
	d = dialect("\t|");
	assert_int_equal(sl_csv_dialect_delimiter(&d, b), 2);
	assert_memory_equal(b, "\t|", 2);
	sl_csv_dialect_init(&d);
	d.delimiter = ';'; /* set by hand, as before multi-byte delimiters */
	assert_int_equal(sl_csv_dialect_delimiter(&d, b), 1);
	assert_int_equal(b[0], ';');
}

static void test_lenient_records(void **state)
{
	(void)state;
	sl_csv_dialect d = dialect(",");
	d.lenient_quotes = d.lenient_fields = true;
	assert_string_equal(S("a,b,c\n1,2\n1,2,3,4\n5,x\"y,6\n\n7,8,9\n", &d),
	                    "Ha|b|c;~TOO_FEW_FIELDS:1|2;~TOO_MANY_FIELDS:1|2|3|4;"
	                    "~STRAY_QUOTE:5|x\"y|6;7|8|9;");
	/* the field count is the header line's, however damaged */
	assert_string_equal(S("id,\"name,price\n1,a,2\n2,\"b\",3\n", &d),
	                    "~STRAY_QUOTE:Hid|name|price;1|a|2;2|b|3;");
	assert_string_equal(S("id,,name\n1,2,3\n", &d), "Hid||name;1|2|3;");
	/* a header quote that closes on its line is honoured */
	assert_string_equal(S("\"a,b\",c\n1,2\n", &d), "Ha,b|c;1|2;");
	/* strict quotes with lenient fields: the header's stray quote is an error */
	d.lenient_quotes = false;
	assert_string_equal(S("id,\"name\n1,2\n", &d), "!STRAY_QUOTE@0:1:0;1|2;");
	/* without lenient_fields the header may span lines */
	d = dialect(",");
	assert_string_equal(S("id,\"na\nme\"\n1,2\n", &d), "Hid|na\nme;1|2;");

	/* a quote still open at the end: read as data to the end of its line,
	   the lines after it are records again */
	d.lenient_quotes = d.lenient_fields = true;
	assert_string_equal(S("a,b,c\n1,\"x,2\n3,y,4\n5,z,6\n", &d),
	                    "Ha|b|c;~STRAY_QUOTE:1|\"x|2;3|y|4;5|z|6;");
	assert_string_equal(S("a,b\n\"p\nq\",1\n2,\"r\n", &d), "Ha|b;p\nq|1;~STRAY_QUOTE:2|\"r;");
	/* a quote that pairs with the next row's opening quote: text after the
	   closing quote of a field that spans lines marks it as stray */
	assert_string_equal(S("a,b,c\n1,\"x,2\n3,y,4\n5,\"z\",6\n7,8,9\n", &d),
	                    "Ha|b|c;~STRAY_QUOTE:1|\"x|2;3|y|4;5|z|6;7|8|9;");
	/* ... not when the field stays on one line, nor when a delimiter follows */
	assert_string_equal(S("a,b\n\"x\"y,2\n\"p\nq\",1\n", &d), "Ha|b;~STRAY_QUOTE:xy|2;p\nq|1;");
	/* ... unless the record is longer than the row limit */
	d.max_row_bytes = 64;
	assert_string_equal(S("a,b\n1,\"x\n2,2\n3,3\n4,4\n5,5\n6,6\n7,7\n8,8\n9,9\n10,10\n"
	                      "11,11\n12,12\n13,13\n14,14\n15,15\n16,16\n",
	                      &d),
	                    "Ha|b;!UNTERMINATED_QUOTE@1:2:4;");
	d.max_row_bytes = SL_CSV_DEFAULT_MAX_ROW;
	d.lenient_quotes = false;
	assert_string_equal(S("a,b\n1,\"x\n2,2\n", &d), "Ha|b;!UNTERMINATED_QUOTE@1:2:4;");
	d.lenient_quotes = true;

	/* the counters */
	d.lenient_quotes = d.lenient_fields = true;
	sl_csv_parser *p;
	assert_int_equal(sl_csv_parser_new(&d, SL_CSV_SCAN_AUTO, &p), 0);
	const char *in = "a,b\n1\n1,2,3\n\"x\"y,2\n1,2\n";
	sl_csv_feed(p, in, strlen(in), true);
	sl_csv_record rec;
	while (sl_csv_next(p, &rec) == 1)
		;
	const sl_csv_counts *c = sl_csv_counts_get(p);
	assert_int_equal(c->records, 4);
	assert_int_equal(c->warn_too_few, 1);
	assert_int_equal(c->warn_too_many, 1);
	assert_int_equal(c->warn_stray_quote, 1);
	size_t nh;
	const sl_str *h = sl_csv_header(p, &nh);
	assert_int_equal(nh, 2);
	assert_int_equal(sl_csv_expected_fields(p), 2);
	assert_memory_equal(h[1].p, "b", 1);
	sl_csv_parser_free(p);
}

/* Header lines longer than the row limit, in lenient mode: counted with
   quotes as data, the same through any window. */
static void test_lenient_long_header(void **state)
{
	(void)state;
	sl_csv_dialect d = dialect(";;");
	d.lenient_quotes = d.lenient_fields = true;
	d.max_row_bytes = 64;
	char in[400];
	size_t o = 0;
	for (int i = 0; i < 12; i++)
		o += (size_t)snprintf(in + o, sizeof in - o, "%s\"col%d", i ? ";;" : "", i);
	o += (size_t)snprintf(in + o, sizeof in - o, "\n1;;2\n\"x\n");
	const char *r = S(in, &d);
	assert_string_equal(r, "!ROW_TOO_LONG@0:1:0;~TOO_FEW_FIELDS:1|2;~TOO_FEW_FIELDS:\"x;");
}

/* Random inputs over an alphabet rich in delimiter pieces, quotes, spaces
   and line breaks: every scanner, window and chunk size agree. */
static void test_random_multibyte(void **state)
{
	(void)state;
	static const char alpha[] = "ab|,\" \n\r;\\\t";
	static const char *const delims[] = {"||", ", ", "aba", "\t|", ",", "\xF0\x9F\xA6\x86"};
	uint64_t x = 0xD1B54A32D192ED03ULL;
	sl_buf want, got;
	sl_buf_init(&want, 1 << 24);
	sl_buf_init(&got, 1 << 24);
	char in[400];
	for (int iter = 0; iter < 2000; iter++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t len = x % sizeof in, n = 0;
		const char *dl = delims[(x >> 40) % SL_ARRAY_LEN(delims)];
		for (; n < len; n++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if (x % 7 == 0 && n + 4 < len) {
				memcpy(in + n, dl, strlen(dl));
				n += strlen(dl) - 1;
			} else {
				in[n] = alpha[x % (sizeof alpha - 1)];
			}
		}
		sl_csv_dialect d = dialect(dl);
		d.header = x & 1;
		d.escape = (x & 2) ? '\\' : '"';
		d.lenient_quotes = x & 4;
		d.lenient_fields = x & 8;
		d.skip_initial_space = x & 16;
		d.skip_empty_lines = x & 32;
		d.max_row_bytes = (x & 64) ? 64 : 4096;
		oracle_opts ref = {.d = d, .scanner = SL_CSV_SCAN_SCALAR};
		assert_int_equal(oracle_run(in, n, &ref, &want), 0);
		for (size_t s = 1; s < SL_ARRAY_LEN(scanners); s++) {
			oracle_opts o = ref;
			o.scanner = scanners[s];
			o.window = iter % 3 ? 0 : 1 + (x >> 8) % 70;
			o.chunk = iter % 3 == 2 ? 1 + (x >> 16) % 90 : 0;
			assert_int_equal(oracle_run(in, n, &o, &got), 0);
			if (iter % 4 == 0 && oracle_check_agree(in, n, &d, o.scanner, o.chunk) < 0)
				fail_msg("iter %d scanner %s: csv check in one pass differs", iter,
				         sl_csv_scanner_name(o.scanner));
			if (got.len != want.len || memcmp(got.p, want.p, got.len))
				fail_msg(
				    "iter %d scanner %s window %zu chunk %llu:\n%.*s\nvs\n%.*s",
				    iter, sl_csv_scanner_name(o.scanner), o.window,
				    (unsigned long long)o.chunk, (int)want.len, want.p,
				    (int)got.len, got.p);
		}
	}
	sl_buf_free(&want);
	sl_buf_free(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_multibyte_delimiters), cmocka_unit_test(test_skip_initial_space),
	    cmocka_unit_test(test_delimiter_checks),     cmocka_unit_test(test_lenient_records),
	    cmocka_unit_test(test_lenient_long_header),  cmocka_unit_test(test_random_multibyte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
