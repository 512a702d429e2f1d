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
 * index. The sink inserts a keyed chunk in key order (sorted runs merged,
 * see store_sqlite_sink.c), so the index, which outgrows any cache we may
 * use, is walked left to right once per chunk. Measured on 5M CDR rows (2 cores):
 * file order 52 s, a WITHOUT ROWID keyed table 43 s, key-ordered groups of
 * 64K rows 22 s, whole chunks in key order 14.6 s. A table without a key
 * gets its rows appended in file order, several per statement.
 *
 * Memory: the page cache is 48 MiB (64 MiB gave ~7 % speed for 30 MiB more
 * peak memory; the budget for a whole ingest is 128 MiB).
 *
 * This file is the connection: the job tables' DDL, opening (and upgrading
 * an older database), transactions (the sl_txn the sink and the job store
 * share), the error mapping, the job store's ops table and the backend.
 * The target table is store_sqlite_target.c, the job tables
 * store_sqlite_jobs.c, reading rows back store_sqlite_records.c; they share
 * store_sqlite_int.h.
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

#include "store/store_sqlite_int.h"


/* Columns added to sluice_jobs after its first release: a database made
   before them gets them by ALTER TABLE when it is opened (sq_open). */
#define JOB_COLS_ADDED_DDL                                                                         \
	", dialect TEXT, ignored_columns TEXT, warnings TEXT, same_as TEXT,"                       \
	" records_padded INTEGER, records_truncated INTEGER, resumed INTEGER, mode TEXT,"           \
	" rows_inserted INTEGER, rows_updated INTEGER"
/* the same, one by one; the last one tells whether a database has them all */
static const char *const job_cols_added[] = {
    "dialect TEXT",           "ignored_columns TEXT",      "warnings TEXT",   "same_as TEXT",
    "records_padded INTEGER", "records_truncated INTEGER", "resumed INTEGER", "mode TEXT",
    "rows_inserted INTEGER",  "rows_updated INTEGER"};
/* Columns added to sluice_chunks the same way (with the job's last two:
   rows_loaded split into rows inserted and updated, issue 12) */
static const char *const chunk_cols_added[] = {"rows_inserted INTEGER", "rows_updated INTEGER"};

static const char ddl[] =
	"CREATE TABLE IF NOT EXISTS sluice_jobs("
	" id TEXT PRIMARY KEY, seq INTEGER UNIQUE, status TEXT NOT NULL, file TEXT, schema_path TEXT, dataset TEXT,"
	" target_table TEXT, schema_hash INTEGER, file_size INTEGER, file_hash INTEGER,"
	" file_mtime_ns INTEGER, chunk_size INTEGER, chunks_total INTEGER, chunks_processed INTEGER,"
	" chunks_succeeded INTEGER, chunks_failed INTEGER, rows_read INTEGER, rows_loaded INTEGER,"
	" rows_rejected INTEGER, bytes_total INTEGER, bytes_done INTEGER, error_code TEXT,"
	" error_message TEXT, created_ms INTEGER, started_ms INTEGER, finished_ms INTEGER,"
	" updated_ms INTEGER, correlation_id TEXT" JOB_COLS_ADDED_DDL ");"
	"CREATE INDEX IF NOT EXISTS sluice_jobs_file ON sluice_jobs(file, target_table);"
	"CREATE INDEX IF NOT EXISTS sluice_jobs_created ON sluice_jobs(created_ms, id);"
	"CREATE TABLE IF NOT EXISTS sluice_job_codes(job_id TEXT NOT NULL, code TEXT NOT NULL,"
	" count INTEGER NOT NULL, PRIMARY KEY(job_id, code)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS sluice_chunks(job_id TEXT NOT NULL, seq INTEGER NOT NULL,"
	" offset INTEGER, length INTEGER, hash INTEGER, first_record INTEGER, first_line INTEGER,"
	" records_planned INTEGER, status TEXT, attempts INTEGER, rows_read INTEGER,"
	" rows_loaded INTEGER, rows_rejected INTEGER, duration_ms INTEGER, last_error TEXT,"
	" last_message TEXT, rows_inserted INTEGER, rows_updated INTEGER,"
	" PRIMARY KEY(job_id, seq)) WITHOUT ROWID;"
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

int sl__sq_map_rc(sq_store *q, int rc)
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

int sl__sq_exec(sq_store *q, const char *sql)
{
	return sl__sq_map_rc(q, sqlite3_exec(q->db, sql, NULL, NULL, NULL));
}

int sl__sq_prep(sq_store *q, const char *sql, sqlite3_stmt **st)
{
	if (*st)
		return 0;
	return sl__sq_map_rc(q, sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL));
}

/* Run a statement to completion and reset it. */
int sl__sq_step_done(sq_store *q, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int r = sl__sq_map_rc(q, rc);
	sqlite3_reset(st);
	return r;
}

static void sq_close(sl_txn *t)
{
	sq_store *q = sq_of_txn(t);
	sqlite3_stmt **stmts[] = {&q->ins_row,   &q->ins_many,  &q->ins_reject,  &q->ins_event,
	                          &q->upd_job,   &q->upd_chunk, &q->key_owner,
	                          &q->add_counts, &q->add_code};
	for (size_t i = 0; i < SL_ARRAY_LEN(stmts); i++)
		sqlite3_finalize(*stmts[i]);
	sqlite3_finalize(q->lease_fence);
	sqlite3_finalize(q->claim_sel);
	sqlite3_finalize(q->claim_upd);
	sqlite3_finalize(q->claim_job);
	sqlite3_finalize(q->chunks_open);
	sqlite3_finalize(q->chunk_add);
	sqlite3_finalize(q->reject_holder);
	sqlite3_finalize(q->rejects_rehold);
	sqlite3_finalize(q->replace_row);
	sqlite3_finalize(q->in_target);
	sl__sq_ckpt_stop(q); /* its last checkpoint done; the close does the rest */
	sqlite3_close_v2(q->db);
	sl__sq_sink_free(q);
	free(q->real_as_text);
	free(q);
}

int sl__sq_count(sq_store *q, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int n = 0;
	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

int sl__sq_add_columns(sq_store *q, const char *table, const char *const *cols, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char sql[256];
		snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s", table, cols[i]);
		/* another process may have added it meanwhile: "duplicate column" is fine */
		if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK &&
		    !strstr(sqlite3_errmsg(q->db), "duplicate column"))
			return sl__sq_map_rc(q, SQLITE_ERROR);
	}
	return 0;
}

/* An older database: add the job columns it lacks (once, under the write lock). */
static int add_job_cols(sq_store *q)
{
	int rc;
	if (sl__sq_count(q, "SELECT count(*) FROM pragma_table_info('sluice_chunks') WHERE name = "
	                    "'rows_updated'"))
		return 0;
	if ((rc = sl__sq_exec(q, "BEGIN IMMEDIATE")) < 0)
		return rc;
	/* the rows an older sluice loaded count as inserted: it kept no
	   split (with on_duplicate: update some were updates) */
	if ((rc = sl__sq_add_columns(q, "sluice_jobs", job_cols_added,
	                             SL_ARRAY_LEN(job_cols_added))) < 0 ||
	    (rc = sl__sq_add_columns(q, "sluice_chunks", chunk_cols_added,
	                             SL_ARRAY_LEN(chunk_cols_added))) < 0 ||
	    (rc = sl__sq_exec(q, "UPDATE sluice_jobs SET rows_inserted = COALESCE(rows_loaded, 0),"
	                         " rows_updated = 0 WHERE rows_inserted IS NULL;"
	                         " UPDATE sluice_chunks SET rows_inserted = COALESCE(rows_loaded, 0),"
	                         " rows_updated = 0 WHERE rows_inserted IS NULL")) < 0) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return sl__sq_exec(q, "COMMIT");
}

/* An older database: the job columns and indexes it lacks. */
static int upgrade(sq_store *q)
{
	int rc = add_job_cols(q);
	sqlite3_stmt *st = NULL;
	int have = 0;
	if (rc == 0 &&
	    sqlite3_prepare_v2(q->db,
	                       "SELECT count(*) FROM sqlite_master WHERE name = 'sluice_jobs_created'",
	                       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		have = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc == 0 && !have)
		rc = sl__sq_exec(q, "CREATE INDEX IF NOT EXISTS sluice_jobs_created ON "
		                    "sluice_jobs(created_ms, id)");
	if (rc == 0)
		rc = sl__sq_lease_upgrade(q);
	return rc < 0 ? rc : sl__sq_leader_upgrade(q);
}

static const sl_txn_ops sq_txn_ops;
static const sl_jobstore_ops sq_js_ops;

static int sq_open(const char *target, int busy_timeout_ms, sl_txn **txn, sl_sink **sink,
                   sl_jobstore **js)
{
	int rc;
	sq_store *q = calloc(1, sizeof *q);
	*txn = NULL;
	*sink = NULL;
	*js = NULL;
	if (!q)
		return SL_NOMEM;
	q->txn = (sl_txn){.ops = &sq_txn_ops, .refs = 2};
	q->sink = (sl_sink){.ops = &sl__sq_sink_ops, .txn = &q->txn};
	q->js = (sl_jobstore){.ops = &sq_js_ops, .txn = &q->txn};
	snprintf(q->path, sizeof q->path, "%s", target);
	*txn = &q->txn; /* even on failure: the caller reads errmsg, then closes */
	*sink = &q->sink;
	*js = &q->js;
	rc = sqlite3_open_v2(target, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				   SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(q->err, sizeof q->err, "cannot open %s: %s", target,
			 q->db ? sqlite3_errmsg(q->db) : "out of memory");
		return rc == SQLITE_CANTOPEN ? SL_IO_OPEN : SL_DB_ERROR;
	}
	sqlite3_busy_timeout(q->db, busy_timeout_ms > 0 ? busy_timeout_ms : 5000);
	sqlite3_extended_result_codes(q->db, 1);
	/* 16 KiB pages: fewer B-tree levels for the key index (a new file
	   only). Memory (docs/ingest.md, Memory): temp_store=FILE puts the
	   statement journal, sorters and temp tables past their small
	   in-memory thresholds into temp files: in memory, a big statement
	   inside a transaction (an atomic job's merge, an upsert into a big
	   table) kept a copy of every page it changed. secure_delete=FAST:
	   Debian builds SQLite with SECURE_DELETE, which zeroes every page a
	   DROP or a DELETE frees; in WAL mode those pages stayed in memory
	   until the commit, so dropping an atomic job's stage (or a replaced
	   table) took as much memory as the table had bytes. FAST still clears
	   deleted cells inside pages that are written anyway. */
	if ((rc = sl__sq_exec(q, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			  "PRAGMA cache_size=-49152; /* 48 MiB */ PRAGMA temp_store=FILE;"
			  "PRAGMA secure_delete=FAST;")) < 0)
		return rc;
	/* Create the tables only when missing: taking the write lock for that
	   on every open would make a reader wait for a writer. */
	sqlite3_stmt *st = NULL;
	int have = 0;
	if (sqlite3_prepare_v2(q->db, "SELECT count(*) FROM sqlite_master WHERE name = 'sluice_cancels'",
			       -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		have = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (have) {
		if ((rc = upgrade(q)) < 0 || (rc = sl__sq_refeed_schema(q)) < 0)
			return rc;
		return sl__sq_files_schema(q);
	}
	if ((rc = sl__sq_exec(q, "BEGIN IMMEDIATE")) < 0)
		return rc;
	if ((rc = sl__sq_exec(q, ddl)) < 0) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	if ((rc = sl__sq_exec(q, "COMMIT")) < 0 || (rc = sl__sq_refeed_schema(q)) < 0 ||
	    (rc = sl__sq_files_schema(q)) < 0)
		return rc;
	if ((rc = sl__sq_lease_upgrade(q)) < 0)
		return rc;
	return sl__sq_leader_upgrade(q);
}

static const char *sq_errmsg(sl_txn *t)
{
	return sq_of_txn(t)->err;
}

static int sq_begin(sl_txn *t)
{
	return sl__sq_exec(sq_of_txn(t), "BEGIN IMMEDIATE");
}

static int sq_commit(sl_txn *t)
{
	return sl__sq_exec(sq_of_txn(t), "COMMIT");
}

static void sq_rollback(sl_txn *t)
{
	sq_store *q = sq_of_txn(t);
	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

static const sl_txn_ops sq_txn_ops = {
	.name = "sqlite",
	.close = sq_close,
	.errmsg = sq_errmsg,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
};

static const sl_jobstore_ops sq_js_ops = {
	.name = "sqlite",
	.job_insert = sl__sq_job_insert,
	.job_update = sl__sq_job_update,
	.counts_add = sl__sq_counts_add,
	.job_get = sl__sq_job_get,
	.job_find_open = sl__sq_job_find_open,
	.job_find_loaded = sl__sq_job_find_loaded,
	.job_list = sl__sq_job_list,
	.chunks_replace = sl__sq_chunks_replace,
	.chunks_get = sl__sq_chunks_get,
	.chunk_update = sl__sq_chunk_update,
	/* chunk_commit: the shared default (chunk_update, then counts_add) */
	.reject_insert = sl__sq_reject_insert,
	.rejects_each = sl__sq_rejects_each,
	.event_insert = sl__sq_event_insert,
	.gc = sl__sq_gc,
	.idem_get = sl__sq_idem_get,
	.idem_put = sl__sq_idem_put,
	.cancel_set = sl__sq_cancel_set,
	.cancel_get = sl__sq_cancel_get,
	.chunk_counts = sl__sq_chunk_counts,
	.refeed_claim = sl__sq_refeed_claim,
	.refeed_input = sl__sq_refeed_input,
	.refeed_read = sl__sq_refeed_read,
	.refeed_settle = sl__sq_refeed_settle,
	.chunk_claim = sl__sq_chunk_claim,
	.lease_renew = sl__sq_lease_renew,
	.lease_fence = sl__sq_lease_fence,
	.lease_release = sl__sq_lease_release,
	.chunks_open = sl__sq_chunks_open,
	.chunk_add = sl__sq_chunk_add,
	.reject_holder = sl__sq_reject_holder,
	.rejects_rehold = sl__sq_rejects_rehold,
	.leader_acquire = sl__sq_leader_acquire,
	.leader_fence = sl__sq_leader_fence,
	.leader_release = sl__sq_leader_release,
	.leader_get = sl__sq_leader_get,
	.chunks_reap = sl__sq_chunks_reap,
	.chunks_due = sl__sq_chunks_due,
};

const sl_store_backend sl__store_sqlite = {"sqlite", sq_open};
