/*
 * Unit tests of the value forms of issue 9: floats (decimal and exponent
 * forms as R and pandas write them, bounds, inf/nan), decimals with
 * exponents, trailing zeros and rounding (and their REAL storage), boolean
 * spellings per column, the strftime directives and lists of formats, zoned
 * timestamps, and PCRE2 patterns on characters. Every rejection is checked
 * with its code; schema mistakes with their file:line:col.
 */
#include <math.h>
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

/* --- helpers ---------------------------------------------------------------- */

/* A one-column schema from the column's YAML flow mapping. */
static sl_schema *one_col(const char *col)
{
	char y[2048], err[512] = "";
	snprintf(y, sizeof y, "name: t\ncolumns:\n  - %s\n", col);
	sl_schema *s = NULL;
	int rc = sl_schema_parse(y, strlen(y), "v.yaml", &s, err, sizeof err);
	if (rc)
		fail_msg("schema %s: %d %s", col, rc, err);
	return s;
}

/* The message of a column that must not load. */
static const char *bad_col(const char *col)
{
	static char err[512];
	char y[2048];
	snprintf(y, sizeof y, "name: t\ncolumns:\n  - %s\n", col);
	sl_schema *s = NULL;
	err[0] = 0;
	int rc = sl_schema_parse(y, strlen(y), "v.yaml", &s, err, sizeof err);
	if (rc != SL_CONFIG)
		fail_msg("schema %s loaded (rc %d), expected an error", col, rc);
	assert_null(s);
	return err;
}

#define assert_bad_col(col, where, what)                                                           \
	do {                                                                                       \
		const char *e_ = bad_col(col);                                                     \
		if (strncmp(e_, where, strlen(where)) != 0 || !strstr(e_, what))                   \
			fail_msg("got \"%s\", want \"%s ... %s\"", e_, where, what);               \
	} while (0)

static char msg[512];

/* Converts `field` in column 0 into *val (text views point into a static
   buffer); returns the code, msg keeps the message. */
static int run(const sl_schema *s, const char *field, sl_value *val)
{
	static char buf[1024];
	sl_validator *v = NULL;
	assert_int_equal(sl_validator_new(s, &v), 0);
	size_t used = 0;
	sl_str f = sl_str_make(field, strlen(field));
	msg[0] = 0;
	int rc = sl_value_convert(v, 0, &f, val, buf, &used, msg, sizeof msg);
	sl_validator_free(v);
	return rc;
}

/* The stored form of `field` in column 0, as text: "NULL", "i:N", "r:%.17g",
   "t:text", or "!CODE". */
static const char *conv(const sl_schema *s, const char *field)
{
	static char out[512];
	sl_value val;
	int rc = run(s, field, &val);
	if (rc)
		snprintf(out, sizeof out, "!%s", sl_error_name(rc));
	else if (val.kind == SL_VALUE_NULL)
		snprintf(out, sizeof out, "NULL");
	else if (val.kind == SL_VALUE_INT)
		snprintf(out, sizeof out, "i:%lld", (long long)val.i);
	else if (val.kind == SL_VALUE_REAL)
		snprintf(out, sizeof out, "r:%.17g", val.d);
	else
		snprintf(out, sizeof out, "t:%.*s", (int)val.s.n, val.s.p);
	return out;
}

/* Each pair: field, expected form. */
static void check_col(const char *col, const char *const *pairs)
{
	sl_schema *s = one_col(col);
	for (; pairs[0]; pairs += 2) {
		const char *got = conv(s, pairs[0]);
		if (strcmp(got, pairs[1]) != 0)
			fail_msg("%s: \"%s\" gave %s (%s), want %s", col, pairs[0], got, msg,
			         pairs[1]);
	}
	sl_schema_free(s);
}

/* The double a field stores as, exactly. */
static double real_of(const sl_schema *s, const char *field)
{
	sl_value val;
	int rc = run(s, field, &val);
	if (rc || val.kind != SL_VALUE_REAL)
		fail_msg("\"%s\": rc %d kind %d (%s)", field, rc, (int)val.kind, msg);
	return val.d;
}

/* --- floats ----------------------------------------------------------------- */

static void test_float_forms(void **state)
{
	(void)state;
	static const char *const pairs[] = {"9.579434990882874e-4",
	                                    "r:0.00095794349908828735",
	                                    "6.0760000000000005",
	                                    "r:6.0760000000000005",
	                                    "1E5",
	                                    "r:100000",
	                                    "-0.5",
	                                    "r:-0.5",
	                                    "+.5",
	                                    "r:0.5",
	                                    "5.",
	                                    "r:5",
	                                    "42",
	                                    "r:42",
	                                    "1e-400", /* underflow: the nearest double */
	                                    "r:0",
	                                    "1.7976931348623157e308",
	                                    "r:1.7976931348623157e+308",
	                                    "1e309",
	                                    "!VAL_RANGE",
	                                    "-1e400",
	                                    "!VAL_RANGE",
	                                    "inf",
	                                    "!VAL_TYPE",
	                                    "-Infinity",
	                                    "!VAL_TYPE",
	                                    "NaN",
	                                    "!VAL_TYPE",
	                                    "0x1p3", /* strtod would take hex floats */
	                                    "!VAL_TYPE",
	                                    " 1",
	                                    "!VAL_TYPE",
	                                    "1 ",
	                                    "!VAL_TYPE",
	                                    "1e",
	                                    "!VAL_TYPE",
	                                    "1e+",
	                                    "!VAL_TYPE",
	                                    ".",
	                                    "!VAL_TYPE",
	                                    "-",
	                                    "!VAL_TYPE",
	                                    "1,5",
	                                    "!VAL_TYPE",
	                                    "nan(1)",
	                                    "!VAL_TYPE",
	                                    "infinit",
	                                    "!VAL_TYPE",
	                                    NULL};
	check_col("{name: x, type: float}", pairs);
	sl_schema *s = one_col("{name: x, type: float}");
	assert_int_equal(sl_column_storage(&s->cols[0]), SL_VALUE_REAL);
	/* exact: the correctly rounded double, as Python's float() gives */
	assert_true(real_of(s, "9.579434990882874e-4") == 9.579434990882874e-4);
	assert_true(real_of(s, "6.0760000000000005") == 6.0760000000000005);
	assert_true(real_of(s, "0.1") == 0.1);
	assert_true(real_of(s, "2.2250738585072011e-308") == 2.2250738585072011e-308);
	assert_true(real_of(s, "123456789012345678901234567890") ==
	            123456789012345678901234567890.0);
	sl_schema_free(s);
	/* a message quotes the value and says how to accept it */
	s = one_col("{name: x, type: float}");
	assert_string_equal(conv(s, "-inf"), "!VAL_TYPE");
	assert_non_null(strstr(msg, "\"-inf\" is not a finite number (allow_special: true"));
	sl_schema_free(s);
}

static void test_float_special_and_bounds(void **state)
{
	(void)state;
	static const char *const special[] = {
	    "inf",   "r:inf", "-INF",  "r:-inf", "Infinity", "r:inf", "+infinity", "r:inf", "nan",
	    "r:nan", "NAN",   "r:nan", "1.5",    "r:1.5",    "nanx",  "!VAL_TYPE", NULL};
	check_col("{name: x, type: float, allow_special: true}", special);
	static const char *const bounded[] = {"-1000",    "r:-1000",    "1e3",      "r:1000",
	                                      "-1000.01", "!VAL_RANGE", "1000.001", "!VAL_RANGE",
	                                      "0",        "r:0",        NULL};
	check_col("{name: x, type: float, min: -1e3, max: '1000'}", bounded);
	/* nan is outside any bound; inf above any max */
	static const char *const both[] = {"nan",  "!VAL_RANGE", "inf", "!VAL_RANGE",
	                                   "-inf", "r:-inf",     NULL};
	check_col("{name: x, type: float, allow_special: true, max: 0}", both);
	/* SQLite has no NaN: a required column keeps it out */
	static const char *const req[] = {"nan", "!VAL_TYPE", "inf", "r:inf", NULL};
	check_col("{name: x, type: float, allow_special: true, required: true}", req);
	assert_bad_col("{name: x, type: float, min: abc}",
	               "v.yaml:3:33: ", "min must be a finite number");
	assert_bad_col("{name: x, type: float, max: inf}",
	               "v.yaml:3:33: ", "max must be a finite number");
	assert_bad_col("{name: x, type: float, min: 2, max: 1}",
	               "v.yaml:3:41: ", "min (2) is greater than max (1)");
	assert_bad_col("{name: x, type: float, allow_special: yes}",
	               "v.yaml:3:43: ", "allow_special must be true or false");
	assert_bad_col("{name: x, type: integer, allow_special: true}", "v.yaml:3:30: ",
	               "'allow_special' does not apply to integer columns (only to float)");
	assert_bad_col("{name: x, type: float, precision: 3}",
	               "v.yaml:3:28: ", "'precision' does not apply to float columns");
}

/* A float's JSON text reads back as the same double, shortest first. */
static void test_double_format(void **state)
{
	(void)state;
	static const double xs[] = {0.1,
	                            6.0760000000000005,
	                            9.579434990882874e-4,
	                            1e21,
	                            -0.0,
	                            5e-324,
	                            1.7976931348623157e308,
	                            100000.0,
	                            1.0 / 3};
	char buf[32];
	for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
		sl_double_format(xs[i], buf);
		assert_true(strtod(buf, NULL) == xs[i]);
	}
	sl_double_format(0.1, buf);
	assert_string_equal(buf, "0.1");
	sl_double_format(6.0760000000000005, buf);
	assert_string_equal(buf, "6.0760000000000005");
}

/* --- decimals --------------------------------------------------------------- */

/* The canonical text a decimal column stores (REAL up to precision 15). */
static void check_dec(const char *col, const char *const *pairs)
{
	sl_schema *s = one_col(col);
	for (; pairs[0]; pairs += 2) {
		sl_value val;
		char got[64];
		int rc = run(s, pairs[0], &val);
		if (rc)
			snprintf(got, sizeof got, "!%s", sl_error_name(rc));
		else if (val.kind == SL_VALUE_REAL)
			sl_decimal_real_format(&s->cols[0], val.d, got);
		else if (val.kind == SL_VALUE_TEXT)
			snprintf(got, sizeof got, "%.*s", (int)val.s.n, val.s.p);
		else
			snprintf(got, sizeof got, "kind %d", (int)val.kind);
		if (strcmp(got, pairs[1]) != 0)
			fail_msg("%s: \"%s\" gave %s (%s), want %s", col, pairs[0], got, msg,
			         pairs[1]);
		/* a REAL is the double nearest the canonical text */
		if (!rc && val.kind == SL_VALUE_REAL && strtod(got, NULL) != val.d)
			fail_msg("%s: \"%s\" stored %.17g, not the double of %s", col, pairs[0],
			         val.d, got);
	}
	sl_schema_free(s);
}

static void test_decimal_exponents_and_zeros(void **state)
{
	(void)state;
	/* R's 9.579434990882874e-4 at scale 19: exact, wide, so TEXT */
	static const char *const wide[] = {"9.579434990882874e-4",
	                                   "0.0009579434990882874",
	                                   "9.579434990882874E-4",
	                                   "0.0009579434990882874",
	                                   "95794349908828740000e-23",
	                                   "0.0009579434990882874",
	                                   "1e-19",
	                                   "0.0000000000000000001",
	                                   "1e-20",
	                                   "!VAL_TYPE",
	                                   "1.5e-19", /* 1.5e-19 has 20 decimal places */
	                                   "!VAL_TYPE",
	                                   "10e-20",
	                                   "0.0000000000000000001",
	                                   NULL};
	check_dec("{name: d, type: decimal, precision: 20, scale: 19}", wide);
	sl_schema *s = one_col("{name: d, type: decimal, precision: 20, scale: 19}");
	assert_int_equal(sl_column_storage(&s->cols[0]), SL_VALUE_TEXT);
	sl_schema_free(s);
	static const char *const narrow[] = {"1.230",
	                                     "1.23",
	                                     "1.2300000000000000000000",
	                                     "1.23",
	                                     "1e3",
	                                     "1000.00",
	                                     "1.5E+2",
	                                     "150.00",
	                                     "-2.5e1",
	                                     "-25.00",
	                                     "0e99",
	                                     "0.00",
	                                     "0.000e-5",
	                                     "0.00",
	                                     "12345e-2",
	                                     "123.45",
	                                     "1.234",
	                                     "!VAL_TYPE",
	                                     "1e13",
	                                     "!VAL_RANGE",
	                                     "9999999999999.99",
	                                     "9999999999999.99",
	                                     "1e",
	                                     "!VAL_TYPE",
	                                     "e5",
	                                     "!VAL_TYPE",
	                                     "1e5.5",
	                                     "!VAL_TYPE",
	                                     "1e99999999999",
	                                     "!VAL_RANGE",
	                                     "1e-99999999999",
	                                     "!VAL_TYPE",
	                                     NULL};
	check_dec("{name: d, type: decimal, precision: 15, scale: 2}", narrow);
	s = one_col("{name: d, type: decimal, precision: 15, scale: 2}");
	assert_int_equal(sl_column_storage(&s->cols[0]), SL_VALUE_REAL);
	/* the canonical text a REAL decimal prints back to, at the edge */
	sl_value val;
	assert_int_equal(run(s, "-9999999999999.99", &val), 0);
	assert_int_equal(val.kind, SL_VALUE_REAL);
	assert_true(val.d == -9999999999999.99);
	assert_int_equal(run(s, "0.1", &val), 0);
	assert_true(val.d == 0.1);
	sl_schema_free(s);
	/* precision 16 and more: TEXT, exact as ever */
	s = one_col("{name: d, type: decimal, precision: 16, scale: 2}");
	assert_int_equal(sl_column_storage(&s->cols[0]), SL_VALUE_TEXT);
	assert_string_equal(conv(s, "12345678901234.5e0"), "t:12345678901234.50");
	sl_schema_free(s);
	/* bounds take exponents too */
	static const char *const bounded[] = {"1e2", "100.0", "100.1", "!VAL_RANGE", NULL};
	check_dec("{name: d, type: decimal, precision: 6, scale: 1, max: 1e2}", bounded);
}

static void test_decimal_rounding(void **state)
{
	(void)state;
	static const char *const even[] = {
	    "1.005",    "1.00",   "1.015", "1.02",           "1.025",  "1.02",    "1.0251",
	    "1.03",     "-1.005", "-1.00", "-1.015",         "-1.02",  "2.675",   "2.68",
	    "0.004999", "0.00",   "0.005", "0.00",           "0.0051", "0.01",    "9.995e-1",
	    "1.00",     "1.23",   "1.23",  "1.2349999999e0", "1.23",   "999.995", "!VAL_RANGE",
	    "1e-30",    "0.00",   "5e-3",  "0.00",           NULL};
	check_dec("{name: d, type: decimal, precision: 5, scale: 2, round: half_even}", even);
	static const char *const up[] = {"1.005",      "1.01",   "1.015",   "1.02",   "1.025",
	                                 "1.03",       "-1.005", "-1.01",   "1.0049", "1.00",
	                                 "5e-3",       "0.01",   "999.994", "999.99", "999.995",
	                                 "!VAL_RANGE", NULL};
	check_dec("{name: d, type: decimal, precision: 5, scale: 2, round: half_up}", up);
	/* scale 0 and a wide column */
	static const char *const s0[] = {"2.5", "2",         "3.5", "4", "-0.5",
	                                 "0",   "0.5000001", "1",   NULL};
	check_dec("{name: d, type: decimal, precision: 3, round: half_even}", s0);
	static const char *const w[] = {"0.12345678901234567895", "0.1234567890123456790",
	                                "0.12345678901234567885", "0.1234567890123456788", NULL};
	check_dec("{name: d, type: decimal, precision: 20, scale: 19, round: half_even}", w);
	/* exact stays the default */
	static const char *const exact[] = {"1.005", "!VAL_TYPE", "1.000", "1.00", NULL};
	check_dec("{name: d, type: decimal, precision: 5, scale: 2}", exact);
	check_dec("{name: d, type: decimal, precision: 5, scale: 2, round: exact}", exact);
	assert_bad_col("{name: d, type: decimal, precision: 5, round: up}",
	               "v.yaml:3:51: ", "round must be exact, half_even or half_up, not 'up'");
	assert_bad_col("{name: d, type: float, round: half_even}", "v.yaml:3:28: ",
	               "'round' does not apply to float columns (only to decimal)");
}

/* --- booleans --------------------------------------------------------------- */

static void test_boolean_spellings(void **state)
{
	(void)state;
	static const char *const yn[] = {"Yes",  "i:1",       "No", "i:0",       "yes", "!VAL_TYPE",
	                                 "true", "!VAL_TYPE", "1",  "!VAL_TYPE", "Y",   "i:1",
	                                 "N",    "i:0",       "",   "NULL",      NULL};
	check_col("{name: b, type: boolean, true_values: [Yes, Y], false_values: [No, N]}", yn);
	sl_schema *s =
	    one_col("{name: b, type: boolean, true_values: [Yes, Y], false_values: [No, N]}");
	assert_string_equal(conv(s, "maybe"), "!VAL_TYPE");
	sl_schema_free(s);
	assert_string_equal(msg, "b: \"maybe\" is not a boolean (Yes, Y / No, N)");
	/* 1/0 only, and one string for a list of one */
	static const char *const bits[] = {"1", "i:1", "0", "i:0", "yes", "!VAL_TYPE", NULL};
	check_col("{name: b, type: boolean, true_values: '1', false_values: '0'}", bits);
	/* the defaults as before */
	static const char *const defaults[] = {"TRUE", "i:1", "f", "i:0",       "Yes", "i:1",
	                                       "n",    "i:0", "2", "!VAL_TYPE", NULL};
	check_col("{name: b, type: boolean}", defaults);
	assert_bad_col("{name: b, type: boolean, true_values: [Y]}",
	               "v.yaml:3:30: ", "true_values and false_values go together");
	assert_bad_col("{name: b, type: boolean, true_values: [Y], false_values: [N, Y]}",
	               "v.yaml:3:62: ", "'Y' is both a true and a false value");
	assert_bad_col("{name: b, type: boolean, true_values: [''], false_values: [N]}",
	               "v.yaml:3:43: ", "an empty spelling cannot be a boolean");
	assert_bad_col("{name: b, type: boolean, true_values: [], false_values: [N]}",
	               "v.yaml:3:43: ", "the list of spellings is empty");
	assert_bad_col("{name: b, type: text, true_values: [Y], false_values: [N]}",
	               "v.yaml:3:27: ", "'true_values' does not apply to text columns");
}

/* --- patterns --------------------------------------------------------------- */

static void test_patterns_on_characters(void **state)
{
	(void)state;
	/* one `.` is one character, so pattern and max_length agree */
	static const char *const dots[] = {
	    "abc",   "t:abc", "Zoë",          "t:Zoë", "東京都",      "t:東京都", "😀😀😀",
	    "t:😀😀😀", "ab",    "!VAL_PATTERN", "abcd",  "!VAL_LENGTH", NULL};
	check_col("{name: t, type: text, pattern: '^.{3}$', max_length: 3}", dots);
	/* Unicode letters by class and by property */
	static const char *const alpha[] = {"Åsa",  "t:Åsa",        "Ελλάδα", "t:Ελλάδα",
	                                    "abc1", "!VAL_PATTERN", NULL};
	check_col("{name: t, type: text, pattern: '^[[:alpha:]]+$'}", alpha);
	static const char *const pl[] = {"Ünïcödé", "t:Ünïcödé",    "東京", "t:東京",
	                                 "a b",     "!VAL_PATTERN", NULL};
	check_col("{name: t, type: text, pattern: '^\\p{L}+$'}", pl);
	/* \d in UCP mode is any decimal digit; [0-9] is ASCII only */
	static const char *const dd[] = {"123", "t:123",        "١٢٣", "t:١٢٣",
	                                 "12a", "!VAL_PATTERN", NULL};
	check_col("{name: t, type: text, pattern: '^\\d+$'}", dd);
	static const char *const ascii[] = {"123", "t:123", "١٢٣", "!VAL_PATTERN", NULL};
	check_col("{name: t, type: text, pattern: '^[0-9]+$'}", ascii);
	/* $ only at the very end; \n is a newline; `.` is not one */
	static const char *const nl[] = {"abc", "t:abc", "abc\n", "!VAL_PATTERN", NULL};
	check_col("{name: t, type: text, pattern: '^abc$'}", nl);
	static const char *const nl2[] = {"a\nb", "t:a\nb", "a b", "!VAL_PATTERN", NULL};
	check_col("{name: t, type: text, pattern: \"^a\\\\nb$\"}", nl2);
	static const char *const dotnl[] = {"a\nb", "!VAL_PATTERN", "a-b", "t:a-b", NULL};
	check_col("{name: t, type: text, pattern: '^a.b$'}", dotnl);
	static const char *const dotall[] = {"a\nb", "t:a\nb", NULL};
	check_col("{name: t, type: text, pattern: '(?s)^a.b$'}", dotall);
	/* unanchored patterns search, as before; the simple fast form agrees */
	static const char *const search[] = {"xxabyy", "t:xxabyy", "xyz", "!VAL_PATTERN", NULL};
	check_col("{name: t, type: text, pattern: 'ab'}", search);
	static const char *const simple[] = {"abc", "t:abc", "aé", "!VAL_PATTERN",
	                                     "",    "NULL",  NULL};
	check_col("{name: t, type: text, pattern: '^[a-z]{1,3}$'}", simple);
	/* Perl syntax */
	static const char *const perl[] = {"2024-01-05", "t:2024-01-05", "2024-1-05",
	                                   "!VAL_PATTERN", NULL};
	check_col("{name: t, type: text, pattern: '^(?<y>\\d{4})-\\d{2}-\\d{2}$'}", perl);
	/* the message quotes the pattern as it quotes the value */
	sl_schema *s = one_col("{name: t, type: text, pattern: '^\"[a-z]+\"\\t$'}");
	assert_string_equal(conv(s, "x\ty"), "!VAL_PATTERN");
	assert_string_equal(msg, "t: \"x\\x09y\" does not match \"^\\\"[a-z]+\\\"\\\\t$\"");
	sl_schema_free(s);
	/* the schema compiles the pattern once, and validators share it */
	s = one_col("{name: t, type: text, pattern: '^\\p{Lu}'}");
	assert_non_null(s->cols[0].re);
	sl_validator *v1, *v2;
	assert_int_equal(sl_validator_new(s, &v1), 0);
	assert_int_equal(sl_validator_new(s, &v2), 0);
	sl_value val;
	char buf[64];
	size_t used;
	sl_str f1 = sl_str_make("Été", strlen("Été")), f2 = sl_str_make("été", strlen("été"));
	assert_int_equal(sl_value_convert(v1, 0, &f1, &val, buf, &used, msg, sizeof msg), 0);
	assert_int_equal(sl_value_convert(v2, 0, &f2, &val, buf, &used, msg, sizeof msg),
	                 SL_VAL_PATTERN);
	sl_validator_free(v1);
	sl_validator_free(v2);
	sl_schema_free(s);
}

static void test_pattern_errors(void **state)
{
	(void)state;
	assert_bad_col("{name: t, type: text, pattern: '[a-'}", "v.yaml:3:36: ",
	               "pattern does not compile (PCRE2): missing terminating ] for character "
	               "class, at byte 3 of the pattern");
	assert_bad_col("{name: t, type: text, pattern: '(?<n>a'}",
	               "v.yaml:3:36: ", "pattern does not compile (PCRE2)");
	assert_bad_col("{name: t, type: text, pattern: '\\p{Nope}'}",
	               "v.yaml:3:36: ", "unknown property");
	assert_bad_col("{name: t, type: text, pattern: '^a{,3}$'}", "v.yaml:3:36: ",
	               "write {0,n} for at most n ({,n} is ambiguous; \\{ for a literal brace), at "
	               "byte 2 of the pattern");
	static const char *const brace[] = {"a{,3}", "t:a{,3}", "aaa", "!VAL_PATTERN", NULL};
	check_col("{name: t, type: text, pattern: '^a\\{,3}$'}", brace);
	/* block style, on its own line */
	char err[512] = "";
	sl_schema *s = NULL;
	const char *y = "name: t\ncolumns:\n  - name: t\n    type: text\n    pattern: 'a{2,1}'\n";
	assert_int_equal(sl_schema_parse(y, strlen(y), "p.yaml", &s, err, sizeof err), SL_CONFIG);
	const char *want = "p.yaml:5:14: pattern does not compile (PCRE2)";
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("%s", err);
}

/* --- dates and times -------------------------------------------------------- */

static void test_date_directives(void **state)
{
	(void)state;
	static const char *const names[] = {"January 5, 2024",
	                                    "t:2024-01-05",
	                                    "DECEMBER 31, 1999",
	                                    "t:1999-12-31",
	                                    "Sept 5, 2024",
	                                    "!VAL_TYPE",
	                                    "February 30, 2024",
	                                    "!VAL_TYPE",
	                                    "February 29, 2024",
	                                    "t:2024-02-29",
	                                    "February 29, 2023",
	                                    "!VAL_TYPE",
	                                    NULL};
	check_col("{name: d, type: date, format: '%B %d, %Y'}", names);
	/* weekday names must be the date's */
	static const char *const wd[] = {
	    "Fri, 05 Jan 2024",    "t:2024-01-05",     "Thu, 05 Jan 2024",
	    "!VAL_TYPE",           "fri, 05 jan 2024", "t:2024-01-05",
	    "Friday, 05 Jan 2024", "!VAL_TYPE",        NULL};
	check_col("{name: d, type: date, format: '%a, %d %b %Y'}", wd);
	static const char *const wdf[] = {"Friday 5 January 2024", "t:2024-01-05",
	                                  "Monday 5 January 2024", "!VAL_TYPE", NULL};
	check_col("{name: d, type: date, format: '%A %e %B %Y'}", wdf);
	/* %e: space-padded day, as date(1) and ls write it */
	static const char *const e[] = {
	    "Jan  5 2024", "t:2024-01-05", "Jan 15 2024", "t:2024-01-15",
	    "Jan 5 2024",  "t:2024-01-05", NULL};
	check_col("{name: d, type: date, format: '%b %e %Y'}", e);
	/* %j: day of the year */
	static const char *const j[] = {"2024-060", "t:2024-02-29", "2023-060", "t:2023-03-01",
	                                "2024-366", "t:2024-12-31", "2023-366", "!VAL_TYPE",
	                                "2023-000", "!VAL_TYPE",    "2023-1",   "t:2023-01-01",
	                                NULL};
	check_col("{name: d, type: date, format: '%Y-%j'}", j);
	/* %y: two-digit years */
	static const char *const y[] = {"05/01/24", "t:2024-01-05", "05/01/70", "t:1970-01-05",
	                                "05/01/69", "t:2069-01-05", NULL};
	check_col("{name: d, type: date, format: '%d/%m/%y'}", y);
	/* literal text around the directives, and %% */
	static const char *const lit[] = {"day 5 of 1 in 2024 (100%)", "t:2024-01-05",
	                                  "day 5 of 1 in 2024 (100)", "!VAL_TYPE", NULL};
	check_col("{name: d, type: date, format: 'day %d of %m in %Y (100%%)'}", lit);
}

static void test_date_format_lists(void **state)
{
	(void)state;
	/* the first format that parses wins: ambiguity is the user's choice */
	static const char *const two[] = {"2024-01-05",   "t:2024-01-05", "05/01/2024",
	                                  "t:2024-01-05", "5 Jan 2024",   "!VAL_TYPE",
	                                  "31/02/2024",   "!VAL_TYPE",    NULL};
	check_col("{name: d, type: date, format: ['%Y-%m-%d', '%d/%m/%Y']}", two);
	static const char *const us[] = {"02/03/2024", "t:2024-02-03", "13/03/2024", "t:2024-03-13",
	                                 NULL};
	check_col("{name: d, type: date, format: ['%m/%d/%Y', '%d/%m/%Y']}", us);
	sl_schema *s = one_col("{name: d, type: date, format: ['%Y-%m-%d', '%d/%m/%Y']}");
	assert_int_equal(s->cols[0].nformats, 2);
	assert_string_equal(s->cols[0].format, "%Y-%m-%d");
	assert_string_equal(conv(s, "Jan 5"), "!VAL_TYPE");
	assert_string_equal(msg,
	                    "d: \"Jan 5\" is not a date in any of the formats %Y-%m-%d, %d/%m/%Y");
	sl_schema_free(s);
	assert_bad_col("{name: d, type: date, format: ['%Y-%m-%d', '%d/%m']}",
	               "v.yaml:3:48: ", "format '%d/%m': a date format needs a year");
	assert_bad_col("{name: d, type: date, format: ['%Y-%m-%d', '%Y-%m-%d']}",
	               "v.yaml:3:48: ", "format '%Y-%m-%d' is listed twice");
	assert_bad_col("{name: d, type: date, format: []}",
	               "v.yaml:3:35: ", "format has no formats");
}

static void test_times_12h(void **state)
{
	(void)state;
	static const char *const t12[] = {"12:00 AM", "t:00:00:00", "12:30 PM", "t:12:30:00",
	                                  "1:05 pm",  "t:13:05:00", "11:59 PM", "t:23:59:00",
	                                  "13:00 PM", "!VAL_TYPE",  "0:10 AM",  "!VAL_TYPE",
	                                  "10:10 XM", "!VAL_TYPE",  NULL};
	check_col("{name: t, type: time, format: '%I:%M %p'}", t12);
	static const char *const hms[] = {
	    "23:59:59.123456", "t:23:59:59.123456", "24:00:00.0", "!VAL_TYPE",
	    "7:5:3.1",         "t:07:05:03.1",      NULL};
	check_col("{name: t, type: time, format: '%H:%M:%S.%f'}", hms);
}

static void test_timestamps_zones_and_epoch(void **state)
{
	(void)state;
	/* an offset or Z converts to UTC, stored with Z; no zone: as written */
	static const char *const iso[] = {"2024-01-05T23:30:00+02:00",
	                                  "t:2024-01-05T21:30:00Z",
	                                  "2024-01-05 01:30:00-0130",
	                                  "t:2024-01-05T03:00:00Z",
	                                  "2024-01-05T00:30:00+01:00",
	                                  "t:2024-01-04T23:30:00Z",
	                                  "2024-01-05T12:00:00Z",
	                                  "t:2024-01-05T12:00:00Z",
	                                  "2024-01-05T12:00:00",
	                                  "t:2024-01-05T12:00:00",
	                                  "2024-02-30T12:00:00Z",
	                                  "!VAL_TYPE",
	                                  "2024-01-05 10:00:00+01",
	                                  "t:2024-01-05T09:00:00Z",
	                                  "2024-01-05 10:00:00+1",
	                                  "!VAL_TYPE",
	                                  "2024-01-05 10:00:00+01:",
	                                  "!VAL_TYPE",
	                                  "2024-01-05 10:00:00+013",
	                                  "!VAL_TYPE",
	                                  NULL};
	check_col("{name: ts, type: timestamp}", iso);
	static const char *const named[] = {"Fri Jan  5 23:30:00 UTC 2024",
	                                    "t:2024-01-05T23:30:00Z",
	                                    "Fri Jan  5 23:30:00 GMT 2024",
	                                    "t:2024-01-05T23:30:00Z",
	                                    "Fri Jan  5 23:30:00 CST 2024",
	                                    "!VAL_TYPE",
	                                    NULL};
	check_col("{name: ts, type: timestamp, format: '%a %b %e %H:%M:%S %Z %Y'}", named);
	static const char *const z[] = {"05/01/2024 23:30 +0530",
	                                "t:2024-01-05T18:00:00Z",
	                                "05/01/2024 23:30 Z",
	                                "t:2024-01-05T23:30:00Z",
	                                "31/12/9999 23:30 -0100",
	                                "!VAL_RANGE",
	                                NULL};
	check_col("{name: ts, type: timestamp, format: '%d/%m/%Y %H:%M %z'}", z);
	static const char *const pm[] = {"2024-01-05 11:30:15 PM", "t:2024-01-05T23:30:15", NULL};
	check_col("{name: ts, type: timestamp, format: '%Y-%m-%d %I:%M:%S %p'}", pm);
	/* %s: seconds since 1970, UTC */
	static const char *const epoch[] = {"0",
	                                    "t:1970-01-01T00:00:00Z",
	                                    "1704497400",
	                                    "t:2024-01-05T23:30:00Z",
	                                    "-1",
	                                    "t:1969-12-31T23:59:59Z",
	                                    "253402300799",
	                                    "t:9999-12-31T23:59:59Z",
	                                    "253402300800",
	                                    "!VAL_TYPE",
	                                    "12a",
	                                    "!VAL_TYPE",
	                                    NULL};
	check_col("{name: ts, type: timestamp, format: '%s'}", epoch);
	static const char *const epochf[] = {"1704497400.25", "t:2024-01-05T23:30:00.25Z", NULL};
	check_col("{name: ts, type: timestamp, format: '%s.%f'}", epochf);
	/* a list mixing zoned and local forms */
	static const char *const mix[] = {"2024-01-05T23:30:00+02:00", "t:2024-01-05T21:30:00Z",
	                                  "05/01/2024 23:30", "t:2024-01-05T23:30:00", NULL};
	check_col("{name: ts, type: timestamp, format: ['%Y-%m-%dT%H:%M:%S%z', '%d/%m/%Y %H:%M']}",
	          mix);
}

static void test_format_shorthands(void **state)
{
	(void)state;
	static const char *const ft[] = {"2024-01-05 23:30:00", "t:2024-01-05T23:30:00", NULL};
	check_col("{name: ts, type: timestamp, format: '%F %T'}", ft);
	static const char *const dr[] = {"01/05/24 23:30", "t:2024-01-05T23:30:00", NULL};
	check_col("{name: ts, type: timestamp, format: '%D %R'}", dr);
	static const char *const nopad[] = {"5/1/2024", "t:2024-01-05", "%-d", "!VAL_TYPE", NULL};
	check_col("{name: d, type: date, format: '%-d/%-m/%Y'}", nopad);
	sl_schema *s = one_col("{name: d, type: date, format: ['%F', '%-d.%-m.%Y']}");
	assert_string_equal(s->cols[0].formats[0], "%Y-%m-%d");
	assert_string_equal(s->cols[0].formats[1], "%d.%m.%Y");
	assert_string_equal(s->cols[0].format, "%Y-%m-%d");
	sl_schema_free(s);
	assert_bad_col("{name: d, type: date, format: '%F %T'}", "v.yaml:3:35: ",
	               "format '%F %T': a date format cannot have time or zone directives");
	assert_bad_col("{name: d, type: date, format: '%Y-%m-%-q'}",
	               "v.yaml:3:35: ", "unknown directive");
}

static void test_format_checks(void **state)
{
	(void)state;
	static const struct {
		const char *type, *fmt, *why;
	} bad[] = {
	    {"date", "%Y-%q", "unknown directive"},
	    {"date", "%Y %Y %m %d", "appears twice"},
	    {"date", "%Y %m %B %d", "the same part twice"},
	    {"date", "%Y %j %d", "%j (day of the year) cannot go with"},
	    {"date", "%Y %m", "a date format needs"},
	    {"date", "%Y %m %d %H", "cannot have time or zone"},
	    {"time", "%I:%M", "%I (12-hour clock) and %p (AM/PM) go together"},
	    {"time", "%H:%M %p", "%I (12-hour clock) and %p (AM/PM) go together"},
	    {"time", "%H:%M %Z", "a time format cannot have date or zone"},
	    {"time", "%H:%M.%f", "%f (fraction of a second) needs %S"},
	    {"timestamp", "%s %Y", "%s (seconds since 1970, UTC) gives the whole moment"},
	    {"date", "%s", "%s (seconds since 1970) is for timestamp columns"},
	    {"timestamp", "%Y-%m-%d %H:%M %z %Z", "the same part twice"},
	    {"timestamp", "%Y-%m-%d", "a timestamp format needs"},
	    {"date", "%Y-%m-%d %", "ends with a lone %"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char col[160];
		snprintf(col, sizeof col, "{name: d, type: %s, format: '%s'}", bad[i].type,
		         bad[i].fmt);
		const char *e = bad_col(col);
		if (!strstr(e, bad[i].why))
			fail_msg("%s: got \"%s\", want \"%s\"", col, e, bad[i].why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_float_forms),
	    cmocka_unit_test(test_float_special_and_bounds),
	    cmocka_unit_test(test_double_format),
	    cmocka_unit_test(test_decimal_exponents_and_zeros),
	    cmocka_unit_test(test_decimal_rounding),
	    cmocka_unit_test(test_boolean_spellings),
	    cmocka_unit_test(test_patterns_on_characters),
	    cmocka_unit_test(test_pattern_errors),
	    cmocka_unit_test(test_date_directives),
	    cmocka_unit_test(test_date_format_lists),
	    cmocka_unit_test(test_times_12h),
	    cmocka_unit_test(test_timestamps_zones_and_epoch),
	    cmocka_unit_test(test_format_checks),
	    cmocka_unit_test(test_format_shorthands),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
