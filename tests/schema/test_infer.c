/*
 * Unit tests of schema inference's pieces below the command: the bounded
 * uniqueness sketch (src/schema/infer_uniq.c) against an exact answer, with
 * duplicates inside one in-memory array, across spilled runs, across runs
 * that were merged (64 at a time) and between the last run and the array;
 * and sl_schema_infer on small files written here, where its result must
 * load with sl_schema_parse and name the types expected.
 * test_infer.sh checks the command end to end with ingest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "schema/infer_int.h"
#include "sluice/error.h"
#include "sluice/infer.h"
#include "sluice/schema.h"

/* A bijection on 64-bit integers: distinct inputs, well-mixed distinct hashes. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= UINT64_C(0x7fb5d329728ea185);
	x ^= x >> 27;
	x *= UINT64_C(0x81dadef4bc2dd44d);
	x ^= x >> 33;
	return x;
}

/* Feed n distinct hashes to candidate 0 and, with dup_at < n, repeat the
   hash of value dup_from at position dup_at; candidate 1 always gets the
   distinct ones. Returns whether candidate 0 is unique. */
static bool sketch(size_t n, size_t budget, size_t dup_from, size_t dup_at, uint64_t *spilled)
{
	sl__uniq *u = NULL;
	assert_int_equal(sl__uniq_new(2, budget, &u), 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t h = mix(i);
		assert_int_equal(sl__uniq_add(u, 0, i == dup_at ? mix(dup_from) : h), 0);
		assert_int_equal(sl__uniq_add(u, 1, h), 0);
	}
	assert_int_equal(sl__uniq_finish(u), 0);
	assert_true(sl__uniq_alive(u, 1));
	bool r = sl__uniq_alive(u, 0);
	if (spilled)
		*spilled = sl__uniq_spilled(u);
	sl__uniq_free(u);
	return r;
}

static void test_uniq_in_memory(void **state)
{
	(void)state;
	uint64_t sp;
	assert_true(sketch(1000, 1 << 20, 0, SIZE_MAX, &sp));
	assert_int_equal(sp, 0);
	assert_false(sketch(1000, 1 << 20, 10, 999, &sp));
	assert_int_equal(sp, 0);
}

static void test_uniq_spilled_runs(void **state)
{
	(void)state;
	/* 2 candidates share 8192 hashes: 4096 each, so 50000 values are 12 runs */
	uint64_t sp;
	assert_true(sketch(50000, 8192, 0, SIZE_MAX, &sp));
	assert_true(sp > 0);
	/* inside one run */
	assert_false(sketch(50000, 8192, 4100, 5000, NULL));
	/* first run against a later one */
	assert_false(sketch(50000, 8192, 3, 30000, NULL));
	/* a run against the array still in memory at the end */
	assert_false(sketch(50000, 8192, 7, 49999, NULL));
}

static void test_uniq_merged_runs(void **state)
{
	(void)state;
	/* 4096 per run, 64 runs merge into one: 300000 values merge once,
	   then 9 more runs follow */
	uint64_t sp;
	assert_true(sketch(300000, 8192, 0, SIZE_MAX, &sp));
	assert_true(sp >= 300000); /* the runs, then the merged run again */
	/* a duplicate between the merged run and a later run */
	assert_false(sketch(300000, 8192, 17, 290000, NULL));
	/* both inside what was merged */
	assert_false(sketch(300000, 8192, 1, 200000, NULL));
}

static void test_uniq_drop(void **state)
{
	(void)state;
	sl__uniq *u = NULL;
	assert_int_equal(sl__uniq_new(1, 4096, &u), 0);
	assert_int_equal(sl__uniq_add(u, 0, 1), 0);
	sl__uniq_drop(u, 0);
	assert_int_equal(sl__uniq_add(u, 0, 2), 0); /* ignored once dropped */
	assert_int_equal(sl__uniq_finish(u), 0);
	assert_false(sl__uniq_alive(u, 0));
	sl__uniq_free(u);
}

/* --- sl_schema_infer on small files ------------------------------------------- */

static char *write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/sluice_infer_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return path;
}

/* The column of a loaded schema by name. */
static const sl_column *col(const sl_schema *s, const char *name)
{
	for (size_t i = 0; i < s->ncols; i++)
		if (!strcmp(s->cols[i].name, name))
			return &s->cols[i];
	fail_msg("no column %s", name);
	return NULL;
}

static sl_schema *infer_text(const char *text, const sl_infer_opts *o, sl_infer_result *r)
{
	char *path = write_tmp(text);
	char err[512];
	sl_infer_opts def = {0};
	int rc = sl_schema_infer(path, o ? o : &def, r, err, sizeof err);
	unlink(path);
	if (rc)
		fail_msg("infer: %d %s", rc, err);
	sl_schema *s = NULL;
	rc = sl_schema_parse(r->yaml, r->len, "inferred.yaml", &s, err, sizeof err);
	if (rc)
		fail_msg("the inferred schema does not load: %s\n%s", err, r->yaml);
	return s;
}

static void test_infer_types(void **state)
{
	(void)state;
	sl_infer_result r;
	sl_schema *s = infer_text("id;amount;when;flag;bin;ratio;name\n"
	                          "1;12.50;2024-01-31;Yes;0;9.579434990882874e-4;Ann\n"
	                          "2;NA;2024-02-29;No;1;6.0760000000000005;Bob\n"
	                          "3;-0.75;NA;No;1;1.5;\"Cy; Jr\"\n",
	                          NULL, &r);
	assert_int_equal(s->dialect.delimiter, ';');
	assert_true(s->dialect.header);
	assert_int_equal(r.records, 3);
	assert_int_equal(r.rows_rejected, 0);
	assert_int_equal(r.confirm_rounds, 1);
	assert_int_equal(col(s, "id")->type, SL_TYPE_INTEGER);
	assert_true(col(s, "id")->required);
	assert_int_equal(col(s, "amount")->type, SL_TYPE_DECIMAL);
	assert_int_equal(col(s, "amount")->precision, 4);
	assert_int_equal(col(s, "amount")->scale, 2);
	assert_false(col(s, "amount")->required);
	assert_int_equal(col(s, "when")->type, SL_TYPE_DATE);
	assert_int_equal(col(s, "flag")->type, SL_TYPE_BOOLEAN);
	assert_int_equal(col(s, "bin")->type, SL_TYPE_INTEGER);
	assert_int_equal(col(s, "name")->type, SL_TYPE_TEXT);
	assert_int_equal(col(s, "name")->max_length, 6);
	bool na = false;
	for (size_t i = 0; i < s->nnulls; i++)
		na |= !strcmp(s->nulls[i], "NA");
	assert_true(na);
	assert_string_equal(r.key, "[id]");
	assert_null(strstr(r.yaml, "\nkey:")); /* proposed, not declared */
	sl_schema_free(s);
	sl_infer_result_free(&r);
}

static void test_infer_key_auto_and_rows(void **state)
{
	(void)state;
	sl_infer_result r;
	sl_infer_opts o = {0};
	o.key_auto = true;
	sl_schema *s = infer_text("a,b,c\nx,1,5\nx,2,5\ny,1,5\ny,2,6\n", &o, &r);
	assert_int_equal(s->nkey, 2);
	assert_string_equal(s->cols[s->key[0]].name, "a");
	assert_string_equal(s->cols[s->key[1]].name, "b");
	sl_schema_free(s);
	sl_infer_result_free(&r);

	o.key_auto = false;
	o.max_rows = 2;
	s = infer_text("n\n1\n2\nthree\n", &o, &r);
	assert_int_equal(r.records, 2);
	assert_false(r.whole_file);
	assert_int_equal(col(s, "n")->type, SL_TYPE_INTEGER);
	assert_false(col(s, "n")->required); /* never claimed from a sample */
	sl_schema_free(s);
	sl_infer_result_free(&r);
}

static void test_infer_header_and_failures(void **state)
{
	(void)state;
	sl_infer_result r;
	sl_schema *s =
	    infer_text("1,2.5,2024-01-01\n2,3.5,2024-01-02\n3,4.25,2024-01-03\n", NULL, &r);
	assert_false(s->dialect.header);
	assert_int_equal(r.records, 3);
	assert_string_equal(s->cols[0].name, "col_1");
	sl_schema_free(s);
	sl_infer_result_free(&r);

	/* a stray quote in the header would fail every load: a dialect that reads
	   the header whole wins, and a given one that does not is refused */
	s = infer_text("a\"b,c\n1,2\n3,4\n", NULL, &r);
	assert_int_not_equal(s->dialect.quote, '"');
	assert_true(s->dialect.header);
	assert_string_equal(s->cols[0].source, "a\"b");
	sl_schema_free(s);
	sl_infer_result_free(&r);
	char err[256];
	sl_infer_opts o = {0};
	char *bad = write_tmp("a\"b,c\n1,2\n");
	o.dialect_given = true;
	sl_csv_dialect_init(&o.dialect);
	assert_int_equal(sl_schema_infer(bad, &o, &r, err, sizeof err), SL_CONFIG);
	assert_non_null(strstr(err, "header line is malformed"));
	unlink(bad);
	o.dialect_given = false;
	assert_int_equal(sl_schema_infer("/nonexistent/x.csv", &o, &r, err, sizeof err),
	                 SL_IO_OPEN);
	char *path = write_tmp("");
	assert_int_equal(sl_schema_infer(path, &o, &r, err, sizeof err), SL_CONFIG);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uniq_in_memory),
	    cmocka_unit_test(test_uniq_spilled_runs),
	    cmocka_unit_test(test_uniq_merged_runs),
	    cmocka_unit_test(test_uniq_drop),
	    cmocka_unit_test(test_infer_types),
	    cmocka_unit_test(test_infer_key_auto_and_rows),
	    cmocka_unit_test(test_infer_header_and_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
