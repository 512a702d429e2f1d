/*
 * The backends of the store conformance suites (backends.h) and their
 * fixture: real databases in temporary directories. A new backend adds its
 * opener and one line to store_backends[] (PostgreSQL will start a server
 * for its run and name a database per directory).
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
#include <libpq-fe.h>

#include "base/base.h"
#include "sluice/error.h"
#include "backends.h"

static int open_sqlite(const char *dir, int busy_ms, sl_store *out, char *msg, size_t msglen)
{
	char uri[256];
	snprintf(uri, sizeof uri, "sqlite:%s/store.db", dir);
	unsetenv("SLUICE_FAULTS");
	return sl_store_open(uri, busy_ms, SL_STORE_BOTH, out, msg, msglen);
}

/* The registry wraps what it opens when SLUICE_FAULTS is set; a spec that
   arms nothing (times=0) must change nothing. A plain path is SQLite too. */
static int open_faults(const char *dir, int busy_ms, sl_store *out, char *msg, size_t msglen)
{
	char path[256];
	snprintf(path, sizeof path, "%s/store.db", dir);
	setenv("SLUICE_FAULTS", "chunk=0,times=0", 1);
	int rc = sl_store_open(path, busy_ms, SL_STORE_BOTH, out, msg, msglen);
	unsetenv("SLUICE_FAULTS");
	if (rc == 0 && strcmp(sl_txn_name(out->txn), "faults") != 0) {
		snprintf(msg, msglen, "not wrapped: the suite would test SQLite twice");
		sl_store_close(out);
		return SL_INTERNAL;
	}
	return rc;
}

/* PostgreSQL: the server of the `postgres` fixture (PGHOST, PGPORT,
   PGUSER from tests/pg/run_unit.sh), a database per directory, made when
   new; the same directory again is a second connection to it. */
static int open_postgres(const char *dir, int busy_ms, sl_store *out, char *msg, size_t msglen)
{
	char db[96], sql[160], uri[512];
	const char *base = strrchr(dir, '/');
	snprintf(db, sizeof db, "%s%s", getenv("SLUICE_PG_PREFIX") ? getenv("SLUICE_PG_PREFIX") : "t",
	         base ? base : "/x");
	db[strcspn(db, "/")] = '_';
	PGconn *m = PQconnectdb("dbname=postgres");
	snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", db);
	PGresult *r = PQexec(m, sql);
	const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	int made = PQresultStatus(r) == PGRES_COMMAND_OK || (st && !strcmp(st, "42P04"));
	if (!made)
		snprintf(msg, msglen, "CREATE DATABASE %s: %s", db, PQerrorMessage(m));
	PQclear(r);
	PQfinish(m);
	if (!made)
		return SL_DB_ERROR;
	unsetenv("SLUICE_FAULTS");
	snprintf(uri, sizeof uri, "postgresql:///%s", db);
	return sl_store_open(uri, busy_ms, SL_STORE_BOTH, out, msg, msglen);
}

const store_backend store_backends[] = {
    {"sqlite", open_sqlite, false, false},
    {"faults(sqlite), nothing armed", open_faults, false, false},
    {"postgres", open_postgres, false, true}, /* issue 12: load modes still to come */
    {NULL, NULL, false, false},
};

bool store_backend_wanted(const store_backend *b)
{
	const char *only = getenv("SLUICE_STORE_BACKEND");
	if (only && *only)
		return !strcmp(b->name, only);
	/* PostgreSQL runs when its fixture gave a server (tests/pg: pg_jobstore, pg_sink) */
	return strcmp(b->name, "postgres") != 0;
}

int store_fx_setup(void **state)
{
	const store_backend *b = *state;
	store_fx *f = calloc(1, sizeof *f);
	char msg[512] = "";
	if (!f)
		return -1;
	f->b = b;
	snprintf(f->dir, sizeof f->dir, "/tmp/sluice_store_XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	int rc = b->open(f->dir, 2000, &f->s, msg, sizeof msg);
	if (rc < 0) {
		fprintf(stderr, "%s: open: %s (%s)\n", b->name, sl_error_name(rc), msg);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

int store_fx_teardown(void **state)
{
	store_fx *f = *state;
	sl_store_close(&f->s);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}
