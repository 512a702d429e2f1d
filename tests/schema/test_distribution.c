/*
 * Unit tests of the schema's `distribution:` key (src/schema/schema_dist.c):
 * what it reads (the column, the shard count, Citus's default when none) and
 * each mistake at its place in the YAML: an unknown column, a key without
 * the distribution column (naming both), a column that may be NULL, a shard
 * count out of Citus's range, unknown keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "schema/schema_test.h"

#define COLS                                                                                       \
	"columns:\n"                                                                               \
	"  - {name: a, type: text, required: true}\n"                                              \
	"  - {name: b, type: integer}\n"                                                           \
	"  - {name: c, type: integer, required: true}\n"

static void test_read(void **state)
{
	(void)state;
	sl_schema *s = P("name: t\nkey: [b, a]\ndistribution: {column: a, shard_count: 32}\n" COLS);
	assert_true(s->distributed);
	assert_int_equal(s->dist_col, 0);
	assert_int_equal(s->shard_count, 32);
	sl_schema_free(s);
	/* no key: any required column; no shard count: Citus's default */
	s = P("name: t\ndistribution: {column: c}\n" COLS);
	assert_true(s->distributed);
	assert_int_equal(s->dist_col, 2);
	assert_int_equal(s->shard_count, 0);
	sl_schema_free(s);
	/* a key column need not say required: it is NOT NULL already */
	s = P("name: t\nkey: b\ndistribution:\n  column: b\n  shard_count: 1\n" COLS);
	assert_int_equal(s->dist_col, 1);
	assert_int_equal(s->shard_count, 1);
	sl_schema_free(s);
	s = P("name: t\n" COLS);
	assert_false(s->distributed);
	sl_schema_free(s);
}

static void test_errors(void **state)
{
	(void)state;
	assert_error("name: t\nkey: [b, c]\ndistribution: {column: a}\n" COLS,
	             "t.yaml:3:24: ", "the key (b, c) must include the distribution column 'a'");
	assert_error("name: t\ndistribution: {column: z}\n" COLS,
	             "t.yaml:2:24: ", "distribution names unknown column 'z'");
	assert_error("name: t\ndistribution: {column: b}\n" COLS,
	             "t.yaml:2:24: ", "the distribution column 'b' must be `required: true`");
	assert_error("name: t\ndistribution: {column: a, shard_count: 0}\n" COLS,
	             "t.yaml:2:40: ", "shard_count must be 1 to 64000, not 0");
	assert_error("name: t\ndistribution: {column: a, shard_count: 64001}\n" COLS,
	             "t.yaml:2:40: ", "shard_count must be 1 to 64000");
	assert_error("name: t\ndistribution: {column: a, shards: 4}\n" COLS,
	             "t.yaml:2:27: ", "unknown key 'shards' in distribution");
	assert_error("name: t\ndistribution: {shard_count: 4}\n" COLS,
	             "t.yaml:2:", "distribution needs a column");
	assert_error("name: t\ndistribution: a\n" COLS, "t.yaml:2:", "distribution");
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_read),
	                                   cmocka_unit_test(test_errors)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
