/*
 * Unit tests of the schema module: YAML mistakes reported at their exact
 * line and column, the CDR example loaded field by field, header matching,
 * and value conversion per type with its edge cases (int64 limits, exact
 * decimals, impossible dates, zones crossing midnight, UTF-8 lengths, NUL
 * bytes, patterns, enums, null lists, required columns).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <xxhash.h>

#include "base/base.h"
#include "sluice/error.h"
#include "sluice/schema.h"
#include "schema/schema_test.h"

/* --- helpers ---------------------------------------------------------------- */

/* Converts one field: the value as text ("NULL", "i:42", or the text), or
   "!CODE" on failure; the message of the last failure is kept in last_msg. */
static char last_msg[256];
static const char *C(sl_schema *s, size_t col, const char *field)
{
	static char out[512];
	sl_validator *v;
	assert_int_equal(sl_validator_new(s, &v), 0);
	char buf[1024];
	size_t used = 99;
	sl_value val;
	sl_str f = field ? sl_str_make(field, strlen(field)) : sl_str_make(NULL, 0);
	int rc = sl_value_convert(v, col, field ? &f : NULL, &val, buf, &used, last_msg,
	                          sizeof last_msg);
	sl_validator_free(v);
	if (rc) {
		snprintf(out, sizeof out, "!%s", sl_error_name(rc));
		return out;
	}
	switch (val.kind) {
	case SL_VALUE_NULL:
		return "NULL";
	case SL_VALUE_INT:
		snprintf(out, sizeof out, "i:%lld", (long long)val.i);
		return out;
	case SL_VALUE_TEXT:
		/* the view lies in the field or in the buffer, as used says */
		if (used)
			assert_ptr_equal(val.s.p, buf);
		else
			assert_true(val.s.n == 0 || (val.s.p >= field && val.s.p < field + f.n));
		assert_true(used == 0 || used == val.s.n);
		snprintf(out, sizeof out, "%.*s", (int)val.s.n, val.s.p);
		return out;
	case SL_VALUE_REAL:
		/* a decimal's REAL prints back as its canonical text */
		if (s->cols[col].type == SL_TYPE_DECIMAL)
			sl_decimal_real_format(&s->cols[col], val.d, out);
		else
			snprintf(out, sizeof out, "r:%.17g", val.d);
		return out;
	}
	return "?";
}

/* One column of the given YAML, e.g. "{name: x, type: integer, min: 0}". */
static sl_schema *COL(const char *col)
{
	char y[1024];
	snprintf(y, sizeof y, "name: t\ncolumns:\n  - %s\n", col);
	return P(y);
}

/* --- YAML errors at their position ------------------------------------------- */

static void test_yaml_errors(void **state)
{
	(void)state;
	assert_error(
	    "name: t\n"
	    "columns:\n"
	    "  - name: a\n"
	    "    type: text\n"
	    "    colour: red\n",
	    "t.yaml:5:5: ", "unknown key 'colour' in columns[0] (allowed: name, source, type");
	assert_error("name: t\ncolour: red\ncolumns: [{name: a, type: text}]\n",
	             "t.yaml:2:1: ", "unknown key 'colour' in the schema (allowed: name, table,");
	assert_error("name: t\n"
	             "columns:\n"
	             "  - name: a\n"
	             "    type: txt\n",
	             "t.yaml:4:11: ", "unknown type 'txt'");
	assert_error("name: t\n"
	             "columns:\n"
	             "  - name: a\n"
	             "    type: text\n"
	             "    pattern: '[a-'\n",
	             "t.yaml:5:14: ", "pattern does not compile");
	assert_error("name: t\n"
	             "key: [a, b]\n"
	             "columns:\n"
	             "  - {name: a, type: text}\n",
	             "t.yaml:2:10: ", "key names unknown column 'b'");
	assert_error("name: t\n"
	             "columns:\n"
	             "  - {name: a, type: text}\n"
	             "  - {name: b, type: text}\n"
	             "  - {name: A, type: integer}\n",
	             "t.yaml:5:12: ", "duplicate column name 'A' (first at line 3");
	assert_error("name: t\n"
	             "columns:\n"
	             "  - name: n\n"
	             "    type: integer\n"
	             "    min: 10\n"
	             "    max: 5\n",
	             "t.yaml:6:10: ", "min (10) is greater than max (5)");
	assert_error("name: t\n"
	             "columns:\n"
	             "  - {name: d, type: decimal, precision: 5, scale: 2, min: '10.5', max: 3}\n",
	             "t.yaml:3:72: ", "min (10.50) is greater than max (3.00)");
	assert_error("name: t\n"
	             "columns:\n"
	             "  - name: a\n"
	             "    type: text\n"
	             "    required: yes\n",
	             "t.yaml:5:15: ", "required must be true or false");
	/* YAML syntax: libfyaml's own message and position */
	assert_error("name: t\ncolumns: [\n", "t.yaml:", "invalid YAML");
	assert_error("name: t\nname: u\ncolumns: []\n", "t.yaml:2:1: ", "duplicate key");
	assert_error("name: t\ncsv:\n  delimiter: abcde\ncolumns: [{name: a, type: text}]\n",
	             "t.yaml:3:14: ", "delimiter must be 1 to 4 bytes");
	assert_error(
	    "name: t\ncsv: {delimiter: ';', quote: ';'}\ncolumns: [{name: a, type: text}]\n",
	    "t.yaml:2:6: ", "csv: the quote cannot be a line break or the delimiter");
	assert_error("name: t\ncolumns:\n  - {name: sluice_x, type: text}\n",
	             "t.yaml:3:12: ", "must not start with 'sluice_'");
	assert_error("name: t\ncolumns:\n  - {name: 'a b', type: text}\n",
	             "t.yaml:3:12: ", "may hold only letters");
	assert_error("name: t\ncolumns:\n  - {name: 1a, type: text}\n",
	             "t.yaml:3:12: ", "must start with a letter");
	assert_error("name: t\ntable: \"x;drop\"\ncolumns:\n  - {name: a, type: text}\n",
	             "t.yaml:2:8: ", "table 'x;drop'");
	assert_error("name: t\ncolumns:\n  - {name: d, type: decimal, precision: 39}\n",
	             "t.yaml:3:41: ", "precision must be 1 to 38");
	assert_error("name: t\ncolumns:\n  - {name: d, type: decimal, precision: 4, scale: 5}\n",
	             "t.yaml:3:51: ", "scale must be 0 to the precision");
	assert_error("name: t\ncolumns:\n  - {name: d, type: decimal, precision: \"4\"}\n",
	             "t.yaml:3:41: ", "precision must be an integer, not a quoted string");
	assert_error("name: t\ncolumns:\n  - {name: d, type: decimal}\n",
	             "t.yaml:3:5: ", "needs a precision");
	assert_error("name: t\ncolumns:\n  - {name: d, type: decimal, precision: 5, scale: 2, "
	             "max: 1.234}\n",
	             "t.yaml:3:59: ", "max 1.234 has more decimal places than the scale 2");
	assert_error("name: t\ncolumns:\n  - {name: e, type: enum, values: []}\n",
	             "t.yaml:3:35: ", "values has no values");
	assert_error("name: t\ncolumns:\n  - {name: e, type: enum}\n",
	             "t.yaml:3:5: ", "needs values");
	assert_error("name: t\ncolumns:\n  - {name: e, type: text, enum: [a, b, a]}\n",
	             "t.yaml:3:40: ", "value 'a' is listed twice");
	assert_error(
	    "name: t\ncolumns:\n  - {name: n, type: integer, pattern: '^1$'}\n",
	    "t.yaml:3:30: ", "'pattern' does not apply to integer columns (only to text, enum)");
	assert_error("name: t\ncolumns: []\n", "t.yaml:2:10: ", "columns is empty");
	assert_error("name: t\ncolumns:\n", "t.yaml:2:1: ", "columns must be a list, not nothing");
	assert_error("name: t\n", "t.yaml:1:1: ", "has no columns");
	assert_error("name: t\ncolumns:\n  - {name: a}\n",
	             "t.yaml:3:5: ", "column 'a' has no type");
	assert_error("name: t\ncolumns:\n  - {type: text}\n",
	             "t.yaml:3:5: ", "columns[0] has no name");
	assert_error("name: t\ncolumns:\n  - {name: a, type: text, min_length: 5, max_length: 2}\n",
	             "t.yaml:3:54: ", "min_length (5) is greater than max_length (2)");
	assert_error("name: t\nlimits: {max_error_ratio: 1.5}\ncolumns: [{name: a, type: text}]\n",
	             "t.yaml:2:27: ", "max_error_ratio must be between 0 and 1");
	assert_error("name: t\nlimits: {max_errors: -1}\ncolumns: [{name: a, type: text}]\n",
	             "t.yaml:2:22: ", "max_errors must be 0 or more");
	assert_error("name: t\non_duplicate: replace\nkey: a\ncolumns: [{name: a, type: text}]\n",
	             "t.yaml:2:15: ", "on_duplicate must be reject, ignore or update");
	assert_error("name: t\non_duplicate: update\ncolumns: [{name: a, type: text}]\n",
	             "t.yaml:2:15: ", "needs a key");
	assert_error("name: t\ncolumns:\n  - {name: d, type: date, format: '%d/%m'}\n",
	             "t.yaml:3:35: ", "a date format needs a year");
	assert_error("name: t\ncolumns:\n  - {name: d, type: time, format: '%H:%M:%Q'}\n",
	             "t.yaml:3:35: ", "unknown directive");
	assert_error("name: t\nextra_columns: keep\ncolumns: [{name: a, type: text}]\n",
	             "t.yaml:2:16: ", "extra_columns must be reject or ignore");
	assert_error("name: t\ncolumns:\n  - {name: a, type: text, source: a}\n  - {name: b, "
	             "type: text, source: a}\n",
	             "t.yaml:4:5: ", "read the same file column 'a'");
	assert_error("name: t\ncsv: {null: [~]}\ncolumns: [{name: a, type: text}]\n",
	             "t.yaml:2:14: ", "null must be a string, not nothing");
	assert_error("name: t\ncolumns: [{name: &x a, type: text}, {name: *x, type: text}]\n",
	             "t.yaml:2:44: ", "aliases");
	assert_error("", "t.yaml:1:1: ", "empty");
	assert_error("- a\n", "t.yaml:1:1: ", "the schema must be a mapping, not a list");
	assert_error(
	    "name: t\ncolumns:\n  - name: a\n    type: integer\n    max: 9223372036854775808\n",
	    "t.yaml:5:10: ", "max does not fit in a 64-bit integer");
}

static void test_load_file_errors(void **state)
{
	(void)state;
	char err[256];
	sl_schema *s = NULL;
	assert_int_equal(sl_schema_load("/nonexistent/x.yaml", &s, err, sizeof err), SL_IO_OPEN);
	assert_null(s);
	assert_non_null(strstr(err, "/nonexistent/x.yaml: cannot open"));
}

/* --- the CDR example ----------------------------------------------------------- */

static char *example_path(const char *rel)
{
	/* __FILE__ is the absolute path of this file when CMake builds it */
	static char p[4096];
	const char *f = __FILE__;
	const char *cut = strstr(f, "tests/schema/test_schema.c");
	snprintf(p, sizeof p, "%.*s%s", cut ? (int)(cut - f) : 0, f, rel);
	return p;
}

static void test_cdr_example(void **state)
{
	(void)state;
	char err[512] = "";
	sl_schema *s = NULL;
	const char *path = example_path("examples/cdr.yaml");
	int rc = sl_schema_load(path, &s, err, sizeof err);
	if (rc)
		fail_msg("%s", err);
	assert_string_equal(s->path, path);
	assert_string_equal(s->name, "cdr");
	assert_string_equal(s->table, "call_detail_records");
	assert_int_equal(s->ncols, 8);
	assert_int_equal(s->nkey, 1);
	assert_int_equal(s->key[0], 6);
	assert_int_equal(s->on_duplicate, SL_DUP_REJECT);
	assert_int_equal(s->dialect.delimiter, ',');
	assert_int_equal(s->dialect.quote, '"');
	assert_int_equal(s->dialect.escape, '"');
	assert_true(s->dialect.header);
	assert_int_equal(s->nnulls, 1);
	assert_string_equal(s->nulls[0], "");
	assert_false(s->extra_reject);
	assert_false(s->has_max_errors);
	assert_true(s->has_max_error_ratio);
	assert_true(s->max_error_ratio > 0.099 && s->max_error_ratio < 0.101);

	static const char *const names[] = {"caller_id", "recipient", "call_date", "end_time",
	                                    "duration",  "cost",      "reference", "currency"};
	static const sl_type types[] = {SL_TYPE_TEXT, SL_TYPE_TEXT,    SL_TYPE_DATE,
	                                SL_TYPE_TIME, SL_TYPE_INTEGER, SL_TYPE_DECIMAL,
	                                SL_TYPE_TEXT, SL_TYPE_TEXT};
	static const bool req[] = {true, true, true, false, false, false, true, false};
	for (size_t i = 0; i < 8; i++) {
		assert_string_equal(s->cols[i].name, names[i]);
		assert_string_equal(s->cols[i].source, names[i]);
		assert_int_equal(s->cols[i].type, types[i]);
		assert_int_equal(s->cols[i].required, req[i]);
		assert_true(s->cols[i].yaml_line > 0);
	}
	const sl_column *c = s->cols;
	assert_string_equal(c[0].pattern, "^[0-9]{6,15}$");
	assert_int_equal(c[0].min_length, -1);
	assert_int_equal(c[0].max_length, -1);
	assert_null(c[1].pattern);
	assert_string_equal(c[2].format, "%d/%m/%Y");
	assert_string_equal(c[3].format, "%H:%M:%S");
	assert_true(c[4].has_min);
	assert_false(c[4].has_max);
	assert_int_equal(c[4].min_i, 0);
	assert_int_equal(c[5].precision, 12);
	assert_int_equal(sl_column_storage(&c[5]), SL_VALUE_REAL);
	assert_int_equal(c[5].scale, 3);
	assert_true(c[5].has_min);
	assert_string_equal(c[5].min_d, "0.000");
	assert_false(c[5].has_max);
	assert_int_equal(c[6].max_length, 64);
	assert_int_equal(c[7].nvalues, 3);
	assert_string_equal(c[7].values[0], "GBP");
	assert_string_equal(c[7].values[1], "EUR");
	assert_string_equal(c[7].values[2], "USD");
	assert_int_equal(c[0].yaml_line, 16);
	assert_int_equal(c[0].yaml_col, 5);

	/* the hash is XXH3-64 of the file's bytes */
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char bytes[1 << 16];
	size_t n = fread(bytes, 1, sizeof bytes, f);
	fclose(f);
	assert_true(s->hash == XXH3_64bits(bytes, n));

	/* a valid generated row, and the rejections of docs/gen.md */
	assert_string_equal(C(s, 0, "447946123456"), "447946123456");
	assert_string_equal(C(s, 0, ""), "!VAL_REQUIRED");
	assert_string_equal(last_msg, "caller_id is required");
	assert_string_equal(C(s, 0, "441239K456I"), "!VAL_PATTERN");
	assert_string_equal(last_msg, "caller_id: \"441239K456I\" does not match \"^[0-9]{6,15}$\"");
	assert_string_equal(C(s, 1, "+44 8785 127689,\next 969"), "+44 8785 127689,\next 969");
	assert_string_equal(C(s, 2, "29/02/2024"), "2024-02-29");
	assert_string_equal(C(s, 2, "31/02/2025"), "!VAL_TYPE");
	assert_string_equal(last_msg,
	                    "call_date: \"31/02/2025\" is not a date in the format %d/%m/%Y");
	assert_string_equal(C(s, 2, "29/02/2025"), "!VAL_TYPE");
	assert_string_equal(C(s, 2, "31/04/2024"), "!VAL_TYPE");
	assert_string_equal(C(s, 2, "01/13/2024"), "!VAL_TYPE");
	assert_string_equal(C(s, 2, "00/01/2024"), "!VAL_TYPE");
	assert_string_equal(C(s, 3, "07:04:20"), "07:04:20");
	assert_string_equal(C(s, 3, "25:10:00"), "!VAL_TYPE");
	assert_string_equal(C(s, 3, "10:60:00"), "!VAL_TYPE");
	assert_string_equal(C(s, 3, "10:00:62"), "!VAL_TYPE");
	assert_string_equal(C(s, 3, ""), "NULL");
	assert_string_equal(C(s, 4, "2714"), "i:2714");
	assert_string_equal(C(s, 4, "-1"), "!VAL_RANGE");
	assert_string_equal(last_msg, "duration: -1 is less than the minimum 0");
	assert_string_equal(C(s, 5, "4.552"), "4.552");
	assert_string_equal(C(s, 5, "12.3x4"), "!VAL_TYPE");
	assert_string_equal(C(s, 5, "abc"), "!VAL_TYPE");
	assert_string_equal(C(s, 5, "12.345.5"), "!VAL_TYPE");
	assert_string_equal(C(s, 6, "CE27B6379061C1253350313CEB1D2A16E"),
	                    "CE27B6379061C1253350313CEB1D2A16E");
	assert_string_equal(C(s, 7, "GBP"), "GBP");
	assert_string_equal(C(s, 7, "gbp"), "!VAL_ENUM");
	assert_string_equal(last_msg, "currency: \"gbp\" is not one of GBP, EUR, USD");
	assert_string_equal(C(s, 7, "JPY"), "!VAL_ENUM");
	sl_schema_free(s);
}

static void test_defaults_and_options(void **state)
{
	(void)state;
	sl_schema *s = P("name: my_data\n"
	                 "key: [b, a]\n"
	                 "on_duplicate: update\n"
	                 "extra_columns: reject\n"
	                 "csv:\n"
	                 "  delimiter: tab\n"
	                 "  quote: none\n"
	                 "  header: false\n"
	                 "  null: ['', NA, \"\\\\N\"]\n"
	                 "  comment: '#'\n"
	                 "  lenient: true\n"
	                 "  utf8: true\n"
	                 "limits: {max_errors: 0, max_error_ratio: 1}\n"
	                 "columns:\n"
	                 "  - {name: a, source: \"Caller ID\", type: text, index: true}\n"
	                 "  - {name: b, type: integer}\n");
	assert_string_equal(s->table, "my_data");
	assert_int_equal(s->nkey, 2);
	assert_int_equal(s->key[0], 1);
	assert_int_equal(s->key[1], 0);
	assert_int_equal(s->on_duplicate, SL_DUP_UPDATE);
	assert_true(s->extra_reject);
	assert_int_equal(s->dialect.delimiter, '\t');
	assert_int_equal(s->dialect.quote, SL_CSV_NONE);
	assert_int_equal(s->dialect.escape, SL_CSV_NONE);
	assert_int_equal(s->dialect.comment, '#');
	assert_false(s->dialect.header);
	assert_true(s->dialect.lenient_quotes);
	assert_true(s->dialect.validate_utf8);
	assert_int_equal(s->nnulls, 3);
	assert_string_equal(s->nulls[1], "NA");
	assert_string_equal(s->nulls[2], "\\N");
	assert_true(s->has_max_errors);
	assert_int_equal(s->max_errors, 0);
	assert_true(s->max_error_ratio == 1.0);
	assert_string_equal(s->cols[0].source, "Caller ID");
	assert_true(s->cols[0].index);
	assert_string_equal(sl_type_name(SL_TYPE_TIMESTAMP), "timestamp");
	assert_string_equal(sl_type_name((sl_type)99), "unknown");
	/* nulls list */
	assert_string_equal(C(s, 1, "NA"), "NULL");
	assert_string_equal(C(s, 1, "\\N"), "NULL");
	assert_string_equal(C(s, 1, ""), "NULL");
	assert_string_equal(C(s, 1, "N"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "na"), "na");
	sl_schema_free(s);

	/* no key is fine; "\t" written as an escape works too */
	s = P("name: t\ncsv: {delimiter: \"\\t\", null: []}\ncolumns: [{name: a, type: text}]\n");
	assert_int_equal(s->nkey, 0);
	assert_int_equal(s->dialect.delimiter, '\t');
	assert_int_equal(s->nnulls, 0);
	assert_string_equal(C(s, 0, ""), "");
	assert_string_equal(C(s, 0, NULL), "NULL"); /* absent column */
	sl_schema_free(s);
}

/* --- header matching ------------------------------------------------------------ */

static void test_map_header(void **state)
{
	(void)state;
	sl_schema *s = P("name: t\n"
	                 "columns:\n"
	                 "  - {name: id, type: integer, required: true}\n"
	                 "  - {name: who, source: Caller, type: text}\n"
	                 "  - {name: opt, type: text, optional: true}\n"
	                 "  - {name: need, type: text, required: true}\n");
	int map[4];
	char err[256];
	sl_str h1[] = {SL_STR_LIT("need"), SL_STR_LIT("x"), SL_STR_LIT("Caller"), SL_STR_LIT("id")};
	assert_int_equal(sl_schema_map_header(s, h1, 4, map, err, sizeof err), 0);
	assert_int_equal(map[0], 3);
	assert_int_equal(map[1], 2);
	assert_int_equal(map[2], -1);
	assert_int_equal(map[3], 0);

	sl_str h2[] = {SL_STR_LIT("who"), SL_STR_LIT("opt")}; /* `who` is not the source */
	assert_int_equal(sl_schema_map_header(s, h2, 2, map, err, sizeof err), SL_FATAL_HEADER);
	assert_non_null(strstr(err, "the header lacks the column(s) 'id', 'Caller', 'need'"));

	sl_str h3[] = {SL_STR_LIT("id"), SL_STR_LIT("need"), SL_STR_LIT("id")};
	assert_int_equal(sl_schema_map_header(s, h3, 3, map, err, sizeof err), SL_FATAL_HEADER);
	assert_non_null(strstr(err, "'id' twice"));
	sl_schema_free(s);

	s = P("name: t\nextra_columns: reject\nkey: k\n"
	      "columns: [{name: k, type: text}, {name: a, type: text}]\n");
	sl_str h4[] = {SL_STR_LIT("a"), SL_STR_LIT("k"), SL_STR_LIT("zz"), SL_STR_LIT("yy")};
	assert_int_equal(sl_schema_map_header(s, h4, 4, map, err, sizeof err), SL_FATAL_HEADER);
	assert_non_null(strstr(err, "extra_columns: reject): 'zz', 'yy'"));
	sl_str h5[] = {SL_STR_LIT("a")}; /* the key is needed even when not `required` */
	assert_int_equal(sl_schema_map_header(s, h5, 1, map, err, sizeof err), SL_FATAL_HEADER);
	assert_non_null(strstr(err, "the header lacks the column(s) 'k'"));
	sl_str h6[] = {SL_STR_LIT("k"), SL_STR_LIT("a")};
	assert_int_equal(sl_schema_map_header(s, h6, 2, map, err, sizeof err), 0);
	sl_schema_free(s);
}

/* --- values ------------------------------------------------------------------------ */

static void test_text(void **state)
{
	(void)state;
	sl_schema *s = COL("{name: t, type: text, min_length: 2, max_length: 3}");
	assert_string_equal(C(s, 0, "ab"), "ab");
	assert_string_equal(C(s, 0, "\xc3\xa9\xc3\xa9\xc3\xa9"),
	                    "\xc3\xa9\xc3\xa9\xc3\xa9"); /* 3 chars, 6 bytes */
	assert_string_equal(C(s, 0, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"),
	                    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80");
	assert_string_equal(C(s, 0, "abcd"), "!VAL_LENGTH");
	assert_string_equal(last_msg, "t: \"abcd\" has 4 characters, more than the maximum 3");
	assert_string_equal(C(s, 0, "\xc3\xa9"), "!VAL_LENGTH");
	assert_string_equal(C(s, 0, "a\xff"), "!VAL_TYPE");
	assert_string_equal(last_msg, "t: is not valid UTF-8 (at byte 2)");
	assert_string_equal(C(s, 0, "\xc0\xaf"), "!VAL_TYPE");     /* overlong */
	assert_string_equal(C(s, 0, "\xed\xa0\x80"), "!VAL_TYPE"); /* surrogate */
	assert_string_equal(C(s, 0, "\xe2\x82"), "!VAL_TYPE");     /* truncated */
	sl_schema_free(s);

	/* NUL inside a field (C() cannot pass one: call directly) */
	s = COL("{name: t, type: text}");
	sl_validator *v;
	assert_int_equal(sl_validator_new(s, &v), 0);
	char buf[128], msg[128];
	size_t used;
	sl_value val;
	sl_str f = {"abcdefghij\0k", 12};
	assert_int_equal(sl_value_convert(v, 0, &f, &val, buf, &used, msg, sizeof msg),
	                 SL_VAL_TYPE);
	assert_string_equal(msg, "t: contains a NUL byte (at byte 11)");
	sl_str g = {"abcdefghijklmnopqrstuvwxyz", 26};
	assert_int_equal(sl_value_convert(v, 0, &g, &val, buf, &used, msg, sizeof msg), 0);
	assert_int_equal(val.kind, SL_VALUE_TEXT);
	assert_ptr_equal(val.s.p, g.p); /* a view, not a copy */
	assert_int_equal(used, 0);
	assert_int_equal(sl_value_convert(v, 5, &g, &val, buf, &used, msg, sizeof msg), SL_INVAL);
	sl_validator_free(v);
	sl_schema_free(s);

	/* patterns: the simple fast form and the regex engine agree */
	const char *pats[] = {"{name: t, type: text, pattern: '^[0-9]{6,15}$'}",
	                      "{name: t, type: text, pattern: '^([0-9]){6,15}$'}"};
	for (size_t i = 0; i < 2; i++) {
		s = COL(pats[i]);
		assert_string_equal(C(s, 0, "123456"), "123456");
		assert_string_equal(C(s, 0, "123456789012345"), "123456789012345");
		assert_string_equal(C(s, 0, "12345"), "!VAL_PATTERN");
		assert_string_equal(C(s, 0, "1234567890123456"), "!VAL_PATTERN");
		assert_string_equal(C(s, 0, "12345a"), "!VAL_PATTERN");
		assert_string_equal(C(s, 0, "x123456"), "!VAL_PATTERN");
		sl_schema_free(s);
	}
	/* unanchored patterns search; REG_STARTEND sees only the field's bytes */
	s = COL("{name: t, type: text, pattern: 'b+c'}");
	assert_string_equal(C(s, 0, "abbcd"), "abbcd");
	assert_string_equal(C(s, 0, "abd"), "!VAL_PATTERN");
	sl_schema_free(s);
	s = COL("{name: t, type: text, pattern: '^a.c$'}");
	assert_int_equal(sl_validator_new(s, &v), 0);
	sl_str h = {"abcd", 3}; /* "abc" followed by a byte that is not the field's */
	assert_int_equal(sl_value_convert(v, 0, &h, &val, buf, &used, msg, sizeof msg), 0);
	sl_str h2 = {"abcd", 2};
	assert_int_equal(sl_value_convert(v, 0, &h2, &val, buf, &used, msg, sizeof msg),
	                 SL_VAL_PATTERN);
	sl_validator_free(v);
	sl_schema_free(s);

	/* enums: exact bytes; type enum and enum: on text behave alike */
	s = P("name: t\ncolumns:\n  - {name: a, type: enum, values: [GBP, EUR]}\n"
	      "  - {name: b, type: text, enum: [x, 'y z'], required: true}\n");
	assert_int_equal(s->cols[0].type, SL_TYPE_ENUM);
	assert_int_equal(s->cols[1].type, SL_TYPE_TEXT);
	assert_string_equal(C(s, 0, "EUR"), "EUR");
	assert_string_equal(C(s, 0, "EU"), "!VAL_ENUM");
	assert_string_equal(C(s, 0, "EURO"), "!VAL_ENUM");
	assert_string_equal(C(s, 0, "eur"), "!VAL_ENUM");
	assert_string_equal(C(s, 0, ""), "NULL");
	assert_string_equal(C(s, 1, "y z"), "y z");
	assert_string_equal(C(s, 1, ""), "!VAL_REQUIRED");
	assert_string_equal(last_msg, "b is required");
	assert_string_equal(C(s, 1, NULL), "!VAL_REQUIRED");
	sl_schema_free(s);

	/* long values are cut in messages; odd bytes escaped */
	s = COL("{name: t, type: text, pattern: '^x$'}");
	assert_string_equal(C(s, 0, "0123456789012345678901234567890123456789ABCDEFG"),
	                    "!VAL_PATTERN");
	assert_string_equal(
	    last_msg, "t: \"0123456789012345678901234567890123456789...\" does not match \"^x$\"");
	assert_string_equal(C(s, 0, "a\"b\tc"), "!VAL_PATTERN");
	assert_string_equal(last_msg, "t: \"a\\\"b\\x09c\" does not match \"^x$\"");
	sl_schema_free(s);
}

static void test_integer(void **state)
{
	(void)state;
	sl_schema *s = COL("{name: n, type: integer}");
	assert_string_equal(C(s, 0, "0"), "i:0");
	assert_string_equal(C(s, 0, "+42"), "i:42");
	assert_string_equal(C(s, 0, "-42"), "i:-42");
	assert_string_equal(C(s, 0, "007"), "i:7");
	assert_string_equal(C(s, 0, "9223372036854775807"), "i:9223372036854775807");
	assert_string_equal(C(s, 0, "-9223372036854775808"), "i:-9223372036854775808");
	assert_string_equal(C(s, 0, "9223372036854775808"), "!VAL_TYPE");
	assert_string_equal(last_msg,
	                    "n: \"9223372036854775808\" does not fit in a 64-bit integer");
	assert_string_equal(C(s, 0, "-9223372036854775809"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "99999999999999999999999"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "1.0"), "!VAL_TYPE");
	assert_string_equal(last_msg, "n: \"1.0\" is not an integer");
	assert_string_equal(C(s, 0, " 1"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "1 "), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "-"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "+"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "1e3"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "1,000"), "!VAL_TYPE");
	sl_schema_free(s);
	s = COL("{name: n, type: integer, min: -9223372036854775808, max: 10}");
	assert_int_equal(s->cols[0].min_i, INT64_MIN);
	assert_string_equal(C(s, 0, "10"), "i:10");
	assert_string_equal(C(s, 0, "11"), "!VAL_RANGE");
	assert_string_equal(last_msg, "n: 11 is more than the maximum 10");
	assert_string_equal(C(s, 0, "-9223372036854775808"), "i:-9223372036854775808");
	sl_schema_free(s);
}

static void test_decimal(void **state)
{
	(void)state;
	sl_schema *s =
	    COL("{name: d, type: decimal, precision: 5, scale: 2, min: -10, max: '999.99'}");
	assert_string_equal(s->cols[0].min_d, "-10.00");
	assert_string_equal(s->cols[0].max_d, "999.99");
	assert_string_equal(C(s, 0, "1.5"), "1.50");
	assert_string_equal(C(s, 0, "1"), "1.00");
	assert_string_equal(C(s, 0, "+1."), "1.00");
	assert_string_equal(C(s, 0, ".5"), "0.50");
	assert_string_equal(C(s, 0, "000123.45"), "123.45");
	assert_string_equal(C(s, 0, "-0"), "0.00");
	assert_string_equal(C(s, 0, "-0.00"), "0.00");
	assert_string_equal(C(s, 0, "-9.99"), "-9.99");
	assert_string_equal(C(s, 0, "-10"), "-10.00");
	assert_string_equal(C(s, 0, "-10.01"), "!VAL_RANGE");
	assert_string_equal(last_msg, "d: -10.01 is less than the minimum -10.00");
	assert_string_equal(C(s, 0, "999.99"), "999.99");
	assert_string_equal(C(s, 0, "1000"), "!VAL_RANGE");
	assert_string_equal(last_msg, "d: \"1000\" exceeds precision 5,2");
	assert_string_equal(C(s, 0, "1.234"), "!VAL_TYPE");
	assert_string_equal(last_msg, "d: \"1.234\" has more than 2 decimal places");
	assert_string_equal(C(s, 0, "1.230"), "1.23"); /* trailing zeros are not digits */
	assert_string_equal(C(s, 0, "1e2"), "100.00"); /* exponents: the exact value fits */
	for (size_t i = 0; i < 9; i++) {
		static const char *const bad[] = {".",  "-",  "",    "1e", "1,5",
		                                  " 1", "1 ", "--1", "0x1"};
		if (bad[i][0])
			assert_string_equal(C(s, 0, bad[i]), "!VAL_TYPE");
	}
	sl_schema_free(s);

	/* precision 38: exact at the limit, no binary floating point anywhere */
	s = COL("{name: d, type: decimal, precision: 38, scale: 10, "
	        "max: '9999999999999999999999999999.9999999999'}");
	assert_string_equal(C(s, 0, "9999999999999999999999999999.9999999999"),
	                    "9999999999999999999999999999.9999999999");
	assert_string_equal(C(s, 0, "-9999999999999999999999999999.9999999999"),
	                    "-9999999999999999999999999999.9999999999");
	assert_string_equal(C(s, 0, "99999999999999999999999999999"), "!VAL_RANGE");
	assert_string_equal(C(s, 0, "0.1"), "0.1000000000");
	sl_schema_free(s);
	s = COL("{name: d, type: decimal, precision: 3}");
	assert_string_equal(C(s, 0, "-0"), "0");
	assert_string_equal(C(s, 0, "999"), "999");
	assert_string_equal(C(s, 0, "1.0"), "1");
	assert_string_equal(C(s, 0, "1.5"), "!VAL_TYPE");
	sl_schema_free(s);
	/* bounds compared exactly: 0.1 + 0.2 style values */
	s = COL("{name: d, type: decimal, precision: 20, scale: 18, max: 0.3}");
	assert_string_equal(C(s, 0, "0.300000000000000000"), "0.300000000000000000");
	assert_string_equal(C(s, 0, "0.300000000000000001"), "!VAL_RANGE");
	sl_schema_free(s);
}

static void test_boolean(void **state)
{
	(void)state;
	sl_schema *s = COL("{name: b, type: boolean}");
	const char *yes[] = {"true", "TRUE", "True", "t", "T", "yes", "Y", "y", "1"};
	const char *no[] = {"false", "FALSE", "f", "no", "No", "n", "0"};
	for (size_t i = 0; i < SL_ARRAY_LEN(yes); i++)
		assert_string_equal(C(s, 0, yes[i]), "i:1");
	for (size_t i = 0; i < SL_ARRAY_LEN(no); i++)
		assert_string_equal(C(s, 0, no[i]), "i:0");
	assert_string_equal(C(s, 0, "2"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "truee"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "on"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "falsey"), "!VAL_TYPE");
	sl_schema_free(s);
}

static void test_dates(void **state)
{
	(void)state;
	sl_schema *s = P("name: t\ncolumns:\n"
	                 "  - {name: d, type: date}\n"
	                 "  - {name: e, type: date, format: '%d/%m/%Y'}\n"
	                 "  - {name: f, type: date, format: '%d-%b-%y'}\n"
	                 "  - {name: g, type: date, format: '%Y%m%d'}\n");
	assert_string_equal(C(s, 0, "2024-02-29"), "2024-02-29");
	assert_string_equal(C(s, 0, "2025-02-29"), "!VAL_TYPE");
	assert_string_equal(last_msg,
	                    "d: \"2025-02-29\" is not a date in ISO 8601 form (YYYY-MM-DD)");
	assert_string_equal(C(s, 0, "2000-02-29"), "2000-02-29");
	assert_string_equal(C(s, 0, "1900-02-29"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "2024-2-29"), "!VAL_TYPE"); /* ISO: two digits */
	assert_string_equal(C(s, 0, "2024-02-29 "), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "0000-01-01"), "!VAL_TYPE");
	assert_string_equal(C(s, 1, "29/02/2024"), "2024-02-29");
	assert_string_equal(C(s, 1, "1/2/2024"), "2024-02-01");
	assert_string_equal(C(s, 1, "29/02/2025"), "!VAL_TYPE");
	assert_string_equal(C(s, 1, "31/04/2024"), "!VAL_TYPE");
	assert_string_equal(C(s, 1, "30/04/2024"), "2024-04-30");
	assert_string_equal(C(s, 1, "31/12/2024"), "2024-12-31");
	assert_string_equal(C(s, 1, "32/01/2024"), "!VAL_TYPE");
	assert_string_equal(C(s, 1, "2024-01-01"), "!VAL_TYPE");
	assert_string_equal(C(s, 1, "01/01/24"), "!VAL_TYPE");
	assert_string_equal(C(s, 2, "05-Mar-24"), "2024-03-05");
	assert_string_equal(C(s, 2, "05-DEC-69"), "2069-12-05");
	assert_string_equal(C(s, 2, "05-dec-70"), "1970-12-05");
	assert_string_equal(C(s, 2, "05-Dez-70"), "!VAL_TYPE");
	assert_string_equal(last_msg, "f: \"05-Dez-70\" is not a date in the format %d-%b-%y");
	assert_string_equal(C(s, 3, "20240229"), "2024-02-29");
	sl_schema_free(s);
}

static void test_times(void **state)
{
	(void)state;
	sl_schema *s = P("name: t\ncolumns:\n"
	                 "  - {name: t, type: time}\n"
	                 "  - {name: u, type: time, format: '%H.%M'}\n"
	                 "  - {name: v, type: time, format: '%H:%M:%S.%f'}\n");
	assert_string_equal(C(s, 0, "00:00:00"), "00:00:00");
	assert_string_equal(C(s, 0, "23:59:59"), "23:59:59");
	assert_string_equal(C(s, 0, "23:59:59.123456"), "23:59:59.123456");
	assert_string_equal(C(s, 0, "23:59:59.5"), "23:59:59.5");
	assert_string_equal(C(s, 0, "24:00:00"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "25:61:00"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "12:00:60"), "!VAL_TYPE"); /* no leap seconds */
	assert_string_equal(C(s, 0, "12:00"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "12:00:00."), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "12:00:00.1234567890"), "!VAL_TYPE");
	assert_string_equal(C(s, 1, "7.05"), "07:05:00");
	assert_string_equal(C(s, 2, "07:05:09.123456789"), "07:05:09.123456789");
	assert_string_equal(C(s, 2, "07:05:09"), "!VAL_TYPE");
	assert_string_equal(last_msg, "v: \"07:05:09\" is not a time in the format %H:%M:%S.%f");
	sl_schema_free(s);
}

static void test_timestamps(void **state)
{
	(void)state;
	sl_schema *s = P("name: t\ncolumns:\n"
	                 "  - {name: a, type: timestamp}\n"
	                 "  - {name: b, type: timestamp, format: '%d/%m/%Y %H:%M:%S %z'}\n"
	                 "  - {name: c, type: timestamp, format: '%Y-%m-%d %H:%M'}\n"
	                 "  - {name: d, type: timestamp, format: '%Y%%%m%%%d %H:%M:%S.%f%z'}\n");
	assert_string_equal(C(s, 0, "2024-02-29T12:34:56"), "2024-02-29T12:34:56");
	assert_string_equal(C(s, 0, "2024-02-29 12:34:56.5"), "2024-02-29T12:34:56.5");
	assert_string_equal(C(s, 0, "2024-02-29T12:34:56Z"), "2024-02-29T12:34:56Z");
	assert_string_equal(C(s, 0, "2024-02-29T12:34:56+00:00"), "2024-02-29T12:34:56Z");
	/* offsets move the time to UTC across day, month and year boundaries */
	assert_string_equal(C(s, 0, "2024-02-29T01:30:00+02:00"), "2024-02-28T23:30:00Z");
	assert_string_equal(C(s, 0, "2024-02-28T23:30:00-01:00"), "2024-02-29T00:30:00Z");
	assert_string_equal(C(s, 0, "2025-02-28T23:30:00-01:00"), "2025-03-01T00:30:00Z");
	assert_string_equal(C(s, 0, "2024-12-31T22:00:00.250-05:30"), "2025-01-01T03:30:00.250Z");
	assert_string_equal(C(s, 0, "2025-01-01T00:15:00+0100"), "2024-12-31T23:15:00Z");
	assert_string_equal(C(s, 0, "9999-12-31T23:00:00-05:00"), "!VAL_RANGE");
	assert_string_equal(C(s, 0, "2024-02-29T12:34:56+24:00"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "2024-02-30T12:34:56"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "2024-02-29T24:00:00"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "2024-02-29"), "!VAL_TYPE");
	assert_string_equal(C(s, 0, "2024-02-29X12:34:56"), "!VAL_TYPE");
	assert_string_equal(C(s, 1, "01/03/2024 00:10:00 +01:00"), "2024-02-29T23:10:00Z");
	assert_string_equal(C(s, 1, "01/03/2024 00:10:00 Z"), "2024-03-01T00:10:00Z");
	assert_string_equal(C(s, 1, "01/03/2024 00:10:00"), "!VAL_TYPE");
	assert_string_equal(C(s, 2, "2024-03-01 7:05"), "2024-03-01T07:05:00");
	assert_string_equal(C(s, 3, "2024%03%01 07:05:00.1-00:30"), "2024-03-01T07:35:00.1Z");
	sl_schema_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_yaml_errors), cmocka_unit_test(test_load_file_errors),
	    cmocka_unit_test(test_cdr_example), cmocka_unit_test(test_defaults_and_options),
	    cmocka_unit_test(test_map_header),  cmocka_unit_test(test_text),
	    cmocka_unit_test(test_integer),     cmocka_unit_test(test_decimal),
	    cmocka_unit_test(test_boolean),     cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_times),       cmocka_unit_test(test_timestamps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
