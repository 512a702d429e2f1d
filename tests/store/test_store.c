/*
 * Tests of what one store backend has of its own (the conformance suites
 * of every backend are test_jobstore and test_sink): the faults a
 * SLUICE_FAULTS spec arms, SQLite's own file (the events table, which no
 * op reads back), the registry's URIs, and the null sink of dry runs.
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

/* --- the fault-injection wrapper --------------------------------------------------- */

static char dir[64];

static sl_jobstore *open_with(const char *spec)
{
	char path[256], msg[256];
	sl_jobstore *s = NULL;
	snprintf(path, sizeof path, "%s/f.db", dir);
	if (spec)
		setenv("SLUICE_FAULTS", spec, 1);
	else
		unsetenv("SLUICE_FAULTS");
	int rc = sl_jobstore_open(path, 1000, &s, msg, sizeof msg);
	unsetenv("SLUICE_FAULTS");
	if (rc < 0)
		fail_msg("open: %s (%s)", sl_error_name(rc), msg);
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
	sl_jobstore *s = open_with("code=DB_IO,chunk=2,times=2");
	assert_string_equal(sl_txn_name(s->txn), "faults");
	sl_chunk c1 = chunk(1, SL_CHUNK_SUCCEEDED), c2 = chunk(2, SL_CHUNK_SUCCEEDED);
	sl_chunk c2f = chunk(2, SL_CHUNK_PROCESSING);
	/* other chunks, and chunk 2 in another status, go through */
	assert_int_equal(sl_js_chunk_update(s, "j", &c1), 0);
	assert_int_equal(sl_js_chunk_update(s, "j", &c2f), 0);
	/* chunk 2 committed as Succeeded: twice DB_IO, saying it was injected */
	assert_int_equal(sl_js_chunk_update(s, "j", &c2), SL_DB_IO);
	assert_non_null(strstr(sl_js_errmsg(s), "injected fault (SLUICE_FAULTS): DB_IO"));
	assert_int_equal(sl_js_chunk_update(s, "j", &c2), SL_DB_IO);
	assert_int_equal(sl_js_chunk_update(s, "j", &c2), 0);
	assert_int_equal(sl_js_chunk_update(s, "j", &c2), 0);
	/* begin() forgets the injected message */
	assert_int_equal(sl_txn_begin(s->txn), 0);
	assert_null(strstr(sl_js_errmsg(s), "injected"));
	assert_int_equal(sl_txn_commit(s->txn), 0);
	sl_chunk *got = NULL;
	size_t n = 0;
	assert_int_equal(sl_js_chunks_get(s, "j", &got, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(got[1].status, SL_CHUNK_SUCCEEDED);
	free(got);
	sl_js_close(s);
}

/* The engine commits a chunk with chunk_commit (chunk row + counters):
   the same fault strikes there, before anything of it is written. */
static void faults_strike_a_chunk_commit_too(void **state)
{
	(void)state;
	sl_jobstore *s = open_with("code=DB_FULL,chunk=1,times=1");
	sl_job j = {0}, got = {0};
	snprintf(j.id, sizeof j.id, "jf");
	j.status = SL_JOB_PROCESSING;
	assert_int_equal(sl_js_job_insert(s, &j), 0);
	sl_chunk c1 = chunk(1, SL_CHUNK_SUCCEEDED);
	sl_job_counts d = {.rows_read = 5, .rows_loaded = 5, .chunks_succeeded = 1};
	assert_int_equal(sl_js_chunk_commit(s, "jf", &c1, &d), SL_DB_FULL);
	assert_int_equal(sl_js_job_get(s, "jf", &got), 1);
	assert_true(got.rows_loaded == 0);
	assert_int_equal(sl_js_chunk_commit(s, "jf", &c1, &d), 0);
	assert_int_equal(sl_js_job_get(s, "jf", &got), 1);
	assert_true(got.rows_loaded == 5 && got.chunks_succeeded == 1);
	sl_job_clear(&got);
	sl_js_close(s);
}

static void faults_default_to_db_busy_and_ignore_unknown_words(void **state)
{
	(void)state;
	/* a name that is not a code (or is OK) keeps the default, DB_BUSY */
	sl_jobstore *s = open_with("chunk=0,frob=1,code=NOT_A_CODE,times=1");
	sl_chunk c0 = chunk(0, SL_CHUNK_SUCCEEDED);
	assert_int_equal(sl_js_chunk_update(s, "j", &c0), SL_DB_BUSY);
	assert_int_equal(sl_js_chunk_update(s, "j", &c0), 0);
	sl_js_close(s);
	/* no spec, or an empty one: the store itself */
	s = open_with(NULL);
	assert_string_equal(sl_txn_name(s->txn), "sqlite");
	sl_js_close(s);
	s = open_with("");
	assert_string_equal(sl_txn_name(s->txn), "sqlite");
	sl_js_close(s);
}

static void faults_crash_right_after_the_named_chunk_commits(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sl_jobstore *s = open_with("crash=1");
		sl_chunk c0 = chunk(0, SL_CHUNK_SUCCEEDED), c1 = chunk(1, SL_CHUNK_SUCCEEDED);
		sl_chunk c2 = chunk(2, SL_CHUNK_SUCCEEDED);
		/* chunk 0 commits and the process lives on */
		if (sl_txn_begin(s->txn) || sl_js_chunk_update(s, "k", &c0) ||
		    sl_txn_commit(s->txn))
			_exit(3);
		/* a rolled-back attempt at chunk 1 disarms it */
		if (sl_txn_begin(s->txn) || sl_js_chunk_update(s, "k", &c1))
			_exit(4);
		sl_txn_rollback(s->txn);
		if (sl_txn_begin(s->txn) || sl_js_chunk_update(s, "k", &c2) ||
		    sl_txn_commit(s->txn))
			_exit(5);
		/* chunk 1 commits: killed here, after the commit */
		if (sl_txn_begin(s->txn) || sl_js_chunk_update(s, "k", &c1) ||
		    sl_txn_commit(s->txn))
			_exit(6);
		_exit(7);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFSIGNALED(st))
		fail_msg("the child exited with %d instead of being killed", WEXITSTATUS(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	/* what it committed, the last chunk included, is there */
	sl_jobstore *s = open_with(NULL);
	sl_chunk *got = NULL;
	size_t n = 0;
	assert_int_equal(sl_js_chunks_get(s, "k", &got, &n), 0);
	assert_int_equal(n, 3);
	free(got);
	sl_js_close(s);
}

/* --- SQLite's own file ------------------------------------------------------------ */

static void sqlite_open_where_no_directory_is(void **state)
{
	(void)state;
	sl_store s;
	char path[256], msg[512] = "";
	snprintf(path, sizeof path, "%s/no/such/dir/x.db", dir);
	int rc = sl_store_open(path, 100, SL_STORE_BOTH, &s, msg, sizeof msg);
	assert_int_equal(rc, SL_IO_OPEN);
	assert_null(s.txn);
	assert_non_null(strstr(msg, path));
}

/* The registry: "sqlite:PATH" and a plain PATH are one database; a scheme
   no backend has is a configuration error that says so. */
static void registry_opens_by_uri(void **state)
{
	(void)state;
	char uri[300], path[256], msg[512] = "";
	snprintf(path, sizeof path, "%s/r.db", dir);
	snprintf(uri, sizeof uri, "sqlite:%s", path);
	sl_jobstore *a = NULL, *b = NULL;
	assert_int_equal(sl_jobstore_open(uri, 1000, &a, msg, sizeof msg), 0);
	assert_string_equal(sl_txn_name(a->txn), "sqlite");
	sl_job j = {0}, got = {0};
	snprintf(j.id, sizeof j.id, "jr");
	j.status = SL_JOB_ACCEPTED;
	assert_int_equal(sl_js_job_insert(a, &j), 0);
	assert_int_equal(sl_jobstore_open(path, 1000, &b, msg, sizeof msg), 0);
	assert_int_equal(sl_js_job_get(b, "jr", &got), 1);
	sl_job_clear(&got);
	sl_js_close(a);
	sl_js_close(b);
	sl_sink *k = NULL;
	assert_int_equal(sl_sink_open("mysql://nowhere/db", 1000, &k, msg, sizeof msg), SL_CONFIG);
	assert_null(k);
	assert_non_null(strstr(msg, "mysql://nowhere/db"));
	assert_non_null(strstr(msg, "no store backend"));
	/* postgres:// is PostgreSQL's: no server there is a connection failure */
	assert_int_equal(
	    sl_sink_open("postgresql:///db?host=/nonexistent-sluice", 1000, &k, msg, sizeof msg),
	    SL_DB_CONN);
	assert_null(k);
	assert_non_null(strstr(msg, "cannot connect to PostgreSQL"));
}

static int null_loaded(void *ctx, size_t n)
{
	*(size_t *)ctx += n;
	return 0;
}
static int null_dup(void *ctx, const sl_sink_row *r)
{
	(void)ctx;
	(void)r;
	fail_msg("the null sink has no duplicates");
	return 0;
}

/* The null sink takes every row, twice the same key included, and keeps
   nothing; its transaction does nothing and says nothing. */
static void null_sink_takes_everything_keeps_nothing(void **state)
{
	(void)state;
	sl_sink *k = NULL;
	assert_int_equal(sl_sink_null(&k), 0);
	assert_true(sl_store_shared(k, NULL));
	char err[256];
	sl_schema *sc = NULL;
	static const char y[] = "name: t\ntable: t\nkey: [id]\ncolumns:\n"
	                        "  - {name: id, type: integer}\n";
	assert_int_equal(sl_schema_parse(y, strlen(y), "t.yaml", &sc, err, sizeof err), 0);
	assert_int_equal(sl_sink_prepare(k, sc, "jn"), 0);
	sl_value v = {.kind = SL_VALUE_INT, .i = 1};
	sl_sink_row r[2] = {{.record = 0, .vals = &v}, {.record = 1, .vals = &v}};
	size_t loaded = 0;
	sl_sink_cb cb = {null_loaded, null_dup, &loaded, NULL, NULL};
	assert_int_equal(sl_txn_begin(sl_sink_txn(k)), 0);
	assert_int_equal(sl_sink_write(k, r, 2, &cb), 0);
	assert_int_equal(sl_sink_flush(k, &cb), 0);
	assert_int_equal(sl_txn_commit(sl_sink_txn(k)), 0);
	assert_int_equal(loaded, 2);
	assert_string_equal(sl_sink_errmsg(k), "");
	char owner[SL_JOB_ID_LEN] = "x";
	uint64_t orec = 9;
	assert_int_equal(sl_sink_key_owner(k, &v, owner, &orec), 0);
	assert_string_equal(owner, "");
	assert_int_equal(orec, 0);
	sl_sink_close(k);
	sl_schema_free(sc);
}

static void sqlite_keeps_events_in_its_table(void **state)
{
	(void)state;
	sl_jobstore *s = open_with(NULL);
	sl_event a = {"ev", -1, "job_end", 10, 9, 1, 123, "finished"};
	sl_event b = {"ev", 3, "chunk_end", 4, 4, 0, 5, NULL};
	assert_int_equal(sl_js_event_insert(s, &a), 0);
	assert_int_equal(sl_js_event_insert(s, &b), 0);
	sl_js_close(s);

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

/* A store of a sluice before rows inserted and updated were counted apart:
   opening it adds the two columns to its jobs and chunks, and the rows its
   jobs loaded count as inserted (inserted + updated = loaded). */
static void sqlite_store_of_an_older_sluice_gets_the_split(void **state)
{
	(void)state;
	char path[256], msg[256];
	snprintf(path, sizeof path, "%s/old.db", dir);
	sl_jobstore *s = NULL;
	assert_int_equal(sl_jobstore_open(path, 1000, &s, msg, sizeof msg), 0);
	sl_js_close(s);
	/* made old: the columns dropped, a job and a chunk of 10 loaded rows */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db,
	                 "ALTER TABLE sluice_jobs DROP COLUMN rows_inserted;"
	                 "ALTER TABLE sluice_jobs DROP COLUMN rows_updated;"
	                 "ALTER TABLE sluice_chunks DROP COLUMN rows_inserted;"
	                 "ALTER TABLE sluice_chunks DROP COLUMN rows_updated;"
	                 "INSERT INTO sluice_jobs(id, seq, status, rows_read, rows_loaded,"
	                 " rows_rejected) VALUES('jo', 1, 'Succeeded', 12, 10, 2);"
	                 "INSERT INTO sluice_chunks(job_id, seq, status, rows_read, rows_loaded,"
	                 " rows_rejected) VALUES('jo', 0, 'Succeeded', 12, 10, 2)",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sl_jobstore_open(path, 1000, &s, msg, sizeof msg), 0);
	sl_job j = {0};
	assert_int_equal(sl_js_job_get(s, "jo", &j), 1);
	assert_true(j.rows_loaded == 10 && j.rows_inserted == 10 && j.rows_updated == 0);
	sl_chunk *ch = NULL;
	size_t n = 0;
	assert_int_equal(sl_js_chunks_get(s, "jo", &ch, &n), 0);
	assert_int_equal(n, 1);
	assert_true(ch[0].rows_inserted == 10 && ch[0].rows_updated == 0);
	free(ch);
	/* and counts on from there */
	sl_job_counts d = {.rows_read = 3, .rows_loaded = 3, .rows_inserted = 1, .rows_updated = 2};
	assert_int_equal(sl_js_counts_add(s, "jo", &d), 0);
	assert_int_equal(sl_js_job_get(s, "jo", &j), 1);
	assert_true(j.rows_loaded == 13 && j.rows_inserted == 11 && j.rows_updated == 2);
	sl_job_clear(&j);
	sl_js_close(s);
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
	int failed = 0;
	const struct CMUnitTest own[] = {
	    cmocka_unit_test(faults_fail_the_named_chunk_commit_so_many_times),
	    cmocka_unit_test(faults_default_to_db_busy_and_ignore_unknown_words),
	    cmocka_unit_test(faults_crash_right_after_the_named_chunk_commits),
	    cmocka_unit_test(sqlite_open_where_no_directory_is),
	    cmocka_unit_test(registry_opens_by_uri),
	    cmocka_unit_test(null_sink_takes_everything_keeps_nothing),
	    cmocka_unit_test(faults_strike_a_chunk_commit_too),
	    cmocka_unit_test(sqlite_keeps_events_in_its_table),
	    cmocka_unit_test(sqlite_store_of_an_older_sluice_gets_the_split),
	};
	failed += cmocka_run_group_tests_name("one backend's own", own, one_dir, rm_dir);
	return failed ? 1 : 0;
}
