/*
 * Header matching (src/schema/schema_header.c): every missing column named
 * with the closest header name, `optional`, ignored columns, lenient
 * duplicates and empty names, extra_columns: reject; the edit distance the
 * hints use; white-space trimming; and the schema keys that go with them
 * (optional, null, trim, null_padding).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sluice/error.h"
#include "sluice/schema.h"
#include "schema/schema_test.h"

#define H(...)  ((sl_str[]){__VA_ARGS__})
#define L(s)    SL_STR_LIT(s)
#define NH(...) (sizeof(H(__VA_ARGS__)) / sizeof(sl_str))

static void test_distance(void **state)
{
	(void)state;
	assert_int_equal(sl_name_distance("price", 5, "price", 5, 9), 0);
	assert_int_equal(sl_name_distance("price", 5, "PRICE", 5, 9), 0); /* no case */
	assert_int_equal(sl_name_distance("price", 5, "prise", 5, 9), 1);
	assert_int_equal(sl_name_distance("nmae", 4, "name", 4, 9), 1); /* a transposition */
	assert_int_equal(sl_name_distance("kitten", 6, "sitting", 7, 9), 3);
	assert_int_equal(sl_name_distance("", 0, "abc", 3, 9), 3);
	assert_int_equal(sl_name_distance("abcdef", 6, "uvwxyz", 6, 2), 2); /* capped */
}

static void test_trim(void **state)
{
	(void)state;
	sl_str t = sl_str_trim_space(L(" \t x y \r\n"));
	assert_int_equal(t.n, 3);
	assert_memory_equal(t.p, "x y", 3);
	/* U+00A0, U+3000 and U+2009 around; U+00E9 inside stays */
	t = sl_str_trim_space(L("\xc2\xa0\xe3\x80\x80"
	                        "caf\xc3\xa9"
	                        "\xe2\x80\x89"));
	assert_int_equal(t.n, 5);
	assert_memory_equal(t.p, "caf\xc3\xa9", 5);
	assert_int_equal(sl_str_trim_space(L(" \xc2\xa0 ")).n, 0);
	/* a lone continuation byte is not white space */
	assert_int_equal(sl_str_trim_space(L("\xa0")).n, 1);
}

static void test_missing(void **state)
{
	(void)state;
	sl_schema *s = P("name: t\nkey: [id]\ncolumns:\n"
	                 "  - {name: id, type: integer}\n"
	                 "  - {name: price, type: text}\n"
	                 "  - {name: customer_name, type: text}\n"
	                 "  - {name: zz, type: text}\n"
	                 "  - {name: colour, type: text, optional: true}\n");
	int map[5];
	char err[512];
	sl_header_result r;
	sl_str *h = H(L("ID"), L("Price"), L("customer_nmae"), L("note"));
	assert_int_equal(sl_schema_match_header(s, h, 4, false, map, &r, err, sizeof err),
	                 SL_FATAL_HEADER);
	assert_string_equal(err,
	                    "the header lacks the column(s) 'id' (did you mean 'ID'?), 'price' "
	                    "(did you mean 'Price'?), 'customer_name' (did you mean "
	                    "'customer_nmae'?), 'zz'; the header has 4 names: 'ID', 'Price', "
	                    "'customer_nmae', 'note' (a column the file may lack says `optional: "
	                    "true`)");

	sl_str *h2 = H(L("note"), L("zz"), L("customer_name"), L("price"), L("id"), L("x"));
	assert_int_equal(sl_schema_match_header(s, h2, 6, false, map, &r, err, sizeof err), 0);
	assert_int_equal(map[0], 4);
	assert_int_equal(map[1], 3);
	assert_int_equal(map[2], 2);
	assert_int_equal(map[3], 1);
	assert_int_equal(map[4], -1); /* optional, absent: NULL */
	assert_int_equal(r.nignored, 2);
	assert_string_equal(r.ignored, "note\nx\n");
	assert_int_equal(r.nwarnings, 0);
	sl_schema_free(s);
}

static void test_lenient(void **state)
{
	(void)state;
	sl_schema *s = P("name: t\ncolumns: [{name: a, type: text}, {name: b, type: text}]\n");
	int map[2];
	char err[512];
	sl_header_result r;
	sl_str *h = H(L("a"), L(""), L("b"), L("a"), L("c\nd"));
	/* strict: the duplicate of a column the schema reads is fatal */
	assert_int_equal(sl_schema_match_header(s, h, 5, false, map, &r, err, sizeof err),
	                 SL_FATAL_HEADER);
	assert_non_null(strstr(err, "'a' twice (fields 1 and 4)"));
	/* lenient: the first wins, the empty and the repeated name are warnings */
	assert_int_equal(sl_schema_match_header(s, h, 5, true, map, &r, err, sizeof err), 0);
	assert_int_equal(map[0], 0);
	assert_int_equal(map[1], 2);
	assert_int_equal(r.nwarnings, 2);
	assert_string_equal(r.warnings, "header field 2 has an empty name: ignored\nheader field 4 "
	                                "repeats the name 'a' of field 1: ignored");
	assert_int_equal(r.nignored, 1);
	assert_string_equal(r.ignored, "c?d\n"); /* control bytes shown as '?' */
	sl_schema_free(s);
}

static void test_extra_reject(void **state)
{
	(void)state;
	sl_schema *s = P("name: t\nextra_columns: reject\ncolumns: [{name: a, type: text}]\n");
	int map[1];
	char err[512];
	sl_str *h = H(L("a"), L("x"), L("y"));
	assert_int_equal(sl_schema_match_header(s, h, 3, false, map, NULL, err, sizeof err),
	                 SL_FATAL_HEADER);
	assert_string_equal(err, "the header has columns the schema does not read (extra_columns: "
	                         "reject): 'x', 'y'");
	/* a message cut at the buffer's end stays a string */
	char small[16];
	assert_int_equal(sl_schema_match_header(s, h, 3, false, map, NULL, small, sizeof small),
	                 SL_FATAL_HEADER);
	assert_int_equal(strlen(small), sizeof small - 1);
	sl_schema_free(s);
}

static void test_keys(void **state)
{
	(void)state;
	sl_schema *s = P("name: t\ncsv: {null: [NA], trim: true, null_padding: true}\ncolumns:\n"
	                 "  - {name: a, type: text, null: ['', '-'], trim: false}\n"
	                 "  - {name: b, type: text, optional: true}\n");
	assert_true(s->null_padding);
	assert_true(s->trim);
	assert_false(s->cols[0].trim);
	assert_true(s->cols[1].trim); /* the csv default */
	assert_true(s->cols[0].has_nulls);
	assert_int_equal(s->cols[0].nnulls, 2);
	assert_string_equal(s->cols[0].nulls[1], "-");
	assert_false(s->cols[1].has_nulls);
	assert_true(s->cols[1].optional);

	/* the column's markers replace the dialect's; trim comes first */
	sl_validator *v;
	assert_int_equal(sl_validator_new(s, &v), 0);
	char buf[128], msg[128];
	size_t used;
	sl_value out;
	sl_str f = L("NA");
	assert_int_equal(sl_value_convert(v, 0, &f, &out, buf, &used, msg, sizeof msg), 0);
	assert_int_equal(out.kind, SL_VALUE_TEXT); /* NA is data in column a */
	assert_int_equal(sl_value_convert(v, 1, &f, &out, buf, &used, msg, sizeof msg), 0);
	assert_int_equal(out.kind, SL_VALUE_NULL); /* and NULL in b */
	f = L(" NA ");
	assert_int_equal(sl_value_convert(v, 1, &f, &out, buf, &used, msg, sizeof msg), 0);
	assert_int_equal(out.kind, SL_VALUE_NULL); /* trimmed, then NULL */
	f = L("-");
	assert_int_equal(sl_value_convert(v, 0, &f, &out, buf, &used, msg, sizeof msg), 0);
	assert_int_equal(out.kind, SL_VALUE_NULL);
	f = L(" x ");
	assert_int_equal(sl_value_convert(v, 0, &f, &out, buf, &used, msg, sizeof msg), 0);
	assert_int_equal(out.s.n, 3); /* trim: false keeps the spaces */
	sl_validator_free(v);
	sl_schema_free(s);

	assert_non_null(strstr(E("name: t\ncolumns: [{name: a, type: text, optional: true, "
	                         "required: true}]\n"),
	                       "both optional"));
	assert_non_null(strstr(E("name: t\nkey: [a]\ncolumns: [{name: a, type: text, optional: "
	                         "true}]\n"),
	                       "key column 'a' cannot be optional"));
	assert_non_null(strstr(E("name: t\ncsv: {null_padding: maybe}\ncolumns: [{name: a, type: "
	                         "text}]\n"),
	                       "null_padding"));
}

/* csv trim: true trims header names too; without it, the hint shows the spaces */
static void test_trimmed_header(void **state)
{
	(void)state;
	const char *cols = "columns: [{name: id, type: text}, {name: name, type: text}]\n";
	char yaml[256], err[512];
	int map[2];
	sl_str *h = H(L(" id "), L("name\t"));
	snprintf(yaml, sizeof yaml, "name: t\ncsv: {trim: true}\n%s", cols);
	sl_schema *s = P(yaml);
	assert_int_equal(sl_schema_match_header(s, h, 2, false, map, NULL, err, sizeof err), 0);
	assert_int_equal(map[0], 0);
	assert_int_equal(map[1], 1);
	sl_schema_free(s);
	snprintf(yaml, sizeof yaml, "name: t\n%s", cols);
	s = P(yaml);
	assert_int_equal(sl_schema_match_header(s, h, 2, false, map, NULL, err, sizeof err),
	                 SL_FATAL_HEADER);
	assert_non_null(strstr(err, "'id' (did you mean ' id '?), 'name' (did you mean 'name?'?)"));
	sl_schema_free(s);
}

/* VAL_PATTERN shows the pattern escaped as the value is */
static void test_pattern_message(void **state)
{
	(void)state;
	sl_schema *s = P("name: t\ncolumns: [{name: a, type: text, pattern: \"^x\\t\\\"y$\"}]\n");
	sl_validator *v;
	assert_int_equal(sl_validator_new(s, &v), 0);
	char buf[128], msg[256];
	size_t used;
	sl_value out;
	sl_str f = L("z");
	assert_int_equal(sl_value_convert(v, 0, &f, &out, buf, &used, msg, sizeof msg),
	                 SL_VAL_PATTERN);
	assert_string_equal(msg, "a: \"z\" does not match \"^x\\x09\\\"y$\"");
	sl_validator_free(v);
	sl_schema_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_distance),        cmocka_unit_test(test_trim),
	    cmocka_unit_test(test_missing),         cmocka_unit_test(test_lenient),
	    cmocka_unit_test(test_extra_reject),    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_pattern_message), cmocka_unit_test(test_trimmed_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
