/*
 * Tests of the PostgreSQL module (src/pg/) against the real server of the
 * `postgres` fixture (tests/pg/fixture_postgres.sh; run through
 * tests/pg/run_unit.sh, which gives PGHOST, PGPORT, PGUSER and a prefix
 * of this run's own databases in SLUICE_PG_PREFIX). Each case makes a
 * fresh database. What the server holds afterwards is read back with SQL
 * written here, not through the module under test.
 *
 * Cases: connecting (environment, URI, a server that is not there); the
 * SQLSTATE table; transient failures provoked for real (a terminated
 * session and the reconnect, a lock timeout, a serialization failure, a
 * deadlock); migrations (fresh, an upgrade from a version-1 store, a store
 * newer than the build); types of a created table and values read back;
 * the check of an existing table; duplicates and updates through the
 * staging table; every kind of constraint the schema does not know, without
 * and with a key, isolated row by row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <libpq-fe.h>

#include "pg/pg.h"
#include "sluice/error.h"
#include "sluice/schema.h"

static char dbname[64];

/* --- helpers --------------------------------------------------------------------- */

static PGconn *raw(const char *db)
{
	char ci[128];
	snprintf(ci, sizeof ci, "dbname=%s", db);
	PGconn *c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect %s: %s", db, PQerrorMessage(c));
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

/* Run SQL on a raw connection; it must succeed. */
static void run(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* The first value of a query, as text ("NULL" for NULL), in a static buffer. */
static const char *q1(PGconn *c, const char *sql)
{
	static char buf[4096];
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	snprintf(buf, sizeof buf, "%s",
	         PQntuples(r) == 0      ? "(none)"
	         : PQgetisnull(r, 0, 0) ? "NULL"
	                                : PQgetvalue(r, 0, 0));
	PQclear(r);
	return buf;
}

/* A fresh database for one case; its name in dbname. */
static void fresh(const char *name)
{
	snprintf(dbname, sizeof dbname, "%s_%s",
	         getenv("SLUICE_PG_PREFIX") ? getenv("SLUICE_PG_PREFIX") : "t", name);
	PGconn *m = raw("postgres");
	char sql[256];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", dbname);
	run(m, sql);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
	run(m, sql);
	PQfinish(m);
}

static sl_pg *open_db(void)
{
	char ci[128];
	sl_pg *c = NULL;
	snprintf(ci, sizeof ci, "dbname=%s", dbname);
	int rc = sl__pg_connect(ci, &c);
	if (rc)
		fail_msg("sl__pg_connect: %d %s", rc, sl__pg_errmsg(c));
	return c;
}

static sl_schema *P(const char *yaml)
{
	char err[512] = "";
	sl_schema *s = NULL;
	if (sl_schema_parse(yaml, strlen(yaml), "t.yaml", &s, err, sizeof err))
		fail_msg("schema: %s", err);
	return s;
}

static sl_value I(int64_t i)
{
	sl_value v = {.kind = SL_VALUE_INT, .i = i};
	return v;
}
static sl_value R(double d)
{
	sl_value v = {.kind = SL_VALUE_REAL, .d = d};
	return v;
}
static sl_value S(const char *s)
{
	sl_value v = {.kind = SL_VALUE_TEXT, .s = {s, strlen(s)}};
	return v;
}
static sl_value N(void)
{
	sl_value v = {.kind = SL_VALUE_NULL};
	return v;
}

/* The refusals a write reported, one line each: "row code sqlstate constraint". */
static char refusals[4096];
static int on_refusal(void *ctx, const sl_pg_refusal *r)
{
	(void)ctx;
	size_t l = strlen(refusals);
	snprintf(refusals + l, sizeof refusals - l, "%zu %s %s %s\n", r->row,
	         sl_error_name(r->code), r->sqlstate, r->constraint[0] ? r->constraint : "-");
	if (!r->message[0])
		fail_msg("refusal of row %zu without a message", r->row);
	return 0;
}

/* Write rows (n rows of ncols values) in one transaction of c. */
static int write_rows(sl_pg *c, const sl_schema *sc, const char *job, sl_value *vals, size_t ncols,
                      size_t n, uint8_t *out)
{
	const sl_value *rows[64];
	sl_pg_writer *w = NULL;
	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++)
		rows[i] = vals + i * ncols;
	refusals[0] = 0;
	int rc = sl__pg_table_prepare(c, sc);
	if (rc == 0)
		rc = sl__pg_writer_new(c, sc, job, &w);
	if (rc == 0)
		rc = sl__pg_begin(c);
	if (rc == 0)
		rc = sl__pg_write(w, rows, NULL, n, out, on_refusal, NULL);
	if (rc == 0)
		rc = sl__pg_commit(c);
	else
		sl__pg_rollback(c);
	sl__pg_writer_free(w);
	return rc;
}

/* --- connecting ------------------------------------------------------------------ */

static void test_connect(void **state)
{
	(void)state;
	fresh("connect");
	assert_true(sl__pg_is_uri("postgres://u@h/db"));
	assert_true(sl__pg_is_uri("postgresql:///db"));
	assert_false(sl__pg_is_uri("sluice.db"));
	assert_false(sl__pg_is_uri("sqlite:a.db"));

	/* everything from PG* variables */
	sl_pg *c = NULL;
	setenv("PGDATABASE", dbname, 1);
	assert_int_equal(sl__pg_connect(NULL, &c), 0);
	char buf[128];
	assert_int_equal(sl__pg_value(c, "SELECT current_database()", 0, NULL, buf, sizeof buf), 1);
	assert_string_equal(buf, dbname);
	/* the session settings */
	assert_int_equal(sl__pg_value(c, "SHOW TimeZone", 0, NULL, buf, sizeof buf), 1);
	assert_string_equal(buf, "UTC");
	assert_int_equal(sl__pg_session(c), 1);
	sl__pg_close(c);
	unsetenv("PGDATABASE");

	/* a URI naming the socket directory and the database */
	char uri[512];
	snprintf(uri, sizeof uri, "postgresql:///%s?host=%s&port=%s", dbname, getenv("PGHOST"),
	         getenv("PGPORT"));
	assert_int_equal(sl__pg_connect(uri, &c), 0);
	assert_int_equal(sl__pg_value(c, "SELECT current_database()", 0, NULL, buf, sizeof buf), 1);
	assert_string_equal(buf, dbname);
	sl__pg_close(c);

	/* no server there: a connection failure, transient, with libpq's words */
	c = NULL;
	assert_int_equal(
	    sl__pg_connect("postgresql:///x?host=/nonexistent-sluice-dir&connect_timeout=2", &c),
	    SL_DB_CONN);
	assert_non_null(strstr(sl__pg_errmsg(c), "cannot connect to PostgreSQL"));
	assert_int_equal(sl_error_class(SL_DB_CONN), SL_CLASS_RETRY);
	sl__pg_close(c);
	/* a database that does not exist: refused by the server (class 08 / 3D000 in the message)
	 */
	c = NULL;
	snprintf(uri, sizeof uri, "postgresql:///no_such_db_sluice?host=%s&port=%s",
	         getenv("PGHOST"), getenv("PGPORT"));
	assert_int_equal(sl__pg_connect(uri, &c), SL_DB_CONN);
	assert_non_null(strstr(sl__pg_errmsg(c), "no_such_db_sluice"));
	sl__pg_close(c);
}

static void test_codes(void **state)
{
	(void)state;
	static const struct {
		const char *st;
		int code;
	} t[] = {
	    {"40001", SL_DB_BUSY},       {"40P01", SL_DB_BUSY},       {"55P03", SL_DB_BUSY},
	    {"53300", SL_DB_CONN_LIMIT}, {"08006", SL_DB_CONN},       {"08001", SL_DB_CONN},
	    {"57P01", SL_DB_CONN},       {"57P02", SL_DB_CONN},       {"57P03", SL_DB_CONN},
	    {"53100", SL_DB_FULL},       {"23505", SL_DB_CONSTRAINT}, {"23514", SL_DB_CONSTRAINT},
	    {"23P01", SL_DB_CONSTRAINT}, {"22001", SL_DB_VALUE},      {"22003", SL_DB_VALUE},
	    {"42P01", SL_DB_ERROR},      {"57014", SL_DB_ERROR},      {"40002", SL_DB_ERROR},
	    {"53200", SL_DB_ERROR},      {"XX000", SL_DB_ERROR},      {"", SL_DB_CONN},
	    {NULL, SL_DB_CONN}};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (sl__pg_code(t[i].st) != t[i].code)
			fail_msg("SQLSTATE %s: got %s, want %s", t[i].st ? t[i].st : "NULL",
			         sl_error_name(sl__pg_code(t[i].st)), sl_error_name(t[i].code));
	assert_int_equal(sl_error_class(SL_DB_CONSTRAINT), SL_CLASS_ROW);
	assert_int_equal(sl_error_class(SL_DB_VALUE), SL_CLASS_ROW);
	assert_int_equal(sl_error_class(SL_DB_SCHEMA), SL_CLASS_FATAL);
}

/* --- transient failures, for real ---------------------------------------------------- */

static void test_lost_connection(void **state)
{
	(void)state;
	fresh("lost");
	sl_pg *c = open_db();
	char pid[32];
	assert_int_equal(sl__pg_value(c, "SELECT pg_backend_pid()", 0, NULL, pid, sizeof pid), 1);
	PGconn *other = raw(dbname);
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", pid);
	assert_string_equal(q1(other, sql), "t");
	/* the next command finds the session gone: transient */
	int rc = sl__pg_exec(c, "SELECT 1");
	assert_int_equal(rc, SL_DB_CONN);
	assert_int_equal(sl_error_class(rc), SL_CLASS_RETRY);
	/* begin reconnects: a new session */
	assert_int_equal(sl__pg_begin(c), 0);
	assert_int_equal(sl__pg_session(c), 2);
	char now[32];
	assert_int_equal(sl__pg_value(c, "SELECT pg_backend_pid()", 0, NULL, now, sizeof now), 1);
	assert_string_not_equal(now, pid);
	assert_int_equal(sl__pg_value(c, "SHOW TimeZone", 0, NULL, now, sizeof now), 1);
	assert_string_equal(now, "UTC");
	assert_int_equal(sl__pg_commit(c), 0);
	PQfinish(other);
	sl__pg_close(c);
}

static void test_lock_and_serialization(void **state)
{
	(void)state;
	fresh("busy");
	PGconn *other = raw(dbname);
	run(other,
	    "CREATE TABLE t(id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0), (2, 0)");
	sl_pg *c = open_db();

	/* 55P03: a lock that is not granted within lock_timeout */
	run(other, "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
	assert_int_equal(sl__pg_begin(c), 0);
	assert_int_equal(sl__pg_exec(c, "SET LOCAL lock_timeout = '50ms'"), 0);
	assert_int_equal(sl__pg_exec(c, "UPDATE t SET v = 1 WHERE id = 1"), SL_DB_BUSY);
	assert_string_equal(sl__pg_sqlstate(c), "55P03");
	assert_non_null(strstr(sl__pg_errmsg(c), "SQLSTATE 55P03"));
	sl__pg_rollback(c);
	run(other, "COMMIT");

	/* 40001: a repeatable-read transaction updating a row another one changed */
	assert_int_equal(sl__pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ"), 0);
	char buf[16];
	assert_int_equal(sl__pg_value(c, "SELECT v FROM t WHERE id = 1", 0, NULL, buf, sizeof buf),
	                 1);
	run(other, "UPDATE t SET v = 5 WHERE id = 1");
	assert_int_equal(sl__pg_exec(c, "UPDATE t SET v = 6 WHERE id = 1"), SL_DB_BUSY);
	assert_string_equal(sl__pg_sqlstate(c), "40001");
	sl__pg_rollback(c);

	/* 40P01: a deadlock; the other session waits asynchronously */
	run(other, "SET deadlock_timeout = '20ms'");
	assert_int_equal(sl__pg_exec(c, "SET deadlock_timeout = '20ms'"), 0);
	assert_int_equal(sl__pg_begin(c), 0);
	assert_int_equal(sl__pg_exec(c, "UPDATE t SET v = 7 WHERE id = 1"), 0);
	run(other, "BEGIN; UPDATE t SET v = 8 WHERE id = 2");
	assert_int_equal(PQsendQuery(other, "UPDATE t SET v = 8 WHERE id = 1"), 1);
	/* the other waits for row 1 (ours); we now wait for row 2 (its): one of
	   the two is chosen as the victim */
	int rc = sl__pg_exec(c, "UPDATE t SET v = 7 WHERE id = 2");
	PGresult *r;
	const char *other_state = NULL;
	char ost[8] = "";
	while ((r = PQgetResult(other)) != NULL) {
		other_state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (other_state)
			snprintf(ost, sizeof ost, "%s", other_state);
		PQclear(r);
	}
	if (rc) {
		assert_int_equal(rc, SL_DB_BUSY);
		assert_string_equal(sl__pg_sqlstate(c), "40P01");
	} else {
		assert_string_equal(ost, "40P01");
		assert_int_equal(sl__pg_code(ost), SL_DB_BUSY);
	}
	sl__pg_rollback(c);
	run(other, "ROLLBACK");
	PQfinish(other);
	sl__pg_close(c);
}

/* --- migrations ------------------------------------------------------------------ */

/* "1,2,...,N" for this build's N migrations, each applied once */
static const char *all_versions(void)
{
	static char buf[256];
	size_t n = 0;
	for (int v = 1; v <= SL_PG_STORE_VERSION; v++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, v > 1 ? ",%d" : "%d", v);
	return buf;
}

static const char *all_versions_n(void)
{
	static char buf[16];
	snprintf(buf, sizeof buf, "%d", SL_PG_STORE_VERSION);
	return buf;
}

static void test_migrate_fresh(void **state)
{
	(void)state;
	fresh("mig_fresh");
	sl_pg *c = open_db();
	int v = -1;
	assert_int_equal(sl__pg_migrate(c, 0, &v), 0);
	assert_int_equal(v, SL_PG_STORE_VERSION);
	PGconn *r = raw(dbname);
	assert_string_equal(
	    q1(r,
	       "SELECT string_agg(version::text, ',' ORDER BY version) FROM sluice.store_version"),
	    all_versions());
	assert_string_equal(
	    q1(r, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'sluice'"),
	    "11"); /* the 8 of migration 1, the 2 of refeed (7), the leader's (8) */
	assert_string_equal(
	    q1(r, "SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY table_name,"
	          " column_name) FROM information_schema.columns WHERE table_schema = 'sluice'"
	          " AND column_name IN ('owner', 'lease_expiry_ms', 'lease_epoch', 'holder')"),
	    "chunks.lease_epoch,chunks.lease_expiry_ms,chunks.owner,leader.owner,rejects.holder");
	assert_string_equal(q1(r, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'sluice' AND"
	                          " indexname IN ('rejects_holder', 'chunks_open')"),
	                    "2");
	assert_string_equal(
	    q1(r, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'sluice'"
	          " AND column_name = 'rows_updated'"),
	    "2");
	/* migration 5: several files as one job (the manifest, a reject's file) */
	assert_string_equal(
	    q1(r, "SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY table_name,"
	          " column_name) FROM information_schema.columns WHERE table_schema = 'sluice'"
	          " AND column_name IN ('files', 'file')"),
	    "jobs.file,jobs.files,rejects.file");
	/* again: nothing to do */
	assert_int_equal(sl__pg_migrate(c, 0, &v), 0);
	assert_int_equal(v, SL_PG_STORE_VERSION);
	assert_string_equal(q1(r, "SELECT count(*) FROM sluice.store_version"), all_versions_n());
	PQfinish(r);
	sl__pg_close(c);
}

static void test_migrate_upgrade(void **state)
{
	(void)state;
	fresh("mig_up");
	sl_pg *c = open_db();
	int v = -1;
	/* a store made by the first release */
	assert_int_equal(sl__pg_migrate(c, 1, &v), 0);
	assert_int_equal(v, 1);
	PGconn *r = raw(dbname);
	assert_string_equal(
	    q1(r, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'sluice'"
	          " AND column_name = 'rows_updated'"),
	    "0");
	run(r, "INSERT INTO sluice.jobs(id, seq, status, rows_loaded) VALUES ('j1', 1, "
	       "'Succeeded', 10);"
	       "INSERT INTO sluice.chunks(job_id, seq, status, rows_loaded) VALUES ('j1', 0, "
	       "'Succeeded', 10);"
	       "INSERT INTO sluice.rejects(job_id, record, code) VALUES ('j1', 3, 'VAL_TYPE')");
	/* this build upgrades it, keeping its rows */
	assert_int_equal(sl__pg_migrate(c, 0, &v), 0);
	assert_int_equal(v, SL_PG_STORE_VERSION);
	assert_string_equal(q1(r, "SELECT status || ' ' || rows_loaded || ' ' || rows_updated FROM "
	                          "sluice.jobs WHERE id = 'j1'"),
	                    "Succeeded 10 0");
	assert_string_equal(q1(r, "SELECT rows_updated FROM sluice.chunks WHERE job_id = 'j1'"),
	                    "0");
	/* migration 4: rows inserted beside them; the rows loaded before count
	   as inserted (inserted + updated = loaded) */
	assert_string_equal(q1(r, "SELECT rows_inserted || ' ' || rows_updated FROM sluice.jobs"
	                          " WHERE id = 'j1'"),
	                    "10 0");
	assert_string_equal(q1(r, "SELECT rows_inserted FROM sluice.chunks WHERE job_id = 'j1'"),
	                    "10");
	/* the lease columns of migration 3: NULL on the rows that were there
	   (a chunk never claimed) */
	assert_string_equal(q1(r,
	                       "SELECT (owner IS NULL AND lease_expiry_ms IS NULL AND "
	                       "lease_epoch IS NULL)::text FROM sluice.chunks WHERE job_id = 'j1'"),
	                    "true");
	/* migration 5's columns: NULL on the job that was there (a job of one file) */
	assert_string_equal(q1(r, "SELECT (files IS NULL)::text FROM sluice.jobs WHERE id = 'j1'"),
	                    "true");
	assert_string_equal(
	    q1(r,
	       "SELECT string_agg(version::text, ',' ORDER BY version) FROM sluice.store_version"),
	    all_versions());
	/* migration 6: an older job has no mode (append) */
	assert_string_equal(q1(r, "SELECT (mode IS NULL)::text FROM sluice.jobs WHERE id = 'j1'"),
	                    "true");
	/* migration 7: an older job's rejects are open and held by no refeed */
	assert_string_equal(q1(r, "SELECT (refeed_by IS NULL AND resolved_by IS NULL AND origin IS"
	                          " NULL)::text FROM sluice.rejects WHERE job_id = 'j1'"),
	                    "true");
	/* migration 8: the leader's table (empty: nobody led) and the backoff
	   column, NULL on the rows that were there (claimable at once) */
	assert_string_equal(q1(r, "SELECT count(*) FROM sluice.leader"), "0");
	assert_string_equal(
	    q1(r, "SELECT (not_before_ms IS NULL)::text FROM sluice.chunks WHERE job_id = 'j1'"),
	    "true");

	/* a store newer than this build is refused, not touched */
	run(r, "INSERT INTO sluice.store_version(version) VALUES (99)");
	assert_int_equal(sl__pg_migrate(c, 0, &v), SL_DB_SCHEMA);
	assert_int_equal(v, 99);
	assert_non_null(strstr(sl__pg_errmsg(c), "version 99"));
	PQfinish(r);
	sl__pg_close(c);
}

/* Processes migrating one new store at the same moment apply each
   migration once, and all of them succeed (the advisory lock). */
static void test_migrate_concurrent(void **state)
{
	(void)state;
	for (int round = 0; round < 3; round++) {
		char name[32];
		snprintf(name, sizeof name, "mig_two_%d", round);
		fresh(name);
		pid_t pids[3];
		for (int k = 0; k < 3; k++) {
			if ((pids[k] = fork()) == 0) {
				sl_pg *c = NULL;
				char ci[128];
				snprintf(ci, sizeof ci, "dbname=%s", dbname);
				int rc = sl__pg_connect(ci, &c);
				if (rc == 0)
					rc = sl__pg_migrate(c, 0, NULL);
				if (rc)
					fprintf(stderr, "migrate: %s\n", sl__pg_errmsg(c));
				sl__pg_close(c);
				_exit(rc ? 1 : 0);
			}
		}
		for (int k = 0; k < 3; k++) {
			int st = 0;
			assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
		PGconn *r = raw(dbname);
		assert_string_equal(q1(r, "SELECT string_agg(version::text, ',' ORDER BY version) "
		                          "FROM sluice.store_version"),
		                    all_versions());
		PQfinish(r);
	}
}

/* --- types ---------------------------------------------------------------------------- */

static const char all_types[] = "name: t\ntable: typed\ncolumns:\n"
                                "  - {name: i, type: integer}\n"
                                "  - {name: f, type: float, allow_special: true}\n"
                                "  - {name: d, type: decimal, precision: 12, scale: 3}\n"
                                "  - {name: big, type: decimal, precision: 30, scale: 4}\n"
                                "  - {name: b, type: boolean}\n"
                                "  - {name: dt, type: date}\n"
                                "  - {name: tm, type: time}\n"
                                "  - {name: ts, type: timestamp}\n"
                                "  - {name: tz, type: timestamp, format: '%Y-%m-%dT%H:%M:%S%z'}\n"
                                "  - {name: s, type: text}\n"
                                "  - {name: e, type: enum, values: [a, b]}\n";

static void test_types(void **state)
{
	(void)state;
	fresh("types");
	sl_pg *c = open_db();
	sl_schema *sc = P(all_types);
	sl_value v[3][11] = {
	    {I(-9223372036854775807LL), R(0.1), R(1234.5), S("123456789012345678901234.5678"), I(1),
	     S("2025-02-28"), S("12:34:56.5"), S("2025-01-01T03:30:00"), S("2025-01-01T03:30:00Z"),
	     S("tab\there\nnew \\ back"), S("b")},
	    {N(), R(1.0 / 0.0), R(-0.0005), S("-1.0000"), I(0), N(), N(), N(), N(), S(""), N()},
	    {I(42), R(0.0 / 0.0), N(), N(), N(), S("0001-01-01"), S("23:59:59.999999"),
	     S("9999-12-31T23:59:59.999999"), S("1970-01-01T00:00:00Z"), N(), S("a")}};
	uint8_t out[3];
	assert_int_equal(write_rows(c, sc, "job1", &v[0][0], 11, 3, out), 0);
	assert_int_equal(out[0], SL_PG_INSERTED);
	PGconn *r = raw(dbname);
	assert_string_equal(
	    q1(r, "SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', "
	          "' ORDER BY a.attnum)"
	          " FROM pg_attribute a WHERE a.attrelid = 'typed'::regclass AND a.attnum > 0"),
	    "i bigint, f double precision, d numeric(12,3), big numeric(30,4), b boolean, dt date,"
	    " tm time without time zone, ts timestamp without time zone, tz timestamp with time "
	    "zone,"
	    " s text, e text, _sluice_job text, _sluice_rec bigint, _sluice_row bigint");
	/* values, read back as text by the server (UTC session set here too) */
	run(r, "SET TimeZone = 'UTC'; SET extra_float_digits = 3");
	assert_string_equal(
	    q1(r, "SELECT concat_ws('|', i, f, d, big, b, dt, tm, ts, tz, s, e, _sluice_job) FROM "
	          "typed WHERE i < 0"),
	    "-9223372036854775807|0.1|1234.500|123456789012345678901234.5678|t|2025-02-28|12:34:56."
	    "5|"
	    "2025-01-01 03:30:00|2025-01-01 03:30:00+00|tab\there\nnew \\ back|b|job1");
	assert_string_equal(q1(r, "SELECT concat_ws('|', coalesce(i::text, 'null'), f, d, big, b, "
	                          "coalesce(dt::text, 'null'), s = '') FROM typed WHERE b = false"),
	                    "null|Infinity|-0.001|-1.0000|f|null|t");
	assert_string_equal(
	    q1(r, "SELECT concat_ws('|', f, dt, tm, ts, tz, s IS NULL) FROM typed WHERE i = 42"),
	    "NaN|0001-01-01|23:59:59.999999|9999-12-31 23:59:59.999999|1970-01-01 00:00:00+00|t");
	/* decimals are exact: numeric, not a float's nearest */
	assert_string_equal(
	    q1(r, "SELECT d = 1234.5 AND pg_typeof(d)::text = 'numeric' FROM typed WHERE i < 0"),
	    "t");
	PQfinish(r);
	sl_schema_free(sc);
	sl__pg_close(c);
}

/* --- an existing table --------------------------------------------------------------- */

static void expect_schema_error(sl_pg *c, const char *yaml, const char *words)
{
	sl_schema *sc = P(yaml);
	int rc = sl__pg_table_prepare(c, sc);
	if (rc != SL_DB_SCHEMA || !strstr(sl__pg_errmsg(c), words))
		fail_msg("want DB_SCHEMA with '%s', got %s: %s", words, sl_error_name(rc),
		         sl__pg_errmsg(c));
	sl_schema_free(sc);
}

static void test_existing_table(void **state)
{
	(void)state;
	fresh("existing");
	PGconn *r = raw(dbname);
	run(r,
	    "CREATE TABLE loose(id integer PRIMARY KEY, name varchar(5), cost numeric(14,4), at "
	    "timestamptz,"
	    " extra text DEFAULT 'x', _sluice_job varchar(40) NOT NULL);"
	    "CREATE TABLE wrong(id bigint PRIMARY KEY, cost double precision, _sluice_job text);"
	    "CREATE TABLE nokey(id bigint, cost numeric, _sluice_job text);"
	    "CREATE TABLE small(id bigint PRIMARY KEY, cost numeric(12,2), _sluice_job text);"
	    "CREATE TABLE nojob(id bigint PRIMARY KEY, cost numeric);"
	    "CREATE TABLE other_key(id bigint, cost numeric, _sluice_job text, UNIQUE (id, cost))");
	sl_pg *c = open_db();
	/* looser types that hold every value, or refuse it row by row */
	sl_schema *sc = P("name: t\ntable: loose\nkey: [id]\ncolumns:\n  - {name: id, type: "
	                  "integer, required: true}\n"
	                  "  - {name: name, type: text}\n  - {name: cost, type: decimal, "
	                  "precision: 12, scale: 3}\n"
	                  "  - {name: at, type: timestamp}\n");
	assert_int_equal(sl__pg_table_prepare(c, sc), 0);
	sl_schema_free(sc);
	/* a table of an older sluice gets the record column (provenance),
	   NULL for its old rows */
	assert_string_equal(q1(r,
	                       "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
	                       " WHERE attrelid = 'loose'::regclass AND attname = '_sluice_rec'"),
	                    "bigint");
	static const char cost[] = "name: t\ntable: %s\nkey: [id]\ncolumns:\n  - {name: id, type: "
	                           "integer, required: true}\n"
	                           "  - {name: cost, type: decimal, precision: 12, scale: 3}\n";
	char y[512];
	snprintf(y, sizeof y, cost, "wrong");
	expect_schema_error(c, y,
	                    "column cost is double precision, but a decimal column needs numeric");
	snprintf(y, sizeof y, cost, "small");
	expect_schema_error(c, y, "column cost is numeric(12,2)");
	snprintf(y, sizeof y, cost, "nokey");
	expect_schema_error(c, y, "no unique index on its key (id)");
	snprintf(y, sizeof y, cost, "other_key");
	expect_schema_error(c, y, "no unique index on its key (id)");
	snprintf(y, sizeof y, cost, "nojob");
	expect_schema_error(c, y, "without the column _sluice_job");
	expect_schema_error(c,
	                    "name: t\ntable: wrong\ncolumns:\n  - {name: id, type: integer}\n  - "
	                    "{name: when, type: date}\n",
	                    "table wrong exists without the column when");
	PQfinish(r);
	sl__pg_close(c);
}

/* --- duplicates and updates ---------------------------------------------------------- */

static const char keyed[] =
    "name: t\ntable: k\nkey: [id]\non_duplicate: %s\ncolumns:\n"
    "  - {name: id, type: integer, required: true}\n  - {name: v, type: text}\n";

static void test_duplicates(void **state)
{
	(void)state;
	fresh("dups");
	char y[512];
	snprintf(y, sizeof y, keyed, "reject");
	sl_schema *sc = P(y);
	sl_pg *c = open_db();
	sl_value first[1][2] = {{I(1), S("old")}};
	uint8_t out[8];
	assert_int_equal(write_rows(c, sc, "j0", &first[0][0], 2, 1, out), 0);
	assert_int_equal(out[0], SL_PG_INSERTED);
	/* against the table (1) and inside the batch (2 twice): the earliest wins */
	sl_value v[6][2] = {{I(2), S("a")}, {I(1), S("b")}, {I(3), S("c")},
	                    {I(2), S("d")}, {I(4), S("e")}, {I(2), S("f")}};
	assert_int_equal(write_rows(c, sc, "j1", &v[0][0], 2, 6, out), 0);
	uint8_t want[6] = {SL_PG_INSERTED, SL_PG_DUP,      SL_PG_INSERTED,
	                   SL_PG_DUP,      SL_PG_INSERTED, SL_PG_DUP};
	assert_memory_equal(out, want, 6);
	PGconn *r = raw(dbname);
	assert_string_equal(
	    q1(r, "SELECT string_agg(id || v || _sluice_job, ',' ORDER BY id) FROM k"),
	    "1oldj0,2aj1,3cj1,4ej1");
	PQfinish(r);
	sl_schema_free(sc);
	sl__pg_close(c);
}

static void test_updates(void **state)
{
	(void)state;
	fresh("updates");
	char y[512];
	snprintf(y, sizeof y, keyed, "update");
	sl_schema *sc = P(y);
	sl_pg *c = open_db();
	sl_value first[1][2] = {{I(1), S("old")}};
	uint8_t out[8];
	assert_int_equal(write_rows(c, sc, "j0", &first[0][0], 2, 1, out), 0);
	/* 1 replaces the table's row; 2 is new and then replaced in the batch; the latest wins */
	sl_value v[5][2] = {
	    {I(1), S("b")}, {I(2), S("c")}, {I(2), S("d")}, {I(3), S("e")}, {I(2), S("g")}};
	assert_int_equal(write_rows(c, sc, "j1", &v[0][0], 2, 5, out), 0);
	uint8_t want[5] = {SL_PG_UPDATED, SL_PG_INSERTED, SL_PG_UPDATED, SL_PG_INSERTED,
	                   SL_PG_UPDATED};
	assert_memory_equal(out, want, 5);
	PGconn *r = raw(dbname);
	assert_string_equal(
	    q1(r, "SELECT string_agg(id || v || _sluice_job, ',' ORDER BY id) FROM k"),
	    "1bj1,2gj1,3ej1");
	PQfinish(r);
	sl_schema_free(sc);
	sl__pg_close(c);
}

/* --- constraints the schema does not know -------------------------------------------------- */

/* The same table with every kind of constraint, made by hand; rows 3, 7,
   8, 11, 13 and 17 of 20 break one each, and the others must load. */
static void constraints(const char *name, bool with_key)
{
	fresh(name);
	PGconn *r = raw(dbname);
	run(r, "CREATE TABLE parent(id bigint PRIMARY KEY); INSERT INTO parent SELECT "
	       "generate_series(1, 100);");
	char sql[1024];
	snprintf(
	    sql, sizeof sql,
	    "CREATE TABLE c(id bigint %s, amount bigint CONSTRAINT amount_positive CHECK (amount > "
	    "0),"
	    " parent bigint CONSTRAINT c_parent_fk REFERENCES parent(id), label varchar(8) NOT "
	    "NULL,"
	    " code text CONSTRAINT c_code_unique UNIQUE, slot bigint,"
	    " _sluice_job text NOT NULL, CONSTRAINT c_slot_excl EXCLUDE USING btree (slot WITH =))",
	    with_key ? "PRIMARY KEY" : "");
	run(r, sql);
	sl_schema *sc =
	    P(with_key ? "name: t\ntable: c\nkey: [id]\ncolumns:\n  - {name: id, type: integer, "
	                 "required: true}\n"
	                 "  - {name: amount, type: integer}\n  - {name: parent, type: integer}\n"
	                 "  - {name: label, type: text}\n  - {name: code, type: text}\n  - {name: "
	                 "slot, type: integer}\n"
	               : "name: t\ntable: c\ncolumns:\n  - {name: id, type: integer}\n"
	                 "  - {name: amount, type: integer}\n  - {name: parent, type: integer}\n"
	                 "  - {name: label, type: text}\n  - {name: code, type: text}\n  - {name: "
	                 "slot, type: integer}\n");
	sl_value v[20][6];
	char codes[20][8];
	for (int i = 0; i < 20; i++) {
		snprintf(codes[i], sizeof codes[i], "c%d", i);
		sl_value row[6] = {I(i), I(10 + i), I(1 + i), S("ok"), S(codes[i]), I(i)};
		memcpy(v[i], row, sizeof row);
	}
	v[3][1] = I(-5);              /* CHECK */
	v[7][2] = I(1000);            /* foreign key */
	v[8][3] = N();                /* NOT NULL the schema does not say */
	v[11][4] = S("c2");           /* unique on another column: row 2 has it */
	v[13][5] = I(5);              /* exclusion: row 5 has slot 5 */
	v[17][3] = S("far too long"); /* varchar(8): a value the column cannot hold */
	uint8_t out[20];
	sl_pg *c = open_db();
	assert_int_equal(write_rows(c, sc, "j1", &v[0][0], 6, 20, out), 0);
	assert_string_equal(refusals, "3 DB_CONSTRAINT 23514 amount_positive\n"
	                              "7 DB_CONSTRAINT 23503 c_parent_fk\n"
	                              "8 DB_CONSTRAINT 23502 -\n"
	                              "11 DB_CONSTRAINT 23505 c_code_unique\n"
	                              "13 DB_CONSTRAINT 23P01 c_slot_excl\n"
	                              "17 DB_VALUE 22001 -\n");
	for (int i = 0; i < 20; i++) {
		bool refused = i == 3 || i == 7 || i == 8 || i == 11 || i == 13 || i == 17;
		if (out[i] != (refused ? SL_PG_REFUSED : SL_PG_INSERTED))
			fail_msg("row %d: outcome %d", i, out[i]);
	}
	assert_string_equal(q1(r, "SELECT string_agg(id::text, ',' ORDER BY id) FROM c"),
	                    "0,1,2,4,5,6,9,10,12,14,15,16,18,19");
	PQfinish(r);
	sl_schema_free(sc);
	sl__pg_close(c);
}

static void test_constraints_copy(void **state)
{
	(void)state;
	constraints("cons_copy", false);
}

static void test_constraints_keyed(void **state)
{
	(void)state;
	constraints("cons_keyed", true);
}

/* A refused earliest row of a key leaves the key to the next row that has it. */
static void test_refused_then_duplicate(void **state)
{
	(void)state;
	fresh("refused_dup");
	PGconn *r = raw(dbname);
	run(r, "CREATE TABLE k(id bigint PRIMARY KEY, v text CHECK (v <> 'bad'), _sluice_job text "
	       "NOT NULL)");
	char y[512];
	snprintf(y, sizeof y, keyed, "reject");
	sl_schema *sc = P(y);
	sl_pg *c = open_db();
	sl_value v[4][2] = {{I(1), S("bad")}, {I(1), S("good")}, {I(1), S("late")}, {I(2), S("x")}};
	uint8_t out[4];
	assert_int_equal(write_rows(c, sc, "j1", &v[0][0], 2, 4, out), 0);
	uint8_t want[4] = {SL_PG_REFUSED, SL_PG_INSERTED, SL_PG_DUP, SL_PG_INSERTED};
	assert_memory_equal(out, want, 4);
	assert_string_equal(q1(r, "SELECT string_agg(id || v, ',' ORDER BY id) FROM k"),
	                    "1good,2x");
	PQfinish(r);
	sl_schema_free(sc);
	sl__pg_close(c);
}

int main(void)
{
	if (!getenv("PGHOST")) {
		fprintf(stderr, "test_pg: no PGHOST: run through tests/pg/run_unit.sh (the "
		                "postgres fixture)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_connect),
	    cmocka_unit_test(test_codes),
	    cmocka_unit_test(test_lost_connection),
	    cmocka_unit_test(test_lock_and_serialization),
	    cmocka_unit_test(test_migrate_fresh),
	    cmocka_unit_test(test_migrate_upgrade),
	    cmocka_unit_test(test_migrate_concurrent),
	    cmocka_unit_test(test_types),
	    cmocka_unit_test(test_existing_table),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_updates),
	    cmocka_unit_test(test_constraints_copy),
	    cmocka_unit_test(test_constraints_keyed),
	    cmocka_unit_test(test_refused_then_duplicate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
