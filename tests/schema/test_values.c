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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_float_forms),
	    cmocka_unit_test(test_float_special_and_bounds),
	    cmocka_unit_test(test_double_format),
	    cmocka_unit_test(test_decimal_exponents_and_zeros),
	    cmocka_unit_test(test_decimal_rounding),
	    cmocka_unit_test(test_boolean_spellings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
