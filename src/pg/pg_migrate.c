/*
 * The job store's tables in PostgreSQL: the `sluice` schema of the target's
 * database (so a chunk's rows and its bookkeeping commit in one
 * transaction), brought up to date by versioned, forward-only migrations.
 *
 * sluice.store_version holds one row per migration applied (its number and
 * when). Each migration runs in its own transaction that first takes a
 * transaction-scoped advisory lock and re-reads the version: processes that
 * open a new store at the same moment wait for each other, and each
 * migration is applied exactly once. A store whose version is newer than
 * this build is refused (DB_SCHEMA): the migrations only go forward, and an
 * older binary must not write tables it does not know.
 *
 * Adding a migration: append its SQL to `migrations` (never edit an applied
 * one), bump SL_PG_STORE_VERSION, and extend the upgrade test
 * (tests/pg/test_pg.c).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/pg.h"
#include "sluice/error.h"

/* The advisory lock key of migrations: "sluice" read as a number. */
#define MIGRATE_LOCK "7310575183380791296"

static const char *const migrations[SL_PG_STORE_VERSION] = {
    /* 1: the tables of the SQLite store's first release, in PostgreSQL types */
    "CREATE TABLE sluice.jobs("
    " id text PRIMARY KEY, seq bigint UNIQUE, status text NOT NULL, file text, schema_path text,"
    " dataset text, target_table text, schema_hash bigint, file_size bigint, file_hash bigint,"
    " file_mtime_ns bigint, chunk_size bigint, chunks_total bigint, chunks_processed bigint,"
    " chunks_succeeded bigint, chunks_failed bigint, rows_read bigint, rows_loaded bigint,"
    " rows_rejected bigint, bytes_total bigint, bytes_done bigint, error_code text,"
    " error_message text, created_ms bigint, started_ms bigint, finished_ms bigint,"
    " updated_ms bigint, correlation_id text, dialect text, ignored_columns text, warnings text,"
    " same_as text, records_padded bigint, records_truncated bigint, resumed bigint);"
    "CREATE INDEX jobs_file ON sluice.jobs(file, target_table);"
    "CREATE INDEX jobs_created ON sluice.jobs(created_ms DESC, id DESC);"
    "CREATE TABLE sluice.job_codes(job_id text NOT NULL, code text NOT NULL,"
    " count bigint NOT NULL, PRIMARY KEY(job_id, code));"
    "CREATE TABLE sluice.chunks(job_id text NOT NULL, seq bigint NOT NULL,"
    " \"offset\" bigint, length bigint, hash bigint, first_record bigint, first_line bigint,"
    " records_planned bigint, status text, attempts bigint, rows_read bigint,"
    " rows_loaded bigint, rows_rejected bigint, duration_ms bigint, last_error text,"
    " last_message text, PRIMARY KEY(job_id, seq));"
    "CREATE TABLE sluice.rejects(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " job_id text NOT NULL, chunk bigint, record bigint, line bigint, \"offset\" bigint,"
    " column_name text, code text NOT NULL, message text, raw bytea);"
    "CREATE INDEX rejects_job ON sluice.rejects(job_id, record);"
    "CREATE TABLE sluice.events(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " job_id text NOT NULL, chunk bigint, kind text NOT NULL, at_ms bigint, rows_read bigint,"
    " rows_loaded bigint, rows_rejected bigint, duration_ms bigint, message text);"
    "CREATE INDEX events_job ON sluice.events(job_id);"
    "CREATE TABLE sluice.idempotency(key text PRIMARY KEY, job_id text NOT NULL,"
    " dataset text, size bigint, hash bigint, created_ms bigint);"
    "CREATE TABLE sluice.cancels(job_id text PRIMARY KEY, at_ms bigint);",
    /* 2: rows updated (on_duplicate: update) counted apart from rows
       inserted, per chunk and per job (issue 12; seed 002's manifest) */
    "ALTER TABLE sluice.jobs ADD COLUMN rows_updated bigint NOT NULL DEFAULT 0;"
    "ALTER TABLE sluice.chunks ADD COLUMN rows_updated bigint NOT NULL DEFAULT 0;",
    /* 3: chunk leases (the owner, expiry and epoch of a claim; NULL until
       the first) and the record that held a DUP_KEY reject's key, as the
       SQLite store adds them (store_sqlite_lease.c, store_pg_lease.c) */
    "ALTER TABLE sluice.chunks ADD COLUMN owner text, ADD COLUMN lease_expiry_ms bigint,"
    " ADD COLUMN lease_epoch bigint;"
    "ALTER TABLE sluice.rejects ADD COLUMN holder bigint;"
    "CREATE INDEX rejects_holder ON sluice.rejects(job_id, holder) WHERE holder IS NOT NULL;"
    /* what claims and the open count look for: the chunks not final */
    "CREATE INDEX chunks_open ON sluice.chunks(job_id, seq)"
    " WHERE status IN ('Queued', 'Processing');",
    /* 4: rows inserted beside rows updated (version 2), so that inserted +
       updated = loaded; rows loaded before count as inserted (no split
       was kept) */
    "ALTER TABLE sluice.jobs ADD COLUMN rows_inserted bigint NOT NULL DEFAULT 0;"
    "ALTER TABLE sluice.chunks ADD COLUMN rows_inserted bigint NOT NULL DEFAULT 0;"
    "UPDATE sluice.jobs SET rows_inserted = coalesce(rows_loaded, 0) - rows_updated;"
    "UPDATE sluice.chunks SET rows_inserted = coalesce(rows_loaded, 0) - rows_updated;",
    /* 5: several files as one job: the job's manifest and the file a
       reject is in (docs/ingest.md, Several files; the SQLite store adds
       the same columns in store_sqlite_refeed.c) */
    "ALTER TABLE sluice.jobs ADD COLUMN files text;"
    "ALTER TABLE sluice.rejects ADD COLUMN file text;",
    /* 6: the job's load mode (append, replace, atomic: a resume, a retry
       and every worker use the mode the job was created with; NULL on an
       older job is append), as the SQLite store keeps it */
    "ALTER TABLE sluice.jobs ADD COLUMN mode text;",
    /* 7: fix and refeed (store_pg_refeed.c, as store_sqlite_refeed.c): the
       refeed jobs, each job's rejects resolved by refeeds, and on each
       reject the refeed holding it, its record there, the refeed that
       loaded it and the reject it is a copy of */
    "CREATE TABLE sluice.refeeds(job_id text PRIMARY KEY, refeed_of text NOT NULL,"
    " header bytea, rows bigint, created_ms bigint, settled_ms bigint);"
    "CREATE INDEX refeeds_of ON sluice.refeeds(refeed_of);"
    "CREATE TABLE sluice.rejects_resolved(job_id text PRIMARY KEY, n bigint NOT NULL);"
    "ALTER TABLE sluice.rejects ADD COLUMN refeed_by text, ADD COLUMN refeed_record bigint,"
    " ADD COLUMN resolved_by text, ADD COLUMN origin bigint;"
    "CREATE INDEX rejects_claim ON sluice.rejects(refeed_by, refeed_record)"
    " WHERE refeed_by IS NOT NULL;"
    "CREATE INDEX rejects_origin ON sluice.rejects(origin) WHERE origin IS NOT NULL;"
    "CREATE INDEX rejects_resolved_by ON sluice.rejects(resolved_by)"
    " WHERE resolved_by IS NOT NULL;",
    /* 8: the leader lease (one row: term, owner, expiry) and the backoff
       of a chunk the reaper queued again (store_pg_leader.c) */
    "ALTER TABLE sluice.chunks ADD COLUMN not_before_ms bigint;"
    "CREATE TABLE sluice.leader(id integer PRIMARY KEY CHECK (id = 1), term bigint NOT NULL,"
    " owner text, expires_ms bigint, acquired_ms bigint);",
    /* 9: news of work for idle workers (LISTEN sluice; store_pg_notify.c):
       a chunk queued (planned, requeued, given back, retried) or a job
       ready to claim says "queued JOB", a job's end "end JOB"; NOTIFY
       folds one transaction's equal payloads into one */
    "CREATE FUNCTION sluice.notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_notify('sluice', 'queued ' || NEW.job_id); RETURN NULL; END $$;"
    "CREATE FUNCTION sluice.notify_job() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_notify('sluice', CASE WHEN NEW.status = 'ChunksQueued' THEN"
    " 'queued ' ELSE 'end ' END || NEW.id); RETURN NULL; END $$;"
    "CREATE TRIGGER chunks_queued_new AFTER INSERT ON sluice.chunks FOR EACH ROW"
    " WHEN (NEW.status = 'Queued') EXECUTE FUNCTION sluice.notify_queued();"
    "CREATE TRIGGER chunks_queued_again AFTER UPDATE OF status ON sluice.chunks FOR EACH ROW"
    " WHEN (NEW.status = 'Queued' AND OLD.status IS DISTINCT FROM 'Queued')"
    " EXECUTE FUNCTION sluice.notify_queued();"
    "CREATE TRIGGER jobs_news AFTER UPDATE OF status ON sluice.jobs FOR EACH ROW"
    " WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('ChunksQueued',"
    " 'Succeeded', 'PartiallySucceeded', 'Failed', 'RolledBack', 'Cancelled'))"
    " EXECUTE FUNCTION sluice.notify_job();",
    /* 10: a refeed's input read from the store, as a source (refeed.c):
       each held reject's byte offset in it, and the input's size and
       XXH3-64 (NULL: a refeed claimed before, whose input is a file) */
    "ALTER TABLE sluice.rejects ADD COLUMN refeed_offset bigint;"
    "CREATE INDEX rejects_refeed_offset ON sluice.rejects(refeed_by, refeed_offset)"
    " WHERE refeed_by IS NOT NULL;"
    "ALTER TABLE sluice.refeeds ADD COLUMN bytes bigint, ADD COLUMN fingerprint bigint;",
};

/* The version the store is at: 0 when it has no version table yet. */
static int read_version(sl_pg *c, int *v)
{
	char buf[32];
	*v = 0;
	int rc = sl__pg_value(c, "SELECT to_regclass('sluice.store_version') IS NOT NULL", 0, NULL,
	                      buf, sizeof buf);
	if (rc < 0 || strcmp(buf, "t"))
		return rc < 0 ? rc : 0;
	rc = sl__pg_value(c, "SELECT coalesce(max(version), 0) FROM sluice.store_version", 0, NULL,
	                  buf, sizeof buf);
	if (rc < 0)
		return rc;
	*v = atoi(buf);
	return 0;
}

/* Apply migration `n` (1-based) unless another process did meanwhile. */
static int apply(sl_pg *c, int n)
{
	char num[16];
	const char *p[1] = {num};
	int v = 0;
	int rc = sl__pg_begin(c);
	if (rc == 0)
		rc = sl__pg_exec(c, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")");
	if (rc == 0)
		rc = sl__pg_exec(
		    c,
		    "CREATE SCHEMA IF NOT EXISTS sluice;"
		    " CREATE TABLE IF NOT EXISTS sluice.store_version("
		    " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
	if (rc == 0)
		rc = read_version(c, &v);
	if (rc == 0 && v < n) {
		snprintf(num, sizeof num, "%d", n);
		rc = sl__pg_exec(c, migrations[n - 1]);
		if (rc == 0)
			rc = sl__pg_execp(c, "INSERT INTO sluice.store_version(version) VALUES($1)",
			                  1, p);
	}
	if (rc == 0)
		rc = sl__pg_commit(c);
	if (rc < 0)
		sl__pg_rollback(c);
	return rc;
}

int sl__pg_migrate(sl_pg *c, int to, int *version)
{
	int v = 0, rc;
	if (to <= 0 || to > SL_PG_STORE_VERSION)
		to = SL_PG_STORE_VERSION;
	if ((rc = read_version(c, &v)) < 0)
		goto out;
	if (v > SL_PG_STORE_VERSION) {
		rc = sl__pg_seterr(
		    c, SL_DB_SCHEMA,
		    "the job store (schema sluice) is at version %d, newer than this sluice's %d:"
		    " upgrade sluice",
		    v, SL_PG_STORE_VERSION);
		goto out;
	}
	for (int n = v + 1; n <= to; n++) {
		if ((rc = apply(c, n)) < 0)
			goto out;
	}
	rc = read_version(c, &v);
out:
	if (version)
		*version = v;
	return rc;
}
