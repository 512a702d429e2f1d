/*
 * Tests of the store (src/store/): the store suite (store_suite.c) run
 * against every backend there is, on real SQLite files in temporary
 * directories: SQLite itself, and the fault-injection wrapper with no fault
 * armed (which must then be indistinguishable from what it wraps). Then
 * what only one backend has: the faults a SLUICE_FAULTS spec arms, and
 * SQLite's own file (the events table, which no store op reads back).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "base/base.h"
#include "sluice/error.h"
#include "store/store.h"
#include "store_suite.h"

static int open_sqlite(const char *dir, int busy_ms, sl_store **out)
{
	char path[256];
	snprintf(path, sizeof path, "%s/store.db", dir);
	return sl__store_sqlite.open(path, busy_ms, out);
}

/* sl__store_open() wraps the store when SLUICE_FAULTS is set; a spec that
   arms nothing (times=0) must change nothing. */
static int open_faults(const char *dir, int busy_ms, sl_store **out)
{
	char path[256];
	snprintf(path, sizeof path, "%s/store.db", dir);
	setenv("SLUICE_FAULTS", "chunk=0,times=0", 1);
	int rc = sl__store_open(path, busy_ms, out);
	unsetenv("SLUICE_FAULTS");
	if (rc == 0 && strcmp((*out)->ops->name, "faults") != 0)
		return SL_INTERNAL; /* not wrapped: the suite would test SQLite twice */
	return rc;
}

/* --- the fault-injection wrapper --------------------------------------------------- */

static char dir[64];

static sl_store *open_with(const char *spec)
{
	char path[256];
	sl_store *s = NULL;
	snprintf(path, sizeof path, "%s/f.db", dir);
	if (spec)
		setenv("SLUICE_FAULTS", spec, 1);
	else
		unsetenv("SLUICE_FAULTS");
	int rc = sl__store_open(path, 1000, &s);
	unsetenv("SLUICE_FAULTS");
	if (rc < 0)
		fail_msg("open: %s", sl_error_name(rc));
	return s;
}

static sl_chunk chunk(uint32_t seq, sl_chunk_status st)
{
	sl_chunk c;
	memset(&c, 0, sizeof c);
	c.seq = seq;
	c.status = st;
	c.length = 10;
	return c;
}

static void faults_fail_the_named_chunk_commit_so_many_times(void **state)
{
	(void)state;
	sl_store *s = open_with("code=DB_IO,chunk=2,times=2");
	assert_string_equal(s->ops->name, "faults");
	sl_chunk c1 = chunk(1, SL_CHUNK_SUCCEEDED), c2 = chunk(2, SL_CHUNK_SUCCEEDED);
	sl_chunk c2f = chunk(2, SL_CHUNK_PROCESSING);
	/* other chunks, and chunk 2 in another status, go through */
	assert_int_equal(s->ops->chunk_update(s, "j", &c1), 0);
	assert_int_equal(s->ops->chunk_update(s, "j", &c2f), 0);
	/* chunk 2 committed as Succeeded: twice DB_IO, saying it was injected */
	assert_int_equal(s->ops->chunk_update(s, "j", &c2), SL_DB_IO);
	assert_non_null(strstr(sl_store_errmsg(s), "injected fault (SLUICE_FAULTS): DB_IO"));
	assert_int_equal(s->ops->chunk_update(s, "j", &c2), SL_DB_IO);
	assert_int_equal(s->ops->chunk_update(s, "j", &c2), 0);
	assert_int_equal(s->ops->chunk_update(s, "j", &c2), 0);
	/* begin() forgets the injected message */
	assert_int_equal(s->ops->begin(s), 0);
	assert_null(strstr(sl_store_errmsg(s), "injected"));
	assert_int_equal(s->ops->commit(s), 0);
	sl_chunk *got = NULL;
	size_t n = 0;
	assert_int_equal(s->ops->chunks_get(s, "j", &got, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(got[1].status, SL_CHUNK_SUCCEEDED);
	free(got);
	s->ops->close(s);
}

static void faults_default_to_db_busy_and_ignore_unknown_words(void **state)
{
	(void)state;
	/* a name that is not a code (or is OK) keeps the default, DB_BUSY */
	sl_store *s = open_with("chunk=0,frob=1,code=NOT_A_CODE,times=1");
	sl_chunk c0 = chunk(0, SL_CHUNK_SUCCEEDED);
	assert_int_equal(s->ops->chunk_update(s, "j", &c0), SL_DB_BUSY);
	assert_int_equal(s->ops->chunk_update(s, "j", &c0), 0);
	s->ops->close(s);
	/* no spec, or an empty one: the store itself */
	s = open_with(NULL);
	assert_string_equal(s->ops->name, "sqlite");
	s->ops->close(s);
	s = open_with("");
	assert_string_equal(s->ops->name, "sqlite");
	s->ops->close(s);
}

static void faults_crash_right_after_the_named_chunk_commits(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sl_store *s = open_with("crash=1");
		sl_chunk c0 = chunk(0, SL_CHUNK_SUCCEEDED), c1 = chunk(1, SL_CHUNK_SUCCEEDED);
		sl_chunk c2 = chunk(2, SL_CHUNK_SUCCEEDED);
		/* chunk 0 commits and the process lives on */
		if (s->ops->begin(s) || s->ops->chunk_update(s, "k", &c0) || s->ops->commit(s))
			_exit(3);
		/* a rolled-back attempt at chunk 1 disarms it */
		if (s->ops->begin(s) || s->ops->chunk_update(s, "k", &c1))
			_exit(4);
		s->ops->rollback(s);
		if (s->ops->begin(s) || s->ops->chunk_update(s, "k", &c2) || s->ops->commit(s))
			_exit(5);
		/* chunk 1 commits: killed here, after the commit */
		if (s->ops->begin(s) || s->ops->chunk_update(s, "k", &c1) || s->ops->commit(s))
			_exit(6);
		_exit(7);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFSIGNALED(st))
		fail_msg("the child exited with %d instead of being killed", WEXITSTATUS(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	/* what it committed, the last chunk included, is there */
	sl_store *s = open_with(NULL);
	sl_chunk *got = NULL;
	size_t n = 0;
	assert_int_equal(s->ops->chunks_get(s, "k", &got, &n), 0);
	assert_int_equal(n, 3);
	free(got);
	s->ops->close(s);
}

/* --- SQLite's own file ------------------------------------------------------------ */

static void sqlite_open_where_no_directory_is(void **state)
{
	(void)state;
	sl_store *s = NULL;
	char path[256];
	snprintf(path, sizeof path, "%s/no/such/dir/x.db", dir);
	int rc = sl__store_sqlite.open(path, 100, &s);
	assert_int_equal(rc, SL_IO_OPEN);
	assert_non_null(s);
	assert_non_null(strstr(sl_store_errmsg(s), path));
	s->ops->close(s);
}

static void sqlite_keeps_events_in_its_table(void **state)
{
	(void)state;
	sl_store *s = open_with(NULL);
	sl_event a = {"ev", -1, "job_end", 10, 9, 1, 123, "finished"};
	sl_event b = {"ev", 3, "chunk_end", 4, 4, 0, 5, NULL};
	assert_int_equal(s->ops->event_insert(s, &a), 0);
	assert_int_equal(s->ops->event_insert(s, &b), 0);
	s->ops->close(s);

	char path[256];
	snprintf(path, sizeof path, "%s/f.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	                       "SELECT coalesce(chunk, -1), kind, rows_read, rows_loaded,"
	                       " rows_rejected, duration_ms, coalesce(message, '-'),"
	                       " at_ms > 0 FROM sluice_events WHERE job_id = 'ev' ORDER BY id",
	                       -1, &st, NULL),
	    SQLITE_OK);
	const char *want[2] = {"-1 job_end 10 9 1 123 finished 1", "3 chunk_end 4 4 0 5 - 1"};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		char row[128];
		snprintf(
		    row, sizeof row, "%lld %s %lld %lld %lld %lld %s %d",
		    (long long)sqlite3_column_int64(st, 0), sqlite3_column_text(st, 1),
		    (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 3),
		    (long long)sqlite3_column_int64(st, 4), (long long)sqlite3_column_int64(st, 5),
		    sqlite3_column_text(st, 6), sqlite3_column_int(st, 7));
		assert_string_equal(row, want[i]);
	}
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static int one_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sluice_store_XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}
static int rm_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	static const store_backend backends[] = {
	    {"store suite: sqlite", open_sqlite},
	    {"store suite: faults(sqlite), nothing armed", open_faults},
	};
	int failed = 0;
	for (size_t i = 0; i < SL_ARRAY_LEN(backends); i++)
		failed += store_suite_run(&backends[i]);
	const struct CMUnitTest own[] = {
	    cmocka_unit_test(faults_fail_the_named_chunk_commit_so_many_times),
	    cmocka_unit_test(faults_default_to_db_busy_and_ignore_unknown_words),
	    cmocka_unit_test(faults_crash_right_after_the_named_chunk_commits),
	    cmocka_unit_test(sqlite_open_where_no_directory_is),
	    cmocka_unit_test(sqlite_keeps_events_in_its_table),
	};
	failed += cmocka_run_group_tests_name("one backend's own", own, one_dir, rm_dir);
	return failed ? 1 : 0;
}
