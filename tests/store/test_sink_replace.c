/*
 * The sink's replace op as a documented refusal (issue 11): a sink without
 * it (the null sink here; PostgreSQL's, which has no provenance) refuses a
 * displacement with CONFIG, never INTERNAL, and says it has none
 * (sl_sink_can_replace), through every layer; SQLite's has it, wrapped by
 * the fault injector too. The engine's message for the refusal is in
 * chunk_write.c (displace).
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

#include "sluice/error.h"
#include "store/store.h"

static char dir[64];

static int one_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sl_replace_XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int rm_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void a_sink_without_replace_refuses_as_a_setting(void **state)
{
	(void)state;
	sl_sink *k = NULL;
	assert_int_equal(sl_sink_null(&k), 0);
	assert_false(sl_sink_can_replace(k));
	sl_value v = {.kind = SL_VALUE_INT, .i = 1};
	sl_sink_row r = {.record = 3, .vals = &v};
	int rc = sl_sink_replace(k, &r);
	assert_int_equal(rc, SL_CONFIG);
	assert_int_equal(sl_error_class(rc), SL_CLASS_FATAL);
	sl_sink_close(k);
}

static void sqlite_has_replace_under_the_fault_wrapper_too(void **state)
{
	(void)state;
	char path[256], msg[256] = "";
	snprintf(path, sizeof path, "%s/r.db", dir);
	sl_store s;
	assert_int_equal(sl_store_open(path, 1000, SL_STORE_BOTH, &s, msg, sizeof msg), 0);
	assert_true(sl_sink_can_replace(s.sink));
	setenv("SLUICE_FAULTS", "chunk=99,times=1", 1); /* a chunk this test never commits */
	int rc = sl__store_faults_wrap(&s);
	unsetenv("SLUICE_FAULTS");
	assert_int_equal(rc, 0);
	assert_string_equal(sl_txn_name(s.txn), "faults");
	assert_true(sl_sink_can_replace(s.sink));
	sl_store_close(&s);
}

int main(void)
{
	const struct CMUnitTest t[] = {
	    cmocka_unit_test(a_sink_without_replace_refuses_as_a_setting),
	    cmocka_unit_test(sqlite_has_replace_under_the_fault_wrapper_too),
	};
	return cmocka_run_group_tests_name("sink replace", t, one_dir, rm_dir) ? 1 : 0;
}
