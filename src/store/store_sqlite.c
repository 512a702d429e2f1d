/*
 * The SQLite store: the embedded default. One database file holds the job
 * tables (sluice_*) and the target tables.
 *
 * Durability: WAL with synchronous=NORMAL. A commit is atomic and survives
 * the process being killed at any moment (the WAL is in the OS's hands once
 * written); only a power cut may lose the last commits, and then the chunk
 * status is lost together with the chunk's rows, so exactly-once holds.
 *
 * Target tables are rowid tables; the key is their PRIMARY KEY, a unique
 * index. The engine inserts a keyed chunk in key order (sorted runs merged,
 * see engine/spill.c), so the index, which outgrows any cache we may use, is
 * walked left to right once per chunk. Measured on 5M CDR rows (2 cores):
 * file order 52 s, a WITHOUT ROWID keyed table 43 s, key-ordered groups of
 * 64K rows 22 s, whole chunks in key order 14.6 s. A table without a key
 * gets its rows appended in file order, several per statement.
 *
 * Memory: the page cache is 48 MiB (64 MiB gave ~7 % speed for 30 MiB more
 * peak memory; the budget for a whole ingest is 128 MiB).
 */
#include <errno.h>
#include <libgen.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "store/store.h"

typedef struct sq_store {
	sl_store base;
	sqlite3 *db;
	sqlite3_stmt *ins_row, *ins_many, *ins_reject, *ins_event, *upd_job, *upd_chunk, *upsert_code;
	const sl_schema *schema;
	bool *real_as_text; /* per column: a REAL value goes into a TEXT column of an
			       older table (see check_columns) */
	char job_id[SL_JOB_ID_LEN];
	bool upsert;
	char path[4096];
	char err[4096 + 512];
} sq_store;

/* Rows per INSERT for tables without a key (parameters: rows x columns,
   well under SQLite's limit of 32766 for any sensible schema; the schema
   caps columns). */
#define INSERT_MANY 32

static const char ddl[] =
	"CREATE TABLE IF NOT EXISTS sluice_jobs("
	" id TEXT PRIMARY KEY, seq INTEGER UNIQUE, status TEXT NOT NULL, file TEXT, schema_path TEXT, dataset TEXT,"
	" target_table TEXT, schema_hash INTEGER, file_size INTEGER, file_hash INTEGER,"
	" file_mtime_ns INTEGER, chunk_size INTEGER, chunks_total INTEGER, chunks_processed INTEGER,"
	" chunks_succeeded INTEGER, chunks_failed INTEGER, rows_read INTEGER, rows_loaded INTEGER,"
	" rows_rejected INTEGER, bytes_total INTEGER, bytes_done INTEGER, error_code TEXT,"
	" error_message TEXT, created_ms INTEGER, started_ms INTEGER, finished_ms INTEGER,"
	" updated_ms INTEGER, correlation_id TEXT);"
	"CREATE INDEX IF NOT EXISTS sluice_jobs_file ON sluice_jobs(file, target_table);"
	"CREATE TABLE IF NOT EXISTS sluice_job_codes(job_id TEXT NOT NULL, code TEXT NOT NULL,"
	" count INTEGER NOT NULL, PRIMARY KEY(job_id, code)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS sluice_chunks(job_id TEXT NOT NULL, seq INTEGER NOT NULL,"
	" offset INTEGER, length INTEGER, hash INTEGER, first_record INTEGER, first_line INTEGER,"
	" records_planned INTEGER, status TEXT, attempts INTEGER, rows_read INTEGER,"
	" rows_loaded INTEGER, rows_rejected INTEGER, duration_ms INTEGER, last_error TEXT,"
	" last_message TEXT, PRIMARY KEY(job_id, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS sluice_rejects(id INTEGER PRIMARY KEY, job_id TEXT NOT NULL,"
	" chunk INTEGER, record INTEGER, line INTEGER, offset INTEGER, column_name TEXT,"
	" code TEXT NOT NULL, message TEXT, raw BLOB);"
	"CREATE INDEX IF NOT EXISTS sluice_rejects_job ON sluice_rejects(job_id, record);"
	"CREATE TABLE IF NOT EXISTS sluice_events(id INTEGER PRIMARY KEY, job_id TEXT NOT NULL,"
	" chunk INTEGER, kind TEXT NOT NULL, at_ms INTEGER, rows_read INTEGER, rows_loaded INTEGER,"
	" rows_rejected INTEGER, duration_ms INTEGER, message TEXT);"
	"CREATE INDEX IF NOT EXISTS sluice_events_job ON sluice_events(job_id);"
	"CREATE TABLE IF NOT EXISTS sluice_idempotency(key TEXT PRIMARY KEY, job_id TEXT NOT NULL,"
	" dataset TEXT, size INTEGER, hash INTEGER, created_ms INTEGER);"
	"CREATE TABLE IF NOT EXISTS sluice_cancels(job_id TEXT PRIMARY KEY, at_ms INTEGER);";

/*
 * Is a failed write a full disk? SQLite reports a write refused with EFBIG
 * (a file size limit) as a plain I/O error, and its saved errno is not
 * reliable, so look at the conditions themselves: little free space where
 * the database lives, or a database or WAL file at the size limit.
 */
static bool disk_full(const sq_store *q)
{
	char dir[4096];
	struct statvfs vfs;
	snprintf(dir, sizeof dir, "%s", q->path);
	if (statvfs(dirname(dir), &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < (4u << 20))
		return true;
	struct rlimit rl;
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		static const char *const suffix[] = {"", "-wal", "-journal"};
		for (size_t i = 0; i < 3; i++) {
			char f[4200];
			struct stat st;
			snprintf(f, sizeof f, "%s%s", q->path, suffix[i]);
			if (stat(f, &st) == 0 && (uint64_t)st.st_size + (1u << 20) >= (uint64_t)rl.rlim_cur)
				return true;
		}
	}
	return false;
}

static int map_rc(sq_store *q, int rc)
{
	if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	int sys = sqlite3_system_errno(q->db);
	snprintf(q->err, sizeof q->err, "%s (sqlite %d%s%s)", sqlite3_errmsg(q->db),
		 sqlite3_extended_errcode(q->db), sys ? ", " : "", sys ? strerror(sys) : "");
	switch (rc & 0xFF) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return SL_DB_BUSY;
	case SQLITE_FULL:
		return SL_DB_FULL;
	case SQLITE_IOERR: {
		/* a write refused for lack of space is a full disk, whatever
		   SQLite calls it */
		if (sys == ENOSPC || sys == EFBIG || sys == EDQUOT || disk_full(q)) {
			snprintf(q->err, sizeof q->err, "disk full or file size limit reached where %s is (%s)",
				 q->path, sqlite3_errmsg(q->db));
			return SL_DB_FULL;
		}
		return SL_DB_IO;
	}
	case SQLITE_NOMEM:
		return SL_NOMEM;
	default:
		return SL_DB_ERROR;
	}
}

static int exec(sq_store *q, const char *sql)
{
	return map_rc(q, sqlite3_exec(q->db, sql, NULL, NULL, NULL));
}

static int prep(sq_store *q, const char *sql, sqlite3_stmt **st)
{
	if (*st)
		return 0;
	return map_rc(q, sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL));
}

/* Run a statement to completion and reset it. */
static int step_done(sq_store *q, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int r = map_rc(q, rc);
	sqlite3_reset(st);
	return r;
}

static void sq_close(sl_store *s)
{
	sq_store *q = (sq_store *)s;
	if (!q)
		return;
	sqlite3_finalize(q->ins_row);
	sqlite3_finalize(q->ins_many);
	sqlite3_finalize(q->ins_reject);
	sqlite3_finalize(q->ins_event);
	sqlite3_finalize(q->upd_job);
	sqlite3_finalize(q->upd_chunk);
	sqlite3_finalize(q->upsert_code);
	sqlite3_close_v2(q->db);
	free(q->real_as_text);
	free(q);
}

static int sq_open(const char *target, int busy_timeout_ms, sl_store **out)
{
	int rc;
	sq_store *q = calloc(1, sizeof *q);
	*out = NULL;
	if (!q)
		return SL_NOMEM;
	q->base.ops = &sl__store_sqlite;
	snprintf(q->path, sizeof q->path, "%s", target);
	*out = &q->base; /* even on failure: the caller reads errmsg, then closes */
	rc = sqlite3_open_v2(target, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				   SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(q->err, sizeof q->err, "cannot open %s: %s", target,
			 q->db ? sqlite3_errmsg(q->db) : "out of memory");
		return rc == SQLITE_CANTOPEN ? SL_IO_OPEN : SL_DB_ERROR;
	}
	sqlite3_busy_timeout(q->db, busy_timeout_ms > 0 ? busy_timeout_ms : 5000);
	sqlite3_extended_result_codes(q->db, 1);
	/* 16 KiB pages: fewer B-tree levels for the key index (a new file only) */
	if ((rc = exec(q, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			  "PRAGMA cache_size=-49152; /* 48 MiB */ PRAGMA temp_store=MEMORY;")) < 0)
		return rc;
	/* Create the tables only when missing: taking the write lock for that
	   on every open would make a reader wait for a writer. */
	sqlite3_stmt *st = NULL;
	int have = 0;
	if (sqlite3_prepare_v2(q->db, "SELECT count(*) FROM sqlite_master WHERE name = 'sluice_cancels'",
			       -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		have = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (have)
		return 0;
	if ((rc = exec(q, "BEGIN IMMEDIATE")) < 0)
		return rc;
	if ((rc = exec(q, ddl)) < 0) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return exec(q, "COMMIT");
}

static const char *sq_errmsg(sl_store *s)
{
	return ((sq_store *)s)->err;
}

static int sq_begin(sl_store *s)
{
	return exec((sq_store *)s, "BEGIN IMMEDIATE");
}

static int sq_commit(sl_store *s)
{
	return exec((sq_store *)s, "COMMIT");
}

static void sq_rollback(sl_store *s)
{
	sq_store *q = (sq_store *)s;
	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

/* --- target table --------------------------------------------------------- */

/* One storage class per column (sl_column_storage): what the column's
   declared type makes SQLite keep, so comparisons, ORDER BY and aggregates
   are numeric where the values are numbers. */
static const char *sql_type(const sl_column *c)
{
	switch (sl_column_storage(c)) {
	case SL_VALUE_INT:
		return "INTEGER";
	case SL_VALUE_REAL:
		return "REAL";
	default:
		return "TEXT";
	}
}

/* Append "name" quoted as an SQL identifier. Names are checked identifiers
   already (schema), quoting is the second fence. */
static int add_ident(sl_buf *b, const char *name)
{
	int rc = sl_buf_append(b, "\"", 1);
	for (const char *p = name; rc == 0 && *p; p++) {
		rc = sl_buf_append(b, p, 1);
		if (rc == 0 && *p == '"')
			rc = sl_buf_append(b, "\"", 1);
	}
	return rc ? rc : sl_buf_append(b, "\"", 1);
}

static int add(sl_buf *b, const char *s)
{
	return sl_buf_append(b, s, strlen(s));
}

/* Columns the existing table lacks, comma-separated into `missing`. With
   as_text (ncols entries), also the columns whose values are REAL now but
   that an older sluice declared TEXT (decimals were text): values bound
   there as canonical text keep such a column one storage class, the same
   form as its old rows. */
static int check_columns(sq_store *q, const sl_schema *sc, char *missing, size_t n, bool *as_text)
{
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, "SELECT name, type FROM pragma_table_info(?)", -1, &st, NULL));
	if (rc == 0)
		sqlite3_bind_text(st, 1, sc->table, -1, SQLITE_STATIC);
	bool *have = calloc(sc->ncols + 1, sizeof *have);
	int found = 0;
	if (!have)
		rc = SL_NOMEM;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		found++;
		const char *type = (const char *)sqlite3_column_text(st, 1);
		for (size_t i = 0; i < sc->ncols; i++) {
			if (name && !strcmp(name, sc->cols[i].name)) {
				have[i] = true;
				if (as_text)
					as_text[i] = sl_column_storage(&sc->cols[i]) == SL_VALUE_REAL && type &&
						     !strcasecmp(type, "TEXT");
			}
		}
		if (name && !strcmp(name, "_sluice_job"))
			have[sc->ncols] = true;
	}
	missing[0] = 0;
	for (size_t i = 0; rc == 0 && found && i <= sc->ncols; i++) {
		if (have[i])
			continue;
		size_t l = strlen(missing);
		snprintf(missing + l, n - l, "%s%s", l ? ", " : "", i < sc->ncols ? sc->cols[i].name : "_sluice_job");
	}
	sqlite3_finalize(st);
	free(have);
	return rc < 0 ? rc : found;
}

/* records section, below: the lookup indexes of a target table */
static int records_indexes(sq_store *q, const sl_schema *sc);

static int sq_target_prepare(sl_store *s, const sl_schema *sc, const char *job_id)
{
	sq_store *q = (sq_store *)s;
	sl_buf b;
	char missing[400];
	int rc;
	sl_buf_init(&b, 1 << 20);
	q->schema = sc;
	snprintf(q->job_id, sizeof q->job_id, "%s", job_id);
	q->upsert = sc->on_duplicate == SL_DUP_UPDATE && sc->nkey > 0;

	free(q->real_as_text);
	if (!(q->real_as_text = calloc(sc->ncols + 1, sizeof *q->real_as_text))) {
		rc = SL_NOMEM;
		goto out;
	}
	rc = check_columns(q, sc, missing, sizeof missing, q->real_as_text);
	if (rc < 0)
		goto out;
	if (rc > 0 && missing[0]) {
		snprintf(q->err, sizeof q->err, "table %s exists without the columns %s", sc->table, missing);
		rc = SL_DB_ERROR;
		goto out;
	}
	if (rc == 0) {
		rc = add(&b, "CREATE TABLE IF NOT EXISTS ") | add_ident(&b, sc->table) | add(&b, "(");
		for (size_t i = 0; i < sc->ncols; i++) {
			rc |= add_ident(&b, sc->cols[i].name) | add(&b, " ") | add(&b, sql_type(&sc->cols[i]));
			bool inkey = false;
			for (size_t k = 0; k < sc->nkey; k++)
				inkey |= sc->key[k] == i;
			rc |= add(&b, inkey ? " NOT NULL, " : ", ");
		}
		rc |= add(&b, "\"_sluice_job\" TEXT NOT NULL");
		if (sc->nkey) {
			rc |= add(&b, ", PRIMARY KEY(");
			for (size_t k = 0; k < sc->nkey; k++)
				rc |= (k ? add(&b, ", ") : 0) | add_ident(&b, sc->cols[sc->key[k]].name);
			rc |= add(&b, "))");
		} else {
			rc |= add(&b, ")");
		}
		rc |= sl_buf_append(&b, "", 1);
		if (rc) {
			rc = SL_NOMEM;
			goto out;
		}
		if ((rc = exec(q, b.p)) < 0)
			goto out;
	}

	/* indexes of a new table, and those an older table lacks */
	if ((rc = records_indexes(q, sc)) < 0)
		goto out;

	sl_buf_reset(&b);
	rc = add(&b, "INSERT INTO ") | add_ident(&b, sc->table) | add(&b, "(");
	for (size_t i = 0; i < sc->ncols; i++)
		rc |= add_ident(&b, sc->cols[i].name) | add(&b, ", ");
	rc |= add(&b, "\"_sluice_job\") VALUES(?");
	for (size_t i = 0; i < sc->ncols; i++)
		rc |= add(&b, ", ?");
	rc |= add(&b, ")");
	if (sc->nkey && q->upsert) {
		rc |= add(&b, " ON CONFLICT(");
		for (size_t k = 0; k < sc->nkey; k++)
			rc |= (k ? add(&b, ", ") : 0) | add_ident(&b, sc->cols[sc->key[k]].name);
		rc |= add(&b, ") DO UPDATE SET ");
		for (size_t i = 0; i < sc->ncols; i++)
			rc |= add_ident(&b, sc->cols[i].name) | add(&b, " = excluded.") |
			      add_ident(&b, sc->cols[i].name) | add(&b, ", ");
		rc |= add(&b, "\"_sluice_job\" = excluded.\"_sluice_job\"");
	} else if (sc->nkey) {
		/* only the key: a clash on anything else must not pass silently */
		rc |= add(&b, " ON CONFLICT(");
		for (size_t k = 0; k < sc->nkey; k++)
			rc |= (k ? add(&b, ", ") : 0) | add_ident(&b, sc->cols[sc->key[k]].name);
		rc |= add(&b, ") DO NOTHING");
	}
	rc |= sl_buf_append(&b, "", 1);
	if (rc) {
		rc = SL_NOMEM;
		goto out;
	}
	sqlite3_finalize(q->ins_row);
	q->ins_row = NULL;
	if ((rc = prep(q, b.p, &q->ins_row)) < 0)
		goto out;

	/* the same for INSERT_MANY rows at once (tables without a key) */
	sqlite3_finalize(q->ins_many);
	q->ins_many = NULL;
	if (!sc->nkey) {
		sl_buf_reset(&b);
		rc = add(&b, "INSERT INTO ") | add_ident(&b, sc->table) | add(&b, "(");
		for (size_t i = 0; i < sc->ncols; i++)
			rc |= add_ident(&b, sc->cols[i].name) | add(&b, ", ");
		rc |= add(&b, "\"_sluice_job\") VALUES");
		for (int r = 0; r < INSERT_MANY; r++) {
			rc |= add(&b, r ? ", (?" : "(?");
			for (size_t i = 0; i < sc->ncols; i++)
				rc |= add(&b, ", ?");
			rc |= add(&b, ")");
		}
		rc |= sl_buf_append(&b, "", 1);
		if (rc) {
			rc = SL_NOMEM;
			goto out;
		}
		rc = prep(q, b.p, &q->ins_many);
	}
out:
	sl_buf_free(&b);
	return rc;
}

/* A REAL value; as its canonical text when the column is TEXT (an older
   table: see check_columns). A NaN binds as NULL: SQLite has no NaN. */
static void bind_real(sqlite3_stmt *st, int p, const sl_column *c, double d, bool as_text)
{
	if (SL_LIKELY(!as_text)) {
		sqlite3_bind_double(st, p, d);
		return;
	}
	char buf[48];
	size_t n = c->type == SL_TYPE_DECIMAL ? sl_decimal_real_format(c, d, buf) : sl_double_format(d, buf);
	sqlite3_bind_text(st, p, buf, (int)n, SQLITE_TRANSIENT);
}

/* Bind one row's parameters from *p on; returns the next parameter. */
static int bind_row(sq_store *q, sqlite3_stmt *st, int p, const sl_value *v)
{	for (size_t i = 0; i < q->schema->ncols; i++, p++) {
		switch (v[i].kind) {
		case SL_VALUE_INT:
			sqlite3_bind_int64(st, p, v[i].i);
			break;
		case SL_VALUE_TEXT:
			sqlite3_bind_text(st, p, v[i].s.p, (int)v[i].s.n, SQLITE_STATIC);
			break;
		case SL_VALUE_REAL:
			bind_real(st, p, &q->schema->cols[i], v[i].d, q->real_as_text[i]);
			break;
		default:
			sqlite3_bind_null(st, p);
		}
	}
	sqlite3_bind_text(st, p++, q->job_id, -1, SQLITE_STATIC);
	return p;
}

static int sq_target_insert(sl_store *s, const sl_value *v, bool *dup)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = q->ins_row;
	bind_row(q, st, 1, v);
	int rc = step_done(q, st);
	*dup = rc == 0 && q->schema->nkey && !q->upsert && sqlite3_changes(q->db) == 0;
	return rc;
}

static int sq_target_insert_many(sl_store *s, const sl_value *const *vals, size_t n)
{
	sq_store *q = (sq_store *)s;
	size_t i = 0;
	int rc = 0;
	for (; q->ins_many && i + INSERT_MANY <= n && rc == 0; i += INSERT_MANY) {
		int p = 1;
		for (size_t r = 0; r < INSERT_MANY; r++)
			p = bind_row(q, q->ins_many, p, vals[i + r]);
		rc = step_done(q, q->ins_many);
	}
	for (; i < n && rc == 0; i++) {
		bool dup;
		rc = sq_target_insert(s, vals[i], &dup);
	}
	return rc;
}

static int sq_target_delete_job(sl_store *s, const char *table, const char *job_id, uint64_t *rows)
{
	sq_store *q = (sq_store *)s;
	sl_buf b;
	sqlite3_stmt *st = NULL;
	sl_buf_init(&b, 4096);
	int rc = add(&b, "DELETE FROM ") | add_ident(&b, table) | add(&b, " WHERE \"_sluice_job\" = ?") |
		 sl_buf_append(&b, "", 1);
	if (rc) {
		rc = SL_NOMEM;
		goto out;
	}
	if ((rc = map_rc(q, sqlite3_prepare_v2(q->db, b.p, -1, &st, NULL))) < 0)
		goto out;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	rc = map_rc(q, sqlite3_step(st));
	*rows = rc == 0 ? (uint64_t)sqlite3_changes64(q->db) : 0;
out:
	sqlite3_finalize(st);
	sl_buf_free(&b);
	return rc;
}

/* --- jobs ------------------------------------------------------------------ */

#define JOB_COLS                                                                                   \
	"id, seq, status, file, schema_path, dataset, target_table, schema_hash, file_size, file_hash, "   \
	"file_mtime_ns, chunk_size, chunks_total, chunks_processed, chunks_succeeded, chunks_failed, " \
	"rows_read, rows_loaded, rows_rejected, bytes_total, bytes_done, error_code, error_message, "  \
	"created_ms, started_ms, finished_ms, updated_ms, correlation_id"

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_job(sqlite3_stmt *st, const sl_job *j)
{
	int i = 1;
	bind_str(st, i++, j->id);
	sqlite3_bind_int64(st, i++, j->seq);
	bind_str(st, i++, sl_job_status_name(j->status));
	bind_str(st, i++, j->file);
	bind_str(st, i++, j->schema_path);
	bind_str(st, i++, j->dataset);
	bind_str(st, i++, j->table);
	sqlite3_bind_int64(st, i++, (int64_t)j->schema_hash);
	sqlite3_bind_int64(st, i++, (int64_t)j->file_size);
	sqlite3_bind_int64(st, i++, (int64_t)j->file_hash);
	sqlite3_bind_int64(st, i++, j->file_mtime_ns);
	sqlite3_bind_int64(st, i++, (int64_t)j->chunk_size);
	const uint64_t *u[] = {&j->chunks_total, &j->chunks_processed, &j->chunks_succeeded,
			       &j->chunks_failed,  &j->rows_read,        &j->rows_loaded,
			       &j->rows_rejected,  &j->bytes_total,      &j->bytes_done};
	for (size_t k = 0; k < SL_ARRAY_LEN(u); k++)
		sqlite3_bind_int64(st, i++, (int64_t)*u[k]);
	bind_str(st, i++, j->error_code ? sl_error_name(j->error_code) : NULL);
	bind_str(st, i++, j->error_message);
	sqlite3_bind_int64(st, i++, j->created_ms);
	sqlite3_bind_int64(st, i++, j->started_ms);
	sqlite3_bind_int64(st, i++, j->finished_ms);
	sqlite3_bind_int64(st, i++, j->updated_ms);
	bind_str(st, i++, j->correlation_id);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static int read_codes(sq_store *q, sl_job *j)
{
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, "SELECT code, count FROM sluice_job_codes WHERE job_id = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			int k = sl_error_index(sl_error_from_name((const char *)sqlite3_column_text(st, 0)));
			if (k >= 0)
				j->rejects_by_code[k] = (uint64_t)sqlite3_column_int64(st, 1);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static void read_job(sqlite3_stmt *st, sl_job *j)
{
	int i = 0;
	sl_job_clear(j);
	snprintf(j->id, sizeof j->id, "%s", (const char *)sqlite3_column_text(st, i++));
	j->seq = (uint32_t)sqlite3_column_int64(st, i++);
	const char *status = (const char *)sqlite3_column_text(st, i++);
	sl_job_status_parse(status ? status : "", &j->status);
	j->file = col_dup(st, i++);
	j->schema_path = col_dup(st, i++);
	j->dataset = col_dup(st, i++);
	j->table = col_dup(st, i++);
	j->schema_hash = (uint64_t)sqlite3_column_int64(st, i++);
	j->file_size = (uint64_t)sqlite3_column_int64(st, i++);
	j->file_hash = (uint64_t)sqlite3_column_int64(st, i++);
	j->file_mtime_ns = sqlite3_column_int64(st, i++);
	j->chunk_size = (uint64_t)sqlite3_column_int64(st, i++);
	uint64_t *u[] = {&j->chunks_total, &j->chunks_processed, &j->chunks_succeeded, &j->chunks_failed,
			 &j->rows_read,    &j->rows_loaded,      &j->rows_rejected,    &j->bytes_total,
			 &j->bytes_done};
	for (size_t k = 0; k < SL_ARRAY_LEN(u); k++)
		*u[k] = (uint64_t)sqlite3_column_int64(st, i++);
	const char *code = (const char *)sqlite3_column_text(st, i++);
	j->error_code = code ? sl_error_from_name(code) : 0;
	if (j->error_code > 0)
		j->error_code = SL_INTERNAL;
	j->error_message = col_dup(st, i++);
	j->created_ms = sqlite3_column_int64(st, i++);
	j->started_ms = sqlite3_column_int64(st, i++);
	j->finished_ms = sqlite3_column_int64(st, i++);
	j->updated_ms = sqlite3_column_int64(st, i++);
	j->correlation_id = col_dup(st, i++);
}

/* Step a job query: 1 and *j when it has a row, 0 when none, <0 on error. */
static int fetch_job(sq_store *q, sqlite3_stmt *st, sl_job *j)
{
	int r = sqlite3_step(st);
	if (r != SQLITE_ROW)
		return map_rc(q, r);
	read_job(st, j);
	int rc = read_codes(q, j);
	return rc < 0 ? rc : 1;
}

static int sq_job_insert(sl_store *s, sl_job *j)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, "SELECT COALESCE(MAX(seq), 0) + 1 FROM sluice_jobs", -1, &st, NULL));
	if (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
		j->seq = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (rc == 0)
		rc = map_rc(q, sqlite3_prepare_v2(q->db, "INSERT INTO sluice_jobs(" JOB_COLS ") VALUES("
				"?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL));
	if (rc == 0) {
		bind_job(st, j);
		rc = map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_job_update(sl_store *s, const sl_job *j)
{
	sq_store *q = (sq_store *)s;
	int rc = prep(q, "INSERT OR REPLACE INTO sluice_jobs(" JOB_COLS ") VALUES("
			 "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &q->upd_job);
	if (rc < 0)
		return rc;
	bind_job(q->upd_job, j);
	if ((rc = step_done(q, q->upd_job)) < 0)
		return rc;
	if ((rc = prep(q, "INSERT OR REPLACE INTO sluice_job_codes(job_id, code, count) VALUES(?,?,?)",
		       &q->upsert_code)) < 0)
		return rc;
	for (int k = 0; k < SL_ERROR_COUNT; k++) {
		if (!j->rejects_by_code[k])
			continue;
		sqlite3_bind_text(q->upsert_code, 1, j->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(q->upsert_code, 2, sl_error_name(sl_error_at(k)), -1, SQLITE_STATIC);
		sqlite3_bind_int64(q->upsert_code, 3, (int64_t)j->rejects_by_code[k]);
		if ((rc = step_done(q, q->upsert_code)) < 0)
			return rc;
	}
	return 0;
}

static int sq_job_get(sl_store *s, const char *id, sl_job *j)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, "SELECT " JOB_COLS " FROM sluice_jobs WHERE id = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		rc = fetch_job(q, st, j);
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_job_find_open(sl_store *s, const char *file, const char *table, uint64_t schema_hash,
			    sl_job *j)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db,
		"SELECT " JOB_COLS " FROM sluice_jobs WHERE file = ? AND target_table = ? AND schema_hash = ?"
		" AND status IN ('Accepted','Chunking','ChunksQueued','Processing')"
		" ORDER BY created_ms DESC, id DESC LIMIT 1", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, file, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, table, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (int64_t)schema_hash);
		rc = fetch_job(q, st, j);
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_job_list(sl_store *s, int status, sl_job_cb cb, void *ctx)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, status < 0
		? "SELECT " JOB_COLS " FROM sluice_jobs ORDER BY created_ms DESC, id DESC"
		: "SELECT " JOB_COLS " FROM sluice_jobs WHERE status = ? ORDER BY created_ms DESC, id DESC",
		-1, &st, NULL));
	if (rc == 0 && status >= 0)
		sqlite3_bind_text(st, 1, sl_job_status_name((sl_job_status)status), -1, SQLITE_STATIC);
	sl_job j = {0};
	while (rc == 0) {
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW) {
			rc = map_rc(q, r);
			break;
		}
		read_job(st, &j);
		if ((rc = read_codes(q, &j)) == 0)
			rc = cb(ctx, &j);
	}
	sl_job_clear(&j);
	sqlite3_finalize(st);
	return rc;
}

/* --- chunks ------------------------------------------------------------------ */

static void bind_chunk(sqlite3_stmt *st, const char *job_id, const sl_chunk *c)
{
	int i = 1;
	sqlite3_bind_text(st, i++, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, c->seq);
	sqlite3_bind_int64(st, i++, (int64_t)c->offset);
	sqlite3_bind_int64(st, i++, (int64_t)c->length);
	sqlite3_bind_int64(st, i++, (int64_t)c->hash);
	sqlite3_bind_int64(st, i++, (int64_t)c->first_record);
	sqlite3_bind_int64(st, i++, (int64_t)c->first_line);
	sqlite3_bind_int64(st, i++, (int64_t)c->records_planned);
	sqlite3_bind_text(st, i++, sl_chunk_status_name(c->status), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, c->attempts);
	sqlite3_bind_int64(st, i++, (int64_t)c->rows_read);
	sqlite3_bind_int64(st, i++, (int64_t)c->rows_loaded);
	sqlite3_bind_int64(st, i++, (int64_t)c->rows_rejected);
	sqlite3_bind_int64(st, i++, c->duration_ms);
	bind_str(st, i++, c->last_error ? sl_error_name(c->last_error) : NULL);
	bind_str(st, i++, c->last_message[0] ? c->last_message : NULL);
}

#define CHUNK_COLS                                                                                 \
	"job_id, seq, offset, length, hash, first_record, first_line, records_planned, status, "      \
	"attempts, rows_read, rows_loaded, rows_rejected, duration_ms, last_error, last_message"

static int sq_chunk_update(sl_store *s, const char *job_id, const sl_chunk *c)
{
	sq_store *q = (sq_store *)s;
	int rc = prep(q, "INSERT OR REPLACE INTO sluice_chunks(" CHUNK_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
		      &q->upd_chunk);
	if (rc < 0)
		return rc;
	bind_chunk(q->upd_chunk, job_id, c);
	return step_done(q, q->upd_chunk);
}

static int sq_chunks_replace(sl_store *s, const char *job_id, const sl_chunk *c, size_t n)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, "DELETE FROM sluice_chunks WHERE job_id = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
		rc = map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = sq_chunk_update(s, job_id, &c[i]);
	return rc;
}

static int sq_chunks_get(sl_store *s, const char *job_id, sl_chunk **out, size_t *n)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, "SELECT " CHUNK_COLS " FROM sluice_chunks WHERE job_id = ? ORDER BY seq", -1, &st, NULL));
	if (rc == 0)
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	while (rc == 0) {
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW) {
			rc = map_rc(q, r);
			break;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			sl_chunk *c = realloc(*out, cap * sizeof *c);
			if (!c) {
				rc = SL_NOMEM;
				break;
			}
			*out = c;
		}
		sl_chunk *c = &(*out)[(*n)++];
		memset(c, 0, sizeof *c);
		int i = 1;
		c->seq = (uint32_t)sqlite3_column_int64(st, i++);
		c->offset = (uint64_t)sqlite3_column_int64(st, i++);
		c->length = (uint64_t)sqlite3_column_int64(st, i++);
		c->hash = (uint64_t)sqlite3_column_int64(st, i++);
		c->first_record = (uint64_t)sqlite3_column_int64(st, i++);
		c->first_line = (uint64_t)sqlite3_column_int64(st, i++);
		c->records_planned = (uint64_t)sqlite3_column_int64(st, i++);
		const char *stat = (const char *)sqlite3_column_text(st, i++);
		for (int k = 0; k < SL_CHUNK_NSTATUS; k++)
			if (stat && !strcmp(stat, sl_chunk_status_name((sl_chunk_status)k)))
				c->status = (sl_chunk_status)k;
		c->attempts = (uint32_t)sqlite3_column_int64(st, i++);
		c->rows_read = (uint64_t)sqlite3_column_int64(st, i++);
		c->rows_loaded = (uint64_t)sqlite3_column_int64(st, i++);
		c->rows_rejected = (uint64_t)sqlite3_column_int64(st, i++);
		c->duration_ms = sqlite3_column_int64(st, i++);
		const char *le = (const char *)sqlite3_column_text(st, i++);
		c->last_error = le ? sl_error_from_name(le) : 0;
		if (c->last_error > 0)
			c->last_error = SL_INTERNAL;
		const char *lm = (const char *)sqlite3_column_text(st, i++);
		snprintf(c->last_message, sizeof c->last_message, "%s", lm ? lm : "");
	}
	sqlite3_finalize(st);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* --- rejects and events ---------------------------------------------------- */

static int sq_reject_insert(sl_store *s, const char *job_id, uint32_t chunk, const sl_reject *r,
			    const char *column)
{
	sq_store *q = (sq_store *)s;
	int rc = prep(q, "INSERT INTO sluice_rejects(job_id, chunk, record, line, offset, column_name,"
			 " code, message, raw) VALUES(?,?,?,?,?,?,?,?,?)", &q->ins_reject);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = q->ins_reject;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, chunk);
	sqlite3_bind_int64(st, 3, (int64_t)r->record);
	sqlite3_bind_int64(st, 4, (int64_t)r->line);
	sqlite3_bind_int64(st, 5, (int64_t)r->offset);
	if (column)
		sqlite3_bind_text(st, 6, column, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_text(st, 7, sl_error_name(r->code), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, r->message.p, (int)r->message.n, SQLITE_STATIC);
	sqlite3_bind_blob(st, 9, r->raw.p ? r->raw.p : "", (int)r->raw.n, SQLITE_STATIC);
	return step_done(q, st);
}

static int sq_rejects_each(sl_store *s, const char *job_id, int code, sl_reject_cb cb, void *ctx)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, code
		? "SELECT chunk, record, line, offset, column_name, code, message, raw FROM sluice_rejects"
		  " WHERE job_id = ? AND code = ? ORDER BY record"
		: "SELECT chunk, record, line, offset, column_name, code, message, raw FROM sluice_rejects"
		  " WHERE job_id = ? ORDER BY record", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
		if (code)
			sqlite3_bind_text(st, 2, sl_error_name(code), -1, SQLITE_STATIC);
	}
	while (rc == 0) {
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW) {
			rc = map_rc(q, r);
			break;
		}
		sl_reject rj = {0};
		rj.record = (uint64_t)sqlite3_column_int64(st, 1);
		rj.line = (uint64_t)sqlite3_column_int64(st, 2);
		rj.offset = (uint64_t)sqlite3_column_int64(st, 3);
		const char *col = (const char *)sqlite3_column_text(st, 4);
		rj.code = sl_error_from_name((const char *)sqlite3_column_text(st, 5));
		rj.message = sl_str_make((const char *)sqlite3_column_text(st, 6), (size_t)sqlite3_column_bytes(st, 6));
		rj.raw = sl_str_make((const char *)sqlite3_column_blob(st, 7), (size_t)sqlite3_column_bytes(st, 7));
		rc = cb(ctx, (uint32_t)sqlite3_column_int64(st, 0), &rj, col);
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_event_insert(sl_store *s, const sl_event *e)
{
	sq_store *q = (sq_store *)s;
	int rc = prep(q, "INSERT INTO sluice_events(job_id, chunk, kind, at_ms, rows_read, rows_loaded,"
			 " rows_rejected, duration_ms, message) VALUES(?,?,?,?,?,?,?,?,?)", &q->ins_event);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = q->ins_event;
	sqlite3_bind_text(st, 1, e->job_id, -1, SQLITE_STATIC);
	if (e->chunk >= 0)
		sqlite3_bind_int64(st, 2, e->chunk);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_text(st, 3, e->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, sl_now_ms());
	sqlite3_bind_int64(st, 5, (int64_t)e->rows_read);
	sqlite3_bind_int64(st, 6, (int64_t)e->rows_loaded);
	sqlite3_bind_int64(st, 7, (int64_t)e->rows_rejected);
	sqlite3_bind_int64(st, 8, e->duration_ms);
	bind_str(st, 9, e->message);
	return step_done(q, st);
}

static int sq_gc(sl_store *s, int64_t before_ms, uint64_t *jobs)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	static const char sel[] =
		"SELECT id FROM sluice_jobs WHERE updated_ms < ? AND status IN"
		" ('Succeeded','PartiallySucceeded','Failed','RolledBack','Cancelled')";
	char sql[512];
	int rc = 0;
	*jobs = 0;
	static const char *const del[] = {"sluice_rejects", "sluice_events"};
	for (size_t t = 0; rc == 0 && t < 2; t++) {
		snprintf(sql, sizeof sql, "DELETE FROM %s WHERE job_id IN (%s)", del[t], sel);
		rc = map_rc(q, sqlite3_prepare_v2(q->db, sql, -1, &st, NULL));
		if (rc == 0) {
			sqlite3_bind_int64(st, 1, before_ms);
			rc = map_rc(q, sqlite3_step(st));
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (rc == 0) {
		snprintf(sql, sizeof sql, "SELECT count(*) FROM (%s)", sel);
		rc = map_rc(q, sqlite3_prepare_v2(q->db, sql, -1, &st, NULL));
		if (rc == 0) {
			sqlite3_bind_int64(st, 1, before_ms);
			if (sqlite3_step(st) == SQLITE_ROW)
				*jobs = (uint64_t)sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
	}
	return rc;
}

/* --- idempotency keys and cancel requests ----------------------------------- */

static int sq_idem_get(sl_store *s, sl_idem *e)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, "SELECT job_id, dataset, size, hash FROM sluice_idempotency"
					      " WHERE key = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, e->key, -1, SQLITE_STATIC);
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			const char *job = (const char *)sqlite3_column_text(st, 0);
			const char *ds = (const char *)sqlite3_column_text(st, 1);
			snprintf(e->job_id, sizeof e->job_id, "%s", job ? job : "");
			snprintf(e->dataset, sizeof e->dataset, "%s", ds ? ds : "");
			e->size = (uint64_t)sqlite3_column_int64(st, 2);
			e->hash = (uint64_t)sqlite3_column_int64(st, 3);
			rc = 1;
		} else {
			rc = map_rc(q, r);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_idem_put(sl_store *s, const sl_idem *e)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, "INSERT INTO sluice_idempotency(key, job_id, dataset, size,"
					      " hash, created_ms) VALUES(?,?,?,?,?,?)", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, e->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, e->job_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, e->dataset, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (int64_t)e->size);
		sqlite3_bind_int64(st, 5, (int64_t)e->hash);
		sqlite3_bind_int64(st, 6, sl_now_ms());
		rc = map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_cancel_set(sl_store *s, const char *job_id, bool on)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, on ? "INSERT OR REPLACE INTO sluice_cancels(job_id, at_ms) VALUES(?,?)"
						       : "DELETE FROM sluice_cancels WHERE job_id = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
		if (on)
			sqlite3_bind_int64(st, 2, sl_now_ms());
		rc = map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_cancel_get(sl_store *s, const char *job_id)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, "SELECT 1 FROM sluice_cancels WHERE job_id = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
		int r = sqlite3_step(st);
		rc = r == SQLITE_ROW ? 1 : map_rc(q, r);
	}
	sqlite3_finalize(st);
	return rc;
}

/* --- records --- */

/*
 * Reading loaded rows back (the records API) and the indexes that make it
 * fast. Lookups are equality filters on the key and on `index: true`
 * columns, walked in rowid order from a cursor (keyset pagination): with an
 * index on the filtered column, SQLite reads the index entries of that value,
 * which are in rowid order already (a rowid table's index ends with the
 * rowid), from the cursor on, and sorts nothing.
 */

/* Index names share one namespace with tables; "sluice_" is reserved for
   us (schema names may not start with it), and the table name's length
   keeps (table "a_b", column "c") apart from (table "a", column "b_c"). */
static int index_name(sl_buf *b, const char *kind, const char *table, const char *col)
{
	char n[256];
	snprintf(n, sizeof n, "sluice_%s_%zu_%s%s%s", kind, strlen(table), table, col ? "_" : "", col ? col : "");
	return add_ident(b, n);
}

static int records_indexes(sq_store *q, const sl_schema *sc)
{
	sl_buf b;
	int rc = 0;
	sl_buf_init(&b, 1 << 16);
	/* Lookups are a schema's choice (`index: true`): every index is kept
	   up on every insert, about a tenth more work per row for this one.
	   A schema that asks for lookups also gets _sluice_job indexed, for
	   filters by job and fast rollbacks (DELETE ... WHERE _sluice_job = ?);
	   without it those scan the table. */
	bool lookups = false;
	for (size_t i = 0; i < sc->ncols; i++)
		lookups = lookups || sc->cols[i].index;
	if (lookups)
		rc = add(&b, "CREATE INDEX IF NOT EXISTS ") | index_name(&b, "job", sc->table, NULL) |
		     add(&b, " ON ") | add_ident(&b, sc->table) | add(&b, "(\"_sluice_job\");");
	for (size_t i = 0; i < sc->ncols; i++) {
		/* the key's first column leads the primary key's index already */
		if (!sc->cols[i].index || (sc->nkey && sc->key[0] == i))
			continue;
		rc |= add(&b, "CREATE INDEX IF NOT EXISTS ") | index_name(&b, "ix", sc->table, sc->cols[i].name) |
		      add(&b, " ON ") | add_ident(&b, sc->table) | add(&b, "(") | add_ident(&b, sc->cols[i].name) |
		      add(&b, ");");
	}
	rc |= sl_buf_append(&b, "", 1);
	if (rc)
		rc = SL_NOMEM;
	else
		rc = exec(q, b.p);
	sl_buf_free(&b);
	return rc;
}

/* ASCII case-insensitive equality (SQLite's rule for names). */
static bool name_eq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
		char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
		if (x != y)
			return false;
	}
	return *a == *b;
}

/* The name that reaches the rowid: a column called rowid, _rowid_ or oid
   hides that alias (schema names may be any of them). */
static const char *rowid_alias(const sl_schema *sc)
{
	static const char *const names[] = {"rowid", "_rowid_", "oid"};
	for (size_t k = 0; k < SL_ARRAY_LEN(names); k++) {
		bool taken = false;
		for (size_t i = 0; i < sc->ncols; i++)
			taken |= name_eq(sc->cols[i].name, names[k]);
		if (!taken)
			return names[k];
	}
	return NULL;
}

static int sq_records_each(sl_store *s, const sl_schema *sc, const size_t *cols, const sl_value *vals,
			   size_t nf, const char *job_id, int64_t after, size_t limit, sl_record_cb cb,
			   void *ctx)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	sl_value *row = NULL;
	bool *as_text = NULL;
	char missing[400];
	const char *rid = rowid_alias(sc);
	sl_buf b;
	int rc;
	sl_buf_init(&b, 1 << 20);
	if (!rid) {
		snprintf(q->err, sizeof q->err, "table %s has columns rowid, _rowid_ and oid: its rows cannot be paged",
			 sc->table);
		rc = SL_DB_ERROR;
		goto out;
	}
	/* a dataset with nothing loaded yet has no table: no rows, not an error */
	if (!(as_text = calloc(sc->ncols + 1, sizeof *as_text))) {
		rc = SL_NOMEM;
		goto out;
	}
	if ((rc = check_columns(q, sc, missing, sizeof missing, as_text)) <= 0)
		goto out;
	if (missing[0]) {
		snprintf(q->err, sizeof q->err, "table %s exists without the columns %s", sc->table, missing);
		rc = SL_DB_ERROR;
		goto out;
	}
	/* names from the schema, quoted; every value is a parameter */
	rc = add(&b, "SELECT ") | add(&b, rid);
	for (size_t i = 0; i < sc->ncols; i++)
		rc |= add(&b, ", ") | add_ident(&b, sc->cols[i].name);
	rc |= add(&b, ", \"_sluice_job\" FROM ") | add_ident(&b, sc->table) | add(&b, " WHERE ") | add(&b, rid) |
	      add(&b, " > ?");
	if (job_id)
		rc |= add(&b, " AND \"_sluice_job\" = ?");
	for (size_t k = 0; k < nf; k++) {
		if (cols[k] >= sc->ncols) {
			rc = SL_INVAL;
			goto out;
		}
		rc |= add(&b, " AND ") | add_ident(&b, sc->cols[cols[k]].name) |
		      add(&b, vals[k].kind == SL_VALUE_NULL ? " IS NULL" : " = ?");
	}
	rc |= add(&b, " ORDER BY ") | add(&b, rid) | add(&b, " LIMIT ?") | sl_buf_append(&b, "", 1);
	row = calloc(sc->ncols + 1, sizeof *row);
	if (rc || !row) {
		rc = SL_NOMEM;
		goto out;
	}
	if ((rc = map_rc(q, sqlite3_prepare_v2(q->db, b.p, -1, &st, NULL))) < 0)
		goto out;
	int p = 1;
	sqlite3_bind_int64(st, p++, after);
	if (job_id)
		sqlite3_bind_text(st, p++, job_id, -1, SQLITE_STATIC);
	for (size_t k = 0; k < nf; k++) {
		if (vals[k].kind == SL_VALUE_INT)
			sqlite3_bind_int64(st, p++, vals[k].i);
		else if (vals[k].kind == SL_VALUE_TEXT)
			sqlite3_bind_text(st, p++, vals[k].s.p, (int)vals[k].s.n, SQLITE_STATIC);
		else if (vals[k].kind == SL_VALUE_REAL)
			bind_real(st, p++, &sc->cols[cols[k]], vals[k].d, as_text[cols[k]]);
	}
	sqlite3_bind_int64(st, p++, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
	while (rc == 0) {
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW) {
			rc = map_rc(q, r);
			break;
		}
		sl_record rec = {.rowid = sqlite3_column_int64(st, 0), .vals = row};
		for (size_t i = 0; i < sc->ncols; i++) {
			int c = (int)i + 1;
			switch (sqlite3_column_type(st, c)) {
			case SQLITE_NULL:
				row[i] = (sl_value){.kind = SL_VALUE_NULL};
				break;
			case SQLITE_INTEGER:
				row[i] = (sl_value){.kind = SL_VALUE_INT, .i = sqlite3_column_int64(st, c)};
				break;
			case SQLITE_FLOAT:
				row[i] = (sl_value){.kind = SL_VALUE_REAL, .d = sqlite3_column_double(st, c)};
				break;
			default: { /* text (a blob only if someone else wrote the table) */
				const char *t = (const char *)sqlite3_column_text(st, c);
				row[i] = (sl_value){.kind = SL_VALUE_TEXT,
						    .s = sl_str_make(t ? t : "", (size_t)sqlite3_column_bytes(st, c))};
			}
			}
		}
		const char *job = (const char *)sqlite3_column_text(st, (int)sc->ncols + 1);
		rec.job_id = job ? job : "";
		rc = cb(ctx, &rec);
	}
out:
	sqlite3_finalize(st);
	free(row);
	free(as_text);
	sl_buf_free(&b);
	return rc;
}

static int sq_chunk_counts(sl_store *s, uint64_t *out)
{
	sq_store *q = (sq_store *)s;
	sqlite3_stmt *st = NULL;
	memset(out, 0, SL_CHUNK_NSTATUS * sizeof *out);
	int rc = map_rc(q, sqlite3_prepare_v2(q->db, "SELECT status, count(*) FROM sluice_chunks GROUP BY status",
					      -1, &st, NULL));
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		for (int k = 0; name && k < SL_CHUNK_NSTATUS; k++)
			if (!strcmp(name, sl_chunk_status_name((sl_chunk_status)k)))
				out[k] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc;
}

const sl_store_ops sl__store_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.errmsg = sq_errmsg,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.target_prepare = sq_target_prepare,
	.target_insert = sq_target_insert,
	.target_insert_many = sq_target_insert_many,
	.target_delete_job = sq_target_delete_job,
	.job_insert = sq_job_insert,
	.job_update = sq_job_update,
	.job_get = sq_job_get,
	.job_find_open = sq_job_find_open,
	.job_list = sq_job_list,
	.chunks_replace = sq_chunks_replace,
	.chunks_get = sq_chunks_get,
	.chunk_update = sq_chunk_update,
	.reject_insert = sq_reject_insert,
	.rejects_each = sq_rejects_each,
	.event_insert = sq_event_insert,
	.gc = sq_gc,
	.idem_get = sq_idem_get,
	.idem_put = sq_idem_put,
	.cancel_set = sq_cancel_set,
	.cancel_get = sq_cancel_get,
	.chunk_counts = sq_chunk_counts,
	.records_each = sq_records_each,
};
